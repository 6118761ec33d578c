//! The destroy plan (also create's rollback): remove only what dev-prism made and can prove is
//! safe to remove; keep everything else and say what was kept and why (DESIGN §6).
//!
//! Each destructive step needs positive facts from the observation. The rules, one per arm:
//! - Docker objects: those carrying the session's project label (containers also its
//!   directory label) — they were made for it.
//! - Generated files: only with dev-prism's header; a file of the user's with the same name is
//!   kept.
//! - The worktree: only one dev-prism made (its marker), without submodules, without work
//!   (uncommitted, untracked, or ignored files that are neither dev-prism's nor disposable), and,
//!   when HEAD is detached, without commits no branch holds. `--force` skips the work checks,
//!   never the first one.
//! - The branch: only while it still points where it did when observed, and when every commit
//!   on it is on another branch (or `--force`).

use petgraph::graph::NodeIndex;

use super::{
    remove_file_step, Action, Blocker, BranchDeletion, Detail, Kept, Op, Plan, Reason, Step,
    Subject,
};
use crate::compose::SESSION_FILE;
use crate::desired::{is_generated, Desired, Render, Scope, ENV_FILE};
use crate::observed::{Fact, Observed, Owner, PathFact, WorktreeFacts};

pub(super) fn plan_destroy(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    force: bool,
    scope: Scope,
) {
    let mut prev = vec![];
    if scope.project {
        if let Some(step) = project_step(desired, observed) {
            prev.push(plan.add(step, &[]));
        }
    }
    let files = file_steps(plan, desired, observed, &prev);
    let Some(wt) = observed.worktree.as_ref().filter(|w| !w.is_main) else {
        return;
    };
    if !scope.worktree {
        return;
    }
    let after: Vec<NodeIndex> = prev.iter().chain(files.iter()).copied().collect();
    let blockers = worktree_blockers(wt, force);
    if !blockers.is_empty() {
        plan.kept.push(Kept::Worktree {
            path: wt.path.clone(),
            why: blockers,
        });
        if let Some(b) = wt.branch.as_ref().filter(|_| scope.branch) {
            plan.kept.push(Kept::BranchOfKeptWorktree(b.clone()));
        }
        return;
    }
    let discarded: Vec<&PathFact> = wt
        .paths
        .known()
        .into_iter()
        .flatten()
        // A file of the user's at a generated name is not removed before the worktree: it
        // goes with it (forced), and is listed so.
        .filter(|p| !is_removed_file(desired, &p.path) || p.owner != Owner::DevPrism)
        .collect();
    plan.kept.retain(|k| !matches!(k, Kept::File(_)));
    // git refuses an unclean worktree (anything but ignored paths left); every path left is
    // known to be removable, or forced.
    let git_force = force || discarded.iter().any(|p| p.status != "ignored");
    let details: Vec<Detail> = discarded
        .iter()
        .map(|p| Detail {
            action: Action::Delete,
            subject: Subject::Path {
                status: p.status,
                path: p.path.clone(),
            },
            reason: Reason::Discarded(p.owner),
        })
        .collect();
    // A branch whose tip cannot be read no longer exists (deleted under the session): nothing
    // to delete. (A tip git failed to read is not deleted either: the safe direction.)
    let mut details = details;
    let mut branch_deletion = None;
    if let (Some(branch), Some(tip)) = (wt.branch.as_ref().filter(|_| scope.branch), &wt.branch_tip)
    {
        let reason = match (&wt.unmerged_commits, force) {
            (Fact::Known(0), _) => Some(Reason::Merged),
            (Fact::Known(n), true) => Some(Reason::ForcedUnmerged(*n)),
            (Fact::Unknown(_), true) => Some(Reason::ForcedUnchecked),
            (Fact::Known(n), false) => {
                plan.kept.push(Kept::Unmerged {
                    branch: branch.clone(),
                    commits: *n,
                });
                None
            }
            (Fact::Unknown(why), false) => {
                plan.kept.push(Kept::Unchecked {
                    branch: branch.clone(),
                    why: why.clone(),
                });
                None
            }
        };
        if let Some(reason) = reason {
            details.push(Detail {
                action: Action::Delete,
                subject: Subject::Branch(branch.clone()),
                reason,
            });
            branch_deletion = Some(BranchDeletion {
                branch: branch.clone(),
                expected: tip.clone(),
                force,
            });
        }
    }
    plan.add(
        Step {
            action: Action::Delete,
            subject: Subject::Worktree(wt.path.clone()),
            reason: if force && wt.work().is_none_or(|w| !w.is_empty()) {
                Reason::ForcedWorktree
            } else {
                Reason::NoWork
            },
            diff: None,
            details,
            op: Op::RemoveWorktree {
                path: wt.path.clone(),
                force: git_force,
                branch: branch_deletion,
            },
        },
        &after,
    );
}

