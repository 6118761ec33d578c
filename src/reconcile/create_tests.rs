//! A whole `create` through the strict fake: planned by the real planner
//! ([`prepare_worktree`]: the repository, the config and compose files as committed, the
//! gitignored files to copy, the engine's facts, all answered from memory), carried out, rolled
//! back when it fails or is stopped by a signal at any of its steps, and planned again to
//! nothing once it is done.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::create::{prepare_worktree, CreateRequest, Made};
use super::tests::{ops, quiet, Shared};
use super::{carry_out_counted, rollback};
use crate::adapters::fake::FakeRepo;
use crate::adapters::process::Cancel;
use crate::apply::fake::{Behaviour, Fake};
use crate::desired::{Intent, ENV_FILE};
use crate::error::{Kind, Signal};
use crate::plan::{Op, Plan};

const REPO: &str = "/w/shop";
const WORKTREE: &str = "/w/sessions/feat-x";
const COMPOSE: &str = "services:\n  db:\n    image: postgres:16\n    ports: ['5432']\n  web:\n    image: web\n    ports: ['8080:80']\n";
const CONFIG: &str = "sessionsDir: ../sessions\nenvFiles: [.env]\nsetup: ['make seed']\n";
/// The main checkout's gitignored env file, copied into the worktree and rewritten there.
const ENV: &str = "DATABASE_URL=postgresql://u:p@localhost:5432/x\n";
const INCLUDE: &str = "node_modules/\n";

/// The committed files of the repository (also its clean main checkout's).
fn committed() -> Vec<(&'static str, &'static str)> {
    vec![
        ("session.config.yaml", CONFIG),
        ("docker-compose.yml", COMPOSE),
        (".worktreeinclude", INCLUDE),
    ]
}

/// A world holding the repository `/w/shop` (branch `main`, its committed files checked out,
/// three gitignored files: `.env`, which `envFiles` names, and two of which `.worktreeinclude`
/// selects one) and nothing else.
fn world() -> (Shared, Arc<FakeRepo>) {
    let repo = Arc::new(FakeRepo {
        root: REPO.into(),
        committed: committed()
            .into_iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect(),
        branches: std::sync::Mutex::new(vec!["main".into()]),
        ..FakeRepo::default()
    });
    let mut fx = Fake::default();
    fx.git = Some(repo.clone());
    fx.repo = Some(REPO.into());
    fx.branches.push("main".into());
    let root = Path::new(REPO);
    for (f, text) in committed() {
        fx.files.insert(root.join(f), (text.into(), 0o100644));
    }
    for (f, text) in [
        ("node_modules/x.js", "x"),
        ("tmp/cache.bin", "cache"),
        (".env", ENV),
    ] {
        fx.files.insert(root.join(f), (text.into(), 0o100644));
        fx.ignored.push(root.join(f));
    }
    (Shared(Arc::new(tokio::sync::Mutex::new(fx))), repo)
}

fn request() -> CreateRequest {
    CreateRequest {
        cwd: REPO.into(),
        branch: Some("feat/x".into()),
        wants: crate::context::Wants {
            setup: true,
            ..Default::default()
        },
        data_from: None,
    }
}

/// The main checkout's files, as the world holds them (a create never changes them).
async fn main_checkout(world: &Shared) -> Vec<(PathBuf, String)> {
    let fx = world.0.lock().await;
    fx.files
        .iter()
        .filter(|(f, _)| f.starts_with(REPO))
        .map(|(f, (t, _))| (f.clone(), t.clone()))
        .collect()
}

/// Everything the create made is gone, and everything it found is there as it was.
async fn nothing_made(world: &Shared, before: &[(PathBuf, String)], after: &str) {
    assert_eq!(main_checkout(world).await, before, "{after}");
    let fx = world.0.lock().await;
    assert!(fx.containers.is_empty(), "{after}: {:?}", fx.containers);
    assert!(fx.worktrees.is_empty() && fx.volumes.is_empty(), "{after}");
    assert_eq!(fx.branches, vec!["main".to_string()], "{after}");
    assert!(
        !fx.files.keys().any(|f| f.starts_with(WORKTREE)),
        "{after}: {:?}",
        fx.files.keys()
    );
}

/// The rollback of the create of `WORKTREE` that made `made`.
async fn roll_back(world: &mut Shared, made: Made, cancel: &mut Cancel) -> Plan {
    rollback(world, Path::new(WORKTREE), made, &quiet(), cancel)
        .await
        .unwrap_or_else(|e| panic!("rollback: {}", e.message()))
}

