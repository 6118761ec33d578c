use crate::context::Ctx;
use crate::error::Result;
use crate::observed::project_of;
use crate::render::{self, json};
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
    let proxy = crate::proxy::setting();
    let rows: Vec<_> = render::sessions(&containers)
        .into_iter()
        .filter(|r| args.all || r.running() > 0)
        .map(|mut r| {
            r.branch = crate::adapters::git::current_branch(std::path::Path::new(&r.dir));
            r
        })
        .collect();
    if ui.json {
        let sessions: Vec<json::Session> = rows
            .iter()
            .map(|r| {
                let project = project_of(&r.containers).unwrap_or("");
                json::session(&r.dir, project, r.branch.as_deref(), &r.containers, &proxy)
            })
            .collect();
        ui.json_out(&json::doc("list", json::ListDoc { sessions }));
    } else if rows.is_empty() {
        ui.out(if args.all {
            "No sessions."
        } else {
            "No running sessions. (`dev-prism list --all` includes stopped ones.)"
        });
    } else {
        ui.out(&render::list_text(&rows, ui.color, proxy.port));
    }
    Ok(0)
}
