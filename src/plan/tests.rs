//! Plans computed from observed states written as values. (Long: one test per planning rule,
//! each a few lines of data; splitting them by file would scatter the shared builders.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::compose::{self, PortSpec};
use crate::desired::{env_file_text, session_vars, Desired, Intent, Mode, Selection};
use crate::observed::{Container, Fact, Health, Observed, Owner, PathFact, State, WorktreeFacts};

use crate::desired::testing::DIR;

fn desired_from(compose_text: &str) -> Desired {
    desired_with(compose_text, "", Selection::default(), &[], false)
}

fn desired_with(
    compose_text: &str,
    config_yaml: &str,
    selection: Selection,
    existing: &[&str],
    with_setup: bool,
) -> Desired {
    try_desired(compose_text, config_yaml, selection, existing, with_setup).unwrap()
}

use crate::desired::testing::desired as try_desired;

const COMPOSE: &str = "services:\n  db:\n    image: pg\n    ports: ['5432']\n  web:\n    image: web\n    ports: ['8080:80']\n  admin:\n    image: a\n    profiles: [tools]\n";

fn container(d: &Desired, service: &str, state: State, host_port: u16) -> Container {
    let svc = &d.services[service];
    let mut labels = BTreeMap::new();
    labels.insert(
        compose::labels::CONFIG_HASH.to_string(),
        svc.config_hash.clone(),
    );
    labels.insert(compose::labels::PROJECT.to_string(), d.project.clone());
    labels.insert(compose::labels::WORKING_DIR.to_string(), DIR.to_string());
    labels.insert(
        compose::labels::PORTS.to_string(),
        svc.ports
            .iter()
            .map(PortSpec::key)
            .collect::<Vec<_>>()
            .join(","),
    );
    Container {
        id: format!("id-{service}"),
        name: format!("{}-{service}-1", d.project),
        service: service.into(),
        state,
        health: Health::None,
        exit_code: None,
        status: String::new(),
        ports: if state == State::Running {
            svc.ports
                .iter()
                .map(|p| crate::observed::Published {
                    spec: p.clone(),
                    host_ip: "127.0.0.1".into(),
                    host_port,
                })
                .collect()
        } else {
            vec![]
        },
        labels,
        engine_host: Default::default(),
    }
}

/// A session exactly as apply leaves it.
fn converged(d: &Desired) -> Observed {
    converged_with(d, &["db", "web"])
}

/// Drift or kept entries as they read.
fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn subjects(plan: &Plan) -> Vec<String> {
    plan.ordered()
        .iter()
        .map(|s| format!("{} {}", s.action.glyph(), s.subject))
        .collect()
}

#[test]
fn fresh_directory_plans_everything_in_order() {
    let d = desired_from(COMPOSE);
    let plan = diff(
        &d,
        &Observed {
            ..Default::default()
        },
        Intent::Up,
        None,
    );
    assert_eq!(
        subjects(&plan),
        vec![
            "+ file docker-compose.session.yml".to_string(),
            format!("> compose up ({})", d.project),
            "> wait until ready".into(),
            "+ file .env.session".into(),
        ]
    );
    assert!(plan.drift.is_empty());
    let up = &plan.ordered()[1];
    // Profiled services are not started by default.
    assert_eq!(
        up.op,
        Op::ComposeUp {
            services: vec!["db".into(), "web".into()],
            profiles: vec![],
            remove_orphans: false,
            unpause: vec![]
        }
    );
    assert_eq!(up.details.len(), 2);
    // Ports are only known after apply.
    assert!(matches!(
        plan.ordered()[3].op,
        Op::WriteFile {
            content: Content::Rendered { .. },
            ..
        }
    ));
    assert_eq!(plan.summary().add, 4);
}

#[test]
fn converged_session_plans_nothing() {
    let d = desired_from(COMPOSE);
    let plan = diff(&d, &converged(&d), Intent::Up, None);
    assert!(plan.is_empty(), "{:?}", subjects(&plan));
    assert!(plan.drift.is_empty());
}

