//! Child processes that can be abandoned: awaited without blocking the runtime (so Ctrl-C is
//! noticed while they run) and killed if the waiting is dropped.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::{Error, Problem, Result, Signal};

/// Kills the child (and its process group, when it leads one) when dropped before it finished.
struct KillOnDrop(Option<Child>, bool);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            if self.1 {
                signal_group(child.id(), libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = vec![];
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Runs `cmd` to completion, capturing its output, yielding to the runtime while it runs.
/// A missing program is [`Problem::NotInstalled`] (`engine`: the engine cannot be reached
/// without it) with `install_hint`.
pub async fn output(
    cmd: &mut Command,
    what: &str,
    engine: bool,
    install_hint: &str,
    trace: &crate::ui::Trace,
) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::from(Problem::NotInstalled {
                program: what.to_string(),
                engine,
            })
            .with_hint(install_hint.to_string())
        } else {
            Error::run("could not run", what, e)
        }
    })?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let mut guard = KillOnDrop(Some(child), false);
    // A signal dev-prism gets while the command runs: a terminal's reaches the command too; one
    // sent to dev-prism alone (`kill PID`, an MCP cancel) is passed on as SIGTERM after a moment,
    // so whoever waits for the command to end (apply, for a Compose that talks to the engine)
    // does not wait for all of its work.
    let mut arrivals = Interrupt::arrivals();
    let mut pass_on_at = None;
    let status = loop {
        let child = guard.0.as_mut().expect("present until finished");
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(Error::run("could not wait for", what, e)),
        }
        if arrivals
            .as_ref()
            .is_some_and(|rx| rx.has_changed().unwrap_or(false))
        {
            arrivals = None;
            pass_on_at = Some(std::time::Instant::now() + Duration::from_millis(300));
        }
        if pass_on_at.is_some_and(|t| std::time::Instant::now() >= t) {
            pass_on_at = None;
            // SAFETY: kill(2) has no memory effects; the child is not reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    guard.0 = None;
    trace.call(&super::describe(cmd), started);
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// SIGINT, SIGTERM and SIGHUP, from the first `install` on: they no longer kill dev-prism, and
/// one received at any moment (even while no code was waiting) stays pending until an
/// [`Interrupt`] reports it, whichever one that is. Once reported it is gone: what runs next (a
/// rollback) is stopped only by another signal.
pub struct Interrupt {
    latch: Option<(Arc<Pending>, Seen)>,
}

type Pending = watch::Sender<Option<Signal>>;
type Seen = watch::Receiver<Option<Signal>>;

/// The pending signal's sender (kept alive by the listening tasks) and a receiver.
static LATCH: Mutex<Option<(Weak<Pending>, Seen)>> = Mutex::new(None);

impl Interrupt {
    /// Starts listening (once per runtime); must be called inside the runtime.
    pub fn install() -> Interrupt {
        let mut latch = LATCH.lock().unwrap_or_else(|e| e.into_inner());
        let live = latch
            .as_ref()
            .and_then(|(tx, rx)| Some((tx.upgrade()?, rx.clone())));
        // None: never installed, or the listening tasks' runtime has ended (unit tests).
        let live = live.or_else(|| {
            let (tx, rx) = listen()?;
            *latch = Some((Arc::downgrade(&tx), rx.clone()));
            Some((tx, rx))
        });
        Interrupt { latch: live }
    }

    /// Tells, without installing anything or reporting a signal, whether one arrives from now
    /// on (`has_changed`); `None` when dev-prism is not listening for signals.
    pub fn arrivals() -> Option<Seen> {
        let latch = LATCH.lock().unwrap_or_else(|e| e.into_inner());
        let (tx, rx) = latch.as_ref()?;
        tx.upgrade()?;
        let mut rx = rx.clone();
        rx.mark_unchanged();
        Some(rx)
    }

    /// Reports the pending signal, if any.
    pub fn take(&mut self) -> Option<Signal> {
        let (tx, rx) = self.latch.as_ref()?;
        let pending = *rx.borrow();
        pending.inspect(|_| {
            tx.send_replace(None);
        })
    }

    /// Makes `signal` pending again, for the next [`Interrupt`] to report: one signal stops
    /// every task of a bulk command, not only the one that noticed it.
    pub fn repost(&self, signal: Signal) {
        if let Some((tx, _)) = self.latch.as_ref() {
            tx.send_replace(Some(signal));
        }
    }

    /// Resolves with a signal, reporting it, once one is pending (never, if none could be
    /// registered).
    pub async fn wait(&mut self) -> Signal {
        if let Some((tx, rx)) = self.latch.as_mut() {
            let pending = rx.wait_for(Option::is_some).await.ok().and_then(|s| *s);
            if let Some(s) = pending {
                tx.send_replace(None);
                return s;
            }
        }
        std::future::pending().await
    }
}

fn listen() -> Option<(Arc<Pending>, Seen)> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(None);
    let tx = Arc::new(tx);
    let mut listening = false;
    for s in Signal::ALL {
        // A signal ignored by whoever started us (`nohup`, a background job) stays ignored.
        if ignored(s.number()) {
            continue;
        }
        let Ok(mut stream) = signal(SignalKind::from_raw(s.number())) else {
            continue;
        };
        listening = true;
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                tx.send_replace(Some(s));
            }
        });
    }
    listening.then_some((tx, rx))
}

