use std::path::Path;

use crate::adapters::fs;
use crate::claude::{self, Merge};
use crate::context;
use crate::error::{Error, Result};
use crate::ui::Ui;

/// Install the Claude Code integration: a command (`/dev-prism`), an Agent Skill, the MCP server
/// in `.mcp.json`, and a CLAUDE.md section describing this tool.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rewrite our command and skill files, our CLAUDE.md section and our `.mcp.json` entry
    /// (only those) if they were edited.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<i32> {
    let git = crate::adapters::git::cli(ui.trace());
    let cwd = context::session_dir(None)?;
    let root = git.toplevel(&cwd)?.unwrap_or(cwd);
    // Every target is resolved before anything is written: a link that stays inside the
    // repository (`CLAUDE.md -> AGENTS.md`) is followed, one that leaves it refuses the whole
    // command while nothing has been made yet.
    let real_root = std::fs::canonicalize(&root)
        .map_err(|e| Error::io("could not resolve", root.clone(), e))?;
    let target = |rel: &str| fs::resolve_inside(&root, &root.join(rel));
    let command = target(claude::COMMAND_FILE)?;
    let skill = target(claude::SKILL_FILE)?;
    let md = target(claude::CLAUDE_MD)?;
    let mcp = target(claude::MCP_FILE)?;
    let current_mcp = fs::read(&mcp)?.map(|(t, _)| t);
    let mcp_merge = claude::merge_mcp(current_mcp.as_deref(), args.force).map_err(|message| {
        Error::usage(message).with_hint(format!(
            "fix {} (left unchanged) and run again",
            claude::MCP_FILE
        ))
    })?;
    let current_md = fs::read(&md)?.map(|(t, _)| t);
    let md_merge = claude::merge(current_md.as_deref(), args.force);
    install(
        &real_root,
        claude::COMMAND_FILE,
        &command,
        claude::COMMAND_TEXT,
        args.force,
        ui,
    )?;
    install(
        &real_root,
        claude::SKILL_FILE,
        &skill,
        claude::SKILL_TEXT,
        args.force,
        ui,
    )?;
    match md_merge {
        Merge::Write(text) => {
            fs::write_atomic(&real_root, &md, text.as_bytes(), 0o644)?;
            ui.out(&format!("{}: dev-prism section written", claude::CLAUDE_MD));
        }
        Merge::Unchanged => ui.out(&format!(
            "{}: dev-prism section already up to date",
            claude::CLAUDE_MD
        )),
        Merge::Differs => ui.out(&format!(
            "{}: dev-prism section was edited; kept (use --force to rewrite only that section)",
            claude::CLAUDE_MD
        )),
    }
    match mcp_merge {
        Merge::Write(text) => {
            fs::write_atomic(&real_root, &mcp, text.as_bytes(), 0o644)?;
            ui.out(&format!(
                "{}: MCP server `{}` registered",
                claude::MCP_FILE,
                claude::MCP_SERVER
            ));
        }
        Merge::Unchanged => ui.out(&format!(
            "{}: MCP server `{}` already registered",
            claude::MCP_FILE,
            claude::MCP_SERVER
        )),
        Merge::Differs => ui.out(&format!(
            "{}: MCP server `{}` was edited; kept (use --force to rewrite only that entry)",
            claude::MCP_FILE,
            claude::MCP_SERVER
        )),
    }
    Ok(0)
}

/// Writes one file we own entirely, unless it exists and differs (then only with `force`).
fn install(root: &Path, rel: &str, path: &Path, text: &str, force: bool, ui: &Ui) -> Result<()> {
    match fs::read(path)? {
        Some((current, _)) if current == text => ui.out(&format!("{rel}: already up to date")),
        Some(_) if !force => ui.out(&format!(
            "{rel}: exists and differs; kept (use --force to rewrite it)"
        )),
        existing => {
            fs::create_parents(root, path)?;
            fs::write_atomic(root, path, text.as_bytes(), 0o644)?;
            let verb = if existing.is_some() {
                "rewritten"
            } else {
                "installed"
            };
            ui.out(&format!("{rel}: {verb}"));
        }
    }
    Ok(())
}