#[test]
fn container_removed_by_hand_is_drift_and_recreated() {
    let d = desired_from(COMPOSE);
    let mut o = converged(&d);
    o.containers.retain(|c| c.service != "web");
    let plan = diff(&d, &o, Intent::Up, None);
    assert_eq!(
        texts(&plan.drift),
        vec!["service `web` has no container (removed outside dev-prism, or new since the session last started)"]
    );
    let up = plan
        .ordered()
        .into_iter()
        .find(|s| matches!(s.op, Op::ComposeUp { .. }))
        .unwrap();
    assert_eq!(up.details.len(), 1);
    assert_eq!(up.details[0].subject.to_string(), "service web");
    assert_eq!(up.details[0].action, Action::Create);
}

#[test]
fn stopped_container_is_started() {
    let d = desired_from(COMPOSE);
    let mut o = converged(&d);
    o.containers[0] = container(&d, "db", State::Stopped, 0);
    let plan = diff(&d, &o, Intent::Up, None);
    assert_eq!(
        texts(&plan.drift),
        vec!["container of service `db` was stopped outside dev-prism"]
    );
    let up = &plan.ordered()[0];
    assert_eq!(up.details[0].action, Action::Update);
}

/// A container left paused (a data copy killed while it paused its source) is unpaused by
/// the same compose-up step that starts it: Compose cannot start a paused container.
#[test]
fn paused_container_is_unpaused_before_compose_up() {
    let d = desired_from(COMPOSE);
    let mut o = converged(&d);
    o.containers[0] = container(&d, "db", State::Paused, 0);
    let id = o.containers[0].id.clone();
    let plan = diff(&d, &o, Intent::Up, None);
    let up = &plan.ordered()[0];
    let Op::ComposeUp {
        unpause, services, ..
    } = &up.op
    else {
        panic!("{:?}", up.op)
    };
    assert_eq!(unpause, &vec![id]);
    // Nothing else to do: Compose is not run (behind Podman it would recreate them).
    assert!(services.is_empty(), "{services:?}");
    // The plan says it is paused and will be unpaused (not "stopped; it will be started").
    assert_eq!(
        texts(&plan.drift),
        vec!["container of service `db` is paused"]
    );
    assert_eq!(up.details[0].action, Action::Update);
    assert_eq!(
        up.details[0].reason.to_string(),
        "it is paused; it will be unpaused"
    );
    // A paused one beside a stopped one: Compose runs after the unpause.
    o.containers[1] = container(&d, "web", State::Stopped, 0);
    let plan = diff(&d, &o, Intent::Up, None);
    let Op::ComposeUp {
        unpause, services, ..
    } = &plan.ordered()[0].op
    else {
        panic!()
    };
    assert_eq!((unpause.len(), services.len()), (1, 2));
    // The session's status says paused.
    assert_eq!(crate::render::status(&o.containers), "paused");
    assert_eq!(crate::render::status(&converged(&d).containers), "running");
    // Nothing paused: nothing to unpause.
    let plan = diff(&d, &converged(&d), Intent::Up, None);
    assert!(plan
        .ordered()
        .iter()
        .all(|s| !matches!(&s.op, Op::ComposeUp { unpause, .. } if !unpause.is_empty())));
}

#[test]
fn missing_env_file_is_rewritten_with_known_ports() {
    let d = desired_from(COMPOSE);
    let mut o = converged(&d);
    o.env_file = None;
    let plan = diff(&d, &o, Intent::Up, None);
    assert_eq!(texts(&plan.drift), vec!["file .env.session was deleted"]);
    let steps = plan.ordered();
    assert_eq!(steps.len(), 1);
    let Op::WriteFile {
        content: Content::Text { text },
        mode,
        ..
    } = &steps[0].op
    else {
        panic!("expected a file write, got {:?}", steps[0].op);
    };
    assert!(text.contains("DB_PORT=40001\nWEB_PORT=40002\n"), "{text}");
    assert_eq!(*mode, 0o600);
}

