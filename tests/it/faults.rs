//! Faults, rollback, foreign objects, concurrency and awkward paths — each test asserts what
//! exists afterwards, the exit code and the message.

use std::path::PathBuf;
use std::process::Command;

use crate::support::*;

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

/// Asserts a failed create left nothing: no containers/networks for the would-be session, no
/// worktree, no branch.
#[track_caller]
pub(crate) fn assert_rolled_back(repo: &Repo, branch: &str) {
    let dir = repo.sessions_dir().join(branch.replace('/', "-"));
    assert!(!dir.exists(), "worktree {dir:?} removed");
    assert!(
        containers_under(&repo.root).is_empty(),
        "no containers left"
    );
    assert!(
        by_project("network", &repo.project_of(&dir)).is_empty(),
        "no network left"
    );
    assert!(!repo
        .git(&["worktree", "list"])
        .contains(&*dir.to_string_lossy()));
    assert!(
        repo.git(&["branch", "--list", branch]).trim().is_empty(),
        "branch {branch} deleted"
    );
}

fn failing(compose_service: &str) -> String {
    format!("{COMPOSE}  bad:\n    image: dev-prism-test-busybox:2\n    stop_grace_period: 1s\n{compose_service}")
}

#[test]
fn service_that_exits_rolls_create_back_and_shows_its_logs() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(
        Flavor::V2,
        &failing("    command: [\"sh\", \"-c\", \"echo boom-from-bad; exit 3\"]\n"),
    );
    let out = repo.dp(&repo.path, &["create", "--branch", "try"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: service `bad` exited with code 3; its last log lines:"),
        "{err}"
    );
    assert!(err.contains("boom-from-bad"), "{err}");
    assert!(
        err.contains("create failed; removing what it created"),
        "{err}"
    );
    assert_rolled_back(&repo, "try");
}

#[test]
fn unhealthy_service_rolls_back() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(
        Flavor::V2,
        &failing("    command: [\"sleep\", \"1000\"]\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      retries: 1\n"),
    );
    let out = repo.dp(&repo.path, &["create", "--branch", "sick"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("service `bad` is unhealthy"),
        "{}",
        stderr(&out)
    );
    assert_rolled_back(&repo, "sick");
}

#[test]
fn missing_image_rolls_back_an_existing_branch_is_kept() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(
        Flavor::V2,
        &COMPOSE.replace("dev-prism-test-busybox:2", "dev-prism-test-no-such-image:0"),
    );
    repo.git(&["branch", "existing"]);
    let out = repo.dp(&repo.path, &["create", "--branch", "existing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("needs image `dev-prism-test-no-such-image:0`, which is missing locally"),
        "{}",
        stderr(&out)
    );
    let dir = repo.sessions_dir().join("existing");
    assert!(!dir.exists());
    assert!(containers_under(&repo.root).is_empty());
    // The branch existed before: rollback removes only what create made.
    assert_eq!(
        repo.git(&["branch", "--list", "existing"]).trim(),
        "existing"
    );
}

#[test]
fn readiness_timeout_names_the_service() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(
        Flavor::V2,
        &failing("    command: [\"sleep\", \"1000\"]\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 30s\n      retries: 3\n"),
    );
    repo.write("session.config.yaml", "readyTimeout: 2\n");
    repo.commit("timeout");
    let out = repo.dp(&repo.path, &["create", "--branch", "slow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("service `bad` did not become ready within 2 s (health: starting)"),
        "{}",
        stderr(&out)
    );
    assert_rolled_back(&repo, "slow");
}

#[test]
fn ctrl_c_during_create_rolls_back() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(
        Flavor::V2,
        &failing("    command: [\"sleep\", \"1000\"]\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 30s\n"),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_dev-prism"))
        .current_dir(&repo.path)
        .args(["create", "--branch", "interrupted"])
        .env("DEV_PRISM_COMPOSE", "v2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until its containers exist, then interrupt it.
    let mut waited = 0;
    while containers_under(&repo.root).len() < 3 && waited < 300 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: interrupted by SIGINT during: "),
        "{}",
        stderr(&out)
    );
    assert_rolled_back(&repo, "interrupted");
}

