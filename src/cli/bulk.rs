//! Commands over every session on the engine (`stop-all`, `destroy --all`) and over this
//! repository's stopped sessions (`prune`): each session in parallel, each result reported,
//! non-zero exit when any failed.

use std::path::{Path, PathBuf};

use crate::context::Ctx;
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
pub(super) fn finished(
    results: Vec<(PathBuf, Result<Plan>)>,
    command: &str,
) -> Vec<(PathBuf, Result<Plan>)> {
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
pub(super) fn report(ui: &Ui, results: &[(PathBuf, Result<Plan>)], verb: &str) -> i32 {
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

/// Stops every running session (one plan each, all at once); with `idle`, only those whose
/// last activity is at least that long ago (unknown activity: left running).
pub async fn stop_all(
    ctx: &mut Ctx,
    under: Option<&Path>,
    idle: Option<std::time::Duration>,
    ui: &Ui,
) -> Result<i32> {
    let now = crate::util::now_ms();
    let dirs: Vec<PathBuf> = sessions(ctx, under)
        .await?
        .into_iter()
        .filter(|(_, cs)| cs.iter().any(|c| c.state != State::Stopped))
        .filter(|(d, cs)| {
            idle.is_none_or(|idle| {
                let project = crate::observed::project_of(cs).unwrap_or("");
                crate::adapters::usage::last_activity(d, project)
                    .is_some_and(|last| now - last >= idle.as_millis() as i64)
            })
        })
        .map(|(d, _)| d)
        .collect();
    if dirs.is_empty() {
        ui.out(match idle {
            Some(_) => "No running session is idle that long.",
            None => "No running sessions.",
        });
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

/// Asks on the terminal. Without a terminal there is nobody to ask: refuse.
pub(super) fn confirm(ui: &Ui, question: &str) -> Result<bool> {
    let Some(answer) = ui.ask(question) else {
        return Err(
            Error::usage("prune needs confirmation, and there is no terminal to ask")
                .with_hint("run `dev-prism prune -y` to confirm up front"),
        );
    };
    let line = answer.map_err(|e| Error::failure(format!("cannot read the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
