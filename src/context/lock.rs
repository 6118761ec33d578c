//! The per-session lock: one command at a time per directory, in a per-user directory whose
//! owner and mode are checked, released by the OS however the process ends.

use super::*;
use crate::error::Problem;

/// Held while a command changes a session; released when the process exits, however it
/// exits (an OS file lock), so a crashed command never leaves a stale lock behind.
#[derive(Debug)]
pub struct SessionLock {
    file: std::fs::File,
    path: PathBuf,
}

impl SessionLock {
    /// Releases the lock and removes its file: for a directory whose session is gone
    /// (destroyed), so lock files do not pile up. Removed while held; a command that opened
    /// the file before and locks it after finds the path no longer names it and opens the
    /// path again (see [`acquire`]).
    pub fn remove(self) {
        if is_current(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Takes the session's lock or fails at once with a "busy" error. The lock file lives in a
/// per-user directory (`$XDG_RUNTIME_DIR/dev-prism-locks`, else
/// `$TMPDIR/dev-prism-locks-<uid>`), named by a hash of the session directory, so it never
/// shows up in the user's worktree. The directory is verified before use: a real directory
/// (not a link), owned by the current user, mode 700; the lock file is opened without
/// following a link and must be the user's too.
pub fn lock(dir: &Path) -> Result<SessionLock> {
    let (file, path) = acquire(dir, false)?;
    Ok(SessionLock { file, path })
}

/// Opens `dir`'s lock file and locks it (shared or alone) without waiting. A lock file is
/// removed only by its holder ([`SessionLock::remove`]), so a lock taken on a file the path no
/// longer names is worthless: it is dropped and the path opened again.
fn acquire(dir: &Path, shared: bool) -> Result<(std::fs::File, PathBuf)> {
    for _ in 0..8 {
        let (file, path) = lock_file(dir)?;
        let locked = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match locked {
            Ok(()) if is_current(&file, &path) => return Ok((file, path)),
            Ok(()) => continue,
            Err(std::fs::TryLockError::WouldBlock) => return Err(busy(dir)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io("cannot lock", &path, e));
            }
        }
    }
    Err(busy(dir))
}

/// Whether `path` still names the open `file` (same device and inode).
fn is_current(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
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
    let (file, _) = acquire(dir, true)?;
    Ok(SharedLock { file })
}

fn busy(dir: &Path) -> Error {
    Error::from(Problem::Busy {
        dir: dir.to_path_buf(),
    })
    .with_hint("wait for it to finish and run the command again")
}

/// Where `dir`'s lock file is (the per-user lock directory is made and verified).
pub fn lock_path(dir: &Path) -> Result<PathBuf> {
    let base = lock_dir(current_uid()?)?;
    Ok(base.join(format!(
        "{}.lock",
        crate::util::short_hash(dir.as_os_str().as_encoded_bytes(), 16)
    )))
}

/// The lock file of `dir`, opened (made when missing) and verified, with its path.
fn lock_file(dir: &Path) -> Result<(std::fs::File, PathBuf)> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let uid = current_uid()?;
    let path = lock_path(dir)?;
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
    Ok((file, path))
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
    wait_for(&file, &path, 50).await?;
    Ok(RepoLock { _file: file })
}

/// Held while a command chooses a session's proxy name and reserves it ([`reserve_name`]), so
/// two parallel creates never pick the same one (DESIGN §10 "names": unique with `-2`, `-3`).
#[derive(Debug)]
pub struct NamesLock {
    _file: std::fs::File,
}

/// Takes this user's lock on choosing proxy names, waiting for another command that holds it
/// (for one container listing and a few file reads).
pub async fn names_lock() -> Result<NamesLock> {
    let (file, path) = open_checked(&lock_dir(current_uid()?)?.join("names.lock"))?;
    wait_for(&file, &path, 20).await?;
    Ok(NamesLock { _file: file })
}

/// Names reserved by this process, each held (locked) until it ends: by then the session's
/// containers carry the name, or the create failed and the name is free again.
static RESERVED: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

const RESERVATION: &str = "name-";

/// Reserves the proxy name `host` for the session in `dir` until this process ends: a file
/// `name-<hash>.lock` in the per-user lock directory, locked, holding the name and the
/// directory. Call it holding [`names_lock`].
pub fn reserve_name(host: &str, dir: &str) -> Result<()> {
    let base = lock_dir(current_uid()?)?;
    let path = base.join(format!(
        "{RESERVATION}{}.lock",
        crate::util::short_hash(host.as_bytes(), 16)
    ));
    let (mut file, _) = open_checked(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        // Held by another process for the same name: only a command on the same directory
        // chooses a name another one reserved (the session's own lock keeps them apart).
        Err(std::fs::TryLockError::WouldBlock) => return Ok(()),
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
    }
    use std::io::Write;
    file.set_len(0)
        .and_then(|()| write!(file, "{host}\n{dir}\n"))
        .map_err(|e| Error::io("cannot write", &path, e))?;
    if let Ok(mut held) = RESERVED.lock() {
        held.push(file);
    }
    Ok(())
}

/// The proxy names other running commands reserved for directories other than `dir`. A
/// reservation file nobody holds is stale and removed. Call it holding [`names_lock`].
pub fn reserved_names(dir: &str) -> Result<Vec<String>> {
    use std::io::Read;
    let base = lock_dir(current_uid()?)?;
    let mut names = vec![];
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Ok(names);
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if !file_name.to_string_lossy().starts_with(RESERVATION) {
            continue;
        }
        let path = entry.path();
        let Ok((mut file, _)) = open_checked(&path) else {
            continue;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(_) => continue,
        }
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let mut lines = text.lines();
        if let (Some(host), Some(owner)) = (lines.next(), lines.next()) {
            if owner != dir && !host.is_empty() {
                names.push(host.to_string());
            }
        }
    }
    Ok(names)
}

/// A lock file at `path` (made 0600 when missing, never through a link), checked to be the
/// current user's.
fn open_checked(path: &Path) -> Result<(std::fs::File, PathBuf)> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let uid = current_uid()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("cannot open lock file", path, e))?;
    let owner = file
        .metadata()
        .map_err(|e| Error::io("cannot inspect", path, e))?
        .uid();
    if owner != uid {
        return Err(Error::failure(format!(
            "refusing the lock file {}: it is owned by uid {owner}, not by you (uid {uid})",
            path.display()
        ))
        .with_hint("remove it and run the command again"));
    }
    Ok((file, path.to_path_buf()))
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

/// Takes `file`'s exclusive lock, polling every `ms` milliseconds so that a Ctrl-C meanwhile
/// still ends the command.
async fn wait_for(file: &std::fs::File, path: &Path, ms: u64) -> Result<()> {
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", path, e)),
        }
    }
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
        changing.remove();
    }

    #[test]
    fn a_destroyed_sessions_lock_file_goes_and_a_stale_open_never_locks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let held = lock(dir).unwrap();
        let path = held.path.clone();
        assert!(path.exists());
        // Another command opened the file just before the holder removed it.
        let (stale, _) = lock_file(dir).unwrap();
        held.remove();
        assert!(!path.exists(), "the lock file is left behind");
        // It could lock the removed file, but the path names another one now.
        stale.try_lock().unwrap();
        assert!(!is_current(&stale, &path));
        // A lock taken now is on the path's file, and excludes every other.
        let now = lock(dir).unwrap();
        assert!(is_current(&now.file, &path));
        assert_eq!(lock(dir).unwrap_err().kind(), Kind::Busy);
        drop(now);
        drop(stale);
        lock(dir).unwrap().remove();
        assert!(!path.exists());
    }
}
