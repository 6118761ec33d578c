use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Result, EXIT_CHANGES_PENDING};
use crate::reconcile::{self, create::CreateRequest};
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
    #[arg(long, conflicts_with_all = ["stop", "create"])]
    destroy: bool,
    /// With --destroy: plan `destroy --force` (work in the worktree is deleted too).
    #[arg(long, requires = "destroy")]
    force: bool,
    /// Plan `create` from this directory: the worktree, the files copied into it, the
    /// services, env files and setup commands. Changes nothing.
    #[arg(long, conflicts_with_all = ["stop", "dir"])]
    create: bool,
    /// With --create: the branch of the new worktree (as `create --branch`).
    #[arg(long, requires = "create", conflicts_with = "in_place")]
    branch: Option<String>,
    /// With --create: plan a session in the current directory (as `create --in-place`).
    #[arg(long, requires = "create")]
    in_place: bool,
    /// With --create: the volumes start as copies of the session in DIR (as
    /// `create --data-from`).
    #[arg(
        long,
        value_name = "DIR",
        requires = "create",
        conflicts_with = "in_place"
    )]
    data_from: Option<std::path::PathBuf>,
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
    if args.create && !args.in_place {
        let req = CreateRequest {
            cwd: dir,
            branch: args.branch.clone(),
            wants: context::Wants {
                selection: args.select.selection(Some(crate::desired::Mode::Docker)),
                setup: true,
            },
            data_from: args.data_from.clone(),
        };
        let p = reconcile::create::prepare_worktree(ctx, &req, &[], ui).await?;
        super::create::warn_shell_names(&p, ui);
        return show(&args, &p, ui);
    }
    let intent = if args.destroy {
        Intent::destroy(args.force)
    } else if args.stop {
        Intent::Stop
    } else {
        Intent::Up
    };
    let wants = context::Wants {
        selection: args
            .select
            .selection(args.create.then_some(crate::desired::Mode::Docker)),
        setup: args.create,
    };
    let p = reconcile::prepare(ctx, &dir, intent, &wants, ui).await?;
    if intent == Intent::Up {
        super::create::warn_shell_names(&p, ui);
    }
    show(&args, &p, ui)
}

/// Prints the plan (after its warnings); returns the exit code. A plan apply would refuse is
/// refused here alike, with the same error.
fn show(args: &Args, p: &reconcile::Prepared, ui: &Ui) -> Result<i32> {
    for w in &p.plan.warnings {
        ui.warn(&w.to_string());
    }
    if let Some(refusal) = p.plan.refusals.first() {
        return Err(refusal.error());
    }
    let dir = &p.desired.dir;
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