#[test]
fn foreign_containers_are_never_touched() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let dir = PathBuf::from(
        ok(&repo.dp(&repo.path, &["create", "--branch", "mine"]))
            .lines()
            .next()
            .unwrap(),
    );
    let project = repo.project_of(&dir);
    // Another directory's session (managed label, other working_dir, SAME compose project
    // label) and an unrelated container whose name looks like ours.
    let other_dir = repo.root.join("elsewhere");
    let foreign = docker(&[
        "run",
        "-d",
        "--name",
        &format!("{project}-foreign"),
        "--label",
        "dev-prism.managed=true",
        "--label",
        &format!("dev-prism.working_dir={}", other_dir.display()),
        "--label",
        &format!("com.docker.compose.project={project}"),
        IMAGE,
        "sleep",
        "1000",
    ]);
    assert!(foreign.status.success(), "{}", stderr(&foreign));
    let lookalike = docker(&[
        "run",
        "-d",
        "--name",
        &format!("{project}-web-9"),
        IMAGE,
        "sleep",
        "1000",
    ]);
    assert!(lookalike.status.success());
    let ids = [
        stdout(&foreign).trim().to_string(),
        stdout(&lookalike).trim().to_string(),
    ];
    let running =
        |id: &str| stdout(&docker(&["inspect", "-f", "{{.State.Running}}", id])).trim() == "true";

    // A project holding another directory's container is not this session's to act on
    // (DESIGN §10 "project identity"): every command refuses, naming the other directory.
    let other = other_dir.to_string_lossy().into_owned();
    for args in [&["stop"][..], &["destroy"], &["apply"]] {
        let out = repo.dp(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&other), "{}", stderr(&out));
    }
    let sessions = repo.sessions_dir().to_string_lossy().into_owned();
    let out = repo.dp(
        &repo.path,
        &["destroy", "--all", "-y", "--under", &sessions],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains(&other), "{}", stdout(&out));
    for id in &ids {
        assert!(running(id), "foreign container {id} must keep running");
    }
    let list = ok(&repo.dp(&repo.path, &["list"]));
    assert!(
        list.contains(&*other_dir.to_string_lossy()),
        "list says which directory each belongs to: {list}"
    );
    for id in &ids {
        docker(&["rm", "-f", id]);
    }
    // The name is the session's alone again: destroy goes through.
    ok(&repo.dp(&dir, &["destroy"]));
}

#[test]
fn second_command_on_a_busy_session_gets_a_clear_error() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let lock = dev_prism::context::lock(&repo.path).unwrap();
    for cmd in ["stop", "apply", "destroy", "start"] {
        let out = repo.dp(&repo.path, &[cmd]);
        assert_eq!(out.status.code(), Some(4), "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("another dev-prism command is working on"),
            "{}",
            stderr(&out)
        );
    }
    // heal steps aside silently; read-only commands still work.
    let heal = repo.dp(&repo.path, &["heal"]);
    assert_eq!(heal.status.code(), Some(0));
    ok(&repo.dp(&repo.path, &["info"]));
    drop(lock);
    ok(&repo.dp(&repo.path, &["stop"]));
}

#[test]
fn eight_parallel_creates_all_succeed_with_distinct_ports() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let compose = "services:\n  echo:\n    image: dev-prism-test-busybox:2\n    command: [\"nc\", \"-ll\", \"-p\", \"7000\", \"-e\", \"cat\"]\n    ports: [\"7000:7000\"]\n    stop_grace_period: 1s\n";
    let repo = Repo::new(Flavor::V2, compose);
    let outs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| repo.dp(&repo.path, &["create"])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports = vec![];
    for o in &outs {
        let dir = PathBuf::from(ok(o).lines().next().unwrap().to_string());
        let p = port(&env_vars(&dir.join(".env.session")), "ECHO_PORT");
        assert!(echo_answers(p));
        ports.push(p);
    }
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 8);
}

#[test]
fn paths_with_spaces_quotes_and_unicode_just_work() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    // A checkout whose path has a space, a double quote, a single quote and non-ASCII letters.
    let odd = repo.root.join("my \"odd\" it's ünïcødé repo");
    std::fs::create_dir_all(&odd).unwrap();
    git_in(&odd, &["init", "-q", "-b", "main"]);
    std::fs::write(odd.join("docker-compose.yml"), COMPOSE).unwrap();
    std::fs::write(
        odd.join("session.config.yaml"),
        "projectName: odd\nsessionsDir: \"../sessions dir ü\"\n",
    )
    .unwrap();
    git_in(&odd, &["add", "-A"]);
    git_in(&odd, &["commit", "-q", "-m", "init"]);
    let dir = PathBuf::from(
        ok(&dp_env(
            &odd,
            &["create", "--branch", "feature/ünï"],
            &[("DEV_PRISM_COMPOSE", "v2")],
        ))
        .lines()
        .next()
        .unwrap(),
    );
    assert_eq!(dir, repo.root.join("sessions dir ü").join("feature-ünï"));
    let vars = env_vars(&dir.join(".env.session"));
    assert_eq!(vars["SESSION_DIR"], format!("'{}'", dir.display()));
    assert!(http_answers(port(&vars, "WEB_PORT")));
    assert!(ok(&dp_env(&dir, &["plan"], &[])).contains("No changes."));
    let list = ok(&dp_env(&odd, &["list"], &[]));
    assert!(list.contains(&*dir.to_string_lossy()), "{list}");
    // In place too.
    ok(&dp_env(&odd, &["create", "--in-place"], &[]));
    ok(&dp_env(&odd, &["destroy"], &[]));
    ok(&dp_env(&odd, &["destroy", &dir.to_string_lossy()], &[]));
    assert!(!dir.exists());
    assert!(containers_under(&repo.root).is_empty());
}

#[test]
fn compose_missing_and_git_missing() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let out = dp_env(
        &repo.path,
        &["create", "--in-place"],
        &[("DEV_PRISM_COMPOSE", "/nonexistent/compose")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no working Docker Compose found"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("hint: install Docker Compose"),
        "{}",
        stderr(&out)
    );
    assert!(!repo.path.join("docker-compose.session.yml").exists());
    let out = dp_env(&repo.path, &["create"], &[("PATH", "/nonexistent")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("git is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(!repo.sessions_dir().exists());
}
