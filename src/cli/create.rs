use std::path::{Path, PathBuf};

use crate::adapters::git;
use crate::context::{self, Ctx};
use crate::desired::{Intent, ENV_FILE};
use crate::error::{Error, Result};
use crate::observed::State;
use crate::plan;
use crate::reconcile;
use crate::ui::Ui;
use crate::util::UtcTime;

/// Create a session: a worktree (or --in-place), services on random ports, `.env.session`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Branch for the worktree (default: a new `session/<UTC timestamp>`). An existing branch
    /// is checked out.
    #[arg(short, long, conflicts_with = "in_place")]
    branch: Option<String>,
    /// Use the current directory instead of creating a worktree.
    #[arg(long)]
    in_place: bool,
    #[command(flatten)]
    select: super::SelectionArgs,
    /// Stream the services' logs after creation instead of returning (Ctrl-C stops streaming;
    /// the services keep running).
    #[arg(long)]
    no_detach: bool,
}

/// What create made, so a failure can remove exactly that.
#[derive(Default)]
struct Made {
    worktree: Option<PathBuf>,
    branch: Option<String>,
    repo: Option<PathBuf>,
    /// The Compose project this command started from nothing (an existing, stopped session
    /// it only starts is not create's to remove).
    project: Option<String>,
}

pub async fn run(args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let cwd = context::session_dir(None)?;
    let (dir, mut made) = if args.in_place {
        (cwd.clone(), Made::default())
    } else {
        make_worktree(&cwd, args.branch.as_deref(), ctx, ui).await?
    };
    let _lock = match context::lock(&dir) {
        Ok(l) => l,
        Err(e) => {
            // Only a worktree this command just made is removed; an in-place directory is
            // someone else's session right now.
            rollback(&dir, &made, ctx, ui).await;
            return Err(e);
        }
    };
    let wants = context::Wants {
        selection: args.select.selection(Some(crate::desired::Mode::Docker)),
        setup: true,
    };
    match up(&dir, &wants, ctx, ui, &mut made).await {
        Ok(code) if args.no_detach => {
            super::logs::follow(ctx, &dir, &super::logs::LogOptions::default(), ui).await?;
            Ok(code)
        }
        Ok(code) => Ok(code),
        Err(e) => {
            // Rollback removes only what `made` records; a failed setup command leaves the
            // running session for inspection.
            if !e.keep_session {
                rollback(&dir, &made, ctx, ui).await;
            }
            Err(e)
        }
    }
}

async fn up(
    dir: &Path,
    wants: &context::Wants,
    ctx: &mut Ctx,
    ui: &Ui,
    made: &mut Made,
) -> Result<i32> {
    let p = reconcile::prepare(ctx, dir, Intent::Up, wants).await?;
    if p.observed
        .containers
        .iter()
        .any(|c| c.state == State::Running)
    {
        return Err(
            Error::usage(format!("a session is already running in {}", dir.display()))
                .with_hint("use `dev-prism apply` to converge it, or `dev-prism stop` first"),
        );
    }
    if p.observed.containers.is_empty() && p.observed.session_file.is_none() {
        made.project = Some(p.desired.project.clone());
    }
    let containers = reconcile::execute(ctx, &p, ui).await?;
    ui.status(&format!(
        "Session ready in {} ({ENV_FILE} written)",
        dir.display()
    ));
    super::print_session(ui, "create", dir, &p.desired.project, &containers, true);
    Ok(0)
}

