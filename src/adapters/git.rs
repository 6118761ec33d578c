//! git: worktrees, branches, and the state destroy checks before removing anything. Every
//! call takes the run's [`Trace`] (`--verbose`). Over 400 lines: it is the one place git runs,
//! and splitting it would spread the process handling over files.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run, tail};
use crate::error::{Error, Result};
use crate::observed::{Fact, Owner, PathFact, Worktree, WorktreeFacts};
use crate::ui::Trace;

const INSTALL_HINT: &str = "install git (https://git-scm.com) and make sure it is on PATH";

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    // `GIT_OPTIONAL_LOCKS=0`: `git status` does not rewrite the index to refresh it, so
    // dev-prism's own reads never count as the session's activity (its index's mtime).
    c.current_dir(dir)
        .env("LC_ALL", "C")
        .env("GIT_OPTIONAL_LOCKS", "0");
    c
}

fn output(t: &Trace, dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    run(git(dir).args(args), "git", INSTALL_HINT, t)
}

fn ok_text(t: &Trace, dir: &Path, args: &[&str]) -> Result<Option<String>> {
    let out = output(t, dir, args)?;
    Ok(out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string()
    }))
}

fn must(t: &Trace, dir: &Path, args: &[&str], what: &str) -> Result<String> {
    checked(output(t, dir, args)?, what)
}

/// [`must`] for a command that changes the repository: it runs in its own process group, so
/// a Ctrl-C or closed terminal (sent to dev-prism's group) cannot stop it half-way — a branch
/// made without its worktree, a worktree without dev-prism's marker. dev-prism notices the
/// signal once the change is whole, and then undoes it as a whole.
fn change(t: &Trace, dir: &Path, args: &[&str], what: &str) -> Result<String> {
    use std::os::unix::process::CommandExt;
    let out = run(git(dir).args(args).process_group(0), "git", INSTALL_HINT, t)?;
    checked(out, what)
}

fn checked(out: std::process::Output, what: &str) -> Result<String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::git(what, tail(&out, 3)))
    }
}

/// The top of the working tree containing `dir`, if it is inside one.
pub fn toplevel(t: &Trace, dir: &Path) -> Result<Option<PathBuf>> {
    Ok(ok_text(t, dir, &["rev-parse", "--show-toplevel"])?.map(PathBuf::from))
}

/// The repository's common git directory (absolute), if `dir` is inside a repository.
pub fn common_dir(t: &Trace, dir: &Path) -> Result<Option<PathBuf>> {
    Ok(ok_text(
        t,
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )?
    .map(PathBuf::from))
}

/// The repository's main checkout (the directory holding the common `.git`), or the
/// directory of a bare repository.
pub fn main_checkout(t: &Trace, dir: &Path) -> Result<Option<PathBuf>> {
    let Some(common) = ok_text(
        t,
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )?
    else {
        return Ok(None);
    };
    let common = PathBuf::from(common);
    if common.file_name().is_some_and(|n| n == ".git") {
        return Ok(common.parent().map(Path::to_path_buf));
    }
    // A bare repository with linked worktrees has no main checkout: the bare directory is
    // where every worktree's branch and worktree operations run, and what sessionsDir is
    // relative to (the same for every worktree, so destroy and prune find what create made).
    Ok(is_bare(t, &common)?.then_some(common))
}

/// Whether `dir` is a bare repository's directory.
pub fn is_bare(t: &Trace, dir: &Path) -> Result<bool> {
    Ok(ok_text(t, dir, &["rev-parse", "--is-bare-repository"])?.as_deref() == Some("true"))
}

