//! The names the proxy gives a session's HTTP ports (pure). Minimal copy by proxy-server with
//! the signatures of CONTRACTS.md; proxy-names owns this module and the lead reconciles.

/// `s` as one DNS label: lowercase `[a-z0-9-]`, any other run of characters one `-`, no
/// leading or trailing `-`, at most 63 characters (`x` when nothing is left).
pub fn lower(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// `<session>.<project>`, each part lowered to one DNS label.
pub fn host_label(session_dir_name: &str, project_name: &str) -> String {
    format!("{}.{}", lower(session_dir_name), lower(project_name))
}

/// The names of a service's ports that serve plain HTTP: the first is
/// `<service>.<host>.<domain>`, each further one `<service>-<containerport>.<host>.<domain>`.
pub fn route_names(
    service: &str,
    host_label: &str,
    domain: &str,
    ports: &[(u16, Option<&str>)],
) -> Vec<(String, u16)> {
    let service = lower(service);
    ports
        .iter()
        .filter(|(_, scheme)| *scheme == Some("http"))
        .enumerate()
        .map(|(i, (port, _))| {
            let first = if i == 0 {
                service.clone()
            } else {
                format!("{service}-{port}")
            };
            (format!("{first}.{host_label}.{domain}"), *port)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_only_http_ports_first_plain_then_with_the_port() {
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
                ("web-app-3000.feat-x.shop.localhost".to_string(), 3000)
            ]
        );
        assert_eq!(host_label("Feat/X", "--shop--"), "feat-x.shop");
        assert_eq!(lower("___"), "x");
    }
}
