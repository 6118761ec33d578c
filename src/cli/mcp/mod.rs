//! `dev-prism mcp`: a Model Context Protocol server over stdio (the official Rust SDK, rmcp).
//! (Just over 400 lines: the server and its unit tests; end of input is handled in `eof.rs`.)
//!
//! Every tool call runs this same program as a child process, `dev-prism --json <command> …`,
//! so a call behaves exactly like the command: the same session lock, safety rules, exit codes
//! and JSON document. The child's stderr (its progress) is copied to our stderr and, when the
//! client asked for progress, sent as progress notifications; a cancelled call is Ctrl-C
//! (SIGINT) for its child, so `create` rolls back. stdout carries only the protocol.

mod eof;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
mod invoke;
mod tools;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, ServerInitializeError};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::RwLock;

use crate::error::{Error, Result};
use crate::ui::Ui;

/// Serve dev-prism's commands as MCP tools over stdio, for coding agents
/// (`claude mcp add dev-prism -- dev-prism mcp`).
#[derive(Debug, clap::Args)]
pub struct Args {}

const INSTRUCTIONS: &str = "dev-prism gives each session its own git worktree and its own \
Docker Compose project on random host ports. Create one with `create` (repo: the absolute path \
of the repository), then work in the returned `dir`. Every `dir` argument is an absolute path. \
Take ports from `env` (or the session's `.env.session`), never from defaults such as 5432 or \
3000: other sessions use them; a web port's stable URL is its <SERVICE>_URL variable. `plan` shows what a command would do; `destroy` keeps \
uncommitted work unless `force`.";

struct Server {
    exe: PathBuf,
    /// Held (shared) by every running call; taken whole at the end so that calls cancelled by
    /// the end of input finish their rollback before the server exits.
    calls: Arc<RwLock<()>>,
    /// The client's input ended: running calls are cancelled.
    ended: eof::Ended,
    /// Diagnostics only (the children's stderr): stdout carries the protocol.
    ui: Ui,
}

