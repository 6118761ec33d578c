//! The core loop every command shares: load → observe → desire → diff → (print or apply) →
//! observe again.

use std::path::Path;

use crate::apply;
use crate::compose::{labels, ComposeModel};
use crate::context::{self, Ctx, Session};
use crate::desired::{Desired, Intent};
use crate::error::Result;
use crate::observed::{Container, Observed};
use crate::plan::{self, Plan};
use crate::ui::Ui;

/// Everything one reconciliation computed before acting.
pub struct Prepared {
    pub session: Session,
    pub observed: Observed,
    pub desired: Desired,
    pub plan: Plan,
}

/// Loads the session in `dir`, observes it and plans `intent`. Stop and destroy still work
/// when the compose file is gone or broken (a branch switch can do that): they only need the
/// session's identity.
pub async fn prepare(
    ctx: &mut Ctx,
    dir: &Path,
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
    let mut project = session.project();
    let mut observed = context::observe(ctx, dir, &project, intent).await?;
    // The containers know their project even if the config's projectName changed since.
    if let Some(p) = observed
        .containers
        .iter()
        .find_map(|c| c.label(labels::PROJECT))
    {
        if p != project && intent != Intent::Up {
            project = p.to_string();
        }
    }
    let flavor = match intent {
        Intent::Up => context::flavor(ctx, &observed)?,
        _ => observed
            .containers
            .iter()
            .find_map(|c| {
                c.label(labels::COMPOSE)
                    .and_then(crate::compose::Flavor::from_label)
            })
            .unwrap_or(crate::compose::Flavor::V2),
    };
    let mut desired = context::desired_for(&session, &observed, flavor, wants)?;
    desired.project = project;
    context::read_derived(&desired, &mut observed)?;
    let plan = plan::diff(&desired, &observed, intent, None);
    Ok(Prepared {
        session,
        observed,
        desired,
        plan,
    })
}

/// Applies a prepared plan and returns the session's containers afterwards.
pub async fn execute(ctx: &mut Ctx, prepared: &Prepared, ui: &Ui) -> Result<Vec<Container>> {
    let mut fx = apply::effects::Real {
        ctx,
        repo: prepared.session.main_root.as_deref(),
    };
    apply::apply(&prepared.plan, &prepared.desired, &mut fx, ui).await?;
    let engine = ctx.engine().await?;
    engine
        .session_containers(&prepared.desired.dir.to_string_lossy())
        .await
}
