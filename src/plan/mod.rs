//! diff(desired, observed) → [`Plan`]: a DAG of steps, each with an action, a reason and, for
//! files, a text diff. Pure. The same `Plan` value is printed by `plan` and executed by `apply`.

use std::path::PathBuf;

mod destroy;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::compose::{labels, SESSION_FILE};
use crate::desired::{
    is_generated, render_file, session_vars, DerivedFile, Desired, DesiredService, Intent, Render,
    ENV_FILE,
};
use crate::observed::{Container, Health, Observed, State};

/// What a step does to its subject; owns its glyph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    Run,
}

impl Action {
    /// ANSI colour of the glyph.
    pub fn color(self) -> &'static str {
        match self {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace => "35",
            Action::Delete => "31",
            Action::Run => "36",
        }
    }

    pub fn glyph(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Run => ">",
        }
    }

    pub fn legend(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update in place",
            Action::Replace => "destroy and then create replacement",
            Action::Delete => "destroy",
            Action::Run => "run",
        }
    }
}

/// The operation apply performs for a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A new worktree at `path` on `branch` (made from `start` when `create_branch`).
    AddWorktree {
        path: PathBuf,
        branch: String,
        create_branch: bool,
        start: Option<String>,
    },
    /// A gitignored file of the main checkout copied into a new worktree (never over an
    /// existing file).
    CopyFile {
        from: PathBuf,
        to: PathBuf,
        mode: u32,
    },
    WriteFile {
        path: PathBuf,
        content: Content,
        mode: u32,
    },
    RemoveFile {
        path: PathBuf,
    },
    ComposeUp {
        services: Vec<String>,
        profiles: Vec<String>,
        remove_orphans: bool,
    },
    WaitReady {
        services: Vec<String>,
    },
    StopContainers {
        ids: Vec<String>,
    },
    /// The project's containers (those labelled with `working_dir`), networks, volumes and
    /// built images.
    RemoveProject {
        project: String,
        working_dir: String,
    },
    RemoveWorktree {
        path: PathBuf,
        force: bool,
    },
    /// Deletes the branch while it still points at `expected` (the observed tip).
    DeleteBranch {
        branch: String,
        expected: Option<String>,
        force: bool,
    },
    /// A setup command, through the shell, in the session directory with the session
    /// variables in its environment.
    RunSetup {
        command: String,
    },
}

/// A file's content: known now, or rendered at apply time from what Docker reports then
/// ("known after apply").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "content", rename_all = "snake_case")]
pub enum Content {
    Text { text: String },
    Rendered { render: Render },
}

/// A line under a step: one service or object the step affects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub action: Action,
    pub subject: String,
    pub reason: String,
}

/// One node of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub action: Action,
    pub subject: String,
    pub reason: String,
    /// Unified diff for file updates (display only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
    pub op: Op,
}

/// The plan: drift first, then the steps in a DAG, then what was deliberately kept.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Reality changed outside dev-prism.
    pub drift: Vec<String>,
    pub graph: DiGraph<Step, ()>,
    /// Things a destroy keeps to protect the user's work, with how to remove them.
    pub kept: Vec<String>,
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
    pub run: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    fn add(&mut self, step: Step, after: &[NodeIndex]) -> NodeIndex {
        let node = self.graph.add_node(step);
        for dep in after {
            self.graph.add_edge(*dep, node, ());
        }
        node
    }

    /// Steps in execution order (a topological order of the DAG, stable by insertion).
    pub fn ordered(&self) -> Vec<&Step> {
        let order = petgraph::algo::toposort(&self.graph, None)
            .expect("plan graphs are built acyclic: edges only point to later nodes");
        order.into_iter().map(|i| &self.graph[i]).collect()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for step in self.graph.node_weights() {
            let actions: Vec<Action> = if step.details.is_empty() {
                vec![step.action]
            } else {
                step.details.iter().map(|d| d.action).collect()
            };
            for a in actions {
                match a {
                    Action::Create => s.add += 1,
                    Action::Update => s.change += 1,
                    Action::Replace => s.replace += 1,
                    Action::Delete => s.destroy += 1,
                    Action::Run => s.run += 1,
                }
            }
        }
        s
    }
}

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