/// The project's containers, networks, volumes and built images.
fn project_step(desired: &Desired, observed: &Observed) -> Option<Step> {
    // Only the project's containers: apply removes exactly what the plan lists.
    let containers: Vec<&crate::observed::Container> = observed
        .containers
        .iter()
        .filter(|c| c.project() == Some(desired.project.as_str()))
        .collect();
    if containers.is_empty()
        && observed.networks.is_empty()
        && observed.volumes.is_empty()
        && observed.images.is_empty()
    {
        return None;
    }
    let mut details: Vec<Detail> = containers
        .iter()
        .map(|c| Detail {
            action: Action::Delete,
            subject: Subject::Container(c.name.clone()),
            reason: Reason::BelongsToService(c.service.clone()),
        })
        .collect();
    for (kind, names) in [
        (
            Subject::Network as fn(String) -> Subject,
            &observed.networks,
        ),
        (Subject::Volume, &observed.volumes),
        (Subject::Image, &observed.images),
    ] {
        details.extend(names.iter().map(|n| Detail {
            action: Action::Delete,
            subject: kind(n.clone()),
            reason: Reason::BelongsToProject,
        }));
    }
    // The directory label the containers carry (a moved worktree's containers carry the
    // directory they were made in).
    let labelled = observed
        .containers
        .iter()
        .find_map(|c| c.working_dir().map(str::to_string))
        .unwrap_or_else(|| desired.dir.to_string_lossy().into_owned());
    Some(Step {
        action: Action::Delete,
        subject: Subject::Project(desired.project.clone()),
        reason: Reason::SessionDestroyed,
        diff: None,
        details,
        op: Op::RemoveProject {
            project: desired.project.clone(),
            working_dir: labelled,
            containers: containers
                .iter()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect(),
            networks: observed.networks.clone(),
            volumes: observed.volumes.clone(),
            images: observed.images.clone(),
        },
    })
}

/// The generated files present on disk: removed when they carry dev-prism's header, kept
/// (and said) otherwise.
fn file_steps(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    prev: &[NodeIndex],
) -> Vec<NodeIndex> {
    let mut present: Vec<(&str, &str)> = vec![];
    if let Some((t, _)) = &observed.env_file {
        present.push((ENV_FILE, t));
    }
    if let Some(t) = &observed.session_file {
        present.push((SESSION_FILE, t));
    }
    for f in &desired.derived {
        if let (Render::AppEnv { .. }, Some(Some((t, _)))) =
            (&f.render, observed.derived.get(&f.path))
        {
            present.push((&f.path, t));
        }
    }
    let mut nodes = vec![];
    for (name, text) in &present {
        if !is_generated(text) {
            plan.kept.push(Kept::File(name.to_string()));
        }
    }
    // Last found first: the order earlier versions printed (see `Plan::ordered`).
    for (name, text) in present.into_iter().rev() {
        if is_generated(text) {
            nodes.push(plan.add(
                remove_file_step(desired, name, Reason::SessionDestroyed),
                prev,
            ));
        }
    }
    nodes
}

/// Whether a path `git status` reported is one of the generated files removed before the
/// worktree (not worth listing twice).
fn is_removed_file(desired: &Desired, path: &str) -> bool {
    path == ENV_FILE || path == SESSION_FILE || desired.derived.iter().any(|f| f.path == path)
}

/// Why the worktree must be kept; empty when it may go.
fn worktree_blockers(wt: &WorktreeFacts, force: bool) -> Vec<Blocker> {
    let mut why = vec![];
    match &wt.made_by_dev_prism {
        Fact::Known(true) => {}
        Fact::Known(false) => why.push(Blocker::NotMadeByDevPrism),
        Fact::Unknown(e) => why.push(Blocker::MakerUnknown(e.clone())),
    }
    if force {
        return why;
    }
    match wt.work() {
        None => why.push(Blocker::FilesUnknown(unknown(&wt.paths).to_string())),
        Some(work) if !work.is_empty() => {
            why.push(Blocker::Work(work.into_iter().cloned().collect()))
        }
        Some(_) => {}
    }
    match &wt.submodules {
        Fact::Known(s) if s.is_empty() => {}
        Fact::Known(s) => why.push(Blocker::Submodules(s.clone())),
        Fact::Unknown(e) => why.push(Blocker::SubmodulesUnknown(e.clone())),
    }
    if wt.branch.is_none() {
        match &wt.unmerged_commits {
            Fact::Known(0) => {}
            Fact::Known(n) => why.push(Blocker::DetachedCommits(*n)),
            Fact::Unknown(e) => why.push(Blocker::DetachedUnknown(e.clone())),
        }
    }
    why
}

fn unknown<T>(f: &Fact<T>) -> &str {
    match f {
        Fact::Unknown(e) => e,
        Fact::Known(_) => "",
    }
}
