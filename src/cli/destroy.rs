use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Kind, Result};
use crate::reconcile::bulk;
use crate::ui::Ui;

/// Remove the session: containers, network, volumes, files, worktree and branch.
///
/// A worktree with uncommitted changes, or a branch holding commits that no other branch
/// contains, is kept (and reported) unless --force.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    /// Also remove a worktree with uncommitted changes and a branch with unmerged commits.
    #[arg(long)]
    force: bool,
    /// Destroy every session of this repository, in parallel (it lists them and asks first).
    #[arg(long, conflicts_with = "dir")]
    all: bool,
    /// With --all: only sessions whose directory is under DIR.
    #[arg(
        long,
        value_name = "DIR",
        requires = "all",
        conflicts_with = "all_repos"
    )]
    under: Option<std::path::PathBuf>,
    /// With --all: every session on this Docker engine, whichever repository it belongs to.
    #[arg(long, requires = "all")]
    all_repos: bool,
    /// With --all: do not ask for confirmation.
    #[arg(short = 'y', long, requires = "all")]
    yes: bool,
}

pub async fn run(
    args: Args,
    ctx: &mut Ctx,
    ui: &Ui,
    cancel: &mut crate::adapters::process::Cancel,
) -> Result<i32> {
    if args.all {
        let reach = super::bulk::Reach::resolve(
            ui,
            args.all_repos,
            args.under.as_deref(),
            "destroy --all",
        )?;
        return super::bulk::destroy_all(ctx, &reach, args.force, args.yes, ui, cancel).await;
    }
    // A session whose directory is gone is destroyed by its path: its Docker objects still
    // carry it.
    let dir = match context::session_dir(args.dir.dir.as_deref()) {
        Ok(dir) => dir,
        Err(e) => match args.dir.dir.as_deref() {
            Some(arg) if arg.symlink_metadata().is_err() => std::env::current_dir()
                .map(|cwd| cwd.join(arg))
                .map_err(|_| e)?,
            _ => return Err(e),
        },
    };
    let plan = bulk::one(ctx, &dir, Intent::destroy(args.force), ui, cancel)
        .await
        .map_err(|e| match e.kind() {
            // What was removed stays removed; the same command finishes the rest.
            Kind::Interrupted(_) => e.with_hint(format!(
                "`dev-prism plan --destroy {0}` shows what is left; `dev-prism destroy {0}` finishes it",
                dir.display()
            )),
            _ => e,
        })?;
    if plan.is_empty() {
        ui.status(&format!("Nothing to destroy in {}.", dir.display()));
    } else {
        ui.status(&format!("Destroyed session {}", dir.display()));
    }
    super::print_applied(ui, "destroy", &dir, &plan);
    if !ui.json {
        for k in &plan.kept {
            ui.warn(&format!("Note: {k}"));
        }
    }
    Ok(0)
}
