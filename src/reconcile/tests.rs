//! Reconciliation through the strict fake, observed through the same [`Observer`] seam as the
//! real world (no Docker): create's rollback, and `stop-all`, `destroy --all` and `prune` as one
//! plan per session, each carried out on its own task.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{bulk, create::Made, rollback, Prepared, World};
use crate::adapters::process::Cancel;
use crate::apply::fake::{Behaviour, Fake};
use crate::compose::labels;
use crate::context::{Loading, Observer, Session};
use crate::desired::testing::{desired, DIR};
use crate::desired::{Desired, Intent, Selection};
use crate::error::Result;
use crate::observed::{Container, Health, Observed, State};
use crate::plan::ready::{CopyPattern, Entry};
use crate::plan::{Blocker, Kept, Op, Plan};
use crate::ui::Ui;

const COMPOSE: &str = "services:\n  db:\n    image: postgres:16\n    ports: ['5432']\n  web:\n    image: web\n    ports: ['8080:80', '443']\n";

/// The fake as a world concurrent tasks share (each observation or apply holds it whole).
#[derive(Clone, Default)]
pub(super) struct Shared(pub(super) Arc<tokio::sync::Mutex<Fake>>);

impl Observer for Shared {
    async fn load(&mut self, ui: &Ui, dir: &Path, loading: Loading) -> Result<Session> {
        self.0.lock().await.load(ui, dir, loading).await
    }

    async fn load_committed(&mut self, ui: &Ui, repo: &Path, rev: &str) -> Result<Session> {
        self.0.lock().await.load_committed(ui, repo, rev).await
    }

    async fn env_file(&mut self, repo: &Path, rel: &str) -> Result<Option<String>> {
        self.0.lock().await.env_file(repo, rel).await
    }

    async fn exists(&mut self, path: &Path) -> bool {
        self.0.lock().await.exists(path).await
    }

    async fn resolve(&mut self, path: &Path) -> Option<PathBuf> {
        self.0.lock().await.resolve(path).await
    }

    async fn working_text(&mut self, path: &Path) -> Option<String> {
        self.0.lock().await.working_text(path).await
    }

    async fn copy_sources(
        &mut self,
        repo: &Path,
        copy: &[String],
        existing: Option<&str>,
    ) -> Result<(Vec<CopyPattern>, Vec<Entry>)> {
        self.0.lock().await.copy_sources(repo, copy, existing).await
    }

    async fn session(&mut self, dir: &Path) -> Result<Observed> {
        self.0.lock().await.session(dir).await
    }

    async fn for_destroy(&mut self, session: &Session, observed: &mut Observed) -> Result<()> {
        self.0.lock().await.for_destroy(session, observed).await
    }

    async fn derived(&mut self, desired: &Desired, observed: &mut Observed) -> Result<()> {
        self.0.lock().await.derived(desired, observed).await
    }

    async fn subnets(&mut self, s: &Session, project: &str, o: &mut Observed) -> Result<()> {
        self.0.lock().await.subnets(s, project, o).await
    }

    async fn owners(&mut self, project: &str, made: bool) -> Result<crate::observed::Owners> {
        self.0.lock().await.owners(project, made).await
    }

    async fn flavor(&mut self, observed: &Observed) -> Result<crate::compose::Flavor> {
        self.0.lock().await.flavor(observed).await
    }

    async fn hosts(&mut self, s: &Session, o: &mut Observed) -> Result<()> {
        self.0.lock().await.hosts(s, o).await
    }

    async fn runtime(&mut self, compose: bool) -> Result<crate::observed::Runtime> {
        self.0.lock().await.runtime(compose).await
    }

    async fn isolation(&mut self) -> Result<(String, crate::adapters::docker::EngineSecurity)> {
        self.0.lock().await.isolation().await
    }

    async fn data_source(
        &mut self,
        s: &Session,
        raw: &Path,
        what: &str,
    ) -> Result<crate::plan::ready::DataSource> {
        self.0.lock().await.data_source(s, raw, what).await
    }
}

impl World for Shared {
    async fn connect(&mut self) -> Result<()> {
        Ok(())
    }

    fn share(&self) -> Self {
        self.clone()
    }

    async fn git(&mut self) -> Arc<dyn crate::adapters::git::Git> {
        self.0.lock().await.git()
    }

    async fn carry_out(
        &mut self,
        p: &Prepared,
        ui: &Ui,
        done: &mut usize,
        cancel: &mut Cancel,
    ) -> Result<()> {
        let mut fake = self.0.lock().await;
        crate::apply::apply_counted(&p.plan, &p.desired, &mut *fake, ui, done, cancel).await
    }
}

pub(super) fn quiet() -> Ui {
    Ui::default().quieted()
}

/// Session directories no other test (or test process) locks.
fn dirs(test: &str, names: &[&str]) -> Vec<PathBuf> {
    let base = PathBuf::from(format!("/w/dp-fake-{}-{test}", std::process::id()));
    names.iter().map(|n| base.join(n)).collect()
}

/// The project a fake session's objects carry.
fn project(dir: &Path) -> String {
    format!("p-{}", dir.file_name().unwrap().to_string_lossy())
}

