use std::path::Path;

use crate::adapters::usage;
use crate::context::Ctx;
use crate::error::Result;
use crate::observed::project_of;
use crate::render::{self, json};
use crate::ui::Ui;

/// List running sessions with their directories, branches, status, container counts, age, last
/// activity and ports (one API call and a few file stats per session).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Include stopped sessions.
    #[arg(short, long)]
    all: bool,
    /// Add the disk each session holds: its worktree, volumes and built images (asks the
    /// engine for its disk usage and walks each worktree: slower).
    #[arg(long)]
    size: bool,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let git = ctx.git();
    let engine = ctx.engine().await?;
    let containers = engine.all_sessions().await?;
    let proxy = crate::proxy::setting();
    let mut rows: Vec<_> = render::sessions(&containers)
        .into_iter()
        .filter(|r| args.all || r.up() > 0)
        .map(|mut r| {
            let dir = Path::new(&r.dir);
            r.branch = git.current_branch(dir);
            r.last_activity = usage::last_activity(dir, project_of(&r.containers).unwrap_or(""));
            r
        })
        .collect();
    if args.size && !rows.is_empty() {
        let df = engine.disk_usage().await?;
        for r in &mut rows {
            let project = project_of(&r.containers).unwrap_or("");
            r.disk = Some(df.session(Path::new(&r.dir), project));
        }
    }
    if ui.json {
        let sessions: Vec<json::Session> = rows
            .iter()
            .map(|r| {
                let project = project_of(&r.containers).unwrap_or("");
                let mut s =
                    json::session(&r.dir, project, r.branch.as_deref(), &r.containers, &proxy);
                s.last_activity = r.last_activity.map(json::rfc3339);
                s.disk = r.disk;
                s
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
        ui.out(&render::list_text(
            &rows,
            crate::util::now_ms(),
            ui.color,
            proxy.port,
        ));
    }
    Ok(0)
}
