//! The route table (pure): built from one container listing (labels and published ports, as
//! `list` reads them) and the focus files, and what the proxy does with a request's `Host`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::compose::labels;
use crate::desired::address::{is_loopback, reachable_host, scheme_for};
use crate::observed::{Container, EngineHost, State};

/// The session's name under the domain (`<session>.<project>`), fixed at create.
pub const HOST: &str = "dev-prism.host";
/// The proxy domain the session was made for (`proxy.domain`).
pub const DOMAIN: &str = "dev-prism.domain";
/// The `Host` that asks the proxy itself (`proxy status`): `_` is no DNS label, so no page a
/// browser loads can name it.
pub const STATUS_HOST: &str = "_dev-prism";
/// The path at [`STATUS_HOST`] that answers the status without `names` (no session listed).
pub const ENDPOINT_PATH: &str = "/endpoint";
/// A request that has passed the proxy this many times is looping (508).
pub const MAX_HOPS: u32 = 3;

/// Where a name leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A running container's published port: the addresses to try, in order.
    Up {
        /// The URI host to dial: an IP, or `localhost` for a wildcard binding (both loopback
        /// families are tried). Shared, so a pooled connection keeps its key without a copy.
        host: Arc<str>,
        port: u16,
        /// The engine's ports are on a remote host's loopback (reachable once `dev-prism
        /// forward` runs).
        needs_forward: Option<String>,
    },
    /// The container is not running, or publishes no port.
    Stopped,
}

/// One named port of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The session directory.
    pub dir: String,
    /// The session's Compose project (its activity file is named after it).
    pub project: Option<String>,
    pub target: Target,
}

/// Every name the proxy answers, from one listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub routes: BTreeMap<String, Arc<Route>>,
    /// Domains the sessions were made for, `localhost` always.
    pub domains: BTreeSet<String>,
    /// `<project>.<domain>` of every session, for the focus 404.
    pub projects: BTreeSet<String>,
    /// Whether any session container runs (the idle exit counts from the last time one did).
    pub any_running: bool,
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The route, shared with the table (no copy per request).
    Forward(Arc<Route>),
    /// 200 with the proxy's own status.
    Status,
    /// 404: an unknown name under a known domain; the message names the known ones.
    Unknown(String),
    /// 404: `<service>.<project>.<domain>` with no session focused for that project.
    NotFocused { project: String },
    /// 502: a known name whose session is stopped.
    Stopped { name: String, dir: String },
    /// 421: a name outside every known domain (DNS rebinding), or no name at all.
    Misdirected(String),
    /// 508: the request has looped through the proxy.
    Loop,
}

/// Builds the table from the engine's session containers and the focus files
/// (`project label` → session directory).
pub fn table(containers: &[Container], focus: &BTreeMap<String, String>) -> Table {
    let mut t = Table {
        domains: BTreeSet::from(["localhost".to_string()]),
        any_running: containers.iter().any(|c| c.state == State::Running),
        ..Table::default()
    };
    for c in containers {
        let (Some(host), Some(dir)) = (c.label(HOST), c.working_dir()) else {
            continue;
        };
        let domain = c
            .label(DOMAIN)
            .unwrap_or("localhost")
            .trim_matches('.')
            .to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        t.domains.insert(domain.clone());
        let project = host.split_once('.').map_or(host.as_str(), |(_, p)| p);
        t.projects.insert(format!("{project}.{domain}"));
        let ports: Vec<_> = c
            .declared_ports()
            .into_iter()
            .filter(|p| p.protocol == "tcp")
            .map(|p| {
                let scheme = scheme_for(c.label(labels::SCHEME), p.container_port, &p.protocol);
                (p, scheme)
            })
            .collect();
        let pairs: Vec<(u16, Option<&str>)> = ports
            .iter()
            .map(|(p, s)| (p.container_port, s.as_deref()))
            .collect();
        let focused = focus.get(project).is_some_and(|d| d == dir);
        for (name, container_port) in super::names::route_names(&c.service, &host, &domain, &pairs)
        {
            let spec = ports
                .iter()
                .map(|(p, _)| p)
                .find(|p| p.container_port == container_port);
            let published = spec.and_then(|s| c.ports.iter().find(|p| &p.spec == s));
            let target = match published {
                Some(p) if c.state == State::Running => upstream(&p.host_ip, p.host_port, c),
                _ => Target::Stopped,
            };
            let route = Arc::new(Route {
                dir: dir.to_string(),
                project: c.project().map(str::to_string),
                target,
            });
            if focused {
                // `<svc>.<session>.<project>.<domain>` → `<svc>.<project>.<domain>`.
                if let Some((svc, rest)) = name.split_once('.') {
                    if let Some((_, tail)) = rest.split_once('.') {
                        insert(&mut t.routes, format!("{svc}.{tail}"), route.clone());
                    }
                }
            }
            insert(&mut t.routes, name, route);
        }
    }
    t
}

