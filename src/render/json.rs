//! The `--json` documents (schema `dev-prism/2`, documented in docs/json.md). Built from the
//! same values the text renderers print.

use serde_json::{json, Value};

use crate::compose::labels;
use crate::desired::address::address;
use crate::desired::session_vars;
use crate::error::Error;
use crate::observed::{Container, Health, State};
use crate::plan::Plan;

/// Bumped on any incompatible change to a document's shape.
pub const SCHEMA: &str = "dev-prism/2";

fn state(c: &Container) -> &'static str {
    match c.state {
        State::Running => "running",
        State::Stopped => "stopped",
        State::Paused => "paused",
        State::Restarting => "restarting",
    }
}

fn health(c: &Container) -> Value {
    match c.health {
        Health::None => Value::Null,
        Health::Starting => json!("starting"),
        Health::Healthy => json!("healthy"),
        Health::Unhealthy => json!("unhealthy"),
    }
}

/// A session: directory, project, status, services with ports and health, variables.
pub fn session(dir: &str, project: &str, branch: Option<&str>, containers: &[Container]) -> Value {
    let mut sorted: Vec<&Container> = containers.iter().collect();
    sorted.sort_by(|a, b| a.service.cmp(&b.service));
    let services: Vec<Value> = sorted
        .iter()
        .map(|c| {
            let ports: Vec<Value> = c
                .declared_ports()
                .iter()
                .filter_map(|p| {
                    let published = c.ports.iter().find(|q| &q.spec == p)?;
                    let a = address(c, published);
                    let mut port = json!({
                        "container_port": p.container_port,
                        "protocol": p.protocol,
                        "host_ip": published.host_ip,
                        "host_port": published.host_port,
                        "host": a.host,
                        "port": a.port,
                    });
                    if let (Some(url), Some(o)) = (a.url(), port.as_object_mut()) {
                        o.insert("url".into(), json!(url));
                    }
                    Some(port)
                })
                .collect();
            json!({
                "name": c.service,
                "container": c.name,
                "state": state(c),
                "health": health(c),
                "exit_code": c.exit_code,
                "job": c.label(labels::JOB) == Some("true"),
                "ports": ports,
            })
        })
        .collect();
    let vars: serde_json::Map<String, Value> =
        if containers.iter().any(|c| c.state == State::Running) {
            session_vars(project, std::path::Path::new(dir), containers)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        } else {
            Default::default()
        };
    json!({
        "dir": dir,
        "branch": branch,
        "project": project,
        "status": super::status(containers),
        "services": services,
        "env_file": format!("{}/.env.session", dir.trim_end_matches('/')),
        "vars": vars,
    })
}

/// A whole command answer: `{"schema", "command", ...fields}`.
pub fn doc(command: &str, fields: Value) -> Value {
    let mut out = json!({ "schema": SCHEMA, "command": command });
    if let (Some(o), Value::Object(f)) = (out.as_object_mut(), fields) {
        o.extend(f);
    }
    out
}

/// The plan: drift, steps in execution order (with per-service details and diffs), what is
/// kept, the summary.
pub fn plan(plan: &Plan, dir: &str, project: &str) -> Value {
    let steps: Vec<Value> = plan
        .ordered()
        .iter()
        .map(|s| {
            json!({
                "action": s.action,
                "glyph": s.action.glyph(),
                "subject": s.subject,
                "reason": s.reason,
                "known_after_apply": matches!(&s.op, crate::plan::Op::WriteFile { content: crate::plan::Content::Rendered { .. }, .. }),
                "details": s.details.iter().map(|d| json!({
                    "action": d.action, "glyph": d.action.glyph(), "subject": d.subject, "reason": d.reason,
                })).collect::<Vec<_>>(),
                "diff": s.diff,
            })
        })
        .collect();
    json!({
        "dir": dir,
        "project": project,
        "changes": !plan.is_empty(),
        "drift": plan.drift,
        "steps": steps,
        "summary": plan.summary(),
        "kept": plan.kept,
    })
}

/// An error as JSON: exit code, kind, message, hint.
pub fn error(command: &str, e: &Error) -> Value {
    doc(
        command,
        json!({
            "error": {
                "exit_code": e.kind.exit_code(),
                "kind": e.kind.name(),
                "message": e.message,
                "hint": e.hint,
            }
        }),
    )
}
