//! Interruptions on the real engine: create stopped by SIGINT, SIGTERM or SIGHUP after each step
//! of its plan (fault injection) rolls back and exits 128+n; a real signal during `setup` is
//! forwarded to the command and rolls back; `kill -9` after any step leaves only what `destroy`
//! removes; an ignored SIGHUP (`nohup`) stays ignored.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::faults::assert_rolled_back;
use crate::support::*;

/// One tiny service: each create takes about a second.
pub(crate) const ONE: &str = "services:\n  app:\n    image: dev-prism-test-busybox:2\n    command: [\"sleep\", \"1000\"]\n    ports: [\"7000\"]\n    stop_grace_period: 1s\n";

pub(crate) const V2: (&str, &str) = ("DEV_PRISM_COMPOSE", "v2");

fn repo_with_setup(setup: &str) -> Repo {
    let repo = Repo::new(Flavor::V2, ONE);
    repo.write(
        "session.config.json",
        &serde_json::json!({ "setup": [setup] }).to_string(),
    );
    repo.commit("setup");
    repo
}

pub(crate) fn session_dir(repo: &Repo, branch: &str) -> PathBuf {
    repo.sessions_dir().join(branch)
}

/// Asserts that nothing of the session on `branch` is left, volumes included.
#[track_caller]
pub(crate) fn assert_nothing_left(repo: &Repo, branch: &str) {
    assert_rolled_back(repo, branch);
    let project = repo.project_of(&session_dir(repo, branch));
    assert!(by_project("volume", &project).is_empty(), "no volume left");
}

fn create_with_fault(repo: &Repo, branch: &str, fault: &str) -> Output {
    dp_env(
        &repo.path,
        &["create", "--branch", branch],
        &[V2, ("DEV_PRISM_FAULT", fault)],
    )
}

/// Runs `each(n)` for every step index of create's plan: the first `n` whose create succeeds
/// (the fault was never reached) ends the walk, after destroying that session. Returns the
/// number of steps.
fn for_every_step(
    repo: &Repo,
    prefix: &str,
    fault: &str,
    mut each: impl FnMut(usize, &str, &Output),
) -> usize {
    for n in 0..30 {
        let branch = format!("{prefix}-{n}");
        let out = create_with_fault(repo, &branch, &fault.replace("{N}", &n.to_string()));
        if out.status.success() {
            ok(&repo.dp(
                &repo.path,
                &["destroy", &session_dir(repo, &branch).to_string_lossy()],
            ));
            assert_nothing_left(repo, &branch);
            // A worktree, the session file, Compose, readiness, `.env.session`, setup at least.
            assert!(n >= 5, "create's plan has only {n} steps?");
            return n;
        }
        each(n, &branch, &out);
    }
    panic!("create never got past the injected fault");
}

fn signal_matrix(sig: &str, code: i32) {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("true");
    for_every_step(
        &repo,
        &sig.to_lowercase(),
        &format!("signal-after:{{N}}:{sig}"),
        |n, branch, out| {
            let err = stderr(out);
            assert_eq!(
                out.status.code(),
                Some(code),
                "SIG{sig} after step {n}:\n{err}"
            );
            assert!(err.contains(&format!("interrupted by SIG{sig}")), "{err}");
            assert!(
                err.contains("create failed; removing what it created"),
                "{err}"
            );
            assert!(!err.contains("panicked"), "{err}");
            assert_nothing_left(&repo, branch);
        },
    );
}

#[test]
fn create_rolls_back_on_sigint_after_every_step() {
    signal_matrix("INT", 130);
}

#[test]
fn create_rolls_back_on_sigterm_after_every_step() {
    signal_matrix("TERM", 143);
}

#[test]
fn create_rolls_back_on_sighup_after_every_step() {
    signal_matrix("HUP", 129);
}

#[test]
fn create_rolls_back_on_an_injected_failure_after_every_step() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("true");
    for_every_step(&repo, "abort", "abort-after:{N}", |n, branch, out| {
        let err = stderr(out);
        assert_eq!(out.status.code(), Some(1), "abort after step {n}:\n{err}");
        assert!(err.contains("injected fault"), "{err}");
        // A failure at the setup step is a failed setup: the session stays for inspection.
        if err.contains("injected fault (DEV_PRISM_FAULT) after: setup") {
            let dir = session_dir(&repo, branch);
            assert!(dir.join(".env.session").is_file(), "{err}");
            ok(&repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]));
        }
        assert_nothing_left(&repo, branch);
    });
}

/// `nohup dev-prism create`: a SIGHUP ignored by whoever started dev-prism stays ignored.
#[test]
fn an_ignored_sighup_stays_ignored() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("true");
    let out = Command::new("sh")
        .current_dir(&repo.path)
        .envs([V2, ("DEV_PRISM_FAULT", "signal-after:1:HUP")])
        .args(["-c", "trap '' HUP; exec \"$0\" create --branch nohup"])
        .arg(env!("CARGO_BIN_EXE_dev-prism"))
        .output()
        .unwrap();
    ok(&out);
    let dir = session_dir(&repo, "nohup");
    assert!(dir.join(".env.session").is_file());
    ok(&repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]));
    assert_nothing_left(&repo, "nohup");
}

