//! (Config, compose model, command) → the session as it should be. Pure.

pub mod templates;
#[cfg(test)]
pub mod testing;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compose::{self, ComposeModel, Flavor, PortSpec, SessionFileContext};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::observed::{Container, State};
use crate::util::{env_name, short_hash};
use templates::Rewrite;

/// The file holding the session's variables.
pub const ENV_FILE: &str = ".env.session";

/// What a command wants the session to become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Services running, files written (`create`, `apply`, `start`, `plan`).
    Up,
    /// Containers stopped and kept; `.env.session` removed.
    Stop,
    /// Containers, networks, volumes, generated files, worktree and branch removed.
    Destroy { force: bool },
}

/// Where apps run: in containers (`docker`) or on the host (`native`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Infrastructure and app services in Docker.
    Docker,
    /// Only infrastructure in Docker; apps run on the host.
    Native,
}

/// Which services a command wants running.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// `None`: keep what the session has (services without a profile, plus every service that
    /// already has a container) — what `apply` and `heal` use.
    pub mode: Option<Mode>,
    /// App profiles left out (`--without`).
    pub without: Vec<String>,
}

/// How a derived file's content is produced from the session variables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Render {
    /// `.env.session`.
    EnvSession,
    /// An `appEnv` file: every key a template.
    AppEnv { vars: BTreeMap<String, String> },
    /// An `envFiles` file: the listed keys rewritten, every other byte kept.
    Rewrite { rules: BTreeMap<String, Rewrite> },
}

/// A file whose content follows from the ports Docker assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedFile {
    /// Relative to the session directory.
    pub path: String,
    pub render: Render,
    pub mode: u32,
}

/// One service of the desired session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredService {
    /// Whether the command wants it running (profiled services are not started by default).
    pub run: bool,
    pub config_hash: String,
    pub ports: Vec<PortSpec>,
}

/// The desired session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub dir: PathBuf,
    pub project: String,
    pub flavor: Flavor,
    /// The user's compose files (relative to `dir`), in `-f` order.
    pub compose_files: Vec<String>,
    /// The text of `docker-compose.session.yml`.
    pub session_file: String,
    pub services: BTreeMap<String, DesiredService>,
    pub ready_timeout_secs: u64,
    /// Profiles to activate for `compose up` (those of the services that run).
    pub profiles: Vec<String>,
    /// `.env.session` first, then app env files, then rewritten env files.
    pub derived: Vec<DerivedFile>,
    /// Setup commands (only `create` asks for them).
    pub setup: Vec<String>,
}

impl Desired {
    /// Services the command wants running, in name order.
    pub fn running_services(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, s)| s.run)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// `<projectName>-<first 8 hex of a hash of the dir>`, normalised to what Compose accepts:
/// lowercase `[a-z0-9_-]`, starting with a letter or digit.
pub fn project_name(prefix: &str, dir: &Path) -> String {
    let mut name: String = prefix
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if name.is_empty() {
        name = "session".into();
    }
    let hash = short_hash(dir.as_os_str().as_encoded_bytes(), 8);
    format!("{name}-{hash}")
}

/// Inputs besides config and compose model.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    pub dir: &'a Path,
    pub flavor: Flavor,
    pub compose_files: Vec<String>,
    /// Kept from the running containers or the existing session file; now otherwise.
    pub created_at: String,
    pub repo_root: Option<&'a Path>,
    pub selection: Selection,
    /// Services that already have a container in this session.
    pub existing: Vec<String>,
    /// Whether `envFiles` are rewritten (a linked worktree: never the user's own checkout).
    pub rewrite_env_files: bool,
    /// Whether the setup commands belong to this run (`create`).
    pub with_setup: bool,
}

