//! Ready-to-code sessions (issue 13): gitignored files copied from the main checkout
//! (`.worktreeinclude`, config `copy`) and volumes copied from another session
//! (`--data-from`), on the real engine and real git.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::engine_proxy::EngineProxy;
use crate::support::*;

/// One service writing a seed file into its named volume the first time it starts.
const DATA: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "[ -f /data/seed ] || echo from-first > /data/seed; exec sleep 3600"]
    volumes: ["data:/data"]
    stop_grace_period: 1s
volumes:
  data: {}
"#;

/// The same with a second volume whose `name:` is fixed (each session gets its own name).
const DATA_FIXED: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "[ -f /data/seed ] || echo from-first > /data/seed; [ -f /fixed/seed ] || echo fixed-first > /fixed/seed; exec sleep 3600"]
    volumes: ["data:/data", "fixed:/fixed"]
    stop_grace_period: 1s
volumes:
  data: {}
  fixed:
    name: dp-it-fixed-name
"#;

fn create(repo: &Repo, args: &[&str]) -> PathBuf {
    let mut all = vec!["create", "-q"];
    all.extend_from_slice(args);
    PathBuf::from(ok(&repo.dp(&repo.path, &all)).lines().next().unwrap())
}

fn has_worktree(repo: &Repo, dir: &Path) -> bool {
    repo.git(&["worktree", "list", "--porcelain"])
        .lines()
        .any(|l| l == format!("worktree {}", dir.display()))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn included_ignored_files_arrive_and_nothing_else() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, DATA);
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\nnode_modules/\n.env.local\ncache/\n*.log\nconfig/local.yml\n",
    );
    repo.write(
        ".worktreeinclude",
        "# deps\nnode_modules/\ncache/\nconfig/\ntracked.txt\n",
    );
    repo.write("session.config.yaml", "copy: [\".env.local\"]\n");
    repo.write("tracked.txt", "committed\n");
    repo.commit("include");
    // A branch that commits a file the main checkout has only as an ignored one.
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("config/local.yml", "from the branch\n");
    repo.git(&["add", "-f", "config/local.yml"]);
    repo.commit("branch config");
    repo.git(&["checkout", "-q", "main"]);
    // The main checkout's gitignored files, a tracked file with uncommitted changes, and links.
    repo.write("node_modules/pkg/index.js", "module.exports = 1;\n");
    repo.write("cache/data.bin", "cached\n");
    repo.write(".env.local", "SECRET=1\n");
    repo.write("debug.log", "not listed\n");
    repo.write("config/local.yml", "from main\n");
    repo.write("tracked.txt", "uncommitted\n");
    let outside = repo.root.join("outside.txt");
    std::fs::write(&outside, "outside the repository\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path.join("cache/out")).unwrap();
    std::os::unix::fs::symlink("data.bin", repo.path.join("cache/in")).unwrap();

    let plan = ok(&repo.dp(&repo.path, &["plan", "--create", "--branch", "feature"]));
    assert!(
        plan.contains("+ copy node_modules/ (1 file, 20 B)"),
        "{plan}"
    );
    assert!(plan.contains("+ copy cache/ (3 files,"), "{plan}");
    assert!(plan.contains("+ copy .env.local (1 file, 9 B)"), "{plan}");
    assert!(
        !plan.contains("tracked.txt") && !plan.contains(".log"),
        "{plan}"
    );
    // The branch commits config/local.yml: nothing to copy there.
    assert!(!plan.contains("copy config/"), "{plan}");

    let dir = create(&repo, &["--branch", "feature"]);
    assert_eq!(
        read(&dir.join("node_modules/pkg/index.js")),
        "module.exports = 1;\n"
    );
    assert_eq!(read(&dir.join("cache/data.bin")), "cached\n");
    assert_eq!(read(&dir.join(".env.local")), "SECRET=1\n");
    // Tracked files come from git, never from the main checkout's working copy.
    assert_eq!(read(&dir.join("tracked.txt")), "committed\n");
    // An ignored file nothing lists stays behind; a file the worktree has is kept.
    assert!(!dir.join("debug.log").exists());
    assert_eq!(read(&dir.join("config/local.yml")), "from the branch\n");
    // Links stay links: the one leading out of the repository is not followed.
    for (link, target) in [
        ("cache/out", outside.clone()),
        ("cache/in", "data.bin".into()),
    ] {
        let p = dir.join(link);
        assert!(
            p.symlink_metadata().unwrap().file_type().is_symlink(),
            "{link}"
        );
        assert_eq!(std::fs::read_link(&p).unwrap(), target);
    }

    // Untouched copies are dev-prism's: destroy removes the worktree.
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(
        !has_worktree(&repo, &dir),
        "the worktree with untouched copies was kept"
    );

    // An edited copy is work: destroy keeps the worktree and says why.
    let dir = create(&repo, &["--branch", "second"]);
    std::fs::write(dir.join("cache/data.bin"), "edited\n").unwrap();
    let out = repo.dp(&dir, &["destroy"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        has_worktree(&repo, &dir),
        "an edited copy was deleted: {text}"
    );
    assert!(text.contains("cache/"), "{text}");
    assert_eq!(read(&dir.join("cache/data.bin")), "edited\n");
}

fn exec(container: &str, script: &str) -> String {
    let out = Command::new("docker")
        .args(["exec", container, "sh", "-c", script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn container_of(dir: &Path) -> String {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev-prism.working_dir={}", dir.display()),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .expect("a container")
        .to_string()
}

fn status(container: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Status}}", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Which way the copy went: the throwaway containers dev-prism started for `dir`'s volume
/// copy since `since` (unix seconds). The `cp -a` way starts one per volume; the archive way
/// never starts one. Only the type is filtered by the engine: Podman 4.3 ignores the event
/// and label filters of the events endpoint, so the rest is matched here.
fn copy_containers_started(dir: &Path, since: u64) -> usize {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let out = Command::new("docker")
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "type=container",
            "--format",
            "{{.Action}}\t{{index .Actor.Attributes \"dev-prism.working_dir\"}}\t{{index .Actor.Attributes \"dev-prism.service\"}}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wanted = format!("start\t{}\t(volume copy)", dir.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| *l == wanted)
        .count()
}

/// A session created `--data-from` another one sees its data (both volumes), writes in it do
/// not reach the source, the source runs on, and destroy removes only the copy's volumes.
/// `image` decides the way: `cp -a` (it has `cp`) or the archive endpoints (it has none).
fn data_from_another_session(image: &str, by_cp: bool, flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    let repo = Repo::new(flavor, &DATA_FIXED.replace(IMAGE, image));
    let first = create(&repo, &["--branch", "first"]);
    let source = container_of(&first);
    exec(&source, "echo written-later > /data/extra");

    let plan = ok(&repo.dp(
        &repo.path,
        &[
            "plan",
            "--create",
            "--branch",
            "second",
            "--data-from",
            &first.to_string_lossy(),
        ],
    ));
    let p1 = repo.project_of(&first);
    assert!(plan.contains(&format!("(copy of {p1}_data)")), "{plan}");
    assert!(plan.contains("paused while copying"), "{plan}");

    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let second = create(
        &repo,
        &[
            "--branch",
            "second",
            "--data-from",
            &first.to_string_lossy(),
        ],
    );
    assert_eq!(status(&source), "running", "the source was left paused");
    let started = copy_containers_started(&second, since);
    if by_cp {
        assert_eq!(
            started, 2,
            "not copied by `cp -a`: one container per volume"
        );
    } else {
        assert_eq!(
            started, 0,
            "a throwaway container ran in an image without `cp`"
        );
    }
    let copy = container_of(&second);
    assert_eq!(exec(&copy, "cat /fixed/seed"), "fixed-first\n");
    assert_eq!(
        exec(&copy, "cat /data/seed /data/extra"),
        "from-first\nwritten-later\n"
    );
    // Writes in the copy do not reach the source.
    exec(&copy, "echo only-here > /data/new");
    assert_eq!(exec(&source, "ls /data"), "extra\nseed\n");

    let info = ok(&repo.dp(&second, &["info"]));
    assert!(
        info.contains(&format!("Data:     copied from {}", first.display())),
        "{info}"
    );
    // …from the containers it lists anyway: `info` (as `list` and `heal`) makes one Engine
    // API call.
    let proxy = EngineProxy::start(&repo.root);
    let host = proxy.host();
    let through = |args: &[&str]| ok(&dp_env(&second, args, &[("DOCKER_HOST", &host)]));
    let info: serde_json::Value = serde_json::from_str(&through(&["info", "--json"])).unwrap();
    assert_eq!(
        info["data_from"],
        first.to_string_lossy().as_ref(),
        "{info}"
    );
    through(&["list"]);
    through(&["heal"]);
    // One call each, on Podman too (Podman's own list, which carries health).
    let calls = proxy.api_calls();
    assert!(
        calls.len() == 3 && calls.iter().all(|c| c.contains("/containers/json")),
        "{calls:?}"
    );
    // Nothing to change for either (the source never had the label); a session file written
    // again keeps it, from the containers.
    for dir in [&first, &second] {
        let out = repo.dp(dir, &["plan", "--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    }
    std::fs::remove_file(second.join("docker-compose.session.yml")).unwrap();
    ok(&repo.dp(&second, &["heal"]));
    let file = read(&second.join("docker-compose.session.yml"));
    assert!(file.contains("dev-prism.data_from: "), "{file}");

    // Destroy removes the copy's volume, never the source's.
    ok(&repo.dp(&second, &["destroy"]));
    let p2 = repo.project_of(&second);
    assert!(
        by_project("volume", &p2).is_empty(),
        "the copy's volume was left"
    );
    assert_eq!(
        by_project("volume", &p1).len(),
        2,
        "the source's volumes are gone"
    );
    assert_eq!(exec(&source, "cat /data/seed"), "from-first\n");
}

#[test]
fn data_from_another_session_is_a_copy_and_the_source_runs_on() {
    data_from_another_session(IMAGE, true, Flavor::V2);
}

#[test]
fn data_from_another_session_under_compose_v1() {
    data_from_another_session(IMAGE, true, Flavor::V1);
}

#[test]
fn data_from_an_image_without_cp_streams_through_the_archive_endpoints() {
    data_from_another_session(NOCP_IMAGE, false, Flavor::V2);
}

#[test]
fn data_from_a_directory_without_a_session_leaves_nothing() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, DATA);
    repo.write("sub/readme.txt", "no session here\n");
    repo.commit("sub");
    let out = repo.dp(
        &repo.path,
        &[
            "create",
            "--branch",
            "x",
            "--data-from",
            &repo.path.join("sub").to_string_lossy(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("holds no session of this repository"),
        "{}",
        stderr(&out)
    );
    assert!(!repo.sessions_dir().join("x").exists());
    assert!(repo.git(&["branch", "--list", "x"]).trim().is_empty());
    assert!(containers_under(&repo.root).is_empty());
    let project = repo.project_of(&repo.sessions_dir().join("x"));
    assert!(by_project("volume", &project).is_empty());
}

/// A plain Compose project (no dev-prism) in the main checkout, removed when the test ends.
struct PlainProject<'a> {
    repo: &'a Repo,
    name: String,
}

impl Drop for PlainProject<'_> {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .current_dir(&self.repo.path)
            .args(["compose", "-p", &self.name, "down", "-v", "-t", "1"])
            .output();
    }
}

#[test]
fn data_from_a_plain_compose_project_in_the_main_checkout() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, DATA);
    let name = format!(
        "plain{}",
        repo.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_lowercase()
    );
    let plain = PlainProject {
        repo: &repo,
        name: name.clone(),
    };
    let up = Command::new("docker")
        .current_dir(&repo.path)
        .args(["compose", "-p", &name, "up", "-d", "--wait"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let dir = create(&repo, &["--branch", "copy", "--data-from", "."]);
    assert_eq!(exec(&container_of(&dir), "cat /data/seed"), "from-first\n");
    ok(&repo.dp(&dir, &["destroy"]));
    assert_eq!(by_project("volume", &plain.name).len(), 1);
}

/// DESIGN §10 "a busy source": a copy and a command changing its source never overlap;
/// whichever comes second fails at once (exit 4) and changes nothing.
#[test]
fn a_busy_source_is_never_copied_or_changed_halfway() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, DATA);
    let first = create(&repo, &["--branch", "first"]);
    let from = first.to_string_lossy().into_owned();
    // The source still being created (or applied): its command holds the lock alone.
    let changing = dev_prism::context::lock(&first).unwrap();
    let args = ["create", "--branch", "second", "--data-from", &from];
    let out = repo.dp(&repo.path, &args);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        !repo.sessions_dir().join("second").exists(),
        "made a worktree"
    );
    assert_eq!(containers_under(&repo.root).len(), 1);
    drop(changing);
    // A copy reading the source: commands changing it wait (busy), the source untouched.
    let copying = dev_prism::context::lock_shared(&first).unwrap();
    for args in [&["destroy"][..], &["stop"], &["apply"]] {
        let out = repo.dp(&first, args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(status(&container_of(&first)), "running");
    // ...while another copy shares it.
    let second = create(&repo, &["--branch", "second", "--data-from", &from]);
    assert_eq!(
        exec(&container_of(&second), "cat /data/seed").trim(),
        "from-first"
    );
    // The other copy still holds the source: the one that ended left it paused.
    assert_eq!(status(&container_of(&first)), "paused");
    assert!(copying.last());
    drop(copying);
    // A source left paused comes back with its next apply.
    ok(&repo.dp(&first, &["apply"]));
    assert_eq!(status(&container_of(&first)), "running");
}
