//! diff(desired, observed) → [`Plan`]: a DAG of steps, each with an action, a reason and, for
//! files, a text diff. Pure. The same `Plan` value is printed by `plan` and executed by `apply`.

use std::path::PathBuf;

mod destroy;
mod files;
pub mod ready;
mod reason;
mod stop;
mod up;

use files::derived_steps;
pub use files::{env_file_plan, foreign_files};
pub use reason::{Blocker, Drift, Kept, Reason, Refusal, Subject, Warning};
use stop::plan_stop;
pub use up::{classify, ServiceState};
use up::{plan_up, session_file_step};

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::compose::{labels, SESSION_FILE};
use crate::desired::{
    is_generated, render_file, session_vars, DerivedFile, Desired, DesiredService, Intent, Render,
    ENV_FILE,
};
use crate::observed::{Container, Health, Observed, Runtime, State};

/// What a step does to its subject (its glyph, colour and legend are `render`'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    Run,
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
    /// Gitignored files of the main checkout (`paths`, relative) that one copy pattern selects,
    /// copied into a new worktree (never over an existing file; links as links).
    CopyTree {
        pattern: String,
        from: PathBuf,
        to: PathBuf,
        files: usize,
        bytes: u64,
        #[serde(skip)]
        paths: Vec<PathBuf>,
    },
    /// The session's named volumes, created before Compose starts, as copies of `source`'s
    /// (its running containers paused meanwhile, always unpaused).
    CopyVolumes {
        source: ready::DataSource,
        volumes: Vec<ready::NewVolume>,
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
        /// Empty when the step only unpauses (`unpause` names every container that needs it
        /// and every other service matches): Compose is then not run. Compose would do nothing
        /// on Docker; behind Podman 4.3 it recreates every running container it is asked to
        /// bring up (Podman reports network names where Compose compares network ids).
        services: Vec<String>,
        profiles: Vec<String>,
        remove_orphans: bool,
        /// The session's containers observed paused (a copy killed while it paused them):
        /// unpaused first, or Compose cannot start them.
        unpause: Vec<String>,
    },
    WaitReady {
        services: Vec<String>,
    },
    StopContainers {
        ids: Vec<String>,
    },
    /// The project's objects observed when the plan was made: its containers (those labelled
    /// with `working_dir`, by id and name), networks, volumes and built images. Apply removes
    /// exactly these and lists nothing again; what appeared since is the next observation's
    /// (the reconciler plans again).
    RemoveProject {
        project: String,
        working_dir: String,
        containers: Vec<(String, String)>,
        networks: Vec<String>,
        volumes: Vec<String>,
        images: Vec<String>,
    },
    /// Removes the worktree, then (when `branch` is given) deletes its branch: one step, so an
    /// interruption never leaves the worktree gone and its branch behind (git forgets a
    /// removed worktree's branch, which would never be found again).
    RemoveWorktree {
        path: PathBuf,
        force: bool,
        branch: Option<BranchDeletion>,
    },
    /// A setup command, through the shell, in the session directory with the session
    /// variables in its environment.
    RunSetup {
        command: String,
    },
}

/// A branch deleted with its worktree, while it still points at `expected` (the observed tip).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BranchDeletion {
    pub branch: String,
    pub expected: String,
    pub force: bool,
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
    pub subject: Subject,
    pub reason: Reason,
}