/// Computes the desired session.
pub fn desired(config: &Config, model: &ComposeModel, inputs: Inputs<'_>) -> Result<Desired> {
    let dir_text = inputs.dir.to_string_lossy();
    let repo_text = inputs.repo_root.map(|p| p.to_string_lossy().into_owned());
    let ctx = SessionFileContext {
        dir: &dir_text,
        created_at: &inputs.created_at,
        bind_address: &config.bind_address,
        flavor: inputs.flavor,
        repo_root: repo_text.as_deref(),
    };
    let session_file = compose::session_file(model, &ctx)?;
    for app in &inputs.selection.without {
        if !config.apps.contains(app) {
            return Err(
                Error::usage(format!("`{app}` (from --without) is not one of the apps")).with_hint(
                    if config.apps.is_empty() {
                        "list app profiles under `apps` in session.config.yaml".to_string()
                    } else {
                        format!("apps are: {}", config.apps.join(", "))
                    },
                ),
            );
        }
    }
    let mut profiles: Vec<String> = vec![];
    let mut services = BTreeMap::new();
    for (name, svc) in &model.services {
        let is_app = svc.profiles.iter().any(|p| config.apps.contains(p));
        let run = match inputs.selection.mode {
            // Compose's default, plus whatever the session already runs.
            None => svc.profiles.is_empty() || inputs.existing.contains(name),
            Some(Mode::Native) => svc.profiles.is_empty(),
            Some(Mode::Docker) => {
                svc.profiles.is_empty()
                    || (is_app
                        && svc.profiles.iter().any(|p| {
                            config.apps.contains(p) && !inputs.selection.without.contains(p)
                        }))
            }
        };
        if run {
            for p in &svc.profiles {
                if !profiles.contains(p) {
                    profiles.push(p.clone());
                }
            }
        }
        services.insert(
            name.clone(),
            DesiredService {
                run,
                config_hash: compose::config_hash(svc, &config.bind_address),
                ports: svc.ports.clone(),
            },
        );
    }
    let derived = derived_files(config, model, &services, inputs.rewrite_env_files)?;
    Ok(Desired {
        dir: inputs.dir.to_path_buf(),
        project: project_name(&config.project_name, inputs.dir),
        flavor: inputs.flavor,
        compose_files: inputs.compose_files,
        session_file,
        services,
        ready_timeout_secs: config.ready_timeout_secs,
        profiles,
        derived,
        setup: if inputs.with_setup {
            config.setup.clone()
        } else {
            vec![]
        },
    })
}

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

/// The variables the session will have once its running services publish their ports.
fn known_vars(services: &BTreeMap<String, DesiredService>) -> Vec<String> {
    let mut names = vec![
        "COMPOSE_PROJECT_NAME".to_string(),
        "SESSION_DIR".to_string(),
    ];
    for (name, svc) in services.iter().filter(|(_, s)| s.run) {
        for (i, spec) in svc.ports.iter().enumerate() {
            names.push(port_var_name(name, i, spec));
        }
    }
    names
}

