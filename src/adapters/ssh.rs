//! An ssh engine, reached the way the docker CLI reaches it: `ssh … HOST docker system
//! dial-stdio` tunnels the Engine API over the ssh session's stdio. dev-prism listens on a
//! private unix socket (a 0700 directory of its own) and runs one such ssh per connection, so
//! the API client and both Compose flavours talk to the remote engine through a plain socket
//! (Compose v1 has no ssh support of its own worth relying on). The ssh processes share one
//! connection (`ControlMaster` in the tunnel's directory), so a connection costs one handshake
//! per command, not one per API request. bollard's own `ssh` feature is
//! not used: it hands `host:port` to openssh's resolver as one destination, and starts an ssh
//! master per connection.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::endpoint::SshTarget;
use crate::error::{Error, Result};
use crate::ui::Trace;

/// A listening tunnel; dropping it stops listening, ends its ssh processes and removes its
/// socket directory.
#[derive(Debug)]
pub struct Tunnel {
    dir: PathBuf,
    pub socket: PathBuf,
    last_error: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
    target: SshTarget,
}

impl Tunnel {
    /// Starts listening (must run inside the tokio runtime).
    pub fn start(target: &SshTarget, trace: &Trace) -> Result<Tunnel> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!(
            "dev-prism-ssh-{}-{}",
            std::process::id(),
            crate::util::UtcTime::now().slug()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("cannot create", &dir, e))?;
        let socket = dir.join("docker.sock");
        let listener =
            UnixListener::bind(&socket).map_err(|e| Error::io("cannot listen on", &socket, e))?;
        let last_error = Arc::new(Mutex::new(String::new()));
        let control = dir.join("cm");
        let args = target.dial_args(Some(&control));
        let errors = last_error.clone();
        let trace = trace.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(relay(conn, args.clone(), errors.clone(), trace.clone()));
            }
        });
        Ok(Tunnel {
            dir,
            socket,
            last_error,
            task,
            target: target.clone(),
        })
    }

    /// `unix://…` for the API client and the Compose CLI.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// What the last ssh that failed printed (the cause behind "connection closed").
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
        // The shared ssh connection (ControlMaster) ends with us, not after its idle timeout.
        let control = self.dir.join("cm");
        if control.exists() {
            let _ = std::process::Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", control.display()))
                .args(["-O", "exit", &self.target.host])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One API connection: an ssh running `docker system dial-stdio`, bytes copied both ways.
async fn relay(conn: UnixStream, args: Vec<String>, errors: Arc<Mutex<String>>, trace: Trace) {
    let started = std::time::Instant::now();
    let child = tokio::process::Command::new("ssh")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            if let Ok(mut last) = errors.lock() {
                *last = format!("cannot run ssh: {e}");
            }
            return;
        }
    };
    trace.call(&format!("ssh {}", args.join(" ")), started);
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return;
    };
    let (mut read, mut write) = conn.into_split();
    let upstream = async {
        let _ = tokio::io::copy(&mut read, &mut stdin).await;
        drop(stdin);
    };
    let downstream = async {
        let mut text = String::new();
        let _ = tokio::join!(
            tokio::io::copy(&mut stdout, &mut write),
            stderr.read_to_string(&mut text)
        );
        let status = child.wait().await;
        // Recorded before the client sees the end, so its error can name the cause.
        if !status.is_ok_and(|s| s.success()) && !text.trim().is_empty() {
            if let Ok(mut last) = errors.lock() {
                *last = text.trim().to_string();
            }
        }
        let _ = write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Starts the forwarding ssh (`dev-prism forward`) with `args`: in its own process group,
/// stdout discarded, stderr piped, killed when dropped.
pub fn spawn_forwarding(args: &[String]) -> Result<tokio::process::Child> {
    tokio::process::Command::new("ssh")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::failure(format!("cannot run ssh: {e}"))
                .with_hint("install the OpenSSH client (`ssh`)")
        })
}
