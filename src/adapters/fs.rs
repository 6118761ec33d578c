//! Files: read if present; write atomically with a mode, remove and copy — each confined to a
//! root directory (the session directory) that no write ever leaves.
//!
//! The rules (DESIGN §6, "Writes never leave the session directory"):
//! - the path must lie under the root, and every directory between the root and the file must
//!   be a real directory, never a symbolic link (a committed `apps/web -> /elsewhere` is
//!   refused, naming the link); the resolved parent must be inside the resolved root;
//! - a symbolic link at the file's own path is neither written through nor replaced nor
//!   removed: dev-prism only ever writes regular files, so a link there is not its own and is
//!   refused with a hint;
//! - the temporary file is created exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`) beside the
//!   target under a fresh name, with its mode from the start, then renamed over the target
//!   (a rename replaces the directory entry; it never follows a link).
//!
//! A race in which another process swaps a checked directory for a link between the check
//! and the write is not closed (that needs `openat` per component); the session directory
//! belongs to the user running dev-prism, so only they could.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};

/// Text (invalid UTF-8 shown as U+FFFD) and permission bits of a file, `None` when it does not
/// exist. For display and comparison; [`read_bytes`] keeps every byte.
pub fn read(path: &Path) -> Result<Option<(String, u32)>> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(None);
    };
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    Ok(Some((String::from_utf8_lossy(&bytes).into_owned(), mode)))
}

/// The first `n` bytes of a file as text (lossy), empty when it cannot be read.
pub fn head(path: &Path, n: u64) -> String {
    use std::io::Read;
    let mut buf = vec![];
    if let Ok(f) = fs::File::open(path) {
        let _ = f.take(n).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The bytes of a file, `None` when it does not exist. Only a regular file is read: a FIFO
/// there would make every command wait forever (it is opened without blocking), a device
/// could be endless, and neither is a file dev-prism wrote — refused, naming it.
pub fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("could not read", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io("could not read", path, e))?;
    if !meta.is_file() {
        return Err(not_a_file(path, meta.file_type()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("could not read", path, e))?;
    Ok(Some(bytes))
}

/// [`read`] for observing a generated file's name: an object there that is not a regular file
/// (a FIFO, a directory, a socket, a symbolic link: dev-prism never makes one) is the user's,
/// observed as present with content that is not dev-prism's (empty, no generated header), so
/// no step writes or removes it and the command says it kept it, instead of failing on it
/// (a link was read through, so destroy planned to remove it and then failed half-way).
pub fn read_observed(path: &Path) -> Result<Option<(String, u32)>> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => Ok(Some((String::new(), m.permissions().mode()))),
        _ => read(path),
    }
}

/// Whether `path` holds something other than a regular file or a link (a FIFO, a directory, a
/// socket, a device).
pub fn is_special(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| !m.is_file() && !m.file_type().is_symlink())
}

fn not_a_file(path: &Path, kind: fs::FileType) -> Error {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a device"
    };
    Error::usage(format!(
        "{} is {what}, not a file: dev-prism reads and writes only regular files there",
        path.display()
    ))
    .with_hint("it is not dev-prism's, so it is left as it is; move or remove it, then run the command again")
}

const LINK_HINT: &str = "dev-prism never writes through a symbolic link in the session \
     directory; replace the link with a real directory or file (or remove it) and run the \
     command again";

fn refuse(path: &Path, why: String) -> Error {
    Error::usage(format!("refusing to write {}: {why}", path.display())).with_hint(LINK_HINT)
}

/// The directory `path` lives in, checked: under `root`, reached through real directories
/// only (with `create`, missing ones are made), and inside `root` once resolved.
fn confined_parent(root: &Path, path: &Path, create: bool) -> Result<PathBuf> {
    let outside = || refuse(path, format!("it is outside {}", root.display()));
    let rel = path.strip_prefix(root).map_err(|_| outside())?;
    let parts: Vec<Component> = rel.components().collect();
    let Some((Component::Normal(_), parents)) = parts.split_last() else {
        return Err(outside());
    };
    let fail = |dir: &Path, why: String| {
        Error::failure(format!(
            "could not write {}: {}: {why}",
            path.display(),
            dir.display()
        ))
    };
    let mut dir = root.to_path_buf();
    for part in parents {
        match part {
            Component::Normal(n) => dir.push(n),
            Component::CurDir => continue,
            _ => return Err(outside()),
        }
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&dir)
                    .map(|t| format!(" (it points to {})", t.display()))
                    .unwrap_or_default();
                return Err(refuse(
                    path,
                    format!("{} is a symbolic link{to}", dir.display()),
                ));
            }
            Ok(m) if !m.is_dir() => return Err(fail(&dir, "not a directory".into())),
            Ok(_) => {}
            Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&dir).map_err(|e| fail(&dir, e.to_string()))?
            }
            Err(e) => return Err(fail(&dir, e.to_string())),
        }
    }
    let resolve = |p: &Path| fs::canonicalize(p).map_err(|e| Error::io("could not resolve", p, e));
    if !resolve(&dir)?.starts_with(resolve(root)?) {
        return Err(outside());
    }
    Ok(dir)
}

/// Fails when `path` itself is a symbolic link (never dev-prism's: it writes regular files).
fn not_a_link(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(refuse(
            path,
            "it is a symbolic link, which dev-prism did not write".into(),
        )),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("could not inspect", path, e)),
    }
}