async fn make_worktree(
    cwd: &Path,
    branch: Option<&str>,
    ctx: &mut Ctx,
    ui: &Ui,
) -> Result<(PathBuf, Made)> {
    let Some(top) = git::toplevel(cwd)? else {
        return Err(
            Error::usage(format!("{} is not inside a git repository", cwd.display()))
                .with_hint("run `git init` first, or use `dev-prism create --in-place`"),
        );
    };
    let repo = git::main_checkout(&top)?.unwrap_or_else(|| top.clone());
    // Validate config and compose file before anything is created.
    let config = context::load_config(&top, Some(&repo))?;
    context::load_compose(&top, &config)?;
    let (base, explicit) = match branch {
        Some(b) => {
            if !git::valid_branch_name(&repo, b)? {
                return Err(
                    Error::usage(format!("`{b}` is not a valid git branch name"))
                        .with_hint("see `git check-ref-format --help`; e.g. feature/my-change"),
                );
            }
            (b.to_string(), true)
        }
        None => (format!("session/{}", UtcTime::now().slug()), false),
    };
    // Connect before creating anything: an unreachable engine must not leave a worktree.
    ctx.engine().await?;
    ctx.compose()?;
    std::fs::create_dir_all(&config.sessions_dir).map_err(|e| {
        Error::failure(format!(
            "cannot create {}: {e}",
            config.sessions_dir.display()
        ))
    })?;
    let sessions_dir = std::fs::canonicalize(&config.sessions_dir).map_err(|e| {
        Error::failure(format!(
            "cannot resolve {}: {e}",
            config.sessions_dir.display()
        ))
    })?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let name = if attempt == 1 {
            base.clone()
        } else {
            format!("{base}-{attempt}")
        };
        let create_branch = !git::branch_exists(&repo, &name)?;
        let path = sessions_dir.join(name.replace('/', "-"));
        if path.exists() {
            if explicit {
                return Err(Error::usage(format!("{} already exists", path.display()))
                    .with_hint("destroy the session there first, or choose another --branch"));
            }
            continue;
        }
        if !explicit && !create_branch {
            continue;
        }
        let step = plan::add_worktree_step(path.clone(), &name, create_branch);
        ui.status(&format!(
            "{} {} (because {})",
            step.action.glyph(),
            step.subject,
            step.reason
        ));
        match git::add_worktree(&repo, &path, &name, create_branch) {
            Ok(()) => {
                let dir = std::fs::canonicalize(&path).unwrap_or(path.clone());
                // Gitignored env files a fresh worktree lacks: copied from the main checkout;
                // their DATABASE_URL (and envRewrite keys) are rewritten once ports are known.
                for f in &config.env_files {
                    let (src, dst) = (repo.join(f), dir.join(f));
                    if src.is_file() && !dst.exists() {
                        ui.status(&format!(
                            "+ file {f} (because envFiles copies it from the main checkout)"
                        ));
                        crate::adapters::fs::copy(&src, &dst, 0o600)?;
                    }
                }
                let made = Made {
                    worktree: Some(dir.clone()),
                    branch: create_branch.then_some(name),
                    repo: Some(repo),
                    project: None,
                };
                return Ok((dir, made));
            }
            // Another create took the same name a moment ago: try the next one.
            Err(e)
                if !explicit
                    && attempt < 20
                    && (e.message.contains("already exists") || e.message.contains("lock")) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes exactly what this create made: the session's Docker objects, its generated files,
/// the worktree and the branch it created. Reports, never fails.
async fn rollback(dir: &Path, made: &Made, ctx: &mut Ctx, ui: &Ui) {
    if made.project.is_none() && made.worktree.is_none() {
        return;
    }
    ui.warn("create failed; removing what it created");
    if let Some(project) = &made.project {
        if let Ok(engine) = ctx.engine().await {
            let dir_s = dir.to_string_lossy();
            // An interrupted Compose may have had a container create in flight: look again.
            for _ in 0..3 {
                if let Err(e) = engine.remove_project(project, &dir_s).await {
                    ui.warn(&format!("  could not remove containers: {e}"));
                    break;
                }
                if engine
                    .session_containers(&dir_s)
                    .await
                    .is_ok_and(|c| c.is_empty())
                {
                    break;
                }
            }
        }
        for f in [ENV_FILE, crate::compose::SESSION_FILE] {
            let _ = crate::adapters::fs::remove(&dir.join(f));
        }
    }
    if let (Some(wt), Some(repo)) = (&made.worktree, &made.repo) {
        if let Err(e) = git::remove_worktree(repo, wt, true) {
            ui.warn(&format!(
                "  could not remove worktree {}: {e}",
                wt.display()
            ));
        }
        if let Some(b) = &made.branch {
            if let Err(e) = git::delete_branch(repo, b) {
                ui.warn(&format!("  could not delete branch {b}: {e}"));
            }
        }
    }
}