#[test]
fn env_file_with_loose_permissions_is_fixed() {
    let d = desired_from(COMPOSE);
    let mut o = converged(&d);
    o.env_file.as_mut().unwrap().1 = 0o100644;
    let plan = diff(&d, &o, Intent::Up, None);
    assert_eq!(subjects(&plan), vec!["~ file .env.session"]);
}

#[test]
fn changed_compose_file_replaces_changed_service_and_adds_new_one() {
    let old = desired_from(COMPOSE);
    let o = converged(&old);
    let new = desired_from(
        "services:\n  db:\n    image: pg\n    ports: ['5432']\n  web:\n    image: web:2\n    ports: ['8080:80']\n  cache:\n    image: redis\n",
    );
    let plan = diff(&new, &o, Intent::Up, None);
    assert!(
        plan.drift.is_empty(),
        "a new service is not drift: {:?}",
        plan.drift
    );
    let steps = plan.ordered();
    assert_eq!(
        steps[0].subject.to_string(),
        "file docker-compose.session.yml"
    );
    assert_eq!(steps[0].action, Action::Update);
    assert!(steps[0].diff.as_deref().unwrap().contains("+  cache:"));
    let up = steps
        .iter()
        .find(|s| matches!(s.op, Op::ComposeUp { .. }))
        .unwrap();
    let details: Vec<(Action, String)> = up
        .details
        .iter()
        .map(|d| (d.action, d.subject.to_string()))
        .collect();
    assert_eq!(
        details,
        vec![
            (Action::Create, "service cache".to_string()),
            (Action::Replace, "service web".to_string())
        ]
    );
}

#[test]
fn removed_service_is_an_orphan() {
    let d = desired_from(COMPOSE);
    let o = converged(&d);
    let smaller = desired_from("services:\n  db:\n    image: pg\n    ports: ['5432']\n");
    let plan = diff(&smaller, &o, Intent::Up, None);
    let up = plan
        .ordered()
        .into_iter()
        .find(|s| matches!(s.op, Op::ComposeUp { .. }))
        .unwrap();
    assert_eq!(up.details[0].action, Action::Delete);
    assert!(matches!(
        up.op,
        Op::ComposeUp {
            remove_orphans: true,
            ..
        }
    ));
}

#[test]
fn stop_stops_running_and_removes_env_file() {
    let d = desired_from(COMPOSE);
    let plan = diff(&d, &converged(&d), Intent::Stop, None);
    assert_eq!(
        subjects(&plan),
        vec![
            format!("~ stop {}", d.project),
            "- file .env.session".into()
        ]
    );
    let mut stopped = converged(&d);
    for c in &mut stopped.containers {
        c.state = State::Stopped;
    }
    stopped.env_file = None;
    assert!(diff(&d, &stopped, Intent::Stop, None).is_empty());
}

/// Facts of a clean worktree dev-prism made, on branch `session/x`.
fn clean_facts() -> WorktreeFacts {
    WorktreeFacts {
        path: PathBuf::from(DIR),
        is_main: false,
        branch: Some("session/x".into()),
        branch_tip: Some("abc123".into()),
        made_by_dev_prism: Fact::Known(true),
        made_for: Some(PathBuf::from(DIR)),
        paths: Fact::Known(vec![]),
        unmerged_commits: Fact::Known(0),
        submodules: Fact::Known(vec![]),
    }
}

fn worktree_session(d: &Desired, facts: WorktreeFacts) -> Observed {
    let mut o = converged(d);
    o.worktree = Some(facts);
    o.networks = vec![format!("{}_default", d.project)];
    o
}

fn path(p: &str, status: &'static str, owner: Owner) -> PathFact {
    PathFact {
        path: p.into(),
        status,
        owner,
    }
}

fn destroy(d: &Desired, facts: WorktreeFacts, force: bool) -> Plan {
    diff(d, &worktree_session(d, facts), Intent::destroy(force), None)
}

fn removes_worktree(plan: &Plan) -> bool {
    subjects(plan).contains(&format!("- worktree {DIR}"))
}

fn removes_branch(plan: &Plan) -> bool {
    plan.ordered().iter().any(|s| {
        matches!(
            s.op,
            Op::RemoveWorktree {
                branch: Some(_),
                ..
            }
        )
    })
}

