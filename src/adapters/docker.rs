//! The Docker Engine API, through bollard. One list call observes a session.
//! (Over 400 lines: every Engine API call dev-prism makes, each with its error mapping.)

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, ListNetworksOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveImageOptions, RemoveVolumeOptions, StopContainerOptions,
};
use bollard::Docker;

use std::sync::Arc;

mod data;
mod df;
mod libpod;
mod volume_copy;

pub use data::FoundSource;
pub use df::DiskUsage;

use super::endpoint::Endpoint;
use super::ssh::Tunnel;
use crate::compose::labels;
use crate::error::{chain, Error, Problem, Result};
use crate::observed::{container_from_summary, Container, EngineHost};
use crate::ui::Trace;

/// How long connecting may take before the engine counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Per-request timeout (bollard's default is 120 s). Stopping waits for each container's own
/// stop timeout (Compose's `stop_grace_period`, 10 s by default).
const REQUEST_TIMEOUT_SECS: u64 = 30;
/// Stopping lasts as long as the longest `stop_grace_period` (the engine then kills).
const STOP_REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// Which engine answers, from `/_ping`'s headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    /// Podman's Docker-compatible API, with Podman's own version.
    Podman {
        version: String,
    },
}

impl EngineKind {
    pub fn label(&self) -> String {
        match self {
            EngineKind::Docker => "Docker".into(),
            EngineKind::Podman { version } => format!("Podman {version}"),
        }
    }
}

/// What `/info` says of the engine's isolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineSecurity {
    pub rootless: bool,
    pub cgroup_v1: bool,
}

/// The path prefix of Podman's own API (any 4.x answers it).
const PODMAN_API: &str = "v4.0.0";

/// Podman's health words.
fn podman_health_of(status: &str) -> Option<crate::observed::Health> {
    use crate::observed::Health;
    match status {
        "healthy" => Some(Health::Healthy),
        "unhealthy" => Some(Health::Unhealthy),
        "starting" => Some(Health::Starting),
        _ => None,
    }
}

/// Rootless and cgroup v1 from an `/info` answer (Docker's or Podman's).
fn security_of(info: &serde_json::Value) -> EngineSecurity {
    let named_rootless = info["SecurityOptions"].as_array().is_some_and(|options| {
        options
            .iter()
            .filter_map(|o| o.as_str())
            .any(|o| o.split(',').any(|kv| kv == "name=rootless"))
    });
    EngineSecurity {
        rootless: info["Rootless"].as_bool() == Some(true) || named_rootless,
        cgroup_v1: info["CgroupVersion"].as_str() == Some("1"),
    }
}

/// A connected engine.
#[derive(Clone)]
pub struct DockerEngine {
    client: Docker,
    pub endpoint: Endpoint,
    pub api_version: String,
    /// Docker or Podman (from `/_ping`'s headers; Docker where no socket was pinged).
    pub kind: EngineKind,
    /// Where its published ports are, seen from this machine.
    pub host: EngineHost,
    /// The address dialled (`unix:///…`, `tcp://…`; an ssh endpoint's forwarded socket).
    dial: String,
    /// Kept alive as long as the connection is used.
    _tunnel: Option<Arc<Tunnel>>,
    /// Logs each API call with `--verbose`.
    trace: Trace,
    /// Paces removals across the tasks sharing this connection ([`REMOVALS_AT_ONCE`]).
    removals: Arc<tokio::sync::Semaphore>,
    /// When dev-prism last ran each Podman container's healthcheck (readiness waits).
    /// (when last run or first seen, interval)
    #[allow(clippy::type_complexity)]
    checked: Arc<std::sync::Mutex<HashMap<String, (std::time::Instant, Duration)>>>,
}

