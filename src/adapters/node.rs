//! Reads a `session.config.mjs`/`.js` by asking node for its default export as JSON, and
//! keeps that JSON in `$XDG_CACHE_HOME/dev-prism/config/` keyed by everything the evaluation
//! depends on ([`crate::config::module_key`]), so reading commands (`plan`, `heal` in a git
//! hook) do not start node while nothing it reads has changed.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::module_key::{self, ModuleKey, World};
use crate::error::{Error, Result};
use crate::ui::Trace;

/// The first line of a cache entry; the key follows it on the same line.
const ENTRY_HEADER: &str = "dev-prism config cache 1 ";

/// The module's default export, as JSON text, from the cache when nothing the module depends
/// on changed since node last evaluated it. `DEV_PRISM_CONFIG_CACHE=0` turns the cache off.
pub fn load_module(t: &Trace, path: &Path) -> Result<String> {
    let started = std::time::Instant::now();
    let off = std::env::var("DEV_PRISM_CONFIG_CACHE").is_ok_and(|v| v == "0");
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let key = match (off, cache_dir()) {
        (false, Some(dir)) => match module_key::key(&abs, &RealWorld) {
            ModuleKey::Key(k) => Some((dir, k)),
            ModuleKey::Opaque(why) => {
                t.call(&format!("config cache: not kept ({why})"), started);
                None
            }
        },
        _ => None,
    };
    let Some((dir, key)) = key else {
        return export_json(t, path);
    };
    let entry = dir.join(entry_name(&abs));
    if let Some(json) = read_entry(&entry, &key) {
        t.call(&format!("config cache: hit {}", entry.display()), started);
        return Ok(json);
    }
    let json = export_json(t, path)?;
    // A cache that cannot be written costs the next run one node start, nothing more.
    if ensure_dir(&dir) && write_entry(&dir, &entry, &key, &json).is_ok() {
        forget_unused(&dir);
    }
    Ok(json)
}

/// `$XDG_CACHE_HOME/dev-prism/config` (an absolute `XDG_CACHE_HOME` only, as the spec says),
/// else `~/.cache/dev-prism/config`.
pub fn cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".cache"))
    })?;
    Some(base.join("dev-prism").join("config"))
}

/// One entry per config file (its path hashed); the key inside says which evaluation it holds.
fn entry_name(abs: &Path) -> String {
    format!(
        "{}.json",
        crate::util::dir_id(abs.as_os_str().as_encoded_bytes())
    )
}

fn uid() -> u32 {
    // SAFETY: getuid(2) has no failure mode and no memory effects.
    unsafe { libc::getuid() }
}

/// The entry's JSON when it is a regular file of ours that only we may read or write, holds
/// `key`, and its JSON is whole; `None` otherwise (a corrupt or foreign entry is ignored).
fn read_entry(entry: &Path, key: &str) -> Option<String> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(entry)
        .ok()?;
    let meta = f.metadata().ok()?;
    let dir_ok = entry
        .parent()
        .and_then(|d| std::fs::symlink_metadata(d).ok())
        .is_some_and(|m| private_dir(&m));
    if !meta.is_file() || meta.uid() != uid() || meta.mode() & 0o077 != 0 || !dir_ok {
        return None;
    }
    let mut text = String::new();
    f.read_to_string(&mut text).ok()?;
    let (header, json) = text.split_once('\n')?;
    if header.strip_prefix(ENTRY_HEADER)? != key {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(json).ok()?;
    Some(json.to_string())
}

fn private_dir(m: &std::fs::Metadata) -> bool {
    m.is_dir() && m.uid() == uid() && m.mode() & 0o077 == 0
}

/// Makes `dir` (and `dev-prism/` above it) 0700 when missing; `false` when either is not a
/// directory of ours (then nothing is written there).
fn ensure_dir(dir: &Path) -> bool {
    for d in [dir.parent(), Some(dir)].into_iter().flatten() {
        match std::fs::symlink_metadata(d) {
            Ok(m) if private_dir(&m) => {}
            // Ours but opened to others: the entries may hold values of the environment.
            Ok(m) if m.is_dir() && m.uid() == uid() => {
                if std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).is_err() {
                    return false;
                }
            }
            Ok(_) => return false,
            Err(_) => {
                let made = std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(d);
                if made.is_err() {
                    return false;
                }
            }
        }
    }
    true
}

