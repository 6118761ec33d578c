use crate::adapters::hooks;
use crate::context;
use crate::error::{Error, Result};
use crate::ui::Ui;

/// Install or remove git hooks (post-checkout, post-merge, post-rewrite) that run
/// `dev-prism heal` in the worktree they fire in.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Install the hooks (idempotent; an existing hook is kept and chained).
    Install,
    /// Remove only what `install` added, restoring a chained hook.
    Uninstall,
}

pub fn run(args: Args, ui: &Ui) -> Result<i32> {
    let git = crate::adapters::git::cli(ui.trace());
    let cwd = context::session_dir(None)?;
    let Some(top) = git.toplevel(&cwd)? else {
        return Err(
            Error::usage(format!("{} is not inside a git repository", cwd.display()))
                .with_hint("run the command inside the repository whose sessions should heal"),
        );
    };
    let dir = git.hooks_dir(&top)?;
    let results = match args.action {
        Action::Install => {
            let bin = std::env::current_exe()
                .map_err(|e| Error::failure(format!("cannot find the dev-prism binary: {e}")))?;
            hooks::install(&dir, &bin)?
        }
        Action::Uninstall => hooks::uninstall(&dir)?,
    };
    for (name, outcome) in results {
        let what = match outcome {
            hooks::Outcome::Installed => "installed",
            hooks::Outcome::Chained => "installed (your existing hook runs first)",
            hooks::Outcome::Unchanged => "already installed",
            hooks::Outcome::Removed => "removed",
            hooks::Outcome::Restored => "removed (your original hook is back)",
            hooks::Outcome::Absent => "not installed",
        };
        ui.out(&format!("{}: {what}", dir.join(name).display()));
    }
    Ok(0)
}
