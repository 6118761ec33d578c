//! Keeping a machine tidy: age, activity and size in `list`/`info`, paused sessions, prune's
//! filters, `stop-all --idle`, cleanup at scale.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap()
}

fn created(o: &std::process::Output) -> PathBuf {
    PathBuf::from(ok(o).lines().next().unwrap())
}

fn session_in<'a>(list: &'a Value, dir: &Path) -> Option<&'a Value> {
    list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["dir"] == dir.to_string_lossy().as_ref())
}

/// `list` shows age and last activity, `--size` the disk; a paused session is listed as
/// paused (it was hidden as not running), `plan` says so and `apply` unpauses it.
#[test]
fn list_shows_age_idle_size_and_paused_sessions() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let dir = created(&repo.dp(&repo.path, &["create", "--branch", "costs"]));
    std::fs::write(dir.join("big.bin"), vec![7u8; 256 << 10]).unwrap();
    let list = json_of(&repo.dp(&repo.path, &["--json", "list", "--size"]));
    let s = session_in(&list, &dir).unwrap_or_else(|| panic!("{list}"));
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'), "{s}");
    assert!(s["last_activity"].as_str().unwrap().ends_with('Z'), "{s}");
    let worktree = s["disk"]["worktree"].as_u64().unwrap();
    assert!((256 << 10..16 << 20).contains(&worktree), "{s}");
    assert!(
        s["disk"]["volumes"].is_u64() && s["disk"]["images"].is_u64(),
        "{s}"
    );
    // Without --size there is no disk field.
    let plain = json_of(&repo.dp(&repo.path, &["--json", "list"]));
    assert!(session_in(&plain, &dir).unwrap().get("disk").is_none());
    let text = ok(&repo.dp(&repo.path, &["list"]));
    let header = text.lines().next().unwrap();
    assert!(header.contains("  AGE   IDLE  PORTS"), "{text}");
    let info = ok(&repo.dp(&dir, &["info", "--size"]));
    assert!(
        info.contains("\nAge:      now\nIdle:     now\nDisk:     "),
        "{info}"
    );

    let id = containers_under(&dir)[0].0.clone();
    assert!(std::process::Command::new("docker")
        .args(["pause", &id])
        .status()
        .unwrap()
        .success());
    let list = json_of(&repo.dp(&repo.path, &["--json", "list"]));
    let s = session_in(&list, &dir).unwrap_or_else(|| panic!("a paused session is listed: {list}"));
    assert_eq!(s["status"], "paused", "{s}");
    let plan = ok(&repo.dp(&dir, &["plan"]));
    assert!(
        plan.contains("container of service `echo` is paused")
            && plan.contains("it is paused; it will be unpaused"),
        "{plan}"
    );
    ok(&repo.dp(&dir, &["apply"]));
    let info = json_of(&repo.dp(&dir, &["--json", "info"]));
    assert_eq!(info["session"]["status"], "running", "{info}");
    ok(&repo.dp(&dir, &["destroy", "--force"]));
}
