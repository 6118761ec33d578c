//! The ready-to-code part of a create's plan (issue 13): the gitignored files copied from the
//! main checkout, and the volumes that start as copies of another session's. Both are
//! observed and planned before anything exists; a bad `--data-from` stops create here.

use std::path::{Path, PathBuf};

use crate::adapters::tree;
use crate::config::Config;
use crate::context::{Ctx, Session};
use crate::error::{Error, Result};
use crate::plan::ready::{self, DataSource};
use crate::plan::Step;
use crate::ui::Trace;

/// One step per copy pattern (`.worktreeinclude`, config `copy`) that selects gitignored
/// files of the main checkout `repo`, copied into the new worktree `worktree`. `existing`: the
/// existing branch the worktree checks out (its committed files are there already).
pub fn copy_steps(
    t: &Trace,
    repo: &Path,
    config: &Config,
    worktree: &Path,
    existing: Option<&str>,
) -> Result<Vec<Step>> {
    let git = crate::adapters::git::cli(t);
    let patterns = tree::copy_patterns(repo, &config.copy);
    // A bare repository (its directory stands for the main checkout) has no files to copy.
    if patterns.is_empty() || git.is_bare(repo)? {
        return Ok(vec![]);
    }
    let mut files = tree::ignored_files(t, repo)?;
    if let Some(rev) = existing {
        // A committed path, or a committed file or link where the main checkout has an
        // ignored directory: the branch's entry is what the worktree has.
        let tracked = tree::tracked_at(t, repo, rev)?;
        files.retain(|f| {
            !tracked.contains(&f.path)
                && !f
                    .path
                    .match_indices('/')
                    .any(|(i, _)| tracked.contains(&f.path[..i]))
        });
    }
    Ok(ready::copy_steps(
        &patterns,
        &files,
        &config.env_files,
        repo,
        worktree,
    ))
}

/// The step creating the new session's volumes as copies of the session in `from` (`--data-from`,
/// else config `dataFrom`); `None` without a source or named volumes. A directory that holds no
/// session of this repository is a usage error.
pub async fn data_step(
    ctx: &mut Ctx,
    session: &Session,
    project: &str,
    from: Option<&Path>,
) -> Result<Option<Step>> {
    let from = match from {
        Some(d) => Some((d.to_path_buf(), "--data-from")),
        None => session.config.data_from.clone().map(|d| (d, "dataFrom")),
    };
    let Some((raw, what)) = from else {
        return Ok(None);
    };
    let dir = std::fs::canonicalize(&raw).map_err(|_| {
        Error::usage(format!(
            "{what} {}: the directory does not exist",
            raw.display()
        ))
        .with_hint("name the directory of a session of this repository (its main checkout, or a session worktree)")
    })?;
    // A source still being created (or changed) is busy: say so now, before anything is made.
    drop(crate::context::lock_shared(&dir)?);
    let engine = ctx.engine().await?;
    let none = |why: &str| {
        Error::usage(format!(
            "{what} {}: it holds no session of this repository ({why})",
            dir.display()
        ))
        .with_hint("start one there first (`dev-prism create --in-place`, or `docker compose up`), or name another directory")
    };
    let Some(found) = engine.find_source(&dir).await? else {
        return Err(none(
            "no dev-prism session and no Compose project has containers there",
        ));
    };
    let repo = session
        .main_root
        .clone()
        .unwrap_or_else(|| session.dir.clone());
    if !same_repository(ctx.trace(), &dir, &repo, found.repo_root.as_deref()) {
        let kind = if found.dev_prism {
            "its session belongs to another repository"
        } else {
            "its Compose project is not in this repository"
        };
        return Err(none(kind));
    }
    if found.dev_prism {
        // Its volumes are read only when the project is the source directory's alone.
        engine.project_owners(&found.project, false).await?.check(
            &dir.to_string_lossy(),
            &found.project,
            true,
        )?;
    }
    let source = DataSource {
        dir,
        volumes: engine.volumes_by_key(&found.project).await?,
        project: found.project,
        pause: found.running,
        image: found.image,
    };
    let version = ctx.compose()?.version().to_string();
    let target = ready::Target {
        project,
        dir: &session.dir,
        shared: &session.config.share_volumes,
        compose_version: &version,
    };
    Ok(ready::data_step(&session.model.top, target, &source))
}

/// Whether `dir` belongs to the repository whose main checkout is `repo`: by the repository
/// the session recorded, else by git.
fn same_repository(t: &Trace, dir: &Path, repo: &Path, recorded: Option<&str>) -> bool {
    let git = crate::adapters::git::cli(t);
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(r) = recorded {
        return canonical(Path::new(r)) == canonical(repo);
    }
    let main: Option<PathBuf> = git.main_checkout(dir).ok().flatten();
    main.is_some_and(|m| canonical(&m) == canonical(repo))
}