fn container(dir: &Path, service: &str, state: State) -> Container {
    let project = project(dir);
    Container {
        id: format!("{project}-{service}"),
        name: format!("{project}-{service}-1"),
        service: service.into(),
        state,
        health: Health::None,
        exit_code: None,
        status: String::new(),
        ports: vec![],
        labels: BTreeMap::from([
            (labels::PROJECT.to_string(), project),
            (
                labels::WORKING_DIR.to_string(),
                dir.to_string_lossy().into_owned(),
            ),
        ]),
        engine_host: Default::default(),
    }
}

/// A session `dir` in the fake with these containers, a generated `.env.session`, and (when
/// `branch` is given) the worktree and branch dev-prism made for it.
fn session(fx: &mut Fake, dir: &Path, containers: &[(&str, State)], branch: Option<&str>) {
    use crate::apply::effects::Effects;
    for (service, state) in containers {
        fx.containers.push(container(dir, service, *state));
    }
    let env = "# Generated by dev-prism\nDB_PORT=1\n".to_string();
    fx.files
        .insert(dir.join(crate::desired::ENV_FILE), (env, 0o100600));
    if let Some(b) = branch {
        fx.add_worktree(dir, b, true, None).unwrap();
    }
}

/// Files of the session directory `dir`, in the fake's memory (loading reads them there).
fn write(fx: &mut Fake, dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        fx.files
            .insert(dir.join(name), (text.to_string(), 0o100644));
    }
}

/// Each step's operation, in order, as a short line.
pub(super) fn ops(plan: &Plan) -> Vec<String> {
    plan.ordered()
        .iter()
        .map(|s| match &s.op {
            Op::StopContainers { ids } => format!("stop {}", ids.join(",")),
            Op::RemoveProject { project, .. } => format!("remove project {project}"),
            Op::RemoveFile { path } => {
                format!("remove {}", path.file_name().unwrap().to_string_lossy())
            }
            Op::RemoveWorktree { branch: None, .. } => "remove worktree".into(),
            Op::RemoveWorktree {
                branch: Some(b), ..
            } => format!("remove worktree, delete branch {}", b.branch),
            other => format!("{other:?}"),
        })
        .collect()
}

fn result_of<'a>(results: &'a [(PathBuf, Result<Plan>)], dir: &Path) -> &'a Result<Plan> {
    &results.iter().find(|(d, _)| d == dir).unwrap().1
}

fn plan_of<'a>(results: &'a [(PathBuf, Result<Plan>)], dir: &Path) -> &'a Plan {
    result_of(results, dir).as_ref().unwrap()
}

/// The sessions in the order a bulk command meets them: the failing one (the last) first, so
/// a failure that stopped the rest would show.
fn failing_first(d: &[PathBuf]) -> Vec<PathBuf> {
    let mut order = d.to_vec();
    order.rotate_right(1);
    order
}

#[tokio::test(flavor = "current_thread")]
async fn stop_all_stops_only_running_containers_one_plan_per_session() {
    let d = dirs("stop", &["a", "b", "c"]);
    let mut world = Shared::default();
    {
        let mut fx = world.0.lock().await;
        session(
            &mut fx,
            &d[0],
            &[("db", State::Running), ("job", State::Stopped)],
            None,
        );
        session(&mut fx, &d[1], &[("db", State::Stopped)], None);
        session(&mut fx, &d[2], &[("db", State::Running)], None);
        fx.fail_on = Some(format!("stop {}-db", project(&d[2])));
    }
    let results = bulk::each(
        &mut world,
        failing_first(&d),
        Intent::Stop,
        &quiet(),
        &Cancel::never(),
    )
    .await
    .unwrap();
    assert_eq!(
        results.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
        failing_first(&d),
        "one result per session, in order"
    );
    assert_eq!(
        ops(plan_of(&results, &d[0])),
        vec![
            format!("stop {}-db", project(&d[0])),
            "remove .env.session".into()
        ]
    );
    // Nothing running: no stop step, only the void env file goes.
    assert_eq!(ops(plan_of(&results, &d[1])), vec!["remove .env.session"]);
    // The failing session is reported; the others were carried out all the same.
    let err = result_of(&results, &d[2]).as_ref().unwrap_err();
    assert!(err.message().contains("failed"), "{}", err.message());
    let fx = world.0.lock().await;
    assert!(fx
        .containers
        .iter()
        .all(|c| c.state == State::Stopped || c.working_dir() == Some(&*d[2].to_string_lossy())));
    assert!(!fx.files.contains_key(&d[0].join(".env.session")));
    assert!(!fx.files.contains_key(&d[1].join(".env.session")));
}

