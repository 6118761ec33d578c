//! Walks a [`Plan`] in dependency order and performs each step through the adapters, reporting
//! progress. The plan is the only input: what `plan` printed is what happens.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::adapters::{fs, git};
use crate::compose::file_args;
use crate::context::Ctx;
use crate::desired::{render_file, session_vars, Desired, Var};
use crate::error::{Error, Result};
use crate::observed::{Container, Health, State};
use crate::plan::{Content, Op, Plan, Step};
use crate::ui::Ui;

/// Executes every step of `plan` in order. `repo` is the main checkout (for worktree and
/// branch operations, which must not run from inside the worktree they remove).
pub async fn apply(
    plan: &Plan,
    desired: &Desired,
    repo: Option<&Path>,
    ctx: &mut Ctx,
    ui: &Ui,
) -> Result<()> {
    let mut interrupt = crate::adapters::process::Interrupt::install();
    let all = Instant::now();
    let steps = plan.ordered();
    for step in &steps {
        let started = Instant::now();
        let line = format!("{} {}", step.action.glyph(), step.subject);
        // Setup commands print their own output: no spinner over it.
        let spinner = (ui.animate() && !matches!(step.op, Op::RunSetup { .. }))
            .then(|| crate::ui::Spinner::start(line.clone()));
        if spinner.is_none() {
            ui.status(&format!("{line} …"));
        }
        let result = tokio::select! {
            r = execute(step, desired, repo, ctx) => r,
            _ = interrupt.wait() => Err(Error::new(
                crate::error::Kind::Interrupted,
                format!("interrupted during: {}", step.subject),
            )
            .with_hint("run `dev-prism plan` to see where the session stands, `dev-prism apply` to converge")),
        };
        drop(spinner);
        result?;
        let took = started.elapsed().as_secs_f64();
        if ui.animate() {
            ui.status(&format!("{line} ({took:.1}s)"));
        } else {
            ui.status(&format!("  done in {took:.1}s"));
        }
    }
    if !steps.is_empty() {
        ui.status(&format!(
            "Applied {} step(s) in {:.1}s.",
            steps.len(),
            all.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

fn need_repo(repo: Option<&Path>) -> Result<&Path> {
    repo.ok_or_else(|| Error::failure("this step needs the git repository, which was not found"))
}

async fn execute(step: &Step, desired: &Desired, repo: Option<&Path>, ctx: &mut Ctx) -> Result<()> {
    let dir_s = desired.dir.to_string_lossy().into_owned();
    match &step.op {
        Op::AddWorktree {
            path,
            branch,
            create_branch,
        } => git::add_worktree(need_repo(repo)?, path, branch, *create_branch),
        Op::WriteFile {
            path,
            content: Content::Text { text },
            mode,
        } => fs::write_atomic(path, text, *mode),
        Op::WriteFile {
            path,
            content: Content::Rendered { render },
            mode,
        } => {
            // Known after apply: render from what Docker reports now.
            let containers = ctx.engine().await?.session_containers(&dir_s).await?;
            let vars = session_vars(&desired.project, &desired.dir, &containers);
            let current = fs::read(path)?.map(|(t, _)| t);
            match render_file(render, &vars, current.as_deref())? {
                Some(text) => fs::write_atomic(path, &text, *mode),
                None => Ok(()),
            }
        }
        Op::RemoveFile { path } => fs::remove(path),
        Op::ComposeUp {
            services,
            profiles,
            remove_orphans,
        } => {
            let compose = ctx.compose()?;
            if compose.flavor != desired.flavor {
                return Err(Error::failure(format!(
                    "this session's files were written for Compose {}, but Compose {} ({}) would run them",
                    desired.flavor.label(),
                    compose.flavor.label(),
                    compose.version
                ))
                .with_hint("set DEV_PRISM_COMPOSE to the flavour the session was made with, or destroy and re-create it"));
            }
            compose
                .up(
                    &desired.dir,
                    &desired.project,
                    &file_args(&desired.compose_files, desired.flavor),
                    services,
                    profiles,
                    *remove_orphans,
                )
                .await
        }
        Op::WaitReady { services } => wait_ready(desired, services, ctx).await,
        Op::StopContainers { ids } => ctx.engine().await?.stop(ids).await,
        Op::RemoveProject { project } => ctx.engine().await?.remove_project(project, &dir_s).await,
        Op::RemoveWorktree { path, force } => git::remove_worktree(need_repo(repo)?, path, *force),
        Op::DeleteBranch { branch, .. } => git::delete_branch(need_repo(repo)?, branch),
        Op::RunSetup { command } => {
            let containers = ctx.engine().await?.session_containers(&dir_s).await?;
            let vars = session_vars(&desired.project, &desired.dir, &containers);
            run_setup(&desired.dir, command, &vars)
        }
    }
}

/// Why a service is not ready yet, or has failed for good.
enum Readiness {
    Ready,
    Waiting(String),
    Failed(String),
}

fn readiness(service: &str, containers: &[Container]) -> Readiness {
    let Some(c) = containers.iter().find(|c| c.service == service) else {
        return Readiness::Waiting("no container yet".into());
    };
    match (c.state, c.health) {
        (State::Running, Health::Healthy | Health::None) => Readiness::Ready,
        (State::Running, Health::Starting) => Readiness::Waiting("health: starting".into()),
        (State::Running, Health::Unhealthy) => Readiness::Failed("is unhealthy".into()),
        // A one-shot service that finished successfully is done.
        (State::Stopped, _) if c.exit_code == Some(0) => Readiness::Ready,
        (State::Stopped, _) => Readiness::Failed(match c.exit_code {
            Some(code) => format!("exited with code {code}"),
            None => format!("is not running ({})", c.status),
        }),
        (State::Restarting, _) => Readiness::Waiting("restarting".into()),
        (State::Paused, _) => Readiness::Failed("is paused".into()),
    }
}

/// Watches the services' state through the API (no fixed sleeps beyond a short poll) until
/// every one is ready, one fails, or the timeout passes.
async fn wait_ready(desired: &Desired, services: &[String], ctx: &mut Ctx) -> Result<()> {
    let engine = ctx.engine().await?;
    let dir_s = desired.dir.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(desired.ready_timeout_secs);
    let mut poll = Duration::from_millis(25);
    loop {
        let containers = engine.session_containers(&dir_s).await?;
        let mut waiting = None;
        for s in services {
            match readiness(s, &containers) {
                Readiness::Ready => {}
                Readiness::Waiting(why) => {
                    waiting.get_or_insert((s.clone(), why));
                }
                Readiness::Failed(why) => return Err(service_failed(desired, ctx, s, &why)),
            }
        }
        let Some((service, why)) = waiting else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(service_failed(
                desired,
                ctx,
                &service,
                &format!(
                    "did not become ready within {} s ({why})",
                    desired.ready_timeout_secs
                ),
            ));
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(Duration::from_millis(100));
    }
}

fn service_failed(desired: &Desired, ctx: &mut Ctx, service: &str, why: &str) -> Error {
    let logs = ctx
        .compose()
        .map(|c| {
            c.logs_tail(
                &desired.dir,
                &desired.project,
                &file_args(&desired.compose_files, desired.flavor),
                service,
                10,
            )
        })
        .unwrap_or_default();
    let mut message = format!("service `{service}` {why}");
    if !logs.is_empty() {
        message.push_str("; its last log lines:\n");
        message.push_str(&logs);
    }
    Error::failure(message).with_hint(format!(
        "see `docker compose -p {} logs {service}`; fix it, then run `dev-prism apply`",
        desired.project
    ))
}

/// Runs one setup command through `sh -c` in the session directory, with the session
/// variables in its environment. Its output goes to stderr (stdout is the command's data).
fn run_setup(dir: &Path, command: &str, vars: &[Var]) -> Result<()> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| Error::failure(format!("could not run setup `{command}`: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let code = status
        .code()
        .map(|c| format!("exit code {c}"))
        .unwrap_or_else(|| "a signal".into());
    let mut e = Error::failure(format!("setup command `{command}` failed with {code}"))
        .with_hint("the session is running; fix the command or run it by hand (`dev-prism info` shows the ports)");
    e.keep_session = true;
    Err(e)
}
