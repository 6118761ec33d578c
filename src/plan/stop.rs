//! The plan of `stop`: containers stopped and kept, the env files that name their ports removed.

use super::*;

pub(super) fn plan_stop(plan: &mut Plan, desired: &Desired, observed: &Observed) {
    let running: Vec<&Container> = observed
        .containers
        .iter()
        .filter(|c| c.state != State::Stopped)
        .collect();
    let mut prev = vec![];
    if !running.is_empty() {
        let node = plan.add(
            Step {
                action: Action::Update,
                subject: Subject::Stop(desired.project.clone()),
                reason: Reason::ContainersKept,
                diff: None,
                details: running
                    .iter()
                    .map(|c| Detail {
                        action: Action::Update,
                        subject: Subject::Service(c.service.clone()),
                        reason: Reason::Running,
                    })
                    .collect(),
                op: Op::StopContainers {
                    ids: running.iter().map(|c| c.id.clone()).collect(),
                },
            },
            &[],
        );
        prev.push(node);
    }
    // The env files dev-prism wrote name ports that are void once containers stop; the
    // user's own files with those names are left alone.
    let mut generated = vec![];
    if observed
        .env_file
        .as_ref()
        .is_some_and(|(t, _)| is_generated(t))
    {
        generated.push(ENV_FILE.to_string());
    }
    for f in &desired.derived {
        if let (Render::AppEnv { .. }, Some(Some((t, _)))) =
            (&f.render, observed.derived.get(&f.path))
        {
            if is_generated(t) {
                generated.push(f.path.clone());
            }
        }
    }
    // Last found first: the order earlier versions printed (see `Plan::ordered`).
    for name in generated.into_iter().rev() {
        plan.add(remove_file_step(desired, &name, Reason::PortsVoid), &prev);
    }
}