/// `kill -9` after any step: `destroy DIR` removes what is left.
#[test]
fn destroy_cleans_up_after_kill_9_at_every_step() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("true");
    for_every_step(&repo, "kill", "signal-after:{N}:KILL", |n, branch, out| {
        assert_eq!(
            out.status.signal(),
            Some(9),
            "killed after step {n}: {}",
            stderr(out)
        );
        let dir = session_dir(&repo, branch);
        let destroyed = repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]);
        assert!(
            destroyed.status.success(),
            "destroy after kill -9 after step {n}: {}",
            stderr(&destroyed)
        );
        assert_nothing_left(&repo, branch);
    });
}

/// Waits for `child` to end (killing it after `secs`, which only a hang reaches).
pub(crate) fn wait_exit(child: &mut Child, secs: u64) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dev-prism did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The content of `path` once a process wrote it (`child` must still be running).
pub(crate) fn wait_file(path: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(text) = std::fs::read_to_string(path)
            .ok()
            .filter(|t| t.ends_with('\n'))
        {
            return text.trim().to_string();
        }
        if let Some(s) = child.try_wait().unwrap() {
            panic!(
                "dev-prism exited ({s}) before {} was written",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn kill(signal: &str, target: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {target}");
}

pub(crate) fn alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A signal during a long `setup`: forwarded to the command, create rolls back, exit 128+n.
fn signal_during_setup(signal: &str, to_group: bool, code: i32) {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let pid_file = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::remove_file(&pid_file).unwrap();
    let repo = repo_with_setup(&format!(
        "echo $$ > '{}'; exec sleep 30",
        pid_file.display()
    ));
    let branch = format!("during-setup-{}", signal.to_lowercase());
    let mut cmd = dp_command(&repo.path, &["create", "--branch", &branch], &[V2]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if to_group {
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().unwrap();
    let setup_pid = wait_file(&pid_file, &mut child);
    let target = if to_group {
        format!("-{}", child.id())
    } else {
        child.id().to_string()
    };
    kill(signal, &target);
    let status = wait_exit(&mut child, 60);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    let setup_alive = alive(&setup_pid);
    if setup_alive {
        kill("KILL", &setup_pid);
    }
    assert_eq!(status.code(), Some(code), "{err}");
    assert!(
        err.contains(&format!("interrupted by SIG{signal} during: setup")),
        "{err}"
    );
    assert!(!setup_alive, "the setup command was stopped");
    assert_nothing_left(&repo, &branch);
}

#[test]
fn sigterm_during_setup_is_forwarded_and_rolls_back() {
    signal_during_setup("TERM", false, 143);
}

#[test]
fn ctrl_c_to_the_process_group_during_setup_rolls_back() {
    signal_during_setup("INT", true, 130);
}

/// A setup command killed by a signal dev-prism did not receive failed on its own: the session
/// stays for inspection, exit 1.
#[test]
fn setup_killed_by_its_own_signal_is_a_failed_setup() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("kill -TERM $$");
    let out = repo.dp(&repo.path, &["create", "--branch", "own"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failed with signal 15"), "{err}");
    let dir = session_dir(&repo, "own");
    assert!(dir.join(".env.session").is_file(), "session kept");
    ok(&repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]));
    assert_nothing_left(&repo, "own");
}

/// Ctrl-C, or a closed terminal, reaches the whole foreground process group: Compose gets the
/// signal too and may fail first; create still reports the signal and rolls back.
fn signal_to_group_during_compose_up(signal: &str, code: i32) {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("true");
    signal_to_group_during(&repo, "compose up", &|| true, signal, code, &[V2]);
}

/// Runs dev-prism `args` in its own process group and sends `signal` (to the whole group when
/// `group`) once a progress line names `step` and `now()` holds (waiting up to 10 s for it).
/// Returns how it ended and everything it printed on stderr.
fn signal_when(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    step: &str,
    now: &dyn Fn() -> bool,
    signal: &str,
    group: bool,
) -> (ExitStatus, String) {
    let mut child = dp_command(dir, args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(step) {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut hit = now();
            while !hit && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                hit = now();
            }
            assert!(hit, "the moment to send SIG{signal} never came: {seen}");
            let target = if group { "-" } else { "" };
            kill(signal, &format!("{target}{}", child.id()));
            break;
        }
    }
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let status = wait_exit(&mut child, 60);
    (status, format!("{seen}{}", rest.join("\n")))
}

/// Sends `signal` to create's process group once its progress names `step` and `now()` holds;
/// create reports the signal and leaves nothing.
fn signal_to_group_during(
    repo: &Repo,
    step: &str,
    now: &dyn Fn() -> bool,
    signal: &str,
    code: i32,
    env: &[(&str, &str)],
) {
    let branch = format!("group-{}", signal.to_lowercase());
    let (status, err) = signal_when(
        &repo.path,
        &["create", "--branch", &branch],
        env,
        step,
        now,
        signal,
        true,
    );
    assert_eq!(status.code(), Some(code), "{err}");
    assert!(
        err.contains(&format!("interrupted by SIG{signal}")),
        "{err}"
    );
    assert_nothing_left(repo, &branch);
    let branches = repo.git(&["branch", "--list", &branch]);
    assert!(branches.trim().is_empty(), "branch {branch} left");
}

/// Ctrl-C while git makes the worktree: git runs outside the terminal's process group, so it
/// is never stopped half-way (a branch without its worktree, a worktree without dev-prism's
/// marker); the rollback then removes both. A `git` that takes its time after `worktree add`
/// makes the moment certain.
#[test]
fn ctrl_c_to_the_process_group_while_git_makes_the_worktree_rolls_back() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("true");
    let bin = repo.root.join("slow-git");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wrapper = bin.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" worktree add \"*) {real} \"$@\"; rc=$?; sleep 2; exit $rc;; esac\nexec {real} \"$@\"\n",
            real = real.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Once git made the worktree, while the slow `git` still runs.
    let made = session_dir(&repo, "group-int").join(".git");
    signal_to_group_during(
        &repo,
        "worktree",
        &|| made.exists(),
        "INT",
        130,
        &[V2, ("PATH", &path)],
    );
}

/// SIGTERM to dev-prism alone (`kill PID`, an MCP cancel) during `compose up`: Compose is not
/// signalled; create waits for it, so nothing it was still creating (the network) appears after
/// the rollback looked.
#[test]
fn sigterm_to_create_alone_during_compose_up_leaves_no_network() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = repo_with_setup("true");
    // At several moments of `compose up` (before the fix, about one in three left a network).
    for n in 0..8 {
        let branch = format!("alone-{n}");
        let (status, err) = signal_when(
            &repo.path,
            &["create", "--branch", &branch],
            &[V2],
            "compose up",
            &|| {
                std::thread::sleep(Duration::from_millis(10 * (n + 1)));
                true
            },
            "TERM",
            false,
        );
        assert_eq!(status.code(), Some(143), "{err}");
        assert_nothing_left(&repo, &branch);
    }
}

#[test]
fn ctrl_c_to_the_process_group_during_compose_up_rolls_back() {
    signal_to_group_during_compose_up("INT", 130);
}

#[test]
fn sighup_to_the_process_group_during_compose_up_rolls_back() {
    signal_to_group_during_compose_up("HUP", 129);
}

/// `create --no-detach` streams logs until a signal: SIGTERM (or a closed terminal) ends the
/// streaming like Ctrl-C does, leaving the session running.
#[test]
fn sigterm_stops_following_logs_after_create() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    let mut child = dp_command(&repo.path, &["create", "--in-place", "--no-detach"], &[V2])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The session directory comes first on stdout, once the session is ready.
    let mut first = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert_eq!(first.trim(), repo.path.to_string_lossy());
    kill("TERM", &child.id().to_string());
    let status = wait_exit(&mut child, 30);
    let err = stderr(&child.wait_with_output().unwrap());
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("Stopped following logs"), "{err}");
    assert_eq!(containers_under(&repo.root).len(), 1, "still running");
    ok(&repo.dp(&repo.path, &["destroy"]));
}

