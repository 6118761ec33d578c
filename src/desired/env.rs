//! The session's variables and the env files rendered from them: `.env.session`, appEnv files
//! (templates checked against the variables the session will have), rewritten envFiles.

use super::*;

/// The variable name of a service's `index`-th published port.
pub fn port_var_name(service: &str, index: usize, spec: &PortSpec) -> String {
    let base = env_name(service);
    if index == 0 {
        format!("{base}_PORT")
    } else if spec.protocol == "tcp" {
        format!("{base}_{}_PORT", spec.container_port)
    } else {
        format!(
            "{base}_{}_{}_PORT",
            spec.container_port,
            spec.protocol.to_uppercase()
        )
    }
}

/// One warning per service with published ports whose variables are no shell names
/// (`1db` → `1DB_PORT`). The names are kept (dotenv readers and Compose read them; a renamed
/// variable would break whoever uses it); `sh` cannot, so the user hears it before relying on
/// it, and `dev-prism env` leaves them out.
pub fn shell_name_warnings(model: &crate::compose::ComposeModel) -> Vec<String> {
    model
        .services
        .iter()
        .filter(|(name, s)| !s.ports.is_empty() && !crate::util::is_shell_name(&env_name(name)))
        .map(|(name, s)| {
            format!(
                "service `{name}`: its variables ({}, …) are not shell variable names: dotenv readers and Compose read them from .env.session, `. .env.session` in sh does not and `dev-prism env` leaves them out; a service name starting with a letter avoids this",
                port_var_name(name, 0, &s.ports[0])
            )
        })
        .collect()
}

/// The variable name of a service's `index`-th port where a URL applies: `<SERVICE>_URL` for
/// the first, `<SERVICE>_<CONTAINERPORT>_URL` for the others.
pub fn url_var_name(service: &str, index: usize, container_port: u16) -> String {
    let base = env_name(service);
    if index == 0 {
        format!("{base}_URL")
    } else {
        format!("{base}_{container_port}_URL")
    }
}

/// The variable naming the proxy's CA for Node (`proxy.https`).
pub const CA_VAR: &str = "NODE_EXTRA_CA_CERTS";

/// What the session's URL variables depend on besides Docker's answer: the port the proxy
/// listens on and where its CA certificate is (the same for every session of this user; read
/// once at the edge, see `proxy::setting`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySetting {
    pub port: u16,
    pub ca_cert: String,
}

impl Default for ProxySetting {
    /// The default port, the CA under `~/.local/state` (tests).
    fn default() -> Self {
        ProxySetting {
            port: crate::desired::names::DEFAULT_PORT,
            ca_cert: "/home/user/.local/state/dev-prism/ca.pem".into(),
        }
    }
}

/// The variables the session will have once its running services publish their ports.
pub(super) fn known_vars(
    config: &Config,
    model: &ComposeModel,
    services: &BTreeMap<String, DesiredService>,
) -> Vec<String> {
    let mut names = vec![
        "COMPOSE_PROJECT_NAME".to_string(),
        "SESSION_DIR".to_string(),
        "SESSION_HOST".to_string(),
    ];
    for (name, svc) in services.iter().filter(|(_, s)| s.run) {
        for (i, spec) in svc.ports.iter().enumerate() {
            names.push(port_var_name(name, i, spec));
        }
        let declared = model.services.get(name).and_then(|s| s.scheme.as_deref());
        let with_url = svc.ports.iter().filter(|spec| {
            address::scheme_for(declared, spec.container_port, &spec.protocol).is_some()
        });
        for (i, spec) in with_url.enumerate() {
            names.push(url_var_name(name, i, spec.container_port));
        }
    }
    if config.proxy.enabled && config.proxy.https {
        names.push(CA_VAR.to_string());
    }
    names
}

pub(super) fn check_template(template: &str, known: &[String], what: &str) -> Result<()> {
    for name in templates::names(template) {
        if !known.contains(&name) {
            return Err(Error::usage(format!(
                "{what} uses ${{{name}}}, which is not a session variable"
            ))
            .with_hint(format!("session variables are: {}", known.join(", "))));
        }
    }
    Ok(())
}

