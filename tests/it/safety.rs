//! Never lose work, never leave debris: each test makes the situation on the real engine and
//! real git, runs the command, and asserts what was kept, what was removed and what was said.

use std::path::{Path, PathBuf};

use crate::engine_proxy::EngineProxy;
use crate::support::*;

fn repo() -> Repo {
    let repo = Repo::new(Flavor::V2, ECHO);
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\n*.db\nnode_modules/\n",
    );
    repo.commit("ignore local data");
    repo
}

fn create(repo: &Repo, branch: &str) -> PathBuf {
    PathBuf::from(
        ok(&repo.dp(&repo.path, &["create", "-q", "--branch", branch]))
            .lines()
            .next()
            .unwrap(),
    )
}

fn has_branch(repo: &Repo, branch: &str) -> bool {
    !repo.git(&["branch", "--list", branch]).trim().is_empty()
}

fn has_worktree(repo: &Repo, dir: &Path) -> bool {
    repo.git(&["worktree", "list", "--porcelain"])
        .lines()
        .any(|l| l == format!("worktree {}", dir.display()))
}

#[track_caller]
fn assert_no_docker_objects(repo: &Repo, dir: &Path) {
    assert!(containers_under(&repo.root).is_empty(), "containers left");
    let project = repo.project_of(dir);
    assert!(by_project("network", &project).is_empty(), "network left");
    assert!(by_project("volume", &project).is_empty(), "volume left");
}

/// Everything under `root` (paths), git's branches and worktrees, and the Docker objects of the
/// test's sessions: what "changes nothing" compares.
fn snapshot(repo: &Repo) -> (Vec<PathBuf>, String, String, usize) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() && e.file_name() != ".git" {
                walk(&e.path(), out);
            }
        }
    }
    let mut files = vec![];
    walk(&repo.root, &mut files);
    files.sort();
    (
        files,
        repo.git(&["branch", "--list"]),
        repo.git(&["worktree", "list"]),
        containers_under(&repo.root).len(),
    )
}

#[test]
fn plan_create_shows_the_whole_create_and_changes_nothing() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    let before = snapshot(&repo);
    let text = ok(&repo.dp(&repo.path, &["plan", "--create", "--branch", "feature/x"]));
    let dir = repo.sessions_dir().join("feature-x");
    assert!(
        text.contains(&format!("+ worktree {}", dir.display()))
            && text.contains("new branch `feature/x`")
            && text.contains("compose up")
            && text.contains("+ file .env.session (content known after apply)"),
        "{text}"
    );
    let json = ok(&repo.dp(&repo.path, &["--json", "plan", "--create"]));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = doc["steps"][0]["subject"].as_str().unwrap_or_default();
    assert!(first.starts_with("worktree "), "{json}");
    assert_eq!(snapshot(&repo), before, "plan --create changed something");
    // create then does what the plan said, in the directory it named.
    assert_eq!(create(&repo, "feature/x"), dir);
    ok(&repo.dp(&dir, &["destroy"]));
    assert_no_docker_objects(&repo, &dir);
    assert!(!dir.exists() && !has_branch(&repo, "feature/x"));
}

#[test]
fn destroy_keeps_commits_only_a_detached_head_holds() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    let dir = create(&repo, "detach");
    git_in(&dir, &["checkout", "-q", "--detach"]);
    std::fs::write(dir.join("work.txt"), "precious\n").unwrap();
    git_in(&dir, &["add", "work.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "work on a detached HEAD"]);
    let out = repo.dp(&dir, &["destroy"]);
    ok(&out);
    let err = stderr(&out);
    assert!(err.contains("detached HEAD holds 1 commit"), "{err}");
    assert!(dir.join("work.txt").exists() && has_worktree(&repo, &dir));
    assert_no_docker_objects(&repo, &dir);
    ok(&repo.dp(&dir, &["destroy", "--force"]));
    assert!(!dir.exists());
}

#[test]
fn destroy_and_prune_never_remove_a_worktree_dev_prism_did_not_make() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    std::fs::create_dir_all(repo.sessions_dir()).unwrap();
    let hand = repo.sessions_dir().join("by-hand");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "by-hand",
        &hand.to_string_lossy(),
    ]);
    let out = repo.dp(&hand, &["destroy", "--force"]);
    assert!(
        stderr(&out).contains("dev-prism did not make it"),
        "{}",
        stderr(&out)
    );
    assert!(hand.exists() && has_branch(&repo, "by-hand"));
    let pruned = repo.dp(&repo.path, &["prune", "-y"]);
    assert!(
        hand.exists() && has_worktree(&repo, &hand),
        "{}",
        stdout(&pruned)
    );
    assert!(has_branch(&repo, "by-hand"));
}

