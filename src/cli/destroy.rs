use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::Result;
use crate::reconcile;
use crate::ui::Ui;

/// Remove the session: containers, network, volumes, generated files, and for a worktree
/// session the worktree and its branch — unless they hold work that exists nowhere else.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    /// Also remove a worktree with uncommitted changes and a branch with unmerged commits.
    #[arg(long)]
    force: bool,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let _lock = context::lock(&dir)?;
    let p = reconcile::prepare(
        ctx,
        &dir,
        Intent::Destroy { force: args.force },
        &context::Wants::default(),
    )
    .await?;
    if p.plan.is_empty() {
        ui.status("Nothing to destroy.");
    } else {
        // Worktree removal must not run from inside the worktree being removed.
        if let Some(root) = &p.session.main_root {
            let _ = std::env::set_current_dir(root);
        }
        reconcile::execute(ctx, &p, ui).await?;
        ui.status(&format!("Destroyed session {}", dir.display()));
    }
    for k in &p.plan.kept {
        ui.warn(&format!("Note: {k}"));
    }
    Ok(0)
}
