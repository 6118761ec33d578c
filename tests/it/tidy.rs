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

/// Sets the mtimes of every activity source of the session in `dir` to `ago` (e.g. `3 hours
/// ago`): its `.env.session`, its git index and `logs/HEAD`.
fn backdate(dir: &Path, ago: &str) {
    let text = std::fs::read_to_string(dir.join(".git")).unwrap();
    let admin = PathBuf::from(text.trim().strip_prefix("gitdir: ").unwrap());
    let mut files = vec![admin.join("index"), admin.join("logs/HEAD")];
    if dir.join(".env.session").exists() {
        files.push(dir.join(".env.session"));
    }
    for f in files {
        assert!(std::process::Command::new("touch")
            .args(["-d", ago])
            .arg(&f)
            .status()
            .unwrap()
            .success());
    }
}

/// (directory name, removed, reasons) of a `prune --dry-run --json`, by name.
fn verdicts(o: &std::process::Output) -> Vec<(String, bool, String)> {
    let doc = json_of(o);
    let mut out: Vec<(String, bool, String)> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let name = Path::new(s["dir"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let reasons: Vec<&str> = s["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            (name, s["remove"].as_bool().unwrap(), reasons.join("; "))
        })
        .collect();
    out.sort();
    out
}

/// One filter at a time: `--merged` (a branch with its own commits merged into main; a fresh
/// branch is not merged), `--older-than`, `--idle` (a removal that must keep the work in the
/// worktree), and no filter = `--stopped`. `--dry-run` changes nothing.
#[test]
fn prune_filters_select_by_rule_and_keep_work() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let merged = created(&repo.dp(&repo.path, &["create", "--branch", "merged"]));
    let work = created(&repo.dp(&repo.path, &["create", "--branch", "work"]));
    let live = created(&repo.dp(&repo.path, &["create", "--branch", "live"]));
    std::fs::write(merged.join("feature.txt"), "done\n").unwrap();
    git_in(&merged, &["add", "feature.txt"]);
    git_in(&merged, &["commit", "-q", "-m", "feature"]);
    repo.git(&["merge", "-q", "--ff-only", "merged"]);
    ok(&repo.dp(&merged, &["stop"]));
    ok(&repo.dp(&work, &["stop"]));
    std::fs::write(work.join("notes.txt"), "unsaved thoughts\n").unwrap();

    let dry = |args: &[&str]| {
        let mut all = vec!["--json", "prune", "--dry-run"];
        all.extend_from_slice(args);
        verdicts(&repo.dp(&repo.path, &all))
    };
    assert_eq!(
        dry(&["--merged"]),
        vec![
            (
                "live".into(),
                false,
                "its branch has no commits of its own".into()
            ),
            ("merged".into(), true, "its branch is merged".into()),
            (
                "work".into(),
                false,
                "its branch has no commits of its own".into()
            ),
        ]
    );
    assert!(dry(&["--older-than", "1h"])
        .iter()
        .all(|(_, remove, why)| !remove && why == "created just now"));
    backdate(&work, "3 hours ago");
    assert_eq!(
        dry(&["--idle", "2h"]),
        vec![
            ("live".into(), false, "active just now".into()),
            ("merged".into(), false, "active just now".into()),
            ("work".into(), true, "idle for 3h".into()),
        ]
    );
    // The dry run says what the removal keeps: the work.
    let text = ok(&repo.dp(&repo.path, &["prune", "--dry-run", "--idle", "2h"]));
    assert!(
        text.contains("kept: kept worktree") && text.contains("notes.txt"),
        "{text}"
    );
    assert_eq!(
        containers_under(&repo.root).len(),
        3,
        "a dry run removes nothing"
    );

    let run = ok(&repo.dp(&repo.path, &["prune", "--idle", "2h", "-y"]));
    assert!(run.contains(&format!("pruned {}", work.display())), "{run}");
    assert!(containers_under(&work).is_empty());
    assert!(
        work.join("notes.txt").exists(),
        "work is never deleted without --force: {run}"
    );
    // No filter: the stopped ones (the merged one goes with its branch; the live one stays).
    ok(&repo.dp(&repo.path, &["prune", "-y"]));
    assert!(!merged.exists() && containers_under(&merged).is_empty());
    assert!(!repo.git(&["branch", "--list", "merged"]).contains("merged"));
    assert!(work.join("notes.txt").exists());
    assert_eq!(containers_under(&live).len(), 1);
    let bad = repo.dp(&repo.path, &["prune", "--idle", "5x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("the unit must be m (minutes), h (hours), d (days) or w (weeks)"),
        "{}",
        stderr(&bad)
    );
    ok(&repo.dp(&live, &["destroy", "--force"]));
}

/// `--gone`: a session whose directory was deleted while it ran is cleaned up by its labels
/// (containers, network), and so is one whose containers were removed by hand too (only its
/// network is left: found by its project label). Nothing of another repository is touched.
/// `stop-all --idle` stops only the idle session.
#[test]
fn prune_gone_finds_leftovers_by_label_and_stop_all_idle() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let other = Repo::new(Flavor::V2, ECHO);
    let idle = created(&repo.dp(&repo.path, &["create", "--branch", "idle"]));
    let busy = created(&repo.dp(&repo.path, &["create", "--branch", "busy"]));
    let theirs = created(&other.dp(&other.path, &["create", "--branch", "theirs"]));
    backdate(&idle, "3 hours ago");
    let under = repo.root.to_string_lossy().into_owned();
    let stopped = ok(&repo.dp(&repo.path, &["stop-all", "--under", &under, "--idle", "1h"]));
    assert!(
        stopped.contains(&format!("stopped {}", idle.display())),
        "{stopped}"
    );
    assert!(!stopped.contains(&*busy.to_string_lossy()), "{stopped}");
    let state = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.State.Status}}",
            &containers_under(&busy)[0].0,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "running");

    // `busy` vanishes while running; `idle` loses its directory and containers, leaving its
    // network.
    let idle_project = repo.project_of(&idle);
    let busy_project = repo.project_of(&busy);
    std::fs::remove_dir_all(&busy).unwrap();
    std::fs::remove_dir_all(&idle).unwrap();
    for (id, _, _) in containers_under(&idle) {
        std::process::Command::new("docker")
            .args(["rm", "-f", &id])
            .output()
            .unwrap();
    }
    assert!(!by_project("network", &idle_project).is_empty());
    let dry = ok(&repo.dp(&repo.path, &["prune", "--gone", "--dry-run"]));
    assert!(
        dry.contains(&format!(
            "remove {}  (its directory is gone)",
            idle.display()
        )) && dry.contains(&format!("network {idle_project}_default"))
            && dry.contains(&format!(
                "remove {}  (its directory is gone)",
                busy.display()
            )),
        "{dry}"
    );
    ok(&repo.dp(&repo.path, &["prune", "--gone", "-y"]));
    for p in [&idle_project, &busy_project] {
        assert!(by_project("network", p).is_empty(), "{p}");
        assert!(by_project("container", p).is_empty(), "{p}");
    }
    assert!(!repo.git(&["worktree", "list"]).contains("idle"));
    assert_eq!(
        containers_under(&theirs).len(),
        1,
        "another repository's session stays"
    );
    let again = ok(&repo.dp(&repo.path, &["prune", "--gone", "-y"]));
    assert!(again.contains("Nothing to prune"), "{again}");
    ok(&other.dp(&theirs, &["destroy", "--force"]));
}

