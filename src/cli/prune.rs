use crate::context::Ctx;
use crate::error::Result;
use crate::ui::Ui;

/// Remove this repository's session worktrees whose containers are not running (with their
/// stopped containers, networks and volumes), after listing them and asking.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
    /// Also remove worktrees with uncommitted changes and branches with unmerged commits.
    #[arg(long)]
    force: bool,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    super::bulk::prune(ctx, args.yes, args.force, ui).await
}
