//! The ready-to-code part of a create's plan (issue 13): the gitignored files copied from the
//! main checkout, and the volumes that start as copies of another session's. Both are
//! observed and planned before anything exists; a bad `--data-from` stops create here.

use std::path::Path;

use crate::config::Config;
use crate::context::{Observer, Session};
use crate::error::Result;
use crate::plan::ready;
use crate::plan::Step;

/// One step per copy pattern (`.worktreeinclude`, config `copy`) that selects gitignored
/// files of the main checkout `repo`, copied into the new worktree `worktree`. `existing`: the
/// existing branch the worktree checks out (its committed files are there already). What there
/// is to copy is observed through [`Observer::copy_sources`].
pub async fn copy_steps<O: Observer>(
    obs: &mut O,
    repo: &Path,
    config: &Config,
    worktree: &Path,
    existing: Option<&str>,
) -> Result<Vec<Step>> {
    let (patterns, files) = obs.copy_sources(repo, &config.copy, existing).await?;
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