#[test]
fn destroy_removes_everything_of_a_clean_worktree() {
    let d = desired_from(COMPOSE);
    let plan = destroy(&d, clean_facts(), false);
    let s = subjects(&plan);
    assert_eq!(s[0], format!("- project {}", d.project));
    assert!(removes_worktree(&plan));
    assert_eq!(s.last().unwrap(), &format!("- worktree {DIR}"));
    assert!(plan.kept.is_empty());
    // The branch goes in the worktree's step (never one without the other), and only while it
    // points where it was checked.
    let ordered = plan.ordered();
    let last = ordered.last().unwrap();
    assert_eq!(
        last.details.last().map(|d| d.subject.to_string()),
        Some("branch session/x".to_string())
    );
    assert!(matches!(
        &last.op,
        Op::RemoveWorktree { branch: Some(b), .. }
            if b.expected == "abc123" && !b.force && b.branch == "session/x"
    ));
    // The summary counts the branch on top of the worktree (as when they were two steps).
    let kept_branch = destroy(
        &d,
        WorktreeFacts {
            unmerged_commits: Fact::Known(1),
            ..clean_facts()
        },
        false,
    );
    assert_eq!(plan.summary().destroy, kept_branch.summary().destroy + 1);
}

#[test]
fn destroy_keeps_dirty_worktree_and_unmerged_branch() {
    let d = desired_from(COMPOSE);
    let dirty = WorktreeFacts {
        paths: Fact::Known(vec![path("notes.txt", "untracked", Owner::User)]),
        ..clean_facts()
    };
    let plan = destroy(&d, dirty.clone(), false);
    assert!(!removes_worktree(&plan) && !removes_branch(&plan));
    assert!(
        plan.kept[0].to_string().contains("notes.txt"),
        "{:?}",
        plan.kept
    );
    assert!(removes_worktree(&destroy(&d, dirty, true)));

    let unmerged = WorktreeFacts {
        unmerged_commits: Fact::Known(2),
        ..clean_facts()
    };
    let plan = destroy(&d, unmerged, false);
    assert!(removes_worktree(&plan));
    assert!(!removes_branch(&plan));
    assert!(plan.kept[0].to_string().contains("2 commit(s)"));
}

#[test]
fn destroy_keeps_ignored_work_and_deletes_only_disposable_and_generated_paths() {
    let d = desired_from(COMPOSE);
    let facts = WorktreeFacts {
        paths: Fact::Known(vec![
            path("node_modules/", "ignored", Owner::Disposable),
            path(".env", "ignored", Owner::DevPrism),
            path("local.db", "ignored", Owner::User),
        ]),
        ..clean_facts()
    };
    let plan = destroy(&d, facts.clone(), false);
    assert!(!removes_worktree(&plan));
    assert!(
        plan.kept[0].to_string().contains("ignored local.db"),
        "{:?}",
        plan.kept
    );
    let without_db = WorktreeFacts {
        paths: Fact::Known(facts.paths.known().unwrap()[..2].to_vec()),
        ..clean_facts()
    };
    let plan = destroy(&d, without_db, false);
    assert!(removes_worktree(&plan));
    // `plan --destroy` lists what goes with the worktree.
    let wt = plan
        .ordered()
        .into_iter()
        .find(|s| matches!(s.subject, Subject::Worktree(_)))
        .unwrap()
        .clone();
    let listed: Vec<String> = wt.details.iter().map(|x| x.subject.to_string()).collect();
    assert_eq!(
        listed,
        ["ignored node_modules/", "ignored .env", "branch session/x"]
    );
}

