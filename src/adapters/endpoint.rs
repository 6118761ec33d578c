//! Which Docker engine to talk to: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` /
//! `DOCKER_CERT_PATH` for TLS), else the docker CLI's current context (`DOCKER_CONTEXT` or
//! `currentContext` in its config, with the context's TLS material), else the Docker socket
//! when it opens, else Podman's sockets (the user's, then the system's).
//! bollard honours only `DOCKER_HOST`, so contexts are resolved here and the same endpoint is
//! handed to the Compose CLI.
//! (About 400 lines: DOCKER_HOST, contexts and TLS material are one resolution.)

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::observed::EngineHost;

pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// The engine endpoint and where that choice came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path`, `tcp://host:port`, `http://…` or `ssh://[user@]host[:port]`.
    pub host: String,
    /// "DOCKER_HOST", "context NAME" or "default".
    pub source: String,
    /// TLS material for a `tcp://` endpoint.
    pub tls: Option<Tls>,
}

/// Client certificate, key and CA of a TLS endpoint (the docker CLI's `ca.pem`, `cert.pem`,
/// `key.pem` in one directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    pub dir: PathBuf,
    /// `false`: `DOCKER_TLS` without `DOCKER_TLS_VERIFY`, or a context with `SkipTLSVerify`.
    pub verify: bool,
}

impl Tls {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// How dev-prism reaches the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
    Tls,
    Ssh,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Transport::Unix => "unix socket",
            Transport::Tcp => "tcp (plain)",
            Transport::Tls => "tcp with TLS",
            Transport::Ssh => "ssh (docker system dial-stdio)",
        }
    }
}

/// `ssh://[user@]host[:port]`, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    pub fn parse(url: &str) -> Option<SshTarget> {
        let rest = url.strip_prefix("ssh://")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()).filter(|u| !u.is_empty()), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        (!host.is_empty()).then_some(SshTarget { user, host, port })
    }

    /// `ssh` arguments that run `docker system dial-stdio` on the host (the docker CLI's own
    /// route to an ssh engine); the user's `~/.ssh/config` applies as for any ssh.
    /// `control`: a socket path for sharing one connection (`ControlMaster`).
    pub fn dial_args(&self, control: Option<&Path>) -> Vec<String> {
        let mut args = self.args(control);
        args.extend(["docker", "system", "dial-stdio"].map(String::from));
        args
    }

    /// `ssh` arguments that forward each `(port, remote address)` from 127.0.0.1:PORT here to
    /// ADDRESS:PORT on the host, and run nothing (`-N`); ssh exits when a forward cannot be set
    /// up (the local port is taken).
    pub fn forward_args(&self, forwards: &[(u16, String)]) -> Vec<String> {
        let mut args: Vec<String> = ["-N", "-o", "ExitOnForwardFailure=yes"]
            .map(String::from)
            .to_vec();
        for (port, to) in forwards {
            let to = if to.contains(':') {
                format!("[{to}]")
            } else {
                to.clone()
            };
            args.extend(["-L".into(), format!("127.0.0.1:{port}:{to}:{port}")]);
        }
        args.extend(self.args(None));
        args
    }

    /// The host name ssh connects to (`ssh -G`), when ssh can say.
    pub fn resolved_host(&self) -> Option<String> {
        let mut args = self.args(None);
        args.insert(0, "-G".into());
        let out = std::process::Command::new("ssh")
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("hostname "))
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
    }

    /// Options, user, port, `--` and the host: every ssh dev-prism runs starts so.
    fn args(&self, control: Option<&Path>) -> Vec<String> {
        let mut args: Vec<String> = ["-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
            .map(String::from)
            .to_vec();
        if let Some(c) = control {
            args.extend([
                "-o".into(),
                "ControlMaster=auto".into(),
                "-o".into(),
                format!("ControlPath={}", c.display()),
                "-o".into(),
                "ControlPersist=30".into(),
            ]);
        }
        if let Some(u) = &self.user {
            args.extend(["-l".into(), u.clone()]);
        }
        if let Some(p) = self.port {
            args.extend(["-p".into(), p.to_string()]);
        }
        args.extend(["--".into(), self.host.clone()]);
        args
    }
}

