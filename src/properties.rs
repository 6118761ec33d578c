//! Properties of the pure normalisations, checked on generated inputs (proptest): each holds
//! for every input, not only the examples in the modules' own tests.

use std::path::Path;

use proptest::prelude::*;

use crate::compose::PortSpec;
use crate::desired::{dotenv_quote, port_var_name, project_name, templates::point_url_at};

/// What POSIX `sh` reads back from a value written by [`dotenv_quote`] (`. .env.session`).
fn sh_unquote(q: &str) -> String {
    if let Some(inner) = q.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.to_string();
    }
    let Some(inner) = q.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return q.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('"' | '\\' | '$' | '`')) => out.push(chars.next().unwrap_or('\\')),
            _ => out.push(c),
        }
    }
    out
}

proptest! {
    /// Compose accepts the name: lowercase `[a-z0-9_-]`, starting with a letter or digit, and
    /// it ends with the directory's hash.
    #[test]
    fn project_name_is_always_a_valid_compose_project_name(prefix in any::<String>(), dir in any::<String>()) {
        let name = project_name(&prefix, Path::new(&dir));
        prop_assert!(name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()), "{name:?}");
        prop_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'), "{name:?}");
        prop_assert_eq!(name, project_name(&prefix, Path::new(&dir)));
    }

    /// The hash keeps two directories apart even when their prefixes normalise alike.
    #[test]
    fn project_name_tells_directories_apart(prefix in "[a-z]{1,8}", a in "/[a-z]{1,12}", b in "/[a-z]{1,12}") {
        prop_assume!(a != b);
        prop_assert_ne!(project_name(&prefix, Path::new(&a)), project_name(&prefix, Path::new(&b)));
    }

    /// A port variable is made of `A-Z 0-9 _` and ends in `_PORT`; for a service name that
    /// starts with a letter (Compose also allows a digit) it is a shell variable name.
    #[test]
    fn port_variable_names_are_variable_names(service in "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,20}", index in 0usize..4, port in any::<u16>(), udp in any::<bool>()) {
        let spec = PortSpec { container_port: port, protocol: if udp { "udp" } else { "tcp" }.into() };
        let name = port_var_name(&service, index, &spec);
        prop_assert!(name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'), "{name:?}");
        prop_assert!(name.ends_with("_PORT"));
        if service.starts_with(|c: char| c.is_ascii_alphabetic()) {
            prop_assert!(crate::config::is_var_name(&name), "{name:?}");
        }
    }

    /// `sh` reads back exactly the value, whatever it holds.
    #[test]
    fn dotenv_quoting_round_trips(v in any::<String>()) {
        prop_assert_eq!(sh_unquote(&dotenv_quote(&v)), v);
    }

    /// The `dev-prism.ports` label form round-trips.
    #[test]
    fn port_keys_round_trip(port in any::<u16>(), proto in "tcp|udp|sctp") {
        let spec = PortSpec { container_port: port, protocol: proto };
        prop_assert_eq!(PortSpec::parse_key(&spec.key()), Some(spec));
    }

    /// Never panics; when it rewrites, only the host and port change: scheme, credentials,
    /// path, query and fragment stay.
    #[test]
    fn url_rewrite_changes_only_host_and_port(
        scheme in "[a-z][a-z0-9+.-]{0,10}",
        user in proptest::option::of("[a-z0-9:%]{1,10}"),
        host in "[a-z0-9.-]{1,15}|\\[[0-9a-f:]{2,12}\\]",
        port in proptest::option::of(any::<u16>()),
        rest in "([/?#][ -~]{0,30})?",
    ) {
        // A `host=` option may name another server (libpq): its handling is not this property's.
        prop_assume!(!rest.contains("host"));
        let userinfo = user.map(|u| format!("{u}@")).unwrap_or_default();
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = format!("{scheme}://{userinfo}{host}{port}{rest}");
        prop_assert_eq!(
            point_url_at(&url, "127.0.0.1", "49153"),
            Some(format!("{scheme}://{userinfo}127.0.0.1:49153{rest}"))
        );
    }

    #[test]
    fn url_rewrite_never_panics(url in any::<String>(), host in any::<String>(), port in any::<String>()) {
        let _ = point_url_at(&url, &host, &port);
    }
}
