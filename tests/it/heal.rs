//! `heal` and the git hooks, against the real engine and real git.

use std::path::PathBuf;

use crate::support::*;

#[test]
fn heal_outside_a_session_is_silent() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let out = repo.dp(&repo.path, &["heal"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty() && stderr(&out).is_empty());
    let out = repo.dp(&repo.path, &["heal", "--check"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!repo.path.join(".env.session").exists());
}

#[test]
fn heal_restores_env_file_and_check_reports() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let env = repo.path.join(".env.session");
    let vars = env_vars(&env);
    // Converged: heal says nothing, --check exits 0.
    let out = repo.dp(&repo.path, &["heal", "--check"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).is_empty());
    std::fs::remove_file(&env).unwrap();
    let out = repo.dp(&repo.path, &["heal", "--check"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stdout(&out).contains("would rewrite .env.session"),
        "{}",
        stdout(&out)
    );
    assert!(!env.exists(), "--check changes nothing");
    let out = ok(&repo.dp(&repo.path, &["heal"]));
    assert_eq!(
        out.trim(),
        "dev-prism: rewrote .env.session (because it does not exist)"
    );
    assert_eq!(env_vars(&env), vars);
    // A stale port is corrected too.
    std::fs::write(
        &env,
        std::fs::read_to_string(&env)
            .unwrap()
            .replace(&vars["WEB_PORT"], "1"),
    )
    .unwrap();
    assert!(ok(&repo.dp(&repo.path, &["heal"])).contains("rewrote .env.session"));
    assert_eq!(env_vars(&env), vars);
    // `info` heals only under the session lock: while another command holds it, info shows
    // the session and writes nothing; once it is free, info restores the file.
    std::fs::remove_file(&env).unwrap();
    let held = dev_prism::context::lock(&repo.path).unwrap();
    let info = ok(&repo.dp(&repo.path, &["info"]));
    assert!(info.contains(&vars["WEB_PORT"]), "{info}");
    assert!(
        !env.exists(),
        "info wrote .env.session without the session lock"
    );
    drop(held);
    ok(&repo.dp(&repo.path, &["info"]));
    assert_eq!(env_vars(&env), vars);
}

#[test]
fn hooks_chain_user_hook_and_heal_on_branch_switch() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let log = repo.root.join("user-hook.log");
    let user_hook = format!("#!/bin/sh\necho \"user hook $3\" >> '{}'\n", log.display());
    repo.write(".git/hooks/post-checkout", &user_hook);
    std::fs::set_permissions(
        repo.path.join(".git/hooks/post-checkout"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = ok(&repo.dp(&repo.path, &["hooks", "install"]));
    assert!(
        out.contains("post-checkout: installed (your existing hook runs first)"),
        "{out}"
    );
    let again = ok(&repo.dp(&repo.path, &["hooks", "install"]));
    assert_eq!(again.matches("already installed").count(), 3, "{again}");

    // A branch whose compose file adds a service.
    repo.git(&["checkout", "-q", "-b", "more"]);
    let more = format!(
        "{COMPOSE}  extra:\n    image: dev-prism-test-busybox:2\n    command: [\"nc\", \"-ll\", \"-p\", \"9000\", \"-e\", \"cat\"]\n    ports: [\"9000\"]\n    stop_grace_period: 1s\n"
    );
    repo.write("docker-compose.yml", &more);
    repo.commit("more");
    repo.git(&["checkout", "-q", "main"]);

    let dir = PathBuf::from(
        ok(&repo.dp(&repo.path, &["create", "--branch", "work"]))
            .lines()
            .next()
            .unwrap(),
    );
    let session_file = dir.join("docker-compose.session.yml");
    assert!(!std::fs::read_to_string(&session_file)
        .unwrap()
        .contains("extra"));
    // Switching the session's worktree to `more` fires the hook in that worktree.
    let out = std::process::Command::new("git")
        .current_dir(&dir)
        .args(["checkout", "more"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("dev-prism: rewrote docker-compose.session.yml")
            || stdout(&out).contains("dev-prism: rewrote docker-compose.session.yml"),
        "hook output: {} {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(std::fs::read_to_string(&session_file)
        .unwrap()
        .contains("extra:"));
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("user hook 1"),
        "the user's hook ran too"
    );
    let plan = ok(&repo.dp(&dir, &["plan"]));
    assert!(
        plan.contains("+ service extra  (because no container exists)"),
        "{plan}"
    );
    ok(&repo.dp(&dir, &["apply"]));
    assert!(echo_answers(port(
        &env_vars(&dir.join(".env.session")),
        "EXTRA_PORT"
    )));
    assert!(ok(&repo.dp(&dir, &["plan"])).contains("No changes."));

    let out = ok(&repo.dp(&repo.path, &["hooks", "uninstall"]));
    assert!(
        out.contains("post-checkout: removed (your original hook is back)"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join(".git/hooks/post-checkout")).unwrap(),
        user_hook
    );
    assert!(!repo.path.join(".git/hooks/post-merge").exists());
}

#[test]
fn hooks_respect_core_hooks_path() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    ok(&repo.dp(&repo.path, &["hooks", "install"]));
    assert!(repo.path.join(".githooks/post-checkout").exists());
    assert!(!repo.path.join(".git/hooks/post-checkout").exists());
    ok(&repo.dp(&repo.path, &["hooks", "uninstall"]));
    assert!(!repo.path.join(".githooks/post-checkout").exists());
}
