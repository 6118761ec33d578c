//! The only code that talks to the outside world: the Docker Engine API (bollard), the Compose
//! CLI, git, node and the file system. Each adapter has narrow, domain-named methods and turns
//! the tool's errors into ours, with hints.

pub mod compose;
pub mod docker;
pub mod endpoint;
pub mod engine;
#[cfg(test)]
pub mod fake;
pub mod fs;
pub mod git;
pub mod hooks;
pub mod node;
pub mod outputs;
pub mod process;
pub mod proxy;
pub mod routes;
pub mod ssh;
pub mod tree;
pub mod usage;

pub use engine::{Compose, Engine};

use std::process::{Command, Output};

use crate::error::{Error, Problem, Result, Signal};

/// Runs a command to completion, capturing its output. A missing program is a clear error.
pub(crate) fn run(
    cmd: &mut Command,
    what: &str,
    install_hint: &str,
    trace: &crate::ui::Trace,
) -> Result<Output> {
    cmd.stdin(std::process::Stdio::null());
    let started = std::time::Instant::now();
    let result = cmd.output();
    trace.call(&describe(cmd), started);
    // A child killed by Ctrl-C or a closed terminal (they reach the whole process group): the
    // command is being interrupted, whatever the child's failure would otherwise mean.
    if let Some(signal) = result.as_ref().ok().and_then(|o| {
        std::os::unix::process::ExitStatusExt::signal(&o.status).and_then(Signal::from_number)
    }) {
        return Err(process::interrupted(signal, what));
    }
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::from(Problem::NotInstalled {
                program: what.to_string(),
                engine: false,
            })
            .with_hint(install_hint.to_string())
        } else {
            Error::run("could not run", what, e)
        }
    })
}

/// The last `n` non-empty lines of a process's stderr (and stdout), for error messages.
pub(crate) fn tail(output: &Output, n: usize) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `program arg arg…` for debug logs.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        out.push(' ');
        out.push_str(&a.to_string_lossy());
    }
    out
}