/// A temporary name beside the target that no earlier run used: pid, clock and a counter.
fn temp_name(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        ".{name}.{}-{nanos:x}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `content` to `path` (inside `root`) through a temporary file created exclusively
/// beside it and a rename, so readers never see half a file; the file has `mode` from the
/// start (no window where an env file holding credentials is world-readable).
pub fn write_atomic(root: &Path, path: &Path, content: &[u8], mode: u32) -> Result<()> {
    let dir = confined_parent(root, path, false)?;
    not_a_link(path)?;
    let fail = |e: std::io::Error| Error::io("could not write", path, e);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, mut file) = {
        let mut attempt = 0;
        loop {
            let tmp = dir.join(temp_name(&name));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(mode)
                .open(&tmp)
            {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1
                }
                Err(e) => return Err(fail(e)),
            }
        }
    };
    let result = (|| {
        file.write_all(content)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// Where a write to `path` (under `root`) lands once every symbolic link on the way is
/// followed, the last component included (a dangling link's target is where the file will
/// be): a path inside `root` whose existing components are no links, or a refusal naming
/// where it leads when that is outside `root`. Nothing is written, so a caller with several
/// files resolves them all before writing any.
pub fn resolve_inside(root: &Path, path: &Path) -> Result<PathBuf> {
    let real_root = fs::canonicalize(root).map_err(|e| Error::io("could not resolve", root, e))?;
    let rel = path
        .strip_prefix(root)
        .map_err(|_| refuse(path, format!("it is outside {}", root.display())))?;
    let mut pending: std::collections::VecDeque<std::ffi::OsString> =
        rel.iter().map(|p| p.to_os_string()).collect();
    let mut cur = real_root.clone();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.to_str() {
            Some("/") => cur = PathBuf::from("/"),
            Some(".") => {}
            Some("..") => {
                cur.pop();
            }
            _ => {
                let next = cur.join(&part);
                match fs::symlink_metadata(&next) {
                    Ok(m) if m.file_type().is_symlink() => {
                        hops += 1;
                        if hops > 40 {
                            return Err(refuse(path, "too many levels of symbolic links".into()));
                        }
                        let target = fs::read_link(&next)
                            .map_err(|e| Error::io("could not read the link", &next, e))?;
                        // The link's target replaces it; `cur` (its directory) holds no link.
                        for c in target.iter().rev() {
                            pending.push_front(c.to_os_string());
                        }
                    }
                    _ => cur = next,
                }
            }
        }
    }
    if !cur.starts_with(&real_root) || cur == real_root {
        return Err(refuse(
            path,
            format!("it leads out of {} (to {})", root.display(), cur.display()),
        ));
    }
    Ok(cur)
}

/// Creates the missing directories above `path` inside `root`, never through a link.
pub fn create_parents(root: &Path, path: &Path) -> Result<()> {
    confined_parent(root, path, true).map(|_| ())
}

/// Removes a file inside `root`; a missing file is not an error. Never follows a link out of
/// `root`, and never removes a link (not dev-prism's).
pub fn remove(root: &Path, path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Ok(());
    }
    confined_parent(root, path, false)?;
    not_a_link(path)?;
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("could not remove", path, e)),
    }
}

/// Copies `src` (inside `src_root`, the main checkout: never read through a link that leads
/// out of it) to `dst` (inside `dst_root`), byte for byte, creating parent directories.
pub fn copy(src_root: &Path, src: &Path, dst_root: &Path, dst: &Path, mode: u32) -> Result<()> {
    let resolved = source_inside(src_root, src)?;
    let bytes = read_bytes(&resolved)?
        .ok_or_else(|| Error::io("could not read", src, std::io::ErrorKind::NotFound.into()))?;
    confined_parent(dst_root, dst, true)?;
    write_atomic(dst_root, dst, &bytes, mode)
}

/// Where `src` (a file of the main checkout `src_root`) really is; refused when a link leads
/// out of `src_root` (checked when planning, so `plan --create` says it too).
pub fn source_inside(src_root: &Path, src: &Path) -> Result<PathBuf> {
    let resolved = fs::canonicalize(src).map_err(|e| Error::io("could not read", src, e))?;
    let real_root =
        fs::canonicalize(src_root).map_err(|e| Error::io("could not resolve", src_root, e))?;
    if !resolved.starts_with(&real_root) {
        return Err(Error::usage(format!(
            "refusing to copy {}: it leads out of {} (to {})",
            src.display(),
            src_root.display(),
            resolved.display()
        ))
        .with_hint("envFiles are copied only from inside the main checkout; replace the link with the file"));
    }
    Ok(resolved)
}

/// The free space (bytes an unprivileged user may write) of the file system `path` is on, and
/// the directory asked: `path`, or its nearest existing ancestor when it does not exist yet.
pub fn free_space(path: &Path) -> Result<(PathBuf, u64)> {
    let mut at = path.to_path_buf();
    while fs::symlink_metadata(&at).is_err() {
        if !at.pop() {
            return Err(Error::failure(format!(
                "no existing directory on the way to {}",
                path.display()
            )));
        }
    }
    let c = std::ffi::CString::new(at.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::failure(format!("{} holds a NUL byte", at.display())))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(Error::io(
            "cannot learn the free space of",
            &at,
            std::io::Error::last_os_error(),
        ));
    }
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    Ok((at, free))
}

/// The bytes of the regular files under `dir` (never through a link); `None` when any part
/// of it cannot be read (then its size is unknown, not 0).
pub fn dir_bytes(dir: &Path) -> Option<u64> {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).ok()? {
            let e = e.ok()?;
            let m = e.metadata().ok()?;
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total = total.saturating_add(m.len());
            }
        }
    }
    Some(total)
}

/// The size of a file (0 when it cannot be read: the copy step reports that itself).
pub fn size_of(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
