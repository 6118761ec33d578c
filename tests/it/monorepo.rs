//! Issue 3 features on a monorepo-like fixture: infrastructure services plus two app services
//! in profiles, an env file with DATABASE_URL, an app env template, setup commands.

use std::path::PathBuf;

use crate::support::*;

const COMPOSE: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "5432", "-e", "cat"]
    ports: ["5432:5432"]
    stop_grace_period: 1s
  app:
    image: dev-prism-test-busybox:2
    profiles: ["app"]
    command: ["sh", "-c", "echo app-started-$$APP_NAME; exec nc -ll -p 3000 -e cat"]
    environment:
      APP_NAME: demo
    ports: ["3000"]
    stop_grace_period: 1s
  web:
    image: dev-prism-test-busybox:2
    profiles: ["web"]
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["80"]
    stop_grace_period: 1s
"#;

const CONFIG: &str = r#"apps: [app, web]
envFiles: [apps/app/.env]
appEnv:
  apps/app:
    API_URL: "http://localhost:${APP_PORT}"
    DATABASE_URL: "postgresql://dev:dev@localhost:${DB_PORT}/shop"
setup:
  - echo "db=$DB_PORT dir=$SESSION_DIR" > "setup evidence.txt"
  - test -f apps/app/.env && echo copied >> "setup evidence.txt"
"#;

const APP_ENV: &str = "# app settings\nSECRET=keep-me\nDATABASE_URL=postgresql://me:s3cret@localhost:5432/shop?sslmode=disable\nexport OTHER='x y'\n";

fn monorepo(config: &str) -> Repo {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write("session.config.yaml", config);
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\napps/app/.env\n",
    );
    repo.write("apps/app/main.txt", "app\n");
    repo.commit("monorepo");
    repo.write("apps/app/.env", APP_ENV);
    repo
}

fn services_of(dir: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=dev-prism.working_dir={}", dir.display()),
            "--format",
            "{{.Label \"dev-prism.service\"}}",
        ])
        .output()
        .unwrap();
    let mut v: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn created(out: &std::process::Output) -> PathBuf {
    PathBuf::from(ok(out).lines().next().unwrap())
}

#[test]
fn docker_mode_env_files_app_env_setup_and_logs() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = monorepo(CONFIG);
    let dir = created(&repo.dp(&repo.path, &["create"]));
    assert_eq!(services_of(&dir), vec!["app", "db", "web"]);
    let vars = env_vars(&dir.join(".env.session"));
    let db = port(&vars, "DB_PORT");
    assert_ne!(db, 5432);
    assert!(echo_answers(db));
    assert!(echo_answers(port(&vars, "APP_PORT")));
    assert!(http_answers(port(&vars, "WEB_PORT")));

    // envFiles: copied into the worktree (it is gitignored), DATABASE_URL pointed at the
    // session's db with the user's credentials, every other byte kept, mode 0600.
    let rewritten = std::fs::read_to_string(dir.join("apps/app/.env")).unwrap();
    assert_eq!(
        rewritten,
        APP_ENV.replace("localhost:5432", &format!("127.0.0.1:{db}"))
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("apps/app/.env"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(repo.path.join("apps/app/.env")).unwrap(),
        APP_ENV,
        "the main checkout's file is untouched"
    );

    // appEnv: rendered from the template.
    let app_env = env_vars(&dir.join("apps/app/.env.session"));
    assert_eq!(
        app_env["API_URL"],
        format!("http://localhost:{}", vars["APP_PORT"])
    );
    assert_eq!(
        app_env["DATABASE_URL"],
        format!("postgresql://dev:dev@localhost:{db}/shop")
    );

    // setup ran in the session directory, with the session variables, in order.
    let evidence = std::fs::read_to_string(dir.join("setup evidence.txt")).unwrap();
    assert_eq!(evidence, format!("db={db} dir={}\ncopied\n", dir.display()));
    assert!(
        ok(&repo.dp(&dir, &["plan"])).contains("No changes."),
        "setup does not rerun on apply"
    );

    // logs: history of one service, without following.
    let logs = ok(&repo.dp(&dir, &["logs", "--no-follow", "-n", "5", "-s", "app"]));
    assert!(logs.contains("app-started-demo"), "{logs}");

    // A stop/start cycle rewrites every derived file with the new ports.
    ok(&repo.dp(&dir, &["stop"]));
    ok(&repo.dp(&dir, &["start"]));
    let db2 = port(&env_vars(&dir.join(".env.session")), "DB_PORT");
    assert!(std::fs::read_to_string(dir.join("apps/app/.env"))
        .unwrap()
        .contains(&format!("127.0.0.1:{db2}/")));
    assert_eq!(
        env_vars(&dir.join("apps/app/.env.session"))["DATABASE_URL"],
        format!("postgresql://dev:dev@localhost:{db2}/shop")
    );
    assert_eq!(
        services_of(&dir),
        vec!["app", "db", "web"],
        "start keeps the apps"
    );

    // destroy removes every service, whatever profile it was started with.
    ok(&repo.dp(&repo.path, &["destroy", "--force", &dir.to_string_lossy()]));
    assert!(services_of(&dir).is_empty());
}