fn unreachable(endpoint: &Endpoint, cause: &str) -> Error {
    let lower = cause.to_lowercase();
    let nothing_listens =
        lower.contains("no such file") || lower.contains("not found") || lower.contains("refused");
    let hint = if nothing_listens
        && endpoint.source == "default"
        && super::endpoint::podman_installed()
    {
        "Podman is installed but its API service is not running: `systemctl --user enable --now podman.socket` (rootless; `sudo systemctl enable --now podman.socket` for rootful), or `podman system service --time=0 &`"
    } else if lower.contains("permission denied") {
        "your user may not access the socket: add it to the `docker` group, or run with sudo"
    } else if lower.contains("no such file")
        || lower.contains("socket not found")
        || lower.contains("not found")
    {
        "is the Docker engine running? Start Docker Desktop or `dockerd`, or set DOCKER_HOST"
    } else if lower.contains("ssh says") {
        "check that `ssh HOST docker version` works from this machine (keys, host key, the docker CLI on the remote)"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("cert") {
        "check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) and that the certificate names the host"
    } else if lower.contains("refused") {
        "nothing listens there: start the engine, or point DOCKER_HOST / the docker context elsewhere"
    } else {
        "check that the engine is running and that DOCKER_HOST / the docker context point to it"
    };
    Error::from(Problem::Unreachable {
        endpoint: format!("{} ({})", endpoint.host, endpoint.source),
        cause: cause.to_string(),
    })
    .with_hint(hint)
}

/// An Engine API error as ours. A connection that fails is an engine that cannot be reached;
/// a request that times out reached an engine too busy to answer in time (measured: removing
/// 200 sessions at once queued requests past the timeout) — said so, never "cannot reach".
fn api_error(endpoint: &Endpoint, what: &str, e: bollard::errors::Error) -> Error {
    match e {
        bollard::errors::Error::RequestTimeoutError => Error::from(Problem::Engine {
            operation: format!(
                "{what} in time (no answer within {REQUEST_TIMEOUT_SECS} s: the engine is reachable but busy)"
            ),
            source: e,
        })
        .with_hint("run the command again once the engine is less busy: what is done stays done"),
        bollard::errors::Error::HyperLegacyError { .. } | bollard::errors::Error::IOError { .. } => {
            unreachable(endpoint, &format!("could not {what}: {}", chain(&e)))
        }
        e => Error::from(Problem::Engine {
            operation: what.to_string(),
            source: e,
        }),
    }
}

/// How many sessions' objects are removed at once: the engine removes networks one at a time,
/// and requests queued behind them time out (measured: 93 of 200 sessions failed when all were
/// removed at once).
const REMOVALS_AT_ONCE: usize = 4;

/// `label=com.docker.compose.project=<project>`.
fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{}={project}", labels::PROJECT)],
    )])
}

