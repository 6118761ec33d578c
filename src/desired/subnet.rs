//! The subnet a session's default network gets, from its compose model, its session file and
//! what was observed (DESIGN §9, §10 "subnets"). Pure; the subnet values and allocation are in
//! [`crate::subnet`], the observation in `context::subnets`.

use serde_json::Value;

use crate::compose::ComposeModel;
use crate::error::Result;
use crate::subnet::{allocate, exhausted, prefix_for, Facts, Net};

/// How many containers attach to the project's `default` network, or `None` when dev-prism
/// leaves that network alone: the user's file configures it (`ipam`, `external`, a fixed
/// `name`, another `driver`), or no service attaches to it. Networks the user declares
/// themselves are left alone too: their settings are theirs (see the README).
pub fn default_network_members(model: &ComposeModel) -> Option<usize> {
    if let Some(Value::Object(def)) = model.top.get("networks").and_then(|n| n.get("default")) {
        let user_owned = def.contains_key("ipam")
            || def.contains_key("name")
            || def
                .get("external")
                .is_some_and(|e| e != &Value::Bool(false))
            || def
                .get("driver")
                .and_then(Value::as_str)
                .is_some_and(|d| d != "bridge");
        if user_owned {
            return None;
        }
    }
    let members: usize = model
        .services
        .values()
        .filter(|s| s.raw.get("network_mode").is_none())
        .filter(|s| match s.raw.get("networks") {
            None | Some(Value::Null) => true,
            Some(Value::Array(list)) => list.iter().any(|n| n.as_str() == Some("default")),
            Some(Value::Object(map)) => map.contains_key("default"),
            Some(_) => false,
        })
        .map(|s| {
            let replicas = s
                .raw
                .get("scale")
                .or_else(|| s.raw.pointer("/deploy/replicas"))
                .and_then(Value::as_u64)
                .unwrap_or(1);
            replicas.max(1) as usize
        })
        .sum();
    (members > 0).then_some(members)
}

/// The subnet a session file written by dev-prism gives the default network.
pub fn recorded(session_file: &str) -> Option<Net> {
    if !super::is_generated(session_file) {
        return None;
    }
    let doc: Value = serde_saphyr::from_str(session_file).ok()?;
    let subnet = doc.pointer("/networks/default/ipam/config/0/subnet")?;
    Net::parse(subnet.as_str()?)
}

/// The subnet the session's default network should have. Stable: the one the session file
/// records, else the one its existing network has (when dev-prism gave it, i.e. it lies in the
/// pool; a network Docker sized stays as it is), else a free one from the pool. `None` also when
/// nothing was observed (then the session file is not being made anew). A full pool is an
/// error naming it: leaving the network to Docker's own pools would put the session where
/// `subnetPool` says it must not be.
pub fn choose(
    pool: Option<Net>,
    model: &ComposeModel,
    session_file: Option<&str>,
    facts: Option<&Facts>,
    seed: u64,
) -> Result<Option<Net>> {
    let (Some(pool), Some(members)) = (pool, default_network_members(model)) else {
        return Ok(None);
    };
    let recorded = session_file.and_then(recorded);
    // A recorded subnet another network took while the session had no network of its own (a
    // parallel create took it, or its network was removed): chosen anew, as for a new session.
    let lost = |net: Net| {
        facts.is_some_and(|f| f.existing.is_none() && f.taken.iter().any(|t| t.overlaps(&net)))
    };
    if let Some(net) = recorded.filter(|n| !lost(*n)) {
        return Ok(Some(net));
    }
    let Some(facts) = facts else {
        return Ok(None);
    };
    match facts.existing {
        Some(existing) => Ok(existing.filter(|n| pool.contains(n))),
        None => {
            let prefix = prefix_for(members);
            allocate(pool, prefix, &facts.taken, seed)
                .map(Some)
                .ok_or_else(|| exhausted(pool, prefix))
        }
    }
}

#[cfg(test)]
mod tests;
