//! A busy source (DESIGN §10), with real processes racing on the real engine: copies that
//! overlap share one pause, and a copy acts on the source as it is when the copy starts, not
//! as the plan saw it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::*;

/// Busybox whose `cp` takes three seconds: the throwaway copy containers run the source's
/// image, so two copies started together are sure to overlap.
const SLOW_CP_IMAGE: &str = "dev-prism-test-slowcp:1";

const SOURCE: &str = r#"services:
  db:
    image: dev-prism-test-slowcp:1
    command: ["sh", "-c", "[ -f /data/seed ] || echo from-first > /data/seed; exec sleep 3600"]
    volumes: ["data:/data"]
    stop_grace_period: 1s
volumes:
  data: {}
"#;

fn build_slow_cp_image() {
    let exists = Command::new("docker")
        .args(["image", "inspect", SLOW_CP_IMAGE])
        .output()
        .unwrap()
        .status
        .success();
    if exists {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for applet in ["sh", "sleep", "cat", "ls", "touch"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::write(
        bin.join("cp"),
        "#!/bin/sh\n/bin/busybox sleep 3\nexec /bin/busybox cp \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("cp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import -c 'CMD [\"/bin/sh\"]' - {SLOW_CP_IMAGE} >/dev/null",
            root.path().display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "docker import {SLOW_CP_IMAGE}");
}

/// A `git` first on PATH that holds `git ls-tree -r -l --full-tree` (the disk check create makes after its plan
/// and before its first step) while `<dir>/hold` exists, saying so with a file
/// `<dir>/reached.<pid>`. Not `git worktree add`: parallel creates in one repository take turns
/// for it (a lock around the git command), so only one would ever be held there.
struct Gate {
    dir: tempfile::TempDir,
    path: String,
}

impl Gate {
    fn new() -> Gate {
        let dir = tempfile::tempdir().unwrap();
        let real = String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v git"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let d = dir.path().display();
        let script = format!(
            "#!/bin/sh\ncase \" $* \" in *' ls-tree -r -l --full-tree '*) if [ -e '{d}/hold' ]; then : > '{d}/reached.'$$; while [ -e '{d}/hold' ]; do sleep 0.05; done; fi;; esac\nexec '{}' \"$@\"\n",
            real.trim()
        );
        std::fs::write(dir.path().join("git"), script).unwrap();
        std::fs::set_permissions(
            dir.path().join("git"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(dir.path().join("hold"), "").unwrap();
        let path = format!("{}:{}", d, std::env::var("PATH").unwrap());
        Gate { dir, path }
    }

    /// Starts `dev-prism args` in `dir`; it stops after its plan, before making its worktree.
    fn spawn(&self, repo: &Repo, args: &[&str]) -> Child {
        let env = [
            ("DEV_PRISM_COMPOSE", repo.flavor.env()),
            ("PATH", self.path.as_str()),
        ];
        dp_command(&repo.path, args, &env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits until `n` commands are held.
    fn wait_for(&self, n: usize) {
        let start = Instant::now();
        loop {
            let reached = std::fs::read_dir(self.dir.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("reached."))
                .count();
            if reached >= n {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "never held");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn open(&self) {
        std::fs::remove_file(self.dir.path().join("hold")).unwrap();
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Container events under `root` between two instants: (time ns, action, directory, service).
fn events(root: &Path, since_ns: u128) -> Vec<(u128, String, String, String)> {
    let since = format!("{}", since_ns / 1_000_000_000);
    let until = format!("{}", now_ns() / 1_000_000_000 + 1);
    let out = Command::new("docker")
        .args([
            "events", "--since", &since, "--until", &until, "--filter", "type=container",
            "--filter", "label=dev-prism.managed=true", "--format",
            "{{.TimeNano}}\t{{.Action}}\t{{index .Actor.Attributes \"dev-prism.working_dir\"}}\t{{index .Actor.Attributes \"dev-prism.service\"}}",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let root = root.to_string_lossy().into_owned();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let p: Vec<&str> = l.split('\t').collect();
            (p.len() == 4
                && p[2].starts_with(&root)
                && p[0].parse::<u128>().unwrap_or(0) >= since_ns)
                .then(|| (p[0].parse().unwrap(), p[1].into(), p[2].into(), p[3].into()))
        })
        .collect()
}

fn finish(child: Child) -> std::process::Output {
    child.wait_with_output().unwrap()
}

fn seed(dir: &Path) -> String {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=dev-prism.working_dir={}", dir.display()))
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = Command::new("docker")
        .args(["exec", &id, "cat", "/data/seed"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with one session (`first`) to copy from, on the slow-copy image; `None` when
/// Docker is skipped.
fn source_session() -> Option<(Repo, PathBuf)> {
    if !docker_ready(Flavor::V2) {
        return None;
    }
    build_slow_cp_image();
    let repo = Repo::new(Flavor::V2, SOURCE);
    let first = PathBuf::from(
        ok(&repo.dp(&repo.path, &["create", "-q", "--branch", "first"]))
            .lines()
            .next()
            .unwrap(),
    );
    Some((repo, first))
}

/// Two `--data-from` copies of one source planned while it was stopped; it is started before
/// they copy. Each copy pauses what runs when it copies (not what ran when it planned), the
/// two share one pause, and the source is unpaused once, after the last copy ended. A source
/// destroyed between a copy's plan and its copy fails that create cleanly.
#[test]
fn overlapping_copies_share_one_pause_of_the_source_as_it_is_when_they_copy() {
    let Some((repo, first)) = source_session() else {
        return;
    };
    let from = first.to_string_lossy().into_owned();
    ok(&repo.dp(&first, &["stop", "-q"]));

    let gate = Gate::new();
    let copies: Vec<Child> = ["a", "b"]
        .iter()
        .map(|b| {
            gate.spawn(
                &repo,
                &["create", "-q", "--branch", b, "--data-from", &from],
            )
        })
        .collect();
    gate.wait_for(2);
    // Both planned a stopped source: nothing to pause. It runs again before they copy.
    ok(&repo.dp(&first, &["start", "-q"]));
    let since = now_ns();
    gate.open();
    let outs: Vec<_> = copies.into_iter().map(finish).collect();
    for out in &outs {
        ok(out);
    }
    let evs = events(&repo.root, since);
    let source = |action: &str| -> Vec<u128> {
        evs.iter()
            .filter(|e| e.1 == action && e.2 == from)
            .map(|e| e.0)
            .collect()
    };
    let copy = |action: &str| -> Vec<u128> {
        evs.iter()
            .filter(|e| e.1 == action && e.3 == "(volume copy)")
            .map(|e| e.0)
            .collect()
    };
    let (pauses, unpauses) = (source("pause"), source("unpause"));
    let (starts, ends) = (copy("start"), copy("die"));
    assert_eq!(
        (pauses.len(), unpauses.len(), starts.len(), ends.len()),
        (1, 1, 2, 2),
        "one pause shared by both copies: {evs:?}"
    );
    assert!(
        pauses[0] < *starts.iter().min().unwrap() && unpauses[0] > *ends.iter().max().unwrap(),
        "the source ran while a copy read it: {evs:?}"
    );
    let a = repo.sessions_dir().join("a");
    let b = repo.sessions_dir().join("b");
    for dir in [&first, &a, &b] {
        assert_eq!(seed(dir), "from-first", "{}", dir.display());
    }

    // The source destroyed between a copy's plan and its copy: that create fails and leaves
    // nothing, and no volume reappears under the source's name.
    let gate = Gate::new();
    let late = gate.spawn(
        &repo,
        &["create", "-q", "--branch", "c", "--data-from", &from],
    );
    gate.wait_for(1);
    ok(&repo.dp(&first, &["destroy", "-q"]));
    gate.open();
    let out = finish(late);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("changed since the plan"),
        "{}",
        stderr(&out)
    );
    let c = repo.sessions_dir().join("c");
    assert!(!c.exists());
    assert!(by_project("volume", &repo.project_of(&c)).is_empty());
    assert!(by_project("volume", &repo.project_of(&first)).is_empty());
}

fn state(dir: &Path) -> String {
    let out = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.State}}", "--filter"])
        .arg(format!("label=dev-prism.working_dir={}", dir.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `kill -9` of a create while it copies: the source is left paused and its next apply brings
/// it back; the new session's volumes may be half-copied, so it is never started on them
/// (apply used to remove the copy container and start the session), and destroy removes it.
#[test]
fn a_copy_killed_midway_is_never_started_and_its_source_comes_back() {
    let Some((repo, first)) = source_session() else {
        return;
    };
    let from = first.to_string_lossy().into_owned();
    let cut = repo.sessions_dir().join("cut");
    let mut copy = dp_command(
        &repo.path,
        &["create", "-q", "--branch", "cut", "--data-from", &from],
        &[("DEV_PRISM_COMPOSE", repo.flavor.env())],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let start = Instant::now();
    while state(&cut) != "running" {
        assert!(start.elapsed() < Duration::from_secs(60), "no copy ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    copy.kill().unwrap();
    copy.wait().unwrap();
    assert_eq!(state(&first), "paused");
    for args in [&["apply"][..], &["start"]] {
        let out = repo.dp(&cut, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("never finished"), "{}", stderr(&out));
    }
    ok(&repo.dp(&first, &["apply", "-q"]));
    assert_eq!(state(&first), "running");
    ok(&repo.dp(&cut, &["destroy", "-q"]));
    assert!(state(&cut).is_empty());
    assert!(by_project("volume", &repo.project_of(&cut)).is_empty());
}