impl DockerEngine {
    /// Connects and negotiates the API version, failing within about two seconds. An ssh
    /// endpoint is reached through `tunnel` (see [`super::ssh`]).
    pub async fn connect(
        endpoint: Endpoint,
        tunnel: Option<Arc<Tunnel>>,
        trace: &Trace,
    ) -> Result<DockerEngine> {
        let host = match &tunnel {
            Some(t) => t.docker_host(),
            None => endpoint.host.clone(),
        };
        let client = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        } else if let Some(tls) = &endpoint.tls {
            if !tls.verify {
                return Err(Error::usage(format!(
                    "the TLS endpoint {host} ({}) is set not to verify the engine's certificate; dev-prism only connects with verification",
                    endpoint.source
                ))
                .with_hint("set DOCKER_TLS_VERIFY=1 with ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (or a context with its CA)"));
            }
            Docker::connect_with_ssl(
                &host,
                &tls.file("key.pem"),
                &tls.file("cert.pem"),
                &tls.file("ca.pem"),
                REQUEST_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            )
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with('/') {
            Docker::connect_with_unix(&host, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(Error::usage(format!(
                "Docker endpoint `{host}` ({}) is not supported",
                endpoint.source
            ))
            .with_hint("use unix:///path/to/docker.sock, tcp://host:port (TLS with DOCKER_TLS_VERIFY) or ssh://user@host[:port]"));
        }
        .map_err(|e| unreachable(&endpoint, &chain(&e)))?;
        let started = std::time::Instant::now();
        // An ssh connection is a process and a handshake: allow it more than a socket.
        let connect_timeout = if tunnel.is_some() {
            SSH_CONNECT_TIMEOUT
        } else {
            CONNECT_TIMEOUT
        };
        // A unix socket (a local engine, or an ssh one's forwarded socket): the version from
        // `GET /_ping`'s header; elsewhere bollard's negotiation (`GET /version`).
        let socket = host
            .strip_prefix("unix://")
            .or_else(|| host.starts_with('/').then_some(host.as_str()));
        let mut kind = EngineKind::Docker;
        let negotiated = match socket {
            Some(path) => tokio::time::timeout(connect_timeout, df::ping(path))
                .await
                .map(|r| match r {
                    Ok((server, answered)) => {
                        kind = answered;
                        let ours = bollard::API_DEFAULT_VERSION;
                        let version = match server {
                            Some((major, minor))
                                if (major, minor) < (ours.major_version, ours.minor_version) =>
                            {
                                bollard::ClientVersion {
                                    major_version: major,
                                    minor_version: minor,
                                }
                            }
                            _ => *ours,
                        };
                        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, &version)
                            .map_err(|e| chain(&e))
                    }
                    Err(e) => Err(e.to_string()),
                }),
            None => tokio::time::timeout(connect_timeout, client.negotiate_version())
                .await
                .map(|r| r.map_err(|e| chain(&e))),
        };
        trace.call(
            &format!(
                "Docker API: {} at {}",
                if socket.is_some() {
                    "GET /_ping"
                } else {
                    "negotiate version"
                },
                endpoint.host
            ),
            started,
        );
        let why = |cause: String| match tunnel.as_ref().map(|t| t.last_error()) {
            Some(ssh) if !ssh.is_empty() => format!("{cause}: ssh says: {ssh}"),
            _ => cause,
        };
        let client = match negotiated {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(unreachable(&endpoint, &why(e))),
            Err(_) => {
                return Err(unreachable(
                    &endpoint,
                    &why(format!("no answer within {} s", connect_timeout.as_secs())),
                ))
            }
        };
        let api_version = client.client_version().to_string();
        let dial = host;
        let host = endpoint.ports_host();
        Ok(DockerEngine {
            removals: Arc::new(tokio::sync::Semaphore::new(REMOVALS_AT_ONCE)),
            checked: Default::default(),
            dial,
            client,
            endpoint,
            api_version,
            kind,
            host,
            _tunnel: tunnel,
            trace: trace.clone(),
        })
    }

    fn api_error(&self, what: &str, e: bollard::errors::Error) -> Error {
        api_error(&self.endpoint, what, e)
    }

    async fn list(&self, filters: Vec<String>) -> Result<Vec<Container>> {
        let mut map = HashMap::new();
        map.insert("label".to_string(), filters);
        let started = std::time::Instant::now();
        let mut list = match (&self.kind, self.socket()) {
            // Read off the socket and decoded into only the fields dev-prism reads. On Podman,
            // Podman's own list: the compatible one says no health (see
            // [`crate::observed::containers_from_libpod`]); this one says all it does, and health.
            (kind, Some(socket)) => {
                let podman = matches!(kind, EngineKind::Podman { .. });
                let query = df::percent_encode(&serde_json::to_string(&map).unwrap_or_default());
                let (path, what) = if podman {
                    (
                        format!("/{PODMAN_API}/libpod/containers/json?all=true&filters={query}"),
                        "Podman API: GET /libpod/containers/json",
                    )
                } else {
                    (
                        format!(
                            "/v{}/containers/json?all=1&filters={query}",
                            self.api_version
                        ),
                        "Docker API: GET /containers/json",
                    )
                };
                let (head, body) = self
                    .raw_list(socket, &path, &format!("{what} {map:?}"))
                    .await?;
                let list = if podman {
                    crate::observed::containers_from_libpod(&body, df::date_in(&head))
                } else {
                    crate::observed::containers_from_bytes(&body)
                };
                list.map_err(|e| {
                    Error::failure(format!("the engine's container list did not parse: {e}"))
                })?
            }
            (_, None) => {
                let options = ListContainersOptions {
                    all: true,
                    filters: Some(map.clone()),
                    ..Default::default()
                };
                let list = self.client.list_containers(Some(options)).await;
                self.trace.call(
                    &format!("Docker API: GET /containers/json {map:?}"),
                    started,
                );
                let list = list.map_err(|e| self.api_error("list containers", e))?;
                list.iter()
                    .map(crate::observed::lean)
                    .filter_map(container_from_summary)
                    .collect()
            }
        };
        for c in &mut list {
            c.engine_host = self.host.clone();
        }
        Ok(list)
    }

