//! `plan` and `apply` agree: for every session state in the strict fake, the effects the fake
//! records while applying a plan are exactly the steps that plan lists, in its order — also
//! where the world changes between planning and applying (apply acts on what the plan holds,
//! and the next observation plans the rest). Each state's plan text and JSON are pinned as
//! insta snapshots (`src/apply/snapshots/`; `cargo insta review` after a deliberate change).

use std::path::Path;

use super::fake::{Behaviour, Fake};
use crate::context::Observer;
use crate::desired::testing::{desired, DIR};
use crate::desired::{Desired, Intent, Selection, ENV_FILE};
use crate::observed::{Observed, State};
use crate::plan::{add_worktree_step, diff, diff_after, Op, Plan, Step};
use crate::render;
use crate::ui::Ui;

const COMPOSE: &str = "services:\n  db:\n    image: postgres:16\n    ports: ['5432']\n  web:\n    image: web\n    ports: ['8080:80']\n";
const CONFIG: &str =
    "setup: ['make seed']\nappEnv:\n  app:\n    URL: 'http://localhost:${WEB_PORT}'\n";

fn quiet() -> Ui {
    Ui::default().quieted()
}

/// The lines the fake records for one step (its `log`), in order. Waiting for readiness only
/// observes: it records nothing.
fn effects_of(step: &Step) -> Vec<String> {
    let shown = |p: &Path| p.display().to_string();
    match &step.op {
        Op::AddWorktree { path, .. } => vec![format!("add worktree {}", shown(path))],
        Op::CopyFile { to, .. } => vec![format!("copy {}", shown(to))],
        Op::CopyTree { paths, .. } => vec![format!("copy {} file(s)", paths.len())],
        Op::CopyVolumes { source, volumes } => {
            let mut v: Vec<String> = source.pause.iter().map(|i| format!("pause {i}")).collect();
            v.extend(volumes.iter().map(|n| format!("volume {}", n.name)));
            v.extend(source.pause.iter().map(|i| format!("unpause {i}")));
            v
        }
        Op::WriteFile { path, .. } => vec![format!("write {}", shown(path))],
        Op::RemoveFile { path } => vec![format!("remove {}", shown(path))],
        Op::ComposeUp {
            services, unpause, ..
        } => {
            let mut v = vec![];
            if !unpause.is_empty() {
                v.push(format!("unpause {}", unpause.len()));
            }
            // Only unpausing: Compose is not run.
            if unpause.is_empty() || !services.is_empty() {
                v.push(format!("up {}", services.join(",")));
            }
            v
        }
        Op::WaitReady { .. } => vec![],
        Op::StopContainers { ids } => vec![format!("stop {}", ids.len())],
        Op::RemoveProject { project, .. } => vec![format!("remove project {project}")],
        Op::RemoveWorktree { path, branch, .. } => {
            let mut v = vec![format!("remove worktree {}", shown(path))];
            v.extend(branch.iter().map(|b| format!("delete branch {}", b.branch)));
            v
        }
        Op::RunSetup { command } => vec![format!("setup {command}")],
    }
}

/// The fake's log with each setup line cut to its command (the variables it saw are
/// `apply`'s business, tested elsewhere).
fn recorded(fx: &Fake) -> Vec<String> {
    fx.log
        .iter()
        .map(|l| match l.split_once(" with ") {
            Some((setup, _)) if l.starts_with("setup ") => setup.to_string(),
            _ => l.clone(),
        })
        .collect()
}

