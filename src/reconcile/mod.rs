//! The core loop every command shares: load → observe → desire → diff → (print or apply) →
//! observe again.

pub mod bulk;
pub mod create;
#[cfg(test)]
mod create_tests;
pub mod limits;
pub mod ready;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::Path;

use crate::adapters::process::Cancel;
use crate::apply;
use crate::compose::Flavor;
use crate::context::{self, Ctx, Loading, Observer, Session};
use crate::desired::{Desired, Intent};
use crate::error::{Error, Result};
use crate::observed::{project_of, Container, Observed};
use crate::plan::{self, Plan};
use crate::ui::Ui;

/// Everything one reconciliation computed before acting.
pub struct Prepared {
    pub session: Session,
    pub observed: Observed,
    pub desired: Desired,
    pub plan: Plan,
    /// What the command asked for (planning again asks the same).
    pub wants: context::Wants,
}

/// What reconciliation runs against: an [`Observer`] that can also carry out a plan. The real
/// world is [`Ctx`] (Engine API, Compose, git, files); the unit tests use the strict fake.
pub trait World: Observer + Sized + 'static {
    /// Connects before handles are shared, so every task uses the one connection.
    fn connect(&mut self) -> impl Future<Output = Result<()>> + Send;
    /// Another handle on the same world, for a concurrent task.
    fn share(&self) -> Self;
    /// The repository port, which create asks directly (the branch, the worktree's place,
    /// the files committed on the branch).
    fn git(&mut self)
        -> impl Future<Output = std::sync::Arc<dyn crate::adapters::git::Git>> + Send;
    /// Applies a prepared plan, counting the steps done, until `cancel` reports a signal (see
    /// [`apply::apply_counted`]).
    fn carry_out(
        &mut self,
        prepared: &Prepared,
        ui: &Ui,
        done: &mut usize,
        cancel: &mut Cancel,
    ) -> impl Future<Output = Result<()>> + Send;
}

impl World for Ctx {
    async fn connect(&mut self) -> Result<()> {
        self.engine().await.map(|_| ())
    }

    fn share(&self) -> Ctx {
        Ctx::share(self)
    }

    async fn git(&mut self) -> std::sync::Arc<dyn crate::adapters::git::Git> {
        Ctx::git(self)
    }

    async fn carry_out(
        &mut self,
        prepared: &Prepared,
        ui: &Ui,
        done: &mut usize,
        cancel: &mut Cancel,
    ) -> Result<()> {
        let mut fx = apply::effects::Real {
            ctx: self,
            repo: prepared.session.main_root.as_deref(),
            unpaused: Default::default(),
        };
        apply::apply_counted(&prepared.plan, &prepared.desired, &mut fx, ui, done, cancel).await
    }
}

/// Loads the session in `dir`, observes it and plans `intent`.
pub async fn prepare<O: Observer>(
    obs: &mut O,
    dir: &Path,
    intent: Intent,
    wants: &context::Wants,
    ui: &Ui,
) -> Result<Prepared> {
    let observed = obs.session(dir).await?;
    prepare_from(obs, dir, observed, intent, wants, ui).await
}

/// Plans `intent` from an observation already made (callers that must look before deciding
/// do not observe twice). Stop and destroy still work when the compose file is gone or broken
/// (a branch switch can do that): they only need the session's identity. Config warnings and
/// the `--verbose` trace of loading go to `ui`.
pub async fn prepare_from<O: Observer>(
    obs: &mut O,
    dir: &Path,
    observed: Observed,
    intent: Intent,
    wants: &context::Wants,
    ui: &Ui,
) -> Result<Prepared> {
    let loading = match intent {
        Intent::Up => Loading::Session,
        // Stop and destroy need only the session's identity, so they work when a branch switch
        // removed or broke the compose files; destroy even with a broken config (the project is
        // read from the containers, and defaults recognise less as dev-prism's: keep more).
        Intent::Stop => Loading::Identity { lenient: false },
        Intent::Destroy { .. } => Loading::Identity { lenient: true },
    };
    let session = obs.load(ui, dir, loading).await?;
    prepare_loaded(obs, session, observed, intent, wants).await
}

