//! The Claude Code integration's texts, and the pure merges of our CLAUDE.md section and our
//! `.mcp.json` entry.

/// `.claude/commands/dev-prism.md`.
pub const COMMAND_FILE: &str = ".claude/commands/dev-prism.md";
pub const CLAUDE_MD: &str = "CLAUDE.md";
/// The Agent Skill Claude Code loads on its own when the task fits its description.
pub const SKILL_FILE: &str = ".claude/skills/dev-prism/SKILL.md";
/// The project's MCP servers (Claude Code, and other clients reading the same format).
pub const MCP_FILE: &str = ".mcp.json";
const BEGIN: &str = "<!-- dev-prism:begin (managed by `dev-prism claude`) -->";
const END: &str = "<!-- dev-prism:end -->";

/// The slash command: how an agent works with its own isolated session.
pub const COMMAND_TEXT: &str = r#"---
description: Work in an isolated dev-prism session (own worktree, own Docker services on random ports)
---

You are working with dev-prism, which gives this session its own git worktree and its own
Docker Compose project whose published ports are random host ports on 127.0.0.1.

1. If the current directory has no session (`dev-prism info` says "no session found"), create
   one: `dev-prism create` (new worktree under the sessions directory, printed on the first
   line of stdout; `cd` there) or `dev-prism create --in-place` (this directory).
   Add `--mode native` to run only infrastructure in Docker and the apps on the host, or
   `--without web,admin` to leave app profiles out.
2. Ports live in `.env.session` in the session directory (`<SERVICE>_PORT`, and
   `<SERVICE>_<CONTAINERPORT>_PORT` for further ports; `COMPOSE_PROJECT_NAME`, `SESSION_DIR`).
   Web ports also have `<SERVICE>_URL`: the session's stable name through dev-prism's local
   proxy (e.g. `http://web.feat-x.shop.localhost:7355`, the same after every restart; its own
   cookies), or the direct URL when the proxy is off. Open and test the app at that URL.
   Read it or run `set -a; . ./.env.session; set +a` before starting tools. Never assume
   default ports such as 5432 or 3000: other sessions use them.
3. `dev-prism info` shows services, health and ports (and restores a missing .env.session);
   `dev-prism list` shows every running session; `dev-prism logs -n 100 --no-follow` shows logs.
4. After changing docker-compose.yml or switching branches: `dev-prism plan` shows what would
   change, `dev-prism apply` converges (both are safe to repeat).
5. When done: `dev-prism stop` (keeps containers and data) or `dev-prism destroy` (removes the
   containers and the worktree; a worktree with uncommitted work or a branch with unmerged
   commits is kept and reported).

Exit codes: 0 ok, 1 failure, 2 bad input, 3 Docker unreachable, 4 busy (another dev-prism
command is working on the directory: wait and retry), 5 changes pending (`plan
--detailed-exitcode`, `heal --check`).
"#;

/// The Agent Skill: `name`/`description` front matter, then how to use the session's ports.
pub const SKILL_TEXT: &str = r#"---
name: dev-prism
description: Use when starting, testing or connecting to this project's services (databases, web servers, APIs in docker-compose.yml) — dev-prism runs them per session on random host ports, listed in .env.session; read the ports there instead of assuming defaults.
---

# Working in a dev-prism session

This repository runs its Docker Compose services per session: every session (a git worktree,
or a directory with `--in-place`) has its own containers on **random host ports** on
127.0.0.1. Default ports such as 5432, 6379 or 3000 belong to someone else's session.

## Find the ports

- Read `.env.session` in the session directory: `COMPOSE_PROJECT_NAME`, `SESSION_DIR`,
  `<SERVICE>_PORT` for each service's first published port and
  `<SERVICE>_<CONTAINERPORT>_PORT` for further ones.
- Web ports also have `<SERVICE>_URL` (`<SERVICE>_<CONTAINERPORT>_URL` for further ones): the
  session's own name through dev-prism's local proxy, such as
  `http://web.feat-x.shop.localhost:7355`. It stays the same when the session restarts (the
  port behind it changes) and keeps this session's cookies apart from other sessions'. Use
  it for browsers, OAuth redirects and end-to-end tests; `dev-prism info` shows it with the
  direct `127.0.0.1:PORT` alongside.
- Or run `dev-prism env` (shell `export` lines; `--json` for an object), or call the `env`
  tool of the `dev-prism` MCP server with the absolute session directory.
- Run tools with the ports in their environment: `dev-prism exec -- npm test`, or
  `set -a; . ./.env.session; set +a` first.

## No session yet?

`dev-prism info` says "no session found": create one with `dev-prism create` (a new worktree;
its directory is the first line of stdout — work there) or `dev-prism create --in-place`
(this directory). The MCP server offers the same as tools: `create`, `info`, `list`, `plan`,
`apply`, `start`, `stop`, `destroy`, `logs`, `env`, and `proxy_focus` (makes the short name
`<service>.<project>.localhost` reach this session: one URL to register with an OAuth
provider).

