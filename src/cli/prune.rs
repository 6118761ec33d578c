use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::adapters::usage;
use crate::context::{self, Ctx};
use crate::desired::Intent;
use crate::error::{Error, Result};
use crate::observed::{project_of, Container, State};
use crate::plan::Kept;
use crate::render::json;
use crate::tidy::{self, Facts, Filters, Merged, Verdict};
use crate::ui::Ui;

/// Remove this repository's sessions that match every filter given (none: `--stopped`), with
/// their containers, networks, volumes and built images, after listing them and asking.
/// Each removal is a `destroy`: work is kept unless `--force`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sessions with no running (or paused) container. The default when no filter is given.
    #[arg(long)]
    stopped: bool,
    /// Sessions created longer ago than DURATION (`45m`, `2h`, `7d`, `2w`).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    older_than: Option<Duration>,
    /// Sessions with no activity for DURATION (see README "Keeping a machine tidy").
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    idle: Option<Duration>,
    /// Sessions whose branch has commits of its own, all reachable from the main checkout's
    /// current branch (a squash-merged branch does not count).
    #[arg(long)]
    merged: bool,
    /// Sessions whose directory no longer exists: their containers, networks, volumes and
    /// built images (found by their labels), and their branch when it is merged.
    #[arg(long)]
    gone: bool,
    /// Only list what a run would remove and keep, with the reason for each.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
    /// Also remove worktrees with uncommitted changes and branches with unmerged commits.
    #[arg(long)]
    force: bool,
}

/// A DURATION argument (clap reports the error with the flag's name).
pub fn duration(text: &str) -> std::result::Result<Duration, String> {
    tidy::parse_duration(text)
}

/// One session of this repository, as prune sees it.
struct Candidate {
    dir: PathBuf,
    containers: Vec<Container>,
    /// The branch git records for its worktree.
    branch: Option<String>,
    /// The Compose project its objects carry (from its containers, else what dev-prism names
    /// the project of that directory).
    project: String,
    facts: Facts,
}

pub async fn run(
    args: Args,
    ctx: &mut Ctx,
    ui: &Ui,
    cancel: &crate::adapters::process::Cancel,
) -> Result<i32> {
    let git = ctx.git();
    let filters = Filters {
        stopped: args.stopped,
        older_than: args.older_than,
        idle: args.idle,
        merged: args.merged,
        gone: args.gone,
    }
    .or_default();
    let cwd = context::session_dir(None)?;
    let Some(top) = git.toplevel(&cwd)? else {
        return Err(
            Error::usage(format!("{} is not inside a git repository", cwd.display()))
                .with_hint("run prune inside the repository whose sessions should go"),
        );
    };
    let repo = git.main_checkout(&top)?.unwrap_or(top.clone());
    let config = context::load_config(ui, &top, Some(&repo))?;
    let sessions_dir = std::fs::canonicalize(&config.sessions_dir)
        .ok()
        .unwrap_or_else(|| config.sessions_dir.clone());
    let all = ctx.engine().await?.all_sessions().await?;
    let candidates = candidates(
        ui,
        &repo,
        &sessions_dir,
        &config.project_name,
        &all,
        &filters,
    )?;
    let now = crate::util::now_ms();
    let mut remove = vec![];
    let mut keep = vec![];
    for c in candidates {
        match tidy::verdict(&filters, &c.facts, now) {
            Verdict::Remove(why) => remove.push((c, why)),
            Verdict::Keep(why) => keep.push((c, why)),
        }
    }
    if args.dry_run {
        return dry_run(ctx, ui, &repo, &remove, &keep, args.force).await;
    }
    // --json: stdout holds one document; what is said before it goes to stderr.
    let say = |text: &str| {
        if ui.json {
            ui.status(text)
        } else {
            ui.out(text)
        }
    };
    if remove.is_empty() {
        if ui.json {
            return Ok(super::bulk::report(ui, &[], "pruned"));
        }
        say(&format!(
            "Nothing to prune: no session of this repository matches ({}).",
            describe(&filters)
        ));
        return Ok(0);
    }
    say(&format!(
        "These sessions match ({}) and will be removed (with their containers, networks, volumes and built images):",
        describe(&filters)
    ));
    for (c, why) in &remove {
        say(&format!("  {}  ({})", c.dir.display(), why.join("; ")));
    }
    if !args.yes
        && !super::bulk::confirm(
            ui,
            &format!("Remove {} session(s)? [y/N] ", remove.len()),
            "prune",
        )?
    {
        ui.out("Nothing removed.");
        return Ok(0);
    }
    let (gone, present): (Vec<_>, Vec<_>) = remove.into_iter().partition(|(c, _)| !c.facts.exists);
    let mut results = vec![];
    // A gone session: its engine objects by their labels, then git's record of its worktree,
    // then its branch when merged. Never through `destroy DIR`: with the directory gone, its
    // project could only be guessed from the directory.
    for (c, _) in &gone {
        let r = clean_gone(ctx, ui, &repo, c).await;
        results.push((c.dir.clone(), r));
    }
    let dirs: Vec<PathBuf> = present.into_iter().map(|(c, _)| c.dir).collect();
    if !dirs.is_empty() {
        results.extend(super::bulk::finished(
            crate::reconcile::bulk::each(ctx, dirs, Intent::destroy(args.force), ui, cancel)
                .await?,
            "destroy",
        ));
    }
    Ok(super::bulk::report(ui, &results, "pruned"))
}

