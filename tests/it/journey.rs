//! Whole journeys against the real engine and real git, under Compose v2 and v1.

use std::path::{Path, PathBuf};

use crate::support::*;

fn created_dir(out: &str) -> PathBuf {
    PathBuf::from(
        out.lines()
            .next()
            .expect("create prints the session directory"),
    )
}

#[track_caller]
fn assert_no_changes(repo: &Repo, dir: &Path) {
    let plan = ok(&repo.dp(dir, &["plan", "--detailed-exitcode"]));
    assert!(plan.contains("No changes."), "{plan}");
}

fn journey(flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    let repo = Repo::new(flavor, COMPOSE);

    // create: a worktree on a new session/ branch, services up, ports written.
    let out = ok(&repo.dp(&repo.path, &["create"]));
    let dir = created_dir(&out);
    assert!(dir.starts_with(repo.sessions_dir()), "{dir:?}");
    assert!(repo
        .git(&["branch", "--list", "session/*"])
        .contains("session/"));
    let env_path = dir.join(".env.session");
    let meta = std::fs::metadata(&env_path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let vars = env_vars(&env_path);
    let project = repo.project_of(&dir);
    assert_eq!(vars["COMPOSE_PROJECT_NAME"], project);
    assert_eq!(vars["SESSION_DIR"], dir.to_string_lossy());
    let (web, echo, echo2) = (
        port(&vars, "WEB_PORT"),
        port(&vars, "ECHO_PORT"),
        port(&vars, "ECHO_7001_PORT"),
    );
    assert_ne!(web, 8080, "the fixed host port must not survive");
    // Port 80 is a web port: its name through the proxy with the direct address alongside;
    // the echo ports are not: host and port.
    let web_url = vars["WEB_URL"].clone();
    assert!(web_url.starts_with("http://web."), "{web_url}");
    assert!(
        out.contains(&format!(
            "WEB_PORT             {web_url} (127.0.0.1:{web})\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("ECHO_PORT            127.0.0.1:{echo}\n")),
        "{out}"
    );
    assert_eq!(vars["SESSION_HOST"], "127.0.0.1");
    assert!(http_answers(web));
    assert!(echo_answers(echo));
    assert_ne!(echo, echo2);
    let session_file = std::fs::read_to_string(dir.join("docker-compose.session.yml")).unwrap();
    assert!(session_file.contains("127.0.0.1::80"), "{session_file}");
    // After apply, planning again finds nothing to do.
    assert_no_changes(&repo, &dir);

    // list: one call shows the session with its ports.
    let list = ok(&repo.dp(&repo.path, &["list"]));
    let line = list
        .lines()
        .find(|l| l.starts_with(&*dir.to_string_lossy()))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.contains("running")
            && line.contains("2/2")
            && line.contains(&format!("web → {web_url} (127.0.0.1:{web})")),
        "{line}"
    );

    // info restores a deleted .env.session from Docker's answer.
    std::fs::remove_file(&env_path).unwrap();
    let plan = ok(&repo.dp(&dir, &["plan"]));
    assert!(plan.contains("! file .env.session was deleted"), "{plan}");
    let info = ok(&repo.dp(&dir, &["info"]));
    assert!(info.contains(&format!("WEB_PORT={web}")), "{info}");
    assert_eq!(env_vars(&env_path), vars);
    assert_no_changes(&repo, &dir);

    // A container removed by hand is drift; apply recreates it.
    let web_id = containers_under(&dir)
        .into_iter()
        .map(|(id, _, _)| id)
        .find(|id| {
            let o = std::process::Command::new("docker")
                .args([
                    "inspect",
                    "-f",
                    "{{index .Config.Labels \"dev-prism.service\"}}",
                    id,
                ])
                .output()
                .unwrap();
            stdout(&o).trim() == "web"
        })
        .unwrap();
    assert!(std::process::Command::new("docker")
        .args(["rm", "-f", &web_id])
        .output()
        .unwrap()
        .status
        .success());
    let plan = repo.dp(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(5), "{}", stderr(&plan));
    let plan = stdout(&plan);
    assert!(
        plan.contains("! service `web` has no container (removed outside dev-prism"),
        "{plan}"
    );
    assert!(plan.contains("+ service web"), "{plan}");
    ok(&repo.dp(&dir, &["apply"]));
    assert!(http_answers(port(&env_vars(&env_path), "WEB_PORT")));
    assert_no_changes(&repo, &dir);

    // stop keeps containers and removes the env file; start brings new ports.
    ok(&repo.dp(&dir, &["stop"]));
    assert!(!env_path.exists());
    assert_eq!(containers_under(&dir).len(), 2, "stop keeps the containers");
    let list = ok(&repo.dp(&repo.path, &["list"]));
    assert!(
        !list.contains(&*dir.to_string_lossy()),
        "stopped sessions are not listed: {list}"
    );
    let list = ok(&repo.dp(&repo.path, &["list", "--all"]));
    assert!(list.contains("stopped"), "{list}");
    ok(&repo.dp(&dir, &["start"]));
    let after = env_vars(&env_path);
    assert!(echo_answers(port(&after, "ECHO_PORT")));
    assert!(http_answers(port(&after, "WEB_PORT")));
    assert_no_changes(&repo, &dir);

    // destroy: nothing left.
    ok(&repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]));
    assert!(containers_under(&dir).is_empty());
    assert!(by_project("network", &project).is_empty());
    assert!(by_project("volume", &project).is_empty());
    assert!(!dir.exists(), "the worktree is removed");
    assert!(!repo
        .git(&["worktree", "list"])
        .contains(&*dir.to_string_lossy()));
    assert!(repo
        .git(&["branch", "--list", "session/*"])
        .trim()
        .is_empty());
}

