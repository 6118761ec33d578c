//! What reality looks like, as plain values, and pure converters from the Engine API's answers.

use std::collections::BTreeMap;

use bollard::models::ContainerSummary;

use crate::compose::{labels, PortSpec};

mod libpod;
pub mod outputs;
pub mod worktree;
pub use libpod::containers_from_libpod;
pub use worktree::{Fact, Owner, PathFact, WorktreeFacts};

/// A container's lifecycle state, reduced to what the reconciler distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    /// Exited, created, dead: not running, can be started.
    Stopped,
    Paused,
    Restarting,
}

/// Health as the `Status` string reports it (API 1.41 has nothing else in a list answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// No healthcheck.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// One published port as Docker reports it, de-duplicated per container port and protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub spec: PortSpec,
    pub host_ip: String,
    pub host_port: u16,
}

/// Where an engine's published ports are, seen from this machine (the engine adapter fills it
/// in from its endpoint, so the pure code can name the right address).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EngineHost {
    /// The engine runs here: a port bound to an address is on that address of this machine.
    #[default]
    Local,
    /// The engine runs on this host (a name or address this machine reaches it by).
    Remote(String),
}

/// A container of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub service: String,
    pub state: State,
    pub health: Health,
    /// Exit code parsed from "Exited (N) …" when stopped.
    pub exit_code: Option<i64>,
    pub status: String,
    pub ports: Vec<Published>,
    pub labels: BTreeMap<String, String>,
    /// The host of the engine that reported it.
    pub engine_host: EngineHost,
}

/// The service label of the throwaway containers a `--data-from` copy runs through: labelled
/// as the new session's (so destroy removes one a killed copy left), but no service of it.
pub const VOLUME_COPY_SERVICE: &str = "(volume copy)";

impl Container {
    /// A throwaway container of a `--data-from` copy, not a service of the session.
    pub fn is_volume_copy(&self) -> bool {
        self.label(labels::SERVICE) == Some(VOLUME_COPY_SERVICE)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn working_dir(&self) -> Option<&str> {
        self.label(labels::WORKING_DIR)
    }

    pub fn project(&self) -> Option<&str> {
        self.label(labels::PROJECT)
    }

    /// Ready means: running and healthy, or running without a healthcheck.
    pub fn is_ready(&self) -> bool {
        self.state == State::Running && matches!(self.health, Health::None | Health::Healthy)
    }

    /// The container ports in the order the compose file lists them (the `dev-prism.ports`
    /// label), then any others Docker reports.
    pub fn declared_ports(&self) -> Vec<PortSpec> {
        let mut out: Vec<PortSpec> = self
            .label(labels::PORTS)
            .unwrap_or("")
            .split(',')
            .filter_map(PortSpec::parse_key)
            .collect();
        for p in &self.ports {
            if !out.contains(&p.spec) {
                out.push(p.spec.clone());
            }
        }
        out
    }

    pub fn host_port(&self, spec: &PortSpec) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| &p.spec == spec)
            .map(|p| p.host_port)
    }
}

/// The Compose project a session's containers belong to (they all carry it).
pub fn project_of(containers: &[Container]) -> Option<&str> {
    containers.iter().find_map(Container::project)
}

/// The fields of a `GET /containers/json` entry dev-prism reads, and no others: decoding the
/// whole summary (host config, network settings, mounts) cost ≈ 3.4 ms per 100 sessions of an
/// answer `list` mostly ignores (measured at 200 sessions).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub names: Option<Vec<String>>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub ports: Option<Vec<SummaryPort>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A port of a [`Summary`].
#[derive(Debug, Default, serde::Deserialize)]
pub struct SummaryPort {
    #[serde(rename = "IP", default)]
    pub ip: Option<String>,
    #[serde(rename = "PrivatePort", default)]
    pub private_port: u16,
    #[serde(rename = "PublicPort", default)]
    pub public_port: Option<u16>,
    #[serde(rename = "Type", default)]
    pub typ: Option<String>,
}

/// Bollard's full summary, reduced to the fields dev-prism reads.
pub fn lean(s: &ContainerSummary) -> Summary {
    Summary {
        id: s.id.clone(),
        names: s.names.clone(),
        state: s.state.map(|st| st.to_string()),
        status: s.status.clone(),
        ports: s.ports.as_ref().map(|ps| {
            ps.iter()
                .map(|p| SummaryPort {
                    ip: p.ip.clone(),
                    private_port: p.private_port,
                    public_port: p.public_port,
                    typ: p.typ.map(|t| t.to_string()),
                })
                .collect()
        }),
        labels: s
            .labels
            .as_ref()
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
    }
}