#[tokio::test(flavor = "current_thread")]
async fn destroy_all_removes_a_worktree_only_on_positive_facts_and_reports_failures() {
    let d = dirs("destroy", &["made", "unknown", "plain", "failing"]);
    let mut world = Shared::default();
    {
        let mut fx = world.0.lock().await;
        fx.branches.push("main".into());
        session(
            &mut fx,
            &d[0],
            &[("db", State::Running)],
            Some("session/made"),
        );
        fx.volumes.insert(format!("{}_pg", project(&d[0])), None);
        session(&mut fx, &d[1], &[("db", State::Stopped)], None);
        fx.unreadable.push(d[1].clone());
        session(&mut fx, &d[2], &[("db", State::Running)], None);
        session(
            &mut fx,
            &d[3],
            &[("db", State::Running)],
            Some("session/failing"),
        );
        fx.fail_on = Some(format!("remove project {}", project(&d[3])));
    }
    let results = bulk::each(
        &mut world,
        failing_first(&d),
        Intent::destroy(false),
        &quiet(),
        &Cancel::never(),
    )
    .await
    .unwrap();
    // Made by dev-prism, clean, merged: project, files, worktree, then its branch.
    let made = plan_of(&results, &d[0]);
    assert_eq!(
        ops(made),
        vec![
            format!("remove project {}", project(&d[0])),
            "remove .env.session".into(),
            "remove worktree, delete branch session/made".into(),
        ]
    );
    assert!(made.kept.is_empty(), "{:?}", made.kept);
    // Facts unknown: the worktree stays, and the plan says why.
    let unknown = plan_of(&results, &d[1]);
    assert!(!ops(unknown).iter().any(|o| o.contains("worktree")));
    assert_eq!(unknown.kept.len(), 1, "{:?}", unknown.kept);
    assert!(
        matches!(&unknown.kept[0], Kept::Worktree { path, why }
            if path == &d[1] && matches!(why[..], [Blocker::MakerUnknown(_), ..])),
        "{:?}",
        unknown.kept
    );
    // No worktree at all: the project and files only, nothing kept to report.
    let plain = plan_of(&results, &d[2]);
    assert_eq!(
        ops(plain),
        vec![
            format!("remove project {}", project(&d[2])),
            "remove .env.session".into()
        ]
    );
    assert!(plain.kept.is_empty());
    // The failing session is reported, and keeps its worktree and branch (its first step
    // failed); the others were destroyed.
    let err = result_of(&results, &d[3]).as_ref().unwrap_err();
    assert!(
        err.message().contains("remove project"),
        "{}",
        err.message()
    );
    let fx = world.0.lock().await;
    assert_eq!(fx.worktrees, vec![d[3].clone()]);
    assert_eq!(
        fx.branches,
        vec!["main".to_string(), "session/failing".into()]
    );
    assert!(fx.volumes.is_empty());
    let left: Vec<_> = fx
        .containers
        .iter()
        .filter_map(|c| c.working_dir())
        .collect();
    assert_eq!(left, vec![d[3].to_string_lossy()]);
}

