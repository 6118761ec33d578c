//! The ready-to-code part of a create's plan (issue 13): the gitignored files copied from the
//! main checkout, and the volumes that start as copies of another session's. Both are
//! observed and planned before anything exists; a bad `--data-from` stops create here.

use std::path::Path;

use crate::adapters::tree;
use crate::config::Config;
use crate::context::{Observer, Session};
use crate::error::Result;
use crate::plan::ready;
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
/// session of this repository is a usage error (observed through [`Observer::data_source`]).
pub async fn data_step<O: Observer>(
    obs: &mut O,
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
    let source = obs.data_source(session, &raw, what).await?;
    let version = obs
        .runtime(true)
        .await?
        .compose
        .map(|(_, v)| v)
        .unwrap_or_default();
    let target = ready::Target {
        project,
        dir: &session.dir,
        shared: &session.config.share_volumes,
        compose_version: &version,
    };
    Ok(ready::data_step(&session.model.top, target, &source))
}