## Changing things

After editing docker-compose.yml or switching branches, `dev-prism plan` shows what would
change and `dev-prism apply` converges. `dev-prism logs -n 100 --no-follow` shows recent logs.
When done: `dev-prism stop` keeps the data; `dev-prism destroy` removes the session but keeps
uncommitted work and unmerged branches unless `--force`.
"#;

/// Our CLAUDE.md section, markers included.
pub fn section() -> String {
    format!(
        "{BEGIN}\n## Parallel sessions (dev-prism)\n\n\
This repository uses dev-prism: each session (person or agent) works in its own git worktree\n\
with its own Docker Compose project on random host ports. Ports are in `.env.session` in the\n\
session directory — never assume default ports. Commands: `dev-prism create [--in-place]`,\n\
`info`, `list`, `plan`, `apply`, `logs`, `stop`, `start`, `destroy`. Run `/dev-prism` for the\n\
full workflow.\n{END}\n"
    )
}

/// What to do with CLAUDE.md.
#[derive(Debug, PartialEq, Eq)]
pub enum Merge {
    /// Write this new text.
    Write(String),
    /// Our section is already there, as it should be.
    Unchanged,
    /// Our section is there but differs; only `--force` replaces it.
    Differs,
}

/// Merges our section into CLAUDE.md's text (`None`: no file yet). Everything outside the
/// markers is the user's and is kept byte for byte.
pub fn merge(existing: Option<&str>, force: bool) -> Merge {
    let ours = section();
    let Some(text) = existing else {
        return Merge::Write(ours);
    };
    match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let end = e + END.len();
            let end = if text[end..].starts_with('\n') {
                end + 1
            } else {
                end
            };
            if text[b..end] == ours {
                Merge::Unchanged
            } else if force {
                Merge::Write(format!("{}{ours}{}", &text[..b], &text[end..]))
            } else {
                Merge::Differs
            }
        }
        _ => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            Merge::Write(format!("{text}{sep}{ours}"))
        }
    }
}

/// Our `.mcp.json` entry under `mcpServers`.
pub const MCP_SERVER: &str = "dev-prism";

/// Our entry's text (a literal: `json!` would sort its keys).
const MCP_ENTRY: &str = "{\n  \"command\": \"dev-prism\",\n  \"args\": [\"mcp\"]\n}";

fn mcp_entry() -> serde_json::Value {
    serde_json::from_str(MCP_ENTRY).unwrap_or_default()
}

type RawMap = indexmap::IndexMap<String, Box<serde_json::value::RawValue>>;

/// A JSON object written with two-space indentation whose values are JSON texts at `depth`
/// (kept as they are: other tools' entries are not reformatted).
fn write_object(entries: &[(String, String)], depth: usize) -> String {
    if entries.is_empty() {
        return "{}".into();
    }
    let pad = "  ".repeat(depth + 1);
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| {
            let key = serde_json::to_string(k).unwrap_or_default();
            format!("{pad}{key}: {v}")
        })
        .collect();
    format!("{{\n{}\n{}}}", body.join(",\n"), "  ".repeat(depth))
}

/// Our entry, pretty-printed for `depth`.
fn entry_text(depth: usize) -> String {
    MCP_ENTRY.replace('\n', &format!("\n{}", "  ".repeat(depth)))
}

fn raw_entries(map: &RawMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.get().to_string()))
        .collect()
}

