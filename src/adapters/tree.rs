//! Gitignored files of the main checkout copied into a new worktree (`.worktreeinclude`,
//! config `copy`): listed by git, copied file by file in a few threads — copy-on-write where
//! the file system can (reflink-copy: `FICLONE` on btrfs and XFS, `clonefile` on APFS), a
//! plain kernel copy elsewhere.
//!
//! The rules (DESIGN §6): a file that exists in the worktree is never overwritten (the new file
//! is created exclusively); a symbolic link is recreated as a link, never followed, so nothing
//! outside the repository is read through one; a source file is opened without following a
//! link; every directory between the worktree and a file must be a real directory (a link
//! there is refused), so no write leaves the worktree.

use std::collections::HashSet;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Problem, Result};
use crate::observed::worktree::matches_any;
use crate::plan::ready::CopyPattern;
pub use crate::plan::ready::Entry;
use crate::ui::Trace;

/// Every gitignored file and link of the checkout at `repo` (`git ls-files --others --ignored
/// --exclude-standard`): tracked files never appear; nested repositories are left out.
pub fn ignored_files(t: &Trace, repo: &Path) -> Result<Vec<Entry>> {
    let out = super::run(
        Command::new("git").current_dir(repo).args([
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
        ]),
        "git",
        "install git",
        t,
    )?;
    if !out.status.success() {
        return Err(Error::git(
            format!("list the ignored files of {}", repo.display()),
            super::tail(&out, 3),
        ));
    }
    let mut entries = vec![];
    for raw in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        // A nested repository is listed as `dir/`: its files are not ours to copy.
        if raw.ends_with(b"/") {
            continue;
        }
        // A name that is not UTF-8 is matched as text with U+FFFD for its bad bytes (which
        // wildcards match) and copied under its exact bytes.
        let file = PathBuf::from(std::ffi::OsStr::from_bytes(raw));
        if let Ok(m) = fs::symlink_metadata(repo.join(&file)) {
            entries.push(Entry {
                path: String::from_utf8_lossy(raw).into_owned(),
                file,
                bytes: m.len(),
            });
        }
    }
    Ok(entries)
}

/// The copy patterns of the repository whose main checkout is `repo`: its
/// `.worktreeinclude`, then config `copy`.
pub fn copy_patterns(repo: &Path, copy: &[String]) -> Vec<CopyPattern> {
    // Only a regular file is read (a FIFO or a link to a device there is not a list).
    let include = super::fs::read(&repo.join(".worktreeinclude"))
        .ok()
        .flatten()
        .map(|(text, _)| text);
    crate::plan::ready::copy_patterns(include.as_deref(), copy)
}

/// Whether `path` (relative to the worktree `dir`, as `git status` reports it; directories
/// end in `/`) is a copy dev-prism made that still holds what it copied: every file in it is
/// selected by the copy patterns and identical to the same path in the main checkout.
pub fn unchanged_copy(dir: &Path, main_root: &Path, copy: &[String], path: &str) -> bool {
    if dir == main_root {
        return false;
    }
    let patterns: Vec<String> = copy_patterns(main_root, copy)
        .into_iter()
        .map(|p| p.pattern)
        .collect();
    if patterns.is_empty() {
        return false;
    }
    let selected = |p: &Path| {
        let Ok(rel) = p.strip_prefix(dir) else {
            return false;
        };
        let rel = rel.to_string_lossy();
        // Directories are walked; each file in them must be selected.
        p.symlink_metadata().is_ok_and(|m| m.is_dir()) || matches_any(&patterns, &rel)
    };
    let rel = path.trim_end_matches('/');
    selected(&dir.join(rel)) && same_as_source(&dir.join(rel), &main_root.join(rel), &selected)
}

/// The files committed at `rev` (a branch the new worktree checks out): they are in the
/// worktree already, so no copy step counts them.
pub fn tracked_at(t: &Trace, repo: &Path, rev: &str) -> Result<HashSet<String>> {
    let out = super::run(
        Command::new("git")
            .current_dir(repo)
            .args(["ls-tree", "-r", "-z", "--name-only", rev]),
        "git",
        "install git",
        t,
    )?;
    if !out.status.success() {
        return Err(Error::git(
            format!("list the files of {rev}"),
            super::tail(&out, 3),
        ));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        // As text, like the ignored files' names ([`Entry::path`]).
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// What a copy did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub files: usize,
    pub bytes: u64,
    /// Files already in the worktree, left as they were.
    pub kept: usize,
    /// Files cloned copy-on-write.
    pub cloned: usize,
}

/// Copies `paths` (relative) from `src_root` to `dst_root`, a few threads at once.
pub fn copy_files<P: AsRef<Path> + Sync>(
    src_root: &Path,
    dst_root: &Path,
    paths: &[P],
) -> Result<Copied> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    let chunk = paths.len().div_ceil(threads).max(256);
    let results: Vec<Result<Copied>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| s.spawn(move || copy_chunk(src_root, dst_root, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::failure("a copy thread panicked")))
            })
            .collect()
    });
    let mut total = Copied::default();
    for r in results {
        let c = r?;
        total.files += c.files;
        total.bytes += c.bytes;
        total.kept += c.kept;
        total.cloned += c.cloned;
    }
    Ok(total)
}

