use crate::context::Ctx;
use crate::error::Result;
use crate::render;
use crate::ui::Ui;

/// List running sessions with their directories, container counts and ports (one API call).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Include stopped sessions.
    #[arg(short, long)]
    all: bool,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let containers = ctx.engine().await?.all_sessions().await?;
    let rows: Vec<_> = render::sessions(&containers)
        .into_iter()
        .filter(|r| args.all || r.running > 0)
        .collect();
    if rows.is_empty() {
        ui.out(if args.all {
            "No sessions."
        } else {
            "No running sessions. (`dev-prism list --all` includes stopped ones.)"
        });
    } else {
        ui.out(&render::list_text(&rows));
    }
    Ok(0)
}
