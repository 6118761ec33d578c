use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::Result;
use crate::reconcile;
use crate::ui::Ui;

/// Stop the session's containers (kept, with their volumes) and remove `.env.session`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
}

pub async fn run(
    args: Args,
    ctx: &mut Ctx,
    ui: &Ui,
    cancel: &mut crate::adapters::process::Cancel,
) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let _lock = context::lock(&dir)?;
    let p = reconcile::prepare(ctx, &dir, Intent::Stop, &context::Wants::default(), ui).await?;
    if p.plan.is_empty() {
        ui.status("Nothing to stop.");
        super::print_applied(ui, "stop", &dir, &p.plan);
        return Ok(0);
    }
    reconcile::carry_out(ctx, &p, ui, cancel).await?;
    super::print_applied(ui, "stop", &dir, &p.plan);
    ui.status(&format!("Stopped session {}", dir.display()));
    Ok(0)
}
