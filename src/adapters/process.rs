//! Child processes that can be abandoned: awaited without blocking the runtime (so Ctrl-C is
//! noticed while they run) and killed if the waiting is dropped.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::error::{Error, Kind, Result};

/// Kills the child when dropped before it finished.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
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
/// A missing program is an error of `missing_kind` with `install_hint`.
pub async fn output(
    cmd: &mut Command,
    what: &str,
    missing_kind: Kind,
    install_hint: &str,
) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(
                missing_kind,
                format!("{what} is not installed (or not on PATH)"),
            )
            .with_hint(install_hint.to_string())
        } else {
            Error::failure(format!("could not run {what}: {e}"))
        }
    })?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let mut guard = KillOnDrop(Some(child));
    let status = loop {
        let child = guard.0.as_mut().expect("present until finished");
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => return Err(Error::failure(format!("could not wait for {what}: {e}"))),
        }
    };
    guard.0 = None;
    crate::ui::debug_call(&super::describe(cmd), started);
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// SIGINT/SIGTERM, noticed from the moment this is created (they no longer kill the process).
pub struct Interrupt {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    pub fn install() -> Interrupt {
        use tokio::signal::unix::{signal, SignalKind};
        Interrupt {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves when a signal arrives (never, if none could be registered).
    pub async fn wait(&mut self) {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.int) => {}
            _ = recv(&mut self.term) => {}
        }
    }
}