/// Converts one container summary. `None` when it lacks an id.
pub fn container_from_summary(s: Summary) -> Option<Container> {
    let labels = s.labels.unwrap_or_default();
    let status = s.status.unwrap_or_default();
    let state = match s.state.as_deref() {
        Some("running") => State::Running,
        Some("paused") => State::Paused,
        Some("restarting") => State::Restarting,
        _ => State::Stopped,
    };
    let health = if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    };
    let exit_code = status
        .strip_prefix("Exited (")
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok());
    let mut ports: Vec<Published> = vec![];
    let mut raw = s.ports.unwrap_or_default();
    // IPv4 first, so it wins the de-duplication below.
    raw.sort_by_key(|p| p.ip.as_deref().unwrap_or("").contains(':'));
    for p in raw {
        let Some(host_port) = p.public_port else {
            continue;
        };
        let protocol = match p.typ.as_deref() {
            Some("udp") => "udp",
            Some("sctp") => "sctp",
            _ => "tcp",
        };
        let spec = PortSpec {
            container_port: p.private_port,
            protocol: protocol.into(),
        };
        if ports.iter().any(|q| q.spec == spec) {
            continue;
        }
        ports.push(Published {
            spec,
            host_ip: p.ip.unwrap_or_default(),
            host_port,
        });
    }
    let name = s
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let service = labels
        .get(labels::SERVICE)
        .or_else(|| labels.get("com.docker.compose.service"))
        .cloned()
        .unwrap_or_else(|| name.clone());
    Some(Container {
        id: s.id?,
        name,
        service,
        state,
        health,
        exit_code,
        status,
        ports,
        labels,
        engine_host: EngineHost::Local,
    })
}

/// Parses a `GET /containers/json` answer (recorded, or read off the socket).
pub fn containers_from_json(json: &str) -> serde_json::Result<Vec<Container>> {
    containers_from_bytes(json.as_bytes())
}

/// [`containers_from_json`] of the raw bytes.
pub fn containers_from_bytes(json: &[u8]) -> serde_json::Result<Vec<Container>> {
    let list: Vec<Summary> = serde_json::from_slice(json)?;
    Ok(list
        .into_iter()
        .filter_map(container_from_summary)
        .collect())
}

/// A git worktree as `git worktree list --porcelain` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Worktree {
    pub path: std::path::PathBuf,
    pub branch: Option<String>,
    pub is_main: bool,
}

/// Everything observed about one session directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Text of `docker-compose.session.yml`, if present.
    pub session_file: Option<String>,
    /// Text and unix mode of `.env.session`, if present.
    pub env_file: Option<(String, u32)>,
    /// Containers labelled with this session's directory.
    pub containers: Vec<Container>,
    /// The git worktree the session directory is the top of, with the facts destroy checks
    /// (observed for destroy and rollback only; `None` also when the directory is no worktree).
    pub worktree: Option<WorktreeFacts>,
    /// Text and mode of each derived file other than `.env.session`, by relative path
    /// (`None`: absent).
    pub derived: BTreeMap<String, Option<(String, u32)>>,
    /// Networks, volumes and built images of the session's Compose project (destroy only).
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    pub images: Vec<String>,
    /// Which subnets are taken, observed only when the session's network needs a new one.
    pub subnets: Option<crate::subnet::Facts>,
    /// The proxy names (`dev-prism.host`) other sessions' containers carry, observed only
    /// when this session needs a name (the proxy is on and no container of it carries one).
    pub taken_hosts: Vec<String>,
    /// The engine endpoint the proxy answering on its port serves, when that is not this
    /// session's engine (observed with [`Observed::taken_hosts`]): the session gets no name,
    /// its URLs stay direct (DESIGN §10 "proxy port").
    pub proxy_elsewhere: Option<String>,
}

/// Facts about the engine and the Compose that would run a session, which only refuse or warn
/// (observed for a plan that brings a session up).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runtime {
    /// The engine's host when it is remote; `None` for an engine on this machine.
    pub remote: Option<String>,
    /// The Compose flavour that would run the session and its version (`None`: not asked,
    /// because the plan runs no Compose, or it could not be found: apply then says why).
    pub compose: Option<(crate::compose::Flavor, String)>,
}

/// Everything on the engine that carries one Compose project's label: who owns the name.
#[derive(Clone, Debug, Default)]
pub struct Owners {
    /// Every container under the project, whoever made it.
    pub containers: Vec<Container>,
    /// Its volumes (shared ones, `shareVolumes`, left out: they are everyone's) and networks.
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
}

