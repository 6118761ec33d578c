//! What reality looks like, as plain values, and pure converters from the Engine API's answers.

use std::collections::BTreeMap;

use bollard::models::{ContainerSummary, ContainerSummaryStateEnum, PortSummaryTypeEnum};

use crate::compose::{labels, PortSpec};

pub mod worktree;
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

impl Container {
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

/// Converts one Engine API container summary. `None` when it lacks an id.
pub fn container_from_summary(s: &ContainerSummary) -> Option<Container> {
    let labels: BTreeMap<String, String> = s
        .labels
        .as_ref()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let status = s.status.clone().unwrap_or_default();
    let state = match s.state {
        Some(ContainerSummaryStateEnum::RUNNING) => State::Running,
        Some(ContainerSummaryStateEnum::PAUSED) => State::Paused,
        Some(ContainerSummaryStateEnum::RESTARTING) => State::Restarting,
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
    let mut raw = s.ports.clone().unwrap_or_default();
    // IPv4 first, so it wins the de-duplication below.
    raw.sort_by_key(|p| p.ip.as_deref().unwrap_or("").contains(':'));
    for p in raw {
        let Some(host_port) = p.public_port else {
            continue;
        };
        let protocol = match p.typ {
            Some(PortSummaryTypeEnum::UDP) => "udp",
            Some(PortSummaryTypeEnum::SCTP) => "sctp",
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
        id: s.id.clone()?,
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

/// Parses a recorded `GET /containers/json` answer.
pub fn containers_from_json(json: &str) -> serde_json::Result<Vec<Container>> {
    let list: Vec<ContainerSummary> = serde_json::from_str(json)?;
    Ok(list.iter().filter_map(container_from_summary).collect())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = include_str!("../../tests/fixtures/containers-api-1.41.json");

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
