use crate::adapters::{fs, git};
use crate::compose::labels;
use crate::context::{self, Ctx};
use crate::desired::{env_file_text, project_name, session_vars, ENV_FILE};
use crate::error::{Error, Result};
use crate::observed::State;
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
    let containers = ctx.engine().await?.session_containers(&dir_s).await?;
    if containers.is_empty() {
        return Err(Error::failure(format!("no session found in {dir_s}"))
            .with_hint("run `dev-prism create` to start one, or `dev-prism list` to see where sessions are"));
    }
    // The containers carry their project; no config or compose parsing needed.
    let project = containers
        .iter()
        .find_map(|c| c.label(labels::PROJECT).map(str::to_string))
        .unwrap_or_else(|| project_name("session", &dir));
    let mut healed = vec![];
    if containers.iter().any(|c| c.state == State::Running) {
        let text = env_file_text(&session_vars(&project, &dir, &containers));
        let path = dir.join(ENV_FILE);
        let current = fs::read(&path)?;
        let stale = current
            .as_ref()
            .is_none_or(|(t, mode)| *t != text || mode & 0o777 != 0o600);
        if stale && dir.is_dir() {
            fs::write_atomic(&path, &text, 0o600)?;
            healed.push(path.to_string_lossy().into_owned());
            ui.status(&format!(
                "{} {ENV_FILE} from Docker's answer",
                if current.is_some() {
                    "Rewrote"
                } else {
                    "Restored"
                }
            ));
        }
    }
    let branch = git::current_branch(&dir);
    if ui.json {
        let session = json::session(&dir_s, &project, branch.as_deref(), &containers);
        ui.json_out(&json::doc(
            "info",
            serde_json::json!({ "session": session, "healed": healed }),
        ));
    } else {
        ui.out(&render::info_text(
            &dir_s,
            &project,
            branch.as_deref(),
            &containers,
            ui.color,
        ));
    }
    Ok(0)
}
