//! The core loop every command shares: load → observe → desire → diff → (print or apply) →
//! observe again.

pub mod bulk;
pub mod create;
pub mod ready;

use std::path::Path;

use crate::apply;
use crate::compose::Flavor;
use crate::context::{self, Ctx, Session};
use crate::desired::{Desired, Intent};
use crate::error::{Error, Result};
use crate::observed::{project_of, Container, Observed};
use crate::plan::{self, Plan};
use crate::ui::Ui;

/// Everything one reconciliation computed before acting.
pub struct Prepared {
    pub session: Session,
    pub observed: Observed,
    pub desired: Desired,
    pub plan: Plan,
}

/// Loads the session in `dir`, observes it and plans `intent`.
pub async fn prepare(
    ctx: &mut Ctx,
    dir: &Path,
    intent: Intent,
    wants: &context::Wants,
) -> Result<Prepared> {
    let observed = context::observe(ctx, dir).await?;
    prepare_from(ctx, dir, observed, intent, wants).await
}

/// Plans `intent` from an observation already made (callers that must look before deciding
/// do not observe twice). Stop and destroy still work when the compose file is gone or broken
/// (a branch switch can do that): they only need the session's identity.
pub async fn prepare_from(
    ctx: &mut Ctx,
    dir: &Path,
    mut observed: Observed,
    intent: Intent,
    wants: &context::Wants,
) -> Result<Prepared> {
    let session = match intent {
        Intent::Up => context::load_session(dir)?,
        // Stop and destroy need only the session's identity, so they work when a branch switch
        // removed or broke the compose files; destroy even with a broken config (the project is
        // read from the containers, and defaults recognise less as dev-prism's: keep more).
        Intent::Stop => context::load_identity(dir, false)?,
        Intent::Destroy { .. } => context::load_identity(dir, true)?,
    };
    if let Intent::Destroy { .. } = intent {
        context::observe_for_destroy(ctx, &session, &mut observed).await?;
    }
    // Tearing down acts on the project the containers carry, even if the config's
    // projectName changed since.
    let project = match intent {
        Intent::Up => None,
        _ => project_of(&observed.containers).map(str::to_string),
    };
    let project = project.unwrap_or_else(|| session.project());
    if intent == Intent::Up {
        crate::subnet::observe::observe(ctx, &session, &project, &mut observed).await?;
    }
    let flavor = match intent {
        Intent::Up => context::flavor(ctx, &observed)?,
        _ => context::recorded_flavor(&observed).unwrap_or(Flavor::V2),
    };
    let p = finish(session, observed, flavor, wants, project, |d, o| {
        plan::diff(d, o, intent, None)
    })?;
    if intent == Intent::Up {
        refuse_foreign_files(&p)?;
    }
    Ok(p)
}

/// A file of the user's with a generated file's name is never overwritten: bringing the
/// session up stops before anything, naming it.
pub fn refuse_foreign_files(p: &Prepared) -> Result<()> {
    match plan::foreign_files(&p.desired, &p.observed).first() {
        None => Ok(()),
        Some(name) => Err(Error::usage(format!(
            "{name} in {} was not written by dev-prism (it lacks the generated header); dev-prism never overwrites it",
            p.desired.dir.display()
        ))
        .with_hint("rename or move your file, then run the command again")),
    }
}

/// `heal`: plans the derived files only, with the flavour and project the session recorded
/// (no Compose process). `None` when `dir` holds no session.
pub async fn prepare_heal(ctx: &mut Ctx, dir: &Path) -> Result<Option<Prepared>> {
    let mut observed = context::observe(ctx, dir).await?;
    if observed.containers.is_empty() && observed.session_file.is_none() {
        return Ok(None);
    }
    let session = context::load_session(dir)?;
    let flavor = context::recorded_flavor(&observed).unwrap_or(Flavor::V2);
    let project = project_of(&observed.containers)
        .map(str::to_string)
        .unwrap_or_else(|| session.project());
    // Only when the session file records no subnet (it was deleted): heal writes what `plan`
    // wants, the network's own subnet (measured: without it, heal wrote the file without one
    // and `plan` wanted to add it, for ever).
    crate::subnet::observe::observe(ctx, &session, &project, &mut observed).await?;
    let wants = context::Wants::default();
    finish(session, observed, flavor, &wants, project, plan::heal).map(Some)
}

fn finish(
    session: Session,
    mut observed: Observed,
    flavor: Flavor,
    wants: &context::Wants,
    project: String,
    planner: impl FnOnce(&Desired, &Observed) -> Plan,
) -> Result<Prepared> {
    let mut desired = context::desired_for(&session, &observed, flavor, wants)?;
    desired.project = project;
    context::read_derived(&desired, &mut observed)?;
    let plan = planner(&desired, &observed);
    Ok(Prepared {
        session,
        observed,
        desired,
        plan,
    })
}

/// Applies a prepared plan.
pub async fn carry_out(ctx: &mut Ctx, prepared: &Prepared, ui: &Ui) -> Result<()> {
    carry_out_counted(ctx, prepared, ui, &mut 0).await
}

/// Applies a prepared plan, counting the steps done (see [`apply::apply_counted`]).
pub async fn carry_out_counted(
    ctx: &mut Ctx,
    prepared: &Prepared,
    ui: &Ui,
    done: &mut usize,
) -> Result<()> {
    let mut fx = apply::effects::Real {
        ctx,
        repo: prepared.session.main_root.as_deref(),
    };
    apply::apply_counted(&prepared.plan, &prepared.desired, &mut fx, ui, done).await
}

/// Rolls back a failed create: a destroy of exactly what it made, with every rule of destroy
/// (work written into the new worktree meanwhile is kept). Returns the plan carried out.
pub async fn rollback(ctx: &mut Ctx, dir: &Path, made: create::Made, ui: &Ui) -> Result<Plan> {
    if !made.anything() {
        return Ok(Plan::default());
    }
    let intent = Intent::Destroy {
        force: false,
        scope: made.scope(),
    };
    let mut first = None;
    // A Compose stopped half-way may have asked the engine for containers it is still making
    // (measured: a SIGTERM during `up` left one "Created" after the rollback). Look again a
    // moment later and remove what appeared, until nothing does.
    for round in 0..4 {
        let observed = context::observe(ctx, dir).await?;
        if round > 0 && observed.containers.is_empty() {
            break;
        }
        let p = prepare_from(ctx, dir, observed, intent, &context::Wants::default()).await?;
        carry_out(ctx, &p, ui).await?;
        first.get_or_insert(p.plan);
        if !made.project {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    Ok(first.unwrap_or_default())
}

/// Applies a prepared plan and returns the session's containers afterwards.
pub async fn execute(ctx: &mut Ctx, prepared: &Prepared, ui: &Ui) -> Result<Vec<Container>> {
    carry_out(ctx, prepared, ui).await?;
    let engine = ctx.engine().await?;
    engine
        .session_containers(&prepared.desired.dir.to_string_lossy())
        .await
}
