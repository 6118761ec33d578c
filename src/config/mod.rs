//! `session.config.*` text → validated [`Config`]. The caller reads the file (and, for
//! `.mjs`/`.js`, asks node for its JSON); this module only parses and validates.
//! (About a third of this file is its unit tests; the parser itself stays small.)

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Problem, Result};

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
    /// Where worktrees are created, relative to the main checkout.
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
    /// Seconds to wait for services to become ready. Default 120.
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
    /// Docker's pools. Default [`crate::subnet::DEFAULT_POOL`].
    pub subnet_pool: Option<String>,
    /// Gitignored files and directories of the main checkout copied into every new worktree
    /// (with `.worktreeinclude`). Gitignore syntax.
    pub copy: Option<Vec<String>>,
    /// A directory holding the session (or plain Compose project) whose volumes a new
    /// session's volumes start as copies of, relative to the main checkout.
    pub data_from: Option<String>,
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
        None => main_root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "session".into()),
    };
    let sessions_dir = match raw.sessions_dir {
        Some(dir) => main_root.join(dir),
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
    let subnet_pool = match raw.subnet_pool.as_deref().map(str::trim) {
        Some("none") => None,
        text => {
            let text = text.unwrap_or(crate::subnet::DEFAULT_POOL);
            let pool = crate::subnet::Net::parse(text)
                .filter(|p| text.contains('/') && p.prefix <= crate::subnet::SMALLEST);
            match pool {
                Some(p) => Some(p),
                None => {
                    return Err(Error::config(
                        file(),
                        format!(
                            "subnetPool `{text}` is not an IPv4 range of /{} or larger",
                            crate::subnet::SMALLEST
                        ),
                    )
                    .with_hint(format!(
                    "write a CIDR such as {} (the default), or `none` to leave subnets to Docker",
                    crate::subnet::DEFAULT_POOL
                )))
                }
            }
        }
    };
    let proxy = raw.proxy.unwrap_or_default();
    let domain = proxy
        .domain
        .map(|d| d.trim().trim_end_matches('.').to_lowercase())
        .unwrap_or_else(|| "localhost".into());
    if !crate::proxy::names::is_dns_name(&domain) || domain.len() > 200 {
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
        proxy,
        subnet_pool,
        project_name,
        sessions_dir,
        apps: raw.apps.unwrap_or_default(),
        env_files: raw.env_files.unwrap_or_default(),
        setup: raw.setup.unwrap_or_default(),
        app_env: raw.app_env.unwrap_or_default(),
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

/// `[A-Za-z_][A-Za-z0-9_]*`: a name every shell and dotenv reader accepts as a variable.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Applies what the config says about the compose file's services: `jobs` marks one-shot
/// services, and the original tool's `services` entries publish a port the compose file does
/// not (one it already publishes needs no entry). Returns the warnings to show: keys that no
/// longer do anything.
pub fn adopt(config: &Config, model: &mut crate::compose::ComposeModel) -> Result<Vec<String>> {
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
        match entry.internal_port.map(crate::compose::PortSpec::tcp) {
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
    fn original_tool_keys_are_accepted() {
        let text = r#"{"projectName":"hello","sessionsDir":"../sessions","portBase":47000,"services":[{"name":"app","internalPort":3000},{"name":"worker","internalPort":9000}],"setup":[]}"#;
        let raw = parse(text, Path::new("session.config.mjs"), Format::Module).unwrap();
        let c = resolve(raw, Path::new("/r"), Some("/r/session.config.mjs".into())).unwrap();
        assert!(c.warnings[0].contains("`portBase` and `ports` no longer do anything"));
        let mut m = crate::compose::parse(&[(
            "c.yml".into(),
            "services:
  app: {image: x, ports: ['3000:3000']}
  worker: {image: x}
"
            .into(),
        )])
        .unwrap();
        let warnings = adopt(&c, &mut m).unwrap();
        // `worker` did not publish 9000: the entry publishes it, as the original did.
        assert_eq!(
            m.services["worker"].ports,
            vec![crate::compose::PortSpec::tcp(9000)]
        );
        assert_eq!(m.services["app"].ports.len(), 1);
        assert!(
            warnings[1].contains("`services` no longer does anything for app"),
            "{warnings:?}"
        );
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
}
