//! The core loop every command shares: load → observe → desire → diff → (print or apply) →
//! observe again.

use std::path::Path;

use crate::apply;
use crate::compose::{ComposeModel, Flavor};
use crate::context::{self, Ctx, Session};
use crate::desired::{Desired, Intent};
use crate::error::Result;
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
        Intent::Stop | Intent::Destroy { .. } => match context::load_session(dir) {
            Ok(s) => s,
            Err(e) if e.diagnostic.is_none() && e.message.contains("compose") => {
                let main_root = crate::adapters::git::main_checkout(dir).unwrap_or(None);
                let config = context::load_config(dir, main_root.as_deref())?;
                Session {
                    dir: dir.to_path_buf(),
                    main_root,
                    config,
                    compose_files: vec![],
                    model: ComposeModel::default(),
                }
            }
            Err(e) => return Err(e),
        },
    };
    // Tearing down acts on the project the containers carry, even if the config's
    // projectName changed since.
    let project = match intent {
        Intent::Up => None,
        _ => project_of(&observed.containers).map(str::to_string),
    };
    let project = project.unwrap_or_else(|| session.project());
    if let Intent::Destroy { .. } = intent {
        context::observe_for_destroy(ctx, dir, &project, &mut observed).await?;
    }
    let flavor = match intent {
        Intent::Up => context::flavor(ctx, &observed)?,
        _ => context::recorded_flavor(&observed).unwrap_or(Flavor::V2),
    };
    finish(session, observed, flavor, wants, project, |d, o| {
        plan::diff(d, o, intent, None)
    })
}

/// `heal`: plans the derived files only, with the flavour and project the session recorded
/// (no Compose process). `None` when `dir` holds no session.
pub async fn prepare_heal(ctx: &mut Ctx, dir: &Path) -> Result<Option<Prepared>> {
    let observed = context::observe(ctx, dir).await?;
    if observed.containers.is_empty() && observed.session_file.is_none() {
        return Ok(None);
    }
    let session = context::load_session(dir)?;
    let flavor = context::recorded_flavor(&observed).unwrap_or(Flavor::V2);
    let project = project_of(&observed.containers)
        .map(str::to_string)
        .unwrap_or_else(|| session.project());
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
    let mut fx = apply::effects::Real {
        ctx,
        repo: prepared.session.main_root.as_deref(),
    };
    apply::apply(&prepared.plan, &prepared.desired, &mut fx, ui).await
}

/// Applies a prepared plan and returns the session's containers afterwards.
pub async fn execute(ctx: &mut Ctx, prepared: &Prepared, ui: &Ui) -> Result<Vec<Container>> {
    carry_out(ctx, prepared, ui).await?;
    let engine = ctx.engine().await?;
    engine
        .session_containers(&prepared.desired.dir.to_string_lossy())
        .await
}
