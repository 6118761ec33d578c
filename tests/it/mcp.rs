//! `dev-prism mcp` through a real MCP client (the official Python SDK, tests/mcp/client.py) on
//! the real engine, and the protocol's framing and end of input with raw JSON-RPC lines.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_dev-prism");

/// A Python that can `import mcp`: `DEV_PRISM_MCP_PYTHON`, the venv `.ci/run` makes
/// (`target/mcp-venv`), or `python3`. Without one the test is skipped, saying so — or fails
/// when `DEV_PRISM_REQUIRE_DOCKER=1` (CI), which makes every prerequisite required.
fn mcp_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-venv/bin/python");
    let candidates = std::env::var_os("DEV_PRISM_MCP_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")]);
    for py in candidates {
        let works = Command::new(&py)
            .args(["-c", "import mcp.client.stdio"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Some(py);
        }
    }
    needs(
        "a Python with the `mcp` package (.ci/run's install step: python3 -m venv \
         target/mcp-venv && target/mcp-venv/bin/pip install mcp)",
        false,
    );
    None
}

/// The Python client, killed if the test fails before it ends.
struct Client {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Client {
    fn start(py: &Path, mode: &str, repo: &Repo) -> Client {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
        let mut child = Command::new(py)
            .arg(script)
            .args([BIN, mode])
            .arg(&repo.path)
            .env("DEV_PRISM_COMPOSE", repo.flavor.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Client { child, lines }
    }

    /// The client's next result line (a JSON object); a generous bound only against hangs.
    fn next(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(600))
            .unwrap_or_else(|_| panic!("the MCP client ended early: {:?}", self.child.wait()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the MCP client failed: {status}");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn mcp_client_creates_inspects_and_destroys_a_session() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let Some(py) = mcp_python() else { return };
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let mut client = Client::start(&py, "journey", &repo);
    let created = client.next();
    let dir = PathBuf::from(created["dir"].as_str().unwrap());
    assert!(dir.starts_with(repo.sessions_dir()), "{dir:?}");
    // The ports the `env` tool gave are the session's, and they answer.
    let vars = &created["vars"];
    let web: u16 = vars["WEB_PORT"].as_str().unwrap().parse().unwrap();
    let echo: u16 = vars["ECHO_PORT"].as_str().unwrap().parse().unwrap();
    assert!(http_answers(web));
    assert!(echo_answers(echo));
    assert_eq!(
        env_vars(&dir.join(".env.session"))["WEB_PORT"],
        web.to_string()
    );
    client
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    assert_eq!(client.next()["destroyed"], dir.to_string_lossy().as_ref());
    client.finish();
    assert!(containers_under(&repo.root).is_empty());
    assert!(!dir.exists());
}

/// A service that stays "starting" for an hour: create waits for it until cancelled.
const NEVER_READY: &str = r#"services:
  slow:
    image: dev-prism-test-busybox:2
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1h
      start_period: 1h
"#;

#[test]
fn mcp_cancelled_create_rolls_back() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let Some(py) = mcp_python() else { return };
    let repo = Repo::new(Flavor::V2, NEVER_READY);
    // Far longer than the client waits: only the cancel can end create in time.
    repo.write("session.config.yaml", "readyTimeout: 3600\n");
    repo.commit("slow readiness");
    let mut client = Client::start(&py, "cancel", &repo);
    let done = client.next();
    assert!(done["rolled_back"].is_string(), "{done}");
    client.finish();
    assert!(containers_under(&repo.root).is_empty());
    let project = repo.project_of(&repo.sessions_dir().join("mcp-cancel"));
    assert!(by_project("network", &project).is_empty());
    assert!(repo.git(&["branch", "--list", "mcp-cancel"]).is_empty());
    assert!(!repo.git(&["worktree", "list"]).contains("mcp-cancel"));
}

fn rpc(id: u64, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// Runs the server on `input` (then end of input); returns its exit code and stdout lines.
fn serve(input: &str) -> (Option<i32>, Vec<Value>) {
    serve_env(input, &[])
}

fn serve_env(input: &str, env: &[(&str, &std::path::Path)]) -> (Option<i32>, Vec<Value>) {
    let mut child = Command::new(BIN)
        .arg("mcp")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {l}")))
        .collect();
    (out.status.code(), lines)
}

#[test]
fn mcp_speaks_only_protocol_on_stdout_and_exits_at_end_of_input() {
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "1"}}),
    );
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let missing = std::env::temp_dir().join("dev-prism-no-such-dir-for-mcp");
    let input = [
        init,
        initialized.to_string(),
        rpc(2, "tools/list", json!({})),
        rpc(
            3,
            "tools/call",
            json!({"name": "info", "arguments": {"dir": missing}}),
        ),
        rpc(
            4,
            "tools/call",
            json!({"name": "list", "arguments": {"all": "yes"}}),
        ),
        rpc(5, "tools/list", json!({})),
    ]
    .join("\n")
        + "\n";
    let (code, lines) = serve(&input);
    assert_eq!(code, Some(0), "{lines:?}");
    let by_id = |id: u64| {
        lines
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {id}: {lines:?}"))
    };
    assert_eq!(by_id(1)["result"]["serverInfo"]["name"], "dev-prism");
    assert_eq!(by_id(2)["result"]["tools"].as_array().unwrap().len(), 11);
    let bad = &by_id(3)["result"];
    assert_eq!(bad["isError"], true, "{bad}");
    assert!(bad["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert_eq!(by_id(4)["result"]["isError"], true);
    // Still serving after the errors.
    assert_eq!(by_id(5)["result"]["tools"].as_array().unwrap().len(), 11);
    assert!(lines.iter().all(|l| l["jsonrpc"] == "2.0"), "{lines:?}");

    // End of input before anything: a clean exit, nothing on stdout.
    assert_eq!(serve(""), (Some(0), vec![]));
}

#[test]
fn proxy_focus_writes_the_projects_focus_in_the_state_directory() {
    let state = tempfile::tempdir().unwrap();
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write("session.config.yaml", "projectName: My Shop\n");
    let input = [
        rpc(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "1"}}),
        ),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        rpc(
            2,
            "tools/call",
            json!({"name": "proxy_focus", "arguments": {"dir": repo.path}}),
        ),
        rpc(
            3,
            "tools/call",
            json!({"name": "proxy_focus", "arguments": {"dir": "relative"}}),
        ),
    ]
    .join("\n")
        + "\n";
    let (code, lines) = serve_env(&input, &[("XDG_STATE_HOME", state.path())]);
    assert_eq!(code, Some(0), "{lines:?}");
    let answer = |id: u64| lines.iter().find(|l| l["id"] == id).unwrap()["result"].clone();
    let focused = answer(2);
    assert_ne!(focused["isError"], true, "{focused}");
    assert_eq!(focused["structuredContent"]["project"], "my-shop");
    assert!(
        focused["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("<service>.my-shop.localhost now reaches it"),
        "{focused}"
    );
    let file = state.path().join("dev-prism/focus/my-shop");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        repo.path.to_string_lossy()
    );
    assert_eq!(answer(3)["isError"], true);
}

