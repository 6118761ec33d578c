//! `maxRunning`: how many sessions of a repository may run at once, counted under the
//! repository's lock so parallel commands cannot overshoot (DESIGN §10).

use std::path::{Path, PathBuf};

use super::Prepared;
use crate::adapters::docker::EngineSecurity;
use crate::context::{self, Ctx, Observer, RepoLock};
use crate::error::{Error, Problem, Result};
use crate::observed::{Container, State};
use crate::plan::{Op, Plan};

/// The directories of the sessions with a running container, other than `dir`, in order.
pub fn running_elsewhere(containers: &[Container], dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = containers
        .iter()
        .filter(|c| c.state == State::Running)
        .filter_map(|c| c.working_dir().map(PathBuf::from))
        .filter(|d| d != dir)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Whether carrying out `plan` makes a session run that does not run now.
pub fn starts_a_session(plan: &Plan, observed: &[Container]) -> bool {
    !observed.iter().any(|c| c.state == State::Running)
        && plan
            .ordered()
            .iter()
            .any(|s| matches!(s.op, Op::ComposeUp { .. }))
}

/// The refusal when `running` already fills `limit`.
pub fn check(limit: u64, running: Vec<PathBuf>) -> Result<()> {
    if (running.len() as u64) < limit {
        return Ok(());
    }
    let first = running.first().map(|d| d.display().to_string());
    Err(
        Error::from(Problem::TooManyRunning { limit, running }).with_hint(format!(
            "stop one first (`dev-prism stop {}`), or raise maxRunning in the config",
            first.as_deref().unwrap_or("DIR")
        )),
    )
}

/// With `maxRunning` set and a plan that starts the session: takes the repository's lock and
/// refuses when the limit is reached. The lock is held by the caller until its plan ran, so a
/// parallel create counts this session too.
pub async fn admit(ctx: &mut Ctx, p: &Prepared) -> Result<Option<RepoLock>> {
    let (Some(limit), Some(root)) = (p.session.config.max_running, &p.session.main_root) else {
        return Ok(None);
    };
    if !starts_a_session(&p.plan, &p.observed.containers) {
        return Ok(None);
    }
    let lock = context::repo_lock(root).await?;
    let containers = ctx
        .engine()
        .await?
        .repo_containers(&root.to_string_lossy())
        .await?;
    check(limit, running_elsewhere(&containers, &p.desired.dir))?;
    Ok(Some(lock))
}

/// What a create's plan writes into the sessions directory's file system: the checkout of
/// the new worktree (the revision to measure), the bytes its copies write (`CopyTree` steps
/// carry theirs; `CopyFile` sources are measured by `size`), and the bytes of the `CopyTree`
/// copies that `clones` says will be copy-on-write clones (given the step's source root and
/// files), which take no space and are not in the second figure.
pub fn copied_bytes<'a>(
    ops: impl IntoIterator<Item = &'a Op>,
    size: &dyn Fn(&Path) -> u64,
    clones: &mut dyn FnMut(&Path, &[PathBuf]) -> bool,
) -> (Option<String>, u64, u64) {
    let mut rev = None;
    let (mut bytes, mut cloned) = (0u64, 0u64);
    for op in ops {
        match op {
            Op::AddWorktree { branch, start, .. } => {
                rev = Some(start.clone().unwrap_or_else(|| branch.clone()))
            }
            Op::CopyTree {
                bytes: b,
                from,
                paths,
                ..
            } => {
                if *b > 0 && clones(from, paths) {
                    cloned = cloned.saturating_add(*b);
                } else {
                    bytes = bytes.saturating_add(*b);
                }
            }
            Op::CopyFile { from, .. } => bytes = bytes.saturating_add(size(from)),
            _ => {}
        }
    }
    (rev, bytes, cloned)
}

