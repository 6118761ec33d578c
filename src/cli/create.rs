use crate::adapters::process::Cancel;
use crate::context::{self, Ctx};
use crate::desired::{Intent, ENV_FILE};
use crate::error::{Error, Kind, Result};
use crate::observed::State;
use crate::reconcile::{self, create, create::is_setup, create::CreateRequest, create::Made};
use crate::ui::Ui;

/// Create a session: a worktree (or --in-place), services on random ports, `.env.session`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Branch for the worktree (default: a new `session/<UTC timestamp>`). An existing branch
    /// is checked out.
    #[arg(short, long, conflicts_with = "in_place")]
    branch: Option<String>,
    /// Use the current directory instead of creating a worktree.
    #[arg(long)]
    in_place: bool,
    #[command(flatten)]
    select: super::SelectionArgs,
    /// Start every named volume as a copy of the same volume of the session (or plain Compose
    /// project) in DIR, a directory of this repository; its running containers are paused
    /// for the copy (default: config `dataFrom`).
    #[arg(long, value_name = "DIR", conflicts_with = "in_place")]
    data_from: Option<std::path::PathBuf>,
    /// Stream the services' logs after creation instead of returning (Ctrl-C stops streaming;
    /// the services keep running).
    #[arg(long)]
    no_detach: bool,
}

/// Port variables that are no shell names (a service `1db`): said once, kept as they are.
pub(super) fn warn_shell_names(p: &reconcile::Prepared, ui: &Ui) {
    for w in crate::desired::shell_name_warnings(&p.session.model) {
        ui.warn_once(&format!("warning: {w}"));
    }
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui, cancel: &mut Cancel) -> Result<i32> {
    let cwd = context::session_dir(None)?;
    let mut req = CreateRequest {
        cwd,
        branch: args.branch.clone(),
        wants: context::Wants {
            selection: args.select.selection(Some(crate::desired::Mode::Docker)),
            setup: true,
        },
        data_from: args.data_from.clone(),
    };
    let (p, lock) = prepare_locked(ctx, &mut req, args.in_place).await?;
    warn_shell_names(&p, ui);
    super::warn_proxy_elsewhere(ui, &p);
    // Refused here, before anything is made.
    if args.in_place {
        // A worktree's create checked this while planning.
        reconcile::limits::check_engine(ctx, &p.plan, &p.session.config.resources).await?;
    } else {
        reconcile::limits::check_disk(ctx, &p)?;
        reconcile::limits::check_volume_disk(ctx, &p).await?;
    }
    // Refused here too; held until the session runs.
    let _admitted = reconcile::limits::admit(ctx, &p).await?;
    let project_was_empty = p.observed.containers.is_empty() && p.observed.session_file.is_none();
    let mut done = 0;
    let result = reconcile::carry_out_counted(ctx, &p, ui, &mut done, cancel).await;
    let dir = p.desired.dir.clone();
    match result {
        Ok(()) => {
            let containers = ctx
                .engine()
                .await?
                .session_containers(&dir.to_string_lossy())
                .await?;
            super::ensure_proxy(&p.session.config, ui).await;
            ui.status(&format!(
                "Session ready in {} ({ENV_FILE} written)",
                dir.display()
            ));
            super::print_session(ui, "create", &dir, &p.desired.project, &containers, true);
            if args.no_detach {
                super::logs::follow(ctx, &dir, &super::logs::LogOptions::default(), ui, cancel)
                    .await?;
            }
            Ok(0)
        }
        // A setup command that fails on its own leaves the running session for inspection.
        Err(e) if is_setup(&p.plan, done) && !matches!(e.kind(), Kind::Interrupted(_)) => {
            if let Ok(containers) = ctx
                .engine()
                .await?
                .session_containers(&dir.to_string_lossy())
                .await
            {
                super::print_session(ui, "create", &dir, &p.desired.project, &containers, true);
            }
            Err(e.with_hint(
                "the session is running; fix the command or run it by hand (`dev-prism info` shows the ports), or `dev-prism destroy` it",
            ))
        }
        Err(e) => {
            let made = Made::after(&p.plan, done, project_was_empty);
            if made.anything() {
                ui.warn("create failed; removing what it created");
                // The create's own cancellation: the signal that stopped it was reported.
                match reconcile::rollback(ctx, &dir, made, ui, cancel).await {
                    Ok(plan) => {
                        for k in &plan.kept {
                            ui.warn(&format!("  {k}"));
                        }
                        // The hint of the failure spoke of a session that no longer exists.
                        let again = if plan.kept.is_empty() {
                            // Nothing is left of the session: nor of its lock file.
                            lock.remove();
                            "then run `dev-prism create` again (this one was rolled back and left nothing)".to_string()
                        } else {
                            format!(
                                "create was rolled back; what it kept is listed above (`dev-prism plan --destroy {}` shows it)",
                                dir.display()
                            )
                        };
                        super::print_dir_if_session(ui, ctx, &dir).await;
                        return Err(e.then(again));
                    }
                    Err(r) => {
                        ui.warn(&format!("  the rollback did not finish: {}", r.message()));
                        super::print_dir_if_session(ui, ctx, &dir).await;
                        // The failure's own hint stays (a source left paused, say).
                        return Err(e.then(format!(
                            "`dev-prism plan --destroy {}` shows what is left; `dev-prism destroy {0}` removes it",
                            dir.display()
                        )));
                    }
                }
            }
            // A session left in place (one create only started) is still there: say where.
            super::print_dir_if_session(ui, ctx, &dir).await;
            Err(e)
        }
    }
}

/// Plans the create and takes the session directory's lock. Two creates that picked the same
/// automatic name: the one that does not get the lock picks the next name.
async fn prepare_locked(
    ctx: &mut Ctx,
    req: &mut CreateRequest,
    in_place: bool,
) -> Result<(reconcile::Prepared, context::SessionLock)> {
    if in_place {
        let dir = req.cwd.clone();
        let lock = context::lock(&dir)?;
        let ui = ctx.ui().clone();
        let p = reconcile::prepare(ctx, &dir, Intent::Up, &req.wants, &ui).await?;
        if p.observed
            .containers
            .iter()
            .any(|c| c.state == State::Running)
        {
            return Err(
                Error::usage(format!("a session is already running in {}", dir.display()))
                    .with_hint("use `dev-prism apply` to converge it, or `dev-prism stop` first"),
            );
        }
        return Ok((p, lock));
    }
    let mut avoid = vec![];
    let ui = ctx.ui().clone();
    loop {
        let p = create::prepare_worktree(ctx, req, &avoid, &ui).await?;
        match context::lock(&p.desired.dir) {
            Ok(lock) => return Ok((p, lock)),
            Err(e) if e.kind() == Kind::Busy && req.branch.is_none() && avoid.len() < 20 => {
                avoid.push(p.desired.dir.clone());
            }
            Err(e) => return Err(e),
        }
    }
}
