//! The user's compose files → one merged document: YAML parsing with source locations,
//! `include` and `extends` (other files too) resolved, merge rules, service names checked.

use super::*;

pub(super) fn parse_doc(name: &str, text: &str) -> Result<Map<String, Value>> {
    let doc: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            crate::config::yaml_error(&e, text, name)
                .with_hint("fix the compose file; `docker compose config` shows Compose's view")
        })?
    };
    let Value::Object(mut doc) = doc else {
        return Err(Error::config(name, "a compose file must be a mapping")
            .with_hint("it should start with `services:`"));
    };
    if let Some(Value::Object(services)) = doc.get_mut("services") {
        services.values_mut().for_each(normalise_service);
    }
    Ok(doc)
}

/// `a/b.yml` relative to the directory of `from` (itself relative to the session directory).
pub(super) fn relative_to(from: &str, path: &str) -> String {
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
pub(super) fn load_doc(
    name: &str,
    text: &str,
    load: Loader<'_>,
    depth: usize,
) -> Result<Map<String, Value>> {
    if depth > 8 {
        return Err(Error::config(name, "`include` nests too deep (a cycle?)")
            .with_hint("check the include chain of your compose files"));
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
            return Err(Error::config(name, "`include` must be a list")
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
pub(super) fn resolve_extends(
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
pub(super) fn depends_on(raw: &Value) -> BTreeMap<String, String> {
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

/// Compose's own rule for service names.
pub(super) fn check_service_name(name: &str) -> Result<()> {
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
pub(super) fn normalise_service(def: &mut Value) {
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
pub(super) fn merge(base: &mut Map<String, Value>, over: Map<String, Value>, path: &str) {
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
