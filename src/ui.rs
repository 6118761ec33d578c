//! All output goes through here: data to stdout, progress and diagnostics to stderr. Colour
//! only on a terminal (or `--color always`), never with `NO_COLOR`. Output that cannot be
//! written (a closed pipe or terminal) is dropped: it never stops a command half-way.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Output settings for one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ui {
    pub quiet: bool,
    /// Colour on stdout.
    pub color: bool,
    /// Colour on stderr.
    pub color_err: bool,
    /// One JSON document on stdout instead of text.
    pub json: bool,
}

fn wants_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

impl Ui {
    pub fn new(quiet: bool, json: bool, color: ColorChoice, verbose: bool) -> Ui {
        VERBOSE.store(verbose, Ordering::Relaxed);
        Ui {
            quiet,
            color: !json && wants_color(color, std::io::stdout().is_terminal()),
            color_err: wants_color(color, std::io::stderr().is_terminal()),
            json,
        }
    }

    /// Data: the command's answer.
    pub fn out(&self, text: &str) {
        out(text);
    }

    /// The command's answer as one JSON document.
    pub fn json_out<T: serde::Serialize>(&self, value: &T) {
        self.out(&crate::render::json::to_string(value));
    }

    /// Progress: what is happening now.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            err(text);
        }
    }

    /// A warning or note that must be seen even with `--quiet`.
    pub fn warn(&self, text: &str) {
        err(text);
    }
}

/// A warning printed once per process however often its cause is met (config warnings:
/// the config is read more than once by some commands).
pub fn warn_once(text: &str) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|s| s == text) {
        err(text);
        seen.push(text.to_string());
    }
}

fn write_line(mut to: impl Write, text: &str) {
    let _ = to.write_all(text.as_bytes());
    if !text.ends_with('\n') && !text.is_empty() {
        let _ = to.write_all(b"\n");
    }
    let _ = to.flush();
}

/// A line on stdout; a write that fails is ignored.
pub fn out(text: &str) {
    write_line(std::io::stdout().lock(), text);
}

/// A line on stderr; a write that fails is ignored.
pub fn err(text: &str) {
    write_line(std::io::stderr().lock(), text);
}

/// Bytes on stdout as they are; a write that fails is ignored.
pub fn out_raw(bytes: &[u8]) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(bytes);
    let _ = o.flush();
}

/// Text on stderr as it is (no newline added); a write that fails is ignored.
pub fn err_raw(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
}

/// Whether `-v` asked for debug logging.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// With `-v`: logs one external call (Docker API, Compose, git, node) and its duration.
pub fn debug_call(what: &str, started: Instant) {
    if verbose() {
        err(&format!(
            "debug: {what} ({:.1} ms)",
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
}

/// ANSI styling, applied only when `on`.
pub fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A one-line spinner on stderr with elapsed time, for terminals only; cleared on drop.
pub struct Spinner {
    stop: std::sync::Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    pub fn start(text: String) -> Spinner {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let started = Instant::now();
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                err_raw(&format!(
                    "\r\x1b[2K{} {text} {:.1}s",
                    FRAMES[i % FRAMES.len()],
                    started.elapsed().as_secs_f64()
                ));
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            err_raw("\r\x1b[2K");
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

impl Ui {
    /// Whether progress may be animated: stderr is a terminal and progress is not silenced.
    pub fn animate(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}
