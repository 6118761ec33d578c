//! `session.config.*` text → validated [`Config`]. The caller reads the file (and, for
//! `.mjs`/`.js`, asks node for its JSON); this module only parses and validates.
//! (About a third of this file is its unit tests; the parser itself stays small.)

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Problem, Result};

pub mod module_key;

/// File names looked up, in order, in the session directory.
pub const CONFIG_FILES: &[&str] = &[
    "session.config.yaml",
    "session.config.yml",
    "session.config.json",
    "session.config.mjs",
    "session.config.js",
];

/// How a config file's text is turned into data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    /// An ES module; its default export is printed as JSON by node.
    Module,
}

impl Format {
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            Some("mjs" | "js") => Format::Module,
            _ => Format::Yaml,
        }
    }
}

/// `composeFile` accepts one file or a list.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The file as written, every key optional. Unknown keys are errors.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    /// Prefix of the Compose project name. Default: the main checkout's directory name.
    pub project_name: Option<String>,
    /// Where worktrees are created, relative to the main checkout. Never inside a `.git`.
    #[serde(default, deserialize_with = "bounds::sessions_dir")]
    pub sessions_dir: Option<String>,
    /// Compose profiles holding app services.
    pub apps: Option<Vec<String>>,
    /// Env files copied into new worktrees, their DATABASE_URL rewritten.
    pub env_files: Option<Vec<String>>,
    /// Commands run after the session is ready.
    pub setup: Option<Vec<String>>,
    /// Per app directory: variables written to `<app>/.env.session`.
    pub app_env: Option<BTreeMap<String, BTreeMap<String, String>>>,
    /// Host address published ports bind to. Default `127.0.0.1`.
    pub bind_address: Option<String>,
    /// The user's compose file(s). Default: what Compose itself looks for.
    pub compose_file: Option<OneOrMany>,
    /// Seconds to wait for services to become ready. Default 120, range
    /// [`bounds::READY_TIMEOUT`].
    #[serde(default, deserialize_with = "bounds::ready_timeout")]
    pub ready_timeout: Option<u64>,
    /// Keys rewritten in every `envFiles` file, as templates over the session variables.
    pub env_rewrite: Option<BTreeMap<String, String>>,
    /// Gitignored paths that are reproducible (dependency and build directories): deleted with
    /// a worktree without counting as work. Gitignore syntax.
    pub disposable: Option<Vec<String>>,
    /// Volume keys whose fixed `name:` is kept, shared by every session (never removed).
    pub share_volumes: Option<Vec<String>>,
    /// One-shot services (besides those another waits for with
    /// `condition: service_completed_successfully`): done when they exited 0.
    pub jobs: Option<Vec<String>>,
    /// The original tool's list of services to expose (`{name, internalPort}`): accepted,
    /// no longer needed (every port the compose file publishes gets a random host port).
    pub services: Option<Vec<OriginalService>>,
    /// The original tool's port allocation (`portBase`, `ports`): accepted, no longer used
    /// (Docker assigns random free ports).
    pub port_base: Option<serde_json::Value>,
    pub ports: Option<serde_json::Value>,
    /// IPv4 range (CIDR) session networks get their subnets from; `none` leaves subnets to
    /// Docker's pools. Default [`crate::subnet::DEFAULT_POOL`]. Private ranges only.
    #[serde(default, deserialize_with = "bounds::subnet_pool")]
    pub subnet_pool: Option<String>,
    /// Gitignored files and directories of the main checkout copied into every new worktree
    /// (with `.worktreeinclude`). Gitignore syntax.
    pub copy: Option<Vec<String>>,
    /// A directory holding the session (or plain Compose project) whose volumes a new
    /// session's volumes start as copies of, relative to the main checkout.
    pub data_from: Option<String>,
    /// Default memory and CPU limits of every service that sets none of its own.
    pub resources: Option<RawResources>,
    /// How many sessions of this repository may run at once (`create`/`start`/`apply`
    /// refuse beyond it).
    pub max_running: Option<u64>,
    /// The local reverse proxy's names for the session's web ports.
    pub proxy: Option<RawProxy>,
}

/// `proxy: {enabled, domain, https}`, every key optional.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProxy {
    /// Names through the proxy (default true); false: direct URLs only.
    pub enabled: Option<bool>,
    /// The domain names end in (default `localhost`).
    pub domain: Option<String>,
    /// `https://` names with a local CA (default false).
    pub https: Option<bool>,
}

/// The proxy settings with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    pub enabled: bool,
    /// Lowercase, a valid DNS name.
    pub domain: String,
    pub https: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            enabled: true,
            domain: "localhost".into(),
            https: false,
        }
    }
}

/// `resources` as written: `memory` as `2g`/`512m` or bytes, `cpus` as a number.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    pub memory: Option<serde_json::Value>,
    pub cpus: Option<serde_json::Value>,
}

