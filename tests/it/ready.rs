//! Readiness that can be trusted, one-shot jobs, where ports are (SESSION_HOST, URLs), a kept
//! session's directory on stdout, missing images, and the original tool's config.

use std::path::PathBuf;

use crate::support::*;

/// A slow healthchecked service, and one that exits right after it starts (once the first is
/// healthy, as a web app gated on its database does).
const EXITS_AFTER_START: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "sleep 2; touch /tmp/ok; sleep 1000"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "sh", "-c", "test -f /tmp/ok"]
      interval: 1s
      retries: 30
  boot:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "echo booting; exit 3"]
    ports: ["3000"]
    depends_on:
      db: {condition: service_healthy}
"#;

fn exits_after_start(flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    let repo = Repo::new(flavor, EXITS_AFTER_START);
    let out = repo.dp(&repo.path, &["create", "--branch", "boot"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "reported ready: {err}");
    assert!(err.contains("service `boot` exited with code 3"), "{err}");
    assert!(err.contains("booting"), "its last log lines: {err}");
    assert!(containers_under(&repo.root).is_empty(), "rolled back");
}

#[test]
fn a_service_that_exits_right_after_start_fails_create_v2() {
    exits_after_start(Flavor::V2);
}

#[test]
fn a_service_that_exits_right_after_start_fails_create_v1() {
    exits_after_start(Flavor::V1);
}

/// Runs 4 s, then exits 3 on every (re)start: ready at first, then a crash loop.
const CRASH_LOOP_LATER: &str = r#"services:
  crash:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "if [ -e /started ]; then exit 3; fi; touch /started; sleep 4; exit 3"]
    restart: always
    ports: ["5432"]
"#;

#[test]
fn a_crash_loop_fails_create_and_is_shown_as_restarting() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // Crashing from the start: never ready.
    let repo = Repo::new(
        Flavor::V2,
        &EXITS_AFTER_START.replace(
            "    depends_on:",
            "    restart: on-failure\n    depends_on:",
        ),
    );
    let out = repo.dp(&repo.path, &["create", "--in-place"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("service `boot` "), "{}", stderr(&out));
    assert!(containers_under(&repo.root).is_empty());

    // Crashing later: `info` and `list` say restarting, never stopped or running.
    let repo = Repo::new(Flavor::V2, CRASH_LOOP_LATER);
    ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let dir = repo.path.to_string_lossy().into_owned();
    let mut seen = String::new();
    for _ in 0..100 {
        let info = ok(&repo.dp(&repo.path, &["info"]));
        if info.contains("Status:   restarting") {
            seen = info;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(seen.contains("restarting (crash loop)"), "{seen}");
    let list = ok(&repo.dp(&repo.path, &["list", "--all"]));
    let row = list.lines().find(|l| l.starts_with(&dir)).unwrap();
    assert!(
        row.contains(" restarting ") && !row.contains(" stopped ") && !row.contains(" running "),
        "{row}"
    );
}

const WITH_JOB: &str = r#"services:
  migrate:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "sleep 1; echo migrated"]
  web:
    image: dev-prism-test-busybox:2
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["80"]
    stop_grace_period: 1s
    depends_on:
      migrate: {condition: service_completed_successfully}
  seed:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "echo seeded"]
"#;

