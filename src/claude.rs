//! The Claude Code integration's texts, and the pure merge of our CLAUDE.md section.

/// `.claude/commands/dev-prism.md`.
pub const COMMAND_FILE: &str = ".claude/commands/dev-prism.md";
pub const CLAUDE_MD: &str = "CLAUDE.md";
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

#[cfg(test)]
mod tests {
    use super::*;

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
