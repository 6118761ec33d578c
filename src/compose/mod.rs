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

fn parse_doc(name: &str, text: &str) -> Result<Map<String, Value>> {
    let doc: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            crate::config::yaml_error(&e, text, name)
                .with_hint("fix the compose file; `docker compose config` shows Compose's view")
        })?
    };
    let Value::Object(mut doc) = doc else {
        return Err(
            Error::usage(format!("{name}: a compose file must be a mapping"))
                .with_hint("it should start with `services:`"),
        );
    };
    if let Some(Value::Object(services)) = doc.get_mut("services") {
        services.values_mut().for_each(normalise_service);
    }
    Ok(doc)
}

/// `a/b.yml` relative to the directory of `from` (itself relative to the session directory).
fn relative_to(from: &str, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    match from.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{path}"),
        None => path.to_string(),
    }
}

/// Loads and parses one file with its own `include`s resolved (depth-limited: cycles are an
/// error, as in Compose).
fn load_doc(name: &str, text: &str, load: Loader<'_>, depth: usize) -> Result<Map<String, Value>> {
    if depth > 8 {
        return Err(
            Error::usage(format!("{name}: `include` nests too deep (a cycle?)"))
                .with_hint("check the include chain of your compose files"),
        );
    }
    let mut doc = parse_doc(name, text)?;
    let Some(include) = doc.remove("include") else {
        return Ok(doc);
    };
    let entries: Vec<String> = match include {
        Value::Array(list) => list
            .into_iter()
            .flat_map(|e| match e {
                Value::String(p) => vec![p],
                Value::Object(m) => match m.get("path") {
                    Some(Value::String(p)) => vec![p.clone()],
                    Some(Value::Array(ps)) => ps
                        .iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect(),
                    _ => vec![],
                },
                _ => vec![],
            })
            .collect(),
        _ => {
            return Err(Error::usage(format!("{name}: `include` must be a list"))
                .with_hint("write `include:` followed by `- path/to/compose.yaml` entries"))
        }
    };
    for entry in entries {
        let path = relative_to(name, &entry);
        let included = load_doc(&path, &load(&path)?, load, depth + 1)?;
        // Included services and resources are added; the including file may not redefine them
        // (Compose refuses that too), so existing keys win here.
        for (key, value) in included {
            match (doc.get_mut(&key), value) {
                (Some(Value::Object(mine)), Value::Object(theirs)) => {
                    for (k, v) in theirs {
                        mine.entry(k).or_insert(v);
                    }
                }
                (None, v) => {
                    doc.insert(key, v);
                }
                _ => {}
            }
        }
    }
    Ok(doc)
}

