//! docs/json.md against real `--json` output, both ways: every field a command prints is
//! documented for that command, and every field documented for a command is printed by some
//! run of it here.
//!
//! What counts as documented, read from docs/json.md:
//! - `schema` and `command` (every document);
//! - the "Per command" table: a row's backquoted names are its top-level fields; a backquoted
//!   `{ "a", "b" }` (or `[{ … }]`) after a name lists that field's own fields;
//! - `session`/`sessions` without such a list hold session objects: the keys of the JSON
//!   example under "Session object" (nested objects and arrays followed, `vars` not: its keys
//!   are variable names);
//! - `steps`/`applied` hold plan steps: the keys of the JSON example after "A plan step"
//!   (`details` included). A new step field (e.g. `op`, `reason_code`) is documented by adding
//!   it to that example;
//! - `summary`: the names in "`summary` is `{ … }`";
//! - an error document: the keys of the JSON example under "Errors".

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::support::*;

const DOC: &str = include_str!("../../docs/json.md");

/// Rows of the table no command line prints, and why.
const ROWS_NOT_RUN: &[(&str, &str)] = &[("logs", "the MCP tool `logs` only (tests/it/mcp.rs)")];

/// Documented fields a row's commands never print, as docs/json.md says.
const NOT_FOR: &[(&str, &str, &str)] = &[
    (
        "create",
        "session.disk",
        "`disk` (only with `list --size` / `info --size`)",
    ),
    (
        "apply",
        "session.disk",
        "`disk` (only with `list --size` / `info --size`)",
    ),
    (
        "start",
        "session.disk",
        "`disk` (only with `list --size` / `info --size`)",
    ),
];

/// Documented fields no run here prints, and why.
const FIELDS_NOT_PRINTED: &[(&str, &str)] = &[
    (
        "results[].error",
        "a bulk command's failed row: a session failing to stop",
    ),
    (
        "results[].hint",
        "a bulk command's failed row: a session failing to stop",
    ),
];

/// Key paths of a JSON value: `a`, `a.b`, `a[].b`; the keys of `vars` maps are data.
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                if k != "vars" {
                    paths(v, &p, out);
                }
            }
        }
        Value::Array(a) => {
            for v in a {
                paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn prefixed(prefix: &str, inner: &BTreeSet<String>) -> Vec<String> {
    inner.iter().map(|p| format!("{prefix}.{p}")).collect()
}

/// The JSON of the first ```json block after `marker`.
fn example_after(marker: &str) -> Value {
    let at = DOC
        .find(marker)
        .unwrap_or_else(|| panic!("docs/json.md has no {marker:?}"));
    let rest = &DOC[at..];
    let start = rest.find("```json\n").expect("a json block") + 8;
    let end = rest[start..].find("```").unwrap() + start;
    serde_json::from_str(&rest[start..end])
        .unwrap_or_else(|e| panic!("the example after {marker:?} is not JSON: {e}"))
}

fn example_paths(marker: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    paths(&example_after(marker), "", &mut out);
    out
}

/// Backquoted spans of `text`, in order.
fn spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Backquoted spans of `text` outside parentheses (inside them a name is a reference, as in
/// "the steps carried out, as in `plan`").
fn top_spans(text: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut depth = 0i32;
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            if depth == 0 {
                out.push(part);
            }
        } else {
            depth += part.matches('(').count() as i32 - part.matches(')').count() as i32;
        }
    }
    out
}

/// The quoted names in a span like `[{ "dir", "ok": true }]`.
fn quoted(span: &str) -> Vec<String> {
    span.split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && !matches!(s, "true" | "false" | "null")
}

/// The documented key paths of each row label of the "Per command" table.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let session = example_paths("## Session object");
    let step = example_paths("A plan step");
    let summary: BTreeSet<String> = {
        let at = DOC.find("`summary` is `{").expect("the summary's fields");
        let line = DOC[at..].lines().next().unwrap();
        quoted(spans(line)[1]).into_iter().collect()
    };
    let table = &DOC[DOC.find("## Per command").unwrap()..];
    let mut rows = BTreeMap::new();
    for line in table.lines().skip(4) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (commands, fields) = (cells[1], cells[2]);
        let mut keys: BTreeSet<String> = ["schema", "command"].map(String::from).into();
        let mut current: Option<String> = None;
        let mut nested: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for span in top_spans(fields) {
            if is_name(span) {
                keys.insert(span.to_string());
                current = Some(span.to_string());
            } else if let (Some(f), names) = (&current, quoted(span)) {
                if !names.is_empty() {
                    nested.entry(f.clone()).or_default().extend(names);
                }
            }
        }
        for f in keys.clone() {
            if let Some(names) = nested.get(&f) {
                keys.extend(names.iter().map(|n| format!("{f}[].{n}")));
                continue;
            }
            match f.as_str() {
                "session" => keys.extend(prefixed("session", &session)),
                "sessions" => keys.extend(prefixed("sessions[]", &session)),
                "steps" | "applied" => keys.extend(prefixed(&format!("{f}[]"), &step)),
                "summary" => keys.extend(prefixed("summary", &summary)),
                _ => {}
            }
        }
        for label in spans(commands) {
            rows.insert(label.to_string(), keys.clone());
        }
    }
    let mut error: BTreeSet<String> = BTreeSet::new();
    paths(&example_after("## Errors"), "", &mut error);
    rows.insert("(error)".into(), error);
    rows
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