fn copy_chunk<P: AsRef<Path>>(src_root: &Path, dst_root: &Path, paths: &[P]) -> Result<Copied> {
    let mut done = Copied::default();
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    let mut try_clone = true;
    for rel in paths {
        let rel = rel.as_ref();
        let (src, dst) = (src_root.join(rel), dst_root.join(rel));
        let fail = |e: std::io::Error| {
            Error::from(Problem::Copy {
                from: src.clone(),
                to: dst.clone(),
                source: e,
            })
        };
        let meta = match fs::symlink_metadata(&src) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => continue, // gone since the plan
            Err(e) => return Err(fail(e)),
        };
        if fs::symlink_metadata(&dst).is_ok() {
            done.kept += 1;
            continue;
        }
        real_dirs(dst_root, rel, &mut dirs)?;
        let result = if meta.file_type().is_symlink() {
            fs::read_link(&src).and_then(|target| std::os::unix::fs::symlink(target, &dst))
        } else if meta.is_file() {
            copy_one(&src, &dst, meta.permissions().mode(), &mut try_clone).map(|cloned| {
                done.cloned += usize::from(cloned);
            })
        } else {
            continue; // sockets, fifos, devices: not files to copy
        };
        match result {
            Ok(()) => {
                done.files += 1;
                done.bytes += meta.len();
            }
            // Appeared since the check above (another writer): kept, never overwritten.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => done.kept += 1,
            Err(e) => return Err(fail(e)),
        }
    }
    Ok(done)
}

/// Whether files of `src_root` clone copy-on-write into the file system of the existing
/// directory `dst_dir`: one clone of the first non-empty regular file among (the first 64 of)
/// `paths`, made exclusively beside where the copy goes and removed at once. `false` whenever
/// no clone could be made (another file system, one without reflink, no file to try with, no
/// permission): the copy then writes every byte.
pub fn clone_probe<P: AsRef<Path>>(src_root: &Path, paths: &[P], dst_dir: &Path) -> bool {
    let from = paths.iter().take(64).find_map(|rel| {
        let src = src_root.join(rel);
        let meta = fs::symlink_metadata(&src).ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        // Never through a link; never blocking (it was a regular file a moment ago).
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&src)
            .ok()?;
        file.metadata().ok()?.is_file().then_some(file)
    });
    let Some(from) = from else {
        return false;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let probe = dst_dir.join(format!(
        ".dev-prism-clone-probe-{}-{nanos}",
        std::process::id()
    ));
    // Created exclusively: a failed clone leaves nothing, and nothing of anyone else is removed.
    match reflink_copy::reflink_file_to_path(&from, &probe) {
        Ok(()) => {
            let _ = fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

/// One regular file: opened without following a link, created exclusively; cloned when the
/// file system can, else copied by the kernel. Returns whether it was cloned.
fn copy_one(src: &Path, dst: &Path, mode: u32, try_clone: &mut bool) -> std::io::Result<bool> {
    let from = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)?;
    if *try_clone {
        match reflink_copy::reflink_file_to_path(&from, dst) {
            Ok(()) => {
                copy_mtime(&from, dst);
                return Ok(true);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(e),
            // Not supported here (ext4, tmpfs, another device): stop trying for this run.
            Err(_) => *try_clone = false,
        }
    }
    let to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(mode & 0o7777)
        .open(dst)?;
    let result = copy_data(&from, &to)
        .and_then(|_| to.set_permissions(fs::Permissions::from_mode(mode & 0o7777)));
    if let Err(e) = result {
        let _ = fs::remove_file(dst);
        return Err(e);
    }
    copy_mtime(&from, dst);
    Ok(false)
}

/// Copies the bytes of `from` into the empty `to`, keeping holes: only the data regions
/// (`SEEK_DATA`/`SEEK_HOLE`) are copied, by the kernel, and the length is set at the end — a
/// sparse file (a VM disk, a database preallocated by `truncate`) stays as cheap as its
/// original instead of becoming fully allocated. A file system without hole reporting says
/// the whole file is data, which is then a plain copy.
fn copy_data(from: &fs::File, to: &fs::File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let len = i64::try_from(from.metadata()?.len()).unwrap_or(i64::MAX);
    let src = from.as_raw_fd();
    let mut pos: i64 = 0;
    while pos < len {
        // SAFETY: lseek on a file descriptor this function borrows; no memory is passed.
        let data = unsafe { libc::lseek(src, pos, libc::SEEK_DATA) };
        if data < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENXIO) => break, // only a hole is left
                Some(libc::EINVAL) => return copy_range(from, to, pos, len), // no hole support
                _ => return Err(e),
            }
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(src, data, libc::SEEK_HOLE) };
        let end = if hole < 0 { len } else { hole.min(len) };
        copy_range(from, to, data, end)?;
        pos = end;
    }
    to.set_len(len as u64)
}