#[test]
fn journey_compose_v2() {
    journey(Flavor::V2);
}

#[test]
fn journey_compose_v1() {
    journey(Flavor::V1);
}

fn parallel_sessions(flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    let repo = Repo::new(flavor, COMPOSE);
    // Two creates at once from one repository: distinct worktrees, distinct ports, both serve,
    // although the compose file pins host port 8080.
    let outputs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| repo.dp(&repo.path, &["create"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let dirs: Vec<PathBuf> = outputs.iter().map(|o| created_dir(&ok(o))).collect();
    assert_ne!(dirs[0], dirs[1]);
    let a = env_vars(&dirs[0].join(".env.session"));
    let b = env_vars(&dirs[1].join(".env.session"));
    assert_ne!(a["WEB_PORT"], b["WEB_PORT"]);
    assert_ne!(a["COMPOSE_PROJECT_NAME"], b["COMPOSE_PROJECT_NAME"]);
    for vars in [&a, &b] {
        assert!(http_answers(port(vars, "WEB_PORT")));
        assert!(echo_answers(port(vars, "ECHO_PORT")));
    }
    let list = ok(&repo.dp(&repo.path, &["list"]));
    assert!(
        dirs.iter().all(|d| list.contains(&*d.to_string_lossy())),
        "{list}"
    );
}

#[test]
fn parallel_sessions_get_distinct_ports_v2() {
    parallel_sessions(Flavor::V2);
}

#[test]
fn parallel_sessions_get_distinct_ports_v1() {
    parallel_sessions(Flavor::V1);
}

#[test]
fn plan_of_fresh_directory_changes_nothing() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let before = std::fs::read_dir(&repo.path).unwrap().count();
    let out = repo.dp(&repo.path, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(plan.contains("+ file docker-compose.session.yml"), "{plan}");
    assert!(
        plan.contains("+ file .env.session (content known after apply)"),
        "{plan}"
    );
    assert!(plan.contains("Plan: 4 to add"), "{plan}");
    assert_eq!(std::fs::read_dir(&repo.path).unwrap().count(), before);
    assert!(containers_under(&repo.root).is_empty());
    assert!(by_project("network", &repo.project_of(&repo.path)).is_empty());
}

#[test]
fn in_place_session_with_user_env_and_override_file() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // The user's .env keeps working for interpolation; the override file is honoured (it adds
    // a port); a second create in the same directory is refused.
    let compose = COMPOSE.replace("command: [\"nc\"", "command: [\"${ECHO_CMD}\"");
    let repo = Repo::new(Flavor::V2, &compose);
    repo.write(".env", "ECHO_CMD=nc\n");
    repo.write(
        "docker-compose.override.yml",
        "services:\n  web:\n    ports: [\"8081\"]\n    environment:\n      FROM_OVERRIDE: \"yes\"\n",
    );
    let out = ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    assert!(out.starts_with(&*repo.path.to_string_lossy()), "{out}");
    let vars = env_vars(&repo.path.join(".env.session"));
    assert!(
        echo_answers(port(&vars, "ECHO_PORT")),
        "interpolated command runs"
    );
    assert!(
        vars.contains_key("WEB_8081_PORT"),
        "override port published: {vars:?}"
    );
    let again = repo.dp(&repo.path, &["create", "--in-place"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already running"),
        "{}",
        stderr(&again)
    );
    assert_no_changes(&repo, &repo.path);
    ok(&repo.dp(&repo.path, &["destroy"]));
    assert!(repo.path.exists(), "in-place destroy keeps the directory");
    assert!(!repo.path.join("docker-compose.session.yml").exists());
    assert!(containers_under(&repo.root).is_empty());
}

#[test]
fn changed_compose_file_is_planned_and_applied() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let dir = created_dir(&ok(
        &repo.dp(&repo.path, &["create", "--branch", "feature/more"])
    ));
    assert!(dir.ends_with("feature-more"), "{dir:?}");
    let more = format!(
        "{COMPOSE}  extra:\n    image: dev-prism-test-busybox:2\n    command: [\"nc\", \"-ll\", \"-p\", \"9000\", \"-e\", \"cat\"]\n    ports: [\"9000\"]\n    stop_grace_period: 1s\n"
    )
    .replace("retries: 20", "retries: 21");
    std::fs::write(dir.join("docker-compose.yml"), more).unwrap();
    let plan = ok(&repo.dp(&dir, &["plan", "--diff"]));
    assert!(plan.contains("~ file docker-compose.session.yml"), "{plan}");
    assert!(plan.contains("+ service extra"), "{plan}");
    assert!(
        plan.contains("-/+ service web  (because its definition in the compose file changed)"),
        "{plan}"
    );
    assert!(plan.contains("+  extra:"), "diff shown: {plan}");
    ok(&repo.dp(&dir, &["apply"]));
    assert!(echo_answers(port(
        &env_vars(&dir.join(".env.session")),
        "EXTRA_PORT"
    )));
    assert_no_changes(&repo, &dir);

    // A service removed from the compose file is removed from the session.
    let fewer = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    let start = fewer.find("  echo:\n").unwrap();
    let end = fewer[start..].find("  extra:\n").unwrap() + start;
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!("{}{}", &fewer[..start], &fewer[end..]),
    )
    .unwrap();
    let plan = ok(&repo.dp(&dir, &["plan"]));
    assert!(
        plan.contains("- service echo  (because it is no longer in the compose file)"),
        "{plan}"
    );
    ok(&repo.dp(&dir, &["apply"]));
    let vars = env_vars(&dir.join(".env.session"));
    assert!(!vars.contains_key("ECHO_PORT"), "{vars:?}");
    assert_eq!(containers_under(&dir).len(), 2, "web and extra remain");
    assert_no_changes(&repo, &dir);
}

