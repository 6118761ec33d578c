use std::path::Path;

use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Error, Result};
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
    /// Destroy every session on this Docker engine, in parallel.
    #[arg(long, conflicts_with = "dir")]
    all: bool,
    /// With --all: only sessions whose directory is under DIR.
    #[arg(long, value_name = "DIR", requires = "all")]
    under: Option<std::path::PathBuf>,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    if args.all {
        let under = args
            .under
            .as_deref()
            .map(|u| context::session_dir(Some(u)))
            .transpose()?;
        return super::bulk::destroy_all(ctx, under.as_deref(), args.force, ui).await;
    }
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let plan = destroy_one(ctx, &dir, args.force, ui).await?;
    super::print_applied(ui, "destroy", &dir, &plan);
    if !ui.json {
        for k in &plan.kept {
            ui.warn(&format!("Note: {k}"));
        }
    }
    Ok(0)
}

/// Destroys the session in `dir` (which must exist); returns the plan it carried out (its
/// `kept` says what was kept to protect work).
pub async fn destroy_one(
    ctx: &mut Ctx,
    dir: &Path,
    force: bool,
    ui: &Ui,
) -> Result<crate::plan::Plan> {
    let _lock = context::lock(dir)?;
    let p = reconcile::prepare(
        ctx,
        dir,
        Intent::Destroy { force },
        &context::Wants::default(),
    )
    .await?;
    if p.plan.is_empty() {
        ui.status(&format!("Nothing to destroy in {}.", dir.display()));
    } else {
        if p.observed.worktree.as_ref().is_some_and(|w| !w.is_main) && p.session.main_root.is_none()
        {
            return Err(Error::failure("the worktree's repository was not found"));
        }
        reconcile::execute(ctx, &p, ui).await?;
        ui.status(&format!("Destroyed session {}", dir.display()));
    }
    Ok(p.plan)
}
