use crate::context::{self, Ctx};
use crate::error::{Error, Result};
use crate::ui::Ui;

/// Run a command with the session's variables in its environment; its exit code is passed
/// through: `dev-prism exec -- npm test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Session directory (default: the current directory).
    #[arg(long, short = 'C', value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<String>,
}

pub async fn run(args: Args, ctx: &mut Ctx, _ui: &Ui) -> Result<i32> {
    let dir = context::session_dir(args.dir.as_deref())?;
    let vars = super::env::vars(ctx, &dir).await?;
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let status = std::process::Command::new(program)
        .args(rest)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .status()
        .map_err(|e| {
            Error::usage(format!("cannot run `{program}`: {e}"))
                .with_hint("check the command name and that it is on PATH")
        })?;
    // Killed by a signal: the shell convention 128 + signal.
    Ok(status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    }))
}
