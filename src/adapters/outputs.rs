//! Setup outputs on disk: the files of a worktree with their stamps before and after a setup
//! command, the manifest they are recorded in, and whether one is unchanged since (see
//! [`crate::observed::outputs`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::Result;
use crate::observed::outputs::{self, Outputs, Recorded, Stamp};

fn stamp_of(m: &fs::Metadata) -> Stamp {
    Stamp {
        size: m.len(),
        mtime: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    }
}

/// Every regular file under the worktree `dir` (relative paths), its `.git` left out, never
/// through a link.
pub fn stamps(dir: &Path) -> BTreeMap<String, Stamp> {
    let mut out = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && name == ".git" {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) if m.is_file() => {
                    out.insert(path, stamp_of(&m));
                }
                _ => {}
            }
        }
    }
    out
}

/// The content hash of a regular file (never through a link).
fn hash(path: &Path) -> Option<u64> {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let mut bytes = vec![];
    f.read_to_end(&mut bytes).ok()?;
    Some(crate::util::stable_hash(&bytes))
}

/// Adds the files written in `dir` since `before` to the manifest at `manifest` (inside the
/// git directory `root`), each with its size, mtime and hash as it is now.
pub fn record(
    root: &Path,
    manifest: &Path,
    dir: &Path,
    before: &BTreeMap<String, Stamp>,
) -> Result<()> {
    let after = stamps(dir);
    let written = outputs::written(before, &after);
    if written.is_empty() {
        return Ok(());
    }
    let mut recorded = read(manifest);
    for path in written {
        let full = dir.join(&path);
        let (Some(hash), Ok(m)) = (hash(&full), fs::symlink_metadata(&full)) else {
            continue;
        };
        if m.is_file() {
            recorded.insert(
                path,
                Recorded {
                    stamp: stamp_of(&m),
                    hash,
                },
            );
        }
    }
    super::fs::write_atomic(root, manifest, outputs::render(&recorded).as_bytes(), 0o600)
}

/// The manifest at `path` (empty when there is none).
pub fn read(path: &Path) -> Outputs {
    fs::read_to_string(path)
        .map(|t| outputs::parse(&t))
        .unwrap_or_default()
}

/// Whether `path` (relative to the worktree `dir`, as `git status` reports it; directories
/// end in `/`) holds only setup outputs unchanged since they were recorded: the same size,
/// mtime and content hash, and — a directory — nothing else in it.
pub fn unchanged_output(dir: &Path, recorded: &Outputs, path: &str) -> bool {
    if recorded.is_empty() {
        return false;
    }
    let rel = path.trim_end_matches('/');
    let same = |rel: &str| {
        let full = dir.join(rel);
        recorded.get(rel).is_some_and(|r| {
            fs::symlink_metadata(&full).is_ok_and(|m| m.is_file() && stamp_of(&m) == r.stamp)
                && hash(&full) == Some(r.hash)
        })
    };
    let full = dir.join(rel);
    match fs::symlink_metadata(&full) {
        Ok(m) if m.is_file() => same(rel),
        Ok(m) if m.is_dir() => {
            // Every entry must be a recorded, unchanged file (or a directory of them).
            let mut stack = vec![rel.to_string()];
            while let Some(d) = stack.pop() {
                let Ok(rd) = fs::read_dir(dir.join(&d)) else {
                    return false;
                };
                for e in rd {
                    let Ok(e) = e else { return false };
                    let inner = format!("{d}/{}", e.file_name().to_string_lossy());
                    match e.file_type() {
                        Ok(t) if t.is_dir() => stack.push(inner),
                        Ok(t) if t.is_file() && same(&inner) => {}
                        _ => return false,
                    }
                }
            }
            true
        }
        _ => false,
    }
}
