use crate::adapters::git;
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
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let dir_s = dir.to_string_lossy();
    let observed = context::observe(ctx, &dir).await?;
    let containers = &observed.containers;
    if containers.is_empty() {
        return Err(Error::failure(format!("no session found in {dir_s}"))
            .with_hint("run `dev-prism create` to start one, or `dev-prism list` to see where sessions are"));
    }
    // The containers carry their project; no config or compose parsing needed.
    let project = project_of(containers)
        .map(str::to_string)
        .unwrap_or_else(|| project_name("session", &dir));
    // Heal what was read: a missing or stale `.env.session`.
    let proxy = crate::proxy::setting();
    let healing = plan::env_file_plan(&project, &dir, &observed, &proxy);
    let mut fx = Real { ctx, repo: None };
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
    let branch = git::current_branch(&dir);
    if ui.json {
        let session = json::session(&dir_s, &project, branch.as_deref(), containers, &proxy);
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
        if let Some(from) = data_from {
            // After the header lines, before the services.
            let at = text.find("\n\n").unwrap_or(text.len());
            text.insert_str(at, &format!("\nData:     copied from {from}"));
        }
        ui.out(&text);
    }
    super::warn_if_remote_loopback(ui, &dir, containers);
    Ok(0)
}