pub async fn run(_args: Args, ui: &Ui) -> Result<i32> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure(format!("cannot find this program's path: {e}")))?;
    let calls = Arc::new(RwLock::new(()));
    // stdin → framing::filter → rmcp; rmcp and the filter's own answers → whole lines → stdout.
    let (to_rmcp, from_client) = tokio::io::duplex(1 << 16);
    let (lines, out) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(framing::filter(tokio::io::stdin(), to_rmcp, lines.clone()));
    let writer = tokio::spawn(framing::write_lines(tokio::io::stdout(), out));
    let (stdin, stdout) = (from_client, framing::Lines::new(lines));
    let (stdin, ended) = eof::watch(stdin);
    let server = Server {
        exe,
        calls: calls.clone(),
        ended,
        ui: ui.clone(),
    };
    let service = match server.serve((stdin, stdout)).await {
        Ok(s) => s,
        // Input ended before the client initialized: nothing to do.
        Err(ServerInitializeError::ConnectionClosed(_)) => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
            return Ok(0);
        }
        Err(e) => return Err(Error::failure(format!("MCP session failed to start: {e}"))),
    };
    let _ = service.waiting().await;
    let _all_finished = calls.write().await;
    // Every answer written before exiting (the writer ends when its last sender is gone).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
    Ok(0)
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("dev-prism", env!("CARGO_PKG_VERSION"))
                    .with_title("dev-prism sessions"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::get(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let Some(tool) = tools::get(&name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{name}`"),
                None,
            ));
        };
        if name == "proxy_focus" {
            let arguments = request.arguments.clone().unwrap_or_default();
            return Ok(match invoke::focus_dir(&arguments) {
                Ok(dir) => focus(&dir, &self.ui),
                Err(r) => failed(&r.message, r.hint.as_deref(), None),
            }
            .into());
        }
        let invocation =
            match invoke::invocation(&name, &request.arguments.clone().unwrap_or_default()) {
                Ok(i) => i,
                Err(r) => return Ok(failed(&r.message, r.hint.as_deref(), None).into()),
            };
        let _running = self.calls.read().await;
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| (token, context.peer.clone()));
        // A change whose client went away is undone (a create rolls back); a question is
        // still answered (a client may close its input after its last request).
        let ended = self.ended.clone();
        let changes = tool
            .annotations
            .is_some_and(|a| a.read_only_hint != Some(true));
        let cancelled = async move {
            tokio::select! {
                _ = context.ct.cancelled() => {}
                _ = ended.wait(), if changes => {}
            }
        };
        let output = run_child(&self.exe, &invocation, cancelled, progress, &self.ui).await;
        Ok(answer(&name, &invocation, output).into())
    }
}

/// `proxy_focus`: focuses the session in `dir` for its project (in this process: the focus
/// is one file in the proxy's state directory; the config names the project).
fn focus(dir: &Path, ui: &Ui) -> CallToolResult {
    let result = crate::context::session_dir(Some(dir)).and_then(|dir| {
        let session = crate::context::load_identity(ui, &dir, false)?;
        crate::proxy::focus::set(&session.config.project_name, &dir)?;
        Ok((dir, session.config))
    });
    match result {
        Ok((dir, config)) => {
            let short = format!(
                "<service>.{}.{}",
                crate::desired::names::lower(&config.project_name),
                config.proxy.domain
            );
            let doc = json!({
                "schema": crate::render::json::SCHEMA,
                "command": "proxy_focus",
                "dir": dir,
                "project": crate::desired::names::lower(&config.project_name),
                "domain": config.proxy.domain,
            });
            let mut r = CallToolResult::structured(doc);
            r.content.insert(
                0,
                ContentBlock::text(format!("focused {}: {short} now reaches it", dir.display())),
            );
            r
        }
        Err(e) => failed(&e.message(), e.hint.as_deref(), None),
    }
}

/// What a child run left.
struct ChildOutput {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs one dev-prism command; `cancelled` resolving sends it SIGINT (then waits for it to
/// finish cleaning up).
async fn run_child(
    exe: &Path,
    invocation: &invoke::Invocation,
    cancelled: impl Future<Output = ()>,
    progress: Option<(ProgressToken, Peer<RoleServer>)>,
    ui: &Ui,
) -> std::io::Result<ChildOutput> {
    let mut child =
        crate::adapters::process::spawn_piped(exe, &invocation.args, invocation.cwd.as_deref())?;
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_stdout = async {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf).await;
        }
        buf
    };
    let read_stderr = async {
        let mut all = String::new();
        let Some(s) = stderr else { return all };
        let mut lines = BufReader::new(s).lines();
        let mut n = 0u32;
        while let Ok(Some(line)) = lines.next_line().await {
            ui.warn(&line);
            n += 1;
            if let Some((token, peer)) = &progress {
                let note = ProgressNotificationParam::new(token.clone(), f64::from(n))
                    .with_message(line.clone());
                let _ = peer.notify_progress(note).await;
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    };
    let wait = async {
        tokio::pin!(cancelled);
        tokio::select! {
            status = child.wait() => return status,
            _ = &mut cancelled => {}
        }
        if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        child.wait().await
    };
    let (stdout, stderr, status) = tokio::join!(read_stdout, read_stderr, wait);
    Ok(ChildOutput {
        code: status?.code(),
        stdout,
        stderr,
    })
}

/// A tool error: the message and hint as text, and the JSON error document when there is one.
fn failed(message: &str, hint: Option<&str>, doc: Option<Value>) -> CallToolResult {
    let mut text = format!("error: {message}");
    if let Some(h) = hint {
        text.push_str(&format!("\nhint: {h}"));
    }
    let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
    r.structured_content = doc;
    r
}

/// The tool result for a finished child: its JSON document as structured content, a one-line
/// summary and the document as text (for clients that show only text to the model).
fn answer(
    name: &str,
    invocation: &invoke::Invocation,
    output: std::io::Result<ChildOutput>,
) -> CallToolResult {
    let out = match output {
        Ok(o) => o,
        Err(e) => return failed(&format!("could not run dev-prism {name}: {e}"), None, None),
    };
    let doc: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    if out.code != Some(0) {
        let error = doc.as_ref().and_then(|d| d.get("error"));
        let field = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str);
        let fallback = out
            .stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .map(str::to_string)
            .unwrap_or_else(|| match out.code {
                Some(c) => format!("dev-prism {name} exited with {c}"),
                None => format!("dev-prism {name} was killed by a signal"),
            });
        let message = field("message").map(str::to_string).unwrap_or(fallback);
        let hint = field("hint").map(str::to_string);
        return failed(&message, hint.as_deref(), doc);
    }
    let (summary, doc) = match (invocation.output, doc) {
        (invoke::Output::Text, _) => {
            let logs = String::from_utf8_lossy(&out.stdout).into_owned();
            let doc = json!({
                "schema": crate::render::json::SCHEMA,
                "command": "logs",
                "dir": invocation.dir,
                "logs": logs,
            });
            let summary = if logs.trim().is_empty() {
                "(no log lines)".to_string()
            } else {
                logs
            };
            let mut r = CallToolResult::structured(doc);
            r.content = vec![ContentBlock::text(summary)];
            return r;
        }
        (invoke::Output::Json, Some(doc)) => (summarize(name, &doc), doc),
        (invoke::Output::Json, None) => {
            return failed(
                &format!("dev-prism {name} printed no JSON document"),
                Some("run the same command with --json in a terminal to see what it prints"),
                None,
            )
        }
    };
    // `structured` also puts the document in as text; the summary goes first.
    let mut r = CallToolResult::structured(doc);
    r.content.insert(0, ContentBlock::text(summary));
    r
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `dir status, PORT=…, PORT=…` for a session object.
fn session_line(s: &Value) -> String {
    let ports: Vec<String> = s
        .get("vars")
        .and_then(Value::as_object)
        .map(|vars| {
            vars.iter()
                .filter(|(k, _)| k.ends_with("_PORT") || k.ends_with("_URL"))
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let mut line = format!("{} {}", str_of(s, "dir"), str_of(s, "status"));
    if !ports.is_empty() {
        line.push_str(&format!(", {}", ports.join(", ")));
    }
    line
}

/// The one-line text of a command's document.
fn summarize(name: &str, doc: &Value) -> String {
    let kept = doc
        .get("kept")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .map(|k| {
            let k: Vec<&str> = k.iter().filter_map(Value::as_str).collect();
            format!("; kept: {}", k.join("; "))
        })
        .unwrap_or_default();
    match name {
        "list" => {
            let sessions = doc
                .get("sessions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let lines: Vec<String> = sessions.iter().map(session_line).collect();
            format!("{} session(s): {}", sessions.len(), lines.join(" | "))
        }
        "env" => {
            let n = doc
                .get("vars")
                .and_then(Value::as_object)
                .map_or(0, |v| v.len());
            format!("{n} variables of the session in {}", str_of(doc, "dir"))
        }
        "plan" | "stop" | "destroy" => {
            let s = doc.get("summary").cloned().unwrap_or(Value::Null);
            let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
            let counts = format!(
                "{} to add, {} to change, {} to replace, {} to destroy, {} to run",
                n("add"),
                n("change"),
                n("replace"),
                n("destroy"),
                n("run")
            );
            let dir = str_of(doc, "dir");
            match (name, doc.get("changes").and_then(Value::as_bool)) {
                ("plan", Some(false)) => format!("No changes in {dir}{kept}"),
                ("plan", _) => format!("Plan for {dir}: {counts}{kept}"),
                (_, Some(false)) => format!("{name} {dir}: nothing to do{kept}"),
                _ => format!("{name} {dir}: done ({counts}){kept}"),
            }
        }
        _ => match doc.get("session") {
            Some(s) => format!("{name}: {}", session_line(s)),
            None => format!("{name}: done"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> invoke::Invocation {
        invoke::invocation("info", json!({"dir": "/s"}).as_object().unwrap()).unwrap()
    }

    fn texts(r: &CallToolResult) -> Vec<String> {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    }

    #[test]
    fn a_failed_command_is_a_tool_error_with_message_and_hint() {
        let doc = json!({"schema": "dev-prism/1", "command": "info", "error": {
            "exit_code": 2, "kind": "usage", "message": "directory /x does not exist",
            "hint": "pass an existing session directory"}});
        let out = ChildOutput {
            code: Some(2),
            stdout: doc.to_string().into_bytes(),
            stderr: "error: directory /x does not exist\n".into(),
        };
        let r = answer("info", &inv(), Ok(out));
        assert_eq!(r.is_error, Some(true));
        assert_eq!(
            texts(&r),
            ["error: directory /x does not exist\nhint: pass an existing session directory"]
        );
        assert_eq!(r.structured_content, Some(doc));
        let crashed = ChildOutput {
            code: None,
            stdout: vec![],
            stderr: String::new(),
        };
        let r = answer("info", &inv(), Ok(crashed));
        assert!(texts(&r)[0].contains("killed by a signal"));
    }

    #[test]
    fn a_document_becomes_structured_content_and_one_line() {
        let doc = json!({"schema": "dev-prism/1", "command": "info", "session": {
            "dir": "/s", "status": "running", "vars": {"COMPOSE_PROJECT_NAME": "p", "WEB_PORT": "32881"}}});
        let out = ChildOutput {
            code: Some(0),
            stdout: doc.to_string().into_bytes(),
            stderr: String::new(),
        };
        let r = answer("info", &inv(), Ok(out));
        assert_eq!(r.is_error, Some(false));
        assert_eq!(texts(&r)[0], "info: /s running, WEB_PORT=32881");
        assert_eq!(r.structured_content, Some(doc));
        let plan = json!({"dir": "/s", "changes": false, "summary": {}, "kept": ["worktree /s: uncommitted changes"]});
        assert_eq!(
            summarize("plan", &plan),
            "No changes in /s; kept: worktree /s: uncommitted changes"
        );
    }
}