/// Writes the entry through a temporary file beside it and a rename: a reader sees the old
/// entry or the new one, never half of one.
fn write_entry(dir: &Path, entry: &Path, key: &str, json: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        entry.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{ENTRY_HEADER}{key}\n{json}").as_bytes())?;
        std::fs::rename(&tmp, entry)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Entries not written for 30 days (their session is most likely gone), and temporary files
/// as old, are removed; runs only after a miss, so a hit costs no directory listing.
fn forget_unused(dir: &Path) {
    const MONTH: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
    let Ok(list) = std::fs::read_dir(dir) else {
        return;
    };
    for e in list.flatten() {
        let old = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > MONTH);
        let name = e.file_name().to_string_lossy().into_owned();
        // A `.tmp` is what a writer killed between its write and its rename left.
        if old && (name.ends_with(".json") || name.ends_with(".tmp")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The real files, environment and node.
struct RealWorld;

impl World for RealWorld {
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn cwd(&self) -> PathBuf {
        std::env::current_dir().unwrap_or_default()
    }
    /// The `node` that `Command` finds on `PATH`, resolved through links, with its size and
    /// change time: an upgrade or a switch (nvm, a new PATH) changes it, without starting node.
    fn node(&self) -> String {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("node");
            let Ok(real) = std::fs::canonicalize(&candidate) else {
                continue;
            };
            let Ok(m) = std::fs::metadata(&real) else {
                continue;
            };
            if m.is_file() && m.mode() & 0o111 != 0 {
                return format!(
                    "{} {} {} {}.{}",
                    real.display(),
                    m.size(),
                    m.ino(),
                    m.ctime(),
                    m.ctime_nsec()
                );
            }
        }
        String::from("no node on PATH")
    }
}

const SCRIPT: &str = "const {pathToFileURL} = require('url');\
import(pathToFileURL(process.argv[1]).href).then(m => {\
  const c = m.default === undefined ? {} : m.default;\
  process.stdout.write(JSON.stringify(c));\
}).catch(e => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });";

/// The module's default export, as JSON text.
pub fn export_json(t: &Trace, path: &Path) -> Result<String> {
    let started = std::time::Instant::now();
    let output = Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output();
    t.call(&format!("node (import {})", path.display()), started);
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::usage(format!(
                "{} is a JavaScript module, and reading it needs node, which is not installed",
                path.display()
            ))
            .with_hint(
                "install node, or convert it: write the same object as session.config.yaml",
            ))
        }
        Err(e) => return Err(Error::run("could not run", "node", e)),
    };
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(Error::usage(format!(
            "{} could not be loaded by node: {first}",
            path.display()
        ))
        .with_hint(
            "fix the module so that `node` can import it; its default export is the config",
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn cache() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dev-prism").join("config");
        assert!(ensure_dir(&dir));
        (tmp, dir)
    }

    #[test]
    fn an_entry_written_is_read_back_under_its_key_only() {
        let (_t, dir) = cache();
        let entry = dir.join("a.json");
        write_entry(&dir, &entry, "k1", "{\"projectName\":\"p\"}").unwrap();
        assert_eq!(
            read_entry(&entry, "k1").as_deref(),
            Some("{\"projectName\":\"p\"}")
        );
        assert_eq!(read_entry(&entry, "k2"), None, "another key is a miss");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&entry), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(dir.parent().unwrap()), 0o700);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn corrupt_loose_or_linked_entries_are_ignored() {
        let (_t, dir) = cache();
        let entry = dir.join("a.json");
        write_entry(&dir, &entry, "k", "{\"a\":1}").unwrap();
        // Cut short, as a crash between the write and the rename could leave it.
        let text = std::fs::read_to_string(&entry).unwrap();
        std::fs::write(&entry, &text[..text.len() - 2]).unwrap();
        assert_eq!(read_entry(&entry, "k"), None, "truncated JSON");
        std::fs::write(&entry, "garbage").unwrap();
        assert_eq!(read_entry(&entry, "k"), None, "no header");
        write_entry(&dir, &entry, "k", "{\"a\":1}").unwrap();
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_entry(&entry, "k"), None, "readable by others");
        let other = dir.join("b.json");
        write_entry(&dir, &other, "k", "{\"a\":1}").unwrap();
        let link = dir.join("c.json");
        symlink(&other, &link).unwrap();
        assert_eq!(read_entry(&link, "k"), None, "a link");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(read_entry(&other, "k"), None, "a directory others may open");
        assert!(ensure_dir(&dir), "a directory of ours is closed again");
        assert_eq!(read_entry(&other, "k").as_deref(), Some("{\"a\":1}"));
    }

    #[test]
    fn an_entry_of_another_user_is_ignored() {
        if uid() != 0 {
            return; // only root can give a file away; CI runs these tests as root
        }
        let (_t, dir) = cache();
        let entry = dir.join("a.json");
        write_entry(&dir, &entry, "k", "{}").unwrap();
        std::os::unix::fs::chown(&entry, Some(65534), None).unwrap();
        assert_eq!(read_entry(&entry, "k"), None);
    }

    #[test]
    fn only_entries_and_temporary_files_unused_for_a_month_are_removed() {
        let (_t, dir) = cache();
        let age = |name: &str, days: u64| {
            let p = dir.join(name);
            std::fs::write(&p, "x").unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86400);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        age("old.json", 31);
        age(".old.json.1.tmp", 31);
        age("young.json", 29);
        age("old-but-not-ours.txt", 31);
        forget_unused(&dir);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["old-but-not-ours.txt", "young.json"]);
    }

    #[test]
    fn a_cache_directory_that_is_not_a_directory_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("dev-prism");
        std::fs::write(&base, "").unwrap();
        assert!(!ensure_dir(&base.join("config")));
    }
}
