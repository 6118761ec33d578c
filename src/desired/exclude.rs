//! The marked block of generated names in the repository's `info/exclude` (DESIGN §10): the
//! one write outside a session directory, so that `git status` of a session never shows
//! `.env.session` or `docker-compose.session.yml` and an agent's `git add -A` cannot commit
//! them. Pure text in, text out; the git adapter reads and writes the file.

use super::{Desired, Render};

/// The first line of the block.
pub const BEGIN: &str = "# dev-prism generated files";
/// The last line of the block.
pub const END: &str = "# end of dev-prism generated files";

/// The files dev-prism generates in a session, relative to its directory: `.env.session`,
/// `docker-compose.session.yml` and every `appEnv` file (rewritten `envFiles` are the user's
/// names, not generated ones).
pub fn generated_names(desired: &Desired) -> Vec<String> {
    let mut names = vec![crate::compose::SESSION_FILE.to_string()];
    for f in &desired.derived {
        if matches!(f.render, Render::EnvSession | Render::AppEnv { .. })
            && !names.contains(&f.path)
        {
            names.push(f.path.clone());
        }
    }
    names
}

/// The gitignore pattern that matches exactly `path` (relative, `/`-separated) at the root of
/// a worktree: anchored with `/`, the characters gitignore treats specially escaped.
pub fn pattern(path: &str) -> String {
    let mut out = String::from("/");
    for c in path.trim_start_matches('/').chars() {
        if matches!(c, '*' | '?' | '[' | '\\' | '!' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    // Trailing spaces are dropped by git unless escaped.
    if out.ends_with(' ') {
        let trimmed = out.trim_end_matches(' ').len();
        let spaces = out.len() - trimmed;
        out.truncate(trimmed);
        out.push_str(&"\\ ".repeat(spaces));
    }
    out
}

/// `current` (the text of `info/exclude`) with `patterns` in dev-prism's block: the block
/// keeps what it held and gains what is missing, in place; without a block one is appended.
/// Every line outside the block is kept as it is. `None` when nothing changes.
pub fn with_block(current: &str, patterns: &[String]) -> Option<String> {
    let lines: Vec<&str> = current.lines().collect();
    let begin = lines.iter().position(|l| l.trim_end() == BEGIN);
    let end = begin.and_then(|b| {
        lines[b + 1..]
            .iter()
            .position(|l| l.trim_end() == END)
            .map(|i| b + 1 + i)
    });
    let held: Vec<&str> = match (begin, end) {
        (Some(b), Some(e)) => lines[b + 1..e].to_vec(),
        _ => vec![],
    };
    let missing: Vec<&String> = patterns
        .iter()
        .filter(|p| !held.contains(&p.as_str()))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut block: Vec<String> = vec![BEGIN.to_string()];
    block.extend(held.iter().map(|l| l.to_string()));
    block.extend(missing.iter().map(|p| p.to_string()));
    block.push(END.to_string());
    let mut out: Vec<String> = vec![];
    match (begin, end) {
        (Some(b), Some(e)) => {
            out.extend(lines[..b].iter().map(|l| l.to_string()));
            out.extend(block);
            out.extend(lines[e + 1..].iter().map(|l| l.to_string()));
        }
        // No block, or a begin marker whose end was lost: a whole block is appended (the
        // stray line stays, as every line of the user's does).
        _ => {
            out.extend(lines.iter().map(|l| l.to_string()));
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
            out.extend(block);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn patterns_match_exactly_one_root_path() {
        assert_eq!(pattern(".env.session"), "/.env.session");
        assert_eq!(pattern("apps/web/.env.session"), "/apps/web/.env.session");
        assert_eq!(pattern("a*b/#x [1]"), "/a\\*b/\\#x \\[1]");
        assert_eq!(pattern("odd "), "/odd\\ ");
    }

    #[test]
    fn the_block_is_added_once_and_keeps_the_users_lines() {
        let user = "# git ls-files --others --exclude-from=.git/info/exclude\n*.swp\n";
        let want = pats(&["/.env.session", "/docker-compose.session.yml"]);
        let once = with_block(user, &want).unwrap();
        assert_eq!(
            once,
            format!("{user}\n{BEGIN}\n/.env.session\n/docker-compose.session.yml\n{END}\n")
        );
        assert_eq!(with_block(&once, &want), None, "idempotent");
        assert_eq!(with_block(&once, &want[..1]), None);
        // A new app env file joins the block in place; lines after it stay after it.
        let later = format!("{once}mine\n");
        let more = with_block(&later, &pats(&["/web/.env.session"])).unwrap();
        assert_eq!(
            more,
            format!("{user}\n{BEGIN}\n/.env.session\n/docker-compose.session.yml\n/web/.env.session\n{END}\nmine\n")
        );
        assert_eq!(with_block("", &[]), None);
        assert_eq!(
            with_block("", &want[..1]).unwrap(),
            format!("{BEGIN}\n/.env.session\n{END}\n")
        );
        // No trailing newline in the user's file.
        assert_eq!(
            with_block("*.o", &want[..1]).unwrap(),
            format!("*.o\n\n{BEGIN}\n/.env.session\n{END}\n")
        );
    }
}