impl Owners {
    /// DESIGN §10 "project identity": a session acts on `project` only when the name is its
    /// own. Every container under it must carry this directory's label; and when none does
    /// (the project is about to be made), no volume or network may carry the name either —
    /// unless `finishing`, a stop or destroy that only removes what a create of this directory
    /// left (its containers already gone).
    pub fn check(&self, dir: &str, project: &str, finishing: bool) -> crate::error::Result<()> {
        use crate::error::Error;
        if let Some(c) = self
            .containers
            .iter()
            .find(|c| c.working_dir() != Some(dir))
        {
            let whose = match c.working_dir() {
                Some(other) => format!("the session in {other}"),
                None => "something other than a dev-prism session".to_string(),
            };
            return Err(Error::usage(format!(
                "the Compose project {project} belongs to {whose} (container {}), not to {dir}; dev-prism leaves it alone",
                c.name
            ))
            .with_hint(
                "two directories whose project names collide cannot both be sessions: set another `projectName` in session.config.yaml, or remove the other project first",
            ));
        }
        if finishing || !self.containers.is_empty() {
            return Ok(());
        }
        let objects: Vec<String> = self
            .volumes
            .iter()
            .map(|v| format!("volume {v}"))
            .chain(self.networks.iter().map(|n| format!("network {n}")))
            .collect();
        if objects.is_empty() {
            return Ok(());
        }
        Err(Error::usage(format!(
            "the Compose project {project} already exists without a container of {dir} ({}); dev-prism does not take it over",
            objects.join(", ")
        ))
        .with_hint(
            "if they are left from this directory's own interrupted create, `dev-prism destroy` in that directory removes them (with what else that create made), then run the command again; else set another `projectName` in session.config.yaml",
        ))
    }
}

/// Bytes a session holds (`list --size`, `info --size`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Disk {
    /// Its worktree beside the repository's shared object store.
    pub worktree: u64,
    /// Its volumes (shared ones excluded).
    pub volumes: u64,
    /// The images Compose built for it.
    pub images: u64,
}

impl Disk {
    pub fn total(&self) -> u64 {
        self.worktree + self.volumes + self.images
    }
}

#[cfg(test)]
mod tests {
    /// The lean decode and bollard's full summary give the same containers (states, ports,
    /// labels) on a recorded answer.
    #[test]
    fn lean_decode_matches_bollards_summary() {
        let text = include_str!("../../tests/fixtures/containers-api-1.41.json");
        let full: Vec<ContainerSummary> = serde_json::from_str(text).unwrap();
        let via_bollard: Vec<Container> = full
            .iter()
            .map(lean)
            .filter_map(container_from_summary)
            .collect();
        let direct = containers_from_json(text).unwrap();
        assert!(!direct.is_empty() && direct.iter().any(|c| !c.ports.is_empty()));
        assert_eq!(direct, via_bollard);
    }

    use super::*;

    const RECORDED: &str = include_str!("../../tests/fixtures/containers-api-1.41.json");

    #[test]
    fn a_project_name_is_one_directorys() {
        let container = |dir: Option<&str>| {
            let labels = match dir {
                Some(d) => format!(r#"{{"{}": "{d}"}}"#, labels::WORKING_DIR),
                None => "{}".to_string(),
            };
            let json = format!(r#"[{{"Id": "c", "Names": ["/x-1"], "Labels": {labels}}}]"#);
            containers_from_json(&json).unwrap().remove(0)
        };
        let owners = |cs: Vec<Container>, volumes: &[&str]| Owners {
            containers: cs,
            volumes: volumes.iter().map(|v| v.to_string()).collect(),
            networks: vec![],
        };
        let mine = || container(Some("/w/a"));
        // Free, or ours alone: go on, making it or not.
        for finishing in [false, true] {
            assert!(owners(vec![], &[]).check("/w/a", "p", finishing).is_ok());
            assert!(owners(vec![mine()], &["p_data"])
                .check("/w/a", "p", finishing)
                .is_ok());
        }
        // Another directory's container, or one not dev-prism's: never, naming it.
        for other in [Some("/w/b"), None] {
            let e = owners(vec![mine(), container(other)], &[])
                .check("/w/a", "p", true)
                .unwrap_err();
            assert_eq!(e.kind(), crate::error::Kind::Usage);
            let whose = other.unwrap_or("something other than a dev-prism session");
            assert!(e.message().contains(whose), "{}", e.message());
        }
        // Volumes or networks under the name and no container of ours: not made over them;
        // a destroy of what is left goes on.
        let left = owners(vec![], &["p_data"]);
        assert!(left
            .check("/w/a", "p", false)
            .unwrap_err()
            .message()
            .contains("volume p_data"));
        assert!(left.check("/w/a", "p", true).is_ok());
    }

    #[test]
    fn converts_recorded_engine_answer() {
        let cs = containers_from_json(RECORDED).unwrap();
        assert_eq!(cs.len(), 3);
        let db = cs.iter().find(|c| c.service == "db").unwrap();
        assert_eq!(db.state, State::Running);
        assert_eq!(db.health, Health::Healthy);
        // 0.0.0.0 and [::] publish the same container port: one entry, IPv4 preferred.
        assert_eq!(db.ports.len(), 1);
        assert_eq!(db.ports[0].host_ip, "0.0.0.0");
        assert_eq!(db.host_port(&PortSpec::tcp(5432)), Some(49153));
        let web = cs.iter().find(|c| c.service == "web").unwrap();
        assert_eq!(web.health, Health::Starting);
        assert!(!web.is_ready());
        assert_eq!(
            web.declared_ports(),
            vec![PortSpec::tcp(80), PortSpec::tcp(8443)]
        );
        let job = cs.iter().find(|c| c.service == "job").unwrap();
        assert_eq!(job.state, State::Stopped);
        assert_eq!(job.exit_code, Some(3));
    }
}
