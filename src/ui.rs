//! All output goes through a [`Ui`]: data to stdout, progress and diagnostics to stderr,
//! prompts read from its input. Colour only on a terminal (or `--color always`), never with
//! `NO_COLOR`. Output that cannot be written (a closed pipe or terminal) is dropped: it never
//! stops a command half-way. No output state is global: a command's `Ui` (and the [`Trace`]
//! handle it gives the adapters for `--verbose`) owns its streams.

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// One output stream, shared by every copy of the `Ui` (lines from concurrent tasks never
/// interleave within a line).
type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

/// Where a prompt's answer comes from.
enum Input {
    /// The process's stdin, a terminal.
    Stdin,
    /// Given lines (tests).
    Reader(Box<dyn BufRead + Send>),
    /// Nobody to ask: stdin is not a terminal.
    Nobody,
}

/// Output settings and streams for one run. Cheap to clone: copies share the streams.
#[derive(Clone)]
pub struct Ui {
    pub quiet: bool,
    /// Colour on stdout.
    pub color: bool,
    /// Colour on stderr.
    pub color_err: bool,
    /// One JSON document on stdout instead of text.
    pub json: bool,
    /// stderr is a terminal: progress may be animated.
    err_terminal: bool,
    out: Writer,
    err: Writer,
    input: Arc<Mutex<Input>>,
    /// Warnings already printed by [`Ui::warn_once`].
    warned: Arc<Mutex<HashSet<String>>>,
    trace: Trace,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("quiet", &self.quiet)
            .field("color", &self.color)
            .field("color_err", &self.color_err)
            .field("json", &self.json)
            .field("verbose", &self.trace.on())
            .finish_non_exhaustive()
    }
}

/// The process's own streams, nothing verbose, no colour.
impl Default for Ui {
    fn default() -> Ui {
        let input = if std::io::stdin().is_terminal() {
            Input::Stdin
        } else {
            Input::Nobody
        };
        Ui::with(
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
            input,
            false,
        )
    }
}

fn wants_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

fn writer(w: Box<dyn Write + Send>) -> Writer {
    Arc::new(Mutex::new(w))
}

impl Ui {
    /// The process's stdout, stderr and stdin, with the global options.
    pub fn new(quiet: bool, json: bool, color: ColorChoice, verbose: bool) -> Ui {
        let ui = Ui::default();
        Ui {
            quiet,
            json,
            color: !json && wants_color(color, std::io::stdout().is_terminal()),
            color_err: wants_color(color, std::io::stderr().is_terminal()),
            err_terminal: std::io::stderr().is_terminal(),
            trace: Trace(verbose.then(|| ui.err.clone())),
            ..ui
        }
    }

    /// Output into `out` and `err`, prompts answered from `input` (`None`: nobody to ask);
    /// not quiet, no colour, no animation.
    pub fn with_streams(
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        input: Option<Box<dyn BufRead + Send>>,
        verbose: bool,
    ) -> Ui {
        let input = input.map_or(Input::Nobody, Input::Reader);
        Ui::with(out, err, input, verbose)
    }

    fn with(
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        input: Input,
        verbose: bool,
    ) -> Ui {
        let err = writer(err);
        Ui {
            quiet: false,
            color: false,
            color_err: false,
            json: false,
            err_terminal: false,
            out: writer(out),
            trace: Trace(verbose.then(|| err.clone())),
            err,
            input: Arc::new(Mutex::new(input)),
            warned: Arc::default(),
        }
    }

    /// This Ui with progress silenced (warnings still shown).
    pub fn quieted(&self) -> Ui {
        Ui {
            quiet: true,
            ..self.clone()
        }
    }

    /// This Ui with stdout closed: for the MCP server, whose stdout carries only the protocol.
    /// Diagnostics still go to stderr; nothing written through the Ui reaches stdout.
    pub fn diagnostics_only(&self) -> Ui {
        Ui {
            out: writer(Box::new(std::io::sink())),
            ..self.clone()
        }
    }

