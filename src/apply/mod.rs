//! Walks a [`Plan`] in dependency order and performs each step through [`Effects`],
//! reporting progress. The plan is the only input: what `plan` printed is what happens.
//! (Over 400 lines: the walk, readiness — one observation in which every service holds — and
//! the test-only fault switch, with readiness's own tests.)

#[cfg(test)]
pub(crate) mod agreement_tests;
pub mod effects;
#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod ready_tests;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::adapters::process::{interrupted, Cancel};
use crate::desired::{render_file, session_vars, Desired};
use crate::error::{Error, Kind, Problem, Result};
use crate::observed::{Container, Health, State};
use crate::plan::{Content, Op, Plan, Step};
use crate::ui::Ui;
pub use effects::Effects;

/// Tests only: `DEV_PRISM_FAULT=abort-after:N` fails the apply with an injected error once step
/// N (0-based) of the plan being applied is done (once per process); `signal-after:N:SIG`
/// (INT, TERM, HUP, KILL) makes the process send itself SIG then, and waits (briefly) for it to
/// be noticed like a real one. Compiled in debug builds only: a release build ignores it.
#[cfg(not(debug_assertions))]
async fn fault_after(_: usize, _: &mut Cancel, _: &str) -> Result<()> {
    Ok(())
}

#[cfg(debug_assertions)]
async fn fault_after(index: usize, cancel: &mut Cancel, subject: &str) -> Result<()> {
    // Once per process: the plan that follows (create's rollback) runs undisturbed.
    static FIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Ok(fault) = std::env::var("DEV_PRISM_FAULT") else {
        return Ok(());
    };
    let parts: Vec<&str> = fault.split(':').collect();
    let at =
        |n: &str| n.parse() == Ok(index) && !FIRED.swap(true, std::sync::atomic::Ordering::Relaxed);
    match parts[..] {
        ["abort-after", n] if at(n) => Err(Error::failure(format!(
            "injected fault (DEV_PRISM_FAULT) after: {subject}"
        ))),
        ["signal-after", n, sig] if at(n) => {
            let number = match sig {
                "KILL" => libc::SIGKILL,
                _ => crate::error::Signal::ALL
                    .into_iter()
                    .find(|s| s.name() == format!("SIG{sig}"))
                    .ok_or_else(|| Error::usage(format!("DEV_PRISM_FAULT: unknown signal {sig}")))?
                    .number(),
            };
            // SAFETY: kill(2) on our own pid has no memory effects.
            unsafe { libc::kill(libc::getpid(), number) };
            // An ignored signal (`nohup`) changes nothing.
            match tokio::time::timeout(Duration::from_secs(2), cancel.wait()).await {
                Ok(s) => Err(interrupted(s, subject)),
                Err(_) => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Executes every step of `plan` in order through `fx`, with nothing to cancel it.
pub async fn apply<E: Effects>(plan: &Plan, desired: &Desired, fx: &mut E, ui: &Ui) -> Result<()> {
    apply_counted(plan, desired, fx, ui, &mut 0, &mut Cancel::never()).await
}

/// [`apply`], counting in `done` the steps completed (on failure: the index of the step that
/// failed), so a caller knows what exists (create's rollback), until `cancel` reports a signal.
/// It is checked after each step and raced against the step running: what cannot be cut
/// half-way is never cut (a file write; removing a worktree and deleting its branch, one
/// step; the steps the engine finishes anyway are waited for; a volume copy abandoned
/// unpauses its source); a setup command is handed `cancel` and forwards the signal.
pub async fn apply_counted<E: Effects>(
    plan: &Plan,
    desired: &Desired,
    fx: &mut E,
    ui: &Ui,
    done: &mut usize,
    cancel: &mut Cancel,
) -> Result<()> {
    *done = 0;
    // What the plan says before acting, and what it refuses: decided when it was made.
    for w in &plan.warnings {
        ui.warn(&w.to_string());
    }
    if let Some(refusal) = plan.refusals.first() {
        return Err(refusal.error());
    }
    let all = Instant::now();
    let steps = plan.ordered();
    for (index, step) in steps.iter().enumerate() {
        let started = Instant::now();
        let subject = step.subject.to_string();
        let line = format!("{} {subject}", step.action.glyph());
        // Setup commands print their own output: no spinner over it.
        let setup = matches!(step.op, Op::RunSetup { .. });
        let spinner = (ui.animate() && !setup).then(|| ui.spinner(line.clone()));
        if spinner.is_none() {
            ui.status(&format!("{line} …"));
        }
        let result = if setup {
            // Forwards a signal to the command and reports the interruption itself.
            execute(step, desired, fx, cancel).await
        } else {
            // Only setup uses the cancellation it is handed; the apply's own holder races it.
            let mut unused = Cancel::never();
            let run = execute(step, desired, fx, &mut unused);
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r,
                s = cancel.wait() => {
                    if engine_finishes(&step.op) {
                        // The engine goes on with a stop or removal it began whether we wait or
                        // not; a command run right after would race it (measured: `start`
                        // after an interrupted `stop` saw its service killed meanwhile).
                        ui.warn(&format!(
                            "{}: waiting for the engine to finish `{}`, which it already began ({} again to leave it to the engine)",
                            s.name(),
                            subject,
                            if s == crate::error::Signal::Int { "press Ctrl-C" } else { "send a signal" }
                        ));
                        tokio::select! {
                            _ = &mut run => {}
                            _ = cancel.wait() => {}
                        }
                    }
                    Err(interrupted(s, &subject))
                }
            }
        };
        drop(spinner);
        if let Err(e) = result {
            // Ctrl-C on a terminal also reaches Compose and git, which may fail first: the
            // signal, once noticed, is the cause.
            return Err(match e.kind() {
                Kind::Interrupted(_) => e,
                _ => match tokio::time::timeout(Duration::from_millis(200), cancel.wait()).await {
                    Ok(s) => interrupted(s, &subject),
                    Err(_) => e,
                },
            });
        }
        // A failure from here on counts as this step's (its effects exist).
        fault_after(index, cancel, &subject).await?;
        // A signal that came as the step finished ends the apply here, not a step later (the
        // yield lets the runtime notice one that arrived during a blocking step).
        tokio::task::yield_now().await;
        if let Some(s) = cancel.take() {
            return Err(interrupted(s, &subject));
        }
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

async fn execute<E: Effects>(
    step: &Step,
    desired: &Desired,
    fx: &mut E,
    cancel: &mut Cancel,
) -> Result<()> {
    match &step.op {
        Op::AddWorktree {
            path,
            branch,
            create_branch,
            start,
        } => {
            fx.add_worktree(path, branch, *create_branch, start.as_deref())?;
            fx.exclude_generated(path, &crate::desired::exclude::generated_names(desired));
            Ok(())
        }
        Op::CopyFile { from, to, mode } => fx.copy_file(&desired.dir, from, to, *mode),
        Op::CopyTree {
            from, to, paths, ..
        } => fx.copy_tree(from, to, paths),
        Op::CopyVolumes { source, volumes } => fx.copy_volumes(desired, source, volumes).await,
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
            let vars = session_vars(&desired.project, &desired.dir, &containers, &desired.proxy);
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
            unpause,
        } => {
            if !unpause.is_empty() {
                fx.unpause(unpause).await?;
                if services.is_empty() {
                    return Ok(());
                }
            }
            fx.up(desired, services, profiles, *remove_orphans).await
        }
        Op::WaitReady { services } => wait_ready(desired, services, fx).await,
        Op::StopContainers { ids } => fx.stop(ids).await,
        Op::RemoveProject {
            project,
            containers,
            networks,
            volumes,
            images,
            ..
        } => {
            let objects = effects::ProjectObjects {
                containers,
                networks,
                volumes,
                images,
            };
            fx.remove_project(project, &objects).await
        }
        Op::RemoveWorktree {
            path,
            force,
            branch,
        } => {
            fx.remove_worktree(path, *force)?;
            match branch {
                Some(b) => fx.delete_branch(&b.branch, &b.expected),
                None => Ok(()),
            }
        }
        Op::RunSetup { command } => {
            let containers = fx.containers(desired).await?;
            let vars = session_vars(&desired.project, &desired.dir, &containers, &desired.proxy);
            fx.run_setup(&desired.dir, command, &vars, cancel).await
        }
    }
}

/// Whether an apply ended because the engine refused the session's subnet as taken (Compose's
/// own words): another network took it after the plan was made.
pub fn subnet_taken(e: &Error) -> bool {
    matches!(e.problem(), Problem::Compose { stderr, .. } if crate::subnet::is_overlap_error(stderr))
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

/// Why a container is not ready yet, or has failed for good.
#[derive(Debug, PartialEq, Eq)]
enum Readiness {
    Ready,
    Waiting(String),
    Failed(String),
}

/// Whether the engine's health verdict counts again for a container this apply unpaused:
/// `seen` is the start of the last check logged right after the unpause (`None`: none was).
/// Of the checks logged after it, the first may have started while the container was still
/// paused, and a machine under load may fail one more right after the unpause (measured in
/// CI), so a failure alone does not end the wait: a check that passed does, and so do four
/// failures since (at least three of the running container's, Docker's default `retries`),
/// or `seen` rotated out of the log (the engine keeps the last five).
pub fn checked_since(log: &[(String, i64)], seen: Option<&str>) -> bool {
    let after = match seen {
        None => log,
        Some(seen) => match log.iter().position(|(start, _)| start == seen) {
            Some(i) => &log[i + 1..],
            None => return true,
        },
    };
    after.iter().any(|(_, code)| *code == 0) || after.len() >= 4
}

/// How long a container without a healthcheck must be seen running before it counts: one that
/// exits right after starting is caught (Compose's `up --wait` first looks after 500 ms).
const SETTLE: Duration = Duration::from_millis(500);

/// One container of a waited-for service. `settled`: it has been running for at least
/// [`SETTLE`] (Docker's status says a second or more, or this wait saw it running that long).
fn readiness(c: &Container, is_job: bool, settled: bool) -> Readiness {
    let code = |prefix: &str| {
        c.status
            .strip_prefix(prefix)
            .and_then(|r| r.split(')').next())
            .map(str::to_string)
    };
    match (c.state, c.health) {
        // A crash loop: Docker restarts it after every exit. Never ready.
        (State::Restarting, _) => Readiness::Failed(match code("Restarting (") {
            Some(n) => format!("keeps restarting (it exited with code {n})"),
            None => "keeps restarting".into(),
        }),
        (State::Paused, _) => Readiness::Failed("is paused".into()),
        (State::Stopped, _) => match c.exit_code {
            Some(0) if is_job => Readiness::Ready,
            Some(0) => Readiness::Failed(
                "exited with code 0, but it is not a one-shot job (list it under `jobs` in the config if it is one)"
                    .into(),
            ),
            Some(n) => Readiness::Failed(format!("exited with code {n}")),
            // Created, not started yet (Compose starts it after its dependencies).
            None if c.status.starts_with("Created") => Readiness::Waiting("created".into()),
            None => Readiness::Failed(format!("is not running ({})", c.status)),
        },
        (State::Running, _) if is_job => Readiness::Waiting("job still running".into()),
        (State::Running, Health::Unhealthy) => Readiness::Failed("is unhealthy".into()),
        (State::Running, Health::Starting) => Readiness::Waiting("health: starting".into()),
        (State::Running, Health::Healthy) => Readiness::Ready,
        (State::Running, Health::None) if settled => Readiness::Ready,
        (State::Running, Health::None) => Readiness::Waiting("just started".into()),
    }
}

/// Watches the services' containers through the API (no fixed sleeps beyond a short poll).
/// Ready is ONE observation in which every long-running service runs (healthy where it has a
/// healthcheck) and every job has exited 0. A container seen exited non-zero, restarting,
/// unhealthy or paused at any observation fails at once; so does the timeout.
async fn wait_ready<E: Effects>(desired: &Desired, services: &[String], fx: &mut E) -> Result<()> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(desired.ready_timeout_secs);
    let mut poll = Duration::from_millis(25);
    // When this wait first saw each container running.
    let mut running_since: std::collections::HashMap<String, Instant> = Default::default();
    loop {
        let containers = fx.containers(desired).await?;
        let now = Instant::now();
        let mut waiting = None;
        for s in services {
            let is_job = desired.services.get(s).is_some_and(|d| d.is_job);
            let mine: Vec<&Container> = containers.iter().filter(|c| &c.service == s).collect();
            if mine.is_empty() {
                waiting.get_or_insert((s.clone(), "no container yet".to_string()));
            }
            for c in mine {
                let since = (c.state == State::Running)
                    .then(|| *running_since.entry(c.id.clone()).or_insert(now));
                let settled = !c.status.contains("Less than a second")
                    || since.is_some_and(|t| now.duration_since(t) >= SETTLE);
                // Unhealthy from checks that failed while it was paused: wait for a check
                // of the running container (DESIGN §10 "paused").
                if c.state == State::Running
                    && c.health == Health::Unhealthy
                    && !fx.health_is_current(&c.id).await?
                {
                    waiting.get_or_insert((
                        s.clone(),
                        "unpaused; waiting for a healthcheck of the running container to pass"
                            .into(),
                    ));
                    continue;
                }
                match readiness(c, is_job, settled) {
                    Readiness::Ready => {}
                    Readiness::Waiting(why) => {
                        waiting.get_or_insert((s.clone(), why));
                    }
                    Readiness::Failed(why) => return Err(service_failed(desired, fx, s, &why)),
                }
            }
        }
        let Some((service, why)) = waiting else {
            return Ok(());
        };
        if now >= deadline {
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

/// Steps the engine carries on with once asked, even when dev-prism stops waiting. `compose
/// up` too: a signal sent to dev-prism alone (`kill PID`, an MCP cancel) does not reach
/// Compose, and a network or container it was creating when killed appeared after the
/// rollback had looked (measured: 3 of 8 SIGTERMs during `compose up` left the network).
fn engine_finishes(op: &Op) -> bool {
    matches!(
        op,
        Op::StopContainers { .. } | Op::RemoveProject { .. } | Op::ComposeUp { .. }
    )
}

fn service_failed<E: Effects>(desired: &Desired, fx: &mut E, service: &str, why: &str) -> Error {
    Error::from(Problem::ServiceFailed {
        service: service.to_string(),
        reason: why.to_string(),
        logs: fx.service_logs(desired, service),
    })
    .with_hint(format!(
        "see `docker compose -p {} logs {service}` and fix it",
        desired.project
    ))
}

#[cfg(test)]
mod readiness_tests {
    use super::*;
    use crate::observed::containers_from_json;

    fn c(state: State, health: Health, status: &str, exit_code: Option<i64>) -> Container {
        let mut c = containers_from_json(include_str!(
            "../../tests/fixtures/containers-api-1.41.json"
        ))
        .unwrap()
        .remove(0);
        c.state = state;
        c.health = health;
        c.status = status.into();
        c.exit_code = exit_code;
        c
    }

    #[test]
    fn health_counts_from_a_check_of_the_running_container() {
        let log = |entries: &[(&str, i64)]| -> Vec<(String, i64)> {
            entries.iter().map(|(s, c)| (s.to_string(), *c)).collect()
        };
        let paused = log(&[("t1", 1), ("t2", 1)]);
        assert!(!checked_since(&paused, Some("t2")));
        // The first check after the unpause may have started before it: a failure does not
        // count, a pass does.
        assert!(!checked_since(
            &log(&[("t1", 1), ("t2", 1), ("t3", 1)]),
            Some("t2")
        ));
        assert!(checked_since(&log(&[("t2", 1), ("t3", 0)]), Some("t2")));
        // Under load one more may fail right after: still waiting; four failures since are
        // the running container's verdict.
        assert!(!checked_since(
            &log(&[("t2", 1), ("t3", 1), ("t4", 1)]),
            Some("t2")
        ));
        assert!(checked_since(
            &log(&[("t2", 1), ("t3", 1), ("t4", 1), ("t5", 1), ("t6", 1)]),
            Some("t2")
        ));
        assert!(checked_since(&log(&[("t6", 1), ("t7", 1)]), Some("t2")));
        assert!(!checked_since(&[], None));
        assert!(checked_since(&log(&[("t1", 0)]), None));
    }

    #[test]
    fn readiness_of_one_container() {
        use Readiness::*;
        let failed = |r: Readiness| matches!(r, Failed(_));
        let up = c(State::Running, Health::None, "Up 3 seconds", None);
        assert_eq!(readiness(&up, false, true), Ready);
        // Just started: not yet, it may be about to exit.
        assert!(matches!(readiness(&up, false, false), Waiting(_)));
        assert!(matches!(readiness(&up, true, true), Waiting(_)));
        let crash = c(
            State::Restarting,
            Health::None,
            "Restarting (3) 1 second ago",
            None,
        );
        assert_eq!(
            readiness(&crash, false, true),
            Failed("keeps restarting (it exited with code 3)".into())
        );
        let exited0 = c(
            State::Stopped,
            Health::None,
            "Exited (0) 1 second ago",
            Some(0),
        );
        assert_eq!(readiness(&exited0, true, true), Ready);
        assert!(failed(readiness(&exited0, false, true)));
        let exited3 = c(
            State::Stopped,
            Health::None,
            "Exited (3) 1 second ago",
            Some(3),
        );
        assert!(failed(readiness(&exited3, true, true)));
        assert!(failed(readiness(&exited3, false, true)));
        let created = c(State::Stopped, Health::None, "Created", None);
        assert!(matches!(readiness(&created, false, true), Waiting(_)));
        let sick = c(State::Running, Health::Unhealthy, "Up (unhealthy)", None);
        assert!(failed(readiness(&sick, false, true)));
        let healthy = c(
            State::Running,
            Health::Healthy,
            "Up Less than a second (healthy)",
            None,
        );
        assert_eq!(readiness(&healthy, false, false), Ready);
    }
}
