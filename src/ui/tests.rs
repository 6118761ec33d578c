//! The Ui against in-memory streams: what goes where, what quiet and verbose change, prompts,
//! and writers that fail.

use std::io::Write;
use std::sync::{Arc, Mutex};

use super::Ui;

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A closed pipe: every write and flush fails.
struct Closed;

impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
}

/// A Ui writing into two buffers (stdout, stderr), with `input` as the terminal's answers.
fn buffered(verbose: bool, input: Option<&str>) -> (Ui, Buffer, Buffer) {
    let (out, err) = (Buffer::default(), Buffer::default());
    let input = input.map(|s| -> Box<dyn std::io::BufRead + Send> {
        Box::new(std::io::Cursor::new(s.to_string()))
    });
    let ui = Ui::with_streams(Box::new(out.clone()), Box::new(err.clone()), input, verbose);
    (ui, out, err)
}

#[test]
fn data_goes_to_stdout_and_status_to_stderr() {
    let (ui, out, err) = buffered(false, None);
    ui.out("web  127.0.0.1:4000");
    ui.json_out(&serde_json::json!({"ok": true}));
    ui.out_raw(b"raw");
    ui.status("Starting web …");
    ui.warn("warning: a note");
    assert_eq!(out.text(), "web  127.0.0.1:4000\n{\n  \"ok\": true\n}\nraw");
    assert_eq!(err.text(), "Starting web …\nwarning: a note\n");
}

#[test]
fn quiet_silences_status_but_not_warnings() {
    let (ui, out, err) = buffered(false, None);
    let quiet = ui.quieted();
    quiet.status("Starting web …");
    quiet.warn("warning: still shown");
    quiet.out("data still shown");
    assert_eq!(err.text(), "warning: still shown\n");
    assert_eq!(out.text(), "data still shown\n");
    // The original is not quieted by its copy.
    ui.status("progress");
    assert!(err.text().ends_with("progress\n"));
}

#[test]
fn verbose_traces_only_with_verbose() {
    let started = std::time::Instant::now();
    let (ui, out, err) = buffered(false, None);
    assert!(!ui.trace().on());
    ui.trace().call("git rev-parse", started);
    assert_eq!(err.text(), "");
    let (ui, out_v, err_v) = buffered(true, None);
    ui.quieted().trace().call("git rev-parse", started);
    let line = err_v.text();
    assert!(
        line.starts_with("debug: git rev-parse (") && line.ends_with(" ms)\n"),
        "{line}"
    );
    assert_eq!(out.text() + &out_v.text(), "", "traces never go to stdout");
}

#[test]
fn a_default_trace_logs_nothing() {
    // Adapters made without a Ui (tests, the fake) carry this one.
    super::Trace::default().call("git status", std::time::Instant::now());
    assert!(!super::Trace::default().on());
}

#[test]
fn warn_once_prints_each_warning_once_across_copies() {
    let (ui, _, err) = buffered(false, None);
    let copy = ui.quieted();
    ui.warn_once("warning: x-dev-prism is unknown");
    copy.warn_once("warning: x-dev-prism is unknown");
    ui.warn_once("warning: another");
    assert_eq!(
        err.text(),
        "warning: x-dev-prism is unknown\nwarning: another\n"
    );
    // Another run (another Ui) has not seen it.
    let (other, _, other_err) = buffered(false, None);
    other.warn_once("warning: x-dev-prism is unknown");
    assert_eq!(other_err.text(), "warning: x-dev-prism is unknown\n");
}

#[test]
fn a_prompt_asks_on_stderr_and_reads_the_given_input() {
    let (ui, out, err) = buffered(false, Some("yes\nno\n"));
    assert_eq!(
        ui.ask("Remove 2 session(s)? [y/N] ").unwrap().unwrap(),
        "yes"
    );
    assert_eq!(ui.ask("Again? ").unwrap().unwrap(), "no");
    assert_eq!(err.text(), "Remove 2 session(s)? [y/N] Again? ");
    assert_eq!(out.text(), "");
}

#[test]
fn without_input_there_is_nobody_to_ask() {
    let (ui, _, err) = buffered(false, None);
    assert!(ui.ask("Remove? ").is_none());
    assert_eq!(err.text(), "", "no question without anyone to answer");
}

#[test]
fn the_mcp_ui_writes_nothing_to_stdout() {
    let (ui, out, err) = buffered(true, None);
    let mcp = ui.diagnostics_only();
    mcp.out("would corrupt the protocol");
    mcp.json_out(&serde_json::json!({}));
    mcp.warn("child: creating …");
    mcp.trace().call("ssh", std::time::Instant::now());
    assert_eq!(out.text(), "");
    assert!(err.text().starts_with("child: creating …\ndebug: ssh ("));
}

#[test]
fn a_closed_writer_drops_output_without_panicking() {
    let input: Box<dyn std::io::BufRead + Send> = Box::new(std::io::Cursor::new("y\n"));
    let ui = Ui::with_streams(Box::new(Closed), Box::new(Closed), Some(input), true);
    ui.out("data");
    ui.out_raw(b"bytes");
    ui.json_out(&serde_json::json!({"a": 1}));
    ui.status("progress");
    ui.warn("warning");
    ui.warn_once("warning");
    ui.trace().call("git", std::time::Instant::now());
    // The question cannot be shown, but the answer is still read.
    assert_eq!(ui.ask("Sure? ").unwrap().unwrap(), "y");
    drop(ui.spinner("spinning".into()));
}

#[test]
fn copies_share_the_streams_in_order() {
    let (ui, out, _) = buffered(false, None);
    let copies: Vec<Ui> = (0..4).map(|_| ui.clone()).collect();
    std::thread::scope(|s| {
        for (i, c) in copies.iter().enumerate() {
            s.spawn(move || c.out(&format!("line {i}")));
        }
    });
    let mut lines: Vec<String> = out.text().lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["line 0", "line 1", "line 2", "line 3"]);
}

#[test]
fn adapters_trace_through_the_handle_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let (ui, out, err) = buffered(true, None);
    let _ = crate::adapters::git::cli(ui.trace()).toplevel(dir.path());
    let (quiet_ui, _, quiet_err) = buffered(false, None);
    let _ = crate::adapters::git::cli(quiet_ui.trace()).toplevel(dir.path());
    assert!(
        err.text()
            .starts_with("debug: git rev-parse --show-toplevel ("),
        "{}",
        err.text()
    );
    assert_eq!(quiet_err.text(), "");
    assert_eq!(out.text(), "");
}

#[test]
fn config_warnings_go_to_the_runs_ui_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("session.config.yaml"), "portBase: 47000\n").unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  web:\n    image: busybox\n",
    )
    .unwrap();
    let (ui, out, err) = buffered(false, None);
    for _ in 0..2 {
        crate::context::load_session(&ui, dir.path()).unwrap();
    }
    let text = err.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("warning: ") && text.contains("`portBase` and `ports` no longer"));
    assert_eq!(out.text(), "");
}