/// One node of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub action: Action,
    pub subject: Subject,
    pub reason: Reason,
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
    pub drift: Vec<Drift>,
    pub graph: DiGraph<Step, ()>,
    /// Things a destroy keeps to protect the user's work, with how to remove them.
    pub kept: Vec<Kept>,
    /// Why the plan cannot be carried out: apply refuses before its first step.
    pub refusals: Vec<Refusal>,
    /// What `plan` and `apply` both say before acting.
    pub warnings: Vec<Warning>,
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

    /// Steps in execution order: the order the planner added them in. A step is added only
    /// after the steps it depends on ([`Plan::add`] takes them, and they exist already), so
    /// every edge points from an earlier step to a later one and insertion order is a
    /// topological order of the DAG. Independent steps therefore run in the order the planner
    /// adds them, by definition rather than by the graph library's traversal (petgraph's
    /// toposort put siblings in reverse order of insertion: the planners of stop, destroy and
    /// heal add their independent file steps in the order earlier versions printed).
    pub fn ordered(&self) -> Vec<&Step> {
        use petgraph::visit::EdgeRef;
        debug_assert!(
            self.graph
                .edge_references()
                .all(|e| e.source().index() < e.target().index()),
            "a plan step depends on a step added after it"
        );
        self.graph.node_weights().collect()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for step in self.graph.node_weights() {
            // A step counts the objects under it, or itself when it lists none; a branch
            // deleted with its worktree counts on top.
            let (branch, objects): (Vec<&Detail>, Vec<&Detail>) = step
                .details
                .iter()
                .partition(|d| matches!(d.subject, Subject::Branch(_)));
            let mut actions: Vec<Action> = if objects.is_empty() {
                vec![step.action]
            } else {
                objects.iter().map(|d| d.action).collect()
            };
            actions.extend(branch.iter().map(|d| d.action));
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
    Step {
        action: Action::Create,
        subject: Subject::Worktree(path.clone()),
        reason: Reason::NewWorktree {
            branch: branch.to_string(),
            create_branch,
        },
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
pub fn copy_file_step(rel: &str, from: PathBuf, to: PathBuf, why: Reason) -> Step {
    Step {
        action: Action::Create,
        subject: Subject::File(rel.to_string()),
        reason: why,
        diff: None,
        details: vec![],
        op: Op::CopyFile {
            from,
            to,
            mode: 0o600,
        },
    }
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
    host_network(&mut plan, desired);
    plan
}

/// `network_mode: host` bypasses the session's port isolation: a service started that way
/// with published ports would bind them on the host itself (and clash with every other
/// session), so the plan is refused; one that publishes nothing is warned about.
fn host_network(plan: &mut Plan, desired: &Desired) {
    let started: Vec<String> = plan
        .ordered()
        .into_iter()
        .filter_map(|s| match &s.op {
            Op::ComposeUp { services, .. } => Some(services.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    for name in started {
        let Some(svc) = desired.services.get(&name).filter(|s| s.host_network) else {
            continue;
        };
        if svc.ports.is_empty() {
            plan.warnings.push(Warning::HostNetwork { service: name });
        } else {
            plan.refusals.push(Refusal::HostNetwork {
                service: name,
                ports: svc.ports.iter().map(|p| p.key()).collect(),
            });
        }
    }
}

/// What the engine and the Compose that would run the session say about a plan that brings
/// it up (observed after planning, only what the plan needs: see [`Runtime`]).
pub fn runtime_checks(plan: &mut Plan, desired: &Desired, bind_mounts: &[String], rt: &Runtime) {
    if let Some(engine) = &rt.remote {
        plan.warnings
            .extend(bind_mounts.iter().map(|m| Warning::RemoteBindMount {
                mount: m.clone(),
                engine: engine.clone(),
            }));
    }
    if let Some((running, version)) = &rt.compose {
        if *running != desired.flavor {
            plan.refusals.push(Refusal::ComposeFlavor {
                recorded: desired.flavor,
                running: *running,
                version: version.clone(),
            });
        }
    }
}

impl Plan {
    /// Whether carrying the plan out runs Compose.
    pub fn runs_compose(&self) -> bool {
        self.graph
            .node_weights()
            .any(|s| matches!(s.op, Op::ComposeUp { .. }))
    }
}

/// The plan of `heal`: only the session's derived files, never containers. The session file is
/// rewritten to match the config and compose files; `.env.session` to match the running
/// containers (left alone when none runs: starting is not heal's business).
/// The steps are independent; they run (and print) from the last derived file back to the
/// session file, the order earlier versions printed.
pub fn heal(desired: &Desired, observed: &Observed) -> Plan {
    let mut plan = Plan::default();
    if observed
        .containers
        .iter()
        .any(|c| c.state == State::Running)
    {
        for step in derived_steps(desired, observed, false).into_iter().rev() {
            plan.add(step, &[]);
        }
    }
    if let Some(step) = session_file_step(desired, observed) {
        plan.add(step, &[]);
    }
    plan
}

pub(crate) fn remove_file_step(desired: &Desired, name: &str, reason: Reason) -> Step {
    Step {
        action: Action::Delete,
        subject: Subject::File(name.to_string()),
        reason,
        diff: None,
        details: vec![],
        op: Op::RemoveFile {
            path: desired.dir.join(name),
        },
    }
}

#[cfg(test)]
mod tests;