/// The operations of a plan in order, as their kinds.
fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.ordered()
        .iter()
        .map(|s| match &s.op {
            Op::AddWorktree { .. } => "add worktree",
            Op::CopyFile { .. } => "copy file",
            Op::CopyTree { .. } => "copy tree",
            Op::CopyVolumes { .. } => "copy volumes",
            Op::WriteFile { path, .. } if path.ends_with(ENV_FILE) => "write env",
            Op::WriteFile { .. } => "write file",
            Op::RemoveFile { .. } => "remove file",
            Op::ComposeUp { .. } => "compose up",
            Op::WaitReady { .. } => "wait",
            Op::StopContainers { .. } => "stop",
            Op::RemoveProject { .. } => "remove project",
            Op::RemoveWorktree { .. } => "remove worktree",
            Op::RunSetup { .. } => "setup",
        })
        .collect()
}

/// create planned through the fake world: the worktree first, then the env file `envFiles`
/// names and the gitignored files `.worktreeinclude` selects (and only those), then the
/// services and their env files (the copied one rewritten to the session's ports), setup last. Planning changed nothing; `plan` and `apply` agree step for step (the agreement
/// snapshots `create_planned`); the main checkout is kept as it was; planning the session
/// again, as `apply` does, finds nothing to do.
#[tokio::test(flavor = "current_thread")]
async fn a_create_is_planned_copied_and_carried_out_through_the_fake_then_plans_nothing() {
    let (mut world, repo) = world();
    let before = main_checkout(&world).await;
    let p = prepare_worktree(&mut world, &request(), &[], &quiet())
        .await
        .unwrap();
    assert_eq!(p.session.dir, Path::new(WORKTREE));
    assert_eq!(p.session.main_root.as_deref(), Some(Path::new(REPO)));
    assert_eq!(
        kinds(&p.plan),
        [
            "add worktree",
            "copy file",
            "copy tree",
            "write file",
            "compose up",
            "wait",
            "write env",
            "write file",
            "setup"
        ]
    );
    match &p.plan.ordered()[1].op {
        Op::CopyFile { from, to, .. } => {
            assert_eq!(
                (from, to),
                (
                    &Path::new(REPO).join(".env"),
                    &Path::new(WORKTREE).join(".env")
                )
            );
        }
        other => panic!("the env file is copied first, not {other:?}"),
    }
    match &p.plan.ordered()[2].op {
        Op::CopyTree {
            pattern,
            from,
            to,
            paths,
            ..
        } => {
            assert_eq!(pattern, "node_modules/");
            assert_eq!(
                (from.as_path(), to.as_path()),
                (Path::new(REPO), Path::new(WORKTREE))
            );
            assert_eq!(paths, &[PathBuf::from("node_modules/x.js")]);
        }
        other => panic!("the gitignored files come next, not {other:?}"),
    }
    // Asked, not changed.
    assert!(world.0.lock().await.log.is_empty());
    assert!(repo.calls().is_empty(), "{:?}", repo.calls());
    {
        let mut fx = world.0.lock().await;
        crate::apply::agreement_tests::agree("create_planned", &mut fx, &p.desired, &p.plan).await;
    }
    assert_eq!(
        main_checkout(&world).await,
        before,
        "the main checkout is kept"
    );
    {
        let fx = world.0.lock().await;
        let wt = Path::new(WORKTREE);
        assert_eq!(fx.files[&wt.join("node_modules/x.js")].0, "x");
        assert!(
            !fx.files.contains_key(&wt.join("tmp/cache.bin")),
            "not selected"
        );
        // The copied env file points at the session's own database port.
        let env = &fx.files[&wt.join(".env")].0;
        assert!(
            env.starts_with("DATABASE_URL=postgresql://u:p@127.0.0.1:4"),
            "{env}"
        );
        assert_eq!(fx.worktrees, vec![PathBuf::from(WORKTREE)]);
        assert!(fx.branches.contains(&"feat/x".to_string()));
    }
    // A second run (`apply`, which runs no setup) finds the session as create left it.
    let again = super::prepare(
        &mut world,
        Path::new(WORKTREE),
        Intent::Up,
        &crate::context::Wants::default(),
        &quiet(),
    )
    .await
    .unwrap();
    assert!(again.plan.is_empty(), "{:?}", ops(&again.plan));
}

