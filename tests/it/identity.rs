//! Project identity (DESIGN §10): a session never takes over, acts on or removes a Compose
//! project that carries another directory's objects; sessions named by earlier versions keep
//! their names.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const WITH_VOLUME: &str = r#"services:
  echo:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
    ports: ["7000"]
    stop_grace_period: 1s
    volumes: [data:/data]
volumes:
  data: {}
"#;

/// Docker objects this test planted, removed even when it fails.
struct Planted(Vec<(&'static str, String)>);

impl Drop for Planted {
    fn drop(&mut self) {
        for (kind, name) in &self.0 {
            let args: Vec<&str> = match *kind {
                "container" => vec!["rm", "-f", name],
                k => vec![k, "rm", "-f", name],
            };
            let _ = Command::new("docker").args(&args).output();
        }
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every object of `kind` (containers in any state) under the Compose project `project`.
fn under(kind: &str, project: &str) -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={project}");
    let args: Vec<&str> = match kind {
        "container" => vec!["ps", "-aq", "--filter", &filter],
        k => vec![k, "ls", "-q", "--filter", &filter],
    };
    docker(&args).lines().map(str::to_string).collect()
}

fn exists(kind: &str, name: &str) -> bool {
    Command::new("docker")
        .args([kind, "inspect", name])
        .output()
        .unwrap()
        .status
        .success()
}

/// Plants one object of `kind` under the Compose project `project`.
fn plant(planted: &mut Planted, kind: &'static str, project: &str, name: &str) {
    let label = format!("com.docker.compose.project={project}");
    match kind {
        "container" => docker(&["create", "--label", &label, "--name", name, IMAGE, "true"]),
        k => docker(&[k, "create", "--label", &label, name]),
    };
    planted.0.push((kind, name.to_string()));
}

#[test]
fn a_project_name_carrying_another_directorys_objects_is_never_taken_or_removed() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, WITH_VOLUME);
    let dir = repo.sessions_dir().join("feat");
    let project = repo.project_of(&dir);
    assert_eq!(project.rsplit('-').next().unwrap().len(), 16, "{project}");
    let tag = dir
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    for kind in ["container", "volume", "network"] {
        let mut planted = Planted(vec![]);
        let name = format!("{tag}-planted-{kind}");
        plant(&mut planted, kind, &project, &name);
        let out = repo.dp(&repo.path, &["create", "-q", "--branch", "feat"]);
        assert_eq!(out.status.code(), Some(2), "{kind}: {}", stderr(&out));
        assert!(stderr(&out).contains(&project), "{}", stderr(&out));
        assert!(exists(kind, &name), "the planted {kind} was touched");
        assert!(
            containers_under(&repo.root).is_empty(),
            "{kind}: something was made"
        );
        assert!(!dir.exists(), "{kind}: the worktree was made");
        let kinds = ["container", "volume", "network"];
        for k in kinds {
            let under = under(k, &project);
            let expected = usize::from(k == kind);
            assert_eq!(
                under.len(),
                expected,
                "{kind}: {k}s under {project}: {under:?}"
            );
        }
        drop(planted);
    }
    // Nothing planted: the create goes through, under the 64-bit name.
    ok(&repo.dp(&repo.path, &["create", "-q", "--branch", "feat"]));
    let lock_file = dev_prism::context::lock_path(&dir).unwrap();
    assert!(lock_file.exists());
    assert!(containers_under(&repo.root)
        .iter()
        .all(|(_, _, p)| p == &project));
    // A foreign container joins the project: no command acts on it, destroy removes nothing.
    let mut planted = Planted(vec![]);
    let name = format!("{tag}-intruder");
    plant(&mut planted, "container", &project, &name);
    for args in [&["destroy", "--force"][..], &["stop"], &["apply"]] {
        let out = repo.dp(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("something other than a dev-prism session"),
            "{}",
            stderr(&out)
        );
    }
    assert!(exists("container", &name));
    assert_eq!(under("volume", &project).len(), 1);
    drop(planted);
    ok(&repo.dp(&dir, &["destroy", "--force"]));
    assert!(under("volume", &project).is_empty());
    // A destroyed session leaves no lock file behind.
    assert!(!lock_file.exists(), "{} left", lock_file.display());
}

#[test]
fn a_session_named_by_an_earlier_version_keeps_its_project() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, WITH_VOLUME);
    let dir: PathBuf = repo.sessions_dir().join("old");
    ok(&repo.dp(&repo.path, &["create", "-q", "--branch", "old"]));
    let new = repo.project_of(&dir);
    let prefix = repo
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let legacy = dev_prism::desired::legacy_project_name(&prefix, &dir);
    // Make it what an earlier version left: the same containers, under the 8-hex name.
    for kind in ["container", "network", "volume"] {
        for id in under(kind, &new) {
            match kind {
                "container" => docker(&["rm", "-f", "-v", &id]),
                k => docker(&[k, "rm", &id]),
            };
        }
    }
    up_as(&dir, &legacy);
    let _guard = LegacyGuard(legacy.clone());
    assert!(!under("container", &legacy).is_empty());
    // Every command keeps the name and the data: nothing to change, nothing made under the new one.
    ok(&repo.dp(&dir, &["stop"]));
    ok(&repo.dp(&dir, &["start"]));
    ok(&repo.dp(&dir, &["apply"]));
    let plan = ok(&repo.dp(&dir, &["plan"]));
    assert!(plan.contains("No changes"), "{plan}");
    assert!(under("container", &new).is_empty());
    assert!(under("volume", &new).is_empty());
    assert_eq!(under("volume", &legacy).len(), 1);
    ok(&repo.dp(&dir, &["destroy", "--force"]));
    assert!(under("container", &legacy).is_empty());
    assert!(under("volume", &legacy).is_empty());
}