/// `text` with every creation time the session file records replaced by the fixed one the
/// test sessions get (a create planned by the real planner records the time it ran).
fn timeless(text: &str) -> String {
    const LABEL: &str = "dev-prism.created_at: ";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(LABEL) {
        let (before, after) = rest.split_at(at + LABEL.len());
        out.push_str(before);
        // The value: a quoted RFC 3339 time, quotes escaped in JSON.
        let end = after.find("Z").map_or(0, |z| z + 1);
        let quote = if after.starts_with("\\\"") {
            "\\\""
        } else {
            "\""
        };
        out.push_str(quote);
        out.push_str("2026-01-01T00:00:00.000Z");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Pins the plan's text and JSON, applies it through the fake and checks that the fake
/// recorded exactly the plan's steps.
pub(crate) async fn agree(name: &str, fx: &mut Fake, d: &Desired, plan: &Plan) {
    let header = format!(
        "dev-prism will perform these actions in {} (project {}):",
        d.dir.display(),
        d.project
    );
    insta::assert_snapshot!(
        format!("{name}.txt"),
        timeless(&render::plan_text(plan, &header, true, false))
    );
    let json = render::json::doc(
        "plan",
        render::json::plan(plan, &d.dir.to_string_lossy(), &d.project),
    );
    insta::assert_snapshot!(
        format!("{name}.json"),
        timeless(&render::json::to_string(&json))
    );
    fx.log.clear();
    super::apply(plan, d, fx, &quiet())
        .await
        .unwrap_or_else(|e| panic!("{name}: {}", e.message()));
    let planned: Vec<String> = plan.ordered().into_iter().flat_map(effects_of).collect();
    assert_eq!(
        recorded(fx),
        planned,
        "{name}: apply did other than the plan"
    );
}

async fn observed(fx: &mut Fake, d: &Desired, intent: Intent) -> Observed {
    let mut o = fx.observed(d).await;
    if let Intent::Destroy { .. } = intent {
        let session = crate::context::load_identity(&quiet(), Path::new(DIR), true).unwrap();
        fx.for_destroy(&session, &mut o).await.unwrap();
    }
    o
}

async fn plan_of(fx: &mut Fake, d: &Desired, intent: Intent) -> Plan {
    diff(d, &observed(fx, d, intent).await, intent, None)
}

/// The desired state of the session once its services exist (setup is create's alone).
fn existing() -> Desired {
    desired(COMPOSE, CONFIG, Selection::default(), &["db", "web"], false).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn apply_does_exactly_what_plan_shows_in_every_session_state() {
    let mut fx = Fake::default();
    fx.behaviour.insert(
        "db".into(),
        Behaviour {
            starting_polls: 2,
            exits_with: None,
        },
    );
    // create: the worktree first, then everything else.
    let fresh = desired(COMPOSE, CONFIG, Selection::default(), &[], true).unwrap();
    let o = observed(&mut fx, &fresh, Intent::Up).await;
    let first = vec![add_worktree_step(DIR.into(), "session/s1", true, None)];
    let plan = diff_after(&fresh, &o, Intent::Up, first);
    agree("create", &mut fx, &fresh, &plan).await;

    let d = existing();
    let plan = plan_of(&mut fx, &d, Intent::Up).await;
    assert!(plan.is_empty(), "a converged session plans nothing");
    agree("converged", &mut fx, &d, &plan).await;

    let plan = plan_of(&mut fx, &d, Intent::Stop).await;
    agree("stop", &mut fx, &d, &plan).await;
    let plan = plan_of(&mut fx, &d, Intent::Up).await;
    agree("start_stopped", &mut fx, &d, &plan).await;

    // A data copy killed while it paused the session.
    fx.containers
        .iter_mut()
        .find(|c| c.service == "db")
        .unwrap()
        .state = State::Paused;
    let plan = plan_of(&mut fx, &d, Intent::Up).await;
    agree("paused", &mut fx, &d, &plan).await;

    fx.files.remove(&Path::new(DIR).join(ENV_FILE));
    let plan = plan_of(&mut fx, &d, Intent::Up).await;
    agree("env_file_deleted", &mut fx, &d, &plan).await;

    // The compose file changed: web's definition, and db is gone from it.
    let changed_compose = "services:\n  web:\n    image: web:2\n    ports: ['8080:80']\n";
    let changed = desired(
        changed_compose,
        CONFIG,
        Selection::default(),
        &["web"],
        false,
    )
    .unwrap();
    let plan = plan_of(&mut fx, &changed, Intent::Up).await;
    agree("definition_changed", &mut fx, &changed, &plan).await;
    assert!(!fx.containers.iter().any(|c| c.service == "db"));

    let plan = plan_of(&mut fx, &changed, Intent::destroy(false)).await;
    agree("destroy", &mut fx, &changed, &plan).await;
    assert!(fx.containers.is_empty() && fx.worktrees.is_empty());
    assert!(!fx.branches.contains(&"session/s1".to_string()));
    let plan = plan_of(&mut fx, &changed, Intent::destroy(false)).await;
    assert!(plan.is_empty(), "{:?}", plan.ordered());
}

#[tokio::test(flavor = "current_thread")]
async fn a_destroy_removes_what_it_listed_and_the_next_observation_finds_the_rest() {
    let d = existing();
    let mut fx = Fake::default();
    let plan = plan_of(&mut fx, &d, Intent::Up).await;
    super::apply(&plan, &d, &mut fx, &quiet()).await.unwrap();
    let plan = plan_of(&mut fx, &d, Intent::destroy(false)).await;
    // A Compose stopped half-way makes one more container after the plan was made.
    let mut late = fx.containers[0].clone();
    late.id = "late".into();
    late.name = format!("{}-late-1", d.project);
    fx.containers.push(late);
    agree("destroy_listed", &mut fx, &d, &plan).await;
    // Apply removed exactly what the plan listed, and listed nothing again.
    let left: Vec<&str> = fx.containers.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(left, ["late"]);
    // Observing again plans the rest.
    let again = plan_of(&mut fx, &d, Intent::destroy(false)).await;
    let Some(Op::RemoveProject { containers, .. }) = again.ordered().first().map(|s| &s.op) else {
        panic!("{:?}", again.ordered());
    };
    assert_eq!(containers, &[("late".to_string(), late_name(&d))]);
    agree("destroy_again", &mut fx, &d, &again).await;
    assert!(fx.containers.is_empty());
}

fn late_name(d: &Desired) -> String {
    format!("{}-late-1", d.project)
}

#[tokio::test(flavor = "current_thread")]
async fn a_plan_that_refuses_is_refused_by_apply_before_any_effect() {
    let compose = "services:\n  db:\n    image: x\n    ports: ['5432']\n    network_mode: host\n";
    let d = desired(compose, "", Selection::default(), &[], false).unwrap();
    let mut fx = Fake::default();
    let plan = plan_of(&mut fx, &d, Intent::Up).await;
    let refusal = plan.refusals.first().expect("the plan refuses").error();
    let err = super::apply(&plan, &d, &mut fx, &quiet())
        .await
        .unwrap_err();
    // apply ends with the very error `plan` shows, and does nothing.
    assert_eq!(err.message(), refusal.message());
    assert_eq!(err.exit_code(), 2);
    assert!(fx.log.is_empty(), "{:?}", fx.log);
}
