//! The one error type. A failure is a [`Problem`]: one variant per kind of failure, carrying its
//! data (the path, the service, the operation, the source error). Its sentence is rendered from
//! that data, and [`Problem::kind`] is the one place that classifies it (exit code, JSON kind).
//! An [`Error`] is a problem plus the hint that says what to do next. (Slightly over 400 lines:
//! the variants, their one classification and their sentences are read together.)

use std::fmt;
use std::path::PathBuf;

/// The classification of a [`Problem`] (derived, never stored): it alone decides the process
/// exit code and the JSON `kind`.
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

/// What went wrong, with the data to say it. `Display` renders the sentence the user reads.
#[derive(Debug)]
pub enum Problem {
    /// A file-system operation on `path` failed. `op` is the operation as the sentence starts
    /// ("could not read", "cannot create").
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Copying one file into a session failed.
    Copy {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    /// A program could not be started or waited for (`op`: "could not run", "could not wait for").
    Run {
        op: &'static str,
        command: String,
        source: std::io::Error,
    },
    /// A program dev-prism needs is not installed. `engine`: it is the way to the engine (the
    /// Compose CLI), so its absence means the engine cannot be reached.
    NotInstalled { program: String, engine: bool },
    /// A Docker Engine API call was refused or failed.
    Engine {
        operation: String,
        source: bollard::errors::Error,
    },
    /// The Docker engine cannot be reached at `endpoint` ("HOST (where it was configured)").
    Unreachable { endpoint: String, cause: String },
    /// No Compose CLI that works was found.
    NoCompose { tried: Vec<String>, cause: String },
    /// A git command failed; `stderr` is the tail of what it said.
    Git { operation: String, stderr: String },
    /// A Compose command (`docker compose SUBCOMMAND`) failed; `stderr` is the tail of its output.
    Compose { command: String, stderr: String },
    /// A command dev-prism ran ended unsuccessfully.
    Exited {
        command: String,
        status: std::process::ExitStatus,
    },
    /// A service failed or did not become ready; `logs` are its last log lines (may be empty).
    ServiceFailed {
        service: String,
        reason: String,
        logs: String,
    },
    /// A `setup` command failed on its own (`status`: its exit code, or the signal).
    SetupFailed { command: String, status: String },
    /// A config or compose file is wrong. `file` is its name as shown, `at` the line and column,
    /// `diagnostic` a pre-rendered snippet of the file (miette).
    Config {
        file: String,
        at: Option<(usize, usize)>,
        message: String,
        diagnostic: Option<Box<miette::Report>>,
    },
    /// Another dev-prism command holds the session directory `dir`.
    Busy { dir: PathBuf },
    /// Stopped by `signal` while doing `during`.
    Interrupted { signal: Signal, during: String },
    /// `exec`: the command was not found.
    CommandNotFound { command: String },
    /// `exec`: the command exists but cannot be executed.
    NotExecutable {
        command: String,
        source: std::io::Error,
    },
    /// `maxRunning` sessions of the repository already run (`running`: their directories).
    TooManyRunning { limit: u64, running: Vec<PathBuf> },
    /// A create would copy more than the file system it copies to has free.
    NoSpace {
        /// What is copied ("the worktree and its copied files", "the volumes").
        what: String,
        needed: u64,
        free: u64,
        /// Where it goes (a directory on that file system).
        at: PathBuf,
    },
    /// The user's input is wrong (flags, config values, directory, branch name): a sentence.
    Usage(String),
    /// An operation failed, said in a sentence.
    Failure(String),
    /// The engine cannot do what the session asks (rootless on cgroup v1: no pause, no
    /// limits): refused before anything is made.
    EngineCannot {
        /// "rootless Podman 4.3.1 on cgroup v1".
        engine: String,
        /// "pause the running source of --data-from (…)".
        what: String,
    },
}

impl Problem {
    /// The one classification of every variant: exit code and JSON kind follow from it.
    pub fn kind(&self) -> Kind {
        match self {
            Problem::Io { .. }
            | Problem::Copy { .. }
            | Problem::Run { .. }
            | Problem::NotInstalled { engine: false, .. }
            | Problem::Engine { .. }
            | Problem::Git { .. }
            | Problem::Compose { .. }
            | Problem::Exited { .. }
            | Problem::ServiceFailed { .. }
            | Problem::SetupFailed { .. }
            | Problem::Failure(_) => Kind::Failure,
            Problem::Config { .. }
            | Problem::Usage(_)
            | Problem::TooManyRunning { .. }
            | Problem::NoSpace { .. }
            | Problem::EngineCannot { .. } => Kind::Usage,
            Problem::NotInstalled { engine: true, .. }
            | Problem::Unreachable { .. }
            | Problem::NoCompose { .. } => Kind::Unreachable,
            Problem::Busy { .. } => Kind::Busy,
            Problem::Interrupted { signal, .. } => Kind::Interrupted(*signal),
            Problem::CommandNotFound { .. } => Kind::CommandNotFound,
            Problem::NotExecutable { .. } => Kind::NotExecutable,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            Problem::Copy { from, to, source } => write!(
                f,
                "could not copy {} to {}: {source}",
                from.display(),
                to.display()
            ),
            Problem::Run {
                op,
                command,
                source,
            } => write!(f, "{op} {command}: {source}"),
            Problem::NotInstalled { program, .. } => {
                write!(f, "{program} is not installed (or not on PATH)")
            }
            Problem::Engine { operation, source } => {
                write!(f, "Docker could not {operation}: {}", chain(source))
            }
            Problem::Unreachable { endpoint, cause } => {
                write!(f, "cannot reach the Docker engine at {endpoint}: {cause}")
            }
            Problem::NoCompose { tried, cause } => write!(
                f,
                "no working Docker Compose found (tried {}): {cause}",
                tried.join(", ")
            ),
            Problem::Git { operation, stderr } => write!(f, "git could not {operation}: {stderr}"),
            Problem::Compose { command, stderr } => {
                write!(f, "`docker compose {command}` failed:\n{stderr}")
            }
            Problem::Exited { command, status } => write!(f, "`{command}` exited with {status}"),
            Problem::ServiceFailed {
                service,
                reason,
                logs,
            } => {
                write!(f, "service `{service}` {reason}")?;
                if !logs.is_empty() {
                    write!(f, "; its last log lines:\n{logs}")?;
                }
                Ok(())
            }
            Problem::SetupFailed { command, status } => {
                write!(f, "setup command `{command}` failed with {status}")
            }
            Problem::Config {
                file, at, message, ..
            } => match at {
                Some((line, column)) => write!(f, "{file}:{line}:{column}: {message}"),
                None => write!(f, "{file}: {message}"),
            },
            Problem::Busy { dir } => write!(
                f,
                "another dev-prism command is working on {}",
                dir.display()
            ),
            Problem::Interrupted { signal, during } => {
                write!(f, "interrupted by {} during: {during}", signal.name())
            }
            Problem::CommandNotFound { command } => write!(f, "command not found: `{command}`"),
            Problem::NotExecutable { command, source } => {
                let verb = match source.kind() {
                    std::io::ErrorKind::PermissionDenied => "execute",
                    _ => "run",
                };
                write!(f, "cannot {verb} `{command}`: {source}")
            }
            Problem::TooManyRunning { limit, running } => {
                write!(
                    f,
                    "{} session(s) of this repository already run (maxRunning: {limit}):",
                    running.len()
                )?;
                for dir in running {
                    write!(f, "\n  {}", dir.display())?;
                }
                Ok(())
            }
            Problem::NoSpace {
                what,
                needed,
                free,
                at,
            } => write!(
                f,
                "not enough disk space: {what} need {} ({needed} bytes) but {} has {} ({free} bytes) free",
                crate::util::human_bytes(*needed),
                at.display(),
                crate::util::human_bytes(*free)
            ),
            Problem::Usage(message) | Problem::Failure(message) => f.write_str(message),
            Problem::EngineCannot { engine, what } => write!(f, "{engine} cannot {what}"),
        }
    }
}

/// A user-facing error: the problem (its sentence and data) and what to do next.
#[derive(Debug)]
pub struct Error {
    problem: Box<Problem>,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Problem> for Error {
    fn from(problem: Problem) -> Self {
        Error {
            problem: Box::new(problem),
            hint: None,
        }
    }
}

impl Error {
    pub fn failure(message: impl Into<String>) -> Self {
        Problem::Failure(message.into()).into()
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Problem::Usage(message.into()).into()
    }