/// Default limits for services that set none of their own (`resources`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<u64>,
    /// Billionths of a CPU (Docker's `NanoCpus`).
    pub nano_cpus: Option<u64>,
}

/// The smallest memory limit Docker accepts (6 MiB).
pub const MIN_MEMORY: u64 = 6 << 20;
/// The largest memory limit accepted (4 TiB).
pub const MAX_MEMORY: u64 = 4 << 40;
/// `cpus` bounds, in billionths of a CPU: 0.01 to 1024.
pub const MIN_NANO_CPUS: u64 = 10_000_000;
pub const MAX_NANO_CPUS: u64 = 1024 * 1_000_000_000;
/// `maxRunning` bounds.
pub const MAX_RUNNING: u64 = 1000;

/// `2g`, `512m`, `1.5G`, `1024k`, `100000b`, or a number of bytes, as bytes (powers of 1024,
/// as Docker reads them); `None` when it is none of these.
pub fn parse_memory(v: &serde_json::Value) -> Option<u64> {
    let text = match v {
        serde_json::Value::Number(n) => return n.as_u64(),
        serde_json::Value::String(s) => s.trim().to_ascii_lowercase(),
        _ => return None,
    };
    let text = text
        .strip_suffix('b')
        .filter(|t| !t.is_empty())
        .unwrap_or(&text);
    let (num, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let bytes = n * scale as f64;
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

fn parse_cpus(v: &serde_json::Value) -> Option<u64> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (0.0..1e9).contains(&n).then(|| (n * 1e9).round() as u64)
}

fn resources(raw: Option<RawResources>, file: &str) -> Result<Resources> {
    let Some(raw) = raw else {
        return Ok(Resources::default());
    };
    let memory = match &raw.memory {
        None => None,
        Some(v) => match parse_memory(v).filter(|b| (MIN_MEMORY..=MAX_MEMORY).contains(b)) {
            Some(b) => Some(b),
            None => {
                return Err(Error::config(
                    file,
                    format!(
                        "resources.memory `{}` is not a size from 6m to 4t",
                        text_of(v)
                    ),
                )
                .with_hint(
                    "write a size such as 512m or 2g (powers of 1024), or a number of bytes",
                ))
            }
        },
    };
    let nano_cpus = match &raw.cpus {
        None => None,
        Some(v) => match parse_cpus(v).filter(|n| (MIN_NANO_CPUS..=MAX_NANO_CPUS).contains(n)) {
            Some(n) => Some(n),
            None => {
                return Err(Error::config(
                    file,
                    format!(
                        "resources.cpus `{}` is not a number from 0.01 to 1024",
                        text_of(v)
                    ),
                )
                .with_hint("write the CPUs a service may use, e.g. 1.5"))
            }
        },
    };
    Ok(Resources { memory, nano_cpus })
}

fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An entry of the original tool's `services` list.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OriginalService {
    pub name: String,
    pub internal_port: Option<u16>,
}

/// Reproducible dependency and build directories: what a worktree may lose without losing work.
pub const DEFAULT_DISPOSABLE: &[&str] = &[
    "node_modules/",
    ".venv/",
    "venv/",
    "target/",
    "dist/",
    "build/",
    ".next/",
    "__pycache__/",
    ".pytest_cache/",
    ".turbo/",
    ".cache/",
];

/// A validated config with every default applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub project_name: String,
    pub sessions_dir: PathBuf,
    pub apps: Vec<String>,
    pub env_files: Vec<String>,
    pub setup: Vec<String>,
    pub app_env: BTreeMap<String, BTreeMap<String, String>>,
    pub bind_address: String,
    /// `None`: look for the names Compose looks for.
    pub compose_files: Option<Vec<String>>,
    pub ready_timeout_secs: u64,
    pub env_rewrite: BTreeMap<String, String>,
    /// Ignored paths deleted with a worktree without counting as work (DESIGN §6).
    pub disposable: Vec<String>,
    /// Volume keys whose fixed `name:` is shared by every session (`shareVolumes`).
    pub share_volumes: Vec<String>,
    /// Services the config declares as one-shot jobs.
    pub jobs: Vec<String>,
    /// The original tool's `services` entries, checked against the compose file later.
    pub original_services: Vec<OriginalService>,
    /// Keys that are accepted but no longer do anything, with why (printed as warnings).
    pub warnings: Vec<String>,
    /// Where session networks get their subnets (`None`: Docker's pools, `subnetPool: none`).
    pub subnet_pool: Option<crate::subnet::Net>,
    /// Gitignored paths copied into a new worktree (besides `.worktreeinclude`).
    pub copy: Vec<String>,
    /// Where a new session's volumes are copied from (absolute; `--data-from` overrides).
    pub data_from: Option<PathBuf>,
    /// Default limits of services that set none (`resources`).
    pub resources: Resources,
    /// `maxRunning`: how many sessions of the repository may run at once.
    pub max_running: Option<u64>,
    /// The proxy's names for the session (`proxy`).
    pub proxy: ProxyConfig,
    /// The file this came from, if any.
    pub source: Option<PathBuf>,
}