/// A create whose service exits: apply stops at the wait, and the rollback — a destroy plan of
/// exactly what the create made — removes the project, the session file, then the worktree
/// with its branch (the fake refuses a branch deleted before its worktree). The main checkout,
/// its gitignored files and branch `main` are kept; a second rollback plans nothing, and a
/// second create then succeeds.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_create_is_rolled_back_keeping_the_main_checkout_and_a_second_run_succeeds() {
    let (mut world, _) = world();
    let before = main_checkout(&world).await;
    world.0.lock().await.behaviour.insert(
        "web".into(),
        Behaviour {
            starting_polls: 0,
            exits_with: Some(1),
        },
    );
    let p = prepare_worktree(&mut world, &request(), &[], &quiet())
        .await
        .unwrap();
    let mut done = 0;
    let e = carry_out_counted(&mut world, &p, &quiet(), &mut done, &mut Cancel::never())
        .await
        .unwrap_err();
    assert!(e.message().contains("`web`"), "{}", e.message());
    let made = Made::after(&p.plan, done, true);
    assert_eq!(
        made,
        Made {
            project: true,
            worktree: true,
            branch: true
        }
    );
    world.0.lock().await.log.clear();
    let rolled = roll_back(&mut world, made, &mut Cancel::never()).await;
    assert!(rolled.kept.is_empty(), "{:?}", rolled.kept);
    let project = &p.desired.project;
    assert_eq!(
        world.0.lock().await.log,
        [
            format!("remove project {project}"),
            format!("remove {WORKTREE}/docker-compose.session.yml"),
            format!("remove worktree {WORKTREE}"),
            "delete branch feat/x".into(),
        ]
    );
    nothing_made(&world, &before, "after the rollback").await;
    let again = roll_back(&mut world, made, &mut Cancel::never()).await;
    assert!(again.is_empty(), "{:?}", ops(&again));
    // The service fixed, a second create runs to its end.
    world.0.lock().await.behaviour.clear();
    let p = prepare_worktree(&mut world, &request(), &[], &quiet())
        .await
        .unwrap();
    assert_eq!(p.session.dir, Path::new(WORKTREE));
    carry_out_counted(&mut world, &p, &quiet(), &mut 0, &mut Cancel::never())
        .await
        .unwrap();
    assert_eq!(world.0.lock().await.containers.len(), 2);
}

/// SIGTERM while each effect of the planned create is done (the copy of the gitignored files
/// included), one create per effect: the create stops with it (exit 143) before its next step,
/// and the rollback, handed the create's own cancellation, removes exactly what was made — the
/// project first when it was made, the worktree and its branch last — keeping the main
/// checkout. A second rollback plans nothing; a second create then runs to its end, and plans
/// nothing after.
#[tokio::test(flavor = "current_thread")]
async fn a_signal_at_each_step_of_a_planned_create_is_rolled_back_and_a_second_create_finishes() {
    let mut stopped_at = vec![];
    let mut steps = 0;
    for n in 0.. {
        let (mut world, _) = world();
        let before = main_checkout(&world).await;
        let p = prepare_worktree(&mut world, &request(), &[], &quiet())
            .await
            .unwrap();
        steps = p.plan.graph.node_count();
        let (mut cancel, trigger) = Cancel::manual();
        world.0.lock().await.signal_at = Some((n, trigger, Signal::Term));
        let mut done = 0;
        let result = carry_out_counted(&mut world, &p, &quiet(), &mut done, &mut cancel).await;
        {
            let mut fx = world.0.lock().await;
            if result.is_err() {
                assert_eq!(
                    fx.log.len(),
                    n + 1,
                    "effects after the signal: {:?}",
                    fx.log
                );
            }
            fx.log.clear();
            fx.signal_at = None;
        }
        let Err(e) = result else {
            assert_eq!(done, steps);
            break;
        };
        assert_eq!(e.kind(), Kind::Interrupted(Signal::Term));
        assert_eq!(e.kind().exit_code(), 143);
        stopped_at.push(done);
        let made = Made::after(&p.plan, done, true);
        assert!(
            made.worktree && made.branch,
            "the worktree is the first step"
        );
        let rolled = roll_back(&mut world, made, &mut cancel).await;
        assert!(rolled.kept.is_empty(), "{:?}", rolled.kept);
        {
            let fx = world.0.lock().await;
            if made.project {
                assert!(fx.log[0].starts_with("remove project"), "{:?}", fx.log);
            }
            let last = &fx.log[fx.log.len() - 2..];
            assert_eq!(
                last,
                [
                    format!("remove worktree {WORKTREE}"),
                    "delete branch feat/x".into()
                ],
                "after effect {n}"
            );
        }
        nothing_made(&world, &before, &format!("after effect {n}")).await;
        let again = roll_back(&mut world, made, &mut cancel).await;
        assert!(again.is_empty(), "after effect {n}: {:?}", ops(&again));
        // A new command: the create runs to its end, and then there is nothing to do.
        let p = prepare_worktree(&mut world, &request(), &[], &quiet())
            .await
            .unwrap();
        carry_out_counted(&mut world, &p, &quiet(), &mut 0, &mut Cancel::never())
            .await
            .unwrap_or_else(|e| panic!("second create after effect {n}: {}", e.message()));
        let wants = crate::context::Wants::default();
        let after = super::prepare(
            &mut world,
            Path::new(WORKTREE),
            Intent::Up,
            &wants,
            &quiet(),
        )
        .await
        .unwrap();
        assert!(
            after.plan.is_empty(),
            "after effect {n}: {:?}",
            ops(&after.plan)
        );
    }
    // Every step that does something was reached: the worktree, the copy, the session file,
    // Compose, `.env.session`, setup. Waiting changes nothing: no effect to signal with.
    let (mut world, _) = world();
    let p = prepare_worktree(&mut world, &request(), &[], &quiet())
        .await
        .unwrap();
    for (i, step) in p.plan.ordered().iter().enumerate() {
        if matches!(step.op, Op::WaitReady { .. }) {
            continue;
        }
        assert!(
            stopped_at.contains(&i),
            "never stopped at step {i} ({}): {stopped_at:?}",
            step.subject
        );
    }
    assert_eq!(stopped_at.len(), steps - 1);
}

