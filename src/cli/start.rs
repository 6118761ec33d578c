use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Error, Result};
use crate::reconcile;
use crate::ui::Ui;

/// Start a stopped session again (ports change; `.env.session` is rewritten).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    #[command(flatten)]
    select: super::SelectionArgs,
}

pub async fn run(
    args: Args,
    ctx: &mut Ctx,
    ui: &Ui,
    cancel: &mut crate::adapters::process::Cancel,
) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let _lock = context::lock(&dir)?;
    let observed = context::observe(ctx, &dir).await?;
    if observed.session_file.is_none() && observed.containers.is_empty() {
        return Err(
            Error::usage(format!("no session found in {}", dir.display()))
                .with_hint("run `dev-prism create` (or `dev-prism create --in-place`) to make one"),
        );
    }
    let wants = context::Wants {
        selection: args.select.selection(None),
        setup: false,
    };
    let p = reconcile::prepare_from(ctx, &dir, observed, Intent::Up, &wants, ui).await?;
    super::apply::converge(ctx, p, ui, "start", cancel).await
}
