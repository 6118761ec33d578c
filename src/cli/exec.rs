use crate::context::{self, Ctx};
use crate::error::{Error, Problem, Result};
use crate::ui::Ui;

/// Run a command (no shell) with the session's variables in its environment: `dev-prism exec
/// -- npm test`. dev-prism replaces itself with the command, so the command receives every
/// signal sent to dev-prism and its exit status is the command's own.
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
    // Returns only when the command could not be started; shell conventions for the code.
    let e = crate::adapters::process::exec(program, rest, &vars);
    Err(match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::from(Problem::CommandNotFound { command: program.clone() })
                .with_hint("check the command name and that it is on PATH; `exec` runs no shell: use `dev-prism exec -- sh -c '…'` for one")
        }
        std::io::ErrorKind::PermissionDenied => Error::from(Problem::NotExecutable {
            command: program.clone(),
            source: e,
        })
        .with_hint("check that it is a program and has the execute permission"),
        _ => Error::from(Problem::NotExecutable {
            command: program.clone(),
            source: e,
        }),
    })
}
