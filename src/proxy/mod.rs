//! The local reverse proxy that gives every session's web ports a stable name (DESIGN §10,
//! §11). [`names`] is the pure naming rule shared by the proxy and the env files; the rest of
//! this module is where the proxy keeps its state.
//!
//! (Minimal: the proxy server itself, with these functions, is built alongside; the lead
//! reconciles the two at merge, keeping these signatures.)

pub mod focus;
pub mod names;

use std::path::PathBuf;

/// The port the proxy listens on when `DEV_PRISM_PROXY_PORT` does not say otherwise.
pub const DEFAULT_PORT: u16 = 7355;

/// The header the proxy puts on every response, so a probe tells it from another server.
pub const HEADER: &str = "x-dev-prism-proxy";

/// The proxy's port: `DEV_PRISM_PROXY_PORT`, else 7355.
pub fn port() -> u16 {
    std::env::var("DEV_PRISM_PROXY_PORT")
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_PORT)
}

/// Where the proxy keeps its state: `$XDG_STATE_HOME/dev-prism/`, default
/// `~/.local/state/dev-prism/`.
pub fn state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".local/state")
        });
    base.join("dev-prism")
}

/// The local CA's certificate (PEM), what `NODE_EXTRA_CA_CERTS` names.
pub fn ca_cert_path() -> PathBuf {
    state_dir().join("ca.pem")
}

/// What the session's URL variables depend on besides Docker's answer, read from the
/// environment once, at the edge.
pub fn setting() -> crate::desired::ProxySetting {
    crate::desired::ProxySetting {
        port: port(),
        ca_cert: ca_cert_path().to_string_lossy().into_owned(),
    }
}
