use clap::CommandFactory;

use crate::error::{Error, Result};
use crate::ui::Ui;

/// Print a shell completion script: `dev-prism completions bash > /etc/bash_completion.d/dev-prism`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args, ui: &Ui) -> Result<i32> {
    let mut cmd = super::Cli::command();
    // Generated into memory: clap_complete panics when its writer fails (a closed pipe).
    let mut script = vec![];
    clap_complete::generate(args.shell, &mut cmd, "dev-prism", &mut script);
    ui.out_raw(&script);
    Ok(0)
}

/// Print the man page (roff): `dev-prism man > dev-prism.1`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn man(_args: ManArgs, ui: &Ui) -> Result<i32> {
    let cmd = super::Cli::command();
    let mut page = vec![];
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .map_err(|e| Error::failure(format!("cannot write the man page: {e}")))?;
    ui.out_raw(&page);
    Ok(0)
}
