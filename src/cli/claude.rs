use std::path::Path;

use crate::adapters::{fs, git};
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
    let cwd = context::session_dir(None)?;
    let root = git::toplevel(ui.trace(), &cwd)?.unwrap_or(cwd);
    install(
        &root,
        claude::COMMAND_FILE,
        claude::COMMAND_TEXT,
        args.force,
        ui,
    )?;
    install(
        &root,
        claude::SKILL_FILE,
        claude::SKILL_TEXT,
        args.force,
        ui,
    )?;
    let md = root.join(claude::CLAUDE_MD);
    let current = fs::read(&md)?.map(|(t, _)| t);
    match claude::merge(current.as_deref(), args.force) {
        Merge::Write(text) => {
            fs::write_atomic(&root, &md, text.as_bytes(), 0o644)?;
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
    let mcp = root.join(claude::MCP_FILE);
    let current = fs::read(&mcp)?.map(|(t, _)| t);
    match claude::merge_mcp(current.as_deref(), args.force) {
        Ok(Merge::Write(text)) => {
            fs::write_atomic(&root, &mcp, text.as_bytes(), 0o644)?;
            ui.out(&format!(
                "{}: MCP server `{}` registered",
                claude::MCP_FILE,
                claude::MCP_SERVER
            ));
        }
        Ok(Merge::Unchanged) => ui.out(&format!(
            "{}: MCP server `{}` already registered",
            claude::MCP_FILE,
            claude::MCP_SERVER
        )),
        Ok(Merge::Differs) => ui.out(&format!(
            "{}: MCP server `{}` was edited; kept (use --force to rewrite only that entry)",
            claude::MCP_FILE,
            claude::MCP_SERVER
        )),
        Err(message) => {
            return Err(Error::usage(message).with_hint(format!(
                "fix {} (left unchanged) and run again",
                claude::MCP_FILE
            )))
        }
    }
    Ok(0)
}

/// Writes one file we own entirely, unless it exists and differs (then only with `force`).
fn install(root: &Path, rel: &str, text: &str, force: bool, ui: &Ui) -> Result<()> {
    let path = root.join(rel);
    match fs::read(&path)? {
        Some((current, _)) if current == text => ui.out(&format!("{rel}: already up to date")),
        Some(_) if !force => ui.out(&format!(
            "{rel}: exists and differs; kept (use --force to rewrite it)"
        )),
        existing => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::failure(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            fs::write_atomic(root, &path, text.as_bytes(), 0o644)?;
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
