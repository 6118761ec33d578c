//! `dev-prism forward [DIR]`: a session on a remote ssh engine publishes its ports on that
//! host's loopback (the default `bindAddress`); one `ssh -N -L …` forwards each of them to the
//! same port on 127.0.0.1 here, where `SESSION_HOST` and the URLs already point.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::adapters::endpoint::{SshTarget, Transport};
use crate::adapters::process::{signal_group, Cancel};
use crate::context::{self, Ctx};
use crate::desired::address::Address;
use crate::error::{Error, Result};
use crate::observed::EngineHost;
use crate::ui::Ui;

/// How long ssh may take to connect and set up every forward.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Forward the published ports of a session on a remote ssh engine to the same ports on
/// 127.0.0.1 here, over ssh. Runs in the foreground; Ctrl-C (or SIGTERM/SIGHUP) ends it.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui, cancel: &mut Cancel) -> Result<i32> {
    // From the first moment: a signal while ssh connects ends the command cleanly too.
    let interrupt = cancel.listen();
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let ep = ctx.endpoint()?;
    let target = match (ep.transport(), SshTarget::parse(&ep.host)) {
        (Transport::Ssh, Some(t)) => t,
        _ if ep.is_local() => {
            ui.out(&format!(
                "nothing to forward: the engine ({}) runs on this machine, so the session's ports are here already",
                ep.host
            ));
            return Ok(0);
        }
        (transport, _) => {
            return Err(Error::usage(format!(
                "forward needs an ssh engine; {} ({}) is reached over {}",
                ep.host,
                ep.source,
                transport.label()
            ))
            .with_hint("point DOCKER_HOST (or a docker context) at ssh://user@host for the same engine, or set bindAddress: 0.0.0.0 to publish the ports on the engine host"));
        }
    };
    let containers = super::env::running(ctx, &dir).await?;
    let rows = remote_rows(&containers);
    let mut forwards = vec![];
    let mut lines = vec![];
    for (var, remote) in &rows {
        if remote.protocol != "tcp" {
            ui.warn(&format!(
                "{var}: {} is not forwarded (ssh forwards TCP only)",
                remote.display()
            ));
            continue;
        }
        let local = Address {
            host: "127.0.0.1".into(),
            ..remote.clone()
        };
        free_here(remote.port)?;
        forwards.push((remote.port, remote.host.clone()));
        lines.push(format!(
            "  {var:<20} {}  (forwarded from {}:{} on {})",
            local.display(),
            crate::desired::address::url_host(&remote.host),
            remote.port,
            target.host
        ));
    }
    if forwards.is_empty() {
        ui.out("nothing to forward: the session publishes no TCP ports");
        return Ok(0);
    }
    let mut ssh = spawn(&target, &forwards, ui)?;
    let last = ssh.last.clone();
    let ended = |status: std::io::Result<std::process::ExitStatus>| {
        let said = last.lock().map(|l| l.clone()).unwrap_or_default();
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        Error::failure(format!("ssh to {} ended ({status}): {said}", target.host))
            .with_hint("check that `ssh` reaches the engine host, and that the ports are free here; then run `dev-prism forward` again")
    };
    // Ready once every forwarded port accepts a connection here.
    let started = Instant::now();
    let mut waiting: Vec<u16> = forwards.iter().map(|(p, _)| *p).collect();
    while !waiting.is_empty() {
        if started.elapsed() > READY_TIMEOUT {
            ssh.stop().await;
            return Err(Error::failure(format!(
                "ssh to {} did not set up the forwards within {} s",
                target.host,
                READY_TIMEOUT.as_secs()
            ))
            .with_hint(
                "check that `ssh` reaches the engine host, then run `dev-prism forward` again",
            ));
        }
        tokio::select! {
            signal = interrupt.wait() => {
                ssh.stop().await;
                return Ok(128 + signal.number());
            }
            status = ssh.child.wait() => return Err(ended(status)),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let mut still = vec![];
        for port in waiting {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                still.push(port);
            }
        }
        waiting = still;
    }
    for line in &lines {
        ui.out(line);
    }
    ui.status("forwarding; Ctrl-C ends it");
    tokio::select! {
        signal = interrupt.wait() => {
            ssh.stop().await;
            ui.status(&format!("forwarding ended ({})", signal.name()));
            Ok(128 + signal.number())
        }
        status = ssh.child.wait() => Err(ended(status)),
    }
}

/// Each published port with its address as the engine host itself sees it (the ssh side of
/// the forward), labelled with its `.env.session` variable.
fn remote_rows(containers: &[crate::observed::Container]) -> Vec<(String, Address)> {
    let mut there = containers.to_vec();
    for c in &mut there {
        c.engine_host = EngineHost::Local;
    }
    crate::render::published(&there, crate::proxy::port())
        .into_iter()
        .map(|r| (r.var, r.address))
        .collect()
}

/// Fails when something here already listens on 127.0.0.1:`port` (ssh could not forward it).
fn free_here(port: u16) -> Result<()> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|e| {
            Error::failure(format!("cannot forward port {port}: 127.0.0.1:{port} here: {e}"))
                .with_hint("stop what listens on it (another `dev-prism forward`?), then run `dev-prism forward` again")
        })
}

/// The forwarding ssh: in its own process group (a terminal's Ctrl-C reaches dev-prism, which
/// ends it), its stderr passed on and its last line kept.
struct Ssh {
    child: Child,
    last: Arc<Mutex<String>>,
}

fn spawn(target: &SshTarget, forwards: &[(u16, String)], ui: &Ui) -> Result<Ssh> {
    let args = target.forward_args(forwards);
    let started = Instant::now();
    let mut child = crate::adapters::ssh::spawn_forwarding(&args)?;
    ui.trace().call(&format!("ssh {}", args.join(" ")), started);
    let last = Arc::new(Mutex::new(String::new()));
    if let Some(stderr) = child.stderr.take() {
        let last = last.clone();
        let ui = ui.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                ui.warn(&format!("ssh: {line}"));
                if let Ok(mut l) = last.lock() {
                    *l = line;
                }
            }
        });
    }
    Ok(Ssh { child, last })
}

impl Ssh {
    /// Ends ssh: SIGTERM, then SIGKILL after a short wait; reaped either way.
    async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            signal_group(pid, libc::SIGTERM);
        }
        let ended = tokio::time::timeout(Duration::from_secs(3), self.child.wait()).await;
        if ended.is_err() {
            let _ = self.child.kill().await;
        }
    }
}