/// Resolves `extends` (same file, or `{file, service}`) into a plain service definition.
fn resolve_extends(
    name: &str,
    services: &Map<String, Value>,
    origin: &str,
    load: Loader<'_>,
    depth: usize,
) -> Result<Value> {
    let def = services
        .get(name)
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let Value::Object(mut def) = def else {
        return Ok(def);
    };
    let Some(ext) = def.remove("extends") else {
        return Ok(Value::Object(def));
    };
    if depth > 8 {
        return Err(Error::usage(format!(
            "service `{name}`: `extends` nests too deep (a cycle?)"
        ))
        .with_hint("check the extends chain"));
    }
    let (file, base) = match &ext {
        Value::String(s) => (None, s.clone()),
        Value::Object(m) => (
            m.get("file").and_then(Value::as_str).map(str::to_string),
            m.get("service")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        _ => (None, String::new()),
    };
    let base_def = match file {
        None => {
            if !services.contains_key(&base) {
                return Err(Error::usage(format!(
                    "service `{name}` extends `{base}`, which does not exist"
                ))
                .with_hint("fix `extends` in the compose file"));
            }
            resolve_extends(&base, services, origin, load, depth + 1)?
        }
        Some(f) => {
            let path = relative_to(origin, &f);
            let doc = load_doc(&path, &load(&path)?, load, depth + 1)?;
            let other = match doc.get("services") {
                Some(Value::Object(m)) if m.contains_key(&base) => m.clone(),
                _ => {
                    return Err(Error::usage(format!(
                        "service `{name}` extends `{base}` from {path}, which has no such service"
                    ))
                    .with_hint("fix `extends` in the compose file"))
                }
            };
            resolve_extends(&base, &other, &path, load, depth + 1)?
        }
    };
    let Value::Object(mut merged) = base_def else {
        return Ok(Value::Object(def));
    };
    // Compose's merge rules at service level (ports append, mappings merge, scalars replace).
    merge(&mut merged, def, &format!("services.{name}"));
    Ok(Value::Object(merged))
}

/// Parses and merges compose files given as `(display name, text)`, in `-f` order, reading
/// files named by `include` and `extends: {file}` through `load`. Both are resolved here so
/// the model sees every service (and its ports) that Compose will run.
pub fn parse_with(files: &[(String, String)], load: Loader<'_>) -> Result<ComposeModel> {
    let mut merged = Map::new();
    for (name, text) in files {
        merge(&mut merged, load_doc(name, text, load, 0)?, "");
    }
    // `extends.file` is relative to the first file's directory, as Compose resolves it.
    let origin = files.first().map(|(n, _)| n.clone()).unwrap_or_default();
    if let Some(Value::Object(services)) = merged.get("services").cloned() {
        let mut resolved = Map::new();
        for name in services.keys() {
            resolved.insert(
                name.clone(),
                resolve_extends(name, &services, &origin, load, 0)?,
            );
        }
        merged.insert("services".into(), Value::Object(resolved));
    }
    let services_value = merged.remove("services").unwrap_or(Value::Null);
    let services_map = match services_value {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => {
            return Err(
                Error::usage("the compose file's `services` is not a mapping")
                    .with_hint("write `services:` followed by one entry per service"),
            )
        }
    };
    if services_map.is_empty() {
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        return Err(
            Error::usage(format!("{} defines no services", names.join(", ")))
                .with_hint("add at least one service under `services:`"),
        );
    }
    let mut services = BTreeMap::new();
    for (name, raw) in services_map {
        check_service_name(&name)?;
        let raw = if raw.is_null() {
            Value::Object(Map::new())
        } else {
            raw
        };
        let ports = match raw.get("ports") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(list)) => {
                let mut out: Vec<PortSpec> = vec![];
                for p in list {
                    let spec = parse_port(p).map_err(|why| {
                        Error::usage(format!("service `{name}`: port {p} {why}"))
                            .with_hint("write ports as \"HOST:CONTAINER\" or \"CONTAINER\", one port per entry")
                    })?;
                    if !out.contains(&spec) {
                        out.push(spec);
                    }
                }
                out
            }
            Some(_) => {
                return Err(
                    Error::usage(format!("service `{name}`: `ports` is not a list"))
                        .with_hint("write `ports:` followed by `- \"5432\"` entries"),
                )
            }
        };
        let profiles = match raw.get("profiles") {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        };
        let has_healthcheck = match raw.get("healthcheck") {
            Some(Value::Object(h)) => {
                h.get("disable") != Some(&Value::Bool(true))
                    && h.get("test").and_then(|t| t.get(0)).and_then(Value::as_str) != Some("NONE")
            }
            _ => false,
        };
        let depends_on = depends_on(&raw);
        let scheme = raw
            .get("x-dev-prism")
            .and_then(|x| x.get("scheme"))
            .or_else(|| raw.get("labels").and_then(|l| l.get(labels::SCHEME)))
            .and_then(Value::as_str)
            .map(str::to_string);
        services.insert(
            name,
            Service {
                ports,
                profiles,
                has_healthcheck,
                depends_on,
                job: false,
                scheme,
                raw,
            },
        );
    }
    let mut model = ComposeModel {
        services,
        top: merged,
    };
    model.mark_jobs(&[])?;
    Ok(model)
}

/// `depends_on` as a map of service → condition (the list form means `service_started`).
fn depends_on(raw: &Value) -> BTreeMap<String, String> {
    match raw.get("depends_on") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|s| (s.to_string(), "service_started".to_string()))
            .collect(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let cond = v
                    .get("condition")
                    .and_then(Value::as_str)
                    .unwrap_or("service_started");
                (k.clone(), cond.to_string())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
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

/// Compose's own rule for service names.
fn check_service_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(
            Error::usage(format!("service name `{name}` is not valid for Compose")).with_hint(
                "use letters, digits, `_`, `.` and `-`, starting with a letter or digit",
            ),
        )
    }
}

