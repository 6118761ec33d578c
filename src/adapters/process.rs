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
    let mut arrivals = arrivals();
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

/// What the signal listeners publish: how many of the signals dev-prism stops on arrived since
/// they started listening, and the last one.
#[derive(Clone, Copy, Debug, Default)]
struct Arrived {
    count: u64,
    last: Option<Signal>,
}

type Source = watch::Sender<Arrived>;

/// The process's signal listeners (SIGINT, SIGTERM and SIGHUP are process-wide: one set per
/// runtime), kept alive by the listening tasks. They only publish; nothing here is taken or
/// handed on: each [`Cancel`] keeps its own account of what it reported.
static LISTENING: Mutex<Weak<Source>> = Mutex::new(Weak::new());

/// A command's cancellation, as a value handed to what it cancels (apply, each task of a bulk
/// command, a forwarded setup command, streaming logs), checked between steps and raced
/// against the steps the engine can abandon.
///
/// Made once by the command ([`Cancel::from_signals`]): from the moment it listens (its first
/// use, or [`Cancel::listen`]), SIGINT, SIGTERM and SIGHUP no longer end dev-prism (one ignored
/// by whoever started it, as under `nohup`, stays ignored), and a signal received at any
/// moment — even while nothing was waiting — cancels. Each holder reports a signal once: what
/// the same holder runs next (create's rollback) is stopped only by another signal. A clone is
/// a holder of its own, so one Ctrl-C reaches every task of a bulk command that holds one.
#[derive(Clone, Debug)]
pub struct Cancel {
    source: Origin,
    /// How many signals of the source this holder has reported.
    seen: u64,
}

#[derive(Clone, Debug)]
enum Origin {
    /// The process's signals, listened to from the first use on.
    Signals(Option<(Arc<Source>, watch::Receiver<Arrived>)>),
    /// A [`Trigger`] (tests) or nothing at all ([`Cancel::never`]); the sender is kept so
    /// that waiting never ends for want of one.
    Manual {
        _sender: Arc<Source>,
        rx: watch::Receiver<Arrived>,
    },
}

/// Cancels the [`Cancel`] it was made with, as a signal would (tests).
#[derive(Clone, Debug)]
pub struct Trigger(Arc<Source>);

impl Trigger {
    /// As if `signal` had arrived.
    pub fn fire(&self, signal: Signal) {
        arrive(&self.0, signal);
    }
}

fn arrive(source: &Source, signal: Signal) {
    source.send_modify(|a| {
        a.count += 1;
        a.last = Some(signal);
    });
}

impl Cancel {
    /// The command's cancellation by the signals dev-prism stops on. It listens from its first
    /// use on (so a command still dies of a signal before it can act on one, as before any
    /// apply), or from [`Cancel::listen`]. Make one per command: every signal the process
    /// received since listening counts for it.
    pub fn from_signals() -> Cancel {
        Cancel {
            source: Origin::Signals(None),
            seen: 0,
        }
    }

    /// A cancellation nothing cancels.
    pub fn never() -> Cancel {
        Cancel::manual().0
    }

    /// A cancellation that only its [`Trigger`] cancels.
    pub fn manual() -> (Cancel, Trigger) {
        let (tx, rx) = watch::channel(Arrived::default());
        let tx = Arc::new(tx);
        let cancel = Cancel {
            source: Origin::Manual {
                _sender: tx.clone(),
                rx,
            },
            seen: 0,
        };
        (cancel, Trigger(tx))
    }

    /// Starts listening now (must be called inside the runtime): from here on, a signal no
    /// longer ends dev-prism and cancels. Idempotent.
    pub fn listen(&mut self) -> &mut Cancel {
        if let Origin::Signals(None) = self.source {
            let mut listening = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
            // None: never listened, or the listening tasks' runtime has ended (unit tests).
            let tx = listening.upgrade().or_else(|| {
                let tx = listen()?;
                *listening = Arc::downgrade(&tx);
                Some(tx)
            });
            if let Some(tx) = tx {
                let rx = tx.subscribe();
                self.source = Origin::Signals(Some((tx, rx)));
            }
        }
        self
    }

    fn arrived(&mut self) -> Option<&mut watch::Receiver<Arrived>> {
        self.listen();
        match &mut self.source {
            Origin::Signals(Some((_, rx))) | Origin::Manual { rx, .. } => Some(rx),
            // No signal could be listened to.
            Origin::Signals(None) => None,
        }
    }

    /// The signal that cancels, reported once to this holder: `None` when none arrived since
    /// its last report.
    pub fn take(&mut self) -> Option<Signal> {
        let seen = self.seen;
        let arrived = *self.arrived()?.borrow();
        if arrived.count <= seen {
            return None;
        }
        self.seen = arrived.count;
        arrived.last
    }

    /// Resolves with the signal that cancels, reporting it, once one arrives that this holder
    /// has not reported (never, if none can).
    pub async fn wait(&mut self) -> Signal {
        loop {
            if let Some(s) = self.take() {
                return s;
            }
            let changed = match self.arrived() {
                Some(rx) => rx.changed().await.is_ok(),
                None => false,
            };
            if !changed {
                return std::future::pending().await;
            }
        }
    }
}

/// Tells, without listening or reporting anything, whether a signal arrives from now on
/// (`has_changed`); `None` when dev-prism is not listening for signals.
fn arrivals() -> Option<watch::Receiver<Arrived>> {
    let listening = LISTENING.lock().unwrap_or_else(|e| e.into_inner());
    let mut rx = listening.upgrade()?.subscribe();
    rx.mark_unchanged();
    Some(rx)
}

fn listen() -> Option<Arc<Source>> {
    use tokio::signal::unix::{signal, SignalKind};
    let tx = Arc::new(watch::channel(Arrived::default()).0);
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
                arrive(&tx, s);
            }
        });
    }
    listening.then_some(tx)
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
/// A signal `cancel` reports meanwhile is forwarded to the group; after a short wait for the
/// command to end (then SIGKILL), the result is [`interrupted`]. A command that died of a signal
/// dev-prism did not receive is an ordinary exit status.
pub async fn run_forwarding(
    cmd: &mut Command,
    what: &str,
    cancel: &mut Cancel,
) -> Result<ExitStatus> {
    use std::os::unix::process::CommandExt;
    let interrupt = cancel;
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
    cancel: &mut Cancel,
) -> Result<ExitStatus> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr());
    run_forwarding(&mut cmd, &format!("setup `{command}`"), cancel).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn each_holder_reports_a_signal_once_and_clones_report_it_too() {
        let (mut cancel, trigger) = Cancel::manual();
        assert_eq!(cancel.take(), None);
        // Arrived while nothing waited: still reported.
        trigger.fire(Signal::Term);
        let mut task = cancel.clone();
        assert_eq!(cancel.take(), Some(Signal::Term));
        assert_eq!(cancel.take(), None, "reported once");
        assert_eq!(task.wait().await, Signal::Term, "a clone reports it too");
        // A second signal: reported again, to each.
        trigger.fire(Signal::Int);
        assert_eq!(cancel.wait().await, Signal::Int);
        assert_eq!(task.take(), Some(Signal::Int));
        let mut never = Cancel::never();
        let waited = tokio::time::timeout(Duration::from_millis(20), never.wait()).await;
        assert!(waited.is_err(), "nothing cancels it");
    }
}
