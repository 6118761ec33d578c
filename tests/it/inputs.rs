//! Inputs that used to get past the checks: what `plan --create` accepts, `create` must
//! accept too (issue 18), and every refusal comes before anything is made.

use std::path::{Path, PathBuf};

use crate::support::*;

/// `plan --create` and `create` with `args` in `dir`: both refuse with exit 2 and the same
/// first line, containing `want`, and nothing new exists under the repository's parent.
#[track_caller]
fn both_refuse(repo: &Repo, dir: &Path, args: &[&str], want: &str) {
    let before = std::fs::read_dir(&repo.root).unwrap().count();
    let branches = repo.git(&["branch", "--list"]);
    let mut plan_args = vec!["plan", "--create"];
    plan_args.extend_from_slice(args);
    let mut create_args = vec!["create"];
    create_args.extend_from_slice(args);
    let plan = repo.dp(dir, &plan_args);
    let create = repo.dp(dir, &create_args);
    let first = |o: &std::process::Output| stderr(o).lines().next().unwrap_or("").to_string();
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert_eq!(create.status.code(), Some(2), "{}", stderr(&create));
    assert!(first(&plan).contains(want), "{}", stderr(&plan));
    assert_eq!(first(&plan), first(&create));
    assert_eq!(std::fs::read_dir(&repo.root).unwrap().count(), before);
    assert_eq!(repo.git(&["branch", "--list"]), branches);
    assert!(containers_under(&repo.root).is_empty());
}

#[test]
fn plan_create_refuses_what_create_would_fail_on() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // A branch checked out in another worktree (here: the main checkout's own).
    let repo = Repo::new(Flavor::V2, ECHO);
    repo.git(&["branch", "feat"]);
    let other = repo.root.join("other");
    repo.git(&["worktree", "add", "-q", &other.to_string_lossy(), "feat"]);
    both_refuse(
        &repo,
        &repo.path,
        &["--branch", "feat"],
        "branch `feat` is already checked out in",
    );
    both_refuse(
        &repo,
        &repo.path,
        &["--branch", "main"],
        "branch `main` is already checked out in",
    );
    // A sparse checkout that leaves the compose file out.
    repo.write("sub/f", "x");
    repo.commit("sub");
    repo.git(&["sparse-checkout", "set", "--no-cone", "sub/"]);
    both_refuse(
        &repo,
        &repo.path,
        &["--branch", "sparse"],
        "docker-compose.yml is outside the sparse checkout",
    );
    // A directory name with a newline: Compose cannot read files under it.
    let nl = Repo::named(Flavor::V2, ECHO, "nl\n");
    both_refuse(
        &nl,
        &nl.path,
        &["--branch", "x"],
        "would contain a control character",
    );
}

/// A bare clone with linked worktrees (a common layout for worktree-heavy work): sessions made
/// from one of its worktrees are destroyed and pruned like any other, and `doctor` recommends
/// only what works.
#[test]
fn bare_repositories_destroy_and_prune() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let origin = Repo::new(Flavor::V2, ECHO);
    origin.write("session.config.yaml", "copy: [.env]\n");
    origin.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\n.env\n",
    );
    origin.commit("copy .env");
    let bare = origin.root.join("shop.git");
    git_in(
        &origin.root,
        &[
            "clone",
            "-q",
            "--bare",
            &origin.path.to_string_lossy(),
            "shop.git",
        ],
    );
    let work = origin.root.join("shop-main");
    git_in(
        &bare,
        &["worktree", "add", "-q", &work.to_string_lossy(), "main"],
    );
    let dp = |dir: &Path, args: &[&str]| origin.dp(dir, args);
    let create = |branch: &str| {
        PathBuf::from(
            ok(&dp(&work, &["create", "-q", "--branch", branch]))
                .lines()
                .next()
                .unwrap(),
        )
    };
    // Files to copy are looked for in the bare directory, which has none: not an error.
    std::fs::write(work.join(".env"), "A=1\n").unwrap();
    let sessions = origin.root.join("shop-sessions");
    let a = create("a");
    assert_eq!(a, sessions.join("a"));
    // destroy, from the worktree create ran in and from inside the session.
    ok(&dp(&work, &["destroy", &a.to_string_lossy()]));
    assert!(!a.exists());
    assert!(git_in(&bare, &["branch", "--list", "a"]).trim().is_empty());
    let b = create("b");
    ok(&dp(&b, &["destroy"]));
    assert!(!b.exists());
    // A worktree without containers: doctor points at prune, and prune removes it.
    let c = create("c");
    ok(&dp(&c, &["stop"]));
    let doctor = dp(&work, &["doctor"]);
    assert!(
        !stdout(&doctor).contains("not found"),
        "{}",
        stdout(&doctor)
    );
    let pruned = ok(&dp(&work, &["prune", "-y"]));
    assert!(
        pruned.contains(&format!("pruned {}", c.display())),
        "{pruned}"
    );
    assert!(!c.exists());
    assert!(containers_under(&origin.root).is_empty());
    let worktrees = git_in(&bare, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 2, "{worktrees}");
}