/// A service that looks like PostgreSQL: its port variable feeds the default DATABASE_URL.
pub(super) fn postgres_port_var(
    model: &ComposeModel,
    services: &BTreeMap<String, DesiredService>,
) -> Option<String> {
    services
        .iter()
        .filter(|(_, s)| s.run)
        .find_map(|(name, svc)| {
            let image = model.services[name]
                .raw
                .get("image")
                .and_then(|i| i.as_str())
                .unwrap_or("");
            let looks = image.contains("postgres")
                || name.contains("postgres")
                || image.contains("postgis");
            let i = svc.ports.iter().position(|p| p.container_port == 5432)?;
            (looks || name == "db").then(|| port_var_name(name, i, &svc.ports[i]))
        })
}

pub(super) fn derived_files(
    config: &Config,
    model: &ComposeModel,
    services: &BTreeMap<String, DesiredService>,
    rewrite_env_files: bool,
) -> Result<Vec<DerivedFile>> {
    let known = known_vars(config, model, services);
    let mut out = vec![DerivedFile {
        path: ENV_FILE.into(),
        render: Render::EnvSession,
        mode: 0o600,
    }];
    for (app, vars) in &config.app_env {
        // Stop and destroy plan without the compose model (only the files' names matter).
        for (key, template) in vars.iter().filter(|_| !model.services.is_empty()) {
            check_template(template, &known, &format!("appEnv `{app}` key {key}"))?;
        }
        out.push(DerivedFile {
            path: format!("{}/{ENV_FILE}", app.trim_end_matches('/')),
            render: Render::AppEnv { vars: vars.clone() },
            mode: 0o600,
        });
    }
    if rewrite_env_files && !config.env_files.is_empty() {
        let mut rules: BTreeMap<String, Rewrite> = BTreeMap::new();
        for (key, template) in &config.env_rewrite {
            check_template(template, &known, &format!("envRewrite key {key}"))?;
            rules.insert(key.clone(), Rewrite::Template(template.clone()));
        }
        if !rules.contains_key("DATABASE_URL") {
            if let Some(var) = postgres_port_var(model, services) {
                rules.insert(
                    "DATABASE_URL".into(),
                    Rewrite::PointAt {
                        var,
                        host: address::reachable_host(
                            &config.bind_address,
                            &crate::observed::EngineHost::Local,
                        ),
                    },
                );
            }
        }
        if !rules.is_empty() {
            for f in &config.env_files {
                out.push(DerivedFile {
                    path: f.clone(),
                    render: Render::Rewrite {
                        rules: rules.clone(),
                    },
                    mode: 0o600,
                });
            }
        }
    }
    Ok(out)
}

/// Renders a derived file. `current` is the file's present bytes (rewrites keep every byte
/// they do not rewrite). `None` when there is nothing to write (a rewrite of a file that does
/// not exist).
pub fn render_file(
    render: &Render,
    vars: &[Var],
    current: Option<&[u8]>,
) -> Result<Option<Vec<u8>>> {
    let unknown = |name: String| {
        Error::usage(format!(
            "a template uses ${{{name}}}, which is not a session variable"
        ))
        .with_hint("check appEnv and envRewrite in the config against `dev-prism info`")
    };
    Ok(match render {
        Render::EnvSession => Some(env_file_text(vars).into_bytes()),
        Render::AppEnv {
            vars: templates_map,
        } => {
            let mut out = String::from("# Auto-generated by dev-prism\n");
            for (k, t) in templates_map {
                let v = templates::render(t, vars).map_err(unknown)?;
                out.push_str(&format!("{k}={}\n", dotenv_quote(&v)));
            }
            Some(out.into_bytes())
        }
        Render::Rewrite { rules } => match current {
            None => None,
            Some(bytes) => Some(templates::rewrite_env_text(bytes, rules, vars).map_err(unknown)?),
        },
    })
}

/// A session variable: name and value.
pub type Var = (String, String);

