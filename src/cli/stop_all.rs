use crate::context::Ctx;
use crate::error::Result;
use crate::ui::Ui;

/// Stop the running sessions of this repository (or under DIR, or every one on the engine), in
/// parallel.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only sessions whose directory is under DIR (e.g. one project's sessions directory).
    #[arg(long, value_name = "DIR", conflicts_with = "all_repos")]
    under: Option<std::path::PathBuf>,
    /// Every session on this Docker engine, whichever repository it belongs to.
    #[arg(long)]
    all_repos: bool,
    /// Only sessions with no activity for DURATION (`45m`, `2h`, `7d`; see README "Keeping a
    /// machine tidy").
    #[arg(long, value_name = "DURATION", value_parser = super::prune::duration)]
    idle: Option<std::time::Duration>,
}

pub async fn run(
    args: Args,
    ctx: &mut Ctx,
    ui: &Ui,
    cancel: &crate::adapters::process::Cancel,
) -> Result<i32> {
    let reach = super::bulk::Reach::resolve(ui, args.all_repos, args.under.as_deref(), "stop-all")?;
    super::bulk::stop_all(ctx, &reach, args.idle, ui, cancel).await
}