#[test]
fn destroy_keeps_what_is_unknown_or_not_dev_prisms() {
    let d = desired_from(COMPOSE);
    for (facts, word) in [
        (
            WorktreeFacts {
                made_by_dev_prism: Fact::Known(false),
                ..clean_facts()
            },
            "did not make it",
        ),
        (
            WorktreeFacts {
                made_by_dev_prism: Fact::Unknown("git failed".into()),
                ..clean_facts()
            },
            "could not tell who made it",
        ),
    ] {
        // Not even --force removes a worktree dev-prism cannot prove it made.
        for force in [false, true] {
            let plan = destroy(&d, facts.clone(), force);
            assert!(!removes_worktree(&plan) && !removes_branch(&plan));
            assert!(plan.kept[0].to_string().contains(word), "{:?}", plan.kept);
            // Its Docker objects are still removed.
            assert_eq!(subjects(&plan)[0], format!("- project {}", d.project));
        }
    }
    for facts in [
        WorktreeFacts {
            paths: Fact::Unknown("git status failed".into()),
            ..clean_facts()
        },
        WorktreeFacts {
            submodules: Fact::Known(vec!["vendor/lib".into()]),
            ..clean_facts()
        },
        WorktreeFacts {
            submodules: Fact::Unknown("x".into()),
            ..clean_facts()
        },
    ] {
        assert!(!removes_worktree(&destroy(&d, facts.clone(), false)));
        assert!(removes_worktree(&destroy(&d, facts, true)));
    }
    let unknown_commits = WorktreeFacts {
        unmerged_commits: Fact::Unknown("x".into()),
        ..clean_facts()
    };
    let plan = destroy(&d, unknown_commits, false);
    assert!(removes_worktree(&plan) && !removes_branch(&plan));
}

#[test]
fn destroy_keeps_a_detached_head_holding_commits_no_branch_contains() {
    let d = desired_from(COMPOSE);
    let detached = WorktreeFacts {
        branch: None,
        branch_tip: None,
        unmerged_commits: Fact::Known(1),
        ..clean_facts()
    };
    let plan = destroy(&d, detached.clone(), false);
    assert!(!removes_worktree(&plan));
    assert!(
        plan.kept[0]
            .to_string()
            .contains("detached HEAD holds 1 commit"),
        "{:?}",
        plan.kept
    );
    assert!(removes_worktree(&destroy(&d, detached, true)));
}

#[test]
fn rollback_is_a_destroy_of_only_what_create_made() {
    let d = desired_from(COMPOSE);
    let o = worktree_session(&d, clean_facts());
    let only_worktree = Intent::Destroy {
        force: false,
        scope: crate::desired::Scope {
            project: false,
            worktree: true,
            branch: false,
        },
    };
    let plan = diff(&d, &o, only_worktree, None);
    let s = subjects(&plan);
    assert!(!s.iter().any(|x| x.starts_with("- project")));
    assert!(removes_worktree(&plan) && !removes_branch(&plan));
}

#[test]
fn destroy_never_removes_the_main_worktree() {
    let d = desired_from(COMPOSE);
    let facts = WorktreeFacts {
        is_main: true,
        ..clean_facts()
    };
    let plan = destroy(&d, facts, true);
    assert!(!subjects(&plan)
        .iter()
        .any(|s| s.contains("worktree") || s.contains("branch")));
}

#[test]
fn generated_files_without_the_header_are_the_users() {
    let d = desired_from(COMPOSE);
    let mut o = converged(&d);
    o.env_file = Some(("MY=own\n".into(), 0o644));
    assert!(diff(&d, &o, Intent::destroy(false), None).kept[0]
        .to_string()
        .contains(".env.session"));
    assert!(!subjects(&diff(&d, &o, Intent::destroy(false), None))
        .iter()
        .any(|s| s.contains(".env.session")));
    assert_eq!(foreign_files(&d, &o), vec![".env.session".to_string()]);
    assert!(!subjects(&diff(&d, &o, Intent::Up, None))
        .iter()
        .any(|s| s.contains(".env.session")));
}

