//! One intent over many sessions (`stop-all`, `destroy --all`, `prune`): one plan per session,
//! each prepared and applied by its own tokio task on the one runtime, sharing one engine
//! connection. Every session's result is reported; one failure does not stop the others.

use std::path::PathBuf;

use super::World;
use crate::adapters::process::Cancel;
use crate::context;
use crate::desired::Intent;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::ui::Ui;

/// Carries out `intent` on the session in `dir` (which may no longer exist: its Docker objects
/// are still found by their labels), until `cancel` reports a signal. Returns the plan it
/// carried out.
pub async fn one<W: World>(
    world: &mut W,
    dir: &std::path::Path,
    intent: Intent,
    ui: &Ui,
    cancel: &mut Cancel,
) -> Result<Plan> {
    let lock = context::lock(dir)?;
    let p = super::prepare(world, dir, intent, &context::Wants::default(), ui).await?;
    if !p.plan.is_empty() {
        world.carry_out(&p, ui, &mut 0, cancel).await?;
    }
    // The session is gone: so is its lock file (one per directory ever touched otherwise).
    if let Intent::Destroy { .. } = intent {
        lock.remove();
    }
    Ok(p.plan)
}

/// [`one`] for every directory at once; results in the order of `dirs`. Each task holds a
/// clone of `cancel`: one signal stops every task (each reports it once), nothing is passed on
/// from task to task.
pub async fn each<W: World>(
    world: &mut W,
    dirs: Vec<PathBuf>,
    intent: Intent,
    ui: &Ui,
    cancel: &Cancel,
) -> Result<Vec<(PathBuf, Result<Plan>)>> {
    // Connect once, before the tasks: they share the connection.
    world.connect().await?;
    // From here on a signal stops the tasks, even one still planning.
    let mut cancel = cancel.clone();
    cancel.listen();
    let quiet = ui.quieted();
    let mut set = tokio::task::JoinSet::new();
    for (i, dir) in dirs.into_iter().enumerate() {
        let mut world = world.share();
        let ui = quiet.clone();
        let mut cancel = cancel.clone();
        set.spawn(async move {
            let r = one(&mut world, &dir, intent, &ui, &mut cancel).await;
            (i, dir, r)
        });
    }
    let mut results = vec![];
    while let Some(joined) = set.join_next().await {
        let joined = joined.map_err(|e| Error::failure(format!("a session task failed: {e}")))?;
        results.push(joined);
    }
    results.sort_by_key(|(i, _, _)| *i);
    Ok(results.into_iter().map(|(_, d, r)| (d, r)).collect())
}
