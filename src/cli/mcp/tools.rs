//! The MCP tools: their arguments, with JSON Schemas derived from these Rust types (which
//! reuse the CLI's `SelectionArgs` and `Mode`), descriptions and annotations. Pure.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::cli::SelectionArgs;

/// A tool call that cannot run: said to the agent as a tool error.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: Option<String>,
}

pub(super) fn refuse(message: impl Into<String>, hint: impl Into<String>) -> Refusal {
    Refusal {
        message: message.into(),
        hint: Some(hint.into()),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateArgs {
    /// Absolute path of a directory inside the git repository. The new worktree is made from
    /// it; with `in_place` this directory itself becomes the session.
    pub repo: PathBuf,
    /// Branch for the worktree (default: a new `session/<UTC timestamp>`). An existing branch
    /// is checked out.
    pub branch: Option<String>,
    /// Make `repo` itself the session instead of creating a worktree.
    #[serde(default)]
    pub in_place: bool,
    #[serde(flatten)]
    pub select: SelectionArgs,
    /// Copy the data volumes of the session (or Compose project) in this directory.
    pub data_from: Option<PathBuf>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Include stopped sessions.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DirArgs {
    /// Absolute path of the session directory.
    pub dir: PathBuf,
}

/// What `plan` previews.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// What `apply` would change (the default).
    #[default]
    Apply,
    /// What `create` would do in `dir` (a directory inside the repository).
    Create,
    /// What `stop` would do.
    Stop,
    /// What `destroy` would remove and keep.
    Destroy,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PlanArgs {
    /// Absolute path of the session directory (for intent `create`: a directory inside the
    /// repository).
    pub dir: PathBuf,
    /// Which command to preview (default: apply).
    #[serde(default)]
    pub intent: Intent,
    /// With intent `create`: the branch the worktree would use.
    pub branch: Option<String>,
    /// With intent `destroy`: preview a forced destroy.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ApplyArgs {
    /// Absolute path of the session directory.
    pub dir: PathBuf,
    #[serde(flatten)]
    pub select: SelectionArgs,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DestroyArgs {
    /// Absolute path of the session directory.
    pub dir: PathBuf,
    /// Also remove a worktree with uncommitted changes and a branch with unmerged commits
    /// (otherwise they are kept and reported).
    #[serde(default)]
    pub force: bool,
}

fn default_lines() -> usize {
    100
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogsArgs {
    /// Absolute path of the session directory.
    pub dir: PathBuf,
    /// Only this service (default: every service the session runs).
    pub service: Option<String>,
    /// Lines of history per service.
    #[serde(default = "default_lines")]
    pub lines: usize,
}

/// One tool: name, description, input schema, annotations.
struct Spec {
    name: &'static str,
    description: &'static str,
    schema: fn() -> Arc<JsonObject>,
    annotations: fn() -> ToolAnnotations,
}

fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let mut s = (*rmcp::handler::server::common::schema_for_type::<T>()).clone();
    // The tool's description says what the whole does (a flattened struct's doc would not).
    s.remove("title");
    s.remove("description");
    // Unknown arguments are refused (see `parse`): say so in the schema too.
    s.insert("additionalProperties".into(), false.into());
    let mut v = serde_json::Value::Object(s);
    unwrap_descriptions(&mut v);
    match v {
        serde_json::Value::Object(s) => Arc::new(s),
        _ => Arc::default(),
    }
}

/// Doc comments keep their line breaks; descriptions read better as one paragraph.
fn unwrap_descriptions(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                match v {
                    serde_json::Value::String(s) if k == "description" => {
                        *s = s.replace('\n', " ");
                    }
                    _ => unwrap_descriptions(v),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true).open_world(false)
}

fn changes(destructive: bool) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(false)
        .destructive(destructive)
        .idempotent(true)
        .open_world(false)
}

const SPECS: &[Spec] = &[
    Spec {
        name: "create",
        description: "Create an isolated session: a new git worktree (or `repo` itself with \
            in_place) with its own Docker Compose project on random host ports, and \
            `.env.session` saying where they are. Returns the session (dir, services, ports, \
            vars). On failure or cancellation everything it made is removed.",
        schema: schema::<CreateArgs>,
        annotations: || changes(false).idempotent(false),
    },
    Spec {
        name: "list",
        description: "Running sessions on this Docker engine (with `all`: stopped ones too), \
            each with its directory, branch, services and ports.",
        schema: schema::<ListArgs>,
        annotations: read_only,
    },
    Spec {
        name: "info",
        description: "The session in `dir`: status, services, health, ports and variables \
            (restores a missing `.env.session`).",
        schema: schema::<DirArgs>,
        annotations: read_only,
    },
    Spec {
        name: "plan",
        description: "What apply (or create, stop, destroy: `intent`) would do to the session \
            in `dir`, changing nothing: drift, steps with reasons, summary, what would be kept.",
        schema: schema::<PlanArgs>,
        annotations: read_only,
    },
    Spec {
        name: "apply",
        description: "Converge the session in `dir` to its configuration (create, start, \
            recreate or remove services; rewrite generated files), exactly the steps `plan` \
            shows. Safe to repeat.",
        schema: schema::<ApplyArgs>,
        annotations: || changes(true),
    },
    Spec {
        name: "start",
        description: "Start the stopped session in `dir`; ports are new, `.env.session` is \
            rewritten.",
        schema: schema::<DirArgs>,
        annotations: || changes(false),
    },
    Spec {
        name: "stop",
        description: "Stop the session's containers (kept with their data); `.env.session` is \
            removed.",
        schema: schema::<DirArgs>,
        annotations: || changes(false),
    },
    Spec {
        name: "destroy",
        description: "Remove the session in `dir`: containers, network, volumes, generated \
            files, worktree and branch. A worktree with uncommitted changes or a branch with \
            unmerged commits is kept and reported unless `force`.",
        schema: schema::<DestroyArgs>,
        annotations: || changes(true),
    },
    Spec {
        name: "logs",
        description: "The last `lines` log lines (default 100) of the session's services (or \
            one `service`); does not follow.",
        schema: schema::<LogsArgs>,
        annotations: read_only,
    },
    Spec {
        name: "env",
        description: "The running session's variables: COMPOSE_PROJECT_NAME, SESSION_DIR, \
            one <SERVICE>_PORT per published port and one <SERVICE>_URL per web port (its \
            stable name through the local proxy, e.g. http://web.feat-x.shop.localhost:7355). \
            Use these, never the defaults.",
        schema: schema::<DirArgs>,
        annotations: read_only,
    },
    Spec {
        name: "proxy_focus",
        description: "Focus the session in `dir` for its project: the short names \
            <service>.<project>.<domain> (one stable URL per service, e.g. for an OAuth \
            redirect) reach this session from now on.",
        schema: schema::<DirArgs>,
        annotations: || changes(false),
    },
];

/// Every tool, with its input schema.
pub fn list() -> Vec<Tool> {
    SPECS
        .iter()
        .map(|s| Tool::new(s.name, s.description, (s.schema)()).with_annotations((s.annotations)()))
        .collect()
}

/// One tool by name.
pub fn get(name: &str) -> Option<Tool> {
    list().into_iter().find(|t| t.name == name)
}

/// Parses the arguments of tool `name`, refusing names the schema does not have.
pub(super) fn parse<T: DeserializeOwned>(name: &str, arguments: &JsonObject) -> Result<T, Refusal> {
    if let Some(tool) = get(name) {
        let known = tool
            .input_schema
            .get("properties")
            .and_then(|p| p.as_object());
        let mut unknown = arguments
            .keys()
            .filter(|k| known.is_none_or(|p| !p.contains_key(k.as_str())));
        if let Some(k) = unknown.next() {
            let accepted = known
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            return Err(refuse(
                format!("`{name}` has no argument `{k}`"),
                format!("its arguments are: {accepted}"),
            ));
        }
    }
    serde_json::from_value(serde_json::Value::Object(arguments.clone())).map_err(|e| {
        refuse(
            format!("invalid arguments for `{name}`: {e}"),
            "see the tool's input schema (tools/list)",
        )
    })
}

/// Whether this build's `dev-prism <command>` has the option `--<long>`.
pub fn has_flag(command: &str, long: &str) -> bool {
    use clap::CommandFactory;
    crate::cli::Cli::command()
        .find_subcommand(command)
        .is_some_and(|c| c.get_arguments().any(|a| a.get_long() == Some(long)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_that_refuses_unknown_arguments() {
        let tools = list();
        let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "create",
                "list",
                "info",
                "plan",
                "apply",
                "start",
                "stop",
                "destroy",
                "logs",
                "env",
                "proxy_focus"
            ]
        );
        for t in &tools {
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
            assert_eq!(t.input_schema["additionalProperties"], false, "{}", t.name);
        }
        let create = get("create").unwrap();
        let props = create.input_schema["properties"].as_object().unwrap();
        for k in ["repo", "branch", "in_place", "mode", "without", "data_from"] {
            assert!(props.contains_key(k), "create lacks {k}: {props:?}");
        }
        assert_eq!(create.input_schema["required"], serde_json::json!(["repo"]));
        let mode = serde_json::to_string(&create.input_schema).unwrap();
        assert!(
            mode.contains("\"docker\"") && mode.contains("\"native\""),
            "{mode}"
        );
        assert!(!mode.contains("\\n"), "one-paragraph descriptions: {mode}");
    }
}