fn jobs(flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    let repo = Repo::new(flavor, WITH_JOB);
    // `migrate` is a job by depends_on, `seed` by the config.
    repo.write("session.config.yaml", "jobs: [seed]\n");
    repo.commit("jobs");
    ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let project = repo.project_of(&repo.path);
    let sep = if flavor == Flavor::V1 { "_" } else { "-" };
    let name = |s: &str| format!("{project}{sep}{s}{sep}1");
    let runs = |s: &str, line: &str| {
        let out = std::process::Command::new("docker")
            .args(["logs", &name(s)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).matches(line).count()
    };
    assert_eq!(runs("migrate", "migrated"), 1);
    let plan = repo.dp(&repo.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    ok(&repo.dp(&repo.path, &["apply"]));
    let info = ok(&repo.dp(&repo.path, &["info"]));
    assert!(info.contains("Status:   running"), "{info}");
    assert!(info.contains("done (job, exit 0)"), "{info}");
    // A service removed by hand is recreated; the jobs that are done do not run again.
    let rm = std::process::Command::new("docker")
        .args(["rm", "-f", &name("web")])
        .output()
        .unwrap();
    assert!(rm.status.success());
    ok(&repo.dp(&repo.path, &["apply"]));
    assert_eq!(runs("migrate", "migrated"), 1);
    assert_eq!(runs("seed", "seeded"), 1);
    assert_eq!(
        repo.dp(&repo.path, &["plan", "--detailed-exitcode"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn a_job_that_exited_0_is_done_not_drift_v2() {
    jobs(Flavor::V2);
}

#[test]
fn a_job_that_exited_0_is_done_not_drift_v1() {
    jobs(Flavor::V1);
}

#[test]
fn a_failing_job_fails_create_named() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(
        Flavor::V2,
        &WITH_JOB.replace("echo seeded", "echo no seed; exit 2"),
    );
    repo.write("session.config.yaml", "jobs: [seed]\n");
    repo.commit("jobs");
    let out = repo.dp(&repo.path, &["create", "--in-place"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("service `seed` exited with code 2"), "{err}");
    assert!(err.contains("no seed"), "{err}");
}

const ADDRESSES: &str = r#"services:
  web:
    image: dev-prism-test-busybox:2
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["80"]
    stop_grace_period: 1s
  api:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
    ports: ["7000", "5432", "6000/udp"]
    stop_grace_period: 1s
    x-dev-prism: {scheme: http}
  cache:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "6379", "-e", "cat"]
    ports: ["6379", "6000/udp"]
    stop_grace_period: 1s
"#;

#[test]
fn addresses_follow_the_bind_address_and_urls_only_where_a_scheme_applies() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ADDRESSES);
    repo.write(
        "session.config.yaml",
        "bindAddress: 127.0.0.2\nproxy: {enabled: false}\nappEnv:\n  app:\n    REDIS_URL: 'redis://${SESSION_HOST}:${CACHE_PORT}'\n",
    );
    repo.write("app/README", "the app\n");
    repo.commit("config");
    let out = ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let vars = env_vars(&repo.path.join(".env.session"));
    assert_eq!(vars["SESSION_HOST"], "127.0.0.2");
    let (web, cache, api) = (
        port(&vars, "WEB_PORT"),
        port(&vars, "CACHE_PORT"),
        port(&vars, "API_PORT"),
    );
    let udp = port(&vars, "CACHE_6000_UDP_PORT");
    assert!(
        out.contains(&format!("WEB_PORT             http://127.0.0.2:{web}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("CACHE_PORT           127.0.0.2:{cache}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("CACHE_6000_UDP_PORT  127.0.0.2:{udp}/udp\n")),
        "{out}"
    );
    // Declared `x-dev-prism: {scheme: http}`: every TCP port of the service is a URL.
    assert!(
        out.contains(&format!("API_PORT             http://127.0.0.2:{api}\n")),
        "{out}"
    );
    assert!(!out.contains("localhost"), "{out}");
    assert_eq!(
        env_vars(&repo.path.join("app/.env.session"))["REDIS_URL"],
        format!("redis://127.0.0.2:{cache}")
    );
    let info = ok(&repo.dp(&repo.path, &["info"]));
    assert!(
        info.contains(&format!("6379 → 127.0.0.2:{cache}")),
        "{info}"
    );
    let list = ok(&repo.dp(&repo.path, &["list"]));
    assert!(
        list.contains(&format!("web → http://127.0.0.2:{web}")),
        "{list}"
    );
    let doctor = stdout(&repo.dp(&repo.path, &["doctor"]));
    assert!(
        doctor.contains("ok  bind address     127.0.0.2 (local only)"),
        "{doctor}"
    );
}

fn created(o: &std::process::Output) -> PathBuf {
    PathBuf::from(stdout(o).lines().next().unwrap_or_default())
}

#[test]
fn create_quiet_prints_the_kept_session_when_setup_fails() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write("session.config.yaml", "setup: ['false']\n");
    repo.commit("setup fails");
    let out = repo.dp(&repo.path, &["create", "-q", "--branch", "kept"]);
    assert_eq!(out.status.code(), Some(1));
    let dir = repo.sessions_dir().join("kept");
    assert_eq!(created(&out), dir, "stdout: {}", stdout(&out));
    // A forced destroy can be previewed: the untracked file is kept, or (forced) deleted.
    std::fs::write(dir.join("scratch.txt"), "work").unwrap();
    let plan = ok(&repo.dp(&dir, &["plan", "--destroy"]));
    assert!(plan.contains("kept worktree"), "{plan}");
    let plan = ok(&repo.dp(&dir, &["plan", "--destroy", "--force"]));
    assert!(plan.contains("- worktree "), "{plan}");
    assert!(dir.join("scratch.txt").exists(), "plan changes nothing");
}

fn missing_image(flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    let repo = Repo::new(
        flavor,
        &COMPOSE.replacen(
            "dev-prism-test-busybox:2",
            "dev-prism-test-no-such-image:0",
            1,
        ),
    );
    let out = repo.dp(&repo.path, &["create", "--in-place"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("service `web` needs image `dev-prism-test-no-such-image:0`, which is missing locally, and the registry could not provide it: "),
        "{err}"
    );
    assert!(err.contains("docker build"), "{err}");
    assert!(containers_under(&repo.root).is_empty());
}

#[test]
fn missing_image_names_service_image_and_registry_reason_v2() {
    missing_image(Flavor::V2);
}

#[test]
fn missing_image_names_service_image_and_registry_reason_v1() {
    missing_image(Flavor::V1);
}

#[test]
fn the_original_tools_config_is_accepted_with_warnings() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    if !needs_program("node") {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write(
        "session.config.mjs",
        "export default {\n  projectName: 'hello',\n  sessionsDir: '../sessions',\n  portBase: 47000,\n  services: [\n    { name: 'web', internalPort: 80 },\n  ],\n  setup: [],\n};\n",
    );
    let out = repo.dp(&repo.path, &["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`services` no longer does anything for web"),
        "{err}"
    );
    assert!(
        err.contains("`portBase` and `ports` no longer do anything"),
        "{err}"
    );
    // A wrong type names the key and no position (node printed the JSON, not the user).
    repo.write(
        "session.config.mjs",
        "export default { readyTimeout: 'soon' };\n",
    );
    let out = repo.dp(&repo.path, &["plan"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("session.config.mjs: key `readyTimeout`: invalid type"),
        "{err}"
    );
    assert!(!err.contains("session.config.mjs:1:"), "{err}");
}

/// A healthchecked service whose checks fail at once while it is paused.
const HEALTHCHECKED: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 1s
      retries: 1
"#;

/// A source left paused by a killed copy (here: `docker pause`) long enough for its
/// healthcheck to fail comes back with `start` and with `apply`: readiness waits for the
/// check after the unpause instead of failing on the stale "unhealthy". The container is
/// unpaused, never recreated. (Podman runs no check of a paused container: it stays healthy
/// there.)
#[test]
fn a_paused_healthchecked_session_comes_back_with_start_and_apply() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let podman = crate::podman::is_podman();
    let repo = Repo::new(Flavor::V2, HEALTHCHECKED);
    ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let id = containers_under(&repo.root)[0].0.clone();
    let inspect = |format: &str| {
        let out = std::process::Command::new("docker")
            .args(["inspect", "-f", format, &id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for command in ["start", "apply"] {
        let paused = std::process::Command::new("docker")
            .args(["pause", &id])
            .output()
            .unwrap();
        assert!(paused.status.success(), "{}", stderr(&paused));
        if podman {
            std::thread::sleep(std::time::Duration::from_secs(2));
            assert_eq!(inspect("{{.State.Health.Status}}"), "healthy");
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !podman && inspect("{{.State.Health.Status}}") != "unhealthy" {
            assert!(
                std::time::Instant::now() < deadline,
                "the paused container never turned unhealthy"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        ok(&repo.dp(&repo.path, &[command]));
        assert_eq!(inspect("{{.State.Status}}"), "running", "{command}");
        assert_eq!(inspect("{{.State.Health.Status}}"), "healthy", "{command}");
        assert_eq!(
            containers_under(&repo.root)[0].0,
            id,
            "{command} recreated the container"
        );
    }
    ok(&repo.dp(&repo.path, &["destroy"]));
}
