//! The steps that make a new session ready to code (issue 13), planned before anything
//! exists: the gitignored files copied from the main checkout (`.worktreeinclude`, config
//! `copy`: one step per pattern) and the volumes that start as copies of another session's
//! (`--data-from`, config `dataFrom`: one step, the source paused once for all of them).
//! Pure. (Over 400 lines with its unit tests, which are nearly half of it.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::{Action, Detail, Op, Reason, Step, Subject};
use crate::compose::SESSION_FILE;
use crate::desired::ENV_FILE;
use crate::observed::worktree::{matches_any, pattern_matches};

/// A gitignored file (or link) of the main checkout: its path relative to the checkout
/// (`/`-separated, as text for matching patterns: a name that is not UTF-8 has U+FFFD for each
/// bad byte), the exact path, and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub file: std::path::PathBuf,
    pub bytes: u64,
}

/// A copy pattern and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyPattern {
    pub pattern: String,
    pub origin: CopyOrigin,
}

/// Where a copy pattern was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyOrigin {
    WorktreeInclude,
    /// `copy` in the config.
    Config,
}

/// The patterns of a `.worktreeinclude` file (gitignore syntax: blank lines and `#` comments
/// are not patterns).
pub fn include_patterns(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The copy patterns of a repository: its `.worktreeinclude` (`include`, the file's text),
/// then config `copy`.
pub fn copy_patterns(include: Option<&str>, copy: &[String]) -> Vec<CopyPattern> {
    let include = include.map(include_patterns).unwrap_or_default();
    let from_file = include.into_iter().map(|pattern| CopyPattern {
        pattern,
        origin: CopyOrigin::WorktreeInclude,
    });
    let from_config = copy.iter().map(|p| CopyPattern {
        pattern: p.clone(),
        origin: CopyOrigin::Config,
    });
    from_file.chain(from_config).collect()
}

/// Leaves out of the gitignored `files` those the branch a new worktree checks out has
/// (`committed`: whether a path is committed there): a committed path, or a committed file or
/// link where the main checkout has an ignored directory. The branch's entry is what the
/// worktree has.
pub fn drop_committed(files: &mut Vec<Entry>, committed: impl Fn(&str) -> bool) {
    files.retain(|f| {
        !committed(&f.path)
            && !f
                .path
                .match_indices('/')
                .any(|(i, _)| committed(&f.path[..i]))
    });
}

/// One step per pattern that selects files: which of the main checkout's gitignored `files`
/// (never tracked ones) the patterns select, less the files other steps write (`skip`: the
/// copied `envFiles`) and dev-prism's generated files. A file belongs to the first pattern
/// that names it; a later `!pattern` leaves it out.
pub fn copy_steps(
    patterns: &[CopyPattern],
    files: &[Entry],
    skip: &[String],
    from: &std::path::Path,
    to: &std::path::Path,
) -> Vec<Step> {
    let all: Vec<String> = patterns.iter().map(|p| p.pattern.clone()).collect();
    let mut groups: Vec<(usize, Vec<std::path::PathBuf>, u64)> = vec![];
    for f in files {
        let name = f.path.rsplit('/').next().unwrap_or(&f.path);
        if skip.contains(&f.path) || name == ENV_FILE || name == SESSION_FILE {
            continue;
        }
        if !matches_any(&all, &f.path) {
            continue;
        }
        let Some(i) = patterns
            .iter()
            .position(|p| !p.pattern.starts_with('!') && pattern_matches(&p.pattern, &f.path))
        else {
            continue;
        };
        match groups.iter_mut().find(|g| g.0 == i) {
            Some(g) => {
                g.1.push(f.file.clone());
                g.2 += f.bytes;
            }
            None => groups.push((i, vec![f.file.clone()], f.bytes)),
        }
    }
    groups.sort_by_key(|g| g.0);
    groups
        .into_iter()
        .map(|(i, paths, bytes)| {
            let p = &patterns[i];
            Step {
                action: Action::Create,
                subject: Subject::CopyTree {
                    pattern: p.pattern.clone(),
                    files: paths.len(),
                    bytes,
                },
                reason: Reason::CopySelects { origin: p.origin },
                diff: None,
                details: vec![],
                op: Op::CopyTree {
                    pattern: p.pattern.clone(),
                    from: from.to_path_buf(),
                    to: to.to_path_buf(),
                    files: paths.len(),
                    bytes,
                    paths,
                },
            }
        })
        .collect()
}

/// A volume dev-prism creates before Compose starts, carrying Compose's labels so Compose
/// adopts it (and destroy removes it with the project).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewVolume {
    /// The volume's name (`<project>_<key>`, as Compose names it).
    pub name: String,
    /// Its key under `volumes:` in the compose file.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The source's volume it starts as a copy of; `None`: the source has none (starts empty).
    pub from: Option<String>,
}

/// Where a new session's data comes from: a session (or plain Compose project) of the same
/// repository, as observed when planning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataSource {
    pub dir: PathBuf,
    pub project: String,
    /// Its containers that run (or that another copy holds paused): paused while copying;
    /// the last copy out unpauses them.
    pub pause: Vec<String>,
    /// An image already on the engine, for a throwaway container (created, never started)
    /// that mounts the volumes for the archive endpoints.
    pub image: String,
    /// The source's volumes by Compose volume key.
    #[serde(skip)]
    pub volumes: BTreeMap<String, String>,
}