fn check_template(template: &str, known: &[String], what: &str) -> Result<()> {
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
fn postgres_port_var(
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

fn derived_files(
    config: &Config,
    model: &ComposeModel,
    services: &BTreeMap<String, DesiredService>,
    rewrite_env_files: bool,
) -> Result<Vec<DerivedFile>> {
    let known = known_vars(services);
    let mut out = vec![DerivedFile {
        path: ENV_FILE.into(),
        render: Render::EnvSession,
        mode: 0o600,
    }];
    for (app, vars) in &config.app_env {
        for (key, template) in vars {
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
                        host: reachable_host(&config.bind_address),
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

/// The host a client on this machine uses to reach ports bound to `bind`.
fn reachable_host(bind: &str) -> String {
    match bind {
        "0.0.0.0" | "127.0.0.1" => "127.0.0.1".into(),
        "::" | "::1" => "[::1]".into(),
        ip if ip.contains(':') => format!("[{ip}]"),
        ip => ip.into(),
    }
}

/// Renders a derived file. `current` is the file's present text (rewrites keep it). `None`
/// when there is nothing to write (a rewrite of a file that does not exist).
pub fn render_file(render: &Render, vars: &[Var], current: Option<&str>) -> Result<Option<String>> {
    let unknown = |name: String| {
        Error::usage(format!(
            "a template uses ${{{name}}}, which is not a session variable"
        ))
        .with_hint("check appEnv and envRewrite in the config against `dev-prism info`")
    };
    Ok(match render {
        Render::EnvSession => Some(env_file_text(vars)),
        Render::AppEnv {
            vars: templates_map,
        } => {
            let mut out = String::from("# Auto-generated by dev-prism\n");
            for (k, t) in templates_map {
                let v = templates::render(t, vars).map_err(unknown)?;
                out.push_str(&format!("{k}={}\n", dotenv_quote(&v)));
            }
            Some(out)
        }
        Render::Rewrite { rules } => match current {
            None => None,
            Some(text) => Some(templates::rewrite_env_text(text, rules, vars).map_err(unknown)?),
        },
    })
}

/// A session variable: name and value.
pub type Var = (String, String);

/// The session's variables, from Docker's answer alone: `COMPOSE_PROJECT_NAME`, `SESSION_DIR`,
/// then `<SERVICE>_PORT` for each service's first published port and
/// `<SERVICE>_<CONTAINERPORT>_PORT` for the others.
pub fn session_vars(project: &str, dir: &Path, containers: &[Container]) -> Vec<Var> {
    let mut vars = vec![
        ("COMPOSE_PROJECT_NAME".to_string(), project.to_string()),
        (
            "SESSION_DIR".to_string(),
            dir.to_string_lossy().into_owned(),
        ),
    ];
    vars.extend(port_vars(containers));
    vars
}

/// The port variables alone, in service-name order.
pub fn port_vars(containers: &[Container]) -> Vec<Var> {
    let mut by_service: BTreeMap<&str, &Container> = BTreeMap::new();
    for c in containers.iter().filter(|c| c.state == State::Running) {
        by_service.entry(c.service.as_str()).or_insert(c);
    }
    let mut vars = vec![];
    for (service, c) in by_service {
        for (i, spec) in c.declared_ports().iter().enumerate() {
            if let Some(port) = c.host_port(spec) {
                vars.push((port_var_name(service, i, spec), port.to_string()));
            }
        }
    }
    vars
}

/// The text of `.env.session`.
pub fn env_file_text(vars: &[Var]) -> String {
    let mut out = String::from("# Auto-generated by dev-prism\n");
    for (i, (k, v)) in vars.iter().enumerate() {
        if i == 2 {
            out.push_str("\n# Discovered ports from running containers\n");
        }
        out.push_str(&format!("{k}={}\n", dotenv_quote(v)));
    }
    out
}

/// Quotes a value for dotenv readers and POSIX shells alike, only when needed.
pub fn dotenv_quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,%".contains(c));
    if plain {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' | '\\' | '$' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::containers_from_json;

    #[test]
    fn project_names_are_valid_for_compose() {
        let dir = Path::new("/w/a");
        let n = project_name("My Shop.v2", dir);
        assert!(n.starts_with("my-shop-v2-"), "{n}");
        assert_eq!(n.len(), "my-shop-v2-".len() + 8);
        assert!(project_name("__x", dir).starts_with("x-"));
        assert!(project_name("!!", dir).starts_with("session-"));
        assert_ne!(
            project_name("p", Path::new("/a")),
            project_name("p", Path::new("/b"))
        );
    }

    #[test]
    fn env_file_from_recorded_containers() {
        let cs = containers_from_json(include_str!(
            "../../tests/fixtures/containers-api-1.41.json"
        ))
        .unwrap();
        let vars = session_vars("shop-1a2b3c4d", Path::new("/w/my dir"), &cs);
        assert_eq!(
            env_file_text(&vars),
            "# Auto-generated by dev-prism\nCOMPOSE_PROJECT_NAME=shop-1a2b3c4d\n\
             SESSION_DIR=\"/w/my dir\"\n\n# Discovered ports from running containers\n\
             DB_PORT=49153\nWEB_PORT=49199\nWEB_8443_PORT=49200\n"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(dotenv_quote("/a/b"), "/a/b");
        assert_eq!(dotenv_quote("a \"b\" $c"), "\"a \\\"b\\\" \\$c\"");
        assert_eq!(dotenv_quote(""), "\"\"");
    }
}
