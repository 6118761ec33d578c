//! `create` as one plan: the worktree, the files copied into it, the services, the env files
//! and the setup commands — computed before anything exists, so `plan --create` prints exactly
//! what `create` then does. A failed create is rolled back by a destroy plan scoped to what it
//! made (see [`Made`]).

use std::path::{Path, PathBuf};

use super::{Prepared, World};
use crate::adapters::git::Git;
use crate::config::CONFIG_FILES;
use crate::context::{self, Loading, Observer, Session};
use crate::desired::{Intent, Scope};
use crate::error::{Error, Result};
use crate::observed::Observed;
use crate::plan::{self, Op, Step};
use crate::ui::Ui;
use crate::util::UtcTime;

/// What a create is asked for.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    /// Where the command runs (a directory of the repository).
    pub cwd: PathBuf,
    pub branch: Option<String>,
    pub wants: context::Wants,
    /// `--data-from`: the session whose volumes the new ones start as copies of (overrides
    /// config `dataFrom`).
    pub data_from: Option<PathBuf>,
}

/// What a create's plan makes, so a failure removes exactly that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Made {
    pub project: bool,
    pub worktree: bool,
    pub branch: bool,
}

impl Made {
    /// What a plan makes once its steps up to `done` (exclusive) have run: the worktree when
    /// its step ran, the project when it had nothing before and Compose was started.
    pub fn after(plan: &plan::Plan, done: usize, project_was_empty: bool) -> Made {
        let mut made = Made::default();
        for step in plan.ordered().into_iter().take(done.saturating_add(1)) {
            match &step.op {
                Op::AddWorktree { create_branch, .. } => {
                    made.worktree = true;
                    made.branch = *create_branch;
                }
                Op::ComposeUp { .. } | Op::CopyVolumes { .. } => made.project = project_was_empty,
                _ => {}
            }
        }
        made
    }

    pub fn scope(self) -> Scope {
        Scope {
            project: self.project,
            worktree: self.worktree,
            branch: self.branch,
        }
    }

    pub fn anything(self) -> bool {
        self.project || self.worktree || self.branch
    }
}

