//! Commands over every session on the engine (`stop-all`, `destroy --all`) and over this
//! repository's stopped sessions (`prune`): each session in parallel, each result reported,
//! non-zero exit when any failed.

use std::path::{Path, PathBuf};

use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Error, Kind, Result};
use crate::observed::{Container, State};
use crate::plan::Plan;
use crate::reconcile::bulk;
use crate::render;
use crate::render::json::{BulkDoc, BulkRow};
use crate::ui::Ui;

/// Sessions on the engine (one API call): directory → its containers; only those under
/// `under` when given.
async fn sessions(ctx: &mut Ctx, under: Option<&Path>) -> Result<Vec<(PathBuf, Vec<Container>)>> {
    let all = ctx.engine().await?.all_sessions().await?;
    Ok(render::sessions(&all)
        .into_iter()
        .filter(|r| under.is_none_or(|u| Path::new(&r.dir).starts_with(u)))
        .map(|r| (PathBuf::from(r.dir), r.containers))
        .collect())
}

/// The signal that stopped any of the sessions.
fn signal_of(results: &[(PathBuf, Result<Plan>)]) -> Option<crate::error::Signal> {
    results
        .iter()
        .find_map(|(_, r)| match r.as_ref().err()?.kind() {
            Kind::Interrupted(s) => Some(s),
            _ => None,
        })
}

/// Each interrupted session's error with the command that finishes it: `command DIR` (the
/// bulk command may no longer find it: an interrupted destroy can leave a worktree without
/// containers).
fn finished(results: Vec<(PathBuf, Result<Plan>)>, command: &str) -> Vec<(PathBuf, Result<Plan>)> {
    results
        .into_iter()
        .map(|(dir, r)| {
            let r = r.map_err(|e| match e.kind() {
                Kind::Interrupted(_) => e.with_hint(format!(
                    "`dev-prism {command} {}` finishes it",
                    dir.display()
                )),
                _ => e,
            });
            (dir, r)
        })
        .collect()
}

/// Prints one line per session (or the JSON document); 1 when any failed, 128+n when a
/// signal n stopped them.
fn report(ui: &Ui, results: &[(PathBuf, Result<Plan>)], verb: &str) -> i32 {
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let code = match signal_of(results) {
        Some(s) => Kind::Interrupted(s).exit_code(),
        None => i32::from(failed > 0),
    };
    let summary =
        |plan: &Plan| -> String { plan.kept.iter().map(|k| format!("\n  note: {k}")).collect() };
    if ui.json {
        let rows = results
            .iter()
            .map(|(dir, r)| {
                let dir = dir.to_string_lossy().into_owned();
                match r {
                    Ok(plan) => BulkRow::Done {
                        dir,
                        ok: true,
                        summary: summary(plan).trim().to_string(),
                        kept: plan.kept.iter().map(ToString::to_string).collect(),
                    },
                    Err(e) => BulkRow::Failed {
                        dir,
                        ok: false,
                        error: e.message(),
                        hint: e.hint.clone(),
                    },
                }
            })
            .collect();
        let command = match verb {
            "stopped" => "stop-all",
            "destroyed" => "destroy",
            _ => "prune",
        };
        ui.json_out(&crate::render::json::doc(
            command,
            BulkDoc { results: rows },
        ));
        return code;
    }
    for (dir, r) in results {
        match r {
            Ok(plan) => ui.out(&format!("{verb} {}{}", dir.display(), summary(plan))),
            Err(e) => {
                ui.out(&format!("FAILED {}: {}", dir.display(), e.message()));
                if let Some(hint) = &e.hint {
                    ui.out(&format!("  hint: {hint}"));
                }
            }
        }
    }
    match signal_of(results) {
        Some(s) => ui.warn(&format!(
            "interrupted by {}: {failed} of {} session(s) not finished",
            s.name(),
            results.len()
        )),
        None if failed > 0 => ui.warn(&format!("{failed} of {} session(s) failed", results.len())),
        None => {}
    }
    code
}