#[test]
fn rendered_plan_has_legend_reasons_and_summary() {
    let d = desired_from(COMPOSE);
    let plan = diff(&d, &Observed::default(), Intent::Up, None);
    let text = crate::render::plan_text(&plan, "header", true, false);
    assert!(
        text.starts_with("Symbols:\n    + create\n    > run\n"),
        "{text}"
    );
    assert!(text.contains("+ file .env.session (content known after apply)"));
    assert!(text.contains("(because no container exists)"));
    assert!(text.contains("+++ b/docker-compose.session.yml"));
    assert!(
        text.ends_with("Plan: 4 to add, 0 to change, 0 to replace, 0 to destroy, 1 to run.\n"),
        "{text}"
    );
    let empty = crate::render::plan_text(&Plan::default(), "header", false, false);
    assert_eq!(
        empty,
        "No changes. The session matches its configuration.\n"
    );
}

const MONOREPO: &str = "services:\n  postgres:\n    image: postgres:16\n    ports: ['5432']\n  redis:\n    image: redis\n    ports: ['6379']\n  app:\n    image: app\n    profiles: [app]\n    ports: ['3000']\n  web:\n    image: web\n    profiles: [web]\n    ports: ['8080']\n  tools:\n    image: t\n    profiles: [tools]\n";
const MONO_CONFIG: &str = "apps: [app, web]\nenvFiles: [apps/app/.env]\nsetup: ['touch a', 'touch b']\nappEnv:\n  apps/app:\n    DATABASE_URL: 'postgresql://u:p@localhost:${POSTGRES_PORT}/db'\n    DIR: '${SESSION_DIR}'\n";

fn select(mode: Mode, without: &[&str]) -> Selection {
    Selection {
        mode: Some(mode),
        without: without.iter().map(|w| w.to_string()).collect(),
    }
}

fn running(d: &Desired) -> Vec<String> {
    d.running_services()
}

#[test]
fn modes_select_services() {
    let docker = desired_with(MONOREPO, MONO_CONFIG, select(Mode::Docker, &[]), &[], false);
    assert_eq!(running(&docker), vec!["app", "postgres", "redis", "web"]);
    assert_eq!(docker.profiles, vec!["app", "web"]);
    let native = desired_with(MONOREPO, MONO_CONFIG, select(Mode::Native, &[]), &[], false);
    assert_eq!(running(&native), vec!["postgres", "redis"]);
    assert!(native.profiles.is_empty());
    let without = desired_with(
        MONOREPO,
        MONO_CONFIG,
        select(Mode::Docker, &["web"]),
        &[],
        false,
    );
    assert_eq!(running(&without), vec!["app", "postgres", "redis"]);
    // apply keeps what exists: app has a container, web does not.
    let keep = desired_with(
        MONOREPO,
        MONO_CONFIG,
        Selection::default(),
        &["postgres", "app"],
        false,
    );
    assert_eq!(running(&keep), vec!["app", "postgres", "redis"]);
    let err = try_desired(
        MONOREPO,
        MONO_CONFIG,
        select(Mode::Docker, &["nope"]),
        &[],
        false,
    )
    .unwrap_err();
    assert!(
        err.message()
            .contains("`nope` (from --without) is not one of the apps"),
        "{}",
        err.message()
    );
    assert_eq!(err.hint.as_deref(), Some("apps are: app, web"));
}

