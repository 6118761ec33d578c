//! The user's compose files → a [`ComposeModel`] (services, published ports, profiles,
//! healthchecks), and the generated `docker-compose.session.yml` built through the YAML
//! serialiser. Pure: the caller reads the files.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::util::short_hash;

/// Names Compose itself looks for, in its order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The generated file, written next to the user's compose file.
pub const SESSION_FILE: &str = "docker-compose.session.yml";

/// Which Compose CLI runs the session; decides the shape of the session file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Compose v2: the session file is layered over the user's files with `ports: !override`.
    V2,
    /// Compose v1: no `!override`; the session file holds the services fully expanded.
    V1,
}

impl Flavor {
    pub fn label(self) -> &'static str {
        match self {
            Flavor::V2 => "v2",
            Flavor::V1 => "v1",
        }
    }

    pub fn from_label(s: &str) -> Option<Flavor> {
        match s {
            "v2" => Some(Flavor::V2),
            "v1" => Some(Flavor::V1),
            _ => None,
        }
    }
}

/// The override file Compose loads by itself next to `file` when no `-f` is given.
pub fn override_candidates(file: &str) -> Vec<String> {
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))
        .unwrap_or(file);
    vec![
        format!("{stem}.override.yaml"),
        format!("{stem}.override.yml"),
    ]
}

/// One published container port of a service.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSpec {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

impl PortSpec {
    pub fn tcp(container_port: u16) -> Self {
        PortSpec {
            container_port,
            protocol: "tcp".into(),
        }
    }

    /// `5432/tcp`, the form used in the `dev-prism.ports` label.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }

    pub fn parse_key(s: &str) -> Option<PortSpec> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        Some(PortSpec {
            container_port: port.parse().ok()?,
            protocol: proto.to_string(),
        })
    }
}

/// A service as the session needs to know it.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub ports: Vec<PortSpec>,
    pub profiles: Vec<String>,
    pub has_healthcheck: bool,
    /// Services this one waits for, with Compose's condition (`service_started` when the
    /// short list form is used).
    pub depends_on: BTreeMap<String, String>,
    /// A one-shot job: done when it exited 0 (see [`ComposeModel::mark_jobs`]).
    pub job: bool,
    /// The URL scheme the service declares (`x-dev-prism: {scheme: http}` or a
    /// `dev-prism.scheme` label).
    pub scheme: Option<String>,
    /// The service's definition with every file merged (for hashing and Compose v1).
    pub raw: Value,
}

/// The user's compose files, merged the way Compose merges `-f` files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComposeModel {
    pub services: BTreeMap<String, Service>,
    /// Top-level keys other than `services` (volumes, networks, `x-…`), merged.
    pub top: Map<String, Value>,
}

/// Reads another compose file named by `include` or `extends.file`, by its path relative to
/// the session directory.
pub type Loader<'a> = &'a dyn Fn(&str) -> Result<String>;

/// Parses and merges compose files given as `(display name, text)`, in `-f` order. Files
/// named by `include` or `extends: {file}` cannot be read here: use [`parse_with`].
pub fn parse(files: &[(String, String)]) -> Result<ComposeModel> {
    parse_with(files, &|name: &str| {
        Err(Error::usage(format!(
            "{name} is referenced but cannot be read here"
        )))
    })
}

impl ComposeModel {
    /// Marks the one-shot jobs: every service another one waits for with
    /// `condition: service_completed_successfully`, plus `extra` (the config's `jobs`). A name
    /// in `extra` that is not a service is an error.
    pub fn mark_jobs(&mut self, extra: &[String]) -> Result<()> {
        for name in extra {
            if !self.services.contains_key(name) {
                return Err(Error::usage(format!(
                    "`jobs` names `{name}`, which is not a service of the compose file"
                ))
                .with_hint(format!(
                    "services are: {}",
                    self.services.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let completed: Vec<String> = self
            .services
            .values()
            .flat_map(|s| s.depends_on.iter())
            .filter(|(_, cond)| cond.as_str() == "service_completed_successfully")
            .map(|(dep, _)| dep.clone())
            .collect();
        for (name, svc) in &mut self.services {
            svc.job = svc.job || completed.contains(name) || extra.contains(name);
        }
        Ok(())
    }
}

/// `service: source` for every bind mount of a host path (short `./src:/app` or `/abs:/x`
/// syntax, or long syntax with `type: bind`): a remote engine mounts its own paths, not these.
pub fn bind_mounts(model: &ComposeModel) -> Vec<String> {
    let mut out = vec![];
    for (name, svc) in &model.services {
        let Some(Value::Array(vols)) = svc.raw.get("volumes") else {
            continue;
        };
        for v in vols {
            let source = match v {
                Value::String(s) => s
                    .split_once(':')
                    .map(|(src, _)| src)
                    .filter(|src| src.starts_with(['.', '/', '~'])),
                Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("bind") => {
                    m.get("source").and_then(Value::as_str)
                }
                _ => None,
            };
            if let Some(src) = source {
                out.push(format!("{name}: {src}"));
            }
        }
    }
    out
}

/// The `-f` arguments: the user's files in order, then the session file (v2); v1 gets only the
/// self-contained session file.
pub fn file_args(user_files: &[String], flavor: Flavor) -> Vec<String> {
    match flavor {
        Flavor::V2 => user_files
            .iter()
            .cloned()
            .chain(std::iter::once(SESSION_FILE.to_string()))
            .collect(),
        Flavor::V1 => vec![SESSION_FILE.to_string()],
    }
}

/// Applies what the config says about the compose file's services: `jobs` marks one-shot
/// services, and the original tool's `services` entries publish a port the compose file does
/// not (one it already publishes needs no entry). Returns the warnings to show: keys that no
/// longer do anything.
pub fn adopt(config: &crate::config::Config, model: &mut ComposeModel) -> Result<Vec<String>> {
    model.mark_jobs(&config.jobs)?;
    let mut warnings = config.warnings.clone();
    let file = config
        .source
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let mut redundant = vec![];
    for entry in &config.original_services {
        let Some(svc) = model.services.get_mut(&entry.name) else {
            warnings.push(format!(
                "{file}: `services` names `{}`, which the compose file does not have; ignored",
                entry.name
            ));
            continue;
        };
        match entry.internal_port.map(PortSpec::tcp) {
            Some(spec) if !svc.ports.contains(&spec) => svc.ports.push(spec),
            _ => redundant.push(entry.name.clone()),
        }
    }
    if !redundant.is_empty() {
        warnings.push(format!(
            "{file}: `services` no longer does anything for {}: every port the compose file publishes gets a random host port; remove the entries",
            redundant.join(", ")
        ));
    }
    Ok(warnings)
}

mod load;
mod ports;
mod session;

pub use load::*;
pub use ports::*;
pub use session::*;

#[cfg(test)]
mod tests;