    /// A container list read off the socket (bounded; traced as `what`): its HTTP head and body.
    async fn raw_list(&self, socket: &str, path: &str, what: &str) -> Result<(String, Vec<u8>)> {
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(REQUEST_TIMEOUT_SECS),
            df::get_with_head(socket, path),
        )
        .await;
        self.trace.call(what, started);
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(unreachable(
                &self.endpoint,
                &format!("could not list containers: {e}"),
            )),
            Err(_) => Err(api_error(
                &self.endpoint,
                "list containers",
                bollard::errors::Error::RequestTimeoutError,
            )),
        }
    }

    /// A container's healthcheck interval (`Config.Healthcheck.Interval`; 30 s, the engine's
    /// default, when unset or unreadable).
    async fn health_interval(&self, socket: &str, id: &str) -> Duration {
        let default = Duration::from_secs(30);
        let path = format!("/v{}/containers/{id}/json", self.api_version);
        let Ok(Ok(body)) = tokio::time::timeout(
            Duration::from_secs(REQUEST_TIMEOUT_SECS),
            df::get(socket, &path),
        )
        .await
        else {
            return default;
        };
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["Config"]["Healthcheck"]["Interval"].as_u64())
            .filter(|ns| *ns > 0)
            .map_or(default, Duration::from_nanos)
    }

    /// [`Self::session_containers`], for a wait on readiness. On Podman the healthchecks of
    /// running containers still `starting` are run first (each once per its interval): Podman
    /// runs them from systemd timers, and on a machine without systemd they never ran, so a
    /// healthchecked service never turned healthy nor unhealthy.
    pub async fn session_containers_for_readiness(&self, dir: &str) -> Result<Vec<Container>> {
        let mut list = self.session_containers(dir).await?;
        let (EngineKind::Podman { .. }, Some(socket)) = (&self.kind, self.socket()) else {
            return Ok(list);
        };
        for c in list.iter_mut().filter(|c| {
            c.state == crate::observed::State::Running
                && c.health == crate::observed::Health::Starting
        }) {
            let now = std::time::Instant::now();
            let seen = self
                .checked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&c.id)
                .copied();
            let (last, interval) = match seen {
                Some(seen) => seen,
                None => {
                    // First seen: its interval, as the engine would keep it (the first check
                    // is due one interval later).
                    let interval = self.health_interval(socket, &c.id).await;
                    (now, interval)
                }
            };
            let due = seen.is_some() && now.duration_since(last) >= interval;
            self.checked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(c.id.clone(), (if due { now } else { last }, interval));
            if !due {
                continue;
            }
            let path = format!("/{PODMAN_API}/libpod/containers/{}/healthcheck", c.id);
            let answer = tokio::time::timeout(
                Duration::from_secs(REQUEST_TIMEOUT_SECS),
                df::get(socket, &path),
            )
            .await;
            self.trace.call(
                &format!("Podman API: GET {path} (run the healthcheck)"),
                now,
            );
            // A check that could not run says nothing: the next observation tells.
            if let Ok(Ok(body)) = answer {
                let status = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["Status"].as_str().map(str::to_string))
                    .unwrap_or_default();
                if let Some(health) = podman_health_of(&status) {
                    c.health = health;
                }
            }
        }
        Ok(list)
    }

    /// The unix socket dialled, when it is one.
    fn socket(&self) -> Option<&str> {
        self.dial
            .strip_prefix("unix://")
            .or_else(|| self.dial.starts_with('/').then_some(self.dial.as_str()))
    }

    /// Every container of the session in `dir`: ONE API call, filtered by both labels.
    pub async fn session_containers(&self, dir: &str) -> Result<Vec<Container>> {
        self.list(vec![
            format!("{}=true", labels::MANAGED),
            format!("{}={dir}", labels::WORKING_DIR),
        ])
        .await
    }

    /// Everything carrying the Compose project label `project`, whoever made it: its
    /// containers (one call); when there are none and the project is to be `made`, also its
    /// volumes and networks (one call each; see [`crate::observed::Owners::check`]).
    pub async fn project_owners(
        &self,
        project: &str,
        made: bool,
    ) -> Result<crate::observed::Owners> {
        let containers = self
            .list(vec![format!("{}={project}", labels::PROJECT)])
            .await?;
        let objects = made && containers.is_empty();
        Ok(crate::observed::Owners {
            volumes: if objects {
                self.project_volumes(project).await?
            } else {
                vec![]
            },
            networks: if objects {
                self.project_networks(project).await?
            } else {
                vec![]
            },
            containers,
        })
    }

    /// Every container of the repository whose main checkout is `root`: ONE API call.
    pub async fn repo_containers(&self, root: &str) -> Result<Vec<Container>> {
        self.list(vec![
            format!("{}=true", labels::MANAGED),
            format!("{}={root}", labels::REPO_ROOT),
        ])
        .await
    }

    /// Every dev-prism container on this engine: ONE API call.
    pub async fn all_sessions(&self) -> Result<Vec<Container>> {
        self.list(vec![format!("{}=true", labels::MANAGED)]).await
    }

    /// The engine's events on dev-prism's containers (create, start, die, destroy, ...): one
    /// item per event, so a cache can be dropped at once. The stream ends when the connection
    /// does; the caller reconnects.
    pub fn session_events(&self) -> impl futures_util::Stream<Item = Result<()>> + '_ {
        use futures_util::StreamExt;
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "label".to_string(),
                vec![format!("{}=true", labels::MANAGED)],
            ),
        ]);
        let options = bollard::query_parameters::EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        // The request lasts as long as the proxy runs: no request timeout.
        let patient = self.client.clone().with_timeout(STOP_REQUEST_TIMEOUT);
        patient
            .events(Some(options))
            .map(move |e| e.map(drop).map_err(|e| self.api_error("watch events", e)))
    }

    /// The proxy names (`dev-prism.host`) of every session on this engine but the one in
    /// `dir`: ONE API call.
    pub async fn proxy_hosts(&self, dir: &str) -> Result<Vec<String>> {
        let list = self
            .list(vec![
                format!("{}=true", labels::MANAGED),
                labels::HOST.to_string(),
            ])
            .await?;
        let mut hosts: Vec<String> = list
            .iter()
            .filter(|c| c.working_dir() != Some(dir))
            .filter_map(|c| c.label(labels::HOST).map(str::to_string))
            .collect();
        hosts.sort();
        hosts.dedup();
        Ok(hosts)
    }

    /// Stops containers in parallel; they are kept with their volumes.
    pub async fn stop(&self, ids: &[String]) -> Result<()> {
        let mut set = tokio::task::JoinSet::new();
        // The engine waits for each container's own stop timeout (`stop_grace_period`, which
        // may be minutes) before killing it: the request must outlast it.
        let patient = self.client.clone().with_timeout(STOP_REQUEST_TIMEOUT);
        for id in ids {
            let client = patient.clone();
            let id = id.clone();
            let trace = self.trace.clone();
            set.spawn(async move {
                let started = std::time::Instant::now();
                let r = client
                    .stop_container(
                        &id,
                        Some(StopContainerOptions {
                            t: None,
                            signal: None,
                        }),
                    )
                    .await;
                trace.call(&format!("Docker API: POST /containers/{id}/stop"), started);
                (id, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (id, r) = joined.map_err(|e| Error::failure(format!("stop task failed: {e}")))?;
            match r {
                Ok(()) => {}
                // 304: already stopped; 404: already gone. Both are the state we want.
                Err(bollard::errors::Error::DockerResponseServerError { status_code, .. })
                    if status_code == 304 || status_code == 404 => {}
                Err(e) => return Err(self.api_error(&format!("stop container {id}"), e)),
            }
        }
        Ok(())
    }

    /// Networks of a Compose project (by Compose's project label).
    pub async fn project_networks(&self, project: &str) -> Result<Vec<String>> {
        if let (EngineKind::Podman { .. }, Some(socket)) = (&self.kind, self.socket()) {
            let label = format!("{}={project}", labels::PROJECT);
            let list = self.podman_networks(socket, Some(&label)).await?;
            // Only what carries the label is the project's (these names are removed): a filter
            // Podman ignored must not make another project's network look like this one's.
            return Ok(list
                .into_iter()
                .filter(|n| n.project.as_deref() == Some(project))
                .map(|n| n.name)
                .collect());
        }
        let list = self
            .client
            .list_networks(Some(ListNetworksOptions {
                filters: Some(project_filter(project)),
            }))
            .await
            .map_err(|e| self.api_error("list networks", e))?;
        Ok(list.into_iter().filter_map(|n| n.name).collect())
    }

    /// Images built for a Compose project: Compose v2 labels them with the project; v1 names
    /// them `<project>_<service>` (project names carry a hash of the session directory, so the
    /// prefix is the session's alone).
    pub async fn project_images(&self, project: &str) -> Result<Vec<String>> {
        let mut out = vec![];
        for filter in [
            ("label", format!("{}={project}", labels::PROJECT)),
            ("reference", format!("{project}_*")),
        ] {
            let list = self
                .client
                .list_images(Some(ListImagesOptions {
                    filters: Some(HashMap::from([(filter.0.to_string(), vec![filter.1])])),
                    ..Default::default()
                }))
                .await
                .map_err(|e| self.api_error("list images", e))?;
            for image in list {
                let name = image
                    .repo_tags
                    .iter()
                    .find(|t| t.as_str() != "<none>:<none>")
                    .cloned()
                    .unwrap_or(image.id);
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        Ok(out)
    }

    /// Volumes matching `filters` (one API call).
    pub(crate) async fn volumes(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<Vec<bollard::models::Volume>> {
        let list = self
            .client
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| self.api_error("list volumes", e))?;
        Ok(list.volumes.unwrap_or_default())
    }

    /// For an engine on this machine: its data root and the mount points of `volumes`, so a
    /// copy of them can be sized on disk; `None` for an engine elsewhere (its disk is not
    /// ours to measure), or when one of them is gone (its source changed since the plan: the
    /// copy itself says so). One call for the root, one per volume.
    pub async fn local_volume_paths(
        &self,
        volumes: &[String],
    ) -> Result<Option<(std::path::PathBuf, Vec<std::path::PathBuf>)>> {
        if self.host != EngineHost::Local || volumes.is_empty() {
            return Ok(None);
        }
        let info = self
            .client
            .info()
            .await
            .map_err(|e| self.api_error("read the engine's data root", e))?;
        let Some(root) = info.docker_root_dir.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let mut paths = vec![];
        for name in volumes {
            match self.client.inspect_volume(name).await {
                Ok(v) => paths.push(std::path::PathBuf::from(v.mountpoint)),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(None),
                Err(e) => return Err(self.api_error(&format!("inspect volume {name}"), e)),
            }
        }
        Ok(Some((root.into(), paths)))
    }

    /// Volumes of a Compose project (by Compose's project label), except shared ones.
    pub async fn project_volumes(&self, project: &str) -> Result<Vec<String>> {
        // A volume shared by every session (`shareVolumes`) is no one session's to remove.
        Ok(self
            .volumes(project_filter(project))
            .await?
            .into_iter()
            .filter(|v| v.labels.get(labels::SHARED).map(String::as_str) != Some("true"))
            .map(|v| v.name)
            .collect())
    }

    /// Removes the session's containers (both labels must match), then the project's networks
    /// and volumes. Never touches anything without those labels.
    pub async fn remove_project(&self, project: &str, dir: &str) -> Result<()> {
        let containers: Vec<(String, String)> = self
            .session_containers(dir)
            .await?
            .into_iter()
            .filter(|c| c.project() == Some(project))
            .map(|c| (c.id, c.name))
            .collect();
        let networks = self.project_networks(project).await?;
        let images = self.project_images(project).await?;
        let volumes = self.project_volumes(project).await?;
        self.remove_objects(&containers, &networks, &images, &volumes)
            .await
    }

    /// Removes exactly these objects (a plan's, observed when it was made): the containers
    /// `(id, name)`, then the networks, images and volumes. One already gone is no error.
    pub async fn remove_objects(
        &self,
        containers: &[(String, String)],
        networks: &[String],
        images: &[String],
        volumes: &[String],
    ) -> Result<()> {
        let _turn = self
            .removals
            .acquire()
            .await
            .map_err(|e| Error::failure(format!("removal queue closed: {e}")))?;
        let mut set = tokio::task::JoinSet::new();
        for (id, name) in containers.iter().cloned() {
            let client = self.client.clone();
            let trace = self.trace.clone();
            set.spawn(async move {
                let started = std::time::Instant::now();
                let mut r = client
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptions {
                            v: true,
                            force: true,
                            link: false,
                        }),
                    )
                    .await;
                // A removal already under way (a destroy interrupted a moment ago asked for
                // it): wait for it to finish rather than fail (measured: 409 left the
                // worktree, branch and volumes of a session a second destroy should finish).
                if let Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409,
                    ..
                }) = &r
                {
                    r = gone(&client, &id).await.or(r);
                }
                trace.call(&format!("Docker API: DELETE /containers/{name}"), started);
                (name, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (name, r) =
                joined.map_err(|e| Error::failure(format!("remove task failed: {e}")))?;
            match r {
                Ok(()) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(self.api_error(&format!("remove container {name}"), e)),
            }
        }
        for net in networks {
            match self.client.remove_network(net).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(self.api_error(&format!("remove network {net}"), e)),
            }
        }
        for image in images {
            match self
                .client
                .remove_image(image, None::<RemoveImageOptions>, None)
                .await
            {
                Ok(_)
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => {}
                Err(e) => return Err(self.api_error(&format!("remove image {image}"), e)),
            }
        }
        for vol in volumes {
            match self
                .client
                .remove_volume(vol, Some(RemoveVolumeOptions { force: false }))
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(self.api_error(&format!("remove volume {vol}"), e)),
            }
        }
        Ok(())
    }
}

/// Waits (up to a minute) until the container `id` no longer exists.
async fn gone(
    client: &bollard::Docker,
    id: &str,
) -> std::result::Result<(), bollard::errors::Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        match client.inspect_container(id, None).await {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    Err(bollard::errors::Error::RequestTimeoutError)
}

/// A network as far as subnets are concerned.
#[derive(Clone, Debug)]
pub struct NetworkSubnets {
    pub name: String,
    /// Compose's project and network key labels.
    pub project: Option<String>,
    pub key: Option<String>,
    /// Its IPAM subnets as the engine reports them (IPv4 and IPv6).
    pub subnets: Vec<String>,
}

impl DockerEngine {
    /// Every network on the engine with its subnets: ONE API call (Podman's own list on
    /// Podman: see [`libpod`]).
    pub async fn network_subnets(&self) -> Result<Vec<NetworkSubnets>> {
        if let (EngineKind::Podman { .. }, Some(socket)) = (&self.kind, self.socket()) {
            return self.podman_networks(socket, None).await;
        }
        let started = std::time::Instant::now();
        let list = self.client.list_networks(None::<ListNetworksOptions>).await;
        self.trace.call("Docker API: GET /networks", started);
        let list = list.map_err(|e| self.api_error("list networks", e))?;
        Ok(list
            .into_iter()
            .map(|n| {
                let labels = n.labels.unwrap_or_default();
                NetworkSubnets {
                    name: n.name.unwrap_or_default(),
                    project: labels.get(labels::PROJECT).cloned(),
                    key: labels.get("com.docker.compose.network").cloned(),
                    subnets: n
                        .ipam
                        .and_then(|i| i.config)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| c.subnet)
                        .collect(),
                }
            })
            .collect())
    }

    /// Whether the engine runs rootless, and its cgroup version (for `doctor`, and refusals of
    /// what rootless cgroup v1 cannot do). Read off the socket: Podman says `"Rootless": true`
    /// in `/info`, a field bollard's model drops; Docker names `rootless` in its security
    /// options.
    pub async fn security(&self) -> Result<EngineSecurity> {
        let started = std::time::Instant::now();
        let info: serde_json::Value = match self.socket() {
            Some(socket) => {
                let path = format!("/v{}/info", self.api_version);
                let body = tokio::time::timeout(
                    Duration::from_secs(REQUEST_TIMEOUT_SECS),
                    df::get(socket, &path),
                )
                .await
                .map_err(|_| Error::failure("the engine did not describe itself in time"))?
                .map_err(|e| Error::failure(format!("could not read the engine's /info: {e}")))?;
                serde_json::from_slice(&body)
                    .map_err(|e| Error::failure(format!("the engine's /info did not parse: {e}")))?
            }
            None => serde_json::to_value(
                self.client
                    .info()
                    .await
                    .map_err(|e| self.api_error("describe itself", e))?,
            )
            .unwrap_or_default(),
        };
        self.trace.call("Docker API: GET /info", started);
        Ok(security_of(&info))
    }

    /// The engine's own version (for `doctor`).
    pub async fn server_version(&self) -> Result<String> {
        let v = self
            .client
            .version()
            .await
            .map_err(|e| self.api_error("report its version", e))?;
        Ok(v.version.unwrap_or_else(|| "unknown".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    /// A request that timed out reached the engine: it is busy, not absent (exit 1, not 3).
    #[test]
    fn a_timeout_is_a_busy_engine_and_a_refused_connection_an_absent_one() {
        let ep = Endpoint {
            host: "unix:///var/run/docker.sock".into(),
            source: "default".into(),
            tls: None,
        };
        let slow = api_error(
            &ep,
            "remove network n",
            bollard::errors::Error::RequestTimeoutError,
        );
        assert_eq!(slow.kind(), Kind::Failure);
        assert!(
            slow.message()
                .contains("could not remove network n in time (no answer within 30 s: the engine is reachable but busy)"),
            "{}",
            slow.message()
        );
        assert!(!slow.message().contains("cannot reach"));
        let gone = api_error(
            &ep,
            "list containers",
            bollard::errors::Error::IOError {
                err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
        );
        assert_eq!(gone.kind(), Kind::Unreachable);
    }

    /// Recorded `/info` answers (trimmed): rootless Podman 4.3 on cgroup v1, rootful Podman,
    /// rootless Docker on cgroup v2.
    #[test]
    fn rootless_and_cgroup_v1_are_read_from_either_engine() {
        let podman_rootless = serde_json::json!({"SecurityOptions": ["name=seccomp,profile=default"], "CgroupVersion": "1", "Rootless": true});
        let podman_rootful = serde_json::json!({"SecurityOptions": ["name=seccomp,profile=default"], "CgroupVersion": "1", "Rootless": false});
        let docker_rootless = serde_json::json!({"SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"], "CgroupVersion": "2"});
        assert_eq!(
            security_of(&podman_rootless),
            EngineSecurity {
                rootless: true,
                cgroup_v1: true
            }
        );
        assert_eq!(
            security_of(&podman_rootful),
            EngineSecurity {
                rootless: false,
                cgroup_v1: true
            }
        );
        assert_eq!(
            security_of(&docker_rootless),
            EngineSecurity {
                rootless: true,
                cgroup_v1: false
            }
        );
    }
}