/// The new session a data step creates volumes for.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub project: &'a str,
    pub dir: &'a std::path::Path,
    /// `shareVolumes`: keys whose volume every session shares (never created or copied).
    pub shared: &'a [String],
    pub compose_version: &'a str,
}

/// The step creating the session's named volumes as copies of `source`'s. `top` is the
/// compose model's top-level keys; `external` and shared (`shareVolumes`) volumes are the
/// source's as well, never created or copied; a volume with a fixed `name:` gets the session's
/// own name for it.
pub fn data_step(
    top: &serde_json::Map<String, Value>,
    target: Target<'_>,
    source: &DataSource,
) -> Option<Step> {
    let project = target.project;
    let Some(Value::Object(declared)) = top.get("volumes") else {
        return None;
    };
    let mut volumes = vec![];
    let mut details = vec![];
    for (key, def) in declared {
        let def = def.as_object();
        let get = |k: &str| def.and_then(|d| d.get(k));
        let external = get("external").is_some_and(|e| e != &Value::Bool(false) && !e.is_null());
        if external || target.shared.contains(key) {
            continue;
        }
        let strings = |k: &str| -> BTreeMap<String, String> {
            match get(k) {
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string)))
                    .collect(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str()?.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                _ => BTreeMap::new(),
            }
        };
        let mut labels = strings("labels");
        labels.insert("com.docker.compose.project".into(), project.into());
        labels.insert("com.docker.compose.volume".into(), key.clone());
        labels.insert(
            "com.docker.compose.version".into(),
            target.compose_version.into(),
        );
        labels.insert(
            crate::compose::labels::DATA_FROM.into(),
            source.dir.to_string_lossy().into_owned(),
        );
        let fixed = get("name").and_then(Value::as_str);
        let name = match fixed {
            Some(fixed) => crate::compose::per_session_volume_name(
                fixed,
                crate::desired::project_suffix(project),
            ),
            None => format!("{project}_{key}"),
        };
        // Compose v1 labels a volume with a fixed `name:` by its name, not its key.
        let from = source.volumes.get(key).or_else(|| {
            let fixed = fixed?;
            let suffix = crate::desired::project_suffix(&source.project);
            let per_session = crate::compose::per_session_volume_name(fixed, suffix);
            source.volumes.get(&per_session)
        });
        let from = from.cloned();
        details.push(Detail {
            action: Action::Create,
            subject: Subject::NewVolume {
                name: name.clone(),
                from: from.clone(),
            },
            reason: match &from {
                Some(_) => Reason::SourceVolume(key.clone()),
                None => Reason::NoSourceVolume(key.clone()),
            },
        });
        volumes.push(NewVolume {
            name,
            key: key.clone(),
            driver: get("driver").and_then(Value::as_str).map(str::to_string),
            driver_opts: strings("driver_opts"),
            labels,
            from,
        });
    }
    if volumes.is_empty() {
        return None;
    }
    Some(Step {
        action: Action::Create,
        subject: Subject::DataFrom {
            dir: source.dir.clone(),
            project: source.project.clone(),
        },
        reason: Reason::DataCopied {
            paused: source.pause.len(),
        },
        diff: None,
        details,
        op: Op::CopyVolumes {
            source: source.clone(),
            volumes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn entry(path: &str, bytes: u64) -> Entry {
        Entry {
            path: path.into(),
            file: path.into(),
            bytes,
        }
    }

    #[test]
    fn one_step_per_pattern_with_counts() {
        let patterns = vec![
            CopyPattern {
                pattern: "node_modules/".into(),
                origin: CopyOrigin::WorktreeInclude,
            },
            CopyPattern {
                pattern: ".env.local".into(),
                origin: CopyOrigin::Config,
            },
            CopyPattern {
                pattern: "!node_modules/.cache/".into(),
                origin: CopyOrigin::WorktreeInclude,
            },
        ];
        let files = vec![
            entry("node_modules/a/index.js", 1500),
            entry("node_modules/b.js", 500),
            entry("node_modules/.cache/x", 9),
            entry("apps/web/.env.local", 10),
            entry(".env", 3),
            entry("other.log", 3),
            entry(".env.session", 3),
        ];
        let steps = copy_steps(
            &patterns,
            &files,
            &[".env".to_string()],
            Path::new("/r"),
            Path::new("/w"),
        );
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[0].subject.to_string(),
            "copy node_modules/ (2 files, 2.0 kB)"
        );
        assert_eq!(
            steps[1].subject.to_string(),
            "copy .env.local (1 file, 10 B)"
        );
        assert!(steps[1]
            .reason
            .to_string()
            .starts_with("`copy` in the config"));
        let Op::CopyTree { paths, files, .. } = &steps[0].op else {
            panic!("{:?}", steps[0].op)
        };
        assert_eq!(*files, 2);
        let paths: Vec<&str> = paths.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(paths, ["node_modules/a/index.js", "node_modules/b.js"]);
    }

    #[test]
    fn include_file_syntax() {
        let text = "# deps\nnode_modules/\n\n.env.local  \n!x\n";
        assert_eq!(
            include_patterns(text),
            vec!["node_modules/", ".env.local", "!x"]
        );
    }

    #[test]
    fn volumes_copy_by_key_and_skip_shared_ones() {
        let top: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"volumes": {"db": {"labels": {"team": "a"}}, "cache": null,
                 "ext": {"external": true}, "fixed": {"name": "pg"}, "both": {"name": "b"}}}"#,
        )
        .unwrap();
        let source = DataSource {
            dir: "/src/app".into(),
            project: "app-1234".into(),
            pause: vec!["c1".into()],
            image: "img".into(),
            volumes: BTreeMap::from([("db".to_string(), "app-1234_db".to_string())]),
        };
        let shared = vec!["both".to_string()];
        let target = Target {
            project: "app-9999",
            dir: Path::new("/s/one"),
            shared: &shared,
            compose_version: "2.40.3",
        };
        let step = data_step(&top, target, &source).unwrap();
        let subjects: Vec<String> = step.details.iter().map(|d| d.subject.to_string()).collect();
        let fixed = crate::compose::per_session_volume_name("pg", "9999");
        assert_eq!(
            subjects,
            vec![
                "volume app-9999_cache (empty)".to_string(),
                "volume app-9999_db (copy of app-1234_db)".to_string(),
                format!("volume {fixed} (empty)"),
            ]
        );
        assert!(step.details[0].reason.to_string().contains("starts empty"));
        let Op::CopyVolumes { volumes, .. } = &step.op else {
            panic!()
        };
        let db = &volumes[1];
        assert_eq!(db.labels["com.docker.compose.project"], "app-9999");
        assert_eq!(db.labels["com.docker.compose.volume"], "db");
        assert_eq!(db.labels["team"], "a");
        assert_eq!(db.labels[crate::compose::labels::DATA_FROM], "/src/app");
        assert!(data_step(&serde_json::Map::new(), target, &source).is_none());
    }

    #[test]
    fn a_compose_v1_source_names_its_fixed_volume_by_name() {
        let top: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"volumes": {"fixed": {"name": "pg"}}}"#).unwrap();
        let theirs = crate::compose::per_session_volume_name("pg", "1234");
        let source = DataSource {
            dir: "/src/app".into(),
            project: "app-1234".into(),
            pause: vec![],
            image: "img".into(),
            volumes: BTreeMap::from([(theirs.clone(), theirs.clone())]),
        };
        let target = Target {
            project: "app-9999",
            dir: Path::new("/s/one"),
            shared: &[],
            compose_version: "1.29.2",
        };
        let step = data_step(&top, target, &source).unwrap();
        assert!(
            step.details[0]
                .subject
                .to_string()
                .ends_with(&format!("(copy of {theirs})")),
            "{:?}",
            step.details
        );
    }
}
