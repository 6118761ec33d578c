//! Which session `<service>.<project>.<domain>` reaches: one file per project in the state
//! directory, `focus/<project>`, holding the session directory.

use std::path::Path;

use crate::error::{Error, Result};

/// Focuses `dir` for `project` (written atomically: a reader sees the old or the new one).
pub fn set(project: &str, dir: &Path) -> Result<()> {
    let base = super::state_dir().join("focus");
    let fail = |e: std::io::Error| {
        Error::failure(format!("cannot write the focus in {}: {e}", base.display()))
    };
    std::fs::create_dir_all(&base).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let state = super::state_dir();
        for d in [&state, &base] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    let label = super::names::lower(project);
    crate::adapters::fs::write_atomic(
        &base,
        &base.join(label),
        dir.to_string_lossy().as_bytes(),
        0o600,
    )
}