#[test]
fn derived_files_and_setup_follow_the_ports() {
    let d = desired_with(MONOREPO, MONO_CONFIG, select(Mode::Native, &[]), &[], true);
    let paths: Vec<&str> = d.derived.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![".env.session", "apps/app/.env.session", "apps/app/.env"]
    );
    // Fresh: files are known after apply; setup runs last, in order.
    let mut o = Observed::default();
    o.derived.insert(
        "apps/app/.env".into(),
        Some((
            "X=1\nDATABASE_URL=postgresql://me:pw@localhost:5432/shop\n".into(),
            0o100644,
        )),
    );
    let plan = diff(&d, &o, Intent::Up, None);
    let s = subjects(&plan);
    assert_eq!(
        &s[s.len() - 5..],
        &[
            "+ file .env.session".to_string(),
            "+ file apps/app/.env.session".into(),
            "~ file apps/app/.env".into(),
            "> setup `touch a`".into(),
            "> setup `touch b`".into(),
        ]
    );
    // Converged containers: contents are computed now, with diffs.
    let mut o = converged_with(&d, &["postgres", "redis"]);
    o.derived.insert(
        "apps/app/.env".into(),
        Some((
            "X=1\nDATABASE_URL=postgresql://me:pw@localhost:5432/shop\n".into(),
            0o100600,
        )),
    );
    o.derived.insert("apps/app/.env.session".into(), None);
    let d = desired_with(
        MONOREPO,
        MONO_CONFIG,
        select(Mode::Native, &[]),
        &["postgres", "redis"],
        false,
    );
    let plan = diff(&d, &o, Intent::Up, None);
    let steps = plan.ordered();
    let texts: Vec<(String, String)> = steps
        .iter()
        .filter_map(|s| match &s.op {
            Op::WriteFile {
                content: Content::Text { text },
                ..
            } => Some((s.subject.to_string(), text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 2, "{:?}", subjects(&plan));
    assert_eq!(
        texts[0].1,
        format!("# Auto-generated by dev-prism\nDATABASE_URL=postgresql://u:p@localhost:40001/db\nDIR={DIR}\n")
    );
    // The user's other lines and credentials are kept; only host and port change.
    assert_eq!(
        texts[1].1,
        "X=1\nDATABASE_URL=postgresql://me:pw@127.0.0.1:40001/shop\n"
    );
}

fn converged_with(d: &Desired, services: &[&str]) -> Observed {
    let containers: Vec<Container> = services
        .iter()
        .enumerate()
        .map(|(i, s)| container(d, s, State::Running, 40001 + i as u16))
        .collect();
    let env = env_file_text(&session_vars(
        &d.project,
        Path::new(DIR),
        &containers,
        &d.proxy,
    ));
    Observed {
        session_file: Some(d.session_file.clone()),
        env_file: Some((env, 0o100600)),
        containers,
        ..Default::default()
    }
}

#[test]
fn unknown_template_variable_is_named() {
    let cfg = "apps: [app]\nappEnv:\n  apps/app:\n    URL: 'http://localhost:${API_PORT}'\n";
    let err = try_desired(MONOREPO, cfg, Selection::default(), &[], false).unwrap_err();
    assert_eq!(
        err.message(),
        "appEnv `apps/app` key URL uses ${API_PORT}, which is not a session variable"
    );
    assert!(err.hint.unwrap().contains("POSTGRES_PORT"));
}

const WITH_JOBS: &str = "services:\n  db:\n    image: pg\n    ports: ['5432']\n  migrate:\n    image: m\n  seed:\n    image: s\n  web:\n    image: web\n    depends_on:\n      migrate: {condition: service_completed_successfully}\n";

/// `containers` with the given service exited with `code`.
fn exited(d: &Desired, observed: &mut Observed, service: &str, code: i64) {
    let mut c = container(d, service, State::Stopped, 0);
    c.exit_code = Some(code);
    observed.containers.push(c);
}

#[test]
fn a_job_that_exited_0_is_done_not_drift() {
    // `migrate` is a job by depends_on, `seed` by the config's `jobs`.
    let d = desired_with(
        WITH_JOBS,
        "jobs: [seed]\n",
        Selection::default(),
        &[],
        false,
    );
    assert!(d.services["migrate"].is_job && d.services["seed"].is_job);
    assert!(!d.services["web"].is_job);
    let mut o = converged_with(&d, &["db", "web"]);
    exited(&d, &mut o, "migrate", 0);
    exited(&d, &mut o, "seed", 0);
    let plan = diff(&d, &o, Intent::Up, None);
    assert!(plan.is_empty(), "{:?}", subjects(&plan));
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);

    // A job that failed is started again; a done job is not re-run by that compose up.
    let mut o = converged_with(&d, &["db", "web"]);
    exited(&d, &mut o, "migrate", 0);
    exited(&d, &mut o, "seed", 2);
    let plan = diff(&d, &o, Intent::Up, None);
    let up = plan
        .ordered()
        .into_iter()
        .find(|s| matches!(s.op, Op::ComposeUp { .. }))
        .cloned()
        .unwrap();
    let Op::ComposeUp { services, .. } = up.op else {
        unreachable!()
    };
    assert_eq!(services, vec!["db", "seed", "web"]);

    // A long-running service that exited 0 is not done.
    let mut o = converged_with(&d, &["db"]);
    exited(&d, &mut o, "migrate", 0);
    exited(&d, &mut o, "seed", 0);
    exited(&d, &mut o, "web", 0);
    assert!(!diff(&d, &o, Intent::Up, None).is_empty());
}

/// A step named `n` for the ordering tests.
fn named(n: &str) -> Step {
    remove_file_step(&desired_from(COMPOSE), n, Reason::NotInCompose)
}

#[test]
fn independent_steps_run_in_the_order_the_planner_added_them() {
    // a ─> c, b ─> d, e alone: the graph allows many orders; the plan's is insertion order
    // (petgraph's toposort would pick one by its own traversal).
    let mut plan = Plan::default();
    let a = plan.add(named("a"), &[]);
    let b = plan.add(named("b"), &[]);
    plan.add(named("c"), &[a]);
    plan.add(named("d"), &[b, a]);
    plan.add(named("e"), &[]);
    let order: Vec<String> = plan
        .ordered()
        .iter()
        .map(|s| s.subject.to_string())
        .collect();
    assert_eq!(order, ["file a", "file b", "file c", "file d", "file e"]);
}

#[test]
fn every_plan_respects_its_dependencies_in_insertion_order() {
    // The plans of every intent: each dependency runs before the step that needs it.
    let d = desired_with(
        COMPOSE,
        "setup: ['make seed']\n",
        Selection::default(),
        &[],
        true,
    );
    let plans = [
        diff(&d, &Observed::default(), Intent::Up, None),
        diff(&d, &converged(&d), Intent::Stop, None),
        destroy(&d, clean_facts(), false),
    ];
    for plan in plans {
        for e in plan.graph.raw_edges() {
            assert!(e.source() < e.target(), "{:?}", plan.ordered());
        }
        assert_eq!(plan.ordered().len(), plan.graph.node_count());
    }
}

#[test]
fn refusals_and_warnings_are_part_of_the_plan() {
    use crate::compose::Flavor;
    let compose = "services:\n  db:\n    image: x\n    ports: ['5432']\n    network_mode: host\n  side:\n    image: x\n    network_mode: host\n";
    let d = desired_from(compose);
    let mut plan = diff(&d, &Observed::default(), Intent::Up, None);
    assert_eq!(
        plan.refusals,
        [Refusal::HostNetwork {
            service: "db".into(),
            ports: vec!["5432/tcp".into()]
        }]
    );
    assert_eq!(
        plan.warnings,
        [Warning::HostNetwork {
            service: "side".into()
        }]
    );
    // Stopping or destroying such a session starts nothing: nothing to refuse.
    assert!(diff(&d, &Observed::default(), Intent::Stop, None)
        .refusals
        .is_empty());
    // What the engine and Compose say: a remote engine's bind mounts, another flavour.
    let rt = Runtime {
        remote: Some("ssh://box".into()),
        compose: Some((Flavor::V1, "1.29.2".into())),
    };
    runtime_checks(&mut plan, &d, &["./data:/data".to_string()], &rt);
    assert_eq!(
        plan.warnings[1],
        Warning::RemoteBindMount {
            mount: "./data:/data".into(),
            engine: "ssh://box".into()
        }
    );
    assert_eq!(
        plan.refusals[1],
        Refusal::ComposeFlavor {
            recorded: Flavor::V2,
            running: Flavor::V1,
            version: "1.29.2".into()
        }
    );
    // The same Compose, a local engine: nothing said.
    let mut quiet = diff(
        &desired_from(COMPOSE),
        &Observed::default(),
        Intent::Up,
        None,
    );
    let local = Runtime {
        remote: None,
        compose: Some((Flavor::V2, "2.40.3".into())),
    };
    runtime_checks(
        &mut quiet,
        &desired_from(COMPOSE),
        &["./d:/d".into()],
        &local,
    );
    assert!(quiet.refusals.is_empty() && quiet.warnings.is_empty());
}
