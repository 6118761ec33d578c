use std::path::Path;

use crate::context::{self, Ctx};
use crate::desired::{session_vars, Var};
use crate::error::{Error, Result};
use crate::observed::{project_of, State};
use crate::render::json;
use crate::ui::Ui;

/// Print the session's variables as shell `export` lines (or `--json`):
/// `eval "$(dev-prism env)"`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
}

/// The variables of the running session in `dir`, from one API call.
pub(super) async fn vars(ctx: &mut Ctx, dir: &Path) -> Result<Vec<Var>> {
    let containers = running(ctx, dir).await?;
    let project = project_of(&containers).unwrap_or_default().to_string();
    Ok(session_vars(
        &project,
        dir,
        &containers,
        &crate::proxy::setting(),
    ))
}

/// The containers of the session in `dir`, when it runs (one API call).
pub(super) async fn running(ctx: &mut Ctx, dir: &Path) -> Result<Vec<crate::observed::Container>> {
    let containers = ctx
        .engine()
        .await?
        .session_containers(&dir.to_string_lossy())
        .await?;
    if !containers.iter().any(|c| c.state == State::Running) {
        return Err(
            Error::failure(format!("no running session in {}", dir.display()))
                .with_hint("run `dev-prism start` (or `dev-prism create`) first"),
        );
    }
    Ok(containers)
}

/// `'…'` quoting for POSIX shells.
pub fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let vars = vars(ctx, &dir).await?;
    if ui.json {
        ui.json_out(&json::doc(
            "env",
            json::EnvDoc {
                dir: dir.to_string_lossy().into_owned(),
                vars: vars.into_iter().collect(),
            },
        ));
    } else {
        let text: String = vars
            .iter()
            .map(|(k, v)| {
                // `export 1DB_PORT=…` would end a POSIX shell's `eval` (a service named `1db`).
                if crate::util::is_shell_name(k) {
                    format!("export {k}={}\n", shell_quote(v))
                } else {
                    format!("# not a shell variable name, left out: {k}\n")
                }
            })
            .collect();
        ui.out(&text);
    }
    Ok(0)
}
