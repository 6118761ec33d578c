//! Where a remote engine's ports are, and `dev-prism forward`, against the test-owned sshd of
//! `remote.rs` standing in for the engine host.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::remote::{sshd, user};
use crate::support::*;

fn ssh_ready() -> bool {
    docker_ready(Flavor::V2) && needs_program("/usr/sbin/sshd") && needs_program("ssh-keygen")
}

/// Destroys the session when the test ends, however it ends.
struct Session<'a> {
    repo: &'a Repo,
    env: Vec<(&'a str, String)>,
}

impl Session<'_> {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = dp_env(&self.repo.path, &["destroy", "-q"], &self.env());
    }
}

/// The pids of `parent`'s children named `name`.
fn children(parent: u32, name: &str) -> Vec<u32> {
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let Some((head, tail)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map(|(_, c)| c).unwrap_or("");
        let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(parent) && comm == name {
            out.extend(entry.file_name().to_string_lossy().parse::<u32>().ok());
        }
    }
    out
}

#[test]
fn forward_brings_a_remote_sessions_ports_to_this_machine_and_ends_on_ctrl_c() {
    if !ssh_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_sshd, port, path) = sshd(tmp.path());
    let repo = Repo::new(Flavor::V2, ECHO);
    // The engine binds 127.0.0.2 (its loopback), so 127.0.0.1:PORT here is free to forward to.
    repo.write("session.config.yaml", "bindAddress: 127.0.0.2\n");
    repo.commit("config");
    let session = Session {
        repo: &repo,
        env: vec![
            ("DOCKER_HOST", format!("ssh://{}@127.0.0.1:{port}", user())),
            ("PATH", path),
            ("DEV_PRISM_COMPOSE", "v2".into()),
        ],
    };
    let env = session.env();
    // The "remote" engine is this machine's: another test's session may hold 127.0.0.1:PORT
    // for the port the engine picked on 127.0.0.2 (forward then refuses, rightly). That is the
    // shared machine, not the product: make the session again until its port is free here.
    let mut attempt = 0;
    let (echo, mut fwd, _lines, line) = loop {
        attempt += 1;
        ok(&dp_env(&repo.path, &["create", "--in-place", "-q"], &env));
        let vars = env_vars(&repo.path.join(".env.session"));
        let echo: u16 = vars["ECHO_PORT"].parse().unwrap();
        let taken = || std::net::TcpStream::connect(("127.0.0.1", echo)).is_ok();
        if !taken() {
            let mut fwd = dp_command(&repo.path, &["forward"], &env)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(fwd.stdout.take().unwrap()).lines();
            if let Some(Ok(line)) = lines.next() {
                break (echo, fwd, lines, line);
            }
            let status = fwd.wait().unwrap();
            let mut err = String::new();
            let _ = fwd.stderr.take().unwrap().read_to_string(&mut err);
            assert!(
                err.contains("cannot forward port") || err.contains("already in use"),
                "forward printed nothing ({status}): {err}"
            );
        }
        assert!(attempt < 5, "127.0.0.1:{echo} was taken five times running");
        ok(&dp_env(&repo.path, &["destroy", "-q"], &env));
    };
    assert!(line.contains(&format!("127.0.0.1:{echo}")), "{line}");
    assert!(line.contains("ECHO_PORT"), "{line}");
    let ssh = children(fwd.id(), "ssh");
    assert_eq!(ssh.len(), 1, "one ssh child: {ssh:?}");

    let mut conn = std::net::TcpStream::connect(("127.0.0.1", echo)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"through the tunnel\n").unwrap();
    let mut got = [0u8; 19];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"through the tunnel\n");
    drop(conn);

    unsafe {
        libc::kill(fwd.id() as libc::pid_t, libc::SIGINT);
    }
    let status = fwd.wait().unwrap();
    let mut err = String::new();
    let _ = fwd.stderr.take().unwrap().read_to_string(&mut err);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", ssh[0])).exists(),
        "ssh {} outlived forward",
        ssh[0]
    );
    // (Whether 127.0.0.1:PORT is free now is another test's business: the ssh that held it
    // is gone, checked above.)
    drop(session);
    assert!(containers_under(&repo.root).is_empty());
}

#[test]
fn forward_on_a_local_engine_has_nothing_to_do() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let out = ok(&repo.dp(&repo.path, &["forward"]));
    assert!(out.contains("nothing to forward"), "{out}");
    // A TLS (or plain tcp) engine elsewhere: forward needs ssh.
    let out = dp_env(
        &repo.path,
        &["forward"],
        &[("DOCKER_HOST", "tcp://192.0.2.77:2376")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs an ssh engine"),
        "{}",
        stderr(&out)
    );
}
