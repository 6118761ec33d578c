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
    /// Stopped by Ctrl-C (SIGINT) or SIGTERM.
    Interrupted,
}

impl Kind {
    /// Stable exit codes, documented in the README.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Failure => 1,
            Kind::Usage => 2,
            Kind::Unreachable => 3,
            Kind::Busy => 4,
            Kind::Interrupted => 130,
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
