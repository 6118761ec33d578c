use crate::adapters::{fs, git};
use crate::claude::{self, Merge};
use crate::context;
use crate::error::{Error, Result};
use crate::ui::Ui;

/// Install a Claude Code command (`/dev-prism`) and a CLAUDE.md section describing this tool.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rewrite our command file and our CLAUDE.md section (only those) if they were edited.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<i32> {
    let cwd = context::session_dir(None)?;
    let root = git::toplevel(&cwd)?.unwrap_or(cwd);
    let cmd = root.join(claude::COMMAND_FILE);
    match fs::read(&cmd)? {
        Some((text, _)) if text == claude::COMMAND_TEXT => {
            ui.out(&format!("{}: already up to date", claude::COMMAND_FILE))
        }
        Some(_) if !args.force => ui.out(&format!(
            "{}: exists and differs; kept (use --force to rewrite it)",
            claude::COMMAND_FILE
        )),
        existing => {
            if let Some(parent) = cmd.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::failure(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            fs::write_atomic(&root, &cmd, claude::COMMAND_TEXT.as_bytes(), 0o644)?;
            let verb = if existing.is_some() {
                "rewritten"
            } else {
                "installed"
            };
            ui.out(&format!("{}: {verb}", claude::COMMAND_FILE));
        }
    }
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
    Ok(0)
}