/// Plans a create in a new worktree. Nothing is changed: the config and compose files are
/// read as committed on the session's branch, the directory and branch are chosen, the engine
/// is asked which Compose it runs.
pub async fn prepare_worktree<W: World>(
    world: &mut W,
    req: &CreateRequest,
    avoid: &[PathBuf],
    ui: &Ui,
) -> Result<Prepared> {
    let git = world.git().await;
    let Some(top) = git.toplevel(&req.cwd)? else {
        return Err(Error::usage(format!(
            "{} is not inside a git repository",
            req.cwd.display()
        ))
        .with_hint("run `git init` first, or use `dev-prism create --in-place`"));
    };
    let repo = git.main_checkout(&top)?.unwrap_or_else(|| top.clone());
    let explicit = req.branch.is_some();
    let base = match &req.branch {
        Some(b) => {
            if !git.valid_branch_name(&repo, b)? {
                return Err(
                    Error::usage(format!("`{b}` is not a valid git branch name"))
                        .with_hint("see `git check-ref-format --help`; e.g. feature/my-change"),
                );
            }
            b.clone()
        }
        None => format!("session/{}", UtcTime::now().slug()),
    };
    let head = git.commit_of(&top, "HEAD")?.ok_or_else(|| {
        Error::usage(format!("{} has no commit yet", top.display()))
            .with_hint("commit once (`git commit`), or use `dev-prism create --in-place`")
    })?;
    // The working copy's config is validated first: its errors point into the file.
    world
        .load(ui, &top, Loading::Identity { lenient: false })
        .await?;
    let existing = explicit && git.branch_exists(&repo, &base)?;
    let rev = if existing { base.clone() } else { head.clone() };
    config_is_committed(world, &*git, &top, &repo, &rev).await?;
    let committed = world.load_committed(ui, &repo, &rev).await?;
    let config = committed.config;
    // Ask the engine before planning: an unreachable engine must stop create before anything.
    world.connect().await?;
    // A new worktree has no containers yet: the flavour is the Compose's that runs it.
    let flavor = world.flavor(&Observed::default()).await?;
    let sessions_dir = absolute(world, &config.sessions_dir).await;
    let common = match git.common_dir(&repo)? {
        Some(c) => world.resolve(&c).await,
        None => None,
    };
    refuse_in_git_dir(&sessions_dir, common.as_deref())?;
    let (path, name, create_branch) =
        pick(world, &*git, &repo, &sessions_dir, &base, explicit, avoid).await?;
    refuse_unusable(
        &*git,
        &repo,
        &path,
        &name,
        existing,
        &committed.compose_files,
    )?;
    let mut first = vec![plan::add_worktree_step(
        path.clone(),
        &name,
        create_branch,
        create_branch.then(|| head.clone()),
    )];
    // What the first steps put in the new worktree, as the rest of the plan will find it.
    let mut observed = Observed::default();
    for f in &config.env_files {
        // Only gitignored files the branch lacks; a committed one is already there.
        refuse_non_file(&*git, &repo, &rev, &name, f)?;
        let (copy, text) = match git.show(&repo, &rev, f)? {
            Some(text) => (false, Some(text)),
            None => {
                let text = world.env_file(&repo, f).await?;
                (text.is_some(), text)
            }
        };
        if copy {
            first.push(plan::copy_file_step(
                f,
                repo.join(f),
                path.join(f),
                plan::Reason::EnvFileCopied,
            ));
        }
        observed.derived.insert(f.clone(), text.map(|t| (t, 0o600)));
    }
    let on_branch = existing.then_some(rev.as_str());
    first.extend(super::ready::copy_steps(world, &repo, &config, &path, on_branch).await?);
    let session = Session {
        dir: path,
        main_root: Some(repo),
        config,
        compose_files: committed.compose_files,
        model: committed.model,
    };
    let project = session.project();
    // A name some other directory's objects already carry is never taken over (DESIGN §10).
    world
        .owners(&project, true)
        .await?
        .check(&session.dir.to_string_lossy(), &project, false)?;
    world.subnets(&session, &project, &mut observed).await?;
    world.hosts(&session, &mut observed).await?;
    let data = super::ready::data_step(world, &session, &project, req.data_from.as_deref()).await?;
    // Where the volumes come from is recorded on the containers (`info` reads it there).
    let data_from = data.as_ref().and_then(|step| match &step.op {
        Op::CopyVolumes { source, .. } => Some(source.dir.to_string_lossy().into_owned()),
        _ => None,
    });
    let desired = context::desired_seeded(&session, &observed, flavor, &req.wants, data_from)?;
    first.extend(data);
    let plan = plan::diff_after(&desired, &observed, Intent::Up, first);
    super::limits::check_engine(world, &plan, &session.config.resources).await?;
    let mut p = Prepared {
        session,
        observed,
        desired,
        plan,
        wants: req.wants.clone(),
    };
    // Compose was asked above already: its flavour costs nothing more here.
    super::runtime_checks(world, &mut p, true).await?;
    Ok(p)
}

/// What `git worktree add` or Compose would refuse later, refused before anything is made (so
/// `plan --create` and `create` say the same): a branch already checked out elsewhere, a
/// directory path Compose cannot read files under, compose files a sparse checkout leaves out.
/// `sessionsDir` as resolved through links may not lead into a git directory either: the
/// config's check at load is lexical, and a committed link (`s -> .git`, `sessionsDir: s/wt`)
/// put worktrees inside the repository's store. `common`: the repository's git directory,
/// resolved through links.
fn refuse_in_git_dir(sessions_dir: &Path, common: Option<&Path>) -> Result<()> {
    let inside = sessions_dir.components().any(|c| c.as_os_str() == ".git")
        || common.is_some_and(|c| sessions_dir.starts_with(c));
    if !inside {
        return Ok(());
    }
    Err(Error::usage(format!(
        "sessionsDir resolves to {}, inside a git directory: git would take the worktrees for its own files",
        sessions_dir.display()
    ))
    .with_hint("point sessionsDir in session.config.yaml at a directory outside the repository's .git (a link into it counts)"))
}