#[tokio::test(flavor = "current_thread")]
async fn prune_destroys_each_stopped_session_worktree_by_its_own_plan() {
    // `prune` hands its stopped worktrees to the same per-session destroy.
    let d = dirs("prune", &["stopped", "bare", "gone"]);
    let mut world = Shared::default();
    {
        let mut fx = world.0.lock().await;
        session(
            &mut fx,
            &d[0],
            &[("db", State::Stopped)],
            Some("session/stopped"),
        );
        // A worktree whose containers are already gone.
        session(&mut fx, &d[1], &[], Some("session/bare"));
        // A worktree git cannot read any more.
        session(&mut fx, &d[2], &[], None);
        fx.unreadable.push(d[2].clone());
    }
    let results = bulk::each(
        &mut world,
        d.clone(),
        Intent::destroy(false),
        &quiet(),
        &Cancel::never(),
    )
    .await
    .unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(
        ops(plan_of(&results, &d[0])),
        vec![
            format!("remove project {}", project(&d[0])),
            "remove .env.session".into(),
            "remove worktree, delete branch session/stopped".into(),
        ]
    );
    assert_eq!(
        ops(plan_of(&results, &d[1])),
        vec![
            "remove .env.session".to_string(),
            "remove worktree, delete branch session/bare".into(),
        ]
    );
    let gone = plan_of(&results, &d[2]);
    assert_eq!(ops(gone), vec!["remove .env.session"]);
    assert!(
        matches!(&gone.kept[0], Kept::Worktree { why, .. }
            if matches!(why[..], [Blocker::MakerUnknown(_), ..])),
        "{:?}",
        gone.kept
    );
    let fx = world.0.lock().await;
    assert!(fx.worktrees.is_empty() && fx.branches.is_empty() && fx.containers.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_create_rolls_back_through_a_destroy_plan_of_exactly_what_it_made() {
    let d = desired(COMPOSE, "", Selection::default(), &[], false).unwrap();
    let mut world = Shared::default();
    let mut done = 0;
    let plan = {
        let mut fx = world.0.lock().await;
        fx.branches.push("main".into());
        fx.behaviour.insert(
            "web".into(),
            Behaviour {
                starting_polls: 0,
                exits_with: Some(1),
            },
        );
        let first = vec![crate::plan::add_worktree_step(
            PathBuf::from(DIR),
            "session/x",
            true,
            Some("abc".into()),
        )];
        let plan = crate::plan::diff_after(&d, &Observed::default(), Intent::Up, first);
        let err = crate::apply::apply_counted(
            &plan,
            &d,
            &mut *fx,
            &quiet(),
            &mut done,
            &mut Cancel::never(),
        )
        .await
        .unwrap_err();
        assert!(err.message().contains("`web`"), "{}", err.message());
        fx.log.clear();
        plan
    };
    let made = Made::after(&plan, done, true);
    assert_eq!(
        made,
        Made {
            project: true,
            worktree: true,
            branch: true
        }
    );
    // Observed and carried out through the seam, as `create` does.
    let rolled = rollback(
        &mut world,
        Path::new(DIR),
        made,
        &quiet(),
        &mut Cancel::never(),
    )
    .await
    .unwrap();
    assert!(rolled.kept.is_empty(), "{:?}", rolled.kept);
    let fx = world.0.lock().await;
    assert!(fx.containers.is_empty() && fx.worktrees.is_empty());
    assert_eq!(fx.branches, vec!["main".to_string()]);
    // The fake refuses to delete a branch whose worktree exists: the order is proven.
    assert_eq!(fx.log.last().unwrap(), "delete branch session/x");
    assert!(fx.log[0].starts_with("remove project"), "{:?}", fx.log);

    // A create that only checked out an existing branch and found the project stopped
    // removes neither.
    let kept = Made::after(
        &crate::plan::diff_after(
            &d,
            &Observed::default(),
            Intent::Up,
            vec![crate::plan::add_worktree_step(
                PathBuf::from(DIR),
                "existing",
                false,
                None,
            )],
        ),
        usize::MAX,
        false,
    );
    assert!(kept.worktree && !kept.branch && !kept.project);
}

#[tokio::test(flavor = "current_thread")]
async fn a_subnet_taken_meanwhile_ends_the_apply_and_the_reconciler_plans_again() {
    let dir = dirs("subnet", &["s"]).remove(0);
    let mut world = Shared::default();
    write(
        &mut *world.0.lock().await,
        &dir,
        &[
            (
                "docker-compose.yml",
                "services:\n  app:\n    image: x\n    ports: ['80']\n",
            ),
            ("session.config.yaml", "subnetPool: 10.199.0.0/16\n"),
        ],
    );
    let wants = crate::context::Wants::default();
    let p = super::prepare(&mut world, &dir, Intent::Up, &wants, &quiet())
        .await
        .unwrap();
    let first = p.desired.subnet.expect("a subnet from the pool").net;
    // A parallel create takes it between this observation and `compose up`.
    world.0.lock().await.taken_meanwhile.push(first);
    let mut done = 0;
    super::carry_out_counted(&mut world, &p, &quiet(), &mut done, &mut Cancel::never())
        .await
        .unwrap();
    assert_eq!(done, p.plan.graph.node_count());
    let fx = world.0.lock().await;
    let second = fx.own_networks[&p.desired.project];
    assert_ne!(second, first);
    // apply never rewrote the session file on its own: the second plan did, in a step.
    let file = dir.join(crate::compose::SESSION_FILE);
    assert_eq!(
        crate::desired::subnet::recorded(&fx.files[&file].0),
        Some(second)
    );
    let write = |name: &str| format!("write {}", dir.join(name).display());
    assert_eq!(
        fx.log,
        [
            write(crate::compose::SESSION_FILE),
            write(crate::compose::SESSION_FILE),
            "up app".into(),
            write(crate::desired::ENV_FILE),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_compose_of_another_flavour_refuses_the_plan_before_any_step() {
    let dir = dirs("flavour", &["s"]).remove(0);
    let mut world = Shared::default();
    {
        let mut fx = world.0.lock().await;
        write(
            &mut fx,
            &dir,
            &[("docker-compose.yml", "services:\n  app:\n    image: x\n")],
        );
        fx.compose = Some((crate::compose::Flavor::V1, "1.29.2".into()));
    }
    let wants = crate::context::Wants::default();
    let p = super::prepare(&mut world, &dir, Intent::Up, &wants, &quiet())
        .await
        .unwrap();
    // `plan` does not ask which Compose would run (a process each time)...
    assert!(p.plan.refusals.is_empty());
    // ...carrying it out does, and refuses before the first step.
    let err = super::carry_out_counted(&mut world, &p, &quiet(), &mut 0, &mut Cancel::never())
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("written for Compose v2, but Compose v1 (1.29.2)"),
        "{}",
        err.message()
    );
    assert!(world.0.lock().await.log.is_empty());
}

/// The real observer and effects (`Ctx`) through the fake ports: `stop-all` then
/// `destroy --all` as bulk commands on real directories, the engine, Compose and git faked
/// behind their traits. What the engine was asked, in order; what stays on disk; a second run
/// finds nothing to do.
#[tokio::test(flavor = "current_thread")]
async fn bulk_commands_run_on_the_real_context_through_the_fake_ports() {
    use crate::adapters::fake::{FakeCompose, FakeEngine, FakeNetwork, NoGit};
    use crate::context::Ctx;
    let tmp = tempfile::tempdir().unwrap();
    let d: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|n| {
            let dir = tmp.path().join(n);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(
                dir.join(crate::desired::ENV_FILE),
                "# Generated by dev-prism\nDB_PORT=1\n",
            )
            .unwrap();
            // The user's file beside it is never touched.
            std::fs::write(dir.join("notes.txt"), "mine\n").unwrap();
            std::fs::canonicalize(dir).unwrap()
        })
        .collect();
    let engine = FakeEngine::default();
    {
        let mut s = engine.state.lock().unwrap();
        s.containers.push(container(&d[0], "db", State::Running));
        s.containers.push(container(&d[0], "job", State::Stopped));
        s.containers.push(container(&d[1], "db", State::Stopped));
        for dir in &d {
            s.networks.push(FakeNetwork {
                name: format!("{}_default", project(dir)),
                project: project(dir),
                subnets: vec![],
            });
            s.volumes
                .push((project(dir), format!("{}_data", project(dir))));
        }
    }
    let ui = quiet();
    let mut ctx = Ctx::with_ports(
        &ui,
        Arc::new(engine.clone()),
        Arc::new(FakeCompose::default()),
        Arc::new(NoGit),
    );
    let stopped = bulk::each(&mut ctx, d.clone(), Intent::Stop, &ui, &Cancel::never())
        .await
        .unwrap();
    assert_eq!(
        ops(plan_of(&stopped, &d[0])),
        vec![
            format!("stop {}-db", project(&d[0])),
            "remove .env.session".into()
        ]
    );
    assert_eq!(ops(plan_of(&stopped, &d[1])), vec!["remove .env.session"]);
    assert!(engine
        .calls()
        .contains(&format!("stop {}-db", project(&d[0]))));
    for dir in &d {
        assert!(!dir.join(crate::desired::ENV_FILE).exists());
    }
    // Idempotent: stopped sessions have nothing left to stop.
    let again = bulk::each(&mut ctx, d.clone(), Intent::Stop, &ui, &Cancel::never())
        .await
        .unwrap();
    assert!(again.iter().all(|(_, r)| r.as_ref().unwrap().is_empty()));
    let destroy = Intent::Destroy {
        force: false,
        scope: crate::desired::Scope::ALL,
    };
    let destroyed = bulk::each(&mut ctx, d.clone(), destroy, &ui, &Cancel::never())
        .await
        .unwrap();
    for dir in &d {
        assert_eq!(
            ops(plan_of(&destroyed, dir)),
            vec![format!("remove project {}", project(dir))]
        );
        // What is not the session's stays: the directory and the user's file in it.
        assert_eq!(
            std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
            "mine\n"
        );
    }
    {
        let s = engine.state.lock().unwrap();
        assert!(s.containers.is_empty() && s.networks.is_empty() && s.volumes.is_empty());
    }
    let again = bulk::each(&mut ctx, d.clone(), destroy, &ui, &Cancel::never())
        .await
        .unwrap();
    assert!(again.iter().all(|(_, r)| r.as_ref().unwrap().is_empty()));
}

/// `create` planned through the ports alone: the repository (config and compose files as
/// committed, the branch, the worktree's place), the engine (who owns the project name) and
/// Compose (its flavour) are all fakes behind their traits. The plan puts the worktree first
/// and brings the services up after it; planning changes nothing; planning again gives the
/// same plan.
#[tokio::test(flavor = "current_thread")]
async fn create_is_planned_through_the_ports_and_changes_nothing() {
    use crate::adapters::fake::{FakeCompose, FakeEngine, FakeRepo};
    use crate::context::Ctx;
    use crate::reconcile::create::{prepare_worktree, CreateRequest};
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap().join("repo");
    std::fs::create_dir(&root).unwrap();
    let config = "sessionsDir: ../sessions\n";
    let files = [
        ("session.config.yaml", config),
        ("docker-compose.yml", COMPOSE),
    ];
    for (f, text) in files {
        std::fs::write(root.join(f), text).unwrap();
    }
    let repo = Arc::new(FakeRepo {
        root: root.clone(),
        committed: files
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect(),
        ..FakeRepo::default()
    });
    let engine = FakeEngine::default();
    let ui = quiet();
    let mut ctx = Ctx::with_ports(
        &ui,
        Arc::new(engine.clone()),
        Arc::new(FakeCompose::default()),
        repo.clone(),
    );
    let req = CreateRequest {
        cwd: root.clone(),
        branch: Some("feat/x".into()),
        ..CreateRequest::default()
    };
    let p = prepare_worktree(&mut ctx, &req, &[], &ui).await.unwrap();
    let dir = root.parent().unwrap().join("sessions/feat-x");
    assert_eq!(p.session.dir, dir);
    let steps = p.plan.ordered();
    match &steps[0].op {
        Op::AddWorktree {
            path,
            branch,
            create_branch,
            ..
        } => {
            assert_eq!(
                (path, branch.as_str(), *create_branch),
                (&dir, "feat/x", true)
            );
        }
        other => panic!("the worktree comes first, not {other:?}"),
    }
    let up = steps
        .iter()
        .position(|s| matches!(s.op, Op::ComposeUp { .. }))
        .expect("the services are brought up");
    assert!(up > 0);
    // Asked, not changed: who owns the project name; no worktree, branch or directory made.
    assert!(engine
        .calls()
        .iter()
        .any(|c| c.starts_with("project_owners")));
    assert!(repo.calls().is_empty(), "{:?}", repo.calls());
    assert!(!dir.exists());
    // The same plan again, but for the creation time the session file records.
    let timeless = |plan: &Plan| -> Vec<String> {
        ops(plan)
            .iter()
            .map(|o| {
                o.split("\\n")
                    .filter(|l| !l.contains("dev-prism.created_at"))
                    .collect::<Vec<_>>()
                    .join("\\n")
            })
            .collect()
    };
    let again = prepare_worktree(&mut ctx, &req, &[], &ui).await.unwrap();
    assert_eq!(timeless(&again.plan), timeless(&p.plan));
    // The subnet was chosen from what the engine port reported.
    assert!(engine.calls().iter().any(|c| c == "network_subnets"));
}

/// The plan of a create in a new worktree on a new branch, with a setup command.
fn create_plan(d: &Desired) -> Plan {
    let first = vec![crate::plan::add_worktree_step(
        PathBuf::from(DIR),
        "session/x",
        true,
        Some("abc".into()),
    )];
    crate::plan::diff_after(d, &Observed::default(), Intent::Up, first)
}

/// A second signal stops the rollback too (the first one was the create's).
#[tokio::test(flavor = "current_thread")]
async fn another_signal_stops_the_rollback_and_destroy_finishes_it() {
    let d = desired(COMPOSE, "", Selection::default(), &[], false).unwrap();
    let plan = create_plan(&d);
    let mut world = Shared::default();
    let (mut cancel, trigger) = Cancel::manual();
    let mut done = 0;
    {
        let mut fx = world.0.lock().await;
        fx.branches.push("main".into());
        // A signal as the worktree is made: the create stops after it.
        fx.signal_at = Some((0, trigger.clone(), crate::error::Signal::Int));
        let e = crate::apply::apply_counted(&plan, &d, &mut *fx, &quiet(), &mut done, &mut cancel)
            .await
            .unwrap_err();
        assert_eq!(
            e.kind(),
            crate::error::Kind::Interrupted(crate::error::Signal::Int)
        );
        fx.log.clear();
        // Give the rollback a project to remove; another signal arrives as it removes it.
        fx.containers
            .push(container(Path::new(DIR), "db", State::Running));
        fx.signal_at = Some((0, trigger.clone(), crate::error::Signal::Int));
    }
    let made = Made {
        project: true,
        worktree: true,
        branch: true,
    };
    let e = rollback(&mut world, Path::new(DIR), made, &quiet(), &mut cancel)
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        crate::error::Kind::Interrupted(crate::error::Signal::Int)
    );
    {
        let fx = world.0.lock().await;
        // Stopped after removing the project: the worktree and branch are still there.
        assert_eq!(fx.log.len(), 1, "{:?}", fx.log);
        assert!(fx.log[0].starts_with("remove project"), "{:?}", fx.log);
        assert_eq!(fx.worktrees, vec![PathBuf::from(DIR)]);
    }
    world.0.lock().await.signal_at = None;
    let rolled = rollback(&mut world, Path::new(DIR), made, &quiet(), &mut cancel)
        .await
        .unwrap();
    assert!(rolled.kept.is_empty());
    let fx = world.0.lock().await;
    assert!(fx.worktrees.is_empty() && fx.containers.is_empty());
    assert_eq!(fx.branches, vec!["main".to_string()]);
}

/// A destroy as `bulk::one` carries it out, without its lock (the bulk tests take locks in
/// parallel).
async fn destroy(world: &mut Shared, dir: &Path, cancel: &mut Cancel) -> Result<Plan> {
    let wants = crate::context::Wants::default();
    let p = super::prepare(world, dir, Intent::destroy(false), &wants, &quiet()).await?;
    if !p.plan.is_empty() {
        world.carry_out(&p, &quiet(), &mut 0, cancel).await?;
    }
    Ok(p.plan)
}

/// SIGHUP while each effect of a destroy is done: the destroy stops with it (exit 129) and
/// keeps what it had not reached; a worktree is never left without its branch's step run to
/// its end (one step); a second destroy finishes the work and a third has nothing to do.
#[tokio::test(flavor = "current_thread")]
async fn a_signal_at_each_step_of_a_destroy_stops_it_and_a_second_destroy_finishes() {
    let mut reached = 0;
    for n in 0.. {
        let dir = &dirs(&format!("destroy-signal-{n}"), &["s"])[0];
        let mut world = Shared::default();
        let (mut cancel, trigger) = Cancel::manual();
        {
            let mut fx = world.0.lock().await;
            fx.branches.push("main".into());
            session(&mut fx, dir, &[("db", State::Running)], Some("session/s"));
            fx.volumes.insert(format!("{}_pg", project(dir)), None);
            fx.log.clear();
            fx.signal_at = Some((n, trigger, crate::error::Signal::Hup));
        }
        let Err(e) = destroy(&mut world, dir, &mut cancel).await else {
            reached = n;
            break;
        };
        assert_eq!(
            e.kind(),
            crate::error::Kind::Interrupted(crate::error::Signal::Hup)
        );
        assert_eq!(e.kind().exit_code(), 129);
        {
            let fx = world.0.lock().await;
            // Nothing ran after the signal but the rest of its step: the branch of the
            // worktree just removed.
            let held = fx.log[n].starts_with("remove worktree")
                && fx.log.get(n + 1).map(String::as_str) == Some("delete branch session/s");
            assert_eq!(
                fx.log.len(),
                n + 1 + usize::from(held),
                "effects after the signal: {:?}",
                fx.log
            );
            let worktree = fx.worktrees.contains(dir);
            let branch = fx.branches.contains(&"session/s".to_string());
            // Removing the worktree and deleting its branch are one step: never cut.
            assert_eq!(worktree, branch, "after effect {n}: {:?}", fx.log);
        }
        world.0.lock().await.signal_at = None;
        // A signal with the last step leaves nothing to finish.
        destroy(&mut world, dir, &mut cancel).await.unwrap();
        {
            let fx = world.0.lock().await;
            assert!(fx.containers.is_empty() && fx.volumes.is_empty() && fx.worktrees.is_empty());
            assert_eq!(fx.branches, vec!["main".to_string()]);
        }
        let again = destroy(&mut world, dir, &mut cancel).await.unwrap();
        assert!(again.is_empty(), "{:?}", ops(&again));
    }
    // The project, the env file, the worktree (its branch in the same step).
    assert!(reached >= 4, "the destroy had only {reached} effects");
}

/// One signal stops every task of a bulk command: each holds a clone of the command's
/// cancellation, and nothing is passed from task to task.
#[tokio::test(flavor = "current_thread")]
async fn one_signal_stops_every_task_of_a_bulk_command() {
    let d = dirs("bulk-signal", &["a", "b", "c"]);
    let mut world = Shared::default();
    let (cancel, trigger) = Cancel::manual();
    {
        let mut fx = world.0.lock().await;
        for dir in &d {
            session(&mut fx, dir, &[("db", State::Running)], None);
        }
        fx.signal_at = Some((0, trigger, crate::error::Signal::Int));
    }
    let results = bulk::each(&mut world, d.clone(), Intent::Stop, &quiet(), &cancel)
        .await
        .unwrap();
    for (dir, r) in &results {
        let e = r
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("{} finished", dir.display()));
        assert_eq!(
            e.kind(),
            crate::error::Kind::Interrupted(crate::error::Signal::Int)
        );
    }
    // A second run (a new command, a new cancellation) finishes the work.
    world.0.lock().await.signal_at = None;
    let results = bulk::each(
        &mut world,
        d.clone(),
        Intent::Stop,
        &quiet(),
        &Cancel::never(),
    )
    .await
    .unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    let fx = world.0.lock().await;
    assert!(fx.containers.iter().all(|c| c.state == State::Stopped));
}

/// A Compose stopped half-way may finish making a volume or network after the rollback first
/// looked: the next round finds it under the project of the session the first round loaded,
/// not under the default name the directory gets once its worktree (and config) is gone.
#[tokio::test(flavor = "current_thread")]
async fn the_rollback_keeps_the_session_it_loaded_once_the_worktree_is_gone() {
    let dir = dirs("rollback-loaded", &["wt"]).remove(0);
    let mut world = Shared::default();
    write(
        &mut *world.0.lock().await,
        &dir,
        &[
            ("docker-compose.yml", COMPOSE),
            ("session.config.yaml", "projectName: shop\n"),
        ],
    );
    let loading = Loading::Identity { lenient: true };
    let project = world.load(&quiet(), &dir, loading).await.unwrap().project();
    assert!(project.starts_with("shop-"), "{project}");
    {
        let mut fx = world.0.lock().await;
        fx.branches.push("main".into());
        session(&mut fx, &dir, &[], Some("session/x"));
        fx.made_meanwhile.push(format!("{project}_data"));
    }
    let made = Made {
        project: true,
        worktree: true,
        branch: true,
    };
    rollback(&mut world, &dir, made, &quiet(), &mut Cancel::never())
        .await
        .unwrap();
    let fx = world.0.lock().await;
    // The worktree went, its config with it.
    assert!(fx.worktrees.is_empty());
    assert!(
        !fx.files.keys().any(|f| f.starts_with(&dir)),
        "{:?}",
        fx.files
    );
    assert!(fx.volumes.is_empty(), "left behind: {:?}", fx.volumes);
    assert_eq!(fx.branches, vec!["main".to_string()]);
}

/// What a rootless engine on cgroup v1 cannot do is asked of the Observer: limits are refused
/// there, naming the engine; a rootful engine, or a plan that asks nothing of it, passes.
#[tokio::test(flavor = "current_thread")]
async fn limits_on_rootless_cgroup_v1_are_refused_through_the_observer() {
    use crate::adapters::docker::EngineSecurity;
    let mut world = Shared::default();
    let plan = Plan::default();
    let limits = crate::config::Resources {
        memory: Some(256 << 20),
        nano_cpus: None,
    };
    world.0.lock().await.isolation = Some((
        "Podman 4.3.1".into(),
        EngineSecurity {
            rootless: true,
            cgroup_v1: true,
        },
    ));
    let err = super::limits::check_engine(&mut world, &plan, &limits)
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with(
            "rootless Podman 4.3.1 on cgroup v1 cannot enforce the memory and CPU limits"
        ),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), crate::error::Kind::Usage);
    // Nothing asked of the engine: no refusal.
    super::limits::check_engine(&mut world, &plan, &crate::config::Resources::default())
        .await
        .unwrap();
    // Rootful: the limits are applied.
    world.0.lock().await.isolation = None;
    super::limits::check_engine(&mut world, &plan, &limits)
        .await
        .unwrap();
}