/// `git worktree list --porcelain`, parsed. The first entry is the main worktree.
pub fn worktrees(t: &Trace, dir: &Path) -> Result<Vec<Worktree>> {
    let text = must(
        t,
        dir,
        &["worktree", "list", "--porcelain"],
        "list worktrees",
    )?;
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

pub fn branch_exists(t: &Trace, repo: &Path, branch: &str) -> Result<bool> {
    let out = output(
        t,
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
pub fn valid_branch_name(t: &Trace, repo: &Path, name: &str) -> Result<bool> {
    Ok(output(t, repo, &["check-ref-format", "--branch", name])?
        .status
        .success())
}

/// Adds a worktree at `path`, on a new branch from `start` or on an existing branch. The
/// user's hooks do not run: a failing `post-checkout` hook (husky-style) would make git report
/// failure for a worktree it made.
pub fn add_worktree(
    t: &Trace,
    repo: &Path,
    path: &Path,
    branch: &str,
    create_branch: bool,
    start: Option<&str>,
) -> Result<()> {
    let path_s = path.to_string_lossy();
    let mut args: Vec<&str> = vec!["-c", "core.hooksPath=/dev/null", "worktree", "add"];
    if create_branch {
        args.extend(["-b", branch, "--", &path_s]);
        args.extend(start);
    } else {
        args.extend(["--", &path_s, branch]);
    }
    let _turn = worktrees_turn(repo);
    change(
        t,
        repo,
        &args,
        &format!("create worktree {}", path.display()),
    )
    .map(|_| ())
}

/// While git adds or removes a worktree it reads every other worktree's admin directory, and
/// one that a parallel `git worktree add` has only half made fails it ("failed to read
/// .git/worktrees/<id>/commondir"; measured with git 2.47: 4 of 48 adds run 16 at once, and
/// the 48th of 200 creates run 10 at once). So dev-prism's own adds and removes in one
/// repository take turns: each holds an exclusive `flock` on `dev-prism-worktrees.flock` in
/// the repository's git dir for its one git command. Best effort: without that file (no
/// permission, no git dir) git runs as before.
fn worktrees_turn(repo: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(git_dir_of(repo)?.join("dev-prism-worktrees.flock"))
        .ok()?;
    file.lock().ok()?;
    Some(file)
}

pub fn remove_worktree(t: &Trace, repo: &Path, path: &Path, force: bool) -> Result<()> {
    let path_s = path.to_string_lossy();
    let mut args = vec!["worktree", "remove"];
    if force {
        args.push("--force");
    }
    args.push(&path_s);
    let _turn = worktrees_turn(repo);
    change(
        t,
        repo,
        &args,
        &format!("remove worktree {}", path.display()),
    )
    .map(|_| ())
}

/// Deletes a branch, only while it still points at `expected` (the tip observed when the plan
/// was made, whose commits were checked or forced): a commit made since keeps it.
pub fn delete_branch(t: &Trace, repo: &Path, branch: &str, expected: &str) -> Result<()> {
    let refname = format!("refs/heads/{branch}");
    change(
        t,
        repo,
        &["update-ref", "-d", &refname, expected],
        &format!("delete branch {branch} (did it move since it was checked?)"),
    )?;
    // Its upstream settings go with it, as with `git branch -d`.
    let _ = output(
        t,
        repo,
        &["config", "--remove-section", &format!("branch.{branch}")],
    );
    Ok(())
}

/// The name of the marker dev-prism leaves in a worktree's administrative directory (inside
/// the repository's `.git`, never among the user's files) when it made the worktree.
const MARKER: &str = "dev-prism-session";

/// The worktree's administrative directory (`.git/worktrees/<id>`, or `.git` for the main one).
/// Asked outside the terminal's process group like a change: marking a worktree just made is
/// part of making it, and a Ctrl-C between the two would leave one dev-prism cannot prove it
/// made.
fn admin_dir(t: &Trace, dir: &Path) -> Result<PathBuf> {
    let text = change(
        t,
        dir,
        &["rev-parse", "--absolute-git-dir"],
        "find the git directory",
    )?;
    Ok(PathBuf::from(text.trim()))
}

/// Records that dev-prism made the worktree at `dir` for this session directory.
pub fn mark_worktree(t: &Trace, dir: &Path) -> Result<()> {
    let marker = admin_dir(t, dir)?.join(MARKER);
    std::fs::write(&marker, format!("{}\n", dir.display()))
        .map_err(|e| Error::io("could not record the session in", &marker, e))
}

/// The directory the marker names; `None` when there is no marker (dev-prism did not make it).
fn marker(t: &Trace, dir: &Path) -> Result<Option<PathBuf>> {
    let marker = admin_dir(t, dir)?.join(MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(text) => Ok(Some(PathBuf::from(text.trim_end_matches('\n')))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("could not read", &marker, e)),
    }
}

/// The name of the manifest of setup outputs, beside the marker.
const SETUP_OUTPUTS: &str = "dev-prism-setup-outputs";

/// The worktree's git directory and the path of its setup-outputs manifest, when dev-prism
/// made the worktree (its marker is there); `None` otherwise (the main checkout, a worktree
/// of the user's: their files are never dev-prism's).
pub fn setup_manifest(t: &Trace, dir: &Path) -> Result<Option<(PathBuf, PathBuf)>> {
    let admin = admin_dir(t, dir)?;
    Ok(admin
        .join(MARKER)
        .is_file()
        .then(|| (admin.clone(), admin.join(SETUP_OUTPUTS))))
}

/// Whether dev-prism made the worktree at `dir` (its marker is there).
pub fn made_by_dev_prism(t: &Trace, dir: &Path) -> Result<bool> {
    marker(t, dir).map(|m| m.is_some())
}

/// `git status` entries as (status, path), ignored paths included (a matched directory as
/// `dir/`).
fn status_entries(t: &Trace, dir: &Path) -> Result<Vec<(&'static str, String)>> {
    let out = must(
        t,
        dir,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--ignored=matching",
        ],
        "read the worktree status",
    )?;
    let mut entries = vec![];
    let mut fields = out.split('\0').filter(|f| !f.is_empty());
    while let Some(f) = fields.next() {
        let (code, path) = (f.get(..2).unwrap_or(""), f.get(3..).unwrap_or(""));
        let status = match code {
            "??" => "untracked",
            "!!" => "ignored",
            _ => "modified",
        };
        if code.starts_with('R') || code.starts_with('C') {
            fields.next(); // the source path of a rename or copy
        }
        entries.push((status, path.to_string()));
    }
    Ok(entries)
}

/// The commit a ref points at; `None` when it does not exist.
fn rev(t: &Trace, dir: &Path, name: &str) -> Result<Option<String>> {
    ok_text(
        t,
        dir,
        &["rev-parse", "--verify", "-q", &format!("{name}^{{commit}}")],
    )
}

/// Commits reachable from HEAD (detached or not) and from the branch that no other branch,
/// remote branch or tag holds. 0 when HEAD is unborn and the branch gone (nothing committed).
fn unmerged(
    t: &Trace,
    dir: &Path,
    branch: Option<&str>,
    branch_tip: Option<&str>,
) -> Result<usize> {
    let mut args: Vec<String> = vec!["rev-list".into(), "--count".into()];
    if rev(t, dir, "HEAD")?.is_some() {
        args.push("HEAD".into());
    }
    if let Some(tip) = branch_tip {
        args.push(tip.to_string());
    }
    if args.len() == 2 {
        return Ok(0);
    }
    args.push("--not".into());
    if let Some(b) = branch {
        // Exclude patterns for --branches are relative to refs/heads/.
        args.push(format!("--exclude={b}"));
    }
    args.extend(["--branches", "--remotes", "--tags"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = must(t, dir, &args, "count unmerged commits")?;
    text.trim()
        .parse()
        .map_err(|_| Error::failure(format!("git rev-list said `{}`", text.trim())))
}

/// Initialised submodules of the worktree (none without `.gitmodules`: no process).
fn submodules(t: &Trace, dir: &Path) -> Result<Vec<String>> {
    if !dir.join(".gitmodules").exists() {
        return Ok(vec![]);
    }
    let out = must(t, dir, &["submodule", "status"], "list submodules")?;
    Ok(out
        .lines()
        .filter(|l| !l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect())
}

/// Everything destroy checks about the worktree `wt`. A fact git cannot establish is recorded
/// as unknown (and then blocks removal); nothing is guessed. `owner` says whose a path
/// reported by `git status` is.
pub fn facts(
    t: &Trace,
    wt: &Worktree,
    owner: &dyn Fn(&str, &'static str) -> Owner,
) -> WorktreeFacts {
    let dir = wt.path.as_path();
    let branch_tip = wt
        .branch
        .as_deref()
        .and_then(|b| rev(t, dir, &format!("refs/heads/{b}")).ok().flatten());
    let made_for = marker(t, dir);
    WorktreeFacts {
        path: wt.path.clone(),
        is_main: wt.is_main,
        branch: wt.branch.clone(),
        made_by_dev_prism: match &made_for {
            Ok(m) => Fact::Known(m.is_some()),
            Err(e) => Fact::Unknown(e.to_string()),
        },
        made_for: made_for.ok().flatten(),
        paths: Fact::from_result(status_entries(t, dir).map(|es| {
            es.into_iter()
                .map(|(status, path)| PathFact {
                    owner: owner(&path, status),
                    path,
                    status,
                })
                .collect()
        })),
        unmerged_commits: Fact::from_result(unmerged(
            t,
            dir,
            wt.branch.as_deref(),
            branch_tip.as_deref(),
        )),
        submodules: Fact::from_result(submodules(t, dir)),
        branch_tip,
    }
}

/// Where git runs hooks for the worktree at `top` (honours `core.hooksPath`; a linked worktree
/// shares the common dir's hooks).
pub fn hooks_dir(t: &Trace, top: &Path) -> Result<PathBuf> {
    let text = must(
        t,
        top,
        &["rev-parse", "--git-path", "hooks"],
        "find the hooks directory",
    )?;
    let p = PathBuf::from(text.trim());
    Ok(if p.is_absolute() { p } else { top.join(p) })
}

/// Whether this git has `git worktree` (`doctor`; outside a repository it says so, which
/// counts as having it).
pub fn worktrees_supported(dir: &Path) -> bool {
    Command::new("git")
        .args(["worktree", "list"])
        .current_dir(dir)
        .output()
        .map(|o| {
            o.status.success()
                || String::from_utf8_lossy(&o.stderr).contains("not a git repository")
        })
        .unwrap_or(false)
}

/// The branch checked out in `dir` (a worktree's top directory), read from git's files — no
/// git process, so `list` can afford it for every session. `None` when detached or not a
/// worktree top.
pub fn current_branch(dir: &Path) -> Option<String> {
    let git_dir = git_dir_of(dir)?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_string)
}

/// The git directory of the worktree at `dir`, read from its files (no git process): `.git`
/// itself, or for a linked worktree the admin directory its `.git` file points at.
pub fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    // A linked worktree: `.git` is a file saying `gitdir: <path>`.
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let p = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
    Some(if p.is_absolute() { p } else { dir.join(p) })
}

/// Whether `branch` of the repository at `repo` is merged into the main checkout's current
/// branch: it moved since it was created (its reflog's first entry), and its tip is reachable
/// from `HEAD`. Two git processes.
pub fn merged(t: &Trace, repo: &Path, branch: &str) -> Result<crate::tidy::Merged> {
    use crate::tidy::Merged;
    let refname = format!("refs/heads/{branch}");
    let Some(tip) = rev(t, repo, &refname)? else {
        return Ok(Merged::Unknown(format!("branch {branch} does not exist")));
    };
    let log = ok_text(t, repo, &["reflog", "show", "--format=%H", &refname])?.unwrap_or_default();
    let Some(created) = log.lines().last().filter(|l| !l.is_empty()) else {
        return Ok(Merged::Unknown(format!(
            "git keeps no reflog of branch {branch}, so whether it has commits of its own is unknown"
        )));
    };
    if created == tip.trim() {
        return Ok(Merged::NoCommits);
    }
    let range = format!("HEAD..{}", tip.trim());
    let text = must(
        t,
        repo,
        &["rev-list", "--count", &range],
        "count unmerged commits",
    )?;
    Ok(match text.trim().parse::<usize>() {
        Ok(0) => Merged::Yes,
        Ok(n) => Merged::No(n),
        Err(_) => Merged::Unknown(format!("git rev-list said `{}`", text.trim())),
    })
}

/// The text of `path` committed at `rev`; `None` when the revision has no such file.
pub fn show(t: &Trace, repo: &Path, rev: &str, path: &str) -> Result<Option<String>> {
    let out = output(t, repo, &["cat-file", "blob", &format!("{rev}:{path}")])?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The mode git records for `path` at `rev` (`100644`, `100755`, `120000` a link, `040000` a
/// directory, `160000` a submodule); `None` when it has no such path.
pub fn mode_at(t: &Trace, repo: &Path, rev: &str, path: &str) -> Result<Option<String>> {
    let out = ok_text(t, repo, &["ls-tree", rev, "--", path])?;
    Ok(out.and_then(|l| {
        l.split(' ')
            .next()
            .filter(|m| !m.is_empty())
            .map(str::to_string)
    }))
}

/// The bytes the files committed at `rev` take when checked out (blob sizes; one process).
pub fn tree_bytes(t: &Trace, repo: &Path, rev: &str) -> Result<u64> {
    let text = must(
        t,
        repo,
        &["ls-tree", "-r", "-l", "--full-tree", rev],
        "list the files of the new worktree",
    )?;
    // `<mode> <type> <object> <size>\t<path>`; a submodule's size is `-`.
    Ok(text
        .lines()
        .filter_map(|l| {
            l.split('\t')
                .next()?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        })
        .sum())
}

/// The commit `name` resolves to in `dir`; `None` when it does not exist (an unborn HEAD).
pub fn commit_of(t: &Trace, dir: &Path, name: &str) -> Result<Option<String>> {
    rev(t, dir, name)
}

/// Which of `paths` (relative to the checkout `dir`) its sparse checkout leaves out: a worktree
/// added from `dir` takes the same sparse patterns (git copies them), so it would not have
/// them either. Empty when sparse checkout is off.
pub fn outside_sparse_checkout(t: &Trace, dir: &Path, paths: &[&str]) -> Result<Vec<String>> {
    let on = ok_text(t, dir, &["config", "--bool", "core.sparseCheckout"])?;
    if on.as_deref() != Some("true") || paths.is_empty() {
        return Ok(vec![]);
    }
    // `-t` tags skip-worktree entries (those outside the sparse patterns) with `S`.
    let mut args = vec!["ls-files", "-t", "--"];
    args.extend_from_slice(paths);
    Ok(must(t, dir, &args, "read the sparse checkout")?
        .lines()
        .filter_map(|l| l.strip_prefix("S "))
        .map(str::to_string)
        .collect())
}

/// `git status --porcelain` lines for `paths` in the checkout at `dir` (uncommitted or
/// untracked).
pub fn status_of(t: &Trace, dir: &Path, paths: &[&str]) -> Result<Vec<String>> {
    let mut args = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    args.extend_from_slice(paths);
    Ok(must(t, dir, &args, "read the status of the config")?
        .lines()
        .map(str::to_string)
        .collect())
}

/// Adds the generated `names` (relative to the worktree `dir`) that git does not ignore yet to
/// dev-prism's marked block in the repository's `info/exclude` (the common git directory's,
/// shared by every worktree): the one write outside a session directory (DESIGN §6). One git
/// process asks about every name at once; the file is replaced atomically, never through a
/// link, and every line of the user's is kept.
pub fn exclude_generated(t: &Trace, dir: &Path, names: &[String]) -> Result<()> {
    use crate::desired::exclude;
    // A name git would quote (a newline or quote in it) is not recognised below and gets a
    // line of its own: redundant, never wrong.
    let mut args = vec!["-c", "core.quotePath=false", "check-ignore", "--"];
    args.extend(names.iter().map(String::as_str));
    let out = output(t, dir, &args)?;
    // 0: some are ignored, 1: none is; anything else is a failure.
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(Error::git("check which names are ignored", tail(&out, 3)));
    }
    let ignored = String::from_utf8_lossy(&out.stdout);
    let ignored: Vec<&str> = ignored.lines().collect();
    let wanted: Vec<String> = names
        .iter()
        .filter(|n| !ignored.contains(&n.as_str()))
        .map(|n| exclude::pattern(n))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let common = PathBuf::from(
        must(
            t,
            dir,
            &["rev-parse", "--path-format=absolute", "--git-common-dir"],
            "find the repository's git directory",
        )?
        .trim(),
    );
    let info = common.join("info");
    match std::fs::symlink_metadata(&info) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(&info).map_err(|e| Error::io("could not create", &info, e))?
        }
        _ => {}
    }
    let file = info.join("exclude");
    let current = crate::adapters::fs::read(&file)?;
    let mode = current.as_ref().map_or(0o644, |(_, m)| *m & 0o777);
    let current = current.map(|(text, _)| text).unwrap_or_default();
    match exclude::with_block(&current, &wanted) {
        // The parent directory is checked to be a real one inside the git directory, and the
        // file itself not a link.
        Some(text) => crate::adapters::fs::write_atomic(&common, &file, text.as_bytes(), mode),
        None => Ok(()),
    }
}

/// git, as dev-prism uses it: one method per question or change (the free functions above
/// are the real implementation, [`GitCli`] hands them its trace). Code outside `adapters/`
/// reaches git only through this trait (`Ctx::git`, or [`cli`] where no context exists).
pub trait Git: Send + Sync {
    /// Its top directory, when `dir` is inside a work tree.
    fn toplevel(&self, dir: &Path) -> Result<Option<PathBuf>>;
    /// The repository's main checkout.
    fn main_checkout(&self, dir: &Path) -> Result<Option<PathBuf>>;
    /// The repository's common git directory (absolute).
    fn common_dir(&self, dir: &Path) -> Result<Option<PathBuf>>;
    /// Whether the repository at `dir` is bare.
    fn is_bare(&self, dir: &Path) -> Result<bool>;
    /// The repository's worktrees.
    fn worktrees(&self, dir: &Path) -> Result<Vec<Worktree>>;
    fn branch_exists(&self, repo: &Path, branch: &str) -> Result<bool>;
    fn valid_branch_name(&self, repo: &Path, name: &str) -> Result<bool>;
    fn add_worktree(
        &self,
        repo: &Path,
        path: &Path,
        branch: &str,
        create_branch: bool,
        start: Option<&str>,
    ) -> Result<()>;
    fn remove_worktree(&self, repo: &Path, path: &Path, force: bool) -> Result<()>;
    /// Deletes `branch` if its tip is still `expected`.
    fn delete_branch(&self, repo: &Path, branch: &str, expected: &str) -> Result<()>;
    /// Records that dev-prism made the worktree at `dir`.
    fn mark_worktree(&self, dir: &Path) -> Result<()>;
    fn setup_manifest(&self, dir: &Path) -> Result<Option<(PathBuf, PathBuf)>>;
    fn made_by_dev_prism(&self, dir: &Path) -> Result<bool>;
    /// What destroy checks about a linked worktree.
    fn facts(&self, wt: &Worktree, owner: &dyn Fn(&str, &'static str) -> Owner) -> WorktreeFacts;
    fn hooks_dir(&self, top: &Path) -> Result<PathBuf>;
    /// The branch checked out in `dir`, read from git's files.
    fn current_branch(&self, dir: &Path) -> Option<String>;
    fn merged(&self, repo: &Path, branch: &str) -> Result<crate::tidy::Merged>;
    /// A file's content at a revision.
    fn show(&self, repo: &Path, rev: &str, path: &str) -> Result<Option<String>>;
    fn mode_at(&self, repo: &Path, rev: &str, path: &str) -> Result<Option<String>>;
    fn tree_bytes(&self, repo: &Path, rev: &str) -> Result<u64>;
    fn commit_of(&self, dir: &Path, name: &str) -> Result<Option<String>>;
    fn outside_sparse_checkout(&self, dir: &Path, paths: &[&str]) -> Result<Vec<String>>;
    fn status_of(&self, dir: &Path, paths: &[&str]) -> Result<Vec<String>>;
    fn exclude_generated(&self, dir: &Path, names: &[String]) -> Result<()>;
}

/// The git CLI, logging each call through its trace.
#[derive(Clone, Default)]
pub struct GitCli {
    trace: Trace,
}

/// The git CLI as a [`Git`], logging through `trace`.
pub fn cli(trace: &Trace) -> std::sync::Arc<dyn Git> {
    std::sync::Arc::new(GitCli {
        trace: trace.clone(),
    })
}

impl Git for GitCli {
    fn toplevel(&self, dir: &Path) -> Result<Option<PathBuf>> {
        toplevel(&self.trace, dir)
    }
    fn main_checkout(&self, dir: &Path) -> Result<Option<PathBuf>> {
        main_checkout(&self.trace, dir)
    }
    fn common_dir(&self, dir: &Path) -> Result<Option<PathBuf>> {
        common_dir(&self.trace, dir)
    }
    fn is_bare(&self, dir: &Path) -> Result<bool> {
        is_bare(&self.trace, dir)
    }
    fn worktrees(&self, dir: &Path) -> Result<Vec<Worktree>> {
        worktrees(&self.trace, dir)
    }
    fn branch_exists(&self, repo: &Path, branch: &str) -> Result<bool> {
        branch_exists(&self.trace, repo, branch)
    }
    fn valid_branch_name(&self, repo: &Path, name: &str) -> Result<bool> {
        valid_branch_name(&self.trace, repo, name)
    }
    fn add_worktree(
        &self,
        repo: &Path,
        path: &Path,
        branch: &str,
        create_branch: bool,
        start: Option<&str>,
    ) -> Result<()> {
        add_worktree(&self.trace, repo, path, branch, create_branch, start)
    }
    fn remove_worktree(&self, repo: &Path, path: &Path, force: bool) -> Result<()> {
        remove_worktree(&self.trace, repo, path, force)
    }
    fn delete_branch(&self, repo: &Path, branch: &str, expected: &str) -> Result<()> {
        delete_branch(&self.trace, repo, branch, expected)
    }
    fn mark_worktree(&self, dir: &Path) -> Result<()> {
        mark_worktree(&self.trace, dir)
    }
    fn setup_manifest(&self, dir: &Path) -> Result<Option<(PathBuf, PathBuf)>> {
        setup_manifest(&self.trace, dir)
    }
    fn made_by_dev_prism(&self, dir: &Path) -> Result<bool> {
        made_by_dev_prism(&self.trace, dir)
    }
    fn facts(&self, wt: &Worktree, owner: &dyn Fn(&str, &'static str) -> Owner) -> WorktreeFacts {
        facts(&self.trace, wt, owner)
    }
    fn hooks_dir(&self, top: &Path) -> Result<PathBuf> {
        hooks_dir(&self.trace, top)
    }
    fn current_branch(&self, dir: &Path) -> Option<String> {
        current_branch(dir)
    }
    fn merged(&self, repo: &Path, branch: &str) -> Result<crate::tidy::Merged> {
        merged(&self.trace, repo, branch)
    }
    fn show(&self, repo: &Path, rev: &str, path: &str) -> Result<Option<String>> {
        show(&self.trace, repo, rev, path)
    }
    fn mode_at(&self, repo: &Path, rev: &str, path: &str) -> Result<Option<String>> {
        mode_at(&self.trace, repo, rev, path)
    }
    fn tree_bytes(&self, repo: &Path, rev: &str) -> Result<u64> {
        tree_bytes(&self.trace, repo, rev)
    }
    fn commit_of(&self, dir: &Path, name: &str) -> Result<Option<String>> {
        commit_of(&self.trace, dir, name)
    }
    fn outside_sparse_checkout(&self, dir: &Path, paths: &[&str]) -> Result<Vec<String>> {
        outside_sparse_checkout(&self.trace, dir, paths)
    }
    fn status_of(&self, dir: &Path, paths: &[&str]) -> Result<Vec<String>> {
        status_of(&self.trace, dir, paths)
    }
    fn exclude_generated(&self, dir: &Path, names: &[String]) -> Result<()> {
        exclude_generated(&self.trace, dir, names)
    }
}