#[test]
fn claude_registers_the_mcp_server_and_installs_the_skill() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let theirs = "{\n  \"mcpServers\": {\n    \"other\": {\"command\": \"other-server\", \"args\": []}\n  },\n  \"z\": 1\n}\n";
    repo.write(".mcp.json", theirs);
    let out = ok(&dp_env(&repo.path, &["claude"], &[]));
    assert!(
        out.contains(".mcp.json: MCP server `dev-prism` registered"),
        "{out}"
    );
    assert!(
        out.contains(".claude/skills/dev-prism/SKILL.md: installed"),
        "{out}"
    );
    let merged = std::fs::read_to_string(repo.path.join(".mcp.json")).unwrap();
    let other = merged
        .find("\"other\": {\"command\": \"other-server\", \"args\": []}")
        .expect(&merged);
    let ours = merged.find("\"dev-prism\"").expect(&merged);
    let z = merged.find("\"z\": 1").expect(&merged);
    assert!(other < ours && ours < z, "{merged}");
    let v: Value = serde_json::from_str(&merged).unwrap();
    assert_eq!(
        v["mcpServers"]["dev-prism"],
        json!({"command": "dev-prism", "args": ["mcp"]})
    );
    let skill =
        std::fs::read_to_string(repo.path.join(".claude/skills/dev-prism/SKILL.md")).unwrap();
    assert!(
        skill.starts_with("---\nname: dev-prism\ndescription: "),
        "{skill}"
    );

    let again = ok(&dp_env(&repo.path, &["claude"], &[]));
    assert!(again.contains("`dev-prism` already registered"), "{again}");
    assert_eq!(
        std::fs::read_to_string(repo.path.join(".mcp.json")).unwrap(),
        merged
    );

    // A file that is not JSON is left alone, and said so.
    repo.write(".mcp.json", "{ broken");
    let out = dp_env(&repo.path, &["claude"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(".mcp.json is not a JSON object"));
    assert_eq!(
        std::fs::read_to_string(repo.path.join(".mcp.json")).unwrap(),
        "{ broken"
    );
}

