//! The `--json` documents (schema `dev-prism/2`, documented in docs/json.md): one serde type
//! per document, built from the same values the text renderers print. A test checks that every
//! field these types can produce is documented.
//! (Over 400 lines: every document type in one place, and the test that holds docs/json.md
//! to them.)

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::compose::labels;
use crate::desired::address::address;
use crate::desired::session_vars;
use crate::error::Error;
use crate::observed::{Container, Health, State};
use crate::plan::{Action, Content, Op, Plan, Step, Summary};

/// Bumped on any incompatible change to a document's shape.
pub const SCHEMA: &str = "dev-prism/2";

/// A whole command answer: `schema`, `command`, then the command's fields.
#[derive(Debug, Serialize)]
pub struct Doc<'a, T: Serialize> {
    pub schema: &'static str,
    pub command: &'a str,
    #[serde(flatten)]
    pub body: T,
}

/// Wraps a command's fields into its document.
pub fn doc<T: Serialize>(command: &str, body: T) -> Doc<'_, T> {
    Doc {
        schema: SCHEMA,
        command,
        body,
    }
}

/// A session: directory, project, status, services with ports and health, variables.
#[derive(Debug, Serialize)]
pub struct Session {
    pub dir: String,
    pub branch: Option<String>,
    pub project: String,
    pub status: &'static str,
    pub services: Vec<Service>,
    pub env_file: String,
    pub vars: BTreeMap<String, String>,
    /// RFC 3339, from the `dev-prism.created_at` label.
    pub created_at: Option<String>,
    /// RFC 3339; filled by `list` and `info` (null elsewhere).
    pub last_activity: Option<String>,
    /// With `--size` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<super::Disk>,
}

#[derive(Debug, Serialize)]
pub struct Service {
    pub name: String,
    pub container: String,
    pub state: &'static str,
    pub health: Option<&'static str>,
    pub exit_code: Option<i64>,
    pub job: bool,
    pub ports: Vec<Port>,
}

#[derive(Debug, Serialize)]
pub struct Port {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
    pub host: String,
    pub port: u16,
    /// Only where a scheme applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The port's URL through the proxy, only where it has a name (an `http` port of a session
    /// with the proxy on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

fn state(c: &Container) -> &'static str {
    match c.state {
        State::Running => "running",
        State::Stopped => "stopped",
        State::Paused => "paused",
        State::Restarting => "restarting",
    }
}

fn health(c: &Container) -> Option<&'static str> {
    match c.health {
        Health::None => None,
        Health::Starting => Some("starting"),
        Health::Healthy => Some("healthy"),
        Health::Unhealthy => Some("unhealthy"),
    }
}

/// The session object of `dir` from its containers.
pub fn session(
    dir: &str,
    project: &str,
    branch: Option<&str>,
    containers: &[Container],
    proxy: &crate::desired::ProxySetting,
) -> Session {
    let mut sorted: Vec<&Container> = containers.iter().collect();
    sorted.sort_by(|a, b| a.service.cmp(&b.service));
    let services = sorted
        .iter()
        .map(|c| Service {
            name: c.service.clone(),
            container: c.name.clone(),
            state: state(c),
            health: health(c),
            exit_code: c.exit_code,
            job: c.label(labels::JOB) == Some("true"),
            ports: c
                .declared_ports()
                .iter()
                .filter_map(|p| {
                    let published = c.ports.iter().find(|q| &q.spec == p)?;
                    let a = address(c, published);
                    Some(Port {
                        container_port: p.container_port,
                        protocol: p.protocol.clone(),
                        host_ip: published.host_ip.clone(),
                        host_port: published.host_port,
                        url: a.url(),
                        proxy_url: crate::desired::names::proxy_url(
                            c,
                            p.container_port,
                            proxy.port,
                        ),
                        host: a.host,
                        port: a.port,
                    })
                })
                .collect(),
        })
        .collect();
    let vars = if containers.iter().any(|c| c.state == State::Running) {
        session_vars(project, Path::new(dir), containers, proxy)
            .into_iter()
            .collect()
    } else {
        BTreeMap::new()
    };
    Session {
        dir: dir.to_string(),
        branch: branch.map(str::to_string),
        project: project.to_string(),
        status: super::status(containers),
        services,
        env_file: format!("{}/.env.session", dir.trim_end_matches('/')),
        vars,
        created_at: super::created_at(containers).map(rfc3339),
        last_activity: None,
        disk: None,
    }
}

