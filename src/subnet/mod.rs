//! Session network subnets (DESIGN §9, §10 "subnets"). Docker's default address pools hold
//! about 30 bridge networks, one per session; so dev-prism gives each session's default
//! network a small subnet of its own, taken from config `subnetPool`, sized to the services
//! that attach to it. Pure: the caller observes which subnets are taken.

pub mod observe;

use std::fmt;

use serde_json::Value;

use crate::compose::ComposeModel;
use crate::error::{Error, Result};

/// The default `subnetPool`: inside 10.0.0.0/8 (private, RFC 1918), away from Docker's default
/// local pools (172.17.0.0/16 … 172.31.0.0/16 and 192.168.0.0/16 in /20s), from swarm's
/// overlay pool, which starts at 10.0.0.0, and from the ranges Kubernetes distributions use
/// (10.42–10.43, 10.96–10.111, 10.244). 4096 sessions of a few services fit.
pub const DEFAULT_POOL: &str = "10.199.0.0/16";

/// The largest subnet a session gets (253 containers).
pub const LARGEST: u8 = 24;
/// The smallest subnet a session gets (13 addresses for containers).
pub const SMALLEST: u8 = 28;

/// An IPv4 network, `addr/prefix` with `addr` masked to the network address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Net {
    pub addr: u32,
    pub prefix: u8,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl Net {
    pub fn new(addr: u32, prefix: u8) -> Net {
        Net {
            addr: addr & mask(prefix),
            prefix,
        }
    }

    /// `10.199.0.0/16`; an address without `/n` is a /32. IPv6 is not a `Net`.
    pub fn parse(s: &str) -> Option<Net> {
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, p)) => (ip, p.parse::<u8>().ok().filter(|p| *p <= 32)?),
            None => (s.trim(), 32),
        };
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        Some(Net::new(u32::from(ip), prefix))
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Net) -> bool {
        let m = mask(self.prefix.min(other.prefix));
        self.addr & m == other.addr & m
    }

    /// Whether `other` lies wholly inside this network.
    pub fn contains(&self, other: &Net) -> bool {
        other.prefix >= self.prefix && self.overlaps(other)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.addr), self.prefix)
    }
}

/// The smallest prefix holding `containers` twice over (headroom for `compose run`, scaling and
/// services added later) plus the network, gateway and broadcast addresses: /28 up to six
/// containers, /27 up to 14, … at most /24.
pub fn prefix_for(containers: usize) -> u8 {
    let need = 3 + 2 * containers as u64;
    let mut prefix = SMALLEST;
    while prefix > LARGEST && (1u64 << (32 - prefix)) < need {
        prefix -= 1;
    }
    prefix
}

/// A free subnet of `prefix` inside `pool` that overlaps nothing in `taken`. The search starts
/// at a slot chosen by `seed` (a hash of the session directory) and wraps around, so parallel
/// creates rarely pick the same one; `None` when the pool is full.
pub fn allocate(pool: Net, prefix: u8, taken: &[Net], seed: u64) -> Option<Net> {
    let prefix = prefix.max(pool.prefix);
    let slots = 1u64 << (prefix - pool.prefix);
    let step = 1u64 << (32 - u32::from(prefix));
    let start = seed % slots;
    (0..slots)
        .map(|i| (start + i) % slots)
        .map(|k| Net::new(pool.addr + (k * step) as u32, prefix))
        .find(|candidate| !taken.iter().any(|t| t.overlaps(candidate)))
}

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
    if !crate::desired::is_generated(session_file) {
        return None;
    }
    let doc: Value = serde_saphyr::from_str(session_file).ok()?;
    let subnet = doc.pointer("/networks/default/ipam/config/0/subnet")?;
    Net::parse(subnet.as_str()?)
}

/// What the engine (and, for a local engine, the host) says about subnets, observed only when
/// a session needs a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The session's default network exists (its subnet, when IPv4).
    pub existing: Option<Option<Net>>,
    /// Every subnet in use: the engine's networks and the host's routes.
    pub taken: Vec<Net>,
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

/// The error of a `subnetPool` with no free subnet of `prefix` left.
pub fn exhausted(pool: Net, prefix: u8) -> Error {
    Error::failure(format!(
        "subnetPool {pool} has no free /{prefix} subnet left"
    ))
    .with_hint(
        "give subnetPool a larger range, or remove sessions you no longer need (`dev-prism prune`)",
    )
}

/// Whether a Compose or engine error says that a subnet is already in use.
pub fn is_overlap_error(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("pool overlaps")
        || t.contains("overlaps with other one")
        || t.contains("conflicts with network")
        || (t.contains("address already in use") && t.contains("network"))
}

/// A seed for [`allocate`] from a session directory.
pub fn seed(dir: &str) -> u64 {
    crate::util::stable_hash(dir.as_bytes())
}

#[cfg(test)]
mod tests;