/// Removes every session under `root` when dropped (the test's own directory only).
struct DestroyUnder(PathBuf);

impl Drop for DestroyUnder {
    fn drop(&mut self) {
        let _ = dp_env(
            &self.0,
            &[
                "destroy",
                "--all",
                "--force",
                "--under",
                &self.0.to_string_lossy(),
            ],
            &[],
        );
    }
}

/// Cleanup at scale: 20 sessions removed by one `destroy --all` are all gone, networks
/// included (removals are paced to what the engine serves: a few at once).
#[test]
fn destroy_all_of_twenty_sessions_leaves_nothing() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("dp-it-scale-")
        .tempdir()
        .unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let guard = DestroyUnder(root.clone());
    let dirs: Vec<PathBuf> = (0..20)
        .map(|i| {
            let d = root.join(format!("scale{i:02}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("docker-compose.yml"), ECHO).unwrap();
            git_in(&d, &["init", "-q", "-b", "main"]);
            d
        })
        .collect();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for chunk in dirs.chunks(5) {
            s.spawn(move || {
                for d in chunk {
                    ok(&dp_env(
                        d,
                        &["create", "--in-place"],
                        &[("DEV_PRISM_COMPOSE", "v2")],
                    ));
                }
            });
        }
    });
    eprintln!("created 20 sessions in {:?}", started.elapsed());
    let projects: Vec<String> = dirs
        .iter()
        .map(|d| containers_under(d)[0].2.clone())
        .collect();
    assert!(projects
        .iter()
        .all(|p| !by_project("network", p).is_empty()));
    let started = std::time::Instant::now();
    let out = ok(&dp_env(
        &root,
        &[
            "destroy",
            "--all",
            "-y",
            "--force",
            "--under",
            &root.to_string_lossy(),
        ],
        &[],
    ));
    eprintln!("destroyed 20 sessions in {:?}", started.elapsed());
    assert_eq!(out.matches("destroyed ").count(), 20, "{out}");
    assert!(containers_under(&root).is_empty());
    for p in &projects {
        assert!(by_project("network", p).is_empty(), "{p}");
        assert!(by_project("volume", p).is_empty(), "{p}");
    }
    drop(guard);
}

/// git fails a `worktree add` (or `remove`) that reads another worktree a parallel add has
/// only half made ("failed to read .git/worktrees/<id>/commondir": measured, 4 of 48 plain
/// `git worktree add` run 16 at once; the 48th of 200 creates run 10 at once). dev-prism's own
/// adds and removes in one repository take turns, so parallel creates and bulk removals all
/// succeed. No engine: the git adapter itself, 16 threads at once, several rounds.
#[test]
fn parallel_worktree_adds_and_removes_in_one_repository_all_succeed() {
    use dev_prism::adapters::git;
    let tmp = tempfile::Builder::new().prefix("dp-it-").tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let repo = root.join("r");
    std::fs::create_dir(&repo).unwrap();
    git_in(&repo, &["init", "-q", "-b", "main"]);
    git_in(&repo, &["commit", "-q", "--allow-empty", "-m", "init"]);
    let t = dev_prism::ui::Trace::default();
    for round in 0..6 {
        let dirs: Vec<PathBuf> = (0..16)
            .map(|i| root.join(format!("w{round}-{i}")))
            .collect();
        let (t, repo) = (&t, &repo);
        let added: Vec<_> = std::thread::scope(|s| {
            let all: Vec<_> = dirs
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    s.spawn(move || {
                        git::add_worktree(t, repo, d, &format!("b{round}-{i}"), true, None)
                    })
                })
                .collect();
            all.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in added {
            r.unwrap();
        }
        let removed: Vec<_> = std::thread::scope(|s| {
            let all: Vec<_> = dirs
                .iter()
                .map(|d| s.spawn(move || git::remove_worktree(t, repo, d, true)))
                .collect();
            all.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in removed {
            r.unwrap();
        }
    }
    assert_eq!(git_in(&repo, &["worktree", "list"]).lines().count(), 1);
}
