//! Where a session's ports are reached from this machine (`SESSION_HOST`), and how a published
//! port is written for a person: `http://HOST:PORT` only where a scheme applies. Pure: where
//! the engine runs comes in as data, each container's [`EngineHost`].

use crate::compose::labels;
use crate::observed::{Container, EngineHost, Published, State};

/// Container ports that serve plain HTTP by common convention.
const WEB_PORTS: &[u16] = &[80, 3000, 4200, 5000, 5173, 8000, 8080, 8888, 9000];
/// Container ports that serve HTTPS by common convention.
const TLS_PORTS: &[u16] = &[443, 8443];

/// The address a client on this machine uses for ports an engine on `engine` bound to `bind`.
/// A local engine: the address itself when it is a specific one, loopback for the wildcard
/// addresses. A remote engine: its host for the wildcard addresses, the address itself for
/// another specific one, and `127.0.0.1` for its loopback (reachable here once `dev-prism
/// forward` forwards the ports to this machine's 127.0.0.1).
pub fn reachable_host(bind: &str, engine: &EngineHost) -> String {
    match (engine, bind) {
        (EngineHost::Local, "" | "0.0.0.0") => "127.0.0.1".into(),
        (EngineHost::Local, "::") => "::1".into(),
        (EngineHost::Remote(host), "" | "0.0.0.0" | "::") => host.clone(),
        (EngineHost::Remote(_), ip) if is_loopback(ip) => "127.0.0.1".into(),
        (_, ip) => ip.into(),
    }
}

/// A loopback address (or `localhost`).
pub fn is_loopback(ip: &str) -> bool {
    ip.starts_with("127.") || ip == "::1" || ip == "localhost"
}

/// The remote engine host when some running container publishes ports only on that host's
/// loopback: nothing on this machine reaches them until `dev-prism forward` forwards them.
pub fn needs_forward(containers: &[Container]) -> Option<&str> {
    containers
        .iter()
        .filter(|c| c.state == State::Running)
        .find_map(|c| match &c.engine_host {
            EngineHost::Remote(host) if c.ports.iter().any(|p| is_loopback(&p.host_ip)) => {
                Some(host.as_str())
            }
            _ => None,
        })
}

/// `host` as it is written in a URL (IPv6 in brackets).
pub fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `SESSION_HOST`: where the running containers' ports are bound, as seen from this machine
/// (`127.0.0.1` when nothing is published).
pub fn session_host(containers: &[Container]) -> String {
    containers
        .iter()
        .filter(|c| c.state == State::Running)
        .flat_map(|c| c.ports.iter().map(move |p| (c, p)))
        .map(|(c, p)| reachable_host(&p.host_ip, &c.engine_host))
        .next()
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// A published port as shown to people and in JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
    pub protocol: String,
    /// `http` or `https` when one applies.
    pub scheme: Option<String>,
}

impl Address {
    /// `http://HOST:PORT` with a scheme, `HOST:PORT` without, `HOST:PORT/udp` for UDP.
    pub fn display(&self) -> String {
        let hp = format!("{}:{}", url_host(&self.host), self.port);
        match (&self.scheme, self.protocol.as_str()) {
            (Some(s), _) => format!("{s}://{hp}"),
            (None, "tcp") => hp,
            (None, proto) => format!("{hp}/{proto}"),
        }
    }

    /// The URL, only where a scheme applies.
    pub fn url(&self) -> Option<String> {
        self.scheme.as_ref().map(|_| self.display())
    }
}

/// The URL scheme of a TCP port: the one the service declares, else `http` for common web
/// ports and `https` for 443/8443; none for anything else (databases, caches, UDP).
pub fn scheme_for(declared: Option<&str>, container_port: u16, protocol: &str) -> Option<String> {
    if protocol != "tcp" {
        return None;
    }
    match declared.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(s.to_lowercase()),
        None if WEB_PORTS.contains(&container_port) => Some("http".into()),
        None if TLS_PORTS.contains(&container_port) => Some("https".into()),
        None => None,
    }
}