impl Endpoint {
    pub fn transport(&self) -> Transport {
        let h = self.host.as_str();
        if h.starts_with("ssh://") {
            Transport::Ssh
        } else if h.starts_with("unix://") || h.starts_with('/') {
            Transport::Unix
        } else if self.tls.is_some() || h.starts_with("https://") {
            Transport::Tls
        } else {
            Transport::Tcp
        }
    }

    /// The host name (or address) of a network endpoint; `None` for a socket.
    pub fn remote_host(&self) -> Option<String> {
        let h = self.host.as_str();
        if let Some(t) = SshTarget::parse(h) {
            return Some(t.host);
        }
        let rest = ["tcp://", "http://", "https://"]
            .iter()
            .find_map(|p| h.strip_prefix(p))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        Some(host.to_string())
    }

    /// Whether the engine runs on this machine (a socket, or a loopback address): then its
    /// networks share the host's routing table and its published ports are this machine's.
    pub fn is_local(&self) -> bool {
        match self.remote_host() {
            None => true,
            Some(h) => h == "localhost" || h.starts_with("127.") || h == "::1",
        }
    }

    /// Where the engine's published ports are, seen from this machine: its host for a remote
    /// engine. An ssh host is resolved the way ssh resolves it (`ssh -G`: a `Host` alias of
    /// `~/.ssh/config` becomes its `HostName`), since a browser knows no ssh aliases.
    pub fn ports_host(&self) -> EngineHost {
        if self.is_local() {
            return EngineHost::Local;
        }
        let Some(host) = self.remote_host() else {
            return EngineHost::Local;
        };
        let resolved = SshTarget::parse(&self.host)
            .and_then(|t| t.resolved_host())
            .unwrap_or(host);
        if resolved == "localhost" || resolved.starts_with("127.") || resolved == "::1" {
            EngineHost::Local
        } else {
            EngineHost::Remote(resolved)
        }
    }

    /// The environment the docker and Compose CLIs need to reach this endpoint (the endpoint
    /// is resolved already, so no context may override it).
    pub fn cli_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("DOCKER_HOST".to_string(), self.host.clone())];
        if let Some(tls) = &self.tls {
            env.push((
                "DOCKER_CERT_PATH".into(),
                tls.dir.to_string_lossy().into_owned(),
            ));
            env.push(("DOCKER_TLS".into(), "1".into()));
            if tls.verify {
                env.push(("DOCKER_TLS_VERIFY".into(), "1".into()));
            }
        }
        env
    }
}

fn docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Resolves the endpoint from the environment and the docker CLI's files.
pub fn resolve() -> Result<Endpoint> {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            let verify = env_set("DOCKER_TLS_VERIFY");
            let wants_tls = verify || env_set("DOCKER_TLS");
            let tls = (wants_tls && !host.starts_with("unix://") && !host.starts_with("ssh://"))
                .then(|| Tls {
                    dir: std::env::var_os("DOCKER_CERT_PATH")
                        .filter(|d| !d.is_empty())
                        .map(PathBuf::from)
                        .or_else(docker_config_dir)
                        .unwrap_or_default(),
                    verify,
                });
            return Ok(Endpoint {
                host,
                source: "DOCKER_HOST".into(),
                tls,
            });
        }
    }
    let config_dir = docker_config_dir();
    let context = std::env::var("DOCKER_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let text = std::fs::read_to_string(config_dir.as_ref()?.join("config.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v.get("currentContext")?.as_str().map(str::to_string)
        });
    match context {
        None => Ok(default()),
        Some(name) if name == "default" => Ok(default()),
        Some(name) => config_dir
            .and_then(|d| of_context(&d.join("contexts"), &name))
            .ok_or_else(|| {
                Error::usage(format!("docker context `{name}` was not found"))
                    .with_hint("run `docker context ls`, or unset DOCKER_CONTEXT")
            }),
    }
}