/// A `--data-from` source is observed through the Observer: the copy step carries what the
/// world reported (its project, the volumes by key, what runs and is paused while copying);
/// a directory that holds no session is the world's usage error, before anything is made.
#[tokio::test(flavor = "current_thread")]
async fn the_data_source_of_a_create_is_observed_through_the_observer() {
    use crate::plan::ready::DataSource;
    let raw = crate::config::parse(
        "{}",
        Path::new("session.config.yaml"),
        crate::config::Format::Yaml,
    )
    .unwrap();
    let model = crate::compose::parse(&[(
        "docker-compose.yml".into(),
        "services:\n  db: {image: x, volumes: ['data:/d']}\nvolumes:\n  data: {}\n".into(),
    )])
    .unwrap();
    let session = Session {
        dir: "/w/new".into(),
        main_root: Some("/w/main".into()),
        config: crate::config::resolve(raw, Path::new("/w/new"), None).unwrap(),
        compose_files: vec!["docker-compose.yml".into()],
        model,
    };
    let source = DataSource {
        dir: "/w/main".into(),
        project: "main-0123456789abcdef".into(),
        pause: vec!["c1".into()],
        image: "x".into(),
        volumes: [("data".to_string(), "main-0123456789abcdef_data".to_string())].into(),
    };
    let mut world = Shared::default();
    world
        .0
        .lock()
        .await
        .data_sources
        .insert("/w/main".into(), source.clone());
    let step = super::ready::data_step(&mut world, &session, "new-p", Some(Path::new("/w/main")))
        .await
        .unwrap()
        .expect("a copy step for the named volume");
    match step.op {
        Op::CopyVolumes {
            source: ref got, ..
        } => assert_eq!(got, &source),
        ref other => panic!("a volume copy, not {other:?}"),
    }
    let err = super::ready::data_step(&mut world, &session, "new-p", Some(Path::new("/w/none")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::error::Kind::Usage);
    assert!(
        err.message().starts_with("--data-from /w/none"),
        "{}",
        err.message()
    );
    // No source named, none configured: no step, nothing asked.
    assert!(super::ready::data_step(&mut world, &session, "new-p", None)
        .await
        .unwrap()
        .is_none());
}

/// A session whose containers were made without a proxy name (the proxy then served another
/// engine, or names were off) is not recreated to get one when names become possible: `plan`
/// and `heal` (run on every checkout) change nothing, and plan/apply say how to give it one.
#[tokio::test(flavor = "current_thread")]
async fn an_unnamed_running_session_keeps_its_containers_and_is_told_how_to_get_a_name() {
    let dir = PathBuf::from("/w/unnamed");
    let compose = "services:\n  app:\n    image: x\n    ports: ['80']\n";
    let mut world = Shared::default();
    let config = |world: &Shared, text: &str| {
        let world = world.clone();
        let (dir, text) = (dir.clone(), text.to_string());
        async move {
            let mut fx = world.0.lock().await;
            write(
                &mut fx,
                &dir,
                &[
                    ("docker-compose.yml", compose),
                    ("session.config.yaml", &text),
                ],
            );
        }
    };
    config(&world, "proxy: {enabled: false}\n").await;
    let wants = crate::context::Wants::default();
    let p = super::prepare(&mut world, &dir, Intent::Up, &wants, &quiet())
        .await
        .unwrap();
    super::carry_out_counted(&mut world, &p, &quiet(), &mut 0, &mut Cancel::never())
        .await
        .unwrap();
    let made = world.0.lock().await.containers.clone();
    assert!(!made.is_empty() && made.iter().all(|c| c.label(labels::HOST).is_none()));
    // Names on: the running session keeps its containers (no replace), with a note.
    config(&world, "proxy: {enabled: true}\n").await;
    let p = super::prepare(&mut world, &dir, Intent::Up, &wants, &quiet())
        .await
        .unwrap();
    assert!(p.plan.is_empty(), "{:?}", ops(&p.plan));
    let notes: Vec<String> = p.plan.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        notes.iter().any(|n| n.contains("has no proxy name")
            && n.contains(&format!("docker compose -p {} down", p.desired.project))
            && n.contains(&format!("dev-prism apply {}", dir.display()))),
        "{notes:?}"
    );
    let healed = super::prepare_heal(&mut world, &dir, &quiet())
        .await
        .unwrap()
        .expect("a session to heal");
    assert!(healed.plan.is_empty(), "{:?}", ops(&healed.plan));
    // Its containers removed (what the note says), the next apply makes them with a name.
    world.0.lock().await.containers.clear();
    let p = super::prepare(&mut world, &dir, Intent::Up, &wants, &quiet())
        .await
        .unwrap();
    assert!(p.plan.warnings.is_empty(), "{:?}", p.plan.warnings);
    assert!(
        crate::compose::label_in(&p.desired.session_file, labels::HOST).is_some(),
        "{}",
        p.desired.session_file
    );
}
