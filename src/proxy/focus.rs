//! Focus: `<service>.<project>.<domain>` reaches the session focused for the project. One file
//! per project in the state directory, `focus/<project>`, holding the session directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// Focuses `dir` for `project` (the project part of its `dev-prism.host` label).
pub fn set(project: &str, dir: &Path) -> Result<()> {
    let project = super::names::lower(project);
    let focus = super::ensure_state_dir()?.join("focus");
    if !focus.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&focus)
            .map_err(|e| Error::io("create", &focus, e))?;
    }
    super::write_private(&focus.join(project), dir.to_string_lossy().as_bytes())?;
    tell_proxy();
    Ok(())
}

/// Asks the proxy on this user's port for its status, which makes it look at the focus files
/// before its next request (else it looks every few milliseconds): the focus is used at once.
/// Best effort: with no proxy there is nothing to tell.
fn tell_proxy() {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], super::port()));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
    let asked = write!(
        s,
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        super::routes::STATUS_HOST
    );
    if asked.is_ok() {
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
    }
}

/// Every focus: project → session directory.
pub fn all() -> BTreeMap<String, String> {
    let Ok(rd) = std::fs::read_dir(super::state_dir().join("focus")) else {
        return BTreeMap::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = std::fs::read_to_string(e.path()).ok()?;
            (!name.ends_with(".tmp")).then(|| (name, dir.trim().to_string()))
        })
        .collect()
}
