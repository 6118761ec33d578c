//! Keeping a machine tidy (pure): durations as users write them, ages as `list` shows them,
//! and which sessions `prune`'s filters select, with the reason for each verdict.

use std::time::Duration;

/// The shortest duration a filter accepts (a shorter one is almost surely a typo).
const MIN: Duration = Duration::from_secs(60);
/// The longest (ten years): beyond it nothing could match.
const MAX: Duration = Duration::from_secs(3650 * 86_400);

/// `45m`, `2h`, `7d` (also `2w`): a whole number and one unit, from 1 minute to 3650 days.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 45m, 2h or 7d"))?;
    let (number, unit) = text.split_at(unit_at);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write e.g. 45m, 2h or 7d"))?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "`{text}`: the unit must be m (minutes), h (hours), d (days) or w (weeks)"
            ))
        }
    };
    let d = Duration::from_secs(n.saturating_mul(secs));
    if d < MIN || d > MAX {
        return Err(format!("`{text}` is out of range: from 1m to 3650d"));
    }
    Ok(d)
}

/// How long ago, as `list` shows it: `now`, `5m`, `3h`, `2d`, `6w`.
pub fn short_age(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s < 60 => "now".into(),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s if s < 14 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}w", s / (7 * 86_400)),
    }
}

/// How a session's branch relates to the main checkout's current branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merged {
    /// It has commits of its own, and all are reachable from the main checkout's branch.
    Yes,
    /// It never moved since it was created (no commits of its own): nothing was merged.
    NoCommits,
    /// `n` of its commits are not on the main checkout's branch (a squash merge looks so).
    No(usize),
    /// No branch (detached HEAD, not a worktree), or git keeps no record of where it started.
    Unknown(String),
}

/// `prune`'s filters; a session must match every one given (AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub stopped: bool,
    pub older_than: Option<Duration>,
    pub idle: Option<Duration>,
    pub merged: bool,
    pub gone: bool,
}

impl Filters {
    /// No filter given means `--stopped` (what `prune` always did).
    pub fn or_default(mut self) -> Self {
        if self == Filters::default() {
            self.stopped = true;
        }
        self
    }
}

/// `just now`, `5m ago`.
fn ago(ms: i64) -> String {
    match short_age(ms).as_str() {
        "now" => "just now".into(),
        a => format!("{a} ago"),
    }
}

/// What is known about one session when filtering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// A container of it is running, paused or restarting.
    pub up: bool,
    /// Milliseconds since the epoch (the `dev-prism.created_at` label), when known.
    pub created_at: Option<i64>,
    pub last_activity: Option<i64>,
    /// Asked only with `--merged`.
    pub merged: Option<Merged>,
    /// The session directory exists.
    pub exists: bool,
}

/// Whether prune removes a session, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every filter matched: the reasons, one per filter.
    Remove(Vec<String>),
    /// The first filter it did not match, as a reason.
    Keep(String),
}

/// Applies the filters to one session at `now` (milliseconds since the epoch).
pub fn verdict(filters: &Filters, facts: &Facts, now: i64) -> Verdict {
    let mut why = vec![];
    if filters.stopped {
        if facts.up {
            return Verdict::Keep("it runs".into());
        }
        why.push("stopped".to_string());
    }
    if let Some(d) = filters.older_than {
        let Some(created) = facts.created_at else {
            return Verdict::Keep("its age is unknown (no creation time recorded)".into());
        };
        let age = now - created;
        if age < d.as_millis() as i64 {
            return Verdict::Keep(format!("created {}", ago(age)));
        }
        why.push(format!("created {}", ago(age)));
    }
    if let Some(d) = filters.idle {
        let Some(last) = facts.last_activity else {
            return Verdict::Keep("its last activity is unknown".into());
        };
        let idle = now - last;
        if idle < d.as_millis() as i64 {
            return Verdict::Keep(format!("active {}", ago(idle)));
        }
        why.push(format!("idle for {}", short_age(idle)));
    }
    if filters.merged {
        match &facts.merged {
            Some(Merged::Yes) => why.push("its branch is merged".into()),
            Some(Merged::NoCommits) => {
                return Verdict::Keep("its branch has no commits of its own".into())
            }
            Some(Merged::No(n)) => {
                return Verdict::Keep(format!(
                    "{n} commit(s) of its branch are not on the main checkout's branch"
                ))
            }
            Some(Merged::Unknown(why)) => return Verdict::Keep(why.clone()),
            None => return Verdict::Keep("whether its branch is merged is unknown".into()),
        }
    }
    if filters.gone {
        if facts.exists {
            return Verdict::Keep("its directory exists".into());
        }
        why.push("its directory is gone".into());
    }
    Verdict::Remove(why)
}

#[cfg(test)]
mod tests;
