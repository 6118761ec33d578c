//! The background proxy as `create`/`start`/`apply` see it: whether something answers on its
//! port and whether that is dev-prism's proxy (a probe request), and starting it (`<this
//! program> proxy start`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The header the proxy puts on every response, so a probe tells it from another server.
pub const HEADER: &str = "x-dev-prism-proxy";

/// The `Host` of the probe request: a name no session has, that the proxy answers with its
/// 421 (outside its domain) and its header, and any other server with something else.
pub const PROBE_HOST: &str = "dev-prism-probe.invalid";

/// What answers on the proxy's port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Nothing listens.
    Nothing,
    /// dev-prism's proxy (its responses carry [`HEADER`]).
    Ours,
    /// Something else holds the port: what it answered (its status line, or why it did not).
    Other(String),
}

/// Asks 127.0.0.1:`port` who it is: one `GET /` with `Host: dev-prism-probe.invalid`.
pub fn probe(port: u16) -> Probe {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return Probe::Nothing;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: {PROBE_HOST}\r\nConnection: close\r\n\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return Probe::Other(format!("it does not take an HTTP request ({e})"));
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    classify(&String::from_utf8_lossy(&head))
}

/// Reads a response head: ours when a header is named [`HEADER`].
fn classify(head: &str) -> Probe {
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("").trim().to_string();
    let ours = lines.take_while(|l| !l.is_empty()).any(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(HEADER))
    });
    match (ours, status.is_empty()) {
        (true, _) => Probe::Ours,
        (false, true) => Probe::Other("it gave no HTTP answer".into()),
        (false, false) => Probe::Other(format!("it answered `{status}`")),
    }
}

/// Runs `<exe> proxy start` (which returns once the proxy runs in the background) and waits
/// for it, at most `timeout`. Its output is not read: the proxy it leaves behind may hold
/// inherited pipes open for as long as it runs.
pub fn start(exe: &Path, timeout: Duration, trace: &crate::ui::Trace) -> Result<()> {
    let started = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.args(["proxy", "start"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| {
        Error::failure(format!(
            "could not run `{} proxy start`: {e}",
            exe.display()
        ))
    })?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("it did not finish within {} s", timeout.as_secs()));
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    trace.call(&format!("{} proxy start", exe.display()), started);
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Error::failure(format!(
            "`dev-prism proxy start` failed ({s})"
        ))),
        Err(why) => Err(Error::failure(format!("`dev-prism proxy start`: {why}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxys_header_tells_it_from_another_server() {
        let ours = "HTTP/1.1 421 Misdirected Request\r\ncontent-type: text/plain\r\nX-Dev-Prism-Proxy: 1\r\n\r\n";
        assert_eq!(classify(ours), Probe::Ours);
        let nginx = "HTTP/1.1 404 Not Found\r\nServer: nginx\r\n\r\nx-dev-prism-proxy: 1";
        assert_eq!(
            classify(nginx),
            Probe::Other("it answered `HTTP/1.1 404 Not Found`".into())
        );
        assert_eq!(classify(""), Probe::Other("it gave no HTTP answer".into()));
    }

    #[test]
    fn probes_what_listens() {
        // A listener that is not the proxy: it answers, without the header.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.0 200 OK\r\nServer: other\r\n\r\nhello")
                .unwrap();
        });
        assert_eq!(
            probe(port),
            Probe::Other("it answered `HTTP/1.0 200 OK`".into())
        );
        server.join().unwrap();
        // Nothing listens once the listener is gone.
        assert_eq!(probe(port), Probe::Nothing);
    }
}