/// The client goes away (its input ends) while `create` runs: the call is cancelled at once and
/// rolls back, instead of finishing a session no client will ever hear of.
#[test]
fn mcp_end_of_input_during_create_rolls_it_back() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let mut child = Command::new(BIN)
        .arg("mcp")
        .env("DEV_PRISM_COMPOSE", "v2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "1"}}),
    );
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let create = rpc(
        2,
        "tools/call",
        json!({"name": "create", "arguments": {"repo": repo.path, "branch": "gone"}}),
    );
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{init}\n{initialized}\n{create}").unwrap();
    // Once create made the worktree, the client goes away.
    let made = repo.sessions_dir().join("gone").join(".git");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !made.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains("interrupted by SIGINT"), "{answer}");
    assert!(containers_under(&repo.root).is_empty());
    assert!(repo.git(&["branch", "--list", "gone"]).is_empty());
    assert!(!repo.git(&["worktree", "list"]).contains("gone"));
}

#[test]
fn mcp_answers_malformed_lines_and_non_object_arguments_as_json_rpc_requires() {
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "1"}}),
    );
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let input = [
        init,
        initialized.to_string(),
        "{not json".to_string(),
        rpc(7, "tools/call", json!({"name": "list", "arguments": "x"})),
        rpc(8, "tools/call", json!({"name": "list", "arguments": [1]})),
        rpc(9, "tools/list", json!({})),
    ]
    .join("\n")
        + "\n";
    let (code, lines) = serve(&input);
    assert_eq!(code, Some(0), "{lines:?}");
    let parse: Vec<&Value> = lines
        .iter()
        .filter(|l| l["error"]["code"] == -32700)
        .collect();
    assert_eq!(parse.len(), 1, "{lines:?}");
    assert_eq!(parse[0]["id"], Value::Null);
    for id in [7, 8] {
        let a = lines.iter().find(|l| l["id"] == id).unwrap();
        assert_eq!(a["error"]["code"], -32602, "{a}");
    }
    // Still serving, and every line on stdout is JSON-RPC.
    let list = lines.iter().find(|l| l["id"] == 9).unwrap();
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 11);
    assert!(lines.iter().all(|l| l["jsonrpc"] == "2.0"), "{lines:?}");
    // A malformed first line, then end of input: the parse error still goes out.
    let (code, lines) = serve("{bad\n");
    assert_eq!(code, Some(0));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["error"]["code"], -32700);
}