/// Parses config text. `path` is only used to name the file in diagnostics.
pub fn parse(text: &str, path: &Path, format: Format) -> Result<RawConfig> {
    let name = path.display().to_string();
    match format {
        Format::Yaml => {
            if text.trim().is_empty() {
                return Ok(RawConfig::default());
            }
            serde_saphyr::from_str::<RawConfig>(text).map_err(|e| {
                yaml_error(&e, text, &name)
                    .with_hint("fix the config file; the keys are listed in the README")
            })
        }
        Format::Json => {
            serde_json::from_str::<RawConfig>(text).map_err(|e| json_error(&e, text, &name))
        }
        // The JSON was printed by node: its positions are not in the user's file.
        Format::Module => {
            serde_json::from_str::<RawConfig>(text).map_err(|e| module_error(&e, text, &name))
        }
    }
}

/// An error in a module's default export: no position (the JSON is node's, not the user's
/// file), but the key it is about, found by checking each top-level key on its own.
fn module_error(e: &serde_json::Error, text: &str, name: &str) -> Error {
    let whole = strip_json_position(&e.to_string());
    let key = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().find_map(|(k, v)| {
            let one = serde_json::Value::Object([(k.clone(), v)].into_iter().collect());
            serde_json::from_value::<RawConfig>(one)
                .err()
                .map(|e| (k, e))
        }),
        _ => None,
    };
    let message = match key {
        Some((k, e)) if !whole.contains(&format!("`{k}`")) => {
            format!("key `{k}`: {}", strip_json_position(&e.to_string()))
        }
        _ => whole,
    };
    Error::config(name, message)
        .with_hint("fix the default export of the config module; the keys are listed in the README")
}

fn json_error(e: &serde_json::Error, text: &str, name: &str) -> Error {
    let message = strip_json_position(&e.to_string());
    let offset = offset_of(text, e.line(), e.column());
    let report = miette::miette!(
        labels = vec![miette::LabeledSpan::at_offset(offset, message.clone())],
        "{message}"
    )
    .with_source_code(miette::NamedSource::new(name, text.to_string()));
    Error::from(Problem::Config {
        file: name.to_string(),
        at: Some((e.line(), e.column())),
        message,
        diagnostic: Some(Box::new(report)),
    })
    .with_hint("fix the config file; the keys are listed in the README")
}

/// A YAML parse or type error as one sentence with `file:line:col`, plus the snippet.
pub(crate) fn yaml_error(e: &serde_saphyr::Error, text: &str, name: &str) -> Error {
    Error::from(Problem::Config {
        file: name.to_string(),
        at: e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize)),
        message: first_line(&strip_location(&e.to_string())).to_string(),
        diagnostic: Some(Box::new(serde_saphyr::miette::to_miette_report(
            e, text, name,
        ))),
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// serde-saphyr prefixes "line L column C: "; we print the location ourselves.
fn strip_location(s: &str) -> String {
    let s = s.strip_prefix("error: ").unwrap_or(s);
    match s.find(": ") {
        Some(i) if s.starts_with("line ") => s[i + 2..].to_string(),
        _ => s.to_string(),
    }
}

fn strip_json_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Gives a value error of [`resolve`] the position of the key it names (its message starts
/// with the key's path, e.g. `resources.memory` or `maxRunning`) in the file's `text`, YAML
/// or JSON; a module's text is node's output, not the user's file, so it gets none.
pub fn locate(e: Error, text: &str, format: Format) -> Error {
    let Problem::Config {
        at: None, message, ..
    } = e.problem()
    else {
        return e;
    };
    let key = message.split([' ', ':']).next().unwrap_or("");
    if format == Format::Module
        || key.is_empty()
        || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return e;
    }
    match key_position(text, key) {
        Some((line, column)) => e.at(line, column),
        None => e,
    }
}

/// The 1-based line and column of the last component of the dotted `key` path: each
/// component is looked for (as `name:` or `"name"`) after the previous one.
pub fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    let mut found = None;
    for part in key.split('.') {
        let rest = &text[from..];
        let hit = [format!("\"{part}\""), format!("{part}:")]
            .iter()
            .filter_map(|needle| {
                rest.match_indices(needle.as_str())
                    .find(|(i, _)| {
                        // A whole key: not the tail of a longer name.
                        let before = text[..from + i].chars().next_back();
                        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                    .map(|(i, _)| from + i)
            })
            .min()?;
        found = Some(hit);
        from = hit + part.len();
    }
    let at = found?;
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    Some((line, column))
}

/// Byte offset of a 1-based line and column.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return (offset + column.saturating_sub(1)).min(text.len());
        }
        offset += l.len();
    }
    text.len()
}

