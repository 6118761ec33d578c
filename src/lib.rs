//! dev-prism: isolated parallel development sessions on one repository.
//!
//! Pure core: [`config`], [`compose`], [`desired`], [`observed`], [`plan`], [`render`].
//! Effects: [`adapters`] (Docker API, Compose CLI, git, node, files), driven by [`apply`] and
//! [`reconcile`]; [`cli`] is glue. [`run`] is the one place that turns an error into text and
//! an exit code.

pub mod adapters;
pub mod apply;
pub mod claude;
pub mod cli;
pub mod compose;
pub mod config;
pub mod context;
pub mod desired;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod observed;
pub mod plan;
#[cfg(test)]
mod properties;
pub mod proxy;
pub mod reconcile;
pub mod render;
pub mod subnet;
pub mod tidy;
pub mod ui;
pub mod util;

use clap::Parser;

use crate::error::{Error, Kind};
use crate::ui::Ui;

/// Parses arguments, runs the command, prints any error, returns the exit code.
pub fn run() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print(); // --help, --version
                return 0;
            }
            if std::env::args().any(|a| a == "--json") {
                let err = Error::usage(e.kind().to_string()).with_hint("see `dev-prism --help`");
                Ui::default().json_out(&render::json::error("", &err));
            }
            let _ = e.print();
            return Kind::Usage.exit_code();
        }
    };
    let ui = Ui::new(cli.quiet, cli.json, cli.color, cli.verbose);
    let command = cli.command.name();
    // Every command runs on one thread; the proxy's server starts a runtime per core of its
    // own for its connections (src/proxy/server.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(
                &ui,
                &Error::failure(format!("cannot start the async runtime: {e}")),
                false,
            );
            return Kind::Failure.exit_code();
        }
    };
    match runtime.block_on(cli::dispatch(cli, &ui)) {
        Ok(code) => code,
        Err(e) => {
            if ui.json {
                ui.json_out(&render::json::error(command, &e));
            }
            report(&ui, &e, ui.color_err);
            e.exit_code()
        }
    }
}

/// Prints an error on `ui`'s stderr: one sentence, the file snippet when there is one, and
/// the hint.
pub fn report(ui: &Ui, e: &Error, color: bool) {
    ui.warn(&format!(
        "{} {}",
        ui::paint(color, "1;31", "error:"),
        e.message()
    ));
    if let Some(d) = e.diagnostic() {
        ui.warn(&format!("{d:?}"));
    }
    if let Some(h) = &e.hint {
        ui.warn(&format!("{} {h}", ui::paint(color, "1;36", "hint:")));
    }
}
