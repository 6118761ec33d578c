//! Commands over many sessions (`stop-all`, `destroy --all`: this repository's, those under a
//! directory, or with `--all-repos` every one on the engine) and over this repository's stopped
//! sessions (`prune`): each session in parallel, each result reported, non-zero exit when any
//! failed.

use std::path::{Path, PathBuf};

use crate::adapters::process::Cancel;
use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Error, Kind, Result};
use crate::observed::{Container, State};
use crate::plan::Plan;
use crate::reconcile::bulk;
use crate::render;
use crate::render::json::{BulkDoc, BulkRow};
use crate::ui::Ui;

/// Which sessions `stop-all` and `destroy --all` reach (DESIGN §10 "bulk scope").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// `--all-repos`: every session on the engine.
    Everything,
    /// `--under DIR`: sessions whose directory is under DIR.
    Under(PathBuf),
    /// Run inside a repository: its sessions (by the `dev-prism.repo_root` label; a session
    /// without it, by its directory under `sessionsDir`).
    Repo {
        root: PathBuf,
        sessions_dir: Option<PathBuf>,
    },
}

impl Reach {
    /// The reach of a bulk command run in the current directory. Outside a repository it must
    /// be said (`--all-repos` or `--under`).
    pub fn resolve(ui: &Ui, all_repos: bool, under: Option<&Path>, command: &str) -> Result<Reach> {
        let git = crate::adapters::git::cli(ui.trace());
        if all_repos {
            return Ok(Reach::Everything);
        }
        if let Some(u) = under {
            return Ok(Reach::Under(context::session_dir(Some(u))?));
        }
        let cwd = context::session_dir(None)?;
        let Some(top) = git.toplevel(&cwd)? else {
            return Err(Error::usage(format!(
                "`{command}` outside a repository needs `--all-repos` or `--under DIR`"
            ))
            .with_hint(format!(
                "run it inside the repository whose sessions it is for, or say `{command} --under DIR` (sessions under DIR) or `{command} --all-repos` (every session on this engine)"
            )));
        };
        let root = git.main_checkout(&top)?.unwrap_or(top.clone());
        // A broken config must not stop a bulk destroy: the labelled sessions are still found.
        let sessions_dir = context::load_config(ui, &top, Some(&root))
            .ok()
            .and_then(|c| std::fs::canonicalize(c.sessions_dir).ok());
        Ok(Reach::Repo { root, sessions_dir })
    }

    /// Whether the session in `dir` with `containers` is within reach.
    pub fn includes(&self, dir: &Path, containers: &[Container]) -> bool {
        match self {
            Reach::Everything => true,
            Reach::Under(u) => dir.starts_with(u),
            Reach::Repo { root, sessions_dir } => {
                match containers
                    .iter()
                    .find_map(|c| c.label(crate::compose::labels::REPO_ROOT))
                {
                    Some(r) => Path::new(r) == root,
                    None => sessions_dir.as_ref().is_some_and(|s| dir.starts_with(s)),
                }
            }
        }
    }
}

/// Sessions on the engine (one API call) within `reach`: directory → its containers.
async fn sessions(ctx: &mut Ctx, reach: &Reach) -> Result<Vec<(PathBuf, Vec<Container>)>> {
    let all = ctx.engine().await?.all_sessions().await?;
    Ok(render::sessions(&all)
        .into_iter()
        .map(|r| (PathBuf::from(r.dir), r.containers))
        .filter(|(dir, cs)| reach.includes(dir, cs))
        .collect())
}

/// The signal that stopped any of the sessions.
fn signal_of(results: &[(PathBuf, Result<Plan>)]) -> Option<crate::error::Signal> {
    results
        .iter()
        .find_map(|(_, r)| match r.as_ref().err()?.kind() {
            Kind::Interrupted(s) => Some(s),
            _ => None,
        })
}

/// Each interrupted session's error with the command that finishes it: `command DIR` (the
/// bulk command may no longer find it: an interrupted destroy can leave a worktree without
/// containers).
pub(super) fn finished(
    results: Vec<(PathBuf, Result<Plan>)>,
    command: &str,
) -> Vec<(PathBuf, Result<Plan>)> {
    results
        .into_iter()
        .map(|(dir, r)| {
            let r = r.map_err(|e| match e.kind() {
                Kind::Interrupted(_) => e.with_hint(format!(
                    "`dev-prism {command} {}` finishes it",
                    dir.display()
                )),
                _ => e,
            });
            (dir, r)
        })
        .collect()
}

/// Prints one line per session (or the JSON document); 1 when any failed, 128+n when a
/// signal n stopped them.
pub(super) fn report(ui: &Ui, results: &[(PathBuf, Result<Plan>)], verb: &str) -> i32 {
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let code = match signal_of(results) {
        Some(s) => Kind::Interrupted(s).exit_code(),
        None => i32::from(failed > 0),
    };
    let summary =
        |plan: &Plan| -> String { plan.kept.iter().map(|k| format!("\n  note: {k}")).collect() };
    if ui.json {
        let rows = results
            .iter()
            .map(|(dir, r)| {
                let dir = dir.to_string_lossy().into_owned();
                match r {
                    Ok(plan) => BulkRow::Done {
                        dir,
                        ok: true,
                        summary: summary(plan).trim().to_string(),
                        kept: plan.kept.iter().map(ToString::to_string).collect(),
                    },
                    Err(e) => BulkRow::Failed {
                        dir,
                        ok: false,
                        error: e.message(),
                        hint: e.hint.clone(),
                    },
                }
            })
            .collect();
        let command = match verb {
            "stopped" => "stop-all",
            "destroyed" => "destroy",
            _ => "prune",
        };
        ui.json_out(&crate::render::json::doc(
            command,
            BulkDoc { results: rows },
        ));
        return code;
    }
    for (dir, r) in results {
        match r {
            Ok(plan) => ui.out(&format!("{verb} {}{}", dir.display(), summary(plan))),
            Err(e) => {
                ui.out(&format!("FAILED {}: {}", dir.display(), e.message()));
                if let Some(hint) = &e.hint {
                    ui.out(&format!("  hint: {hint}"));
                }
            }
        }
    }
    match signal_of(results) {
        Some(s) => ui.warn(&format!(
            "interrupted by {}: {failed} of {} session(s) not finished",
            s.name(),
            results.len()
        )),
        None if failed > 0 => ui.warn(&format!("{failed} of {} session(s) failed", results.len())),
        None => {}
    }
    code
}

