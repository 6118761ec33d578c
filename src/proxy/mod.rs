//! The built-in reverse proxy: every session's HTTP ports at their own names
//! (`<service>.<session>.<project>.<domain>`), on one loopback port. Routes come from the
//! engine's containers (labels and published ports) per request, through a short cache the
//! engine's event stream keeps fresh: no route file, nothing to restart.
//!
//! [`routes`] and [`names`] are pure; [`server`], [`tls`], [`daemon`] and [`focus`] are the
//! proxy's own effects (sockets, its state files, its background process).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub mod activity;
pub mod daemon;
pub mod fast;
pub mod focus;
mod front;
pub use crate::desired::names;
pub mod pool;
pub mod routes;
pub mod server;
pub mod tls;

pub use crate::adapters::proxy::HEADER;
pub use crate::desired::names::DEFAULT_PORT;

/// The port the proxy listens on (127.0.0.1 and ::1): 7355 or `DEV_PRISM_PROXY_PORT`.
pub fn port() -> u16 {
    std::env::var("DEV_PRISM_PROXY_PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_PORT)
}

pub use crate::adapters::usage::state_dir;

/// The local CA's certificate (PEM), made on the first TLS connection or `proxy trust`.
pub fn ca_cert_path() -> PathBuf {
    state_dir().join("ca.pem")
}

/// The state directory, made 0700 when missing; refused when another user owns it or others
/// may read or write it (it holds the CA's key).
pub fn ensure_state_dir() -> Result<PathBuf> {
    let dir = state_dir();
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("create the state directory", &dir, e))?;
    }
    let meta =
        std::fs::metadata(&dir).map_err(|e| Error::io("read the state directory", &dir, e))?;
    // SAFETY: getuid(2) has no failure mode and no memory effects.
    let uid = unsafe { libc::getuid() };
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::usage(format!(
            "the state directory {} must be a directory of yours that only you may open (mode 0700)",
            dir.display()
        ))
        .with_hint(format!("run `chmod 700 {}` if it is yours", dir.display())));
    }
    Ok(dir)
}

/// Writes `bytes` to `path` (mode 0600), replacing it.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("write", path, e))
}

/// Whether two engine endpoints (`DOCKER_HOST` forms) are the same engine: the same text, or
/// unix sockets at paths that resolve to the same file.
pub fn same_engine(a: &str, b: &str) -> bool {
    let key = |h: &str| -> String {
        let h = h.trim().trim_end_matches('/');
        match h.strip_prefix("unix://") {
            Some(path) => std::fs::canonicalize(path)
                .map(|p| format!("unix://{}", p.display()))
                .unwrap_or_else(|_| h.to_string()),
            None => h.to_string(),
        }
    };
    a == b || key(a) == key(b)
}

/// What the session's URL variables depend on besides Docker's answer, read from the
/// environment once, at the edge.
pub fn setting() -> crate::desired::ProxySetting {
    crate::desired::ProxySetting {
        port: port(),
        ca_cert: ca_cert_path().to_string_lossy().into_owned(),
    }
}
