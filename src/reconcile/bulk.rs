//! One intent over many sessions (`stop-all`, `destroy --all`, `prune`): one plan per session,
//! each prepared and applied by its own tokio task on the one runtime, sharing one engine
//! connection. Every session's result is reported; one failure does not stop the others.

use std::path::PathBuf;

use super::World;
use crate::adapters::process::Interrupt;
use crate::context;
use crate::desired::Intent;
use crate::error::{Error, Kind, Result};
use crate::plan::Plan;
use crate::ui::Ui;

/// Carries out `intent` on the session in `dir` (which may no longer exist: its Docker objects
/// are still found by their labels). Returns the plan it carried out.
pub async fn one<W: World>(
    world: &mut W,
    dir: &std::path::Path,
    intent: Intent,
    ui: &Ui,
) -> Result<Plan> {
    let lock = context::lock(dir)?;
    let p = super::prepare(world, dir, intent, &context::Wants::default(), ui).await?;
    if !p.plan.is_empty() {
        world.carry_out(&p, ui, &mut 0).await?;
    }
    // The session is gone: so is its lock file (one per directory ever touched otherwise).
    if let Intent::Destroy { .. } = intent {
        lock.remove();
    }
    Ok(p.plan)
}

/// [`one`] for every directory at once; results in the order of `dirs`.
pub async fn each<W: World>(
    world: &mut W,
    dirs: Vec<PathBuf>,
    intent: Intent,
    ui: &Ui,
) -> Result<Vec<(PathBuf, Result<Plan>)>> {
    // Connect once, before the tasks: they share the connection.
    world.connect().await?;
    let quiet = ui.quieted();
    let mut set = tokio::task::JoinSet::new();
    for (i, dir) in dirs.into_iter().enumerate() {
        let mut world = world.share();
        let ui = quiet.clone();
        set.spawn(async move {
            let r = one(&mut world, &dir, intent, &ui).await;
            (i, dir, r)
        });
    }
    // One Ctrl-C reaches one task's `Interrupt`: passed on, it stops the others too.
    let interrupt = Interrupt::install();
    let mut results = vec![];
    while let Some(joined) = set.join_next().await {
        let joined = joined.map_err(|e| Error::failure(format!("a session task failed: {e}")))?;
        if let (Kind::Interrupted(s), false) = (
            joined.2.as_ref().err().map_or(Kind::Failure, Error::kind),
            set.is_empty(),
        ) {
            interrupt.repost(s);
        }
        results.push(joined);
    }
    results.sort_by_key(|(i, _, _)| *i);
    Ok(results.into_iter().map(|(_, d, r)| (d, r)).collect())
}