    /// The handle adapters log their external calls through (`--verbose`).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Data: the command's answer.
    pub fn out(&self, text: &str) {
        write_line(&self.out, text);
    }

    /// Data bytes as they are (completion scripts, man pages).
    pub fn out_raw(&self, bytes: &[u8]) {
        write_raw(&self.out, bytes);
    }

    /// The command's answer as one JSON document.
    pub fn json_out<T: serde::Serialize>(&self, value: &T) {
        self.out(&serde_json::to_string_pretty(value).unwrap_or_default());
    }

    /// Progress: what is happening now.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            write_line(&self.err, text);
        }
    }

    /// A warning or note that must be seen even with `--quiet`.
    pub fn warn(&self, text: &str) {
        write_line(&self.err, text);
    }

    /// A warning printed once per run however often its cause is met (config warnings: the
    /// config is read more than once by some commands). Copies of this Ui share what was seen.
    pub fn warn_once(&self, text: &str) {
        let mut seen = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(text.to_string()) {
            self.warn(text);
        }
    }

    /// Asks `question` on stderr and reads one line of answer (without its line end). `None`
    /// when there is nobody to ask (stdin is not a terminal).
    pub fn ask(&self, question: &str) -> Option<std::io::Result<String>> {
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*input, Input::Nobody) {
            return None;
        }
        write_raw(&self.err, question.as_bytes());
        let mut line = String::new();
        let read = match &mut *input {
            Input::Reader(r) => r.read_line(&mut line),
            _ => std::io::stdin().read_line(&mut line),
        };
        Some(read.map(|_| line.trim_end_matches(['\n', '\r']).to_string()))
    }

    /// Whether progress may be animated: stderr is a terminal and progress is not silenced.
    pub fn animate(&self) -> bool {
        !self.quiet && self.err_terminal
    }

    /// A one-line spinner on this Ui's stderr, cleared when dropped.
    pub fn spinner(&self, text: String) -> Spinner {
        Spinner::start(self.err.clone(), text)
    }
}

/// With `--verbose`, logs each external call (Docker API, Compose, git, node, ssh) and its
/// duration on the run's stderr; otherwise does nothing. Cheap to clone; the default is off.
#[derive(Clone, Default)]
pub struct Trace(Option<Writer>);

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Trace").field(&self.on()).finish()
    }
}

impl Trace {
    /// Whether calls are logged.
    pub fn on(&self) -> bool {
        self.0.is_some()
    }

    /// Logs one external call that began at `started`.
    pub fn call(&self, what: &str, started: Instant) {
        if let Some(err) = &self.0 {
            write_line(
                err,
                &format!(
                    "debug: {what} ({:.1} ms)",
                    started.elapsed().as_secs_f64() * 1000.0
                ),
            );
        }
    }
}

fn lock(to: &Writer) -> std::sync::MutexGuard<'_, Box<dyn Write + Send>> {
    to.lock().unwrap_or_else(|e| e.into_inner())
}

/// A line; a write that fails is ignored.
fn write_line(to: &Writer, text: &str) {
    let mut to = lock(to);
    let _ = to.write_all(text.as_bytes());
    if !text.ends_with('\n') && !text.is_empty() {
        let _ = to.write_all(b"\n");
    }
    let _ = to.flush();
}

/// Bytes as they are (no newline added); a write that fails is ignored.
fn write_raw(to: &Writer, bytes: &[u8]) {
    let mut to = lock(to);
    let _ = to.write_all(bytes);
    let _ = to.flush();
}

/// ANSI styling, applied only when `on`.
pub fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A one-line spinner with elapsed time, for terminals only; cleared on drop.
pub struct Spinner {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start(err: Writer, text: String) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let started = Instant::now();
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                let frame = format!(
                    "\r\x1b[2K{} {text} {:.1}s",
                    FRAMES[i % FRAMES.len()],
                    started.elapsed().as_secs_f64()
                );
                write_raw(&err, frame.as_bytes());
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            write_raw(&err, b"\r\x1b[2K");
        });
        Spinner {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests;
