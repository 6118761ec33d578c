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
    match file.try_lock() {
        Ok(()) => Ok(SessionLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::from(Problem::Busy {
            dir: dir.to_path_buf(),
        })
        .with_hint("wait for it to finish and run the command again")),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
    }
}

/// Held while a command counts the repository's running sessions and brings one up
/// (`maxRunning`), so two parallel creates cannot both count one place left.
#[derive(Debug)]
pub struct RepoLock {
    _file: std::fs::File,
}

/// Takes the repository's lock, waiting for another command that holds it (it holds it only
/// while it counts and starts its session). The file is in the per-user lock directory, named
/// by a hash of the repository's main checkout, checked like a session's.
pub async fn repo_lock(root: &Path) -> Result<RepoLock> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let uid = current_uid()?;
    let base = lock_dir(uid)?;
    let mut key = b"repo:".to_vec();
    key.extend_from_slice(root.as_os_str().as_encoded_bytes());
    let path = base.join(format!("repo-{}.lock", crate::util::short_hash(&key, 16)));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| Error::io("cannot open lock file", &path, e))?;
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
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(RepoLock { _file: file }),
            // Polled, so a Ctrl-C meanwhile still ends the command.
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
        }
    }
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