/// Stops every running session (one plan each, all at once); with `idle`, only those whose
/// last activity is at least that long ago (unknown activity: left running).
pub async fn stop_all(
    ctx: &mut Ctx,
    reach: &Reach,
    idle: Option<std::time::Duration>,
    ui: &Ui,
    cancel: &Cancel,
) -> Result<i32> {
    let now = crate::util::now_ms();
    let dirs: Vec<PathBuf> = sessions(ctx, reach)
        .await?
        .into_iter()
        .filter(|(_, cs)| cs.iter().any(|c| c.state != State::Stopped))
        .filter(|(d, cs)| {
            idle.is_none_or(|idle| {
                let project = crate::observed::project_of(cs).unwrap_or("");
                crate::adapters::usage::last_activity(d, project)
                    .is_some_and(|last| now - last >= idle.as_millis() as i64)
            })
        })
        .map(|(d, _)| d)
        .collect();
    if dirs.is_empty() {
        // --json: one document whatever happens, here with no rows.
        if ui.json {
            return Ok(report(ui, &[], "stopped"));
        }
        ui.out(match idle {
            Some(_) => "No running session is idle that long.",
            None => "No running sessions.",
        });
        return Ok(0);
    }
    let results = bulk::each(ctx, dirs, Intent::Stop, ui, cancel).await?;
    let results = finished(results, "stop");
    Ok(report(ui, &results, "stopped"))
}

/// `destroy --all`: every session within `reach`, keeping the data-safety rules of `destroy`,
/// after the user saw the list and said yes (or `-y`).
pub async fn destroy_all(
    ctx: &mut Ctx,
    reach: &Reach,
    force: bool,
    yes: bool,
    ui: &Ui,
    cancel: &Cancel,
) -> Result<i32> {
    let dirs: Vec<PathBuf> = sessions(ctx, reach)
        .await?
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    if dirs.is_empty() {
        if ui.json {
            return Ok(report(ui, &[], "destroyed"));
        }
        ui.out("No sessions.");
        return Ok(0);
    }
    if !yes {
        ui.status("These sessions will be destroyed (containers, networks, volumes, worktrees):");
        for d in &dirs {
            ui.status(&format!("  {}", d.display()));
        }
        let question = format!("Destroy {} session(s)? [y/N] ", dirs.len());
        if !confirm(ui, &question, "destroy --all")? {
            ui.out("Nothing destroyed.");
            return Ok(0);
        }
    }
    let results = finished(
        bulk::each(ctx, dirs, Intent::destroy(force), ui, cancel).await?,
        "destroy",
    );
    Ok(report(ui, &results, "destroyed"))
}

/// Asks on the terminal. Without a terminal there is nobody to ask: refuse.
pub(super) fn confirm(ui: &Ui, question: &str, command: &str) -> Result<bool> {
    let Some(answer) = ui.ask(question) else {
        return Err(Error::usage(format!(
            "{command} needs confirmation, and there is no terminal to ask"
        ))
        .with_hint(format!("run `dev-prism {command} -y` to confirm up front")));
    };
    let line = answer.map_err(|e| Error::failure(format!("cannot read the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::labels;

    fn session(repo: Option<&str>) -> Vec<Container> {
        let json = match repo {
            Some(r) => format!(
                r#"[{{"Id": "c1", "Labels": {{"{}": "{r}"}}}}]"#,
                labels::REPO_ROOT
            ),
            None => r#"[{"Id": "c1", "Labels": {}}]"#.to_string(),
        };
        crate::observed::containers_from_json(&json).unwrap()
    }

    #[test]
    fn a_repository_reaches_its_own_sessions_only() {
        let repo = Reach::Repo {
            root: "/w/shop".into(),
            sessions_dir: Some("/w/shop-sessions".into()),
        };
        let dir = Path::new("/w/shop-sessions/feat");
        // By the label first: a session of another repository under the same folder is not ours.
        assert!(repo.includes(dir, &session(Some("/w/shop"))));
        assert!(!repo.includes(dir, &session(Some("/w/other"))));
        assert!(repo.includes(Path::new("/elsewhere"), &session(Some("/w/shop"))));
        // Without the label (older sessions): by the sessions directory.
        assert!(repo.includes(dir, &session(None)));
        assert!(!repo.includes(Path::new("/w/other-sessions/x"), &session(None)));
        let no_dir = Reach::Repo {
            root: "/w/shop".into(),
            sessions_dir: None,
        };
        assert!(!no_dir.includes(dir, &session(None)));
        assert!(Reach::Everything.includes(Path::new("/any"), &session(Some("/w/other"))));
        let under = Reach::Under("/w/shop-sessions".into());
        assert!(under.includes(dir, &session(Some("/w/other"))));
        assert!(!under.includes(Path::new("/w/shop"), &session(None)));
    }
}