/// Copies bytes `start..end` of `src` to the same offsets of `dst` (`copy_file_range`, else
/// reads and writes).
fn copy_range(from: &fs::File, to: &fs::File, start: i64, end: i64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let (src, dst) = (from.as_raw_fd(), to.as_raw_fd());
    let (mut off_in, mut off_out) = (start, start);
    while off_in < end {
        let want = usize::try_from(end - off_in)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        // SAFETY: both descriptors are open for the call; the offsets are this frame's.
        let n = unsafe { libc::copy_file_range(src, &mut off_in, dst, &mut off_out, want, 0) };
        if n > 0 {
            continue;
        }
        if n == 0 {
            break; // the source got shorter while copying
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOSYS | libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP) => {
                return copy_by_reads(from, to, off_in, end)
            }
            _ => return Err(e),
        }
    }
    Ok(())
}

fn copy_by_reads(from: &fs::File, to: &fs::File, mut off: i64, end: i64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 17];
    while off < end {
        let want = buf
            .len()
            .min(usize::try_from(end - off).unwrap_or(usize::MAX));
        let n = from.read_at(&mut buf[..want], off as u64)?;
        if n == 0 {
            break;
        }
        to.write_all_at(&buf[..n], off as u64)?;
        off += n as i64;
    }
    Ok(())
}

/// Keeps the source's modification time, as `cp -a` does (build tools compare them).
fn copy_mtime(from: &fs::File, dst: &Path) {
    if let (Ok(m), Ok(f)) = (
        from.metadata(),
        fs::OpenOptions::new().write(true).open(dst),
    ) {
        if let Ok(t) = m.modified() {
            let _ = f.set_modified(t);
        }
    }
}

/// Makes sure every directory between `root` and `rel`'s parent is a real directory inside
/// `root` (created when missing), remembering the ones checked.
fn real_dirs(root: &Path, rel: &Path, checked: &mut HashSet<PathBuf>) -> Result<()> {
    let mut dir = root.to_path_buf();
    let parts: Vec<std::path::Component> = rel.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        let std::path::Component::Normal(part) = part else {
            return Err(Error::failure(format!(
                "refusing to copy `{}`",
                rel.display()
            )));
        };
        dir.push(part);
        if checked.contains(&dir) {
            continue;
        }
        let meta = match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => match fs::create_dir(&dir) {
                Ok(()) => fs::symlink_metadata(&dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => fs::symlink_metadata(&dir),
                Err(e) => Err(e),
            },
            other => other,
        }
        .map_err(|e| Error::io("could not create", &dir, e))?;
        if meta.file_type().is_symlink() {
            return Err(Error::usage(format!(
                "refusing to copy {} into {}: {} is a symbolic link",
                rel.display(),
                root.display(),
                dir.display()
            ))
            .with_hint("dev-prism never writes through a symbolic link in the session directory; remove the pattern from .worktreeinclude / copy, or the link"));
        }
        if !meta.is_dir() {
            return Err(Error::failure(format!(
                "could not copy {}: {} is not a directory",
                rel.display(),
                dir.display()
            )));
        }
        checked.insert(dir.clone());
    }
    Ok(())
}

/// Whether `copy` still holds exactly what `source` holds: the same link target, the same
/// bytes, or — a directory — every entry in it the same (entries only the source has are
/// fine: not everything was copied). Anything unreadable is "not the same".
pub fn same_as_source(copy: &Path, source: &Path, keep: &dyn Fn(&Path) -> bool) -> bool {
    let (Ok(c), Ok(s)) = (fs::symlink_metadata(copy), fs::symlink_metadata(source)) else {
        return false;
    };
    if c.file_type().is_symlink() || s.file_type().is_symlink() {
        return c.file_type().is_symlink()
            && s.file_type().is_symlink()
            && fs::read_link(copy).ok() == fs::read_link(source).ok();
    }
    if c.is_dir() && s.is_dir() {
        let Ok(rd) = fs::read_dir(copy) else {
            return false;
        };
        return rd.into_iter().all(|e| {
            e.is_ok_and(|e| {
                let inner = copy.join(e.file_name());
                keep(&inner) && same_as_source(&inner, &source.join(e.file_name()), keep)
            })
        });
    }
    c.is_file() && s.is_file() && c.len() == s.len() && same_bytes(copy, source)
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    let open = |p: &Path| {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(p)
    };
    let (Ok(mut fa), Ok(mut fb)) = (open(a), open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let Ok(n) = fa.read(&mut ba) else {
            return false;
        };
        if n == 0 {
            return fb.read(&mut bb[..1]).is_ok_and(|m| m == 0);
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

#[cfg(test)]
mod tests;