fn file_diff(old: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

fn write_step(
    name: &str,
    path: PathBuf,
    observed: Option<&str>,
    desired: Result<String, Render>,
    mode: u32,
    mode_ok: bool,
) -> Option<Step> {
    let known = desired.as_ref().ok().map(String::as_str);
    let (action, reason, diff) = match (observed, known) {
        (None, None) => (
            Action::Create,
            "services just started publish their ports".to_string(),
            None,
        ),
        (Some(_), None) => (
            Action::Update,
            "ports change whenever containers start".to_string(),
            None,
        ),
        (None, Some(new)) => (
            Action::Create,
            "it does not exist".to_string(),
            Some(file_diff("", new, name)),
        ),
        (Some(old), Some(new)) if old != new => (
            Action::Update,
            "its content differs from what it should be".to_string(),
            Some(file_diff(old, new, name)),
        ),
        (Some(_), Some(_)) if !mode_ok => (
            Action::Update,
            format!("its permissions are not {mode:o}"),
            None,
        ),
        (Some(_), Some(_)) => return None,
    };
    Some(Step {
        action,
        subject: format!("file {name}"),
        reason,
        diff,
        details: vec![],
        op: Op::WriteFile {
            path,
            content: match desired {
                Ok(text) => Content::Text { text },
                Err(render) => Content::Rendered { render },
            },
            mode,
        },
    })
}

/// Steps for the derived files. With `after_start`, ports are only known after apply; else
/// they are rendered now from the observed containers and compared with the files on disk.
fn derived_steps(desired: &Desired, observed: &Observed, after_start: bool) -> Vec<Step> {
    file_steps(
        &desired.project,
        &desired.dir,
        &desired.derived,
        observed,
        after_start,
    )
}

/// Steps for `files` of the session in `dir` (see [`derived_steps`]).
fn file_steps(
    project: &str,
    dir: &std::path::Path,
    files: &[DerivedFile],
    observed: &Observed,
    after_start: bool,
) -> Vec<Step> {
    let vars = session_vars(project, dir, &observed.containers);
    let mut steps = vec![];
    for f in files {
        let path = dir.join(&f.path);
        let current: Option<(String, u32)> = if f.path == ENV_FILE {
            observed.env_file.clone()
        } else {
            observed.derived.get(&f.path).cloned().flatten()
        };
        let text = current.as_ref().map(|(t, _)| t.as_str());
        let rewrite = matches!(f.render, Render::Rewrite { .. });
        if !rewrite && text.is_some_and(|t| !is_generated(t)) {
            continue; // the user's file: never overwritten (see `foreign_files`)
        }
        // A rewrite needs the file; when the worktree has none there is nothing to rewrite.
        if matches!(f.render, Render::Rewrite { .. }) && current.is_none() {
            continue;
        }
        let mode_ok = current.as_ref().is_none_or(|(_, m)| m & 0o777 == f.mode);
        let desired_text = if after_start {
            Err(f.render.clone())
        } else {
            match render_file(&f.render, &vars, text.map(str::as_bytes)) {
                Ok(Some(t)) => Ok(String::from_utf8_lossy(&t).into_owned()),
                // Validated when the desired state was built; nothing sensible to write.
                Ok(None) | Err(_) => continue,
            }
        };
        // Bytes that are not UTF-8 were read as U+FFFD: such a rewrite is rendered from the
        // file's bytes when applied, so they are kept.
        let desired_text = match desired_text {
            Ok(t)
                if matches!(f.render, Render::Rewrite { .. })
                    && t.contains('\u{FFFD}')
                    && text != Some(t.as_str()) =>
            {
                Err(f.render.clone())
            }
            other => other,
        };
        if let Some(step) = write_step(&f.path, path, text, desired_text, f.mode, mode_ok) {
            steps.push(step);
        }
    }
    steps
}

/// `.env.session` alone, from Docker's answer: what `info` heals without loading the config.
/// Empty when nothing runs (starting is not a reader's business) or the file is right.
pub fn env_file_plan(project: &str, dir: &std::path::Path, observed: &Observed) -> Plan {
    let mut plan = Plan::default();
    if observed
        .containers
        .iter()
        .any(|c| c.state == State::Running)
    {
        let env = DerivedFile {
            path: ENV_FILE.into(),
            render: Render::EnvSession,
            mode: 0o600,
        };
        for step in file_steps(project, dir, &[env], observed, false) {
            plan.add(step, &[]);
        }
    }
    plan
}

fn setup_steps(desired: &Desired) -> Vec<Step> {
    desired
        .setup
        .iter()
        .map(|command| Step {
            action: Action::Run,
            subject: format!("setup `{command}`"),
            reason: "setup commands run once the session is ready".into(),
            diff: None,
            details: vec![],
            op: Op::RunSetup {
                command: command.clone(),
            },
        })
        .collect()
}

/// Adds `steps` as a chain after `deps`; returns the last node (or `deps` unchanged).
fn chain(plan: &mut Plan, steps: Vec<Step>, deps: Vec<NodeIndex>) -> Vec<NodeIndex> {
    let mut prev = deps;
    for step in steps {
        prev = vec![plan.add(step, &prev)];
    }
    prev
}

/// A worktree step `create` puts first.
pub fn add_worktree_step(
    path: PathBuf,
    branch: &str,
    create_branch: bool,
    start: Option<String>,
) -> Step {
    let reason = if create_branch {
        format!("a new session gets its own worktree on new branch `{branch}`")
    } else {
        format!("a new session gets its own worktree on existing branch `{branch}`")
    };
    Step {
        action: Action::Create,
        subject: format!("worktree {}", path.display()),
        reason,
        diff: None,
        details: vec![],
        op: Op::AddWorktree {
            path,
            branch: branch.to_string(),
            create_branch,
            start,
        },
    }
}

/// A step copying `rel` from the main checkout into a new worktree.
pub fn copy_file_step(rel: &str, from: PathBuf, to: PathBuf, why: &str) -> Step {
    Step {
        action: Action::Create,
        subject: format!("file {rel}"),
        reason: why.to_string(),
        diff: None,
        details: vec![],
        op: Op::CopyFile {
            from,
            to,
            mode: 0o600,
        },
    }
}

/// Generated files on disk that dev-prism did not write (no generated header): the user's
/// files with a generated file's name, which no step overwrites or deletes.
pub fn foreign_files(desired: &Desired, observed: &Observed) -> Vec<String> {
    let mut out = vec![];
    if observed
        .session_file
        .as_deref()
        .is_some_and(|t| !is_generated(t))
    {
        out.push(SESSION_FILE.to_string());
    }
    for f in &desired.derived {
        if matches!(f.render, Render::Rewrite { .. }) {
            continue;
        }
        let current = if f.path == ENV_FILE {
            observed.env_file.as_ref()
        } else {
            observed.derived.get(&f.path).and_then(Option::as_ref)
        };
        if current.is_some_and(|(t, _)| !is_generated(t)) {
            out.push(f.path.clone());
        }
    }
    out
}

/// Builds the plan for `intent`. `first` is an optional step every other step follows
/// (the worktree of `create`).
pub fn diff(desired: &Desired, observed: &Observed, intent: Intent, first: Option<Step>) -> Plan {
    diff_after(desired, observed, intent, first.into_iter().collect())
}

/// Builds the plan for `intent` after `first`, a chain of steps every other step follows (the
/// worktree of `create` and the files copied into it).
pub fn diff_after(
    desired: &Desired,
    observed: &Observed,
    intent: Intent,
    first: Vec<Step>,
) -> Plan {
    let mut plan = Plan::default();
    let root: Vec<NodeIndex> = chain(&mut plan, first, vec![]);
    match intent {
        Intent::Up => plan_up(&mut plan, desired, observed, &root),
        Intent::Stop => plan_stop(&mut plan, desired, observed),
        Intent::Destroy { force, scope } => {
            destroy::plan_destroy(&mut plan, desired, observed, force, scope)
        }
    }
    plan
}

/// The plan of `heal`: only the session's derived files, never containers. The session file is
/// rewritten to match the config and compose files; `.env.session` to match the running
/// containers (left alone when none runs: starting is not heal's business).
pub fn heal(desired: &Desired, observed: &Observed) -> Plan {
    let mut plan = Plan::default();
    if let Some(step) = session_file_step(desired, observed) {
        plan.add(step, &[]);
    }
    if observed
        .containers
        .iter()
        .any(|c| c.state == State::Running)
    {
        for step in derived_steps(desired, observed, false) {
            plan.add(step, &[]);
        }
    }
    plan
}

/// The session compose file's step, if it differs from what it should be.
fn session_file_step(desired: &Desired, observed: &Observed) -> Option<Step> {
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
        .and_then(crate::subnet::recorded);
    if let Some(choice) = desired.subnet.filter(|c| recorded != Some(c.net)) {
        step.details.push(Detail {
            action: Action::Create,
            subject: format!("network default: subnet {}", choice.net),
            reason: format!(
                "a free subnet of subnetPool {} sized to its services",
                choice.pool
            ),
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

fn plan_up(plan: &mut Plan, desired: &Desired, observed: &Observed, root: &[NodeIndex]) {
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
                    plan.drift.push(format!(
                        "service `{name}` has no container (removed outside dev-prism, or new since the session last started)"
                    ));
                }
                details.push(Detail {
                    action: Action::Create,
                    subject: format!("service {name}"),
                    reason: "no container exists".into(),
                });
            }
            // Why: kept containers keep their volumes; starting gives new ports.
            ServiceState::Stopped => {
                if observed.env_file.is_some() {
                    plan.drift.push(format!(
                        "container of service `{name}` was stopped outside dev-prism"
                    ));
                }
                details.push(Detail {
                    action: Action::Update,
                    subject: format!("service {name}"),
                    reason: match c.and_then(|c| c.exit_code) {
                        Some(code) => format!("it exited with code {code}; it will be started"),
                        None => "it is stopped; it will be started".into(),
                    },
                });
            }
            // Why: the definition in the compose files changed (branch switch, edit).
            ServiceState::Drifted => details.push(Detail {
                action: Action::Replace,
                subject: format!("service {name}"),
                reason: "its definition in the compose file changed".into(),
            }),
            ServiceState::Matches => {
                if c.is_some_and(|c| c.health == Health::Unhealthy) {
                    plan.drift
                        .push(format!("service `{name}` is running but unhealthy"));
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
                subject: format!("service {}", c.service),
                reason: "it is no longer in the compose file".into(),
            });
        }
    }
    let deps: Vec<NodeIndex> = file_node.into_iter().chain(root.iter().copied()).collect();
    if details.is_empty() {
        if observed.env_file.is_none() && !observed.containers.is_empty() {
            plan.drift.push(format!("file {ENV_FILE} was deleted"));
        }
        let files = derived_steps(desired, observed, false);
        let last = chain(plan, files, deps);
        chain(plan, setup_steps(desired), last);
        return;
    }
    // A job that is done is not run again by this compose up (Compose would start it anew).
    let services: Vec<String> = desired
        .running_services()
        .into_iter()
        .filter(|name| {
            let job_done = desired.services[name].is_job
                && container_of(observed, name).is_some_and(|c| {
                    classify(desired.services.get(name), Some(c)) == ServiceState::Matches
                });
            !job_done
        })
        .collect();
    let up = Step {
        action: Action::Run,
        subject: format!("compose up ({})", desired.project),
        reason: "services must run".into(),
        diff: None,
        details,
        op: Op::ComposeUp {
            services: services.clone(),
            profiles: desired.profiles.clone(),
            remove_orphans: orphans,
        },
    };
    let up_node = plan.add(up, &deps);
    let wait = plan.add(
        Step {
            action: Action::Run,
            subject: "wait until ready".into(),
            reason: "healthy, or running when there is no healthcheck".into(),
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

fn plan_stop(plan: &mut Plan, desired: &Desired, observed: &Observed) {
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
                subject: format!("stop {}", desired.project),
                reason: "containers are kept, with their volumes".into(),
                diff: None,
                details: running
                    .iter()
                    .map(|c| Detail {
                        action: Action::Update,
                        subject: format!("service {}", c.service),
                        reason: "it is running; it will be stopped".into(),
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
    for name in generated {
        plan.add(
            remove_file_step(desired, &name, "its ports are void once containers stop"),
            &prev,
        );
    }
}

pub(crate) fn remove_file_step(desired: &Desired, name: &str, reason: &str) -> Step {
    Step {
        action: Action::Delete,
        subject: format!("file {name}"),
        reason: reason.into(),
        diff: None,
        details: vec![],
        op: Op::RemoveFile {
            path: desired.dir.join(name),
        },
    }
}

#[cfg(test)]
mod tests;
