//! The proxy's names (DESIGN §10), pure: `<service>.<session>.<project>.<domain>` for a
//! service's first HTTP port, `<service>-<containerport>.…` for its further ones, and
//! `<service>.<project>.<domain>` for the focused session. Every part is a valid DNS label.

use crate::compose::labels;
use crate::desired::address::scheme_for;
use crate::observed::Container;

/// The longest DNS label.
pub const MAX_LABEL: usize = 63;

/// `text` as a DNS label: lowercase ASCII letters and digits, every run of anything else one
/// `-`, no `-` at either end, at most 63 bytes; never empty (`x` for a text with no letter or
/// digit).
pub fn lower(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    trim(out, MAX_LABEL)
}

/// `label` cut to `max` bytes (it is ASCII) without a `-` at the end; `x` when nothing is left.
fn trim(mut label: String, max: usize) -> String {
    label.truncate(max);
    let label = label.trim_end_matches('-').to_string();
    if label.is_empty() {
        "x".into()
    } else {
        label
    }
}

/// The value of the `dev-prism.host` label: `<session>.<project>`, the session directory's
/// name and the project's name each lowered to a DNS label.
pub fn host_label(session_dir_name: &str, project_name: &str) -> String {
    format!("{}.{}", lower(session_dir_name), lower(project_name))
}

/// `host` (from [`host_label`]) unique among `taken` (other sessions' host labels): the first
/// of `host`, then `-2`, `-3`, … on its session part (cut so it stays ≤ 63).
pub fn unique_host(host: &str, taken: &[String]) -> String {
    let (session, project) = host.split_once('.').unwrap_or((host, "x"));
    let mut n = 1;
    loop {
        let candidate = if n == 1 {
            host.to_string()
        } else {
            let suffix = format!("-{n}");
            let base = trim(session.to_string(), MAX_LABEL - suffix.len());
            format!("{base}{suffix}.{project}")
        };
        if !taken.contains(&candidate) {
            return candidate;
        }
        n += 1;
    }
}

/// The names of a service's ports: the first port whose scheme is `http` gets
/// `<service>.<host>.<domain>`, each further one `<service>-<containerport>.<host>.<domain>`.
/// `ports` are container ports with their scheme as [`scheme_for`] decides it: ports that speak
/// TLS themselves (`https`) and ports without a scheme get no name.
pub fn route_names(
    service: &str,
    host_label: &str,
    domain: &str,
    ports: &[(u16, Option<&str>)],
) -> Vec<(String, u16)> {
    let service = lower(service);
    let mut out = vec![];
    for (port, _) in ports.iter().filter(|(_, s)| *s == Some("http")) {
        let first = if out.is_empty() {
            service.clone()
        } else {
            trim(format!("{service}-{port}"), MAX_LABEL)
        };
        out.push((format!("{first}.{host_label}.{domain}"), *port));
    }
    out
}

/// The focus name of a service: `<service>.<project>.<domain>`.
pub fn focus_name(service: &str, project_name: &str, domain: &str) -> String {
    format!("{}.{}.{domain}", lower(service), lower(project_name))
}

/// The names of a container's ports, from its labels alone (`dev-prism.host`,
/// `dev-prism.domain`, `dev-prism.ports`, `dev-prism.scheme`): none without a host label.
pub fn container_names(c: &Container) -> Vec<(String, u16)> {
    let (Some(host), Some(domain)) = (c.label(labels::HOST), c.label(labels::DOMAIN)) else {
        return vec![];
    };
    let declared = c.label(labels::SCHEME);
    let schemes: Vec<(u16, Option<String>)> = c
        .declared_ports()
        .iter()
        .map(|p| {
            (
                p.container_port,
                scheme_for(declared, p.container_port, &p.protocol),
            )
        })
        .collect();
    let ports: Vec<(u16, Option<&str>)> = schemes.iter().map(|(p, s)| (*p, s.as_deref())).collect();
    route_names(&c.service, host, domain, &ports)
}

/// The URL of a container port through the proxy listening on `proxy_port`, when it has a
/// name: `https://` when the session asked for HTTPS (label `dev-prism.https`).
pub fn proxy_url(c: &Container, container_port: u16, proxy_port: u16) -> Option<String> {
    let (name, _) = container_names(c)
        .into_iter()
        .find(|(_, p)| *p == container_port)?;
    let scheme = if c.label(labels::HTTPS) == Some("true") {
        "https"
    } else {
        "http"
    };
    Some(format!("{scheme}://{name}:{proxy_port}"))
}