#[test]
fn native_mode_and_without() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = monorepo("apps: [app, web]\n");
    let native = created(&repo.dp(&repo.path, &["create", "--mode", "native"]));
    assert_eq!(services_of(&native), vec!["db"]);
    let without = created(&repo.dp(&repo.path, &["create", "--without", "web"]));
    assert_eq!(services_of(&without), vec!["app", "db"]);
    // apply keeps each session's selection.
    assert!(ok(&repo.dp(&native, &["plan"])).contains("No changes."));
    assert!(ok(&repo.dp(&without, &["plan"])).contains("No changes."));
    let bad = repo.dp(&repo.path, &["create", "--without", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("`nope` (from --without) is not one of the apps"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn failing_setup_names_the_command_and_keeps_the_session() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = monorepo("setup:\n  - touch first-ran && false && echo x\n  - touch never-runs\n");
    let out = repo.dp(&repo.path, &["create", "--branch", "setup-fails"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("setup command `touch first-ran && false && echo x` failed with exit code 1"),
        "{err}"
    );
    let dir = repo.sessions_dir().join("setup-fails");
    assert!(dir.join("first-ran").exists());
    assert!(
        !dir.join("never-runs").exists(),
        "a failing command stops the sequence"
    );
    assert_eq!(
        services_of(&dir),
        vec!["db"],
        "the running session is left for inspection"
    );
    assert!(echo_answers(port(
        &env_vars(&dir.join(".env.session")),
        "DB_PORT"
    )));
}

#[test]
fn unknown_app_env_variable_is_an_error_before_anything_starts() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = monorepo("appEnv:\n  apps/app:\n    URL: \"http://localhost:${NOPE_PORT}\"\n");
    let out = repo.dp(&repo.path, &["create", "--in-place"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("uses ${NOPE_PORT}, which is not a session variable"),
        "{}",
        stderr(&out)
    );
    assert!(services_of(&repo.path).is_empty());
    assert!(!repo.path.join("docker-compose.session.yml").exists());
}

#[test]
fn stop_all_and_destroy_all_in_parallel() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = monorepo("apps: [app]\n");
    let dirs: Vec<PathBuf> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let repo = &repo;
                s.spawn(move || {
                    created(&repo.dp(
                        &repo.path,
                        &["create", "--mode", "native", "--branch", &format!("s{i}")],
                    ))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let under = repo.sessions_dir();
    let out = ok(&repo.dp(
        &repo.path,
        &["stop-all", "--under", &under.to_string_lossy()],
    ));
    for d in &dirs {
        assert!(out.contains(&format!("stopped {}", d.display())), "{out}");
        assert!(!d.join(".env.session").exists());
    }
    std::fs::write(dirs[0].join("wip.txt"), "unsaved\n").unwrap();
    let out = ok(&repo.dp(
        &repo.path,
        &[
            "destroy",
            "--all",
            "-y",
            "--under",
            &under.to_string_lossy(),
        ],
    ));
    for d in &dirs {
        assert!(out.contains(&format!("destroyed {}", d.display())), "{out}");
        assert!(services_of(d).is_empty());
    }
    assert!(out.contains("note: kept worktree"), "{out}");
    assert!(dirs[0].join("wip.txt").exists(), "uncommitted work is kept");
    assert!(!dirs[1].exists() && !dirs[2].exists());
}

#[test]
fn prune_asks_and_keeps_dirty_worktrees() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = monorepo("apps: [app]\n");
    let a = created(&repo.dp(&repo.path, &["create", "--mode", "native", "--branch", "a"]));
    let b = created(&repo.dp(&repo.path, &["create", "--mode", "native", "--branch", "b"]));
    let running = created(&repo.dp(&repo.path, &["create", "--mode", "native", "--branch", "c"]));
    ok(&repo.dp(&a, &["stop"]));
    ok(&repo.dp(&b, &["stop"]));
    std::fs::write(b.join("wip.txt"), "unsaved\n").unwrap();
    // No terminal and no -y: refuse, remove nothing.
    let out = repo.dp(&repo.path, &["prune"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("prune -y"), "{}", stderr(&out));
    assert!(a.exists() && b.exists());
    let out = ok(&repo.dp(&repo.path, &["prune", "-y"]));
    assert!(
        out.contains(&format!("  {}", a.display())) && out.contains(&format!("  {}", b.display())),
        "{out}"
    );
    assert!(
        !out.contains(&format!("  {}", running.display())),
        "running sessions are not pruned: {out}"
    );
    assert!(!a.exists(), "{out}");
    assert!(b.join("wip.txt").exists(), "{out}");
    assert!(out.contains("kept worktree"), "{out}");
    assert!(services_of(&a).is_empty() && services_of(&b).is_empty());
    assert_eq!(services_of(&running), vec!["db"]);
}

#[test]
fn prune_confirmation_on_a_terminal() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    if !needs_program("script") {
        return;
    }
    let repo = monorepo("apps: [app]\n");
    let a = created(&repo.dp(&repo.path, &["create", "--mode", "native", "--branch", "a"]));
    ok(&repo.dp(&a, &["stop"]));
    let bin = env!("CARGO_BIN_EXE_dev-prism");
    let run = |answer: &str| {
        let mut child = std::process::Command::new("script")
            .current_dir(&repo.path)
            .args(["-qec", &format!("'{bin}' prune"), "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("n\n");
    assert!(
        stdout(&out).contains("Remove 1 session(s)? [y/N]"),
        "{}",
        stdout(&out)
    );
    assert!(a.exists(), "answering no keeps it");
    let out = run("y\n");
    assert!(stdout(&out).contains("pruned"), "{}", stdout(&out));
    assert!(!a.exists());
}

#[test]
fn claude_installs_idempotently() {
    let repo = Repo::new(Flavor::V2, crate::support::COMPOSE);
    repo.write("CLAUDE.md", "# Project rules\n");
    let out = ok(&dp_env(&repo.path, &["claude"], &[]));
    assert!(
        out.contains(".claude/commands/dev-prism.md: installed"),
        "{out}"
    );
    let md = std::fs::read_to_string(repo.path.join("CLAUDE.md")).unwrap();
    assert!(md.starts_with("# Project rules\n\n<!-- dev-prism:begin"));
    let again = ok(&dp_env(&repo.path, &["claude"], &[]));
    assert!(
        again.contains("already up to date") && !again.contains("written"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join("CLAUDE.md")).unwrap(),
        md
    );
    std::fs::write(
        repo.path.join("CLAUDE.md"),
        md.replace("never assume", "please never assume") + "tail\n",
    )
    .unwrap();
    assert!(ok(&dp_env(&repo.path, &["claude"], &[])).contains("was edited; kept"));
    ok(&dp_env(&repo.path, &["claude", "--force"], &[]));
    assert_eq!(
        std::fs::read_to_string(repo.path.join("CLAUDE.md")).unwrap(),
        format!("{md}tail\n")
    );
}

#[test]
fn create_no_detach_streams_logs_until_ctrl_c() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = monorepo("apps: [app]\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dev-prism"))
        .current_dir(&repo.path)
        .args(["create", "--in-place", "--no-detach"])
        .env("DEV_PRISM_COMPOSE", "v2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read stdout until the app's first log line shows up, then press Ctrl-C.
    let mut out = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("app-started-demo") {
        use std::io::Read;
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "stdout ended before the logs: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with(&*repo.path.to_string_lossy()), "{seen}");
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("Stopped following logs; the services are still running"),
        "{err}"
    );
    // `web` is in a profile that `apps` does not list: not started.
    assert_eq!(services_of(&repo.path), vec!["app", "db"]);
    assert!(echo_answers(port(
        &env_vars(&repo.path.join(".env.session")),
        "DB_PORT"
    )));
}