/// Applies defaults and validates values. `main_root` is the repository's main checkout (or the
/// session directory when there is no git repository).
pub fn resolve(raw: RawConfig, main_root: &Path, source: Option<PathBuf>) -> Result<Config> {
    let file = || {
        source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "config".into())
    };
    let project_name = match raw.project_name {
        Some(name) if name.trim().is_empty() => {
            return Err(Error::config(file(), "projectName is empty")
                .with_hint("remove the key to use the directory name, or give a name"))
        }
        Some(name) => name,
        // A bare repository's directory (`shop.git`) names the project without its suffix.
        None => main_root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .map(|n| match n.strip_suffix(".git") {
                Some(stem) if !stem.is_empty() => stem.to_string(),
                _ => n,
            })
            .unwrap_or_else(|| "session".into()),
    };
    let sessions_dir = match raw.sessions_dir {
        Some(ref dir) => main_root.join(dir),
        None => main_root
            .join("..")
            .join(format!("{project_name}-sessions")),
    };
    let bind_address = raw.bind_address.unwrap_or_else(|| "127.0.0.1".into());
    if bind_address.parse::<IpAddr>().is_err() {
        return Err(Error::config(
            file(),
            format!("bindAddress `{bind_address}` is not an IP address"),
        )
        .with_hint("use 127.0.0.1 (the default), 0.0.0.0 or another address of this host"));
    }
    for path in raw
        .env_files
        .iter()
        .flatten()
        .chain(raw.app_env.iter().flat_map(|m| m.keys()))
    {
        if Path::new(path).is_absolute() || path.split('/').any(|c| c == "..") {
            return Err(Error::config(
                file(),
                format!("`{path}` must be a path inside the repository"),
            )
            .with_hint("write paths relative to the repository root, without `..`"));
        }
    }
    for (app, vars) in raw.app_env.iter().flatten() {
        if let Some(key) = vars.keys().find(|k| !is_var_name(k)) {
            return Err(Error::config(
                file(),
                format!("appEnv `{app}` key `{key}` is not a variable name"),
            )
            .with_hint("variable names are letters, digits and `_`, not starting with a digit (e.g. API_URL)"));
        }
    }
    let (app_env, env_files) = generated_files(
        raw.app_env.unwrap_or_default(),
        raw.env_files.unwrap_or_default(),
        &file,
    )?;
    let compose_files = raw.compose_file.map(|c| match c {
        OneOrMany::One(f) => vec![f],
        OneOrMany::Many(v) => v,
    });
    if compose_files.as_ref().is_some_and(|v| v.is_empty()) {
        return Err(Error::config(file(), "composeFile is an empty list")
            .with_hint("name at least one compose file, or remove the key"));
    }
    let mut warnings = vec![];
    let original_services = raw.services.unwrap_or_default();
    if raw.port_base.is_some() || raw.ports.is_some() {
        warnings.push(format!(
            "{}: `portBase` and `ports` no longer do anything: Docker assigns every published port a random free host port (see .env.session)",
            file()
        ));
    }
    let subnet_pool =
        match raw.subnet_pool.as_deref().map(str::trim) {
            Some("none") => None,
            text => {
                let text = text.unwrap_or(crate::subnet::DEFAULT_POOL);
                Some(bounds::pool(text).map_err(|message| {
                    Error::config(file(), message).with_hint(bounds::POOL_HINT)
                })?)
            }
        };
    // Checked again here for configs that never went through `parse` (built in code).
    if let Some(t) = raw.ready_timeout {
        bounds::check_ready_timeout(t).map_err(|m| Error::config(file(), m))?;
    }
    if let Some(d) = raw.sessions_dir.as_deref() {
        bounds::check_sessions_dir(d).map_err(|m| Error::config(file(), m))?;
    }
    let resources = resources(raw.resources, &file())?;
    let max_running = match raw.max_running {
        Some(n) if !(1..=MAX_RUNNING).contains(&n) => {
            return Err(Error::config(
                file(),
                format!("maxRunning {n} is not from 1 to {MAX_RUNNING}"),
            )
            .with_hint(
                "give how many sessions of this repository may run at once, or remove the key",
            ))
        }
        n => n,
    };
    let proxy = raw.proxy.unwrap_or_default();
    let domain = proxy
        .domain
        .map(|d| d.trim().trim_end_matches('.').to_lowercase())
        .unwrap_or_else(|| "localhost".into());
    if !crate::util::is_dns_name(&domain) || domain.len() > 200 {
        return Err(Error::config(
            file(),
            format!("proxy.domain `{domain}` is not a DNS name"),
        )
        .with_hint("use `localhost` (the default) or a domain whose names point at 127.0.0.1, such as dev.example.com"));
    }
    let proxy = ProxyConfig {
        enabled: proxy.enabled.unwrap_or(true),
        domain,
        https: proxy.https.unwrap_or(false),
    };
    Ok(Config {
        resources,
        max_running,
        proxy,
        subnet_pool,
        project_name,
        sessions_dir,
        apps: raw.apps.unwrap_or_default(),
        env_files,
        setup: raw.setup.unwrap_or_default(),
        app_env,
        bind_address,
        compose_files,
        ready_timeout_secs: raw.ready_timeout.unwrap_or(120),
        env_rewrite: raw.env_rewrite.unwrap_or_default(),
        disposable: raw
            .disposable
            .unwrap_or_else(|| DEFAULT_DISPOSABLE.iter().map(|s| s.to_string()).collect()),
        share_volumes: raw.share_volumes.unwrap_or_default(),
        jobs: raw.jobs.unwrap_or_default(),
        original_services,
        warnings,
        copy: raw.copy.unwrap_or_default(),
        data_from: raw.data_from.map(|d| main_root.join(d)),
        source,
    })
}

