//! `dev-prism proxy`: every session's HTTP ports at their own names through one loopback port
//! (see src/proxy/). Without a subcommand it serves in the foreground.

use crate::context::{self, Ctx};
use crate::error::{Error, Result};
use crate::proxy::{self, daemon};
use crate::ui::Ui;

/// Serve every session at its own name (`http://web.feat-x.shop.localhost:7355`): a reverse
/// proxy on 127.0.0.1 and ::1, port 7355 (DEV_PRISM_PROXY_PORT). Without a subcommand it runs
/// in the foreground until Ctrl-C; it ends by itself after 30 minutes with no running session.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Start the proxy in the background (pid and log in the state directory).
    Start,
    /// Say whether a proxy answers on the port, its pid and the names it serves.
    Status,
    /// Stop the background proxy this user's state directory records.
    Stop,
    /// Route `<service>.<project>.<domain>` to the session in DIR (one per project): one
    /// stable URL, e.g. for an OAuth redirect.
    Focus(super::DirArg),
    /// Show where the local CA is and how to make this system trust it (HTTPS).
    Trust,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let port = proxy::port();
    match args.action {
        None => {
            let engine = ctx.engine().await?;
            proxy::server::serve(engine, proxy::server::Options::from_env(), ui).await
        }
        Some(Action::Start) => {
            if let daemon::Probe::Proxy { pid, .. } = daemon::probe(port).await {
                say(
                    ui,
                    &format!("the proxy already runs (pid {pid}) on port {port}"),
                    pid,
                    port,
                );
                return Ok(0);
            }
            if daemon::probe(port).await == daemon::Probe::Other {
                return Err(
                    Error::failure(format!("something else listens on 127.0.0.1:{port}"))
                        .with_hint("stop it, or pick another port with DEV_PRISM_PROXY_PORT"),
                );
            }
            let pid = daemon::start(port).await?;
            say(
                ui,
                &format!(
                    "the proxy runs (pid {pid}) on http://127.0.0.1:{port} and http://[::1]:{port}; log: {}",
                    daemon::log_path(port).display()
                ),
                pid,
                port,
            );
            Ok(0)
        }
        Some(Action::Status) => {
            let probe = daemon::probe(port).await;
            if ui.json {
                let (running, pid, names, endpoint) = match &probe {
                    daemon::Probe::Proxy {
                        pid,
                        names,
                        endpoint,
                    } => (true, Some(*pid), names.clone(), endpoint.clone()),
                    _ => (false, None, vec![], None),
                };
                ui.json_out(&serde_json::json!({
                    "schema": "dev-prism/2", "command": "proxy",
                    "running": running, "pid": pid, "port": port, "names": names,
                    "endpoint": endpoint,
                }));
                return Ok(0);
            }
            match probe {
                daemon::Probe::Proxy {
                    pid,
                    names,
                    endpoint,
                } => {
                    let engine = endpoint.map(|e| format!(" for the engine at {e}"));
                    ui.out(&format!(
                        "running (pid {pid}) on port {port}{}",
                        engine.unwrap_or_default()
                    ));
                    for n in names {
                        ui.out(&format!("  http://{n}:{port}/"));
                    }
                }
                daemon::Probe::Nothing => ui.out(&format!("not running (port {port})")),
                daemon::Probe::Other => ui.out(&format!(
                    "not running: something else listens on 127.0.0.1:{port}"
                )),
            }
            Ok(0)
        }
        Some(Action::Stop) => {
            match daemon::stop(port).await? {
                daemon::Stopped::Stopped(pid) => ui.out(&format!("stopped the proxy (pid {pid})")),
                daemon::Stopped::NotRunning => ui.out(&format!("no proxy runs on port {port}")),
                daemon::Stopped::Stale(pid) => ui.out(&format!(
                    "no proxy runs on port {port} (pid {pid} had ended; its pid file is removed)"
                )),
            }
            Ok(0)
        }
        Some(Action::Focus(dir)) => {
            let dir = context::session_dir(dir.dir.as_deref())?;
            let engine = ctx.engine().await?;
            let containers = engine.session_containers(&dir.to_string_lossy()).await?;
            let Some(host) = containers.iter().find_map(|c| c.label(proxy::routes::HOST)) else {
                return Err(Error::usage(format!(
                    "the session in {} has no proxy name",
                    dir.display()
                ))
                .with_hint("sessions made with `proxy.enabled: false` or before the proxy existed have none; `dev-prism destroy` and `create` give it one"));
            };
            let project = host.split_once('.').map_or(host, |(_, p)| p);
            proxy::focus::set(project, &dir)?;
            let domain = containers
                .iter()
                .find_map(|c| c.label(proxy::routes::DOMAIN))
                .unwrap_or("localhost");
            ui.out(&format!(
                "focused {}: <service>.{project}.{domain}:{port} reaches it",
                dir.display()
            ));
            Ok(0)
        }
        Some(Action::Trust) => {
            proxy::tls::Ca::load_or_make()?;
            ui.out(&trust_text(&proxy::ca_cert_path().to_string_lossy()));
            Ok(0)
        }
    }
}

fn say(ui: &Ui, text: &str, pid: u32, port: u16) {
    if ui.json {
        ui.json_out(&serde_json::json!({
            "schema": "dev-prism/2", "command": "proxy", "running": true, "pid": pid, "port": port,
        }));
    } else {
        ui.out(text);
    }
}

/// How to trust the CA, for the systems the proxy runs on.
fn trust_text(ca: &str) -> String {
    format!(
        "The proxy's local CA: {ca}
Its key stays in the same directory (mode 0600); trust it only on this machine.

Debian, Ubuntu (system store: curl, wget, Python's requests with certifi excluded):
  sudo cp {ca} /usr/local/share/ca-certificates/dev-prism.crt && sudo update-ca-certificates
Fedora, RHEL:
  sudo cp {ca} /etc/pki/ca-trust/source/anchors/dev-prism.pem && sudo update-ca-trust
Chromium, Chrome and Firefox on Linux (NSS; apt: libnss3-tools):
  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n dev-prism -i {ca}
  for d in ~/.mozilla/firefox/*/; do certutil -d sql:$d -A -t C,, -n dev-prism -i {ca}; done
macOS (Safari, Chrome; Firefox uses the system store too when security.enterprise_roots.enabled):
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}
Node.js: NODE_EXTRA_CA_CERTS={ca}
curl, one call: curl --cacert {ca} https://web.SESSION.PROJECT.localhost:{port}/",
        port = proxy::port()
    )
}
