//! The generated `docker-compose.session.yml`: labels and the config hash, random host ports,
//! per-session volume names, the subnet; written as a layer over the user's files (Compose v2,
//! `!override`) or fully expanded (v1); and what is read back from it.

use super::*;
use crate::config::Resources;

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
    /// Where the session's volumes were copied from (`create --data-from`), when they were.
    pub data_from: Option<&'a str>,
    /// What per-session volume names end in: the directory part of the project name
    /// (`desired::project_suffix`), so old sessions keep their volumes.
    pub volume_suffix: &'a str,
    /// Default limits (`resources`) for services that set none of their own.
    pub resources: crate::config::Resources,
    /// The session's proxy names (`dev-prism.host`, `dev-prism.domain`), when the proxy is on.
    pub proxy: Option<ProxyLabels<'a>>,
}

/// What the session's containers say about its proxy names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyLabels<'a> {
    /// `<session>.<project>`.
    pub host: &'a str,
    pub domain: &'a str,
    pub https: bool,
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
    /// The directory whose session the session's volumes were copied from (`create
    /// --data-from`), on its containers and volumes; absent when they were not.
    pub const DATA_FROM: &str = "dev-prism.data_from";
    /// The session's name for the proxy: `<session>.<project>` (see
    /// `desired::names::host_label`), fixed at create and unique among the engine's
    /// sessions; absent when the proxy is off (`proxy.enabled: false`): no route.
    pub const HOST: &str = "dev-prism.host";
    /// The proxy's domain the session's names end in (config `proxy.domain`).
    pub const DOMAIN: &str = "dev-prism.domain";
    /// `true` when the session's proxy URLs are `https://` (config `proxy.https`).
    pub const HTTPS: &str = "dev-prism.https";
    /// Compose's own project label.
    pub const PROJECT: &str = "com.docker.compose.project";
}

/// The hash stored in [`labels::CONFIG_HASH`]: the service's definition, the bind address,
/// the default limits it gets (only when it gets any, so a session made before `resources`
/// existed keeps its hash) and the proxy labels (a session that gains, changes or loses its
/// name gets containers that carry it; without them the hash is what it was before names).
pub fn config_hash(
    service: &Service,
    bind_address: &str,
    resources: &Resources,
    proxy: Option<ProxyLabels<'_>>,
) -> String {
    let mut text = serde_json::to_string(&service.raw).unwrap_or_default();
    text.push('\n');
    text.push_str(bind_address);
    let limits = default_limits(service, resources);
    if limits != Resources::default() {
        text.push_str(&format!(
            "\nlimits {:?} {:?}",
            limits.memory, limits.nano_cpus
        ));
    }
    if let Some(p) = proxy {
        text.push_str(&format!("\nproxy {} {} {}", p.host, p.domain, p.https));
    }
    short_hash(text.as_bytes(), 12)
}

/// The limits the session file gives `service`: each of `resources`' defaults the service
/// sets no limit of its own for (memory: `mem_limit` or `deploy.resources.limits.memory`;
/// CPU: `cpus`, `cpu_quota` or `deploy.resources.limits.cpus`).
pub fn default_limits(service: &Service, resources: &Resources) -> Resources {
    let raw = &service.raw;
    let set = |v: Option<&Value>| v.is_some_and(|v| !v.is_null());
    let deploy = |key: &str| set(raw.pointer(&format!("/deploy/resources/limits/{key}")));
    let own_memory = set(raw.get("mem_limit")) || deploy("memory");
    let own_cpus = set(raw.get("cpus")) || set(raw.get("cpu_quota")) || deploy("cpus");
    Resources {
        memory: resources.memory.filter(|_| !own_memory),
        nano_cpus: resources.nano_cpus.filter(|_| !own_cpus),
    }
}

/// Docker's `cpus` value for billionths of a CPU.
fn cpus(nano: u64) -> f64 {
    nano as f64 / 1e9
}

pub(super) fn published(bind: &str, port: &PortSpec) -> String {
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
pub(super) fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

/// The session's labels for a service, escaped for Compose (see [`literal`]).
pub(super) fn service_labels(
    name: &str,
    service: &Service,
    ctx: &SessionFileContext<'_>,
) -> BTreeMap<String, String> {
    raw_service_labels(name, service, ctx)
        .into_iter()
        .map(|(k, v)| (k, literal(&v)))
        .collect()
}

pub(super) fn raw_service_labels(
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
        config_hash(service, ctx.bind_address, &ctx.resources, ctx.proxy),
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
    if let Some(from) = ctx.data_from {
        l.insert(labels::DATA_FROM.into(), from.into());
    }
    if let Some(proxy) = ctx.proxy {
        l.insert(labels::HOST.into(), proxy.host.into());
        l.insert(labels::DOMAIN.into(), proxy.domain.into());
        if proxy.https {
            l.insert(labels::HTTPS.into(), "true".into());
        }
    }
    l
}

#[derive(Serialize)]
struct LayeredService {
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<serde_saphyr::Tagged<Vec<String>>>,
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: Option<f64>,
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
pub(super) fn volume_overrides(
    model: &ComposeModel,
    ctx: &SessionFileContext<'_>,
) -> Map<String, Value> {
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
            serde_json::json!({"name": per_session_volume_name(name, ctx.volume_suffix)})
        };
        out.insert(key.clone(), change);
    }
    out
}

/// The name a volume with a fixed `name:` gets in the session whose project name ends in
/// `suffix` (`desired::project_suffix`).
pub fn per_session_volume_name(name: &str, suffix: &str) -> String {
    format!("{name}-{suffix}")
}

/// `networks: {default: {ipam: {config: [{subnet: …}]}}}`; v1 merges it into the user's
/// own settings of the default network (labels, driver options), v2 lets Compose merge it.
pub(super) fn default_network(
    subnet: crate::subnet::Net,
    mut doc_networks: Map<String, Value>,
) -> Value {
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
                    let limits = default_limits(svc, &ctx.resources);
                    (
                        name.clone(),
                        LayeredService {
                            ports,
                            labels: service_labels(name, svc, ctx),
                            mem_limit: limits.memory,
                            cpus: limits.nano_cpus.map(cpus),
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
                let limits = default_limits(svc, &ctx.resources);
                if let Some(bytes) = limits.memory {
                    def.insert("mem_limit".into(), Value::from(bytes));
                }
                if let Some(nano) = limits.nano_cpus {
                    def.insert("cpus".into(), Value::from(cpus(nano)));
                }
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