/// No `DOCKER_HOST` and no context: the Docker socket when it opens, else the first Podman
/// socket that opens (the user's rootless one, then the system's), else the Docker socket
/// (whose error then says why).
fn default() -> Endpoint {
    let docker = DEFAULT_SOCKET.trim_start_matches("unix://");
    let mut candidates = vec![(PathBuf::from(docker), "default")];
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        candidates.push((
            PathBuf::from(runtime).join("podman/podman.sock"),
            "Podman socket of this user",
        ));
    }
    candidates.push((PathBuf::from(PODMAN_SYSTEM_SOCKET), "Podman system socket"));
    first_that_opens(&candidates)
}

pub const PODMAN_SYSTEM_SOCKET: &str = "/run/podman/podman.sock";

/// The first socket something listens on; the first candidate when none does.
fn first_that_opens(candidates: &[(PathBuf, &str)]) -> Endpoint {
    let chosen = candidates
        .iter()
        .find(|(path, _)| std::os::unix::net::UnixStream::connect(path).is_ok())
        .unwrap_or(&candidates[0]);
    Endpoint {
        host: format!("unix://{}", chosen.0.display()),
        source: chosen.1.to_string(),
        tls: None,
    }
}

/// Whether the engine at the unix socket `host` is Podman (`/_ping` answers with a
/// `Libpod-Api-Version` header). Synchronous and bounded (2 s): for choosing a Compose CLI.
pub fn answers_as_podman(host: &str) -> bool {
    use std::io::{Read, Write};
    let Some(path) = host
        .strip_prefix("unix://")
        .or_else(|| host.starts_with('/').then_some(host))
    else {
        return false;
    };
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(path) else {
        return false;
    };
    let limit = Some(std::time::Duration::from_secs(2));
    if s.set_read_timeout(limit).is_err()
        || s.set_write_timeout(limit).is_err()
        || s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.len() < 16 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("libpod-api-version") && !v.trim().is_empty()
        })
    })
}

