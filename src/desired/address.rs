//! Where a session's ports are reached from this machine (`SESSION_HOST`), and how a published
//! port is written for a person: `http://HOST:PORT` only where a scheme applies. Pure.

use crate::compose::labels;
use crate::observed::{Container, Published, State};

/// Container ports that serve plain HTTP by common convention.
const WEB_PORTS: &[u16] = &[80, 3000, 4200, 5000, 5173, 8000, 8080, 8888, 9000];
/// Container ports that serve HTTPS by common convention.
const TLS_PORTS: &[u16] = &[443, 8443];

/// The address a client on this machine uses for ports bound to `bind`: the address itself
/// when it is a specific one, loopback for the wildcard addresses.
pub fn reachable_host(bind: &str) -> String {
    match bind {
        "" | "0.0.0.0" => "127.0.0.1".into(),
        "::" => "::1".into(),
        ip => ip.into(),
    }
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
        .flat_map(|c| c.ports.iter())
        .map(|p| reachable_host(&p.host_ip))
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
        host: reachable_host(&p.host_ip),
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
            host: reachable_host(host),
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
        assert_eq!(reachable_host("127.0.0.2"), "127.0.0.2");
        assert_eq!(reachable_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(reachable_host("::"), "::1");
        assert_eq!(reachable_host("192.168.1.5"), "192.168.1.5");
        assert_eq!(session_host(&[]), "127.0.0.1");
    }
}
