//! Interruptions of the commands over many sessions (`stop-all --under`, `destroy --all
//! --under`): one Ctrl-C stops them all, the exit code is 128+n, and every session left half-way
//! names the command that finishes it (a destroy stopped while git removes a worktree deletes
//! its branch too: no later destroy could tell which branch it was); and what `kill -9` during a
//! `--data-from` copy leaves (a paused source) is converged by the source's next `apply`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::signals::{assert_nothing_left, kill, session_dir, wait_exit, STUBBORN, V2};
use crate::support::*;

/// Two worktree sessions of a service that ignores SIGTERM (stopping one takes its whole grace
/// period).
fn two_sessions() -> Repo {
    let repo = Repo::new(Flavor::V2, STUBBORN);
    for b in ["one", "two"] {
        ok(&dp_env(&repo.path, &["create", "-q", "--branch", b], &[V2]));
    }
    repo
}

/// Runs dev-prism `args` (with `env`) in its own process group and sends SIGINT to the group
/// once `now()` holds (waiting up to 30 s for it); returns the exit code and both streams.
fn ctrl_c_when(
    repo: &Repo,
    args: &[&str],
    env: &[(&str, &str)],
    now: &dyn Fn() -> bool,
) -> (Option<i32>, String, String) {
    let mut child = dp_command(&repo.path, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut hit = now();
    while !hit && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        hit = now();
    }
    assert!(hit, "the moment to send SIGINT never came");
    kill("INT", &format!("-{}", child.id()));
    let status = wait_exit(&mut child, 60);
    let out = child.wait_with_output().unwrap();
    (status.code(), stdout(&out), stderr(&out))
}

/// A `git` on PATH that touches `started` and takes two seconds when it removes a worktree:
/// a signal sent once `started` exists arrives while destroy works. Returns the PATH to use.
fn slow_worktree_remove(repo: &Repo, started: &Path) -> String {
    let bin = repo.root.join("slow-git");
    std::fs::create_dir_all(&bin).unwrap();
    let real = git_in(&repo.path, &["--exec-path"]);
    let wrapper = bin.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" worktree remove \"*) touch '{}'; sleep 2;; esac\nexec {}/git \"$@\"\n",
            started.display(),
            real.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The commands the output names to finish what was interrupted (`hint: `dev-prism … DIR``).
/// Asserts that every session the interrupted command left half-way (as many as its last
/// line on stderr counts) is hinted with one command.
fn hinted(out: &str, err: &str) -> Vec<Vec<String>> {
    let hints: Vec<Vec<String>> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("hint: `dev-prism "))
        .filter_map(|l| l.split_once('`'))
        .map(|(cmd, _)| cmd.split(' ').map(str::to_string).collect())
        .collect();
    let unfinished: usize = err
        .split("interrupted by SIGINT: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert_eq!(hints.len(), unfinished, "{out}\n{err}");
    hints
}

#[test]
fn ctrl_c_stops_stop_all_with_130_and_the_hinted_command_finishes() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = two_sessions();
    let under = repo.root.to_string_lossy().into_owned();
    // Stopping a service that ignores SIGTERM takes its 3 s grace period.
    let start = Instant::now();
    let (code, out, err) = ctrl_c_when(&repo, &["stop-all", "--under", &under], &[V2], &|| {
        start.elapsed() > Duration::from_secs(1)
    });
    assert_eq!(code, Some(130), "{out}\n{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for cmd in hinted(&out, &err) {
        assert_eq!(cmd[0], "stop", "{out}");
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        ok(&dp_env(&repo.path, &args, &[V2]));
    }
    // Every session is stopped now; none was left running.
    let project = |b| repo.project_of(&session_dir(&repo, b));
    for b in ["one", "two"] {
        assert!(by_project("container", &project(b)).is_empty(), "{b} runs");
    }
    ok(&dp_env(
        &repo.path,
        &["destroy", "--all", "-y", "--under", &under],
        &[V2],
    ));
}

#[test]
fn ctrl_c_stops_destroy_all_with_130_and_the_hinted_command_finishes() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = two_sessions();
    let under = repo.root.to_string_lossy().into_owned();
    let started = repo.root.join("removing");
    let path = slow_worktree_remove(&repo, &started);
    let (code, out, err) = ctrl_c_when(
        &repo,
        &["destroy", "--all", "-y", "--under", &under],
        &[V2, ("PATH", &path)],
        &|| started.exists(),
    );
    assert_eq!(code, Some(130), "{out}\n{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    for cmd in hinted(&out, &err) {
        assert_eq!(cmd[0], "destroy", "{out}");
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        ok(&dp_env(&repo.path, &args, &[V2]));
    }
    for b in ["one", "two"] {
        assert_nothing_left(&repo, b);
    }
}

/// `kill -9` while `create --data-from` copies leaves the source's containers paused (nothing
/// can unpause them then): the source's next `apply` unpauses them and converges, its data and
/// ports untouched.
#[test]
fn apply_unpauses_a_session_a_killed_data_copy_left_paused() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    ok(&dp_env(&repo.path, &["create", "-q", "--in-place"], &[V2]));
    let before = env_vars(&repo.path.join(".env.session"));
    let project = repo.project_of(&repo.path);
    let ids = by_project("container", &project);
    assert!(!ids.is_empty(), "the session runs");
    for id in ids {
        let paused = std::process::Command::new("docker")
            .args(["pause", &id])
            .status()
            .unwrap();
        assert!(paused.success());
    }
    ok(&dp_env(&repo.path, &["apply", "-q"], &[V2]));
    let plan = dp_env(&repo.path, &["plan", "--detailed-exitcode"], &[V2]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    assert_eq!(env_vars(&repo.path.join(".env.session")), before);
    assert!(echo_answers(port(&before, "ECHO_PORT")));
    ok(&dp_env(&repo.path, &["destroy", "-q"], &[V2]));
}
