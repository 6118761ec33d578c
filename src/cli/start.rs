use crate::context::{self, Ctx};
use crate::error::{Error, Result};
use crate::ui::Ui;

/// Start a stopped session again (ports change; `.env.session` is rewritten).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: super::DirArg,
    #[command(flatten)]
    select: super::SelectionArgs,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let dir = context::session_dir(args.dir.dir.as_deref())?;
    let _lock = context::lock(&dir)?;
    let has_session = dir.join(crate::compose::SESSION_FILE).is_file()
        || !ctx
            .engine()
            .await?
            .session_containers(&dir.to_string_lossy())
            .await?
            .is_empty();
    if !has_session {
        return Err(
            Error::usage(format!("no session found in {}", dir.display()))
                .with_hint("run `dev-prism create` (or `dev-prism create --in-place`) to make one"),
        );
    }
    let wants = context::Wants {
        selection: args.select.selection(None),
        setup: false,
    };
    super::apply::converge(ctx, &dir, ui, &wants, "start").await
}
