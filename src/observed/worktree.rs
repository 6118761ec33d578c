//! What destroy must know about a worktree before removing anything, as facts that are either
//! known or unknown. An unknown fact blocks every destructive step that depends on it: it is
//! never read as "clean" or "merged" (DESIGN §6).

use std::path::PathBuf;

/// A fact observed before planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact<T> {
    Known(T),
    /// Why it could not be established (the failed git call, a missing repository).
    Unknown(String),
}

impl<T> Fact<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Fact::Known(v) => Some(v),
            Fact::Unknown(_) => None,
        }
    }

    /// Builds a fact from a fallible observation.
    pub fn from_result<E: std::fmt::Display>(r: std::result::Result<T, E>) -> Fact<T> {
        match r {
            Ok(v) => Fact::Known(v),
            Err(e) => Fact::Unknown(e.to_string()),
        }
    }
}

/// Whose a path in a session directory is (DESIGN §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// dev-prism wrote it (generated header) or copied it and it still holds what it wrote.
    DevPrism,
    /// Reproducible: matches `disposable`.
    Disposable,
    /// Everything else: the user's work.
    User,
}

/// A path git reports as uncommitted, untracked or ignored, with its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathFact {
    /// Relative to the worktree; directories end in `/`.
    pub path: String,
    /// `modified`, `untracked` or `ignored`.
    pub status: &'static str,
    pub owner: Owner,
}

/// Everything destroy checks about a linked worktree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorktreeFacts {
    pub path: PathBuf,
    /// The main checkout (never removed).
    pub is_main: bool,
    /// The branch checked out; `None` when HEAD is detached or unborn.
    pub branch: Option<String>,
    /// The branch's tip when the worktree was observed: a branch is only deleted while it
    /// still points there (a commit made since is never dropped).
    pub branch_tip: Option<String>,
    /// dev-prism made this worktree (its marker in git's administrative directory names this
    /// session's directory, or the directory it was made for when it was moved since).
    pub made_by_dev_prism: Fact<bool>,
    /// The directory the worktree was made for, from the marker (differs after `git worktree
    /// move`).
    pub made_for: Option<PathBuf>,
    /// Uncommitted, untracked and ignored paths, each with its owner.
    pub paths: Fact<Vec<PathFact>>,
    /// Commits reachable from HEAD (detached or on the branch) that no other branch, remote
    /// branch or tag contains.
    pub unmerged_commits: Fact<usize>,
    /// Initialised submodules (their repositories would be deleted with the worktree).
    pub submodules: Fact<Vec<String>>,
}

impl WorktreeFacts {
    /// The paths that are the user's work.
    pub fn work(&self) -> Option<Vec<&PathFact>> {
        self.paths
            .known()
            .map(|ps| ps.iter().filter(|p| p.owner == Owner::User).collect())
    }
}

/// Whether `path` (relative, `/`-separated; directories end in `/`) matches one gitignore-style
/// pattern: `name/` matches a directory of that name at any depth, `/x` anchors at the root,
/// `*` and `?` match within one component, `**` any number of components.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim();
    if pattern.is_empty() || pattern.starts_with('#') {
        return false;
    }
    let dir_only = pattern.ends_with('/');
    let pat = pattern.trim_end_matches('/');
    let anchored = pat.starts_with('/') || pat.trim_start_matches('/').contains('/');
    let pat = pat.trim_start_matches('/');
    let is_dir = path.ends_with('/');
    let comps: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let pat_comps: Vec<&str> = pat.split('/').collect();
    // A match of a prefix of the path's components: the rest lies inside the matched one.
    let prefix_ok = |len: usize| -> bool { !dir_only || len < comps.len() || is_dir };
    if anchored {
        (1..=comps.len()).any(|n| prefix_ok(n) && components_match(&pat_comps, &comps[..n]))
    } else {
        // No slash inside: the name may match a component at any depth.
        (0..comps.len()).any(|i| prefix_ok(i + 1) && glob(pat, comps[i]))
    }
}

fn components_match(pat: &[&str], comps: &[&str]) -> bool {
    match (pat.first(), comps.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            components_match(&pat[1..], comps)
                || (!comps.is_empty() && components_match(pat, &comps[1..]))
        }
        (Some(p), Some(c)) => glob(p, c) && components_match(&pat[1..], &comps[1..]),
        _ => false,
    }
}

/// `*` and `?` within one path component.
fn glob(pat: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), text.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

/// Whether `path` matches any of `patterns` (a later `!pattern` re-includes).
pub fn matches_any(patterns: &[String], path: &str) -> bool {
    let mut hit = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if hit && pattern_matches(neg, path) {
                hit = false;
            }
        } else if pattern_matches(p, path) {
            hit = true;
        }
    }
    hit
}

/// Whether two env files are the same apart from the values of `keys` (what dev-prism
/// rewrites in a copied env file): a copy that still holds only what dev-prism wrote.
pub fn same_env_apart_from(a: &str, b: &str, keys: &[&str]) -> bool {
    let key = |line: &str| -> Option<String> {
        let t = line.trim_start();
        let t = t.strip_prefix("export ").unwrap_or(t);
        t.split_once('=').map(|(k, _)| k.trim().to_string())
    };
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    la.len() == lb.len()
        && la.iter().zip(&lb).all(|(x, y)| {
            x == y || matches!((key(x), key(y)), (Some(k1), Some(k2)) if k1 == k2 && keys.contains(&k1.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_patterns() {
        assert!(pattern_matches("node_modules/", "node_modules/"));
        assert!(pattern_matches("node_modules/", "web/node_modules/"));
        assert!(pattern_matches("node_modules/", "web/node_modules/x/y.js"));
        assert!(!pattern_matches("node_modules/", "node_modules"));
        assert!(!pattern_matches("target/", "src/target.rs"));
        assert!(pattern_matches("*.db", "data/local.db"));
        assert!(!pattern_matches("/local.db", "data/local.db"));
        assert!(pattern_matches("/local.db", "local.db"));
        assert!(pattern_matches("data/*.db", "data/x.db"));
        assert!(!pattern_matches("data/*.db", "other/data/x.db"));
        assert!(pattern_matches("**/cache/", "a/b/cache/"));
        assert!(pattern_matches(".env.local", "apps/web/.env.local"));
        assert!(!pattern_matches("# comment", "# comment"));
        let pats = vec!["build/".to_string(), "!build/keep/".to_string()];
        assert!(matches_any(&pats, "build/"));
        assert!(!matches_any(&pats, "build/keep/"));
    }

    #[test]
    fn copies_differing_only_in_rewritten_keys_are_dev_prisms() {
        let src = "# db\nDATABASE_URL=postgres://u@localhost:5432/d\nX=1\n";
        let copy = "# db\nDATABASE_URL=postgres://u@127.0.0.1:40001/d\nX=1\n";
        assert!(same_env_apart_from(src, copy, &["DATABASE_URL"]));
        assert!(!same_env_apart_from(src, &copy.replace("X=1", "X=2"), &["DATABASE_URL"]));
        assert!(!same_env_apart_from(src, copy, &[]));
        assert!(!same_env_apart_from(src, &format!("{copy}Y=1\n"), &["DATABASE_URL"]));
    }

    #[test]
    fn unknown_facts_are_not_values() {
        let f: Fact<usize> = Fact::from_result(Err::<usize, _>("git failed"));
        assert_eq!(f.known(), None);
        assert_eq!(Fact::Known(0).known(), Some(&0));
    }
}
