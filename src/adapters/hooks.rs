//! Installs and removes the git hooks that run `dev-prism heal`. A user's existing hook is
//! kept: it is moved aside to `<hook>.pre-dev-prism` and our hook runs it first, with the same
//! arguments and stdin, and exits with its status.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The hooks dev-prism installs: they fire after a branch switch, a merge/pull, a rebase.
pub const HOOKS: &[&str] = &["post-checkout", "post-merge", "post-rewrite"];
/// Marks a hook file as ours.
pub const MARKER: &str = "# dev-prism hook";
const CHAINED_SUFFIX: &str = ".pre-dev-prism";

/// The script of one hook. `bin` is the dev-prism binary that installed it (PATH is the
/// fallback when it has moved since).
pub fn script(bin: &Path) -> String {
    let bin = bin.to_string_lossy().replace('\'', r"'\''");
    format!(
        "#!/bin/sh\n{MARKER} — installed by `dev-prism hooks install`; `dev-prism hooks uninstall` removes it.\n\
status=0\n\
if [ -x \"$0{CHAINED_SUFFIX}\" ]; then\n  \"$0{CHAINED_SUFFIX}\" \"$@\" || status=$?\nfi\n\
bin='{bin}'\n\
[ -x \"$bin\" ] || bin=dev-prism\n\
\"$bin\" heal \"$(git rev-parse --show-toplevel 2>/dev/null || pwd)\" </dev/null || true\n\
exit $status\n"
    )
}

/// What install or uninstall did to one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Installed,
    /// A user's hook was moved aside and is chained.
    Chained,
    /// Already ours and current.
    Unchanged,
    Removed,
    /// Our hook was removed and the user's hook put back.
    Restored,
    /// Nothing of ours there.
    Absent,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io("cannot update", path, e)
}

fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(MARKER))
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| io(path, e))
}

/// Installs every hook into `dir`. Idempotent.
pub fn install(dir: &Path, bin: &Path) -> Result<Vec<(String, Outcome)>> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let text = script(bin);
    let mut out = vec![];
    for name in HOOKS {
        let path = dir.join(name);
        let chained = chained(&path);
        let outcome = if is_ours(&path) {
            if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
                Outcome::Unchanged
            } else {
                write_exec(&path, &text)?;
                Outcome::Installed
            }
        } else if path.exists() {
            if chained.exists() {
                return Err(Error::failure(format!(
                    "{} exists and so does {}; refusing to overwrite either",
                    path.display(),
                    chained.display()
                ))
                .with_hint(
                    "merge or remove one of them by hand, then run `dev-prism hooks install` again",
                ));
            }
            std::fs::rename(&path, &chained).map_err(|e| io(&path, e))?;
            write_exec(&path, &text)?;
            Outcome::Chained
        } else {
            write_exec(&path, &text)?;
            Outcome::Installed
        };
        out.push((name.to_string(), outcome));
    }
    Ok(out)
}

/// Removes only what install added, putting a chained user hook back.
pub fn uninstall(dir: &Path) -> Result<Vec<(String, Outcome)>> {
    let mut out = vec![];
    for name in HOOKS {
        let path = dir.join(name);
        let chained = chained(&path);
        let outcome = if !is_ours(&path) {
            Outcome::Absent
        } else if chained.exists() {
            std::fs::rename(&chained, &path).map_err(|e| io(&path, e))?;
            Outcome::Restored
        } else {
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
            Outcome::Removed
        };
        out.push((name.to_string(), outcome));
    }
    Ok(out)
}

fn chained(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(CHAINED_SUFFIX);
    PathBuf::from(s)
}