/// Milliseconds since the epoch as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    crate::util::UtcTime::from_unix_millis(ms).rfc3339()
}

/// `create`, `apply`, `start`: the session after the command.
#[derive(Debug, Serialize)]
pub struct SessionDoc {
    pub session: Session,
}

/// `info`: the session, and the env files rewritten from Docker's answer.
#[derive(Debug, Serialize)]
pub struct InfoDoc {
    pub session: Session,
    pub healed: Vec<String>,
    /// Where the session's volumes were copied from (`create --data-from`).
    pub data_from: Option<String>,
}

/// `prune --dry-run`.
#[derive(Debug, Serialize)]
pub struct PruneDryRun {
    pub dry_run: bool,
    pub sessions: Vec<PruneRow>,
}

/// One session `prune --dry-run` looked at.
#[derive(Debug, Serialize)]
pub struct PruneRow {
    pub dir: String,
    /// Whether a run would remove it.
    pub remove: bool,
    /// Each filter it matched, or the one it did not.
    pub reasons: Vec<String>,
    /// What its removal removes.
    pub removes: Vec<String>,
    /// What its removal keeps, and why.
    pub keeps: Vec<String>,
}

/// `list`.
#[derive(Debug, Serialize)]
pub struct ListDoc {
    pub sessions: Vec<Session>,
}

/// `env`.
#[derive(Debug, Serialize)]
pub struct EnvDoc {
    pub dir: String,
    pub vars: BTreeMap<String, String>,
}

/// `doctor`.
#[derive(Debug, Serialize)]
pub struct DoctorDoc {
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
}

/// `heal`.
#[derive(Debug, Serialize)]
pub struct HealDoc {
    pub dir: String,
    pub check: bool,
    pub changes: bool,
    pub files: Vec<HealFile>,
}

#[derive(Debug, Serialize)]
pub struct HealFile {
    pub path: String,
    pub reason: String,
}