#[test]
fn destroy_keeps_uncommitted_work_and_unmerged_commits() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let dir = created_dir(&ok(&repo.dp(&repo.path, &["create", "--branch", "work"])));
    std::fs::write(dir.join("notes.txt"), "precious\n").unwrap();
    let out = repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]);
    ok(&out);
    assert!(stderr(&out).contains("kept worktree"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "precious\n"
    );
    assert!(
        containers_under(&dir).is_empty(),
        "containers go even when the worktree stays"
    );

    // Commit the work: the worktree is clean now, but the branch holds a commit no other
    // branch has, so the branch is kept while the worktree goes.
    git_in(&dir, &["add", "notes.txt"]);
    git_in(&dir, &["commit", "-q", "-m", "notes"]);
    let head = git_in(&dir, &["rev-parse", "HEAD"]);
    let out = repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]);
    ok(&out);
    assert!(
        stderr(&out).contains("kept branch work"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.exists());
    assert_eq!(repo.git(&["rev-parse", "work"]), head);
}

fn include_and_extends(flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    // Services defined through `include` and `extends: {file}` with fixed host ports: two
    // sessions must both run, and both services carry the session's labels.
    let repo = Repo::new(
        flavor,
        "include:\n  - more/other.yml\nservices:\n  app:\n    extends: {file: base.yml, service: common}\n",
    );
    repo.write(
        "more/other.yml",
        "services:\n  cache:\n    image: dev-prism-test-busybox:2\n    command: [\"nc\", \"-ll\", \"-p\", \"6379\", \"-e\", \"cat\"]\n    ports: [\"6379:6379\"]\n    stop_grace_period: 1s\n",
    );
    repo.write(
        "base.yml",
        "services:\n  common:\n    image: dev-prism-test-busybox:2\n    command: [\"nc\", \"-ll\", \"-p\", \"9000\", \"-e\", \"cat\"]\n    ports: [\"9000:9000\"]\n    stop_grace_period: 1s\n",
    );
    repo.commit("include and extends");
    let dirs: Vec<PathBuf> = (0..2)
        .map(|i| {
            created_dir(&ok(
                &repo.dp(&repo.path, &["create", "--branch", &format!("s{i}")])
            ))
        })
        .collect();
    for dir in &dirs {
        let vars = env_vars(&dir.join(".env.session"));
        assert!(echo_answers(port(&vars, "APP_PORT")));
        assert!(echo_answers(port(&vars, "CACHE_PORT")));
        assert_eq!(containers_under(dir).len(), 2);
        assert_no_changes(&repo, dir);
    }
}

#[test]
fn include_and_extends_v2() {
    include_and_extends(Flavor::V2);
}

#[test]
fn include_and_extends_v1() {
    include_and_extends(Flavor::V1);
}
