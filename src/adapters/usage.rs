//! What a session costs and when it was last used, read from file metadata (no process).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::desired::ENV_FILE;

/// The file's modification time in milliseconds since the epoch.
fn mtime_ms(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// A session's last activity (DESIGN §10): the latest of the mtimes of its `.env.session`
/// (rewritten at every start and apply), of its worktree's index and `logs/HEAD` in git's admin
/// directory (a commit, checkout or `git add`), and of the proxy's record of its last request
/// (`activity` beside the proxy's state, when there is one). A few `stat`s, no git process.
pub fn last_activity(dir: &Path, project: &str) -> Option<i64> {
    let mut times = vec![mtime_ms(&dir.join(ENV_FILE))];
    if let Some(git_dir) = crate::adapters::git::git_dir_of(dir) {
        times.push(mtime_ms(&git_dir.join("index")));
        times.push(mtime_ms(&git_dir.join("logs").join("HEAD")));
    }
    if !project.is_empty() {
        times.push(mtime_ms(&state_dir().join("activity").join(project)));
    }
    times.into_iter().flatten().max()
}

/// `$XDG_STATE_HOME/dev-prism` (default `~/.local/state/dev-prism`): the proxy's state and the
/// activity files it writes. `XDG_STATE_HOME` counts only as an absolute path.
pub fn state_dir() -> std::path::PathBuf {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("/"))
            .join(".local/state")
    });
    base.join("dev-prism")
}

/// Whether the session directory still exists.
pub fn exists(dir: &Path) -> bool {
    dir.symlink_metadata().is_ok()
}

/// Bytes the worktree at `dir` holds beyond the repository's shared object store: every file
/// and directory under it except its `.git` (a linked worktree's `.git` is a small file; the
/// objects live in the main checkout), counted by allocated blocks, a hard-linked file once.
/// Symbolic links are not followed.
pub fn worktree_bytes(dir: &Path) -> u64 {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if d == dir && entry.file_name() == ".git" {
                continue;
            }
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktree_bytes_skip_git_and_count_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join(".git")).unwrap();
        std::fs::write(d.join(".git/big"), vec![1u8; 1 << 20]).unwrap();
        let empty = worktree_bytes(d);
        std::fs::create_dir(d.join("src")).unwrap();
        std::fs::write(d.join("src/a"), vec![1u8; 64 << 10]).unwrap();
        let one = worktree_bytes(d);
        assert!(one - empty >= 64 << 10, "{one} {empty}");
        assert!(one < 1 << 20, "the .git directory was counted: {one}");
        std::fs::hard_link(d.join("src/a"), d.join("b")).unwrap();
        assert_eq!(worktree_bytes(d), one);
    }

    #[test]
    fn activity_is_the_latest_source() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(last_activity(d, ""), None);
        std::fs::write(d.join(ENV_FILE), "X=1\n").unwrap();
        let env = mtime_ms(&d.join(ENV_FILE));
        assert_eq!(last_activity(d, ""), env);
        // A linked worktree: the admin directory's index counts.
        let admin = tempfile::tempdir().unwrap();
        std::fs::write(
            d.join(".git"),
            format!("gitdir: {}\n", admin.path().display()),
        )
        .unwrap();
        std::fs::write(admin.path().join("index"), "").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(admin.path().join("index"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(
            last_activity(d, ""),
            Some(later.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64)
        );
    }
}
