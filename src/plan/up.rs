//! The plan of `apply`/`create`/`start`: each service classified (missing, stopped, drifted,
//! matches, orphaned, a job that is done), then Compose, readiness, the derived files and the
//! setup commands.

use super::files::{derived_steps, write_step};
use super::*;

/// How one service's container compares with the desired service. Every combination of
/// (desired, observed) reduces to one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// Wanted, no container.
    Missing,
    /// Wanted, container exists but is not running.
    Stopped,
    /// Wanted, container's definition hash differs from the compose file's.
    Drifted,
    /// Wanted, running with the right definition.
    Matches,
    /// A container for a service the compose file no longer has.
    Orphaned,
    /// Not wanted by this command (e.g. in a profile) and not present, or present: left alone.
    NotWanted,
}

/// Classifies one service. A one-shot job that exited 0 is done: it matches.
pub fn classify(wanted: Option<&DesiredService>, container: Option<&Container>) -> ServiceState {
    match (wanted, container) {
        (None, Some(_)) => ServiceState::Orphaned,
        (None, None) => ServiceState::NotWanted,
        (Some(s), _) if !s.run => ServiceState::NotWanted,
        (Some(_), None) => ServiceState::Missing,
        (Some(s), Some(c)) => {
            let done = s.is_job && c.state == State::Stopped && c.exit_code == Some(0);
            if c.label(labels::CONFIG_HASH) != Some(s.config_hash.as_str()) {
                ServiceState::Drifted
            } else if c.state != State::Running && !done {
                ServiceState::Stopped
            } else {
                ServiceState::Matches
            }
        }
    }
}

fn setup_steps(desired: &Desired) -> Vec<Step> {
    desired
        .setup
        .iter()
        .map(|command| Step {
            action: Action::Run,
            subject: Subject::Setup(command.clone()),
            reason: Reason::SetupRuns,
            diff: None,
            details: vec![],
            op: Op::RunSetup {
                command: command.clone(),
            },
        })
        .collect()
}

/// The session compose file's step, if it differs from what it should be.
pub(super) fn session_file_step(desired: &Desired, observed: &Observed) -> Option<Step> {
    if observed
        .session_file
        .as_deref()
        .is_some_and(|t| !is_generated(t))
    {
        return None; // the user's file: never overwritten (see `foreign_files`)
    }
    let mut step = write_step(
        SESSION_FILE,
        desired.dir.join(SESSION_FILE),
        observed.session_file.as_deref(),
        Ok(desired.session_file.clone()),
        0o644,
        true,
    )?;
    let recorded = observed
        .session_file
        .as_deref()
        .and_then(crate::desired::subnet::recorded);
    if let Some(choice) = desired.subnet.filter(|c| recorded != Some(c.net)) {
        step.details.push(Detail {
            action: Action::Create,
            subject: Subject::Subnet(choice.net),
            reason: Reason::FreeSubnet { pool: choice.pool },
        });
    }
    Some(step)
}

fn container_of<'a>(observed: &'a Observed, service: &str) -> Option<&'a Container> {
    // Prefer a running one when Compose left several (scale, leftovers).
    observed
        .containers
        .iter()
        .filter(|c| c.service == service)
        .max_by_key(|c| c.state == State::Running)
}

