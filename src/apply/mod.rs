//! Walks a [`Plan`] in dependency order and performs each step through [`Effects`],
//! reporting progress. The plan is the only input: what `plan` printed is what happens.

pub mod effects;
#[cfg(test)]
mod fake;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::desired::{render_file, session_vars, Desired};
use crate::error::{Error, Result};
use crate::observed::{Container, Health, State};
use crate::plan::{Content, Op, Plan, Step};
use crate::ui::Ui;
pub use effects::Effects;

/// Executes every step of `plan` in order through `fx`.
pub async fn apply<E: Effects>(plan: &Plan, desired: &Desired, fx: &mut E, ui: &Ui) -> Result<()> {
    apply_counted(plan, desired, fx, ui, &mut 0).await
}

/// [`apply`], counting in `done` the steps completed (on failure: the index of the step that
/// failed), so a caller knows what exists (create's rollback).
pub async fn apply_counted<E: Effects>(
    plan: &Plan,
    desired: &Desired,
    fx: &mut E,
    ui: &Ui,
    done: &mut usize,
) -> Result<()> {
    *done = 0;
    check_host_network(plan, desired, ui)?;
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
            r = execute(step, desired, fx) => r,
            _ = interrupt.wait() => Err(Error::new(
                crate::error::Kind::Interrupted,
                format!("interrupted during: {}", step.subject),
            )
            .with_hint("run `dev-prism plan` to see where the session stands, `dev-prism apply` to converge")),
        };
        drop(spinner);
        result?;
        *done += 1;
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

async fn execute<E: Effects>(step: &Step, desired: &Desired, fx: &mut E) -> Result<()> {
    match &step.op {
        Op::AddWorktree {
            path,
            branch,
            create_branch,
            start,
        } => fx.add_worktree(path, branch, *create_branch, start.as_deref()),
        Op::CopyFile { from, to, mode } => fx.copy_file(&desired.dir, from, to, *mode),
        Op::WriteFile {
            path,
            content: Content::Text { text },
            mode,
        } => fx.write_file(&desired.dir, path, text.as_bytes(), *mode),
        Op::WriteFile {
            path,
            content: Content::Rendered { render },
            mode,
        } => {
            // Known after apply: render from what Docker reports now.
            let containers = fx.containers(desired).await?;
            let vars = session_vars(&desired.project, &desired.dir, &containers);
            let current = fx.read_file(path)?;
            match render_file(render, &vars, current.as_deref())? {
                Some(bytes) => fx.write_file(&desired.dir, path, &bytes, *mode),
                None => Ok(()),
            }
        }
        Op::RemoveFile { path } => fx.remove_file(&desired.dir, path),
        Op::ComposeUp {
            services,
            profiles,
            remove_orphans,
        } => {
            fx.compose_up(desired, services, profiles, *remove_orphans)
                .await
        }
        Op::WaitReady { services } => wait_ready(desired, services, fx).await,
        Op::StopContainers { ids } => fx.stop(ids).await,
        Op::RemoveProject {
            project,
            working_dir,
        } => fx.remove_project(project, working_dir).await,
        Op::RemoveWorktree { path, force } => fx.remove_worktree(path, *force),
        Op::DeleteBranch {
            branch,
            expected,
            force,
        } => fx.delete_branch(branch, expected.as_deref(), *force),
        Op::RunSetup { command } => {
            let containers = fx.containers(desired).await?;
            let vars = session_vars(&desired.project, &desired.dir, &containers);
            fx.run_setup(&desired.dir, command, &vars)
        }
    }
}

/// `network_mode: host` bypasses the session's port isolation: a service started that way
/// with published ports would bind them on the host itself (and clash with every other
/// session), so it is refused before anything starts; one that publishes nothing is warned
/// about.
fn check_host_network(plan: &Plan, desired: &Desired, ui: &Ui) -> Result<()> {
    for step in plan.ordered() {
        let Op::ComposeUp { services, .. } = &step.op else {
            continue;
        };
        for name in services {
            let Some(svc) = desired.services.get(name).filter(|s| s.host_network) else {
                continue;
            };
            if svc.ports.is_empty() {
                ui.warn(&format!(
                    "warning: service `{name}` uses `network_mode: host`: whatever it listens on is bound on the host itself, shared by every session"
                ));
                continue;
            }
            let ports: Vec<String> = svc.ports.iter().map(|p| p.key()).collect();
            return Err(Error::usage(format!(
                "service `{name}` uses `network_mode: host`, which bypasses the session's port isolation: its ports ({}) would be bound on the host itself, the same in every session",
                ports.join(", ")
            ))
            .with_hint("remove `network_mode: host` from that service (its published ports already reach it from the host), or run it outside dev-prism"));
        }
    }
    Ok(())
}

/// Executes a plan made only of file writes whose content is known (what `info` heals as it
/// reads); returns the steps it carried out.
pub fn write_files<'p, E: Effects>(
    plan: &'p Plan,
    root: &Path,
    fx: &mut E,
) -> Result<Vec<&'p Step>> {
    let steps = plan.ordered();
    for step in &steps {
        match &step.op {
            Op::WriteFile {
                path,
                content: Content::Text { text },
                mode,
            } => fx.write_file(root, path, text.as_bytes(), *mode)?,
            other => return Err(Error::failure(format!("not a file write: {other:?}"))),
        }
    }
    Ok(steps)
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
async fn wait_ready<E: Effects>(desired: &Desired, services: &[String], fx: &mut E) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(desired.ready_timeout_secs);
    let mut poll = Duration::from_millis(25);
    loop {
        let containers = fx.containers(desired).await?;
        let mut waiting = None;
        for s in services {
            match readiness(s, &containers) {
                Readiness::Ready => {}
                Readiness::Waiting(why) => {
                    waiting.get_or_insert((s.clone(), why));
                }
                Readiness::Failed(why) => return Err(service_failed(desired, fx, s, &why)),
            }
        }
        let Some((service, why)) = waiting else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(service_failed(
                desired,
                fx,
                &service,
                &format!(
                    "did not become ready within {} s ({why})",
                    desired.ready_timeout_secs
                ),
            ));
        }
        fx.pause(poll).await;
        poll = (poll * 2).min(Duration::from_millis(100));
    }
}

fn service_failed<E: Effects>(desired: &Desired, fx: &mut E, service: &str, why: &str) -> Error {
    let logs = fx.service_logs(desired, service);
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
