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
