//! The proxy in the background: its pid and log files in the state directory (one pair per
//! port), the detached start, the status probe and the stop.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};

pub fn pid_path(port: u16) -> PathBuf {
    super::state_dir().join(format!("proxy-{port}.pid"))
}

pub fn log_path(port: u16) -> PathBuf {
    super::state_dir().join(format!("proxy-{port}.log"))
}

/// The pid file of the running proxy: written at start, removed at exit while it still names
/// this process.
pub struct PidFile {
    port: u16,
}

impl PidFile {
    pub fn write(port: u16) -> Result<PidFile> {
        super::write_private(
            &pid_path(port),
            format!("{}\n", std::process::id()).as_bytes(),
        )?;
        Ok(PidFile { port })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if recorded_pid(self.port) == Some(std::process::id()) {
            let _ = std::fs::remove_file(pid_path(self.port));
        }
    }
}

/// The pid the state directory records for `port`.
pub fn recorded_pid(port: u16) -> Option<u32> {
    std::fs::read_to_string(pid_path(port))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What answers on the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Nothing,
    /// A dev-prism proxy: its pid, the names it knows and the engine endpoint it serves
    /// (`None` from a proxy too old to say).
    Proxy {
        pid: u32,
        names: Vec<String>,
        endpoint: Option<String>,
    },
    /// Something else holds the port.
    Other,
}

/// Asks 127.0.0.1:`port` for the proxy's status (`Host: _dev-prism`).
pub async fn probe(port: u16) -> Probe {
    probe_at(port, "/").await
}

/// [`probe`] without the names: the proxy answers it without listing the sessions (a proxy of
/// an earlier version answers its whole status).
pub async fn probe_endpoint(port: u16) -> Probe {
    probe_at(port, super::routes::ENDPOINT_PATH).await
}

async fn probe_at(port: u16, path: &str) -> Probe {
    let ask = async {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
            return Probe::Nothing;
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            super::routes::STATUS_HOST
        );
        if s.write_all(req.as_bytes()).await.is_err() {
            return Probe::Other;
        }
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return Probe::Other;
        };
        if !head.starts_with("HTTP/1.1 200") {
            return Probe::Other;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(body.trim()) else {
            return Probe::Other;
        };
        match v["pid"].as_u64() {
            Some(pid) => Probe::Proxy {
                pid: pid as u32,
                names: v["names"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                endpoint: v["endpoint"].as_str().map(String::from),
            },
            None => Probe::Other,
        }
    };
    tokio::time::timeout(Duration::from_secs(3), ask)
        .await
        .unwrap_or(Probe::Other)
}

/// Starts `<this binary> proxy` detached: its own session (no terminal's signals reach it),
/// stdin closed, output to the log file. Returns its pid once it answers on the port.
pub async fn start(port: u16) -> Result<u32> {
    super::ensure_state_dir()?;
    let log = log_path(port);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Error::io("open the proxy's log", &log, e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600));
    }
    let err = file
        .try_clone()
        .map_err(|e| Error::io("open the proxy's log", &log, e))?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure(format!("cannot find this program's path: {e}")))?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("proxy")
        .env("DEV_PRISM_PROXY_PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err);
    crate::adapters::process::detach(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::run("start the proxy", exe.display().to_string(), e))?;
    let pid = child.id();
    // Reaped by whoever adopts it once this process ends; until then, watched for an early exit.
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = said.lines().rev().take(5).collect();
            return Err(Error::failure(format!(
                "the proxy ended at once ({status}): {}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ))
            .with_hint(format!("its log: {}", log.display())));
        }
        if let Probe::Proxy { pid: p, .. } = probe(port).await {
            if p == pid {
                return Ok(pid);
            }
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(Error::failure(format!(
                "the proxy (pid {pid}) did not answer on port {port} within 10 s"
            ))
            .with_hint(format!("its log: {}", log.display())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a stop found.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    Stopped(u32),
    NotRunning,
    /// The pid file was stale: its process is gone.
    Stale(u32),
}

/// Stops the proxy recorded for `port`: only that pid, and only when it is the proxy that
/// answers on the port (asked without the names, so a proxy whose engine went away is known).
pub async fn stop(port: u16) -> Result<Stopped> {
    let Some(pid) = recorded_pid(port) else {
        return match probe_endpoint(port).await {
            Probe::Proxy { pid, .. } => Err(Error::failure(format!(
                "a dev-prism proxy (pid {pid}) answers on port {port}, but {} does not record it",
                pid_path(port).display()
            ))
            .with_hint("it was started with another XDG_STATE_HOME or HOME; stop it from there, or end that pid yourself")),
            _ => Ok(Stopped::NotRunning),
        };
    };
    match probe_endpoint(port).await {
        Probe::Proxy { pid: answering, .. } if answering == pid => {}
        _ if !crate::adapters::process::alive(pid) => {
            let _ = std::fs::remove_file(pid_path(port));
            return Ok(Stopped::Stale(pid));
        }
        _ => {
            return Err(Error::failure(format!(
                "pid {pid} (recorded in {}) is not the dev-prism proxy answering on port {port}; not stopped",
                pid_path(port).display()
            )))
        }
    }
    crate::adapters::process::terminate(pid);
    let started = Instant::now();
    while crate::adapters::process::alive(pid) && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if recorded_pid(port) == Some(pid) {
        let _ = std::fs::remove_file(pid_path(port));
    }
    Ok(Stopped::Stopped(pid))
}
