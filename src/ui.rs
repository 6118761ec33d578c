//! All output goes through here: data to stdout, progress and diagnostics to stderr.

use std::io::{IsTerminal, Write};

/// Output settings for one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ui {
    pub quiet: bool,
    pub color: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Ui { quiet, color }
    }

    /// Data: the command's answer.
    pub fn out(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') && !text.is_empty() {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// Progress: what is happening now.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A warning or note that must be seen even with `--quiet`.
    pub fn warn(&self, text: &str) {
        eprintln!("{text}");
    }
}
