//! Which Docker engine to talk to: `DOCKER_HOST`, else the docker CLI's current context
//! (`DOCKER_CONTEXT` or `currentContext` in its config), else the default socket. bollard
//! honours only `DOCKER_HOST`, so contexts are resolved here and the same endpoint is handed to
//! the Compose CLI.

use std::path::PathBuf;

use crate::error::{Error, Result};

pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// The engine endpoint and where that choice came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path`, `tcp://host:port` or `http://…`.
    pub host: String,
    /// "DOCKER_HOST", "context NAME" or "default".
    pub source: String,
}

impl Endpoint {
    /// Whether the engine runs on this machine (a socket, or TCP to a loopback address): then
    /// its networks share the host's routing table.
    pub fn is_local(&self) -> bool {
        let h = self.host.as_str();
        if h.starts_with("unix://") || h.starts_with('/') || h.starts_with("npipe://") {
            return true;
        }
        let rest = h
            .strip_prefix("tcp://")
            .or_else(|| h.strip_prefix("http://"))
            .or_else(|| h.strip_prefix("https://"));
        rest.is_some_and(|r| {
            r.starts_with("127.") || r.starts_with("localhost") || r.starts_with("[::1]")
        })
    }
}

fn docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))
}

/// Resolves the endpoint from the environment and the docker CLI's files.
pub fn resolve() -> Result<Endpoint> {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            return Ok(Endpoint {
                host,
                source: "DOCKER_HOST".into(),
            });
        }
    }
    let config_dir = docker_config_dir();
    let context = std::env::var("DOCKER_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let text = std::fs::read_to_string(config_dir.as_ref()?.join("config.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v.get("currentContext")?.as_str().map(str::to_string)
        });
    match context {
        None => Ok(default()),
        Some(name) if name == "default" => Ok(default()),
        Some(name) => {
            let meta = config_dir.map(|d| d.join("contexts").join("meta"));
            host_of_context(meta, &name)
                .map(|host| Endpoint {
                    host,
                    source: format!("context {name}"),
                })
                .ok_or_else(|| {
                    Error::usage(format!("docker context `{name}` was not found"))
                        .with_hint("run `docker context ls`, or unset DOCKER_CONTEXT")
                })
        }
    }
}

fn default() -> Endpoint {
    Endpoint {
        host: DEFAULT_SOCKET.into(),
        source: "default".into(),
    }
}

/// Context metadata lives in `contexts/meta/<digest>/meta.json`; scanning avoids hashing.
fn host_of_context(meta_dir: Option<PathBuf>, name: &str) -> Option<String> {
    for entry in std::fs::read_dir(meta_dir?).ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if v.get("Name").and_then(|n| n.as_str()) == Some(name) {
            return v
                .pointer("/Endpoints/docker/Host")
                .and_then(|h| h.as_str())
                .map(str::to_string);
        }
    }
    None
}