struct LegacyGuard(String);

impl Drop for LegacyGuard {
    fn drop(&mut self) {
        for kind in ["container", "network", "volume"] {
            for id in under(kind, &self.0) {
                let args: Vec<&str> = match kind {
                    "container" => vec!["rm", "-f", "-v", &id],
                    k => vec![k, "rm", &id],
                };
                let _ = Command::new("docker").args(&args).output();
            }
        }
    }
}

/// `docker compose -p PROJECT up -d` with the session's files, as dev-prism runs it.
fn up_as(dir: &Path, project: &str) {
    let out = Command::new("docker")
        .current_dir(dir)
        .args([
            "compose",
            "-p",
            project,
            "-f",
            "docker-compose.yml",
            "-f",
            "docker-compose.session.yml",
            "up",
            "-d",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn destroy_all_in_one_repository_leaves_another_repositorys_sessions() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let mine = Repo::new(Flavor::V2, ECHO);
    let theirs = Repo::new(Flavor::V2, ECHO);
    ok(&mine.dp(&mine.path, &["create", "-q", "--branch", "a"]));
    ok(&theirs.dp(&theirs.path, &["create", "-q", "--branch", "b"]));
    let a = mine.sessions_dir().join("a");
    let b = theirs.sessions_dir().join("b");
    // Outside any repository a bulk command must be told its reach.
    for args in [&["stop-all"][..], &["destroy", "--all", "-y"]] {
        let out = dp_env(&mine.root, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--all-repos"), "{}", stderr(&out));
    }
    // Without a terminal and without -y: the list, then a refusal; nothing removed. The list
    // holds this repository's session only (checked before anything runs for real).
    let out = mine.dp(&mine.path, &["destroy", "--all"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let listed: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("  /"))
        .map(str::trim)
        .collect();
    assert_eq!(listed, vec![a.to_str().unwrap()], "{err}");
    assert!(err.contains("destroy --all -y"), "{err}");
    assert!(a.exists());
    let out = ok(&mine.dp(&mine.path, &["destroy", "--all", "-y"]));
    assert!(out.contains(&format!("destroyed {}", a.display())), "{out}");
    assert!(!out.contains(&b.display().to_string()), "{out}");
    assert!(!a.exists());
    assert!(containers_under(&mine.root).is_empty());
    assert_eq!(
        containers_under(&theirs.root).len(),
        1,
        "their session was touched"
    );
    assert!(b.exists());
}
