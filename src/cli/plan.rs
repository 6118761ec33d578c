use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Result, EXIT_CHANGES_PENDING};
use crate::reconcile;
use crate::render;
use crate::ui::Ui;

/// Show what `apply` would do to the session, changing nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    /// Show the text diff of every file that would change.
    #[arg(long)]
    diff: bool,
    /// Plan `destroy` instead of `apply`.
    #[arg(long, conflicts_with = "stop")]
    destroy: bool,
    /// Plan `stop` instead of `apply`.
    #[arg(long)]
    stop: bool,
    /// Exit 5 when there are changes (0 when none).
    #[arg(long)]
    detailed_exitcode: bool,
    #[command(flatten)]
    select: super::SelectionArgs,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let intent = if args.destroy {
        Intent::Destroy { force: false }
    } else if args.stop {
        Intent::Stop
    } else {
        Intent::Up
    };
    let wants = context::Wants {
        selection: args.select.selection(None),
        setup: false,
    };
    let p = reconcile::prepare(ctx, &dir, intent, &wants).await?;
    let header = format!(
        "dev-prism will perform these actions in {} (project {}):",
        dir.display(),
        p.desired.project
    );
    if ui.json {
        ui.json_out(&render::json::doc(
            "plan",
            render::json::plan(&p.plan, &dir.to_string_lossy(), &p.desired.project),
        ));
    } else {
        ui.out(&render::plan_text(&p.plan, &header, args.diff, ui.color));
    }
    Ok(if args.detailed_exitcode && !p.plan.is_empty() {
        EXIT_CHANGES_PENDING
    } else {
        0
    })
}
