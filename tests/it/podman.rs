//! Podman (issue 22): what a rootless engine on cgroup v1 cannot do (pause, limits) is
//! refused before anything is made; elsewhere the same create goes through. CI runs it on
//! Docker and on rootless Podman (.ci/run).

use std::path::Path;

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

/// Whether the tests' engine is Podman (its `docker version` names a Podman component).
pub fn is_podman() -> bool {
    let out = std::process::Command::new("docker")
        .args([
            "version",
            "--format",
            "{{range .Server.Components}}{{.Name}} {{end}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("Podman")
}

/// Whether the tests' engine is Podman, for a test that checks what holds only there (run by
/// .ci/run's Podman runs); otherwise the test says it skipped and the caller returns.
pub fn on_podman_only() -> bool {
    let podman = is_podman();
    if !podman {
        skipped("checks Podman only (.ci/run's Podman runs run it)");
    }
    podman
}

/// Whether `doctor` finds a rootless engine on cgroup v1.
fn rootless_on_cgroup_v1(dir: &Path) -> bool {
    let out = dp_env(dir, &["doctor"], &[]);
    let engine = stdout(&out)
        .lines()
        .find(|l| l.contains("docker engine"))
        .unwrap_or_default()
        .to_string();
    assert!(engine.contains("reachable"), "{}", stdout(&out));
    engine.contains("rootless on cgroup v1")
}

/// Nothing but the source's containers, and no session worktree.
fn nothing_made(repo: &Repo) {
    let sessions = std::fs::read_dir(repo.sessions_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(sessions, 0, "a session directory was made");
    let path = repo.path.to_string_lossy();
    for (_, dir, _) in containers_under(&repo.root) {
        assert_eq!(dir, path, "a container of another session was made");
    }
}

#[test]
fn rootless_cgroup_v1_refuses_pausing_a_source_and_limits_before_anything_is_made() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, DATA);
    ok(&repo.dp(&repo.path, &["create", "-q", "--in-place"]));
    let source = repo.path.to_string_lossy().into_owned();
    let weak = rootless_on_cgroup_v1(&repo.path);
    let copy = repo.dp(&repo.path, &["create", "-q", "--data-from", &source]);
    if !weak {
        // The engine pauses the running source: the copy is made.
        ok(&copy);
        return;
    }
    assert_eq!(copy.status.code(), Some(2), "{}", stderr(&copy));
    let said = stderr(&copy);
    assert!(
        said.contains("on cgroup v1 cannot pause the running session in")
            && said.contains("stop the source session first"),
        "{said}"
    );
    nothing_made(&repo);
    // A stopped source needs no pause: its volumes are copied.
    ok(&repo.dp(&repo.path, &["stop", "-q"]));
    let dir = ok(&repo.dp(&repo.path, &["create", "-q", "--data-from", &source]));
    let dir = Path::new(dir.lines().next().unwrap());
    let copy = by_project("container", &repo.project_of(dir));
    assert_eq!(copy.len(), 1, "{copy:?}");
    let seed = std::process::Command::new("docker")
        .args(["exec", &copy[0], "cat", "/data/seed"])
        .output()
        .unwrap();
    assert_eq!(ok(&seed).trim(), "from-first");
    ok(&repo.dp(dir, &["destroy", "-q", "--force"]));
    // Limits would be ignored: refused.
    repo.write("session.config.yaml", "resources: {memory: 96m}\n");
    repo.commit("limits");
    let limited = repo.dp(&repo.path, &["create", "-q"]);
    assert_eq!(limited.status.code(), Some(2), "{}", stderr(&limited));
    assert!(
        stderr(&limited).contains("cannot enforce the memory and CPU limits of `resources`"),
        "{}",
        stderr(&limited)
    );
    nothing_made(&repo);
}

/// Compose v1 behind Podman cannot start a session's network again: refused before anything
/// is made, and without DEV_PRISM_COMPOSE dev-prism takes v2. (On Docker: nothing to check.)
#[test]
fn compose_v1_is_refused_on_podman_before_anything_is_made() {
    if !docker_ready(Flavor::V1) {
        return;
    }
    if !on_podman_only() {
        return;
    }
    let repo = Repo::new(Flavor::V1, ECHO);
    let doctor = stdout(&dp_env(&repo.path, &["doctor"], &[]));
    assert!(doctor.contains("reachable; Podman "), "{doctor}");
    let out = repo.dp(&repo.path, &["create", "-q", "--in-place"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not supported with Podman")
            && stderr(&out).contains("DEV_PRISM_COMPOSE=v2"),
        "{}",
        stderr(&out)
    );
    assert!(containers_under(&repo.root).is_empty());
    assert!(!repo.path.join(".env.session").exists());
    assert!(doctor.contains("using Compose 2."), "{doctor}");
}

/// The container-list calls a `-v` run traced.
fn list_calls(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("debug: ") && l.contains("containers/json"))
        .collect()
}

/// Every observation is ONE container-list call, health included, on either engine: on
/// Podman that is Podman's own list (its compatible one leaves health out), and the engine's
/// networks come from Podman's own list (its compatible one inspects every container for every
/// network, seconds at 40 sessions).
#[test]
fn one_list_call_observes_a_session_with_its_health_on_either_engine() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let podman = is_podman();
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let created = repo.dp(&repo.path, &["-v", "create", "--in-place"]);
    ok(&created);
    let err = stderr(&created);
    assert_eq!(
        err.contains("debug: Docker API: GET /networks"),
        !podman,
        "{err}"
    );
    assert_eq!(
        err.contains("debug: Podman API: GET /v4.0.0/libpod/networks/json"),
        podman,
        "{err}"
    );
    for call in list_calls(&err) {
        assert_eq!(
            call.contains("Podman API: GET /libpod/containers/json"),
            podman,
            "{call}"
        );
    }
    for args in [&["-v", "list", "--json"][..], &["-v", "info", "--json"]] {
        let o = repo.dp(&repo.path, args);
        let (out, err) = (ok(&o), stderr(&o));
        let calls = list_calls(&err);
        assert_eq!(calls.len(), 1, "{args:?}: {err}");
        assert_eq!(
            calls[0].contains("Podman API: GET /libpod/containers/json"),
            podman,
            "{err}"
        );
        if args[1] == "info" {
            let info: serde_json::Value = serde_json::from_str(&out).unwrap();
            let services = info["session"]["services"].as_array().unwrap();
            let web = services.iter().find(|s| s["name"] == "web").unwrap();
            assert_eq!(web["health"], "healthy", "{out}");
            assert!(web["ports"][0]["host_port"].as_u64().is_some(), "{out}");
        }
    }
    ok(&repo.dp(&repo.path, &["destroy", "-q", "--force"]));
}