#[test]
fn ignored_work_is_kept_and_disposable_files_are_not() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    let dir = create(&repo, "data");
    std::fs::create_dir_all(dir.join("node_modules/pkg")).unwrap();
    std::fs::write(dir.join("node_modules/pkg/index.js"), "x").unwrap();
    std::fs::write(dir.join("local.db"), "rows").unwrap();
    let plan = ok(&repo.dp(&dir, &["plan", "--destroy"]));
    assert!(
        plan.contains("kept worktree") && plan.contains("ignored local.db"),
        "{plan}"
    );
    let out = repo.dp(&dir, &["destroy"]);
    assert!(
        stderr(&out).contains("ignored local.db"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("local.db")).unwrap(),
        "rows"
    );
    assert!(has_branch(&repo, "data"));
    // Without the user's file the worktree goes, node_modules with it.
    std::fs::remove_file(dir.join("local.db")).unwrap();
    let plan = ok(&repo.dp(&dir, &["plan", "--destroy"]));
    assert!(plan.contains("- ignored node_modules/"), "{plan}");
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists() && !has_branch(&repo, "data"));
    assert_no_docker_objects(&repo, &dir);
}

#[test]
fn user_files_with_generated_names_are_never_overwritten_or_deleted() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    for name in [".env.session", "docker-compose.session.yml"] {
        repo.write(name, "MINE=1\n");
        let out = repo.dp(&repo.path, &["create", "--in-place"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(name), "{}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(repo.path.join(name)).unwrap(),
            "MINE=1\n"
        );
        assert!(containers_under(&repo.root).is_empty());
        let out = repo.dp(&repo.path, &["destroy"]);
        assert!(
            stderr(&out).contains(&format!("kept file {name}")),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(repo.path.join(name)).unwrap(),
            "MINE=1\n"
        );
        std::fs::remove_file(repo.path.join(name)).unwrap();
    }
}

#[test]
fn destroy_finishes_sessions_git_can_no_longer_describe() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    // The session's branch deleted under it.
    let gone = create(&repo, "gone");
    repo.git(&["update-ref", "-d", "refs/heads/gone"]);
    let out = repo.dp(&gone, &["destroy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(containers_under(&repo.root).is_empty());

    // A worktree moved with `git worktree move`: its containers carry the old directory.
    let old = create(&repo, "moved");
    let new = repo.sessions_dir().join("moved-elsewhere");
    repo.git(&[
        "worktree",
        "move",
        &old.to_string_lossy(),
        &new.to_string_lossy(),
    ]);
    ok(&repo.dp(&new, &["destroy"]));
    assert_no_docker_objects(&repo, &old);
    assert!(!new.exists() && !has_branch(&repo, "moved"));

    // A session whose directory is gone: destroyed by its path.
    let vanished = create(&repo, "vanished");
    std::fs::remove_dir_all(&vanished).unwrap();
    ok(&repo.dp(&repo.path, &["destroy", &vanished.to_string_lossy()]));
    assert_no_docker_objects(&repo, &vanished);
    repo.git(&["worktree", "prune"]);
    ok(&repo.dp(&repo.path, &["destroy", &gone.to_string_lossy(), "--force"]));
}

#[test]
fn a_failing_post_checkout_hook_does_not_break_create() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    let hook = repo.path.join(".git/hooks/post-checkout");
    std::fs::write(&hook, "#!/bin/sh\necho husky says no >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let dir = create(&repo, "hooked");
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists() && !has_branch(&repo, "hooked"));
    assert_no_docker_objects(&repo, &dir);
}

