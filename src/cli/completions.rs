use clap::CommandFactory;

use crate::error::{Error, Result};

/// Print a shell completion script: `dev-prism completions bash > /etc/bash_completion.d/dev-prism`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<i32> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "dev-prism", &mut std::io::stdout());
    Ok(0)
}

/// Print the man page (roff): `dev-prism man > dev-prism.1`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn man(_args: ManArgs) -> Result<i32> {
    let cmd = super::Cli::command();
    clap_mangen::Man::new(cmd)
        .render(&mut std::io::stdout())
        .map_err(|e| Error::failure(format!("cannot write the man page: {e}")))?;
    Ok(0)
}
