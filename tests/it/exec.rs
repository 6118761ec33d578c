//! `exec` on the real engine: no shell, 127/126, the command's own status, signals reach the
//! command; and commands whose output cannot be written (closed pipes) still do all their work.

use std::process::{Command, Stdio};

use crate::signals::{alive, kill, wait_exit, wait_file, ONE, V2};
use crate::support::*;

#[test]
fn exec_follows_shell_conventions_and_forwards_signals() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let exec = |args: &[&str]| {
        let mut all = vec!["exec", "--"];
        all.extend(args);
        repo.dp(&repo.path, &all)
    };
    let o = exec(&["no-such-program-xyz"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("command not found: `no-such-program-xyz`"),
        "{}",
        stderr(&o)
    );
    repo.write("not-executable", "#!/bin/sh\necho hi\n");
    let o = exec(&["./not-executable"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let o = exec(&["sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    // No shell: `$` reaches the command as it is.
    let o = exec(&["echo", "$APP_7000_PORT"]);
    assert_eq!(stdout(&o).trim(), "$APP_7000_PORT");
    // A command killed by signal n: the shell sees 128+n.
    let o = Command::new("sh")
        .current_dir(&repo.path)
        .env(V2.0, V2.1)
        .args([
            "-c",
            "\"$0\" exec -- sh -c 'kill -TERM $$'; echo \"status=$?\"",
        ])
        .arg(env!("CARGO_BIN_EXE_dev-prism"))
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), "status=143", "{}", stderr(&o));

    for signal in ["TERM", "INT", "HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let (pid_file, got) = (dir.path().join("pid"), dir.path().join("got"));
        let script = format!(
            "trap 'echo $1 > {got}; exit 7' {signal}; echo $$ > {pid}; while :; do sleep 0.1; done",
            got = got.display(),
            pid = pid_file.display()
        );
        let mut child = dp_command(
            &repo.path,
            &["exec", "--", "sh", "-c", &script, "sh", signal],
            &[V2],
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
        let pid = wait_file(&pid_file, &mut child);
        kill(signal, &child.id().to_string());
        let status = wait_exit(&mut child, 30);
        if alive(&pid) {
            kill("KILL", &pid);
        }
        assert_eq!(status.code(), Some(7), "SIG{signal} reached the command");
        assert_eq!(std::fs::read_to_string(&got).unwrap().trim(), signal);
    }
    ok(&repo.dp(&repo.path, &["destroy"]));
}

/// The write end of a pipe whose read end is closed: every write fails.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

#[test]
fn output_that_cannot_be_written_changes_nothing() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    // stderr closed (progress, warnings); stdout still read.
    let out = dp_command(&repo.path, &["create", "--in-place"], &[V2])
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stdout(&out)
    );
    assert!(repo.path.join(".env.session").is_file(), "create finished");
    assert_eq!(containers_under(&repo.root).len(), 1);
    // stdout closed too, in JSON and in text.
    for args in [&["info"][..], &["--json", "info"], &["list"], &["plan"]] {
        let status = dp_command(&repo.path, args, &[V2])
            .stdout(closed_pipe())
            .stderr(closed_pipe())
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}: {status}");
    }
    let status = dp_command(&repo.path, &["destroy"], &[V2])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert!(status.success(), "destroy: {status}");
    assert!(!repo.path.join(".env.session").exists());
    assert!(containers_under(&repo.root).is_empty());
    assert!(by_project("network", &repo.project_of(&repo.path)).is_empty());
}

/// `logs | head -1`: once the reader is gone, following ends quietly with exit 0 (Compose
/// fails to write, which is the end the reader asked for), the services keep running.
#[test]
fn logs_end_quietly_when_nobody_reads_them() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    const CHATTY: &str = "services:\n  chat:\n    image: dev-prism-test-busybox:2\n    command: [\"sh\", \"-c\", \"while true; do echo tick; sleep 0.2; done\"]\n    stop_grace_period: 1s\n";
    let repo = Repo::new(Flavor::V2, CHATTY);
    ok(&dp_env(&repo.path, &["create", "--in-place", "-q"], &[V2]));
    let mut child = dp_command(&repo.path, &["logs"], &[V2])
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, 30);
    let err = stderr(&child.wait_with_output().unwrap());
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
    assert_eq!(containers_under(&repo.root).len(), 1, "still running");
    ok(&dp_env(&repo.path, &["destroy", "-q"], &[V2]));
}