/// A running replica wins over a stopped one under the same name.
fn insert(routes: &mut BTreeMap<String, Arc<Route>>, name: String, route: Arc<Route>) {
    match routes.get(&name).map(|r| &r.target) {
        Some(Target::Up { .. }) => {}
        _ => {
            routes.insert(name, route);
        }
    }
}

/// The upstream of a port published on `bind`: the address this machine reaches it at; both
/// loopback families for a wildcard binding on a local engine.
fn upstream(bind: &str, port: u16, c: &Container) -> Target {
    let local_wildcard =
        c.engine_host == EngineHost::Local && matches!(bind, "" | "0.0.0.0" | "::");
    let host: Arc<str> = if local_wildcard {
        "localhost".into()
    } else {
        reachable_host(bind, &c.engine_host).into()
    };
    let needs_forward = match &c.engine_host {
        EngineHost::Remote(h) if is_loopback(bind) => Some(h.clone()),
        _ => None,
    };
    Target::Up {
        host,
        port,
        needs_forward,
    }
}

/// The name a `Host` header asks for: lowercase, without port and trailing dot (borrowed when
/// the header already is).
pub fn host_name(host: &str) -> Cow<'_, str> {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    let name = name.trim_end_matches('.');
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Whether `name` is `domain` or a name under it (`x.domain`), with no allocation.
fn under(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// Decides a request by its `Host` and hop count; `own_port` is the proxy's (an upstream on it
/// would be the proxy itself).
pub fn decide(t: &Table, host: Option<&str>, hops: u32, own_port: u16) -> Decision {
    if hops >= MAX_HOPS {
        return Decision::Loop;
    }
    let Some(name) = host.map(host_name).filter(|n| !n.is_empty()) else {
        return Decision::Misdirected(String::new());
    };
    if name == STATUS_HOST {
        return Decision::Status;
    }
    let Some(domain) = t
        .domains
        .iter()
        .filter(|d| under(&name, d))
        .max_by_key(|d| d.len())
    else {
        return Decision::Misdirected(name.into_owned());
    };
    if let Some(route) = t.routes.get(name.as_ref()) {
        return match &route.target {
            Target::Up { host, port, .. }
                if *port == own_port && (&**host == "localhost" || is_loopback(host)) =>
            {
                Decision::Loop
            }
            Target::Up { .. } => Decision::Forward(route.clone()),
            Target::Stopped => Decision::Stopped {
                name: name.into_owned(),
                dir: route.dir.clone(),
            },
        };
    }
    // `<service>.<project>.<domain>`: a focus name.
    let rest = name.strip_suffix(&format!(".{domain}")).unwrap_or("");
    if let Some((_, project)) = rest.split_once('.') {
        if !project.contains('.') && t.projects.contains(&format!("{project}.{domain}")) {
            return Decision::NotFocused {
                project: project.to_string(),
            };
        }
    }
    Decision::Unknown(name.into_owned())
}

#[cfg(test)]
pub(crate) mod tests;