/// `environment` and `labels` may be lists of `K=V`; make them mappings so files merge by key.
fn normalise_service(def: &mut Value) {
    let Value::Object(map) = def else { return };
    for key in ["environment", "labels"] {
        if let Some(Value::Array(list)) = map.get(key) {
            let mut out = Map::new();
            for item in list {
                if let Some(s) = item.as_str() {
                    match s.split_once('=') {
                        Some((k, v)) => out.insert(k.to_string(), Value::String(v.to_string())),
                        None => out.insert(s.to_string(), Value::Null),
                    };
                }
            }
            map.insert(key.to_string(), Value::Object(out));
        }
    }
}

/// Compose's multi-file merge: mappings merge by key; these sequences append; others replace.
fn merge(base: &mut Map<String, Value>, over: Map<String, Value>, path: &str) {
    const APPEND: &[&str] = &["ports", "expose", "dns", "dns_search", "tmpfs", "volumes"];
    for (key, value) in over {
        let in_service = path.starts_with("services.") && path.matches('.').count() == 1;
        match (base.get_mut(&key), value) {
            (Some(Value::Object(b)), Value::Object(o)) => {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                merge(b, o, &sub);
            }
            (Some(Value::Array(b)), Value::Array(o))
                if in_service && APPEND.contains(&key.as_str()) =>
            {
                for item in o {
                    if !b.contains(&item) {
                        b.push(item);
                    }
                }
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// One `ports` entry → the container side. The host side is deliberately ignored: the session
/// always publishes on a random host port.
pub fn parse_port(value: &Value) -> std::result::Result<PortSpec, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(PortSpec::tcp)
            .ok_or_else(|| "is not a port number".into()),
        Value::String(s) => parse_port_str(s),
        Value::Object(m) => {
            let target = match m.get("target") {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or("has no valid `target`")?;
            let protocol = m
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_string();
            check_protocol(&protocol)?;
            Ok(PortSpec {
                container_port: target,
                protocol,
            })
        }
        _ => Err("is not a port".into()),
    }
}

fn check_protocol(p: &str) -> std::result::Result<(), String> {
    match p {
        "tcp" | "udp" => Ok(()),
        other => Err(format!(
            "uses protocol `{other}`; only tcp and udp are supported"
        )),
    }
}

fn parse_port_str(s: &str) -> std::result::Result<PortSpec, String> {
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((spec, proto)) => (spec, proto.to_string()),
        None => (s, "tcp".to_string()),
    };
    check_protocol(&protocol)?;
    // The container port is whatever follows the last `:` outside IPv6 brackets.
    let container = match spec.rfind(']') {
        Some(close) => spec[close..].rsplit(':').next().unwrap_or(""),
        None => spec.rsplit(':').next().unwrap_or(""),
    };
    if container.contains('$') {
        return Err(
            "uses a variable for the container port, which dev-prism cannot resolve".into(),
        );
    }
    if container.contains('-') {
        return Err(
            "is a port range; a session publishes single ports so each can be named".into(),
        );
    }
    container
        .parse::<u16>()
        .ok()
        .filter(|n| *n > 0)
        .map(|container_port| PortSpec {
            container_port,
            protocol,
        })
        .ok_or_else(|| "has no valid container port".into())
}

/// Everything the session file says about the session besides the user's services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFileContext<'a> {
    /// The canonical session directory.
    pub dir: &'a str,
    pub created_at: &'a str,
    pub bind_address: &'a str,
    pub flavor: Flavor,
    /// The repository's main checkout, when the session belongs to one.
    pub repo_root: Option<&'a str>,
    /// The subnet of the project's default network (see [`crate::subnet`]).
    pub subnet: Option<crate::subnet::Net>,
    /// Volume keys whose fixed `name:` stays shared (`shareVolumes`).
    pub share_volumes: &'a [String],
}

/// Labels every container of the session carries (a service adds its own on top).
pub mod labels {
    pub const MANAGED: &str = "dev-prism.managed";
    pub const WORKING_DIR: &str = "dev-prism.working_dir";
    pub const SESSION_ID: &str = "dev-prism.session_id";
    /// On a volume: shared by every session (`shareVolumes`); a destroy never removes it.
    pub const SHARED: &str = "dev-prism.shared";
    pub const SERVICE: &str = "dev-prism.service";
    pub const CREATED_AT: &str = "dev-prism.created_at";
    /// Hash of the service's definition: a changed compose file shows as drift.
    pub const CONFIG_HASH: &str = "dev-prism.config_hash";
    /// The service's published container ports in file order (`5432/tcp,80/tcp`), so env
    /// files can be rendered from Docker's answer alone.
    pub const PORTS: &str = "dev-prism.ports";
    /// `v2` or `v1`: the Compose flavour the session file was written for.
    pub const COMPOSE: &str = "dev-prism.compose";
    pub const REPO_ROOT: &str = "dev-prism.repo_root";
    /// `true` on a one-shot job's containers (done when exited 0).
    pub const JOB: &str = "dev-prism.job";
    /// The URL scheme of a service's ports (`http`, `https`), declared by the user.
    pub const SCHEME: &str = "dev-prism.scheme";
    /// Compose's own project label.
    pub const PROJECT: &str = "com.docker.compose.project";
}

/// The hash stored in [`labels::CONFIG_HASH`].
pub fn config_hash(service: &Service, bind_address: &str) -> String {
    let mut text = serde_json::to_string(&service.raw).unwrap_or_default();
    text.push('\n');
    text.push_str(bind_address);
    short_hash(text.as_bytes(), 12)
}

fn published(bind: &str, port: &PortSpec) -> String {
    let host = if bind.contains(':') {
        format!("[{bind}]")
    } else {
        bind.to_string()
    };
    let proto = if port.protocol == "tcp" {
        String::new()
    } else {
        format!("/{}", port.protocol)
    };
    format!("{host}::{}{proto}", port.container_port)
}

/// A value dev-prism writes into the session file, escaped so Compose's interpolation (which
/// applies to every file it reads) hands it to the container exactly: `$` becomes `$$`. The
/// user's own values copied into a v1 session file are not escaped: Compose interpolates them
/// as it would in the user's file.
fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

/// The session's labels for a service, escaped for Compose (see [`literal`]).
fn service_labels(
    name: &str,
    service: &Service,
    ctx: &SessionFileContext<'_>,
) -> BTreeMap<String, String> {
    raw_service_labels(name, service, ctx)
        .into_iter()
        .map(|(k, v)| (k, literal(&v)))
        .collect()
}

fn raw_service_labels(
    name: &str,
    service: &Service,
    ctx: &SessionFileContext<'_>,
) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(labels::MANAGED.into(), "true".into());
    l.insert(labels::WORKING_DIR.into(), ctx.dir.into());
    l.insert(labels::SESSION_ID.into(), ctx.dir.into());
    l.insert(labels::SERVICE.into(), name.into());
    l.insert(labels::CREATED_AT.into(), ctx.created_at.into());
    l.insert(
        labels::CONFIG_HASH.into(),
        config_hash(service, ctx.bind_address),
    );
    l.insert(
        labels::PORTS.into(),
        service
            .ports
            .iter()
            .map(PortSpec::key)
            .collect::<Vec<_>>()
            .join(","),
    );
    l.insert(labels::COMPOSE.into(), ctx.flavor.label().into());
    if let Some(root) = ctx.repo_root {
        l.insert(labels::REPO_ROOT.into(), root.into());
    }
    if service.job {
        l.insert(labels::JOB.into(), "true".into());
    }
    if let Some(scheme) = &service.scheme {
        l.insert(labels::SCHEME.into(), scheme.clone());
    }
    l
}