/// A service that ignores SIGTERM: the engine stops it only when its grace period ends.
pub(crate) const STUBBORN: &str = "services:\n  app:\n    image: dev-prism-test-busybox:2\n    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 1; done\"]\n    stop_grace_period: 3s\n";

/// A stop interrupted while the engine stops a service waits for the engine to finish what it
/// began (a second Ctrl-C would leave it), so a `start` right after is not undone by it.
#[test]
fn an_interrupted_stop_finishes_so_a_start_right_after_holds() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, STUBBORN);
    ok(&dp_env(&repo.path, &["create", "--in-place", "-q"], &[V2]));
    let (status, err) = signal_when(
        &repo.path,
        &["stop"],
        &[V2],
        "stop ",
        &|| {
            std::thread::sleep(Duration::from_millis(300));
            true
        },
        "TERM",
        false,
    );
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("waiting for the engine to finish"), "{err}");
    ok(&dp_env(&repo.path, &["start", "-q"], &[V2]));
    // Past the grace period the interrupted stop began with: the service still runs.
    std::thread::sleep(Duration::from_secs(4));
    let project = repo.project_of(&repo.path);
    // `docker container ls` without `-a`: running containers only.
    let running = by_project("container", &project);
    assert_eq!(
        running.len(),
        1,
        "the service was stopped after start: {err}"
    );
    ok(&dp_env(&repo.path, &["destroy", "-q"], &[V2]));
}