/// [`prepare_from`] for a session already loaded.
async fn prepare_loaded<O: Observer>(
    obs: &mut O,
    session: Session,
    mut observed: Observed,
    intent: Intent,
    wants: &context::Wants,
) -> Result<Prepared> {
    if let Intent::Destroy { .. } = intent {
        obs.for_destroy(&session, &mut observed).await?;
    }
    // Tearing down acts on the project the containers carry, even if the config's
    // projectName changed since.
    let project = match intent {
        Intent::Up => Some(session.project_for(&observed)),
        _ => project_of(&observed.containers).map(str::to_string),
    };
    let project = project.unwrap_or_else(|| session.project());
    // The name must be this directory's before anything acts on it (DESIGN §10).
    // A worktree moved with `git worktree move`: its containers carry the old directory.
    let owner = observed
        .containers
        .iter()
        .find_map(Container::working_dir)
        .map(str::to_string)
        .unwrap_or_else(|| session.dir.to_string_lossy().into_owned());
    let made = intent == Intent::Up;
    obs.owners(&project, made)
        .await?
        .check(&owner, &project, !made)?;
    if intent == Intent::Up {
        refuse_interrupted_copy(&session.dir, &observed.containers)?;
        obs.subnets(&session, &project, &mut observed).await?;
        obs.hosts(&session, &mut observed).await?;
    }
    let flavor = match intent {
        Intent::Up => obs.flavor(&observed).await?,
        _ => context::recorded_flavor(&observed).unwrap_or(Flavor::V2),
    };
    let p = finish(obs, session, observed, flavor, wants, project, |d, o| {
        plan::diff(d, o, intent, None)
    })
    .await?;
    let mut p = p;
    if intent == Intent::Up {
        refuse_foreign_files(&p)?;
        // Which Compose would run it is asked only when carrying the plan out (see
        // `carry_out_counted`): asking costs a Compose process, and `plan` must stay fast.
        runtime_checks(obs, &mut p, false).await?;
        if context::unnamed(&p.session, &p.observed) {
            p.plan.warnings.push(plan::Warning::Unnamed {
                dir: p.desired.dir.to_string_lossy().into_owned(),
                project: p.desired.project.clone(),
            });
        }
    }
    Ok(p)
}

/// A `--data-from` copy's throwaway container still there means the copy never ended (its
/// create was killed): the volumes it was filling may be half-copied, and labels cannot tell
/// them from finished ones. Bringing the session up on them is refused; destroy finishes it.
pub fn refuse_interrupted_copy(dir: &Path, containers: &[Container]) -> Result<()> {
    match containers.iter().find(|c| c.is_volume_copy()) {
        None => Ok(()),
        Some(c) => Err(Error::usage(format!(
            "a volume copy into {} never finished (its container {} is still there): its volumes may be half-copied, so dev-prism does not start the session on them",
            dir.display(),
            c.name
        ))
        .with_hint(format!(
            "`dev-prism destroy {}` removes what the interrupted create made; then create the session again",
            dir.display()
        ))),
    }
}

/// Adds to a plan that brings the session up what the engine and (with `compose`, when the
/// plan runs Compose) the Compose that would run it refuse or warn about: a remote engine's
/// bind mounts, a Compose of another flavour than the session's. `plan` shows them and `apply`
/// enforces them alike.
pub async fn runtime_checks<O: Observer>(
    obs: &mut O,
    p: &mut Prepared,
    compose: bool,
) -> Result<()> {
    let rt = obs.runtime(compose && p.plan.runs_compose()).await?;
    let mounts = crate::compose::bind_mounts(&p.session.model);
    plan::runtime_checks(&mut p.plan, &p.desired, &mounts, &rt);
    Ok(())
}

/// A file of the user's with a generated file's name is never overwritten: bringing the
/// session up stops before anything, naming it.
pub fn refuse_foreign_files(p: &Prepared) -> Result<()> {
    match plan::foreign_files(&p.desired, &p.observed).first() {
        None => Ok(()),
        Some(name) => Err(Error::usage(format!(
            "{name} in {} was not written by dev-prism (it lacks the generated header); dev-prism never overwrites it",
            p.desired.dir.display()
        ))
        .with_hint("rename or move your file, then run the command again")),
    }
}

/// `heal`: plans the derived files only, with the flavour and project the session recorded
/// (no Compose process). `None` when `dir` holds no session.
pub async fn prepare_heal<O: Observer>(
    obs: &mut O,
    dir: &Path,
    ui: &Ui,
) -> Result<Option<Prepared>> {
    let mut observed = obs.session(dir).await?;
    if observed.containers.is_empty() && observed.session_file.is_none() {
        return Ok(None);
    }
    let session = obs.load(ui, dir, Loading::Session).await?;
    let flavor = context::recorded_flavor(&observed).unwrap_or(Flavor::V2);
    let project = project_of(&observed.containers)
        .map(str::to_string)
        .unwrap_or_else(|| session.project());
    // Only when the session file records no subnet (it was deleted): heal writes what `plan`
    // wants, the network's own subnet (measured: without it, heal wrote the file without one
    // and `plan` wanted to add it, for ever).
    obs.subnets(&session, &project, &mut observed).await?;
    let wants = context::Wants::default();
    finish(obs, session, observed, flavor, &wants, project, plan::heal)
        .await
        .map(Some)
}

async fn finish<O: Observer>(
    obs: &mut O,
    session: Session,
    mut observed: Observed,
    flavor: Flavor,
    wants: &context::Wants,
    project: String,
    planner: impl FnOnce(&Desired, &Observed) -> Plan,
) -> Result<Prepared> {
    let mut desired = context::desired_for(&session, &observed, flavor, wants)?;
    desired.project = project;
    obs.derived(&desired, &mut observed).await?;
    let plan = planner(&desired, &observed);
    Ok(Prepared {
        session,
        observed,
        desired,
        plan,
        wants: wants.clone(),
    })
}

