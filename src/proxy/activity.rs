//! The proxy's record of each session's last request (DESIGN §10 "activity"): the file
//! `activity/<compose project>` in the state directory, whose modification time `list`,
//! `prune --idle` and `stop-all --idle` read (src/adapters/usage.rs). Written at most once per
//! [`EVERY`] per session, off the request path.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// At most one write per session this often: idle times are counted in minutes and more.
pub const EVERY: Duration = Duration::from_secs(5);

/// The activity file of the session whose Compose project is `project`; `None` for a name
/// that is not a Compose project name (`[a-z0-9][a-z0-9_-]*`): labels come from the engine,
/// and no label may name a path elsewhere.
pub fn path(project: &str) -> Option<PathBuf> {
    let mut chars = project.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    (first_ok && rest_ok && project.len() <= 255)
        .then(|| super::state_dir().join("activity").join(project))
}

/// When each session's record was last written.
#[derive(Default)]
pub struct Throttle {
    last: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    /// Whether `project`'s record is due at `now` (none written yet, or the last one
    /// [`EVERY`] ago); when it is, `now` counts as its last write.
    pub fn due(&self, project: &str, now: Instant) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        match last.get(project) {
            Some(at) if now.saturating_duration_since(*at) < EVERY => false,
            _ => {
                last.insert(project.to_string(), now);
                true
            }
        }
    }
}

/// Writes the time (milliseconds since the epoch) to `project`'s activity file, making the
/// directory (0700) when missing; the file is 0600. Errors are ignored: a record that cannot be
/// written leaves the other sources of a session's activity.
pub fn record(project: &str) {
    let Some(file) = path(project) else { return };
    if let Some(dir) = file.parent() {
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&file)
    {
        let _ = writeln!(f, "{ms}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_write_per_session_every_few_seconds() {
        let t = Throttle::default();
        let start = Instant::now();
        assert!(t.due("a", start));
        assert!(!t.due("a", start + Duration::from_millis(10)));
        assert!(t.due("b", start + Duration::from_millis(10)), "per session");
        assert!(!t.due("a", start + EVERY - Duration::from_millis(1)));
        assert!(t.due("a", start + EVERY));
        assert!(!t.due("a", start + EVERY + Duration::from_secs(1)));
    }

    #[test]
    fn only_compose_project_names_make_a_path() {
        assert!(path("shop-feat_x-0123").is_some());
        for bad in ["", "../x", "a/b", "A", "-a", ".", "a.b", "x\0"] {
            assert_eq!(path(bad), None, "{bad:?}");
        }
    }
}
