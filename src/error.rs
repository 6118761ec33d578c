//! The one error type. Every variant of failure carries what the user needs: one sentence, an
//! optional hint, and a kind that decides the exit code (see [`Kind::exit_code`]).

use std::fmt;

/// What kind of failure this is; the kind alone decides the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An operation failed (Docker, Compose, git, a service that did not become ready).
    Failure,
    /// The user's input is wrong: flags, config, compose file, directory.
    Usage,
    /// The Docker engine (or the Compose CLI) cannot be reached.
    Unreachable,
    /// Another dev-prism command holds this session directory.
    Busy,
    /// Stopped by a signal (Ctrl-C, SIGTERM, a closed terminal).
    Interrupted(Signal),
    /// `exec`: the command was not found.
    CommandNotFound,
    /// `exec`: the command exists but cannot be executed.
    NotExecutable,
}

/// The signals dev-prism stops on (and forwards to the commands it runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Hup,
    Int,
    Term,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Int, Signal::Term, Signal::Hup];

    /// The signal's number (the same on every Unix).
    pub fn number(self) -> i32 {
        match self {
            Signal::Hup => 1,
            Signal::Int => 2,
            Signal::Term => 15,
        }
    }

    pub fn from_number(n: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.number() == n)
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Hup => "SIGHUP",
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }
}

impl Kind {
    /// Stable exit codes, documented in the README.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Failure => 1,
            Kind::Usage => 2,
            Kind::Unreachable => 3,
            Kind::Busy => 4,
            Kind::NotExecutable => 126,
            Kind::CommandNotFound => 127,
            // The shell's convention for "killed by signal n".
            Kind::Interrupted(signal) => 128 + signal.number(),
        }
    }

    /// The kind's name in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Usage => "usage",
            Kind::Unreachable => "unreachable",
            Kind::Busy => "busy",
            Kind::Interrupted(_) => "interrupted",
            Kind::CommandNotFound => "command_not_found",
            Kind::NotExecutable => "not_executable",
        }
    }
}

/// Exit code of `plan --detailed-exitcode` and `heal --check` when there is something to do.
pub const EXIT_CHANGES_PENDING: i32 = 5;

/// A user-facing error: a sentence, a hint, and optionally a rendered diagnostic (miette) that
/// points into a file.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    /// A pre-rendered diagnostic with source snippet (config and compose parse errors).
    pub diagnostic: Option<Box<miette::Report>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            diagnostic: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Kind::Failure, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// Adds what to do next after the hint already there (the cause's), or sets it.
    pub fn then(mut self, next: impl Into<String>) -> Self {
        let next = next.into();
        self.hint = Some(match self.hint.take() {
            Some(h) => format!("{h}; {next}"),
            None => next,
        });
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_diagnostic(mut self, report: miette::Report) -> Self {
        self.diagnostic = Some(Box::new(report));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Renders an error chain (`a: b: c`) — bollard and io errors hide their cause otherwise.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_conventions() {
        let code = |s| Kind::Interrupted(s).exit_code();
        assert_eq!(
            (code(Signal::Hup), code(Signal::Int), code(Signal::Term)),
            (129, 130, 143)
        );
        assert_eq!(Kind::CommandNotFound.exit_code(), 127);
        assert_eq!(Kind::NotExecutable.exit_code(), 126);
        assert_eq!(Kind::Interrupted(Signal::Term).name(), "interrupted");
        assert_eq!(Signal::from_number(15), Some(Signal::Term));
        assert_eq!(Signal::from_number(9), None);
    }
}
