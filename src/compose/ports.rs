//! The `ports:` grammar (short and long syntax) → the container ports a service publishes.

use super::*;

/// One `ports` entry → the container side. The host side is deliberately ignored: the session
/// always publishes on a random host port.
pub fn parse_port(value: &Value) -> std::result::Result<PortSpec, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(PortSpec::tcp)
            .ok_or_else(|| "is not a port number".into()),
        Value::String(s) => parse_port_str(s),
        Value::Object(m) => {
            let target = match m.get("target") {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or("has no valid `target`")?;
            let protocol = m
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_string();
            check_protocol(&protocol)?;
            Ok(PortSpec {
                container_port: target,
                protocol,
            })
        }
        _ => Err("is not a port".into()),
    }
}

pub(super) fn check_protocol(p: &str) -> std::result::Result<(), String> {
    match p {
        "tcp" | "udp" => Ok(()),
        other => Err(format!(
            "uses protocol `{other}`; only tcp and udp are supported"
        )),
    }
}

pub(super) fn parse_port_str(s: &str) -> std::result::Result<PortSpec, String> {
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((spec, proto)) => (spec, proto.to_string()),
        None => (s, "tcp".to_string()),
    };
    check_protocol(&protocol)?;
    // The container port is whatever follows the last `:` outside IPv6 brackets.
    let container = match spec.rfind(']') {
        Some(close) => spec[close..].rsplit(':').next().unwrap_or(""),
        None => spec.rsplit(':').next().unwrap_or(""),
    };
    if container.contains('$') {
        return Err(
            "uses a variable for the container port, which dev-prism cannot resolve".into(),
        );
    }
    if container.contains('-') {
        return Err(
            "is a port range; a session publishes single ports so each can be named".into(),
        );
    }
    container
        .parse::<u16>()
        .ok()
        .filter(|n| *n > 0)
        .map(|container_port| PortSpec {
            container_port,
            protocol,
        })
        .ok_or_else(|| "has no valid container port".into())
}