/// Nothing an outside link would receive: every target of `dev-prism claude` is checked before
/// the first write; links that stay inside the repository are followed.
#[test]
fn claude_checks_every_target_before_writing_and_follows_inside_links() {
    let repo = Repo::new(Flavor::V2, ECHO);
    let files = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // `.claude` leading out of the repository: refused, nothing made there or here.
    let outside = repo.root.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, repo.path.join(".claude")).unwrap();
    let before = files(&repo.path);
    let out = dp_env(&repo.path, &["claude"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("leads out of"), "{}", stderr(&out));
    assert!(files(&outside).is_empty(), "{:?}", files(&outside));
    assert_eq!(files(&repo.path), before);
    std::fs::remove_file(repo.path.join(".claude")).unwrap();
    // CLAUDE.md leading out: refused before the command and skill files are written.
    let elsewhere = repo.root.join("elsewhere.md");
    std::os::unix::fs::symlink(&elsewhere, repo.path.join("CLAUDE.md")).unwrap();
    let out = dp_env(&repo.path, &["claude"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!repo.path.join(".claude").exists() && !elsewhere.exists());
    assert!(!repo.path.join(".mcp.json").exists());
    // The common `CLAUDE.md -> AGENTS.md`: the section goes into AGENTS.md, the link stays.
    std::fs::remove_file(repo.path.join("CLAUDE.md")).unwrap();
    std::fs::write(repo.path.join("AGENTS.md"), "# Agents\n\nmine\n").unwrap();
    std::os::unix::fs::symlink("AGENTS.md", repo.path.join("CLAUDE.md")).unwrap();
    let text = ok(&dp_env(&repo.path, &["claude"], &[]));
    assert!(
        text.contains("CLAUDE.md: dev-prism section written"),
        "{text}"
    );
    let agents = std::fs::read_to_string(repo.path.join("AGENTS.md")).unwrap();
    assert!(agents.starts_with("# Agents\n\nmine\n") && agents.contains("dev-prism"));
    assert!(std::fs::symlink_metadata(repo.path.join("CLAUDE.md"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(repo
        .path
        .join(".claude/skills/dev-prism/SKILL.md")
        .is_file());
    // A dangling inside link: the file is made where it points.
    let again = Repo::new(Flavor::V2, ECHO);
    std::os::unix::fs::symlink("docs/AGENTS.md", again.path.join("CLAUDE.md")).unwrap();
    std::fs::create_dir(again.path.join("docs")).unwrap();
    ok(&dp_env(&again.path, &["claude"], &[]));
    assert!(std::fs::read_to_string(again.path.join("docs/AGENTS.md"))
        .unwrap()
        .contains("dev-prism"));
}

/// A gitignored file whose name is not UTF-8 is copied like any other (and the copy is
/// dev-prism's: destroy removes it with the worktree).
#[test]
fn names_that_are_not_utf8_are_copied() {
    use std::os::unix::ffi::OsStrExt;
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\ndata/\n",
    );
    repo.write(".worktreeinclude", "data/\n");
    repo.commit("copy data");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.bin");
    std::fs::create_dir(repo.path.join("data")).unwrap();
    std::fs::write(repo.path.join("data").join(name), "latin-1").unwrap();
    std::fs::write(repo.path.join("data/plain.bin"), "ascii").unwrap();
    let plan = ok(&repo.dp(&repo.path, &["plan", "--create", "--branch", "l1"]));
    assert!(plan.contains("+ copy data/ (2 files"), "{plan}");
    let dir = PathBuf::from(
        ok(&repo.dp(&repo.path, &["create", "-q", "--branch", "l1"]))
            .lines()
            .next()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data").join(name)).unwrap(),
        "latin-1"
    );
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists(), "destroy kept the worktree");
}

/// A FIFO or a directory at a generated name is the user's: destroy removes the session's
/// containers, keeps the object (and so the worktree holding it) and says so.
#[test]
fn special_files_at_generated_names_do_not_block_destroy() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let dir = PathBuf::from(
        ok(&repo.dp(&repo.path, &["create", "-q", "--branch", "fifo"]))
            .lines()
            .next()
            .unwrap(),
    );
    let (env, file) = (
        dir.join(".env.session"),
        dir.join("docker-compose.session.yml"),
    );
    std::fs::remove_file(&env).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&env)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let out = repo.dp(&dir, &["destroy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("kept file .env.session")
            && err.contains("kept file docker-compose.session.yml"),
        "{err}"
    );
    assert!(containers_under(&repo.root).is_empty());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&env)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(file.is_dir());
    // Once the user moved them, destroy finishes.
    std::fs::remove_file(&env).unwrap();
    std::fs::remove_dir(&file).unwrap();
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists());
}
