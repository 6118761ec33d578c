//! The per-session lock: one command at a time per directory, in a per-user directory whose
//! owner and mode are checked, released by the OS however the process ends.

use super::*;
use crate::error::Problem;

/// Held while a command changes a session; released when the process exits, however it
/// exits (an OS file lock), so a crashed command never leaves a stale lock behind.
#[derive(Debug)]
pub struct SessionLock {
    _file: std::fs::File,
}

/// Takes the session's lock or fails at once with a "busy" error. The lock file lives in a
/// per-user directory (`$XDG_RUNTIME_DIR/dev-prism-locks`, else
/// `$TMPDIR/dev-prism-locks-<uid>`), named by a hash of the session directory, so it never
/// shows up in the user's worktree. The directory is verified before use: a real directory
/// (not a link), owned by the current user, mode 700; the lock file is opened without
/// following a link and must be the user's too.
pub fn lock(dir: &Path) -> Result<SessionLock> {
    let file = lock_file(dir)?;
    match file.try_lock() {
        Ok(()) => Ok(SessionLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(busy(dir)),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::failure(format!(
            "cannot lock the session {}: {e}",
            dir.display()
        ))),
    }
}

/// A copy's hold on its source (`--data-from DIR`): shared with every other copy of DIR, never
/// with a command that changes DIR (those take [`lock`]); released when dropped or when the
/// process ends.
#[derive(Debug)]
pub struct SharedLock {
    file: std::fs::File,
}

impl SharedLock {
    /// Whether this is the last copy still holding the source: the lock is turned exclusive,
    /// which succeeds only when no other copy holds it. The turn is one atomic step in the
    /// kernel that drops this copy's share first, so of copies ending together exactly the
    /// last one to ask gets `true`, and the one that does unpauses the source. Asked once.
    pub fn last(&self) -> bool {
        self.file.try_lock().is_ok()
    }
}

/// Takes a shared hold on `dir` for a copy of its data, or fails at once with the busy error
/// while a command changes `dir` (its create, apply, start, stop or destroy).
pub fn lock_shared(dir: &Path) -> Result<SharedLock> {
    let file = lock_file(dir)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(SharedLock { file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(busy(dir)),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::failure(format!(
            "cannot lock the session {}: {e}",
            dir.display()
        ))),
    }
}

fn busy(dir: &Path) -> Error {
    Error::from(Problem::Busy {
        dir: dir.to_path_buf(),
    })
    .with_hint("wait for it to finish and run the command again")
}

/// The lock file of `dir`, opened (made when missing) and verified.
fn lock_file(dir: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let uid = current_uid()?;
    let base = lock_dir(uid)?;
    let path = base.join(format!(
        "{}.lock",
        crate::util::short_hash(dir.as_os_str().as_encoded_bytes(), 16)
    ));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| {
            Error::io("cannot open lock file", &path, e)
                .with_hint("a symbolic link there is refused; remove it and run the command again")
        })?;
    let owner = file
        .metadata()
        .map_err(|e| Error::io("cannot inspect", &path, e))?
        .uid();
    if owner != uid {
        return Err(Error::failure(format!(
            "refusing the lock file {}: it is owned by uid {owner}, not by you (uid {uid})",
            path.display()
        ))
        .with_hint("remove it and run the command again"));
    }
    Ok(file)
}

/// The effective uid, without libc: the owner of `/proc/self`, else of a file this process
/// creates.
pub(super) fn current_uid() -> Result<u32> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    if let Ok(m) = std::fs::metadata("/proc/self") {
        return Ok(m.uid());
    }
    let probe = std::env::temp_dir().join(format!(
        ".dev-prism-uid-{}-{}",
        std::process::id(),
        UtcTime::now().slug()
    ));
    let fail = |e: std::io::Error| Error::failure(format!("cannot learn the current user: {e}"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&probe)
        .map_err(fail)?;
    let uid = file.metadata().map_err(fail)?.uid();
    let _ = std::fs::remove_file(&probe);
    Ok(uid)
}

/// The per-user lock directory, created mode 700 and verified.
pub(super) fn lock_dir(uid: u32) -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("dev-prism-locks"),
        None => std::env::temp_dir().join(format!("dev-prism-locks-{uid}")),
    };
    let refuse = |why: String| {
        Error::failure(format!(
            "refusing the lock directory {}: {why}",
            base.display()
        ))
        .with_hint(format!(
            "remove {} (it holds only dev-prism's lock files); dev-prism makes it again, yours, mode 700",
            base.display()
        ))
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refuse(format!("cannot create it: {e}"))),
    }
    let inspect =
        || std::fs::symlink_metadata(&base).map_err(|e| refuse(format!("cannot inspect it: {e}")));
    let m = inspect()?;
    if m.file_type().is_symlink() {
        return Err(refuse("it is a symbolic link".into()));
    }
    if !m.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    if m.uid() != uid {
        return Err(refuse(format!(
            "it is owned by uid {}, not by you (uid {uid})",
            m.uid()
        )));
    }
    if m.mode() & 0o777 != 0o700 {
        // Yours, made by an older dev-prism or under a narrow umask: set it to 700.
        let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700));
        let mode = inspect()?.mode() & 0o777;
        if mode != 0o700 {
            return Err(refuse(format!("its mode is {mode:o}, not 700")));
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn copies_share_a_source_and_the_last_one_out_knows_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let a = lock_shared(dir).unwrap();
        let b = lock_shared(dir).unwrap();
        // A command changing the source waits for every copy; a copy waits for it.
        assert_eq!(lock(dir).unwrap_err().kind(), Kind::Busy);
        // The first copy to end is not the last: it leaves the source paused.
        assert!(!a.last());
        drop(a);
        assert_eq!(lock(dir).unwrap_err().kind(), Kind::Busy);
        // The last one is, and holds the source alone while it unpauses.
        assert!(b.last());
        assert_eq!(lock_shared(dir).unwrap_err().kind(), Kind::Busy);
        drop(b);
        let changing = lock(dir).unwrap();
        assert_eq!(lock_shared(dir).unwrap_err().kind(), Kind::Busy);
        drop(changing);
    }
}
