use crate::adapters::process::Cancel;
use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Kind, Result};
use crate::reconcile;
use crate::ui::Ui;

/// Converge the session in a directory to its desired state (idempotent).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    #[command(flatten)]
    select: super::SelectionArgs,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui, cancel: &mut Cancel) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let _lock = context::lock(&dir)?;
    let wants = context::Wants {
        selection: args.select.selection(None),
        setup: false,
    };
    let p = reconcile::prepare(ctx, &dir, Intent::Up, &wants, ui).await?;
    converge(ctx, p, ui, "apply", cancel).await
}

/// Shared by `apply` and `start`: apply a prepared Up plan, print the ports.
pub(super) async fn converge(
    ctx: &mut Ctx,
    p: reconcile::Prepared,
    ui: &Ui,
    command: &str,
    cancel: &mut Cancel,
) -> Result<i32> {
    super::warn_proxy_elsewhere(ui, &p);
    for d in &p.plan.drift {
        ui.status(&format!("! {d}"));
    }
    if p.plan.is_empty() {
        ui.status("No changes. The session matches its configuration.");
    }
    let _admitted = reconcile::limits::admit(ctx, &p).await?;
    let containers = reconcile::execute(ctx, &p, ui, cancel)
        .await
        .map_err(|e| match e.kind() {
            // What did run stays; the same command converges the rest.
            Kind::Failure => e.then(format!("then run `dev-prism {command}` again")),
            _ => e,
        })?;
    super::ensure_proxy(&p.session.config, ui).await;
    super::print_session(
        ui,
        command,
        &p.desired.dir,
        &p.desired.project,
        &containers,
        false,
    );
    Ok(0)
}