/// Ranges of the config's durations, counts and addresses (DESIGN §10 "config bounds"),
/// checked while the file is deserialized so that an error carries the file, line and column
/// like any other config error. The README's config section lists the same ranges.
pub mod bounds {
    use std::ops::RangeInclusive;

    use serde::{de::Error as _, Deserialize, Deserializer};

    use crate::subnet::Net;

    /// `readyTimeout`, seconds: 1 s to 24 h. Zero could never be met; a larger value only
    /// hides a service that never becomes ready (and overflowed the deadline).
    pub const READY_TIMEOUT: RangeInclusive<u64> = 1..=86_400;

    /// The ranges `subnetPool` must lie in: RFC 1918 and the shared address space (RFC 6598).
    pub const PRIVATE_RANGES: &[&str] = &[
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
    ];

    pub const POOL_HINT: &str = "write a private IPv4 CIDR such as 10.199.0.0/16 (the default) inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10, or `none` to leave subnets to Docker";

    pub fn check_ready_timeout(secs: u64) -> Result<(), String> {
        if READY_TIMEOUT.contains(&secs) {
            Ok(())
        } else {
            Err(format!(
                "readyTimeout {secs} is out of range: {} to {} seconds (24 hours)",
                READY_TIMEOUT.start(),
                READY_TIMEOUT.end()
            ))
        }
    }

    /// `sessionsDir` may not lead into a `.git` directory: git would see the worktrees as its
    /// own files, and removing one would write into the repository's store.
    pub fn check_sessions_dir(dir: &str) -> Result<(), String> {
        if dir.trim().is_empty() {
            return Err("sessionsDir is empty".into());
        }
        if std::path::Path::new(dir)
            .components()
            .any(|c| c.as_os_str() == ".git")
        {
            return Err(format!("sessionsDir `{dir}` is inside a `.git` directory"));
        }
        Ok(())
    }

    /// A `subnetPool` value other than `none`: an IPv4 CIDR of /28 or larger inside one of the
    /// [`PRIVATE_RANGES`].
    pub fn pool(text: &str) -> Result<Net, String> {
        let smallest = crate::subnet::SMALLEST;
        let pool = Net::parse(text)
            .filter(|p| text.contains('/') && p.prefix <= smallest)
            .ok_or_else(|| {
                format!("subnetPool `{text}` is not an IPv4 range of /{smallest} or larger")
            })?;
        let private = PRIVATE_RANGES
            .iter()
            .filter_map(|r| Net::parse(r))
            .any(|r| r.contains(&pool));
        if !private {
            return Err(format!(
                "subnetPool `{text}` is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)"
            ));
        }
        Ok(pool)
    }

    pub(super) fn ready_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let secs = u64::deserialize(d)?;
        check_ready_timeout(secs).map_err(D::Error::custom)?;
        Ok(Some(secs))
    }

    pub(super) fn sessions_dir<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<String>, D::Error> {
        let dir = String::deserialize(d)?;
        check_sessions_dir(&dir).map_err(D::Error::custom)?;
        Ok(Some(dir))
    }

    pub(super) fn subnet_pool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim() != "none" {
            pool(text.trim()).map_err(D::Error::custom)?;
        }
        Ok(Some(text))
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name every shell and dotenv reader accepts as a variable.
/// The files dev-prism writes in every session, relative to its directory (desired's
/// `ENV_FILE` and compose's `SESSION_FILE`; a test keeps them equal): no appEnv or envFiles
/// entry may name one.
pub const GENERATED: [&str; 2] = [".env.session", "docker-compose.session.yml"];

/// appEnv: per app directory, its variables' templates.
type AppEnv = BTreeMap<String, BTreeMap<String, String>>;

/// `path` without `.` and empty components (`./apps/web/` is `apps/web`).
fn normal(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    parts.join("/")
}

