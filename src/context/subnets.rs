//! Observing which subnets are taken (one Engine API call, plus the host's routes when the
//! engine is local). When a parallel create takes the chosen subnet between observation and
//! `compose up`, the apply ends and the reconciler observes and plans again
//! (`reconcile::carry_out_counted`).

use super::{Ctx, Session};
use crate::adapters::{routes, Engine};
use crate::error::Result;
use crate::observed::Observed;

use crate::desired::subnet::{default_network_members, recorded};
use crate::subnet::{Facts, Net};

/// How often the reconciler observes and plans again after the session's subnet was taken
/// meanwhile.
pub const ATTEMPTS: usize = 6;

/// Fills `observed.subnets` when the session's default network needs a subnet: the session
/// file records none yet, or it records one but the session has no container (its network is
/// made by the next `compose up`, and another network may have taken the subnet meanwhile). A
/// session with containers that records one costs no API call.
pub async fn observe(
    ctx: &mut Ctx,
    session: &Session,
    project: &str,
    observed: &mut Observed,
) -> Result<()> {
    if wanted(session, observed) {
        let engine = ctx.engine().await?;
        observed.subnets = Some(facts(engine.as_ref(), project).await?);
    }
    Ok(())
}

/// Whether the session's subnet facts are to be observed (see [`observe`]).
pub fn wanted(session: &Session, observed: &Observed) -> bool {
    session.config.subnet_pool.is_some()
        && default_network_members(&session.model).is_some()
        && (observed.containers.is_empty()
            || observed
                .session_file
                .as_deref()
                .and_then(recorded)
                .is_none())
}

/// The engine's networks' subnets (and the host's routes for a local engine), and the
/// project's own default network when it exists.
pub async fn facts(engine: &dyn Engine, project: &str) -> Result<Facts> {
    let networks = engine.network_subnets().await?;
    let own = networks.iter().find(|n| {
        n.name == format!("{project}_default")
            || (n.project.as_deref() == Some(project) && n.key.as_deref() == Some("default"))
    });
    let existing = own.map(|n| n.subnets.iter().find_map(|s| Net::parse(s)));
    let mut taken: Vec<Net> = networks
        .iter()
        .flat_map(|n| n.subnets.iter().filter_map(|s| Net::parse(s)))
        .collect();
    if engine.endpoint().is_local() {
        taken.extend(routes::host_routes());
    }
    Ok(Facts { existing, taken })
}
