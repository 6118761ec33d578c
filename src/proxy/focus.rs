//! Focus: `<service>.<project>.<domain>` reaches the session focused for the project. One file
//! per project in the state directory, `focus/<project>`, holding the session directory.

use std::collections::BTreeMap;
use std::path::Path;

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
    super::write_private(&focus.join(project), dir.to_string_lossy().as_bytes())
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
