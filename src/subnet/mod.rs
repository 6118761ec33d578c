//! Session network subnets (DESIGN §9, §10 "subnets"). Docker's default address pools hold
//! about 30 bridge networks, one per session; so dev-prism gives each session's default
//! network a small subnet of its own, taken from config `subnetPool`, sized to the services
//! that attach to it. Pure: the caller observes which subnets are taken.

use std::fmt;

use crate::error::Error;

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

/// What the engine (and, for a local engine, the host) says about subnets, observed only when
/// a session needs a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The session's default network exists (its subnet, when IPv4).
    pub existing: Option<Option<Net>>,
    /// Every subnet in use: the engine's networks and the host's routes.
    pub taken: Vec<Net>,
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

/// Whether a Compose or engine error says that a subnet is already in use, or that the
/// engine could not check it: Podman 4.3 compares a new subnet with the host's routes, and
/// fails with "route ip+net: no such network interface" when an interface goes away while it
/// looks (another network made or removed at that moment). Either way the network was not
/// made, and observing and planning again is the cure.
pub fn is_overlap_error(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("route ip+net: no such network interface")
        || t.contains("pool overlaps")
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