/// Whether `podman` is on `PATH` (a Podman whose API service is not running gets a hint that
/// starts it). Looks at the directories only: no process.
pub fn podman_installed() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join("podman"))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Context metadata lives in `contexts/meta/<digest>/meta.json` and its TLS material in
/// `contexts/tls/<digest>/docker/{ca,cert,key}.pem`; scanning avoids hashing the name.
fn of_context(contexts: &Path, name: &str) -> Option<Endpoint> {
    for entry in std::fs::read_dir(contexts.join("meta")).ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if v.get("Name").and_then(|n| n.as_str()) != Some(name) {
            continue;
        }
        let docker = v.pointer("/Endpoints/docker")?;
        let host = docker.get("Host")?.as_str()?.to_string();
        let tls_dir = contexts.join("tls").join(entry.file_name()).join("docker");
        let skip = docker.get("SkipTLSVerify").and_then(|s| s.as_bool()) == Some(true);
        let tls = (tls_dir.join("ca.pem").is_file() || tls_dir.join("cert.pem").is_file())
            .then_some(Tls {
                dir: tls_dir,
                verify: !skip,
            });
        return Some(Endpoint {
            host,
            source: format!("context {name}"),
            tls,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_is_told_by_its_ping() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        for (answer, podman) in [
            (
                "HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 4.3.1\r\n\r\nOK",
                true,
            ),
            (
                "HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nOstype: linux\r\n\r\nOK",
                false,
            ),
        ] {
            let path = dir.path().join(format!("{podman}.sock"));
            let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
            let server = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf);
                s.write_all(answer.as_bytes()).unwrap();
            });
            assert_eq!(
                answers_as_podman(&format!("unix://{}", path.display())),
                podman
            );
            server.join().unwrap();
        }
        assert!(!answers_as_podman("unix:///nonexistent/podman.sock"));
        assert!(!answers_as_podman("tcp://127.0.0.1:2375"));
    }

    #[test]
    fn the_first_socket_that_opens_wins() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("docker.sock");
        let user = dir.path().join("user-podman.sock");
        let system = dir.path().join("system-podman.sock");
        let candidates = [
            (docker.clone(), "default"),
            (user.clone(), "Podman socket of this user"),
            (system.clone(), "Podman system socket"),
        ];
        // Nothing listens: the Docker socket, whose error says why.
        assert_eq!(first_that_opens(&candidates).source, "default");
        // A file at the Docker socket's path that is no socket does not open.
        std::fs::write(&docker, "").unwrap();
        let _system = std::os::unix::net::UnixListener::bind(&system).unwrap();
        let e = first_that_opens(&candidates);
        assert_eq!(e.source, "Podman system socket");
        assert_eq!(e.host, format!("unix://{}", system.display()));
        let _user = std::os::unix::net::UnixListener::bind(&user).unwrap();
        assert_eq!(
            first_that_opens(&candidates).source,
            "Podman socket of this user"
        );
        std::fs::remove_file(&docker).unwrap();
        let _docker = std::os::unix::net::UnixListener::bind(&docker).unwrap();
        assert_eq!(first_that_opens(&candidates).source, "default");
    }

    #[test]
    fn ssh_targets_keep_user_and_port() {
        let t = SshTarget::parse("ssh://deploy@build-box:2222").unwrap();
        assert_eq!(t.user.as_deref(), Some("deploy"));
        assert_eq!(t.host, "build-box");
        assert_eq!(t.port, Some(2222));
        let args = t.dial_args(None).join(" ");
        assert!(args.contains("-l deploy -p 2222 -- build-box docker system dial-stdio"));
        let fwd = t
            .forward_args(&[(32768, "127.0.0.1".into()), (32769, "::1".into())])
            .join(" ");
        assert!(fwd.starts_with("-N -o ExitOnForwardFailure=yes -L 127.0.0.1:32768:127.0.0.1:32768 -L 127.0.0.1:32769:[::1]:32769 -T"), "{fwd}");
        assert!(fwd.ends_with("-l deploy -p 2222 -- build-box"), "{fwd}");
        let bare = SshTarget::parse("ssh://box").unwrap();
        assert_eq!((bare.user, bare.port), (None, None));
        assert_eq!(SshTarget::parse("ssh://[::1]:22").unwrap().host, "::1");
        assert!(SshTarget::parse("ssh://box:notaport").is_none());
        assert!(SshTarget::parse("tcp://box:2376").is_none());
    }

    #[test]
    fn transports_and_locality() {
        let ep = |host: &str, tls: bool| Endpoint {
            host: host.into(),
            source: "test".into(),
            tls: tls.then(|| Tls {
                dir: "/c".into(),
                verify: true,
            }),
        };
        assert_eq!(ep(DEFAULT_SOCKET, false).transport(), Transport::Unix);
        assert!(ep(DEFAULT_SOCKET, false).is_local());
        assert_eq!(ep("tcp://10.0.0.5:2376", true).transport(), Transport::Tls);
        assert_eq!(
            ep("tcp://10.0.0.5:2376", true).remote_host().as_deref(),
            Some("10.0.0.5")
        );
        assert!(!ep("tcp://10.0.0.5:2376", true).is_local());
        assert!(ep("tcp://127.0.0.1:2376", false).is_local());
        assert_eq!(ep("ssh://u@box:2222", false).transport(), Transport::Ssh);
        assert!(!ep("ssh://u@box:2222", false).is_local());
        let env = ep("tcp://h:2376", true).cli_env();
        assert!(env.contains(&("DOCKER_TLS_VERIFY".into(), "1".into())));
        assert!(env.contains(&("DOCKER_CERT_PATH".into(), "/c".into())));
    }

    #[test]
    fn contexts_bring_their_tls_material() {
        let tmp = tempfile::tempdir().unwrap();
        let c = tmp.path();
        std::fs::create_dir_all(c.join("meta/abc")).unwrap();
        std::fs::write(
            c.join("meta/abc/meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://box:2376","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(c.join("tls/abc/docker")).unwrap();
        std::fs::write(c.join("tls/abc/docker/ca.pem"), "x").unwrap();
        let ep = of_context(c, "remote").unwrap();
        assert_eq!(ep.host, "tcp://box:2376");
        assert_eq!(ep.source, "context remote");
        let tls = ep.tls.unwrap();
        assert!(tls.verify);
        assert_eq!(tls.dir, c.join("tls/abc/docker"));
        assert!(of_context(c, "other").is_none());
    }
}