fn describe(f: &Filters) -> String {
    let mut parts = vec![];
    if f.stopped {
        parts.push("stopped".to_string());
    }
    if let Some(d) = f.older_than {
        parts.push(format!(
            "older than {}",
            tidy::short_age(d.as_millis() as i64)
        ));
    }
    if let Some(d) = f.idle {
        parts.push(format!(
            "idle for {}",
            tidy::short_age(d.as_millis() as i64)
        ));
    }
    if f.merged {
        parts.push("merged".into());
    }
    if f.gone {
        parts.push("directory gone".into());
    }
    parts.join(", ")
}

/// This repository's sessions: git's worktrees under `sessionsDir` (the main checkout never),
/// and the directories the engine's dev-prism containers name when they carry this repository's
/// label or lie under `sessionsDir`. An existing directory counts only when git lists it as a
/// worktree of this repository (prune never removes other folders).
fn candidates(
    ui: &Ui,
    repo: &Path,
    sessions_dir: &Path,
    project_name: &str,
    all: &[Container],
    filters: &Filters,
) -> Result<Vec<Candidate>> {
    let git = crate::adapters::git::cli(ui.trace());
    let worktrees: Vec<_> = git
        .worktrees(repo)?
        .into_iter()
        .filter(|w| !w.is_main && w.path.starts_with(sessions_dir))
        .collect();
    let repo_s = repo.to_string_lossy();
    let mut out: Vec<Candidate> = vec![];
    let mut dirs: Vec<(PathBuf, Option<String>)> = worktrees
        .iter()
        .map(|w| (w.path.clone(), w.branch.clone()))
        .collect();
    for row in crate::render::sessions(all) {
        let dir = PathBuf::from(&row.dir);
        // The repository a session recorded decides (another repository may share the
        // sessions directory); only a session without the label goes by where it is.
        let ours = match row
            .containers
            .iter()
            .find_map(|c| c.label(crate::compose::labels::REPO_ROOT))
        {
            Some(root) => root == repo_s.as_ref(),
            None => dir.starts_with(sessions_dir),
        };
        if ours && dir != repo && !dirs.iter().any(|(d, _)| d == &dir) {
            dirs.push((dir, None));
        }
    }
    for (dir, branch) in dirs {
        let exists = usage::exists(&dir);
        if exists && !worktrees.iter().any(|w| w.path == dir) {
            continue;
        }
        let dir_s = dir.to_string_lossy().into_owned();
        let containers: Vec<Container> = all
            .iter()
            .filter(|c| c.working_dir() == Some(dir_s.as_str()))
            .cloned()
            .collect();
        let project = project_of(&containers)
            .map(str::to_string)
            .unwrap_or_else(|| crate::desired::project_name(project_name, &dir));
        let branch = branch.or_else(|| git.current_branch(&dir));
        let merged = if filters.merged {
            Some(match &branch {
                Some(b) => git.merged(repo, b)?,
                None => Merged::Unknown("it has no branch".into()),
            })
        } else {
            None
        };
        out.push(Candidate {
            facts: Facts {
                up: containers.iter().any(|c| c.state != State::Stopped),
                created_at: crate::render::created_at(&containers),
                last_activity: usage::last_activity(&dir, &project),
                merged,
                exists,
            },
            dir,
            containers,
            branch,
            project,
        });
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

/// What cleaning up a gone session removes (engine objects by label) and keeps (its branch
/// unless merged).
struct GonePlan {
    containers: Vec<Container>,
    networks: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
    /// The branch to delete, with the tip checked.
    branch: Option<(String, String)>,
    kept: Vec<Kept>,
}

async fn gone_plan(ctx: &mut Ctx, ui: &Ui, repo: &Path, c: &Candidate) -> Result<GonePlan> {
    let git = crate::adapters::git::cli(ui.trace());
    let engine = ctx.engine().await?;
    let containers: Vec<Container> = c
        .containers
        .iter()
        .filter(|x| x.project() == Some(c.project.as_str()))
        .cloned()
        .collect();
    let mut kept = vec![];
    let branch = match &c.branch {
        Some(b) => match git.merged(repo, b)? {
            Merged::Yes => git
                .commit_of(repo, &format!("refs/heads/{b}"))?
                .map(|tip| (b.clone(), tip.trim().to_string())),
            Merged::NoCommits => {
                kept.push(Kept::Unchecked {
                    branch: b.clone(),
                    why: "it has no commits of its own, so it is not merged; `git branch -d` removes it".into(),
                });
                None
            }
            Merged::No(n) => {
                kept.push(Kept::Unmerged {
                    branch: b.clone(),
                    commits: n,
                });
                None
            }
            Merged::Unknown(why) => {
                kept.push(Kept::Unchecked {
                    branch: b.clone(),
                    why,
                });
                None
            }
        },
        None => None,
    };
    Ok(GonePlan {
        containers,
        networks: engine.project_networks(&c.project).await?,
        volumes: engine.project_volumes(&c.project).await?,
        images: engine.project_images(&c.project).await?,
        branch,
        kept,
    })
}

async fn clean_gone(
    ctx: &mut Ctx,
    ui: &Ui,
    repo: &Path,
    c: &Candidate,
) -> Result<crate::plan::Plan> {
    let git = ctx.git();
    let p = gone_plan(ctx, ui, repo, c).await?;
    let dir = c.dir.to_string_lossy();
    ctx.engine().await?.remove_project(&c.project, &dir).await?;
    // git's record of the worktree (its files are gone already), only once the engine's
    // objects are: a failed run leaves it, so the next run finds the session again.
    if git.worktrees(repo)?.iter().any(|w| w.path == c.dir) {
        git.remove_worktree(repo, &c.dir, true)?;
    }
    if let Some((branch, tip)) = &p.branch {
        git.delete_branch(repo, branch, tip)?;
    }
    Ok(crate::plan::Plan {
        kept: p.kept,
        ..Default::default()
    })
}

/// `--dry-run`: each session with its verdict; for one to remove, exactly what its removal
/// removes and keeps (its destroy plan, or for a gone session the objects its labels find).
async fn dry_run(
    ctx: &mut Ctx,
    ui: &Ui,
    repo: &Path,
    remove: &[(Candidate, Vec<String>)],
    keep: &[(Candidate, String)],
    force: bool,
) -> Result<i32> {
    let mut rows = vec![];
    for (c, why) in remove {
        let (removes, keeps) = if c.facts.exists {
            let quiet = ui.quieted();
            let p = crate::reconcile::prepare(
                ctx,
                &c.dir,
                Intent::destroy(force),
                &context::Wants::default(),
                &quiet,
            )
            .await?;
            (
                p.plan
                    .ordered()
                    .iter()
                    .flat_map(|s| {
                        // A branch goes in its worktree's step.
                        let branch = s
                            .details
                            .iter()
                            .filter(|d| matches!(d.subject, crate::plan::Subject::Branch(_)));
                        std::iter::once(s.subject.to_string())
                            .chain(branch.map(|d| d.subject.to_string()))
                    })
                    .collect::<Vec<_>>(),
                p.plan.kept.iter().map(ToString::to_string).collect(),
            )
        } else {
            let g = gone_plan(ctx, ui, repo, c).await?;
            let mut removes: Vec<String> = g
                .containers
                .iter()
                .map(|x| format!("container {}", x.name))
                .collect();
            removes.extend(g.networks.iter().map(|n| format!("network {n}")));
            removes.extend(g.volumes.iter().map(|n| format!("volume {n}")));
            removes.extend(g.images.iter().map(|n| format!("image {n}")));
            removes.push(format!("git's record of worktree {}", c.dir.display()));
            if let Some((b, _)) = &g.branch {
                removes.push(format!("branch {b} (merged)"));
            }
            (removes, g.kept.iter().map(ToString::to_string).collect())
        };
        rows.push(json::PruneRow {
            dir: c.dir.to_string_lossy().into_owned(),
            remove: true,
            reasons: why.clone(),
            removes,
            keeps,
        });
    }
    for (c, why) in keep {
        rows.push(json::PruneRow {
            dir: c.dir.to_string_lossy().into_owned(),
            remove: false,
            reasons: vec![why.clone()],
            removes: vec![],
            keeps: vec![],
        });
    }
    if ui.json {
        ui.json_out(&json::doc(
            "prune",
            json::PruneDryRun {
                dry_run: true,
                sessions: rows,
            },
        ));
        return Ok(0);
    }
    if rows.is_empty() {
        ui.out("No sessions of this repository.");
    }
    for r in rows {
        let verb = if r.remove { "remove" } else { "keep  " };
        ui.out(&format!("{verb} {}  ({})", r.dir, r.reasons.join("; ")));
        for s in r.removes {
            ui.out(&format!("    - {s}"));
        }
        for k in r.keeps {
            ui.out(&format!("    kept: {k}"));
        }
    }
    Ok(0)
}
