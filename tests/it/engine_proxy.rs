//! A Unix socket proxy in front of the engine that a test owns: it records the requests it
//! relays (so a test can count a command's Engine API calls) and can be taken away (never the
//! shared dockerd itself).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What one connection's client sent, in order.
type Sent = Arc<Mutex<Vec<u8>>>;

/// Every connection is relayed until `stop`.
pub struct EngineProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    /// Each connection's, in the order they were made.
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// The unix socket the tests' engine listens on: DOCKER_HOST's when it names one (a Podman
/// socket in CI), else Docker's.
fn engine_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

impl EngineProxy {
    pub fn start(dir: &Path) -> EngineProxy {
        let path = dir.join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let (flag, log) = (stop.clone(), sent.clone());
        let socket = engine_socket();
        std::thread::spawn(move || {
            let mut open: Vec<UnixStream> = vec![];
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(engine) = UnixStream::connect(&socket) else {
                            continue;
                        };
                        let record: Sent = Arc::default();
                        log.lock().unwrap().push(record.clone());
                        let (mut from, mut to) =
                            (client.try_clone().unwrap(), engine.try_clone().unwrap());
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16384];
                            while let Ok(n @ 1..) = from.read(&mut buf) {
                                record.lock().unwrap().extend_from_slice(&buf[..n]);
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                        let (mut from, mut to) =
                            (engine.try_clone().unwrap(), client.try_clone().unwrap());
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                        open.push(client);
                        open.push(engine);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
            // The engine goes away: every relayed connection is cut.
            for s in open {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        });
        EngineProxy { path, stop, sent }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The request lines relayed so far (`GET /v1.41/containers/json?… HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        let methods = ["GET ", "POST ", "PUT ", "DELETE ", "HEAD "];
        self.sent
            .lock()
            .unwrap()
            .iter()
            .flat_map(|c| {
                let text = String::from_utf8_lossy(&c.lock().unwrap()).into_owned();
                text.split("\r\n")
                    .filter(|l| methods.iter().any(|m| l.starts_with(m)) && l.contains(" HTTP/1."))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The Engine API calls relayed so far, the client's version negotiation aside.
    pub fn api_calls(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !r.contains("/version ") && !r.contains("/_ping "))
            .collect()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.stop();
    }
}