/// The appEnv directories and envFiles, each normalised, refused when two of the files
/// dev-prism writes would be one: an appEnv at the repository root (its `.env.session` is the
/// session's own), two entries naming one file, an envFiles entry naming a generated file.
fn generated_files(
    app_env: AppEnv,
    env_files: Vec<String>,
    file: &dyn Fn() -> String,
) -> Result<(AppEnv, Vec<String>)> {
    // Each file dev-prism writes, and what writes it (for the message).
    let mut written: BTreeMap<String, String> = GENERATED
        .iter()
        .map(|g| (g.to_string(), "dev-prism itself".to_string()))
        .collect();
    let mut apps = BTreeMap::new();
    for (app, vars) in app_env {
        let dir = normal(&app);
        if dir.is_empty() {
            return Err(Error::config(
                file(),
                format!("appEnv `{app}` names the repository root, whose .env.session is the session's own"),
            )
            .with_hint("name an app's directory (e.g. apps/web): the root .env.session already has every port variable"));
        }
        let path = format!("{dir}/{}", GENERATED[0]);
        if let Some(by) = written.insert(path.clone(), format!("appEnv `{app}`")) {
            return Err(Error::config(
                file(),
                format!("appEnv `{app}` writes {path}, which {by} also writes"),
            )
            .with_hint("name each app directory once"));
        }
        apps.insert(dir, vars);
    }
    let mut files = vec![];
    for f in env_files {
        let path = normal(&f);
        if let Some(by) = written.insert(path.clone(), format!("envFiles `{f}`")) {
            return Err(Error::config(
                file(),
                format!("envFiles `{f}` names {path}, which {by} also writes"),
            )
            .with_hint("list each env file once, and none of the files dev-prism writes (.env.session, docker-compose.session.yml, an appEnv directory's .env.session)"));
        }
        files.push(path);
    }
    Ok((apps, files))
}

pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<RawConfig> {
        parse(text, Path::new("session.config.yaml"), Format::Yaml)
    }

    #[test]
    fn zero_config_defaults() {
        let c = resolve(RawConfig::default(), Path::new("/src/shop"), None).unwrap();
        assert_eq!(c.project_name, "shop");
        assert_eq!(c.sessions_dir, Path::new("/src/shop/../shop-sessions"));
        assert_eq!(c.bind_address, "127.0.0.1");
        assert_eq!(c.compose_files, None);
        assert_eq!(c.ready_timeout_secs, 120);
        // A bare repository's directory names the project without `.git`.
        let c = resolve(RawConfig::default(), Path::new("/src/shop.git"), None).unwrap();
        assert_eq!(c.project_name, "shop");
        assert_eq!(c.sessions_dir, Path::new("/src/shop.git/../shop-sessions"));
    }

    #[test]
    fn reads_every_key() {
        let raw = yaml(
            "projectName: myproject\nsessionsDir: ../s\napps: [app, web]\nenvFiles: [apps/a/.env]\n\
             setup: ['pnpm install']\nappEnv:\n  apps/a:\n    DATABASE_URL: 'x${POSTGRES_PORT}'\n\
             bindAddress: 0.0.0.0\ncomposeFile: compose.yaml\nreadyTimeout: 5\n",
        )
        .unwrap();
        let c = resolve(raw, Path::new("/r"), None).unwrap();
        assert_eq!(c.project_name, "myproject");
        assert_eq!(c.apps, vec!["app", "web"]);
        assert_eq!(c.compose_files, Some(vec!["compose.yaml".to_string()]));
        assert_eq!(c.app_env["apps/a"]["DATABASE_URL"], "x${POSTGRES_PORT}");
        assert_eq!(c.ready_timeout_secs, 5);
    }

    #[test]
    fn app_env_keys_must_be_variable_names() {
        for bad in ["$(touch /tmp/x)", "A B", "1A", "A-B", "", "A;B"] {
            let mut vars = BTreeMap::new();
            vars.insert(bad.to_string(), "v".to_string());
            let mut app_env = BTreeMap::new();
            app_env.insert("apps/a".to_string(), vars);
            let raw = RawConfig {
                app_env: Some(app_env),
                ..Default::default()
            };
            let err = resolve(raw, Path::new("/r"), None).unwrap_err();
            assert_eq!(err.kind(), crate::error::Kind::Usage);
            assert!(
                err.message().contains(&format!("key `{bad}`")),
                "{}",
                err.message()
            );
        }
        assert!(is_var_name("_A1") && is_var_name("api_url"));
    }

    #[test]
    fn two_generated_files_may_never_be_one() {
        let resolved = |app_env: &[&str], env_files: &[&str]| {
            let raw = RawConfig {
                app_env: Some(
                    app_env
                        .iter()
                        .map(|a| (a.to_string(), BTreeMap::new()))
                        .collect(),
                ),
                env_files: Some(env_files.iter().map(|f| f.to_string()).collect()),
                ..Default::default()
            };
            resolve(raw, Path::new("/r"), None)
        };
        for (apps, files, says) in [
            (&[".", "apps/a"][..], &[][..], "names the repository root"),
            (&["./"][..], &[][..], "names the repository root"),
            (&["apps/a", "./apps/a/"][..], &[][..], "apps/a/.env.session"),
            (&[][..], &[".env.session"][..], "dev-prism itself"),
            (
                &[][..],
                &["./docker-compose.session.yml"][..],
                "dev-prism itself",
            ),
            (
                &["apps/a"][..],
                &["apps/a/.env.session"][..],
                "appEnv `apps/a`",
            ),
            (&[][..], &[".env", "./.env"][..], "envFiles `.env`"),
        ] {
            let err = resolved(apps, files).unwrap_err();
            assert_eq!(err.kind(), crate::error::Kind::Usage);
            assert!(
                err.message().contains(says),
                "{apps:?} {files:?}: {}",
                err.message()
            );
        }
        // Each entry is kept in its normal form (an exclude pattern names the file git sees).
        let c = resolved(&["./apps/a/", "apps//b"], &["./.env", "apps/a/.env"]).unwrap();
        assert_eq!(c.app_env.keys().collect::<Vec<_>>(), ["apps/a", "apps/b"]);
        assert_eq!(c.env_files, [".env", "apps/a/.env"]);
    }

    #[test]
    fn unknown_key_names_file_line_column() {
        let err = yaml("projectName: x\nprojectname: y\n").unwrap_err();
        assert_eq!(err.kind(), crate::error::Kind::Usage);
        assert!(
            err.message()
                .starts_with("session.config.yaml:2:1: unknown field `projectname`"),
            "{}",
            err.message()
        );
        assert!(err.diagnostic().is_some());
    }

    #[test]
    fn wrong_type_names_line_column() {
        let err = yaml("apps: web\n").unwrap_err();
        assert!(
            err.message().starts_with("session.config.yaml:1:7:"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn json_errors_have_positions() {
        let err = parse(
            "{\n  \"projectName\": 3\n}",
            Path::new("session.config.json"),
            Format::Json,
        )
        .unwrap_err();
        assert!(
            err.message().starts_with("session.config.json:2:"),
            "{}",
            err.message()
        );
        let err = parse("{\"bogus\": 1}", Path::new("c.json"), Format::Json).unwrap_err();
        assert!(
            err.message().contains("unknown field `bogus`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn bad_bind_address() {
        let raw = yaml("bindAddress: localhost\n").unwrap();
        let err = resolve(raw, Path::new("/r"), None).unwrap_err();
        assert!(err.message().contains("bindAddress `localhost`"));
        assert!(err.hint.is_some());
    }

    #[test]
    fn module_errors_name_the_key_without_a_position() {
        let name = Path::new("session.config.mjs");
        let err = parse(
            r#"{"projectName":"x","readyTimeout":"soon"}"#,
            name,
            Format::Module,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "session.config.mjs: key `readyTimeout`: invalid type: string \"soon\", expected u64"
        );
        assert!(err.diagnostic().is_none());
        let err = parse(r#"{"projectName":"x","bogus":1}"#, name, Format::Module).unwrap_err();
        assert!(
            err.message()
                .starts_with("session.config.mjs: unknown field `bogus`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn jobs_key() {
        let c = resolve(yaml("jobs: [migrate]\n").unwrap(), Path::new("/r"), None).unwrap();
        assert_eq!(c.jobs, vec!["migrate"]);
    }

    #[test]
    fn proxy_key() {
        let c = resolve(RawConfig::default(), Path::new("/r"), None).unwrap();
        assert_eq!(c.proxy, ProxyConfig::default());
        assert!(c.proxy.enabled && c.proxy.domain == "localhost" && !c.proxy.https);
        let raw =
            yaml("proxy:\n  enabled: false\n  domain: Dev.Example.com\n  https: true\n").unwrap();
        let c = resolve(raw, Path::new("/r"), None).unwrap();
        assert_eq!(
            c.proxy,
            ProxyConfig {
                enabled: false,
                domain: "dev.example.com".into(),
                https: true
            }
        );
        for bad in ["under_score.com", "a..b", "-x.com", "", "ex ample.com"] {
            let raw = RawConfig {
                proxy: Some(RawProxy {
                    domain: Some(bad.into()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let err = resolve(raw, Path::new("/r"), None).unwrap_err();
            assert!(err.message().contains("proxy.domain"), "{}", err.message());
        }
        let err = yaml("proxy:\n  enabled: true\n  port: 80\n").unwrap_err();
        assert!(
            err.message()
                .starts_with("session.config.yaml:3:3: unknown field `port`"),
            "{}",
            err.message()
        );
        let err = parse(
            r#"{"proxy":{"https":"yes"}}"#,
            Path::new("c.json"),
            Format::Json,
        )
        .unwrap_err();
        assert!(err.message().starts_with("c.json:1:"), "{}", err.message());
    }

    #[test]
    fn offsets() {
        assert_eq!(offset_of("ab\ncd\n", 2, 2), 4);
        assert_eq!(offset_of("ab", 9, 1), 2);
    }

    #[test]
    fn durations_are_bounded_with_file_line_column() {
        for bad in ["0", "86401", "18446744073709551615"] {
            let err = yaml(&format!("projectName: x\nreadyTimeout: {bad}\n")).unwrap_err();
            assert!(
                err.message().starts_with("session.config.yaml:2:")
                    && err.message().contains("readyTimeout")
                    && err.message().contains("out of range: 1 to 86400 seconds"),
                "{}",
                err.message()
            );
            let err = parse(
                &format!("{{\n \"readyTimeout\": {bad}}}"),
                Path::new("session.config.json"),
                Format::Json,
            )
            .unwrap_err();
            assert!(
                err.message().starts_with("session.config.json:2:"),
                "{}",
                err.message()
            );
        }
        for good in [1, 86_400] {
            let raw = yaml(&format!("readyTimeout: {good}\n")).unwrap();
            assert_eq!(
                resolve(raw, Path::new("/r"), None)
                    .unwrap()
                    .ready_timeout_secs,
                good
            );
        }
        // A config built without `parse` is held to the same range.
        let raw = RawConfig {
            ready_timeout: Some(0),
            ..Default::default()
        };
        assert!(resolve(raw, Path::new("/r"), None).is_err());
    }

    #[test]
    fn subnet_pool_must_be_private() {
        for bad in [
            "8.8.0.0/16",
            "127.0.0.0/16",
            "224.0.0.0/16",
            "0.0.0.0/0",
            "10.0.0.0/7",
            "172.32.0.0/16",
            "100.128.0.0/16",
        ] {
            let err = yaml(&format!("projectName: x\nsubnetPool: {bad}\n")).unwrap_err();
            assert!(
                err.message().starts_with("session.config.yaml:2:")
                    && err.message().contains("is not a private range"),
                "{bad}: {}",
                err.message()
            );
        }
        for good in [
            "10.199.0.0/16",
            "172.16.0.0/12",
            "192.168.8.0/24",
            "100.64.0.0/10",
            "none",
        ] {
            let raw = yaml(&format!("subnetPool: {good}\n")).unwrap();
            resolve(raw, Path::new("/r"), None).unwrap();
        }
    }

    #[test]
    fn sessions_dir_never_inside_git() {
        for bad in [".git/sessions", "./.git", "../shop/.git/worktrees/x", ""] {
            let err = yaml(&format!("projectName: x\nsessionsDir: '{bad}'\n")).unwrap_err();
            assert!(
                err.message().starts_with("session.config.yaml:2:")
                    && err.message().contains("sessionsDir"),
                "{bad}: {}",
                err.message()
            );
        }
        yaml("sessionsDir: ../.github-sessions\n").unwrap();
    }

    #[test]
    fn resources_and_max_running_are_bounded() {
        let c = resolve(
            yaml("resources: {memory: 2g, cpus: 1.5}\nmaxRunning: 3\n").unwrap(),
            Path::new("/r"),
            None,
        )
        .unwrap();
        assert_eq!(c.resources.memory, Some(2 << 30));
        assert_eq!(c.resources.nano_cpus, Some(1_500_000_000));
        assert_eq!(c.max_running, Some(3));
        for (text, bytes) in [
            ("512m", 512 << 20),
            ("1.5G", 3 << 29),
            ("7340032", 7 << 20),
            ("64mb", 64 << 20),
        ] {
            assert_eq!(
                parse_memory(&serde_json::json!(text)),
                Some(bytes),
                "{text}"
            );
        }
        assert_eq!(parse_memory(&serde_json::json!(8388608)), Some(8 << 20));
        assert_eq!(parse_memory(&serde_json::json!("2x")), None);
        for (bad, says) in [
            (
                "resources: {memory: 1m}",
                "resources.memory `1m` is not a size from 6m to 4t",
            ),
            ("resources: {memory: lots}", "resources.memory `lots`"),
            (
                "resources: {cpus: 0}",
                "resources.cpus `0` is not a number from 0.01 to 1024",
            ),
            ("resources: {cpus: 5000}", "resources.cpus `5000`"),
            ("maxRunning: 0", "maxRunning 0 is not from 1 to 1000"),
        ] {
            let err = resolve(
                yaml(bad).unwrap(),
                Path::new("/r"),
                Some("/r/session.config.yaml".into()),
            )
            .unwrap_err();
            let text = format!("{err}");
            assert!(text.contains(says), "{bad}: {text}");
            assert!(text.contains("session.config.yaml"), "{bad}: {text}");
        }
        assert!(
            yaml("resources: {disk: 1g}").is_err(),
            "unknown keys are errors"
        );
    }
}
