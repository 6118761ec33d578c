//! (Config, compose model, command) → the session as it should be. Pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compose::{self, ComposeModel, Flavor, PortSpec, SessionFileContext};
use crate::config::Config;
use crate::error::Result;
use crate::observed::{Container, State};
use crate::util::{env_name, short_hash};

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
    let services = model
        .services
        .iter()
        .map(|(name, svc)| {
            (
                name.clone(),
                DesiredService {
                    // Compose's default: services without profiles run.
                    run: svc.profiles.is_empty(),
                    config_hash: compose::config_hash(svc, &config.bind_address),
                    ports: svc.ports.clone(),
                },
            )
        })
        .collect();
    Ok(Desired {
        dir: inputs.dir.to_path_buf(),
        project: project_name(&config.project_name, inputs.dir),
        flavor: inputs.flavor,
        compose_files: inputs.compose_files,
        session_file,
        services,
        ready_timeout_secs: config.ready_timeout_secs,
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
        let base = env_name(service);
        for (i, spec) in c.declared_ports().iter().enumerate() {
            let Some(port) = c.host_port(spec) else {
                continue;
            };
            let name = if i == 0 {
                format!("{base}_PORT")
            } else if spec.protocol == "tcp" {
                format!("{base}_{}_PORT", spec.container_port)
            } else {
                format!(
                    "{base}_{}_{}_PORT",
                    spec.container_port,
                    spec.protocol.to_uppercase()
                )
            };
            vars.push((name, port.to_string()));
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
