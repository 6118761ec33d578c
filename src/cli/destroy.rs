use std::path::Path;

use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Error, Result};
use crate::reconcile;
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
    let dir = match context::session_dir(args.dir.dir.as_deref()) {
        Ok(dir) => dir,
        Err(e) => return destroy_vanished(ctx, args.dir.dir.as_deref(), e, ui).await,
    };
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
        reconcile::carry_out(ctx, &p, ui).await?;
        ui.status(&format!("Destroyed session {}", dir.display()));
    }
    Ok(p.plan)
}

/// A session whose directory no longer exists: its containers, networks and volumes are still
/// labelled with the path, so they can be removed by it.
async fn destroy_vanished(
    ctx: &mut Ctx,
    arg: Option<&Path>,
    not_found: Error,
    ui: &Ui,
) -> Result<i32> {
    let Some(arg) = arg else {
        return Err(not_found);
    };
    let path = std::env::current_dir()
        .map(|cwd| cwd.join(arg))
        .unwrap_or_else(|_| arg.to_path_buf());
    let engine = ctx.engine().await?;
    let dir_s = path.to_string_lossy();
    let containers = engine.session_containers(&dir_s).await?;
    let Some(project) = containers
        .iter()
        .find_map(|c| c.project().map(str::to_string))
    else {
        return Err(not_found);
    };
    engine.remove_project(&project, &dir_s).await?;
    ui.status(&format!(
        "Removed the containers, networks and volumes of {dir_s} (its directory no longer exists)"
    ));
    if ui.json {
        ui.json_out(&crate::render::json::doc(
            "destroy",
            serde_json::json!({"dir": dir_s, "changes": true, "applied": [{"subject": format!("project {project}")}], "kept": []}),
        ));
    }
    Ok(0)
}