/// The copy facts of a create come from the Observer: a branch that already exists keeps what
/// it has committed (no copy of a file it holds), and a repository with nothing to copy has no
/// copy step at all.
#[tokio::test(flavor = "current_thread")]
async fn the_files_a_create_copies_are_observed_through_the_observer() {
    let (mut world, _) = world();
    let config = crate::config::resolve(
        crate::config::parse(
            "copy: ['tmp/']\n",
            Path::new("session.config.yaml"),
            crate::config::Format::Yaml,
        )
        .unwrap(),
        Path::new(REPO),
        None,
    )
    .unwrap();
    let steps = |p: Vec<crate::plan::Step>| -> Vec<String> {
        p.iter()
            .map(|s| match &s.op {
                Op::CopyTree { pattern, paths, .. } => format!("{pattern} {paths:?}"),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let wt = Path::new(WORKTREE);
    let all = super::ready::copy_steps(&mut world, Path::new(REPO), &config, wt, None)
        .await
        .unwrap();
    // `.worktreeinclude` first, then config `copy`.
    assert_eq!(
        steps(all),
        [
            "node_modules/ [\"node_modules/x.js\"]",
            "tmp/ [\"tmp/cache.bin\"]"
        ]
    );
    // A branch that has `node_modules` committed: its entry is what the worktree gets.
    let repo_with = Arc::new(FakeRepo {
        root: REPO.into(),
        committed: [("node_modules".to_string(), "link".to_string())].into(),
        ..FakeRepo::default()
    });
    world.0.lock().await.git = Some(repo_with);
    let on_branch = super::ready::copy_steps(&mut world, Path::new(REPO), &config, wt, Some("b"))
        .await
        .unwrap();
    assert_eq!(steps(on_branch), ["tmp/ [\"tmp/cache.bin\"]"]);
    // Nothing to copy: no pattern, no step.
    world
        .0
        .lock()
        .await
        .files
        .remove(&Path::new(REPO).join(".worktreeinclude"));
    let mut plain = config.clone();
    plain.copy.clear();
    let none = super::ready::copy_steps(&mut world, Path::new(REPO), &plain, wt, None)
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// Loading goes through the Observer: the fake world's files are read from memory (a config
/// module is refused there: node would read the disk), and a broken config fails the same
/// way it does on disk.
#[tokio::test(flavor = "current_thread")]
async fn loading_reads_the_world_through_the_observer() {
    use crate::context::{Loading, Observer};
    let (mut world, _) = world();
    let ui = quiet();
    let s = world
        .load(&ui, Path::new(REPO), Loading::Session)
        .await
        .unwrap();
    assert_eq!(s.main_root.as_deref(), Some(Path::new(REPO)));
    assert_eq!(s.compose_files, ["docker-compose.yml"]);
    assert_eq!(s.config.setup, ["make seed"]);
    let dir = Path::new("/w/other");
    {
        let mut fx = world.0.lock().await;
        fx.files.insert(
            dir.join("session.config.yaml"),
            ("projectName: [\n".into(), 0o100644),
        );
    }
    let e = world
        .load(&ui, dir, Loading::Identity { lenient: false })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Usage, "{}", e.message());
    // Destroy loads leniently: the defaults, outside any repository.
    let s = world
        .load(&ui, dir, Loading::Identity { lenient: true })
        .await
        .unwrap();
    assert_eq!(s.main_root, None);
    assert!(s.compose_files.is_empty());
    let mjs = Path::new("/w/mjs");
    world.0.lock().await.files.insert(
        mjs.join("session.config.mjs"),
        ("export default {}\n".into(), 0o100644),
    );
    let e = world.load(&ui, mjs, Loading::Session).await.unwrap_err();
    assert!(e.message().contains("cannot evaluate"), "{}", e.message());
}

/// What a refused create must leave as it was: every file, worktree, branch and container, the
/// world's effects and the repository's changes.
async fn world_state(world: &Shared, repo: &FakeRepo) -> String {
    let fx = world.0.lock().await;
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        fx.files,
        fx.worktrees,
        fx.branches,
        fx.containers,
        fx.volumes,
        fx.log,
        repo.calls()
    )
}

/// A second create of a branch whose session exists is refused before anything is made: the
/// directory it would take exists (the observer says so), and the session there — its worktree,
/// branch, files and containers — is left exactly as it was.
#[tokio::test(flavor = "current_thread")]
async fn a_second_create_of_the_same_branch_is_refused_and_changes_nothing() {
    let (mut world, repo) = world();
    let p = prepare_worktree(&mut world, &request(), &[], &quiet())
        .await
        .unwrap();
    carry_out_counted(&mut world, &p, &quiet(), &mut 0, &mut Cancel::never())
        .await
        .unwrap();
    assert_eq!(world.0.lock().await.worktrees, [PathBuf::from(WORKTREE)]);
    let before = world_state(&world, &repo).await;
    let Err(e) = prepare_worktree(&mut world, &request(), &[], &quiet()).await else {
        panic!("a create into {WORKTREE}, which exists, was planned");
    };
    assert_eq!(e.kind(), Kind::Usage, "{}", e.message());
    assert_eq!(e.message(), format!("{WORKTREE} already exists"));
    assert_eq!(world_state(&world, &repo).await, before);
}

/// A create into a directory that exists but is no session (a user's directory at the
/// worktree's path) is refused, and the directory is kept; without `--branch`, create picks
/// the next free name instead.
#[tokio::test(flavor = "current_thread")]
async fn a_create_into_a_directory_that_exists_is_refused_and_changes_nothing() {
    let (mut world, repo) = world();
    let mine = Path::new(WORKTREE).join("notes.txt");
    world
        .0
        .lock()
        .await
        .files
        .insert(mine.clone(), ("mine".into(), 0o100644));
    let before = world_state(&world, &repo).await;
    let Err(e) = prepare_worktree(&mut world, &request(), &[], &quiet()).await else {
        panic!("a create into {WORKTREE}, which exists, was planned");
    };
    assert_eq!(e.message(), format!("{WORKTREE} already exists"));
    assert_eq!(world_state(&world, &repo).await, before);
    assert_eq!(world.0.lock().await.files[&mine].0, "mine");
    // Unnamed, the session is `session/<time>`: a directory of that name is stepped over.
    let taken = Path::new("/w/sessions");
    let mut req = request();
    req.branch = None;
    let first = prepare_worktree(&mut world, &req, &[], &quiet())
        .await
        .unwrap();
    let name = first.session.dir.file_name().unwrap().to_owned();
    world.0.lock().await.files.insert(
        taken.join(&name).join("notes.txt"),
        ("mine".into(), 0o100644),
    );
    let next = prepare_worktree(&mut world, &req, &[], &quiet())
        .await
        .unwrap();
    // The next free name: `-2`, or a later second's name.
    assert_ne!(next.session.dir, taken.join(&name));
    assert!(!world.0.lock().await.holds(&next.session.dir));
}