/// A plan step as JSON.
#[derive(Debug, Serialize)]
pub struct StepDoc {
    pub action: Action,
    pub glyph: &'static str,
    pub subject: String,
    pub reason: String,
    /// The operation apply performs (`Op::code`).
    pub op: &'static str,
    /// `reason` as a stable name (`Reason::code`).
    pub reason_code: &'static str,
    pub known_after_apply: bool,
    pub details: Vec<DetailDoc>,
    pub diff: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DetailDoc {
    pub action: Action,
    pub glyph: &'static str,
    pub subject: String,
    pub reason: String,
    pub reason_code: &'static str,
}

fn steps(plan: &Plan) -> Vec<StepDoc> {
    plan.ordered()
        .into_iter()
        .map(|s: &Step| StepDoc {
            action: s.action,
            glyph: s.action.glyph(),
            subject: s.subject.to_string(),
            reason: s.reason.to_string(),
            op: s.op.code(),
            reason_code: s.reason.code(),
            known_after_apply: matches!(
                &s.op,
                Op::WriteFile {
                    content: Content::Rendered { .. },
                    ..
                }
            ),
            details: s
                .details
                .iter()
                .map(|d| DetailDoc {
                    action: d.action,
                    glyph: d.action.glyph(),
                    subject: d.subject.to_string(),
                    reason: d.reason.to_string(),
                    reason_code: d.reason.code(),
                })
                .collect(),
            diff: s.diff.clone(),
        })
        .collect()
}

/// Drift or kept entries, each as its sentence.
fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// `plan`: drift, steps in execution order, the summary, what is kept.
#[derive(Debug, Serialize)]
pub struct PlanDoc {
    pub dir: String,
    pub project: String,
    pub changes: bool,
    pub drift: Vec<String>,
    pub steps: Vec<StepDoc>,
    pub summary: Summary,
    pub kept: Vec<String>,
    /// What `plan` and `apply` both warn about (also printed on stderr).
    pub warnings: Vec<String>,
}

pub fn plan(plan: &Plan, dir: &str, project: &str) -> PlanDoc {
    PlanDoc {
        dir: dir.to_string(),
        project: project.to_string(),
        changes: !plan.is_empty(),
        drift: texts(&plan.drift),
        steps: steps(plan),
        summary: plan.summary(),
        kept: texts(&plan.kept),
        warnings: texts(&plan.warnings),
    }
}

/// `stop`, `destroy`: the steps carried out.
#[derive(Debug, Serialize)]
pub struct AppliedDoc {
    pub dir: String,
    pub changes: bool,
    pub drift: Vec<String>,
    pub applied: Vec<StepDoc>,
    pub summary: Summary,
    pub kept: Vec<String>,
}

pub fn applied(plan: &Plan, dir: &str) -> AppliedDoc {
    AppliedDoc {
        dir: dir.to_string(),
        changes: !plan.is_empty(),
        drift: texts(&plan.drift),
        applied: steps(plan),
        summary: plan.summary(),
        kept: texts(&plan.kept),
    }
}

/// `stop-all`, `destroy --all`, `prune`: one row per session.
#[derive(Debug, Serialize)]
pub struct BulkDoc {
    pub results: Vec<BulkRow>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BulkRow {
    Done {
        dir: String,
        ok: bool,
        summary: String,
        kept: Vec<String>,
    },
    Failed {
        dir: String,
        ok: bool,
        error: String,
        hint: Option<String>,
    },
}

/// A failed command.
#[derive(Debug, Serialize)]
pub struct ErrorDoc {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub exit_code: i32,
    pub kind: String,
    pub message: String,
    pub hint: Option<String>,
}

/// An error as JSON: exit code, kind, message, hint.
pub fn error<'a>(command: &'a str, e: &Error) -> Doc<'a, ErrorDoc> {
    doc(
        command,
        ErrorDoc {
            error: ErrorBody {
                exit_code: e.exit_code(),
                kind: e.kind().name().to_string(),
                message: e.message(),
                hint: e.hint.clone(),
            },
        },
    )
}