pub use crate::util::is_dns_name;

/// The proxy's port unless `DEV_PRISM_PROXY_PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 7355;

#[cfg(test)]
mod tests {
    use super::*;

    fn is_label(l: &str) -> bool {
        !l.contains('.') && is_dns_name(l) && l == l.to_lowercase()
    }

    #[test]
    fn labels_are_lowered() {
        assert_eq!(lower("Feat/Login_Page"), "feat-login-page");
        assert_eq!(lower("--a..b--"), "a-b");
        assert_eq!(lower("ÜBER straße"), "ber-stra-e");
        assert_eq!(lower("日本"), "x");
        assert_eq!(lower(""), "x");
        assert_eq!(lower(&"a".repeat(80)).len(), 63);
        // Cut at 63, then no `-` left at the end.
        let cut = lower(&format!("{}-b", "a".repeat(62)));
        assert_eq!(cut, "a".repeat(62));
        assert_eq!(
            host_label("session-2026-12-02", "My Shop"),
            "session-2026-12-02.my-shop"
        );
    }

    #[test]
    fn every_text_gives_a_dns_label() {
        // Exhaustive over short texts from an alphabet with every kind of character.
        let alphabet = ['a', 'Z', '0', '-', '_', '.', ' ', 'é', '/'];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let next: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(next);
        }
        for t in &texts {
            assert!(is_label(&lower(t)), "{t:?} → {:?}", lower(t));
        }
        for n in 0..=70 {
            for fill in ["a", "-", "ä", "a-"] {
                let t = fill.repeat(n);
                assert!(is_label(&lower(&t)), "{t:?}");
                let h = unique_host(&host_label(&t, &t), &[host_label(&t, &t)]);
                assert!(is_dns_name(&h), "{h:?}");
            }
        }
    }

    #[test]
    fn a_clash_takes_the_next_number_on_the_session_part() {
        let taken = vec!["feat-x.shop".to_string(), "feat-x-2.shop".to_string()];
        assert_eq!(unique_host("feat-x.shop", &[]), "feat-x.shop");
        assert_eq!(unique_host("feat-x.shop", &taken), "feat-x-3.shop");
        let long = "a".repeat(63);
        let h = unique_host(&format!("{long}.p"), &[format!("{long}.p")]);
        assert_eq!(h, format!("{}-2.p", "a".repeat(61)));
    }

    #[test]
    fn names_of_a_services_ports() {
        let ports = [
            (5432, None),
            (80, Some("http")),
            (443, Some("https")),
            (3000, Some("http")),
        ];
        assert_eq!(
            route_names("Web_App", "feat-x.shop", "localhost", &ports),
            vec![
                ("web-app.feat-x.shop.localhost".to_string(), 80),
                ("web-app-3000.feat-x.shop.localhost".to_string(), 3000),
            ]
        );
        assert!(route_names("db", "s.p", "localhost", &[(5432, None)]).is_empty());
        assert_eq!(
            focus_name("Web", "Shop", "dev.example.com"),
            "web.shop.dev.example.com"
        );
    }

    #[test]
    fn names_come_from_a_containers_labels() {
        let mut c = crate::observed::containers_from_json(include_str!(
            "../../tests/fixtures/containers-api-1.41.json"
        ))
        .unwrap()
        .into_iter()
        .find(|c| c.service == "web")
        .unwrap();
        assert_eq!(container_names(&c), vec![], "no host label: no name");
        c.labels.insert(labels::HOST.into(), "feat-x.shop".into());
        c.labels.insert(labels::DOMAIN.into(), "localhost".into());
        // web publishes 80 (http) and 8443 (https: no name).
        assert_eq!(
            container_names(&c),
            vec![("web.feat-x.shop.localhost".to_string(), 80)]
        );
        assert_eq!(
            proxy_url(&c, 80, 7355).as_deref(),
            Some("http://web.feat-x.shop.localhost:7355")
        );
        assert_eq!(proxy_url(&c, 8443, 7355), None);
        c.labels.insert(labels::HTTPS.into(), "true".into());
        assert_eq!(
            proxy_url(&c, 80, 9000).as_deref(),
            Some("https://web.feat-x.shop.localhost:9000")
        );
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_name("localhost") && is_dns_name("dev.example.com"));
        for bad in ["", "a..b", "-a.b", "a_b", "a.b-", "ä.com", &"a".repeat(64)] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }
}