pub(super) fn plan_up(plan: &mut Plan, desired: &Desired, observed: &Observed, root: &[NodeIndex]) {
    // Services the session had before: a missing one of those was removed by hand, a missing
    // new one was just added to the compose file.
    let previous = observed
        .session_file
        .as_deref()
        .map(crate::compose::services_in_session_file)
        .unwrap_or_default();
    let file_node = session_file_step(desired, observed).map(|s| plan.add(s, root));

    let mut details = vec![];
    let mut orphans = false;
    for (name, svc) in &desired.services {
        let c = container_of(observed, name);
        let state = classify(Some(svc), c);
        match state {
            // Why: nothing exists to reuse; Compose creates it with random ports.
            ServiceState::Missing => {
                // Docker keeps no trace of a removed container, and `heal` may already have
                // written a service that is new on this branch into the session file: say
                // only what is certain.
                if previous.contains(name) && !observed.containers.is_empty() {
                    plan.drift.push(Drift::NoContainer(name.clone()));
                }
                details.push(Detail {
                    action: Action::Create,
                    subject: Subject::Service(name.clone()),
                    reason: Reason::NoContainer,
                });
            }
            // Why: kept containers keep their volumes; starting gives new ports.
            // Why: a paused container holds its state; unpausing resumes it.
            ServiceState::Stopped if c.is_some_and(|c| c.state == State::Paused) => {
                plan.drift.push(Drift::Paused(name.clone()));
                details.push(Detail {
                    action: Action::Update,
                    subject: Subject::Service(name.clone()),
                    reason: Reason::Paused,
                });
            }
            ServiceState::Stopped => {
                if observed.env_file.is_some() {
                    plan.drift.push(Drift::Stopped(name.clone()));
                }
                details.push(Detail {
                    action: Action::Update,
                    subject: Subject::Service(name.clone()),
                    reason: Reason::Stopped {
                        exit_code: c.and_then(|c| c.exit_code),
                    },
                });
            }
            // Why: the definition in the compose files changed (branch switch, edit).
            ServiceState::Drifted => details.push(Detail {
                action: Action::Replace,
                subject: Subject::Service(name.clone()),
                reason: Reason::DefinitionChanged,
            }),
            ServiceState::Matches => {
                if c.is_some_and(|c| c.health == Health::Unhealthy) {
                    plan.drift.push(Drift::Unhealthy(name.clone()));
                }
            }
            // Why: not wanted by this command; never touched.
            ServiceState::NotWanted | ServiceState::Orphaned => {}
        }
    }
    for c in &observed.containers {
        if classify(desired.services.get(&c.service), Some(c)) == ServiceState::Orphaned {
            orphans = true;
            details.push(Detail {
                action: Action::Delete,
                subject: Subject::Service(c.service.clone()),
                reason: Reason::NotInCompose,
            });
        }
    }
    let deps: Vec<NodeIndex> = file_node.into_iter().chain(root.iter().copied()).collect();
    if details.is_empty() {
        if observed.env_file.is_none() && !observed.containers.is_empty() {
            plan.drift.push(Drift::EnvFileDeleted);
        }
        let files = derived_steps(desired, observed, false);
        let last = chain(plan, files, deps);
        chain(plan, setup_steps(desired), last);
        return;
    }
    // Only paused containers: unpausing is all there is to do (see `Op::ComposeUp`).
    let only_unpause = details.iter().all(|d| d.reason == Reason::Paused);
    // A job that is done is not run again by this compose up (Compose would start it anew).
    let services: Vec<String> = desired
        .running_services()
        .into_iter()
        .filter(|name| {
            let job_done = desired.services[name].is_job
                && container_of(observed, name).is_some_and(|c| {
                    classify(desired.services.get(name), Some(c)) == ServiceState::Matches
                });
            !job_done && !only_unpause
        })
        .collect();
    let up = Step {
        action: Action::Run,
        subject: Subject::ComposeUp(desired.project.clone()),
        reason: Reason::ServicesMustRun,
        diff: None,
        details,
        op: Op::ComposeUp {
            services: services.clone(),
            profiles: desired.profiles.clone(),
            remove_orphans: orphans,
            unpause: observed
                .containers
                .iter()
                .filter(|c| c.state == State::Paused)
                .map(|c| c.id.clone())
                .collect(),
        },
    };
    let up_node = plan.add(up, &deps);
    let wait = plan.add(
        Step {
            action: Action::Run,
            subject: Subject::WaitReady,
            reason: Reason::ReadyWhen,
            diff: None,
            details: vec![],
            op: Op::WaitReady {
                services: desired.running_services(),
            },
        },
        &[up_node],
    );
    let files = derived_steps(desired, observed, true);
    let last = chain(plan, files, vec![wait]);
    chain(plan, setup_steps(desired), last);
}