/// Whether `signal`'s disposition is "ignore".
fn ignored(signal: i32) -> bool {
    // SAFETY: a null `act` only reads the current disposition into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Whether nobody reads dev-prism's stdout any more: a pipe whose reader closed (`| head -1`)
/// or a terminal that hung up.
pub fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: 1,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd and a zero timeout: poll(2) only fills `revents`.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// The signal dev-prism stops on that ended a child (by it, or by the shell's 128+n exit).
pub fn stopped_by(status: ExitStatus) -> Option<Signal> {
    status
        .signal()
        .or(status.code().map(|c| c - 128))
        .and_then(Signal::from_number)
}

/// The error of an operation stopped by `signal`.
pub fn interrupted(signal: Signal, during: &str) -> Error {
    Error::interrupted(signal, during)
        .with_hint("run `dev-prism plan` to see where the session stands")
}

/// Sends `signal` to the process group `group` (a child started with `process_group(0)`).
pub fn signal_group(group: u32, signal: i32) {
    // SAFETY: kill(2) has no memory effects; a negative pid names a process group.
    unsafe {
        libc::kill(-(group as libc::pid_t), signal);
    }
}

/// Runs `cmd` in its own process group with the streams it was given, yielding to the runtime.
/// A signal dev-prism receives meanwhile is forwarded to the group; after a short wait for the
/// command to end (then SIGKILL), the result is [`interrupted`]. A command that died of a signal
/// dev-prism did not receive is an ordinary exit status.
pub async fn run_forwarding(cmd: &mut Command, what: &str) -> Result<ExitStatus> {
    use std::os::unix::process::CommandExt;
    let mut interrupt = Interrupt::install();
    let child = cmd
        .process_group(0)
        .spawn()
        .map_err(|e| Error::run("could not run", what, e))?;
    let mut guard = KillOnDrop(Some(child), true);
    let group = guard.0.as_ref().map_or(0, Child::id);
    let status = loop {
        let child = guard.0.as_mut().expect("present until finished");
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(Error::run("could not wait for", what, e)),
        }
        tokio::select! {
            signal = interrupt.wait() => {
                signal_group(group, signal.number());
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // What is left of the group is killed as the guard drops.
                return Err(interrupted(signal, what));
            }
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    guard.0 = None;
    // Ctrl-C on a terminal reaches the command's group and ours at once: when the command died
    // of (or exited for) one of our signals, give ours a moment to be noticed.
    if stopped_by(status).is_some() {
        if let Ok(signal) = tokio::time::timeout(Duration::from_millis(300), interrupt.wait()).await
        {
            return Err(interrupted(signal, what));
        }
    }
    Ok(status)
}

/// Runs a setup command with `sh -c` in `dir` with `vars` added to the environment, its
/// output on stderr (stdout is data), as [`run_forwarding`] does.
pub async fn run_shell(
    dir: &std::path::Path,
    command: &str,
    vars: &[(String, String)],
) -> Result<ExitStatus> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr());
    run_forwarding(&mut cmd, &format!("setup `{command}`")).await
}

/// Replaces this process with `program` (no shell) with `vars` added to its environment.
/// Returns only when it could not be started.
pub fn exec(program: &str, args: &[String], vars: &[(String, String)]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    Command::new(program)
        .args(args)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .exec()
}

/// What `program args…` prints on success (a version), trimmed; `None` when it cannot run or
/// fails.
pub fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Starts `exe args…` in `cwd` with stdin closed and stdout/stderr piped, killed when dropped
/// (the MCP server's one command per tool call).
pub fn spawn_piped(
    exe: &std::path::Path,
    args: &[String],
    cwd: Option<&std::path::Path>,
) -> std::io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd.spawn()
}

/// Makes `cmd` start in a session of its own (`setsid`): no terminal, no process group whose
/// signals reach it (the background proxy).
pub fn detach(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Whether process `pid` exists and has not ended (a zombie has ended).
pub fn alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false);
    exists && !zombie
}

/// Sends SIGTERM to process `pid` (one process, never a group).
pub fn terminate(pid: u32) {
    // SAFETY: kill(2) has no memory effects.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}
