use crate::apply::{self, effects::Real};
use crate::compose::labels;
use crate::context::{self, Ctx};
use crate::desired::{project_name, ENV_FILE};
use crate::error::{Error, Result};
use crate::observed::project_of;
use crate::plan::{self, Action};
use crate::render::{self, json};
use crate::ui::Ui;

/// Show the session's status, containers and ports (restores a missing `.env.session`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    /// Add the disk the session holds: its worktree, volumes and built images.
    #[arg(long)]
    size: bool,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let git = ctx.git();
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let dir_s = dir.to_string_lossy();
    let mut observed = context::observe(ctx, &dir).await?;
    if observed.containers.is_empty() {
        return Err(Error::failure(format!("no session found in {dir_s}"))
            .with_hint("run `dev-prism create` to start one, or `dev-prism list` to see where sessions are"));
    }
    // The containers carry their project; no config or compose parsing needed.
    let project = project_of(&observed.containers)
        .map(str::to_string)
        .unwrap_or_else(|| project_name("session", &dir));
    // Heal what was read: a missing or stale `.env.session` — only under the session lock,
    // observed again once it is held. A command holding it now is changing the session and
    // leaves the file right itself: info then shows what it read and writes nothing.
    let proxy = crate::proxy::setting();
    let mut healing = plan::env_file_plan(&project, &dir, &observed, &proxy);
    let _lock = if healing.is_empty() {
        None
    } else {
        match context::lock(&dir) {
            Ok(lock) => {
                observed = context::observe(ctx, &dir).await?;
                healing = plan::env_file_plan(&project, &dir, &observed, &proxy);
                Some(lock)
            }
            Err(e) if e.kind() == crate::error::Kind::Busy => {
                healing = plan::Plan::default();
                None
            }
            Err(e) => return Err(e),
        }
    };
    let containers = &observed.containers;
    let mut fx = Real {
        ctx,
        repo: None,
        unpaused: Default::default(),
    };
    let mut healed = vec![];
    for step in apply::write_files(&healing, &dir, &mut fx)? {
        healed.push(dir.join(ENV_FILE).to_string_lossy().into_owned());
        let verb = if step.action == Action::Create {
            "Restored"
        } else {
            "Rewrote"
        };
        ui.status(&format!("{verb} {ENV_FILE} from Docker's answer"));
    }
    // Where the session's data came from: recorded on its containers (`create --data-from`).
    let data_from = containers
        .iter()
        .find_map(|c| c.label(labels::DATA_FROM).map(str::to_string));
    let branch = git.current_branch(&dir);
    let last_activity = crate::adapters::usage::last_activity(&dir, &project);
    let disk = if args.size {
        Some(
            ctx.engine()
                .await?
                .disk_usage()
                .await?
                .session(&dir, &project),
        )
    } else {
        None
    };
    if ui.json {
        let mut session = json::session(&dir_s, &project, branch.as_deref(), containers, &proxy);
        session.last_activity = last_activity.map(json::rfc3339);
        session.disk = disk;
        ui.json_out(&json::doc(
            "info",
            json::InfoDoc {
                session,
                healed,
                data_from,
            },
        ));
    } else {
        let mut text = render::info_text(
            &dir_s,
            &project,
            branch.as_deref(),
            containers,
            ui.color,
            &proxy,
        );
        // After the header lines, before the services.
        let mut extra = String::new();
        if let Some(from) = data_from {
            extra.push_str(&format!("\nData:     copied from {from}"));
        }
        let now = crate::util::now_ms();
        let ago = |t: Option<i64>| t.map_or("unknown".into(), |t| crate::tidy::short_age(now - t));
        extra.push_str(&format!(
            "\nAge:      {}\nIdle:     {}",
            ago(render::created_at(containers)),
            ago(last_activity)
        ));
        if let Some(d) = disk {
            extra.push_str(&format!(
                "\nDisk:     {} (worktree {}, volumes {}, images {})",
                render::bytes(d.total()),
                render::bytes(d.worktree),
                render::bytes(d.volumes),
                render::bytes(d.images)
            ));
        }
        let at = text.find("\n\n").unwrap_or(text.len());
        text.insert_str(at, &extra);
        ui.out(&text);
    }
    super::warn_if_remote_loopback(ui, &dir, containers);
    Ok(0)
}
