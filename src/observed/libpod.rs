//! Podman's own container list (`GET /libpod/containers/json`), converted to the same
//! [`Container`]s as Docker's. Podman's compatible list leaves health out of its `Status`
//! ("Up 4 seconds"); its own list has it (`"Status": "healthy"`) beside labels, ports and state,
//! so on Podman one call of this list observes a session, as one compatible call does on Docker.

use std::collections::BTreeMap;

use super::{container_from_summary, Container, Summary, SummaryPort};

/// The fields of a libpod list entry dev-prism reads (Podman 4.x).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    /// `created`, `running`, `paused`, `exited`, `stopped`, `stopping`, `removing`, …
    #[serde(default)]
    state: String,
    /// The health word (`healthy`, `unhealthy`, `starting`); empty without a healthcheck.
    #[serde(default)]
    status: String,
    #[serde(default)]
    ports: Option<Vec<Port>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    exit_code: i64,
    /// Unix seconds (a negative year-1 value when never started / never exited).
    #[serde(default)]
    started_at: i64,
    #[serde(default)]
    exited_at: i64,
}

/// A published port; `range` container ports from `container_port` on, to as many host ports
/// from `host_port` on (`-p 8000-8002:7000-7002` is one entry of range 3).
#[derive(Debug, Default, serde::Deserialize)]
struct Port {
    #[serde(default)]
    host_ip: String,
    container_port: u16,
    host_port: u16,
    #[serde(default)]
    range: u16,
    #[serde(default)]
    protocol: String,
}

/// Parses a libpod list answer. `engine_now`: the engine's clock in unix seconds (its answer's
/// `Date` header), against which start and exit times become Docker's status words.
pub fn containers_from_libpod(json: &[u8], engine_now: i64) -> serde_json::Result<Vec<Container>> {
    let list: Vec<Entry> = serde_json::from_slice(json)?;
    Ok(list
        .into_iter()
        .map(|e| summary(e, engine_now))
        .filter_map(container_from_summary)
        .collect())
}

/// One entry as the compatible list would have it, with Docker's health suffix in `Status`
/// (what [`container_from_summary`] reads).
fn summary(e: Entry, now: i64) -> Summary {
    let health = match e.status.as_str() {
        "healthy" => " (healthy)",
        "unhealthy" => " (unhealthy)",
        "starting" => " (health: starting)",
        _ => "",
    };
    let status = match e.state.as_str() {
        "running" => format!("Up {}{health}", ago(now - e.started_at)),
        "paused" => format!("Up {} (Paused)", ago(now - e.started_at)),
        "exited" | "stopped" => format!("Exited ({}) {} ago", e.exit_code, ago(now - e.exited_at)),
        "created" | "configured" | "initialized" => "Created".into(),
        "removing" => "Removal In Progress".into(),
        "stopping" => "Stopping".into(),
        other => other.to_string(),
    };
    let ports = e.ports.map(|ports| {
        ports
            .iter()
            .flat_map(|p| {
                (0..p.range.max(1)).map(move |i| SummaryPort {
                    ip: (!p.host_ip.is_empty()).then(|| p.host_ip.clone()),
                    private_port: p.container_port.saturating_add(i),
                    public_port: Some(p.host_port.saturating_add(i)),
                    typ: Some(p.protocol.clone()),
                })
            })
            .collect()
    });
    Summary {
        id: e.id,
        names: e.names,
        state: Some(e.state),
        status: Some(status),
        ports,
        labels: e.labels,
    }
}

/// Docker's words for a duration (go-units' `HumanDuration`), from whole seconds. Both times
/// are whole seconds, so up to 1 s may be up to 2 s: "Less than a second" then, which makes a
/// readiness wait watch a just-started container itself before counting it as settled.
fn ago(seconds: i64) -> String {
    let minutes = seconds / 60;
    let hours = (seconds + 1800) / 3600;
    match seconds {
        s if s <= 1 => "Less than a second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ => format!("{} days", hours / 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::PortSpec;
    use crate::observed::{Health, State};

    /// Recorded from Podman 4.3.1's `GET /v4.0.0/libpod/containers/json?all=true`, whose
    /// answer's `Date` header said 07:39:35 UTC, 2026-12-03.
    const RECORDED: &str = include_str!("../../tests/fixtures/libpod-containers-4.3.json");
    const NOW: i64 = 1_796_283_575;

    fn by_name<'a>(cs: &'a [Container], name: &str) -> &'a Container {
        cs.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn converts_a_recorded_podman_answer_with_health_ports_and_states() {
        let cs = containers_from_libpod(RECORDED.as_bytes(), NOW).unwrap();
        assert_eq!(cs.len(), 6);
        // Health from Podman's word, ports with their address, labels as given.
        let probe = by_name(&cs, "h3pm-probe");
        assert_eq!(
            (probe.state, probe.health),
            (State::Running, Health::Starting)
        );
        assert_eq!(probe.status, "Up About a minute (health: starting)");
        assert_eq!(probe.host_port(&PortSpec::tcp(80)), Some(36593));
        assert_eq!(probe.ports[0].host_ip, "127.0.0.1");
        assert_eq!(probe.label("dev-prism.x"), Some("1"));
        let plain = by_name(&cs, "h3pm-probe2");
        assert_eq!((plain.health, plain.is_ready()), (Health::None, true));
        let unhealthy = by_name(&cs, "h3pm-unh");
        assert_eq!(unhealthy.health, Health::Unhealthy);
        // Not started: Docker's "Created", no exit code.
        let created = by_name(&cs, "h3pm-created");
        assert_eq!((created.state, created.exit_code), (State::Stopped, None));
        assert_eq!(created.status, "Created");
        assert_eq!(created.host_port(&PortSpec::tcp(90)), Some(33183));
        assert_eq!(created.ports[0].host_ip, "");
        let exited = by_name(&cs, "h3pm-exit");
        assert_eq!((exited.state, exited.exit_code), (State::Stopped, Some(3)));
        assert_eq!(exited.status, "Exited (3) 20 seconds ago");
        // A range of three ports is three ports (the compatible list names the first only).
        let paused = by_name(&cs, "h3pm-paused");
        assert_eq!(paused.state, State::Paused);
        assert_eq!(
            [7000, 7001, 7002].map(|p| paused.host_port(&PortSpec::tcp(p))),
            [Some(8000), Some(8001), Some(8002)]
        );
    }

    #[test]
    fn a_container_started_a_second_ago_or_less_is_not_settled_yet() {
        let cs = containers_from_libpod(RECORDED.as_bytes(), 1_796_283_557).unwrap();
        // Started at …556: one whole second may be up to two.
        assert_eq!(
            by_name(&cs, "h3pm-unh").status,
            "Up Less than a second (unhealthy)"
        );
        assert_eq!(ago(0), "Less than a second");
        assert_eq!(ago(2), "2 seconds");
        assert_eq!(ago(61), "About a minute");
        assert_eq!(ago(3 * 3600), "3 hours");
        assert_eq!(ago(3 * 86400), "3 days");
    }
}
