use crate::context::Ctx;
use crate::error::Result;
use crate::ui::Ui;

/// Stop every running session on this Docker engine, in parallel.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only sessions whose directory is under DIR (e.g. one project's sessions directory).
    #[arg(long, value_name = "DIR")]
    under: Option<std::path::PathBuf>,
    /// Only sessions with no activity for DURATION (`45m`, `2h`, `7d`; see README "Keeping a
    /// machine tidy").
    #[arg(long, value_name = "DURATION", value_parser = super::prune::duration)]
    idle: Option<std::time::Duration>,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let under = args
        .under
        .as_deref()
        .map(|u| crate::context::session_dir(Some(u)))
        .transpose()?;
    super::bulk::stop_all(ctx, under.as_deref(), args.idle, ui).await
}