/// The address of one published port of `c`.
pub fn address(c: &Container, p: &Published) -> Address {
    Address {
        host: reachable_host(&p.host_ip, &c.engine_host),
        port: p.host_port,
        protocol: p.spec.protocol.clone(),
        scheme: scheme_for(
            c.label(labels::SCHEME),
            p.spec.container_port,
            &p.spec.protocol,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(declared: Option<&str>, container_port: u16, protocol: &str, host: &str) -> String {
        Address {
            host: reachable_host(host, &EngineHost::Local),
            port: 32768,
            protocol: protocol.into(),
            scheme: scheme_for(declared, container_port, protocol),
        }
        .display()
    }

    #[test]
    fn url_rule() {
        assert_eq!(addr(None, 80, "tcp", "127.0.0.1"), "http://127.0.0.1:32768");
        assert_eq!(
            addr(None, 5173, "tcp", "127.0.0.1"),
            "http://127.0.0.1:32768"
        );
        assert_eq!(
            addr(None, 8443, "tcp", "127.0.0.1"),
            "https://127.0.0.1:32768"
        );
        assert_eq!(addr(None, 5432, "tcp", "127.0.0.1"), "127.0.0.1:32768");
        assert_eq!(addr(None, 6379, "tcp", "127.0.0.2"), "127.0.0.2:32768");
        assert_eq!(
            addr(Some("http"), 7000, "tcp", "127.0.0.1"),
            "http://127.0.0.1:32768"
        );
        assert_eq!(addr(None, 53, "udp", "127.0.0.1"), "127.0.0.1:32768/udp");
        assert_eq!(addr(None, 80, "udp", "127.0.0.1"), "127.0.0.1:32768/udp");
        assert_eq!(addr(None, 3000, "tcp", "0.0.0.0"), "http://127.0.0.1:32768");
        assert_eq!(addr(None, 3000, "tcp", "::1"), "http://[::1]:32768");
        let a = Address {
            host: "127.0.0.1".into(),
            port: 1,
            protocol: "tcp".into(),
            scheme: None,
        };
        assert_eq!(a.url(), None);
    }

    #[test]
    fn session_host_follows_the_bind_address() {
        let local = EngineHost::Local;
        assert_eq!(reachable_host("127.0.0.2", &local), "127.0.0.2");
        assert_eq!(reachable_host("0.0.0.0", &local), "127.0.0.1");
        assert_eq!(reachable_host("::", &local), "::1");
        assert_eq!(reachable_host("192.168.1.5", &local), "192.168.1.5");
        assert_eq!(session_host(&[]), "127.0.0.1");
    }

    fn web(engine: EngineHost, bind: &str) -> Container {
        let mut c = crate::observed::containers_from_json(include_str!(
            "../../tests/fixtures/containers-api-1.41.json"
        ))
        .unwrap()
        .into_iter()
        .find(|c| c.state == State::Running && !c.ports.is_empty())
        .expect("a running container with ports in the fixture");
        for p in &mut c.ports {
            p.host_ip = bind.into();
        }
        c.engine_host = engine;
        c
    }

    #[test]
    fn a_remote_engine_names_where_its_ports_are() {
        let remote = || EngineHost::Remote("build-box".into());
        // A non-loopback bind address: the engine host's address.
        let c = web(remote(), "0.0.0.0");
        assert_eq!(session_host(std::slice::from_ref(&c)), "build-box");
        assert_eq!(address(&c, &c.ports[0]).host, "build-box");
        assert_eq!(needs_forward(std::slice::from_ref(&c)), None);
        assert_eq!(reachable_host("::", &remote()), "build-box");
        assert_eq!(reachable_host("10.0.0.7", &remote()), "10.0.0.7");
        // Its loopback: 127.0.0.1 here, once forwarded; create says so.
        let c = web(remote(), "127.0.0.1");
        assert_eq!(session_host(std::slice::from_ref(&c)), "127.0.0.1");
        assert_eq!(address(&c, &c.ports[0]).host, "127.0.0.1");
        assert_eq!(needs_forward(std::slice::from_ref(&c)), Some("build-box"));
        assert_eq!(reachable_host("127.0.0.2", &remote()), "127.0.0.1");
        // A local engine never needs forwarding.
        let c = web(EngineHost::Local, "127.0.0.1");
        assert_eq!(needs_forward(std::slice::from_ref(&c)), None);
    }
}
