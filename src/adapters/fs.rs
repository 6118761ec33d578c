//! Files: read if present, write atomically with a mode, remove if present.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Text and permission bits of a file, `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<(String, u32)>> {
    match fs::read(path) {
        Ok(bytes) => {
            let mode = fs::metadata(path)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            Ok(Some((String::from_utf8_lossy(&bytes).into_owned(), mode)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::failure(format!(
            "could not read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes through a temporary file in the same directory and a rename, so readers never see
/// half a file; the file is created with `mode` from the start (no window where an env file
/// holding credentials is world-readable).
pub fn write_atomic(path: &Path, content: &str, mode: u32) -> Result<()> {
    let fail =
        |e: std::io::Error| Error::failure(format!("could not write {}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// Removes a file; a missing file is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::failure(format!(
            "could not remove {}: {e}",
            path.display()
        ))),
    }
}

/// Copies a file (creating parent directories) with the given mode.
pub fn copy(src: &Path, dst: &Path, mode: u32) -> Result<()> {
    let text = fs::read(src)
        .map_err(|e| Error::failure(format!("could not read {}: {e}", src.display())))?;
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| Error::failure(format!("could not create {}: {e}", parent.display())))?;
    }
    write_atomic(dst, &String::from_utf8_lossy(&text), mode)
}