/// The session's variables, from Docker's answer and the proxy's port alone:
/// `COMPOSE_PROJECT_NAME`, `SESSION_DIR`, `SESSION_HOST` (where the ports are bound, as reached
/// from this machine), then per service (see [`port_vars`]) `<SERVICE>_PORT` …, `<SERVICE>_URL`
/// …, and `NODE_EXTRA_CA_CERTS` when the session's proxy names are `https://`.
pub fn session_vars(
    project: &str,
    dir: &Path,
    containers: &[Container],
    proxy: &ProxySetting,
) -> Vec<Var> {
    let mut vars = vec![
        ("COMPOSE_PROJECT_NAME".to_string(), project.to_string()),
        (
            "SESSION_DIR".to_string(),
            dir.to_string_lossy().into_owned(),
        ),
        (
            "SESSION_HOST".to_string(),
            address::session_host(containers),
        ),
    ];
    vars.extend(port_vars(containers, proxy));
    let https = containers.iter().any(|c| {
        c.state == State::Running
            && c.label(labels::HOST).is_some()
            && c.label(labels::HTTPS) == Some("true")
    });
    if https {
        vars.push((CA_VAR.to_string(), proxy.ca_cert.clone()));
    }
    vars
}

/// The port and URL variables, in service-name order: a service's `<SERVICE>_PORT`,
/// `<SERVICE>_<CONTAINERPORT>_PORT` …, then `<SERVICE>_URL`, `<SERVICE>_<CONTAINERPORT>_URL`
/// … for its ports where a URL applies (README "Addresses and URLs"): the proxy's name for the
/// port when the session has one (label `dev-prism.host`, i.e. `proxy.enabled`), else the
/// direct `http://HOST:PORT`. Never whether the proxy answers right now: the file must not
/// change with it.
pub fn port_vars(containers: &[Container], proxy: &ProxySetting) -> Vec<Var> {
    let mut by_service: BTreeMap<&str, &Container> = BTreeMap::new();
    for c in containers.iter().filter(|c| c.state == State::Running) {
        by_service.entry(c.service.as_str()).or_insert(c);
    }
    let mut vars = vec![];
    for (service, c) in by_service {
        let mut urls = vec![];
        for (i, spec) in c.declared_ports().iter().enumerate() {
            let Some(published) = c.ports.iter().find(|p| &p.spec == spec) else {
                continue;
            };
            vars.push((
                port_var_name(service, i, spec),
                published.host_port.to_string(),
            ));
            let url = crate::desired::names::proxy_url(c, spec.container_port, proxy.port)
                .or_else(|| address::address(c, published).url());
            if let Some(url) = url {
                let name = url_var_name(service, urls.len(), spec.container_port);
                urls.push((name, url));
            }
        }
        vars.extend(urls);
    }
    vars
}

/// The text of `.env.session`.
pub fn env_file_text(vars: &[Var]) -> String {
    let mut out = String::from("# Auto-generated by dev-prism\n");
    for (i, (k, v)) in vars.iter().enumerate() {
        if i == 3 {
            out.push_str("\n# Discovered ports from running containers\n");
        }
        out.push_str(&format!("{k}={}\n", dotenv_quote(v)));
    }
    out
}

/// Quotes a value so that POSIX `sh` (`. .env.session`) and dotenv readers (Compose's
/// `env_file`, node's `dotenv`, python-dotenv) read back exactly the value:
/// - bare when it is made of `A-Z a-z 0-9 _ - . / : @ + , %` only;
/// - else in single quotes, which all of them read literally (`$`, `"`, `#`, spaces, newlines,
///   unicode), when it holds no `'` and no backslash a dotenv reader would take for an escape
///   (`\\`, or one at the end);
/// - else in double quotes, with `\`, `"`, `$` and `` ` `` escaped by a backslash: exact for
///   `sh` and Compose's reader; a reader that does not unescape `\$` (node's `dotenv`) sees a
///   backslash before the `$` of a value holding both a `'` and a `$` (no quoting carries
///   such a value to every reader alike; the shell wins).
pub fn dotenv_quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,%".contains(c));
    if plain {
        return v.to_string();
    }
    if !v.contains('\'') && !v.contains("\\\\") && !v.ends_with('\\') {
        return format!("'{v}'");
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