/// Before create makes anything: the new worktree's checkout and its copies must fit in the
/// free space of the file system the sessions directory is on; refused with both figures.
/// Copies of ignored files that the file system can clone (one probe clone per copy, made
/// and removed beside where the session goes) count as 0: a clone shares its blocks.
pub fn check_disk(ctx: &Ctx, p: &Prepared) -> Result<()> {
    use crate::adapters::{fs, tree};
    let (t, git) = (ctx.trace(), ctx.git());
    let Some(repo) = p.session.main_root.as_deref() else {
        return Ok(());
    };
    let started = std::time::Instant::now();
    let (at, free) = fs::free_space(&p.desired.dir)?;
    let mut clones = |from: &Path, paths: &[PathBuf]| tree::clone_probe(from, paths, &at);
    let (rev, copies, cloned) = copied_bytes(
        p.plan.ordered().iter().map(|s| &s.op),
        &fs::size_of,
        &mut clones,
    );
    let Some(rev) = rev else {
        return Ok(());
    };
    let needed = git.tree_bytes(repo, &rev)?.saturating_add(copies);
    let clone_note = if cloned > 0 {
        format!(" ({cloned} bytes more are copy-on-write clones, counted as 0)")
    } else {
        String::new()
    };
    t.call(
        &format!(
            "disk check: the worktree and its copies need {needed} bytes{clone_note}, {} has {free} free",
            at.display()
        ),
        started,
    );
    if needed > free {
        return Err(Error::from(Problem::NoSpace {
            what: "the new worktree and the files copied into it".into(),
            needed,
            free,
            at,
        })
        .with_hint("free some space there (`dev-prism prune` removes stopped sessions), copy less (`copy`, `.worktreeinclude`), or point `sessionsDir` at a larger file system"));
    }
    Ok(())
}

/// The volumes a `--data-from` copy reads (their names on the engine).
pub fn copied_volumes<'a>(ops: impl IntoIterator<Item = &'a Op>) -> Vec<String> {
    ops.into_iter()
        .filter_map(|op| match op {
            Op::CopyVolumes { volumes, .. } => Some(volumes),
            _ => None,
        })
        .flatten()
        .filter_map(|v| v.from.clone())
        .collect()
}

/// Before create makes anything, for a `--data-from` copy on an engine on this machine: the
/// source's volumes must fit in the free space of the engine's data root. A volume whose
/// size cannot be read (not root, another driver) makes the check say nothing.
pub async fn check_volume_disk(ctx: &mut Ctx, p: &Prepared) -> Result<()> {
    use crate::adapters::fs;
    let started = std::time::Instant::now();
    let names = copied_volumes(p.plan.ordered().iter().map(|s| &s.op));
    let Some((root, paths)) = ctx.engine().await?.local_volume_paths(&names).await? else {
        return Ok(());
    };
    let Some(needed) = paths.iter().map(|p| fs::dir_bytes(p)).sum::<Option<u64>>() else {
        return Ok(());
    };
    let Ok((at, free)) = fs::free_space(&root) else {
        return Ok(());
    };
    ctx.trace().call(
        &format!(
            "disk check: the volumes to copy hold {needed} bytes, {} has {free} free",
            at.display()
        ),
        started,
    );
    if needed > free {
        return Err(Error::from(Problem::NoSpace {
            what: "the volumes copied with --data-from".into(),
            needed,
            free,
            at,
        })
        .with_hint("free some space on the engine (`docker system df` shows what holds it), or create without --data-from"));
    }
    Ok(())
}

/// What a rootless engine on cgroup v1 cannot do, asked by a create: pausing the running
/// source of a `--data-from` copy (the copy would read volumes still being written), and the
/// `resources` limits (they would be ignored). `None` when the engine can, or nothing asks.
pub fn engine_cannot(
    security: EngineSecurity,
    pauses_source: Option<&Path>,
    resources: &crate::config::Resources,
) -> Option<(String, &'static str)> {
    if !(security.rootless && security.cgroup_v1) {
        return None;
    }
    if let Some(source) = pauses_source {
        return Some((
            format!(
                "pause the running session in {} to copy its volumes (--data-from / dataFrom)",
                source.display()
            ),
            "stop the source session first (`dev-prism stop DIR`: a stopped session is copied without pausing), or run the engine rootful or on cgroup v2",
        ));
    }
    if resources.memory.is_some() || resources.nano_cpus.is_some() {
        return Some((
            "enforce the memory and CPU limits of `resources`".to_string(),
            "remove `resources` from the config for this engine, or run the engine rootful or on cgroup v2",
        ));
    }
    None
}