#[test]
fn uncommitted_config_stops_create_before_anything() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    repo.write("session.config.yaml", "setup: [\"true\"]\n");
    let before = snapshot(&repo);
    let out = repo.dp(&repo.path, &["create"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("session.config.yaml") && stderr(&out).contains("not committed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&repo), before);
    let doctor = stdout(&repo.dp(&repo.path, &["doctor"]));
    assert!(
        doctor.contains("config committed") && doctor.contains("is not committed"),
        "doctor reports it too: {doctor}"
    );
    repo.commit("config");
    repo.write(
        "session.config.yaml",
        "setup: [\"false\"]\nreadyTimeout: 9\n",
    );
    let out = repo.dp(&repo.path, &["plan", "--create"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("keys readyTimeout, setup differ"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn images_built_for_a_session_are_removed_with_it() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(
        Flavor::V2,
        "services:\n  app:\n    build: .\n    command: [\"nc\", \"-ll\", \"-p\", \"7000\", \"-e\", \"cat\"]\n    ports: [\"7000\"]\n    stop_grace_period: 1s\n",
    );
    repo.write("Dockerfile", &format!("FROM {IMAGE}\n"));
    repo.commit("build");
    let dir = create(&repo, "built");
    let project = repo.project_of(&dir);
    let images = || by_project("image", &project);
    assert_eq!(images().len(), 1, "the session built its image");
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(images().is_empty(), "built image removed");
    assert_no_docker_objects(&repo, &dir);
}

#[test]
fn stop_waits_for_a_grace_period_longer_than_the_client_timeout() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // The service ignores SIGTERM: the engine kills it when its 32 s grace period ends, after
    // the 30 s a plain API request may take.
    let repo = Repo::new(
        Flavor::V2,
        &format!(
            "services:\n  slow:\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 1; done\"]\n    stop_grace_period: 32s\n"
        ),
    );
    ok(&repo.dp(&repo.path, &["create", "--in-place", "-q"]));
    let out = repo.dp(&repo.path, &["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!repo.path.join(".env.session").exists());
    ok(&repo.dp(&repo.path, &["destroy"]));
    assert_no_docker_objects(&repo, &repo.path);
}

#[test]
fn the_engine_vanishing_mid_create_leaves_a_state_destroy_finishes() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // A service that never becomes healthy keeps create waiting while the engine goes away.
    let repo = Repo::new(
        Flavor::V2,
        &format!(
            "services:\n  slow:\n    image: {IMAGE}\n    command: [\"sleep\", \"300\"]\n    stop_grace_period: 1s\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 30s\n"
        ),
    );
    let proxy = EngineProxy::start(&repo.root);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dev-prism"))
        .current_dir(&repo.path)
        .args(["create", "--branch", "vanish"])
        .env("DOCKER_HOST", proxy.host())
        .env("DEV_PRISM_COMPOSE", "v2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = repo.sessions_dir().join("vanish");
    // Wait until its container runs (create is then waiting for it to be healthy), then take
    // the engine away.
    let running = || {
        let out = std::process::Command::new("docker")
            .args(["ps", "-q", "--filter", "status=running", "--filter"])
            .arg(format!("label=dev-prism.working_dir={}", dir.display()))
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    proxy.stop();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the rollback did not finish") && err.contains("dev-prism destroy"),
        "{err}"
    );
    assert!(
        !err.contains("dev-prism apply"),
        "the hint fits the state: {err}"
    );
    // With the engine back, destroy finishes: nothing left.
    ok(&repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]));
    assert_no_docker_objects(&repo, &dir);
    assert!(!dir.exists() && !has_branch(&repo, "vanish"));
}

fn volume_names(filter: &str) -> Vec<String> {
    docker_ls("volume", &format!("name={filter}"))
}

#[test]
fn a_volume_with_a_fixed_name_is_per_session_unless_shared() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let unique = format!("dp-fixed-{}", std::process::id());
    let repo = Repo::new(
        Flavor::V2,
        &format!(
            "services:\n  box:\n    image: {IMAGE}\n    command: [\"sleep\", \"300\"]\n    volumes: [\"data:/data\"]\n    stop_grace_period: 1s\nvolumes:\n  data:\n    name: {unique}\n"
        ),
    );
    let a = create(&repo, "a");
    let b = create(&repo, "b");
    let mut names = volume_names(&unique);
    names.sort();
    assert_eq!(names.len(), 2, "one volume per session: {names:?}");
    assert!(
        !names.contains(&unique),
        "the fixed name is not shared: {names:?}"
    );
    ok(&repo.dp(&a, &["destroy"]));
    assert_eq!(
        volume_names(&unique).len(),
        1,
        "a's volume removed, b's kept"
    );
    ok(&repo.dp(&b, &["destroy"]));
    assert!(volume_names(&unique).is_empty());

    // shareVolumes: one volume, the fixed name, shared; no destroy removes it.
    repo.write("session.config.yaml", "shareVolumes: [data]\n");
    repo.commit("share the data volume");
    let a = create(&repo, "a2");
    let b = create(&repo, "b2");
    assert_eq!(volume_names(&unique), vec![unique.clone()]);
    ok(&repo.dp(&a, &["destroy"]));
    ok(&repo.dp(&b, &["destroy"]));
    assert_eq!(
        volume_names(&unique),
        vec![unique.clone()],
        "a shared volume is kept"
    );
    let _ = std::process::Command::new("docker")
        .args(["volume", "rm", "-f", &unique])
        .output();
}

#[test]
fn a_create_killed_after_its_worktree_is_seen_by_doctor_and_pruned() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    // kill -9 right after the worktree step: a worktree and branch, no containers.
    let out = dp_env(
        &repo.path,
        &["create", "--branch", "killed"],
        &[
            ("DEV_PRISM_COMPOSE", "v2"),
            ("DEV_PRISM_FAULT", "signal-after:0:KILL"),
        ],
    );
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    let dir = repo.sessions_dir().join("killed");
    assert!(dir.is_dir() && has_branch(&repo, "killed"));
    let doctor = stdout(&repo.dp(&repo.path, &["doctor"]));
    assert!(
        doctor.contains("session worktree(s) without containers")
            && doctor.contains(&*dir.to_string_lossy()),
        "{doctor}"
    );
    ok(&repo.dp(&repo.path, &["prune", "-y"]));
    assert!(!dir.exists() && !has_branch(&repo, "killed"));
    assert_no_docker_objects(&repo, &dir);
}

#[test]
fn submodules_and_a_moved_main_repository_keep_the_worktree_not_the_containers() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    // A submodule initialised in the session's worktree: its repository would go with it.
    let lib = repo.root.join("lib-repo");
    std::fs::create_dir_all(&lib).unwrap();
    git_in(&lib, &["init", "-q", "-b", "main"]);
    std::fs::write(lib.join("lib.txt"), "lib\n").unwrap();
    git_in(&lib, &["add", "-A"]);
    git_in(&lib, &["commit", "-q", "-m", "lib"]);
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &lib.to_string_lossy(),
        "vendor/lib",
    ]);
    repo.commit("add a submodule");
    let dir = create(&repo, "with-sub");
    git_in(
        &dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "-q",
            "--init",
        ],
    );
    let out = repo.dp(&dir, &["destroy"]);
    ok(&out);
    assert!(stderr(&out).contains("submodules"), "{}", stderr(&out));
    assert!(dir.join("vendor/lib/lib.txt").exists());
    assert_no_docker_objects(&repo, &dir);
    ok(&repo.dp(&dir, &["destroy", "--force"]));
    assert!(!dir.exists());

    // The main repository moved: git cannot describe the worktree any more, so it is kept;
    // the session's Docker objects are still removed.
    let dir = create(&repo, "orphaned");
    let moved = repo.root.join("moved-main");
    std::fs::rename(&repo.path, &moved).unwrap();
    let out = repo.dp(&dir, &["destroy"]);
    std::fs::rename(&moved, &repo.path).unwrap();
    ok(&out);
    assert!(stderr(&out).contains("kept worktree"), "{}", stderr(&out));
    assert!(dir.exists());
    assert_no_docker_objects(&repo, &dir);
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists() && !has_branch(&repo, "orphaned"));
}