/// The JSON text of a document (as [`crate::ui::Ui::json_out`] prints it).
pub fn to_string<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field name a document can carry.
    fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.clone());
                    // The variables are data (their names are the session's), not fields.
                    if k != "vars" {
                        keys(v, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }

    #[test]
    fn a_volume_copy_container_is_no_service_of_the_session() {
        let mut service: Container = crate::observed::containers_from_json(include_str!(
            "../../tests/fixtures/containers-api-1.41.json"
        ))
        .unwrap()
        .remove(0);
        service
            .labels
            .insert(labels::WORKING_DIR.into(), "/w/s".into());
        let mut copy = service.clone();
        copy.id = "copy".into();
        copy.ports.clear();
        copy.state = crate::observed::State::Running;
        copy.labels.insert(
            labels::SERVICE.into(),
            crate::observed::VOLUME_COPY_SERVICE.into(),
        );
        let rows = crate::render::sessions(&[service.clone(), copy.clone()]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].containers, vec![service.clone()]);
        let text = crate::render::list_text(&rows, 0, false, 7355);
        assert!(!text.contains("(volume copy)"), "{text}");
        // A session whose copy is still running: listed, with no container of its own yet.
        let mut other = copy.clone();
        other
            .labels
            .insert(labels::WORKING_DIR.into(), "/w/t".into());
        let rows = crate::render::sessions(&[other]);
        assert_eq!((rows.len(), rows[0].containers.len()), (1, 0));
        let doc = session("/w/t", "p", None, &rows[0].containers, &Default::default());
        assert!(serde_json::to_value(doc).unwrap()["services"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn every_op_and_reason_code_is_in_docs_json_md() {
        // The codes are the literals of `Op::code` and `Reason::code` (exhaustive matches: a
        // new operation or reason cannot go without one).
        let docs = include_str!("../../docs/json.md");
        let source = include_str!("reason.rs");
        let start = source.find("impl crate::plan::Op {").unwrap();
        let end = source.find("impl Display for Reason").unwrap();
        let codes: Vec<&str> = source[start..end]
            .split("=> \"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert!(codes.len() > 40, "{codes:?}");
        let missing: Vec<&&str> = codes
            .iter()
            .filter(|c| !docs.contains(&format!("`{c}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "codes missing from docs/json.md: {missing:?}"
        );
    }

    #[test]
    fn every_field_of_every_document_is_in_docs_json_md() {
        let docs = include_str!("../../docs/json.md");
        let mut c: Container = crate::observed::containers_from_json(include_str!(
            "../../tests/fixtures/containers-api-1.41.json"
        ))
        .unwrap()
        .into_iter()
        .find(|c| c.service == "web")
        .unwrap();
        // A session with proxy names: its web port has a `proxy_url`.
        c.labels
            .insert(crate::compose::labels::HOST.into(), "s.p".into());
        c.labels
            .insert(crate::compose::labels::DOMAIN.into(), "localhost".into());
        let s = || {
            session(
                "/w/s",
                "p-1",
                Some("b"),
                std::slice::from_ref(&c),
                &Default::default(),
            )
        };
        let mut plan = Plan::default();
        plan.drift.push(crate::plan::Drift::EnvFileDeleted);
        plan.graph.add_node(Step {
            action: Action::Create,
            subject: crate::plan::Subject::File("f".into()),
            reason: crate::plan::Reason::FileMissing,
            diff: Some("d".into()),
            details: vec![crate::plan::Detail {
                action: Action::Create,
                subject: crate::plan::Subject::Service("s".into()),
                reason: crate::plan::Reason::NoContainer,
            }],
            op: Op::RemoveFile { path: "f".into() },
        });
        let e = Error::usage("m").with_hint("h");
        let values = [
            serde_json::to_value(doc("create", SessionDoc { session: s() })),
            serde_json::to_value(doc(
                "info",
                InfoDoc {
                    session: s(),
                    healed: vec![],
                    data_from: None,
                },
            )),
            serde_json::to_value(doc(
                "list",
                ListDoc {
                    sessions: vec![s()],
                },
            )),
            serde_json::to_value(doc(
                "env",
                EnvDoc {
                    dir: "d".into(),
                    vars: BTreeMap::new(),
                },
            )),
            serde_json::to_value(doc(
                "doctor",
                DoctorDoc {
                    ok: true,
                    checks: vec![Check {
                        name: "n".into(),
                        ok: true,
                        detail: "d".into(),
                        fix: None,
                    }],
                },
            )),
            serde_json::to_value(doc(
                "heal",
                HealDoc {
                    dir: "d".into(),
                    check: false,
                    changes: true,
                    files: vec![HealFile {
                        path: "p".into(),
                        reason: "r".into(),
                    }],
                },
            )),
            serde_json::to_value(doc("plan", super::plan(&plan, "d", "p"))),
            serde_json::to_value(doc("stop", applied(&plan, "d"))),
            serde_json::to_value(doc(
                "prune",
                BulkDoc {
                    results: vec![
                        BulkRow::Done {
                            dir: "d".into(),
                            ok: true,
                            summary: "s".into(),
                            kept: vec![],
                        },
                        BulkRow::Failed {
                            dir: "d".into(),
                            ok: false,
                            error: "e".into(),
                            hint: None,
                        },
                    ],
                },
            )),
            serde_json::to_value(error("info", &e)),
            serde_json::to_value(doc(
                "prune",
                PruneDryRun {
                    dry_run: true,
                    sessions: vec![PruneRow {
                        dir: "d".into(),
                        remove: true,
                        reasons: vec![],
                        removes: vec![],
                        keeps: vec![],
                    }],
                },
            )),
        ];
        let mut all = vec![];
        for v in values {
            keys(&v.unwrap(), &mut all);
        }
        all.sort();
        all.dedup();
        let undocumented: Vec<&String> = all
            .iter()
            .filter(|k| !docs.contains(&format!("`{k}`")) && !docs.contains(&format!("\"{k}\"")))
            .collect();
        assert!(
            undocumented.is_empty(),
            "fields missing from docs/json.md: {undocumented:?}"
        );
    }
}