/// Before a create makes anything: refuses what the engine cannot do ([`engine_cannot`]).
/// Asks the engine (`/info`) only when the plan pauses a source or the config sets limits.
pub async fn check_engine<O: Observer>(
    obs: &mut O,
    plan: &Plan,
    resources: &crate::config::Resources,
) -> Result<()> {
    let pauses = plan.ordered().iter().find_map(|s| match &s.op {
        Op::CopyVolumes { source, .. } if !source.pause.is_empty() => Some(source.dir.clone()),
        _ => None,
    });
    if pauses.is_none() && resources.memory.is_none() && resources.nano_cpus.is_none() {
        return Ok(());
    }
    let (engine, security) = obs.isolation().await?;
    match engine_cannot(security, pauses.as_deref(), resources) {
        None => Ok(()),
        Some((what, hint)) => Err(Error::from(Problem::EngineCannot {
            engine: format!("rootless {engine} on cgroup v1"),
            what,
        })
        .with_hint(hint)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_other_running_sessions() {
        let c = |dir: &str, state: State| Container {
            id: format!("{dir}-{state:?}"),
            name: "app".into(),
            service: "app".into(),
            state,
            health: crate::observed::Health::None,
            exit_code: None,
            status: String::new(),
            ports: vec![],
            labels: [(
                crate::compose::labels::WORKING_DIR.to_string(),
                dir.to_string(),
            )]
            .into(),
            engine_host: Default::default(),
        };
        let cs = vec![
            c("/s/a", State::Running),
            c("/s/a", State::Running),
            c("/s/b", State::Stopped),
            c("/s/me", State::Running),
            c("/s/c", State::Running),
        ];
        let running = running_elsewhere(&cs, Path::new("/s/me"));
        assert_eq!(running, vec![PathBuf::from("/s/a"), PathBuf::from("/s/c")]);
        assert!(check(3, running.clone()).is_ok());
        let err = check(2, running).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "2 session(s) of this repository already run (maxRunning: 2):\n  /s/a\n  /s/c"
        );
        assert!(err.hint.unwrap().contains("`dev-prism stop /s/a`"));
    }

    #[test]
    fn what_a_create_copies() {
        let steps = vec![
            crate::plan::add_worktree_step("/s/x".into(), "x", true, Some("abc".into())),
            crate::plan::copy_file_step(
                ".env",
                "/r/.env".into(),
                "/s/x/.env".into(),
                crate::plan::Reason::EnvFileCopied,
            ),
        ];
        let mut ops: Vec<Op> = steps.into_iter().map(|s| s.op).collect();
        ops.push(Op::CopyTree {
            pattern: "node_modules/".into(),
            from: "/r".into(),
            to: "/s/x".into(),
            files: 2,
            bytes: 100,
            paths: vec![],
        });
        let mut never = |_: &Path, _: &[PathBuf]| false;
        assert_eq!(
            copied_bytes(&ops, &|_| 7, &mut never),
            (Some("abc".into()), 107, 0)
        );
        // Where the tree copy clones, its bytes are left out; the env file is still written.
        let mut asked = vec![];
        let mut clones = |from: &Path, _: &[PathBuf]| {
            asked.push(from.to_path_buf());
            true
        };
        assert_eq!(
            copied_bytes(&ops, &|_| 7, &mut clones),
            (Some("abc".into()), 7, 100)
        );
        assert_eq!(asked, vec![PathBuf::from("/r")]);
        let vol = |from: Option<&str>| crate::plan::ready::NewVolume {
            name: "p_data".into(),
            key: "data".into(),
            driver: None,
            driver_opts: Default::default(),
            labels: Default::default(),
            from: from.map(str::to_string),
        };
        let copy = Op::CopyVolumes {
            source: crate::plan::ready::DataSource {
                dir: "/s/main".into(),
                project: "p".into(),
                pause: vec![],
                image: "x".into(),
                volumes: Default::default(),
            },
            volumes: vec![vol(Some("src_data")), vol(None)],
        };
        assert_eq!(copied_volumes([&copy]), vec!["src_data"]);
        // An existing branch is checked out as it is.
        let existing = crate::plan::add_worktree_step("/s/y".into(), "feat", false, None);
        assert_eq!(
            copied_bytes([&existing.op], &|_| 0, &mut never),
            (Some("feat".into()), 0, 0)
        );
    }

    #[test]
    fn rootless_on_cgroup_v1_refuses_pausing_and_limits_only() {
        let limited = crate::config::Resources {
            memory: Some(64 << 20),
            nano_cpus: None,
        };
        let none = crate::config::Resources::default();
        let source = Path::new("/s/main");
        let weak = EngineSecurity {
            rootless: true,
            cgroup_v1: true,
        };
        let (what, _) = engine_cannot(weak, Some(source), &none).unwrap();
        assert!(
            what.contains("pause the running session in /s/main"),
            "{what}"
        );
        let (what, _) = engine_cannot(weak, None, &limited).unwrap();
        assert!(what.contains("limits"), "{what}");
        assert_eq!(engine_cannot(weak, None, &none), None);
        for able in [
            EngineSecurity {
                rootless: false,
                cgroup_v1: true,
            },
            EngineSecurity {
                rootless: true,
                cgroup_v1: false,
            },
        ] {
            assert_eq!(engine_cannot(able, Some(source), &limited), None);
        }
    }
}