/// Stops every running session (one plan each, all at once).
pub async fn stop_all(ctx: &mut Ctx, under: Option<&Path>, ui: &Ui) -> Result<i32> {
    let dirs: Vec<PathBuf> = sessions(ctx, under)
        .await?
        .into_iter()
        .filter(|(_, cs)| cs.iter().any(|c| c.state != State::Stopped))
        .map(|(d, _)| d)
        .collect();
    if dirs.is_empty() {
        ui.out("No running sessions.");
        return Ok(0);
    }
    let results = bulk::each(ctx, dirs, Intent::Stop, ui).await?;
    let results = finished(results, "stop");
    Ok(report(ui, &results, "stopped"))
}

/// `destroy --all`: every session on the engine, keeping the data-safety rules of `destroy`.
pub async fn destroy_all(ctx: &mut Ctx, under: Option<&Path>, force: bool, ui: &Ui) -> Result<i32> {
    let dirs: Vec<PathBuf> = sessions(ctx, under)
        .await?
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    if dirs.is_empty() {
        ui.out("No sessions.");
        return Ok(0);
    }
    let results = finished(
        bulk::each(ctx, dirs, Intent::destroy(force), ui).await?,
        "destroy",
    );
    Ok(report(ui, &results, "destroyed"))
}

/// `prune`: worktrees of this repository under `sessionsDir` whose containers are not
/// running, after confirmation.
pub async fn prune(ctx: &mut Ctx, yes: bool, force: bool, ui: &Ui) -> Result<i32> {
    let cwd = context::session_dir(None)?;
    let t = ui.trace();
    let Some(top) = crate::adapters::git::toplevel(t, &cwd)? else {
        return Err(
            Error::usage(format!("{} is not inside a git repository", cwd.display()))
                .with_hint("run prune inside the repository whose sessions should go"),
        );
    };
    let repo = crate::adapters::git::main_checkout(t, &top)?.unwrap_or(top.clone());
    let config = context::load_config(ui, &top, Some(&repo))?;
    let sessions_dir = std::fs::canonicalize(&config.sessions_dir).ok();
    let running: Vec<String> = ctx
        .engine()
        .await?
        .all_sessions()
        .await?
        .into_iter()
        .filter(|c| c.state == State::Running)
        .filter_map(|c| c.working_dir().map(str::to_string))
        .collect();
    let candidates: Vec<PathBuf> = crate::adapters::git::worktrees(t, &repo)?
        .into_iter()
        .filter(|w| !w.is_main)
        .map(|w| w.path)
        .filter(|p| sessions_dir.as_ref().is_some_and(|s| p.starts_with(s)))
        .filter(|p| !running.iter().any(|r| Path::new(r) == p))
        .collect();
    if candidates.is_empty() {
        ui.out("Nothing to prune: no stopped session worktrees.");
        return Ok(0);
    }
    ui.out("These stopped session worktrees will be removed (with their containers, networks and volumes):");
    for c in &candidates {
        ui.out(&format!("  {}", c.display()));
    }
    if !yes
        && !confirm(
            ui,
            &format!("Remove {} session(s)? [y/N] ", candidates.len()),
        )?
    {
        ui.out("Nothing removed.");
        return Ok(0);
    }
    let results = finished(
        bulk::each(ctx, candidates, Intent::destroy(force), ui).await?,
        "destroy",
    );
    Ok(report(ui, &results, "pruned"))
}

/// Asks on the terminal. Without a terminal there is nobody to ask: refuse.
fn confirm(ui: &Ui, question: &str) -> Result<bool> {
    let Some(answer) = ui.ask(question) else {
        return Err(
            Error::usage("prune needs confirmation, and there is no terminal to ask")
                .with_hint("run `dev-prism prune -y` to confirm up front"),
        );
    };
    let line = answer.map_err(|e| Error::failure(format!("cannot read the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