#[test]
fn stop_removes_the_env_files_that_name_dead_ports() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    repo.write(
        "session.config.yaml",
        "appEnv:\n  app:\n    URL: \"http://${SESSION_HOST}:${ECHO_PORT}\"\n",
    );
    repo.write("app/keep.txt", "x\n");
    repo.commit("app env");
    let dir = create(&repo, "envs");
    assert!(dir.join("app/.env.session").exists());
    ok(&repo.dp(&dir, &["stop"]));
    assert!(!dir.join(".env.session").exists());
    assert!(
        !dir.join("app/.env.session").exists(),
        "app env file removed on stop"
    );
    ok(&repo.dp(&dir, &["start"]));
    assert!(
        dir.join("app/.env.session").exists(),
        "written again on start"
    );
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists());
}

#[test]
fn a_rollback_keeps_work_written_into_the_new_worktree_meanwhile() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    repo.write("session.config.yaml", "setup: [\"sleep 30\"]\n");
    repo.commit("setup waits");
    // Someone writes a file into the new worktree while create waits for its setup, then
    // create gets SIGTERM: the rollback keeps the file (and so the worktree). Files the setup
    // commands themselves wrote are dev-prism's (see limits.rs); this one is not theirs.
    let dir = repo.sessions_dir().join("busy");
    let child = dp_command(
        &repo.path,
        &["create", "--branch", "busy"],
        &[("DEV_PRISM_COMPOSE", "v2")],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir.join(".env.session").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "create never reached setup"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(dir.join("notes.txt"), "precious\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("kept worktree") && err.contains("notes.txt"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "precious\n"
    );
    assert_no_docker_objects(&repo, &dir);
    ok(&repo.dp(&dir, &["destroy", "--force"]));
    assert!(!dir.exists() && !has_branch(&repo, "busy"));
}

#[test]
fn an_untracked_link_to_an_endless_file_is_not_read() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo();
    let dir = create(&repo, "endless");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
    // Destroy must observe the worktree without reading through the link (it used to hang).
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dev-prism"))
        .current_dir(&dir)
        .args(["destroy"])
        .env("DEV_PRISM_COMPOSE", "v2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("destroy read through the link to /dev/zero");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("untracked zero"), "{}", stderr(&out));
    assert!(
        dir.join("zero").symlink_metadata().is_ok(),
        "the link is the user's: kept"
    );
    assert_no_docker_objects(&repo, &dir);
    std::fs::remove_file(dir.join("zero")).unwrap();
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists());
}