/// The file system's limit on one name (NAME_MAX, 255 bytes): the worktree's directory is
/// one name, and git writes each `/`-separated part of a new branch as a file name, with
/// `.lock` added while it writes. `plan --create` accepted a 300-character branch that
/// `create` then failed on.
fn names_fit(path: &Path, branch: &str) -> Result<()> {
    const NAME_MAX: usize = 255;
    let dir = path.file_name().map_or(0, |n| n.len());
    let part = branch.split('/').map(str::len).max().unwrap_or(0);
    if dir <= NAME_MAX && part + ".lock".len() <= NAME_MAX {
        return Ok(());
    }
    Err(Error::usage(format!(
        "branch `{branch}` is too long for a file name: the session directory's name may have at most {NAME_MAX} bytes and each part of the branch between slashes at most {} ({dir} and {part} here)",
        NAME_MAX - ".lock".len()
    ))
    .with_hint("choose a shorter --branch"))
}

fn refuse_unusable(
    git: &dyn Git,
    repo: &Path,
    path: &Path,
    branch: &str,
    existing: bool,
    compose_files: &[String],
) -> Result<()> {
    if existing {
        if let Some(w) = git
            .worktrees(repo)?
            .into_iter()
            .find(|w| w.branch.as_deref() == Some(branch))
        {
            return Err(Error::usage(format!(
                "branch `{branch}` is already checked out in {}; git checks a branch out in one worktree only",
                w.path.display()
            ))
            .with_hint(format!(
                "run dev-prism in {} (`dev-prism create --in-place` there), or choose another --branch",
                w.path.display()
            )));
        }
    }
    names_fit(path, branch)?;
    if path.to_string_lossy().chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "the session directory {path:?} would contain a control character (a newline?), and Compose cannot read files under such a path"
        ))
        .with_hint("rename the directory, or set sessionsDir in the config to a path without one"));
    }
    let files: Vec<&str> = compose_files.iter().map(String::as_str).collect();
    let outside = git.outside_sparse_checkout(repo, &files)?;
    if !outside.is_empty() {
        return Err(Error::usage(format!(
            "{} is outside the sparse checkout of {}; a new worktree takes the same sparse patterns and would not have it",
            outside.join(", "),
            repo.display()
        ))
        .with_hint(format!(
            "`git sparse-checkout add {}` in {}, or `git sparse-checkout disable`",
            outside.join(" "),
            repo.display()
        )));
    }
    Ok(())
}

/// The worktree's directory and branch: `base`, or (when the name was not given) the first of
/// `base-2`, `base-3`, … that is free.
async fn pick(
    world: &mut impl Observer,
    git: &dyn Git,
    repo: &Path,
    sessions_dir: &Path,
    base: &str,
    explicit: bool,
    avoid: &[PathBuf],
) -> Result<(PathBuf, String, bool)> {
    for attempt in 1..=50 {
        let name = if attempt == 1 {
            base.to_string()
        } else {
            format!("{base}-{attempt}")
        };
        let exists = git.branch_exists(repo, &name)?;
        let path = sessions_dir.join(name.replace('/', "-"));
        if avoid.contains(&path) {
            continue;
        }
        if world.exists(&path).await {
            if explicit {
                return Err(Error::usage(format!("{} already exists", path.display()))
                    .with_hint("destroy the session there first, or choose another --branch"));
            }
            continue;
        }
        if !explicit && exists {
            continue;
        }
        return Ok((path, name, !exists));
    }
    Err(Error::failure(format!(
        "no free session name after {base}-50 in {}",
        sessions_dir.display()
    )))
}

/// `path` made absolute without requiring it to exist: the longest existing ancestor is
/// canonicalised (symlinks resolved once, DESIGN §5) and the rest appended.
async fn absolute(world: &mut impl Observer, path: &Path) -> PathBuf {
    // An existing prefix is resolved by the file system (symlinks and `..` alike); the rest,
    // which does not exist yet, lexically.
    let mut out = PathBuf::new();
    let mut resolved = true;
    for c in path.components() {
        out.push(c);
        if resolved {
            match world.resolve(&out).await {
                Some(p) => out = p,
                None => resolved = false,
            }
        }
        if !resolved && c == std::path::Component::ParentDir {
            out.pop();
            out.pop();
        }
    }
    out
}