/// Merges our server into `.mcp.json`'s text (`None`: no file yet). Every other key and
/// server keeps its place and its text; a differing `dev-prism` entry is replaced, in place,
/// only with `force`. `Err` when the file is not a JSON object (it is then left alone).
pub fn merge_mcp(existing: Option<&str>, force: bool) -> Result<Merge, String> {
    let top: RawMap = match existing {
        None => RawMap::new(),
        Some(text) if text.trim().is_empty() => RawMap::new(),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("{MCP_FILE} is not a JSON object: {e}"))?,
    };
    let servers: RawMap = match top.get("mcpServers") {
        None => RawMap::new(),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| format!("`mcpServers` in {MCP_FILE} is not an object: {e}"))?,
    };
    let ours = entry_text(2);
    match servers.get(MCP_SERVER) {
        Some(raw)
            if serde_json::from_str::<serde_json::Value>(raw.get()).ok() == Some(mcp_entry()) =>
        {
            return Ok(Merge::Unchanged)
        }
        Some(_) if !force => return Ok(Merge::Differs),
        _ => {}
    }
    let mut entries = raw_entries(&servers);
    match entries.iter_mut().find(|(k, _)| k == MCP_SERVER) {
        Some(e) => e.1 = ours,
        None => entries.push((MCP_SERVER.to_string(), ours)),
    }
    let servers_text = write_object(&entries, 1);
    let mut top_entries = raw_entries(&top);
    match top_entries.iter_mut().find(|(k, _)| k == "mcpServers") {
        Some(e) => e.1 = servers_text,
        None => top_entries.push(("mcpServers".into(), servers_text)),
    }
    Ok(Merge::Write(format!("{}\n", write_object(&top_entries, 0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_the_mcp_server_keeping_everything_else() {
        let Ok(Merge::Write(fresh)) = merge_mcp(None, false) else {
            panic!()
        };
        assert_eq!(
            fresh,
            "{\n  \"mcpServers\": {\n    \"dev-prism\": {\n      \"command\": \"dev-prism\",\n      \"args\": [\"mcp\"]\n    }\n  }\n}\n"
        );
        assert_eq!(merge_mcp(Some(&fresh), false), Ok(Merge::Unchanged));

        // Other servers and keys keep their order and their exact text.
        let theirs = r#"{
  "zeta": 1,
  "mcpServers": {
    "zz": {"command": "zz", "env": {"B": "2", "A": "1"}},
    "aa": { "url": "http://x" }
  },
  "alpha": [3, 1]
}"#;
        let Ok(Merge::Write(merged)) = merge_mcp(Some(theirs), false) else {
            panic!()
        };
        let order: Vec<usize> = [
            "\"zeta\": 1",
            "\"zz\": {\"command\": \"zz\", \"env\": {\"B\": \"2\", \"A\": \"1\"}}",
            "\"aa\": { \"url\": \"http://x\" }",
            "\"dev-prism\": {",
            "\"alpha\": [3, 1]",
        ]
        .iter()
        .map(|n| {
            merged
                .find(n)
                .unwrap_or_else(|| panic!("{n} missing in {merged}"))
        })
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{merged}");
        let v: serde_json::Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(v["mcpServers"]["dev-prism"], mcp_entry());
        assert_eq!(merge_mcp(Some(&merged), false), Ok(Merge::Unchanged));

        // An edited entry is kept unless forced; forcing replaces it in place.
        let edited = merged.replace("\"mcp\"", "\"mcp\", \"-v\"");
        assert_eq!(merge_mcp(Some(&edited), false), Ok(Merge::Differs));
        assert_eq!(
            merge_mcp(Some(&edited), true),
            Ok(Merge::Write(merged.clone()))
        );

        // A file without servers, and one that is not JSON.
        let Ok(Merge::Write(added)) = merge_mcp(Some("{\"x\": true}\n"), false) else {
            panic!()
        };
        assert!(
            added.starts_with("{\n  \"x\": true,\n  \"mcpServers\": {"),
            "{added}"
        );
        assert!(merge_mcp(Some("{ not json"), false).is_err());
        assert!(merge_mcp(Some("{\"mcpServers\": []}"), false).is_err());
    }

    #[test]
    fn the_skill_has_the_front_matter_claude_code_reads() {
        let front = SKILL_TEXT
            .strip_prefix("---\n")
            .and_then(|t| t.split_once("\n---\n"))
            .map(|(f, _)| f)
            .expect("front matter");
        assert!(front.lines().any(|l| l == "name: dev-prism"), "{front}");
        let description = front
            .lines()
            .find_map(|l| l.strip_prefix("description: "))
            .expect("description");
        assert!(description.contains(".env.session") && description.len() <= 1024);
        assert!(SKILL_TEXT.contains("dev-prism env"));
        // The session's names: the URL variables and the focus tool.
        assert!(SKILL_TEXT.contains("<SERVICE>_URL") && SKILL_TEXT.contains("proxy_focus"));
        assert!(COMMAND_TEXT.contains("<SERVICE>_URL"));
    }

    #[test]
    fn merges_idempotently_and_keeps_user_text() {
        let Merge::Write(first) = merge(Some("# My project\nRules.\n"), false) else {
            panic!()
        };
        assert!(first.starts_with("# My project\nRules.\n\n<!-- dev-prism:begin"));
        assert_eq!(merge(Some(&first), false), Merge::Unchanged);
        assert_eq!(merge(Some(&first), true), Merge::Unchanged);
        let edited = first.replace("never assume", "do not assume") + "More user text.\n";
        assert_eq!(merge(Some(&edited), false), Merge::Differs);
        let Merge::Write(fixed) = merge(Some(&edited), true) else {
            panic!()
        };
        assert_eq!(fixed, format!("{first}More user text.\n"));
        assert_eq!(merge(None, false), Merge::Write(section()));
    }

    #[test]
    fn describes_this_tool() {
        for needle in [
            ".env.session",
            "dev-prism plan",
            "dev-prism apply",
            "--in-place",
            "--mode native",
        ] {
            assert!(COMMAND_TEXT.contains(needle), "{needle}");
        }
    }
}
