//! git: worktrees, branches, and the state destroy checks before removing anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run, tail};
use crate::compose::SESSION_FILE;
use crate::desired::ENV_FILE;
use crate::error::{Error, Result};
use crate::observed::{Worktree, WorktreeSafety};

const INSTALL_HINT: &str = "install git (https://git-scm.com) and make sure it is on PATH";

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir).env("LC_ALL", "C");
    c
}

fn output(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    run(git(dir).args(args), "git", INSTALL_HINT)
}

fn ok_text(dir: &Path, args: &[&str]) -> Result<Option<String>> {
    let out = output(dir, args)?;
    Ok(out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string()
    }))
}

fn must(dir: &Path, args: &[&str], what: &str) -> Result<String> {
    let out = output(dir, args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::failure(format!(
            "git could not {what}: {}",
            tail(&out, 3)
        )))
    }
}

/// The top of the working tree containing `dir`, if it is inside one.
pub fn toplevel(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(ok_text(dir, &["rev-parse", "--show-toplevel"])?.map(PathBuf::from))
}

/// The repository's main checkout (the directory holding the common `.git`).
pub fn main_checkout(dir: &Path) -> Result<Option<PathBuf>> {
    let Some(common) = ok_text(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )?
    else {
        return Ok(None);
    };
    let common = PathBuf::from(common);
    Ok(match common.file_name() {
        Some(n) if n == ".git" => common.parent().map(Path::to_path_buf),
        _ => None,
    })
}

/// `git worktree list --porcelain`, parsed. The first entry is the main worktree.
pub fn worktrees(dir: &Path) -> Result<Vec<Worktree>> {
    let text = must(dir, &["worktree", "list", "--porcelain"], "list worktrees")?;
    Ok(parse_worktrees(&text))
}

pub fn parse_worktrees(text: &str) -> Vec<Worktree> {
    let mut out: Vec<Worktree> = vec![];
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            out.push(Worktree {
                path: PathBuf::from(p),
                branch: None,
                is_main: out.is_empty(),
            });
        } else if let Some(b) = line.strip_prefix("branch ") {
            if let Some(w) = out.last_mut() {
                w.branch = Some(b.strip_prefix("refs/heads/").unwrap_or(b).to_string());
            }
        }
    }
    out
}

pub fn branch_exists(repo: &Path, branch: &str) -> Result<bool> {
    let out = output(
        repo,
        &[
            "show-ref",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )?;
    Ok(out.status.success())
}

/// Whether git accepts `name` as a branch name.
pub fn valid_branch_name(repo: &Path, name: &str) -> Result<bool> {
    Ok(output(repo, &["check-ref-format", "--branch", name])?
        .status
        .success())
}

/// Adds a worktree at `path`, on a new branch from HEAD or on an existing branch.
pub fn add_worktree(repo: &Path, path: &Path, branch: &str, create_branch: bool) -> Result<()> {
    let path_s = path.to_string_lossy();
    let args: Vec<&str> = if create_branch {
        vec!["worktree", "add", "-b", branch, &path_s]
    } else {
        vec!["worktree", "add", &path_s, branch]
    };
    must(repo, &args, &format!("create worktree {}", path.display())).map(|_| ())
}

pub fn remove_worktree(repo: &Path, path: &Path, force: bool) -> Result<()> {
    let path_s = path.to_string_lossy();
    let mut args = vec!["worktree", "remove"];
    if force {
        args.push("--force");
    }
    args.push(&path_s);
    must(repo, &args, &format!("remove worktree {}", path.display())).map(|_| ())
}

/// Deletes a branch. The caller has already established (see [`safety`]) that every commit on
/// it is on another branch, or was told `--force`; `git branch -d` would only compare with
/// HEAD, so `-D` is used.
pub fn delete_branch(repo: &Path, branch: &str) -> Result<()> {
    must(
        repo,
        &["branch", "-D", branch],
        &format!("delete branch {branch}"),
    )
    .map(|_| ())
}

/// What destroy must know: uncommitted changes (ignoring dev-prism's generated files) and
/// commits on `branch` that no other branch or remote branch contains.
pub fn safety(dir: &Path, branch: Option<&str>) -> Result<WorktreeSafety> {
    let status = must(
        dir,
        &["status", "--porcelain", "--untracked-files=all"],
        "read the worktree status",
    )?;
    let changes = status
        .lines()
        .filter(|l| {
            let path = l.get(3..).unwrap_or("").trim_matches('"');
            let name = Path::new(path)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            name != ENV_FILE && name != SESSION_FILE
        })
        .map(str::to_string)
        .collect();
    let unmerged_commits = match branch {
        None => 0,
        Some(b) => {
            // Exclude patterns for --branches are relative to refs/heads/.
            let exclude = format!("--exclude={b}");
            let refname = format!("refs/heads/{b}");
            must(
                dir,
                &[
                    "rev-list",
                    "--count",
                    &refname,
                    "--not",
                    &exclude,
                    "--branches",
                    "--remotes",
                ],
                "count unmerged commits",
            )?
            .trim()
            .parse()
            .unwrap_or(0)
        }
    };
    Ok(WorktreeSafety {
        changes,
        unmerged_commits,
    })
}

/// Where git runs hooks for the worktree at `top` (honours `core.hooksPath`; a linked worktree
/// shares the common dir's hooks).
pub fn hooks_dir(top: &Path) -> Result<PathBuf> {
    let text = must(
        top,
        &["rev-parse", "--git-path", "hooks"],
        "find the hooks directory",
    )?;
    let p = PathBuf::from(text.trim());
    Ok(if p.is_absolute() { p } else { top.join(p) })
}

/// The branch checked out in `dir` (a worktree's top directory), read from git's files — no
/// git process, so `list` can afford it for every session. `None` when detached or not a
/// worktree top.
pub fn current_branch(dir: &Path) -> Option<String> {
    let dot_git = dir.join(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else {
        // A linked worktree: `.git` is a file saying `gitdir: <path>`.
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let p = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_string)
}