    /// A file-system operation on `path` that failed (see [`Problem::Io`]).
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Problem::Io {
            op,
            path: path.into(),
            source,
        }
        .into()
    }

    /// A program that could not be started (`op` "could not run") or waited for.
    pub fn run(op: &'static str, command: impl Into<String>, source: std::io::Error) -> Self {
        Problem::Run {
            op,
            command: command.into(),
            source,
        }
        .into()
    }

    /// A config or compose file `file` that is wrong, without a position or snippet.
    pub fn config(file: impl Into<String>, message: impl Into<String>) -> Self {
        Problem::Config {
            file: file.into(),
            at: None,
            message: message.into(),
            diagnostic: None,
        }
        .into()
    }

    /// A git command that failed, with the tail of what it said.
    pub fn git(operation: impl Into<String>, stderr: impl Into<String>) -> Self {
        Problem::Git {
            operation: operation.into(),
            stderr: stderr.into(),
        }
        .into()
    }

    /// The stopped operation of a signal.
    pub fn interrupted(signal: Signal, during: impl Into<String>) -> Self {
        Problem::Interrupted {
            signal,
            during: during.into(),
        }
        .into()
    }

    /// What went wrong, with its data.
    /// A config error without a position gets `at` (the line and column of the key it is
    /// about, found by the caller in the file's text).
    pub fn at(mut self, line: usize, column: usize) -> Self {
        if let Problem::Config { at: at @ None, .. } = self.problem.as_mut() {
            *at = Some((line, column));
        }
        self
    }

    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The classification, derived from the problem.
    pub fn kind(&self) -> Kind {
        self.problem.kind()
    }

    /// The process exit code, derived from the problem.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }

    /// The sentence the user reads.
    pub fn message(&self) -> String {
        self.problem.to_string()
    }

    /// The snippet of the file a config or compose error points into, when there is one.
    pub fn diagnostic(&self) -> Option<&miette::Report> {
        match &*self.problem {
            Problem::Config { diagnostic, .. } => diagnostic.as_deref(),
            _ => None,
        }
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.problem.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.problem {
            Problem::Io { source, .. }
            | Problem::Copy { source, .. }
            | Problem::Run { source, .. }
            | Problem::NotExecutable { source, .. } => Some(source),
            Problem::Engine { source, .. } => Some(source),
            _ => None,
        }
    }
}

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
mod tests;