/// Applies a prepared plan until `cancel` reports a signal (see [`carry_out_counted`]).
pub async fn carry_out<W: World>(
    world: &mut W,
    prepared: &Prepared,
    ui: &Ui,
    cancel: &mut Cancel,
) -> Result<()> {
    carry_out_counted(world, prepared, ui, &mut 0, cancel).await
}

/// Applies a prepared plan, counting the steps done (see [`apply::apply_counted`]). When
/// `compose up` ends the apply because the session's subnet was taken after the plan was made
/// (a parallel create took it), the reconciler observes and plans again — the new plan
/// chooses another subnet and rewrites the session file in a step of its own — and carries
/// that out, a few times at most. `done` counts the first plan's steps (create's rollback
/// reads it): all of them once a later plan succeeds, those before the failed one otherwise.
pub async fn carry_out_counted<W: World>(
    world: &mut W,
    prepared: &Prepared,
    ui: &Ui,
    done: &mut usize,
    cancel: &mut Cancel,
) -> Result<()> {
    // The Compose that will run the plan, asked now (`plan` does not ask: a Compose process
    // each time): one of another flavour than the session's refuses it before any step.
    if prepared.plan.runs_compose() {
        let rt = world.runtime(true).await?;
        let mut checked = Plan::default();
        plan::runtime_checks(&mut checked, &prepared.desired, &[], &rt);
        if let Some(refusal) = checked.refusals.first() {
            return Err(refusal.error());
        }
    }
    let Err(mut e) = world.carry_out(prepared, ui, done, cancel).await else {
        return Ok(());
    };
    let failed_at = *done;
    for _ in 0..crate::context::subnets::ATTEMPTS {
        let Some(net) = prepared.desired.subnet.filter(|_| apply::subnet_taken(&e)) else {
            return Err(e);
        };
        ui.status(&format!(
            "subnet {} was taken meanwhile (or the engine could not check it); observing the engine and planning again",
            net.net
        ));
        let again = prepare(
            world,
            &prepared.desired.dir,
            Intent::Up,
            &prepared.wants,
            ui,
        )
        .await?;
        match world.carry_out(&again, ui, &mut 0, cancel).await {
            Ok(()) => {
                *done = prepared.plan.graph.node_count();
                return Ok(());
            }
            Err(next) if again.desired.subnet.is_some() => e = next,
            Err(next) => return Err(next),
        }
    }
    *done = failed_at;
    Err(e)
}

/// Rolls back a failed create: a destroy of exactly what it made, with every rule of destroy
/// (work written into the new worktree meanwhile is kept). Returns the plan carried out.
/// `cancel` is the create's own: a signal it already reported (the one that stopped the
/// create) does not stop the rollback; another one does.
pub async fn rollback<W: World>(
    world: &mut W,
    dir: &Path,
    made: create::Made,
    ui: &Ui,
    cancel: &mut Cancel,
) -> Result<Plan> {
    if !made.anything() {
        return Ok(Plan::default());
    }
    let intent = Intent::Destroy {
        force: false,
        scope: made.scope(),
    };
    let mut first = None;
    // A Compose stopped half-way may have asked the engine for containers or networks it is
    // still making (measured: a SIGTERM during `up` left one "Created" after the rollback).
    // Converge as the reconciler does: observe and plan again a moment later, until the plan
    // is empty (a few rounds at most).
    const ROUNDS: usize = 4;
    // The session as the first round loaded it. Once its worktree is removed, its config
    // went with it: loaded again, the directory would get the default project name, and a
    // network Compose was still making when it was stopped (no container names the project)
    // would be looked for under that other name and left behind (measured: 5 in 10 SIGTERMs
    // during `compose up` on a loaded machine).
    let mut session: Option<Session> = None;
    for round in 0..ROUNDS {
        let observed = world.session(dir).await?;
        let wants = context::Wants::default();
        let p = match session.clone() {
            None => prepare_from(world, dir, observed, intent, &wants, ui).await?,
            Some(s) => prepare_loaded(world, s, observed, intent, &wants).await?,
        };
        session.get_or_insert_with(|| p.session.clone());
        if round > 0 && p.plan.is_empty() {
            break;
        }
        world.carry_out(&p, ui, &mut 0, cancel).await?;
        first.get_or_insert(p.plan);
        if !made.project || round + 1 == ROUNDS {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    Ok(first.unwrap_or_default())
}

/// Applies a prepared plan (until `cancel` reports a signal) and returns the session's
/// containers afterwards.
pub async fn execute(
    ctx: &mut Ctx,
    prepared: &Prepared,
    ui: &Ui,
    cancel: &mut Cancel,
) -> Result<Vec<Container>> {
    carry_out(ctx, prepared, ui, cancel).await?;
    let engine = ctx.engine().await?;
    engine
        .session_containers(&prepared.desired.dir.to_string_lossy())
        .await
}