/// The session's config is the one committed on its branch: a config in the checkout create
/// runs from that is untracked or has uncommitted changes would be applied halfway, so create
/// stops and names it (and the keys that differ).
pub async fn config_is_committed(
    world: &mut impl Observer,
    git: &dyn Git,
    top: &Path,
    repo: &Path,
    rev: &str,
) -> Result<()> {
    let dirty = git.status_of(top, CONFIG_FILES)?;
    let Some(line) = dirty.first() else {
        return Ok(());
    };
    let file = line.get(3..).unwrap_or(line).trim_matches('"').to_string();
    let committed = git.show(repo, rev, &file)?;
    let current = world
        .working_text(&top.join(&file))
        .await
        .unwrap_or_default();
    let keys = differing_keys(committed.as_deref().unwrap_or(""), &current);
    let what = match (&committed, keys.is_empty()) {
        (None, _) => "is not committed".to_string(),
        (Some(_), true) => "has uncommitted changes".to_string(),
        (Some(_), false) => format!(
            "has uncommitted changes (keys {} differ from the branch's version)",
            keys.join(", ")
        ),
    };
    Err(Error::usage(format!(
        "{file} in {} {what}; a new worktree gets the committed version, so the session would not use it",
        top.display()
    ))
    .with_hint(format!(
        "`git add {file} && git commit` first, or `git stash`; `dev-prism create --in-place` uses the working copy as it is"
    )))
}

/// Top-level keys whose values differ between two config texts (YAML or JSON).
fn differing_keys(a: &str, b: &str) -> Vec<String> {
    let parse = |t: &str| -> serde_json::Map<String, serde_json::Value> {
        serde_saphyr::from_str::<serde_json::Value>(t)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    };
    let (a, b) = (parse(a), parse(b));
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Whether a plan's step at `index` is a setup command: a failure there leaves a running
/// session for inspection.
pub fn is_setup(plan: &plan::Plan, index: usize) -> bool {
    plan.ordered()
        .get(index)
        .is_some_and(|s: &&Step| matches!(s.op, Op::RunSetup { .. }))
}

/// An `envFiles` entry the branch commits as something other than a file (a directory, a
/// link, a submodule) can be neither copied nor rewritten: refused before anything is made.
fn refuse_non_file(git: &dyn Git, repo: &Path, rev: &str, branch: &str, f: &str) -> Result<()> {
    let what = match git.mode_at(repo, rev, f)?.as_deref() {
        None | Some("100644" | "100755") => return Ok(()),
        Some("120000") => "a symbolic link",
        Some("040000") => "a directory",
        Some(_) => "a submodule",
    };
    Err(Error::usage(format!(
        "envFiles entry `{f}` is {what} on branch `{branch}`, not a file dev-prism can copy and rewrite"
    ))
    .with_hint("remove it from envFiles in the config, or commit a regular file at that path"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_fit_the_file_system() {
        let long = "y".repeat(251);
        let dir = |b: &str| std::path::PathBuf::from("/s").join(b.replace('/', "-"));
        assert!(super::names_fit(&dir("feat/x"), "feat/x").is_ok());
        assert!(super::names_fit(&dir(&"y".repeat(250)), &"y".repeat(250)).is_ok());
        assert!(super::names_fit(&dir(&long), &long).is_err());
        // Each part fits, the directory (parts joined by `-`) does not.
        let joined = format!("{}/{}", "a".repeat(200), "b".repeat(200));
        assert!(super::names_fit(&dir(&joined), &joined).is_err());
    }

    use super::*;

    #[test]
    fn differing_config_keys() {
        let a = "projectName: shop\nsetup: [\"a\"]\n";
        let b = "projectName: shop\nsetup: [\"b\"]\nreadyTimeout: 5\n";
        assert_eq!(differing_keys(a, b), vec!["readyTimeout", "setup"]);
        assert!(differing_keys(a, a).is_empty());
    }

    /// The existing prefix is resolved by the observer, the rest lexically (`..` included).
    #[tokio::test(flavor = "current_thread")]
    async fn absolute_paths_need_not_exist() {
        let mut world = crate::apply::fake::Fake::default();
        world
            .files
            .insert("/t/a/f".into(), (String::new(), 0o100644));
        let p = absolute(&mut world, Path::new("/t/a/../b/y/../z")).await;
        assert_eq!(p, Path::new("/t/b/z"));
    }
}