#[derive(Serialize)]
struct LayeredService {
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<serde_saphyr::Tagged<Vec<String>>>,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct LayeredDoc {
    services: BTreeMap<String, LayeredService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    networks: Option<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    volumes: Map<String, Value>,
}

/// What the session changes in the user's top-level volumes: a volume with a fixed `name:`
/// gets a per-session name (as a fixed host port gets a random one), so sessions never share
/// data by accident; one listed in `shareVolumes` keeps its name and is labelled shared (never
/// removed by a destroy). `external` volumes are the user's and left alone.
fn volume_overrides(model: &ComposeModel, ctx: &SessionFileContext<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(Value::Object(volumes)) = model.top.get("volumes") else {
        return out;
    };
    for (key, def) in volumes {
        let external = def
            .get("external")
            .is_some_and(|e| e != &Value::Bool(false));
        let Some(name) = def
            .get("name")
            .and_then(Value::as_str)
            .filter(|_| !external)
        else {
            continue;
        };
        let change = if ctx.share_volumes.contains(key) {
            serde_json::json!({"labels": {labels::SHARED: "true"}})
        } else {
            serde_json::json!({"name": per_session_volume_name(name, ctx.dir)})
        };
        out.insert(key.clone(), change);
    }
    out
}

/// The name a volume with a fixed `name:` gets in the session in `dir`.
pub fn per_session_volume_name(name: &str, dir: &str) -> String {
    format!("{name}-{}", crate::util::short_hash(dir.as_bytes(), 8))
}

/// `networks: {default: {ipam: {config: [{subnet: …}]}}}`; v1 merges it into the user's
/// own settings of the default network (labels, driver options), v2 lets Compose merge it.
fn default_network(subnet: crate::subnet::Net, mut doc_networks: Map<String, Value>) -> Value {
    let ipam = serde_json::json!({"config": [{"subnet": subnet.to_string()}]});
    match doc_networks.get_mut("default") {
        Some(Value::Object(def)) => {
            def.insert("ipam".into(), ipam);
        }
        _ => {
            doc_networks.insert("default".into(), serde_json::json!({ "ipam": ipam }));
        }
    }
    Value::Object(doc_networks)
}

const HEADER: &str = "# Generated by dev-prism. Do not edit: `dev-prism apply` rewrites it.\n";

/// The text of `docker-compose.session.yml`.
pub fn session_file(model: &ComposeModel, ctx: &SessionFileContext<'_>) -> Result<String> {
    let body = match ctx.flavor {
        Flavor::V2 => {
            let services = model
                .services
                .iter()
                .map(|(name, svc)| {
                    let ports = (!svc.ports.is_empty()).then(|| {
                        serde_saphyr::Tagged(
                            svc.ports
                                .iter()
                                .map(|p| published(ctx.bind_address, p))
                                .collect(),
                            Some("!override".to_string()),
                        )
                    });
                    (
                        name.clone(),
                        LayeredService {
                            ports,
                            labels: service_labels(name, svc, ctx),
                        },
                    )
                })
                .collect();
            let networks = ctx.subnet.map(|n| default_network(n, Map::new()));
            let volumes = volume_overrides(model, ctx);
            serde_saphyr::to_string(&LayeredDoc {
                services,
                networks,
                volumes,
            })
        }
        Flavor::V1 => {
            // `include` and `extends` were resolved into the model: everything is inline here.
            let mut doc = model.top.clone();
            let mut services = Map::new();
            for (name, svc) in &model.services {
                let Value::Object(mut def) = svc.raw.clone() else {
                    continue;
                };
                // dev-prism's own extension: already turned into labels.
                def.remove("x-dev-prism");
                if svc.ports.is_empty() {
                    def.remove("ports");
                } else {
                    def.insert(
                        "ports".into(),
                        Value::Array(
                            svc.ports
                                .iter()
                                .map(|p| Value::String(published(ctx.bind_address, p)))
                                .collect(),
                        ),
                    );
                }
                let mut merged_labels = match def.remove("labels") {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                for (k, v) in service_labels(name, svc, ctx) {
                    merged_labels.insert(k, Value::String(v));
                }
                def.insert("labels".into(), Value::Object(merged_labels));
                services.insert(name.clone(), Value::Object(def));
            }
            doc.insert("services".into(), Value::Object(services));
            if let Some(subnet) = ctx.subnet {
                let networks = match doc.remove("networks") {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                doc.insert("networks".into(), default_network(subnet, networks));
            }
            for (key, change) in volume_overrides(model, ctx) {
                let volumes = doc
                    .entry("volumes")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Some(Value::Object(def)), Value::Object(change)) =
                    (volumes.get_mut(&key), change)
                {
                    def.extend(change);
                }
            }
            serde_saphyr::to_string(&doc)
        }
    }
    .map_err(|e| Error::failure(format!("could not serialise the session compose file: {e}")))?;
    Ok(format!("{HEADER}{body}"))
}

/// Reads the `created_at` label back out of a session file written earlier, so rewriting the
/// The value of a label in a session file written earlier (its first occurrence: every
/// service carries the session-wide labels alike).
pub fn label_in(session_file_text: &str, label: &str) -> Option<String> {
    let key = format!("{label}: ");
    session_file_text.lines().find_map(|l| {
        let v = l.trim().strip_prefix(&key)?;
        Some(v.trim_matches('"').replace("$$", "$"))
    })
}

/// The services a session file written earlier lists (empty when it cannot be read).
pub fn services_in_session_file(text: &str) -> Vec<String> {
    serde_saphyr::from_str::<Value>(text)
        .ok()
        .and_then(|v| {
            v.get("services")?
                .as_object()
                .map(|m| m.keys().cloned().collect())
        })
        .unwrap_or_default()
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

#[cfg(test)]
mod tests;