#[test]
fn docs_json_md_and_the_json_output_agree_both_ways() {
    let rows = documented();
    // The parse itself: a few rows as the table states them.
    assert!(
        rows["heal"].contains("files[].reason"),
        "{:?}",
        rows["heal"]
    );
    assert!(rows["list"].contains("sessions[].services[].ports[].proxy_url"));
    assert!(rows["plan"].contains("steps[].details[].subject"));
    assert!(rows["prune --dry-run"].contains("sessions[].keeps"));
    assert!(rows["(error)"].contains("error.hint"));

    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let mut runs: Vec<(&str, Value)> = vec![];
    let run =
        |runs: &mut Vec<(&'static str, Value)>, row: &'static str, dir: &PathBuf, args: &[&str]| {
            let mut all = vec!["--json"];
            all.extend_from_slice(args);
            let v = json_of(&repo.dp(dir, &all));
            runs.push((row, v));
        };
    let main = repo.path.clone();
    run(&mut runs, "plan", &main, &["plan"]);
    let created = json_of(&repo.dp(&main, &["--json", "create", "--branch", "docs"]));
    let dir = PathBuf::from(created["session"]["dir"].as_str().unwrap());
    runs.push(("create", created));
    // A file removed: heal and plan have a step with a diff to show.
    std::fs::remove_file(dir.join(".env.session")).unwrap();
    run(&mut runs, "plan", &dir, &["plan"]);
    run(&mut runs, "heal", &dir, &["heal", "--check"]);
    run(&mut runs, "heal", &dir, &["heal"]);
    run(&mut runs, "info", &dir, &["info", "--size"]);
    run(&mut runs, "list", &main, &["list", "--size"]);
    run(&mut runs, "list", &main, &["list"]);
    run(&mut runs, "env", &dir, &["env"]);
    run(&mut runs, "apply", &dir, &["apply"]);
    run(&mut runs, "doctor", &dir, &["doctor"]);
    run(&mut runs, "proxy status", &dir, &["proxy", "status"]);
    run(&mut runs, "stop", &dir, &["stop"]);
    run(&mut runs, "prune --dry-run", &main, &["prune", "--dry-run"]);
    // Nothing running: still one document (it was a line of text).
    let under = repo.root.to_string_lossy().into_owned();
    run(
        &mut runs,
        "stop-all",
        &main,
        &["stop-all", "--under", &under],
    );
    // The stopped session goes: the list of what matches goes to stderr, not into the JSON.
    run(&mut runs, "prune", &main, &["prune", "-y"]);
    run(&mut runs, "prune", &main, &["prune", "-y"]);
    assert!(!dir.exists(), "prune removed the stopped session");
    let o = repo.dp(&main, &["--json", "info", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
    runs.push(("(error)", json_of(&o)));

    let mut emitted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut undocumented = vec![];
    for (row, v) in &runs {
        let documented = rows
            .get(*row)
            .unwrap_or_else(|| panic!("docs/json.md's table has no row for `{row}`"));
        let mut p = BTreeSet::new();
        paths(v, "", &mut p);
        for field in &p {
            if !documented.contains(field) {
                undocumented.push(format!("{row}: {field}"));
            }
        }
        emitted.entry(row).or_default().extend(p);
    }
    assert!(
        undocumented.is_empty(),
        "printed but not in docs/json.md (for that command):\n{}",
        undocumented.join("\n")
    );

    let exempt: BTreeSet<&str> = FIELDS_NOT_PRINTED.iter().map(|(f, _)| *f).collect();
    let mut never = vec![];
    for (row, documented) in &rows {
        if ROWS_NOT_RUN.iter().any(|(r, _)| r == row) {
            continue;
        }
        // Rows sharing one table line are covered by any of their commands.
        let shared: BTreeSet<String> = rows
            .iter()
            .filter(|(_, d)| *d == documented)
            .flat_map(|(r, _)| emitted.get(r.as_str()).cloned().unwrap_or_default())
            .collect();
        if shared.is_empty() {
            never.push(format!(
                "{row}: no run here prints it (add one to this test)"
            ));
            continue;
        }
        for field in documented {
            let not_for = NOT_FOR
                .iter()
                .any(|(r, f, why)| r == row && field.starts_with(f) && DOC.contains(why));
            if !shared.contains(field) && !exempt.contains(field.as_str()) && !not_for {
                never.push(format!("{row}: {field}"));
            }
        }
    }
    assert!(
        never.is_empty(),
        "in docs/json.md but never printed:\n{}",
        never.join("\n")
    );
}
