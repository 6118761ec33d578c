//! What sessions may take and what create made (issue 21): generated names kept out of
//! `git status`, setup outputs, resource limits, `maxRunning`, the disk check.

use std::path::PathBuf;

use crate::support::*;

/// One sleeping service.
const ONE: &str = r#"services:
  app:
    image: dev-prism-test-busybox:2
    command: ["sleep", "3600"]
    ports: ["80"]
    stop_grace_period: 1s
"#;

fn create(repo: &Repo, args: &[&str]) -> PathBuf {
    let mut all = vec!["create", "-q"];
    all.extend_from_slice(args);
    PathBuf::from(ok(&repo.dp(&repo.path, &all)).lines().next().unwrap())
}

#[test]
fn generated_files_stay_out_of_git_status() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    // A repository that ignores none of the generated names itself.
    repo.write(".gitignore", "*.log\n");
    repo.write("session.config.yaml", "appEnv:\n  web:\n    API: \"x\"\n");
    repo.write("web/README", "the web app\n");
    repo.commit("no ignores");
    let exclude = repo.path.join(".git/info/exclude");
    std::fs::write(&exclude, "# mine\n*.swp\n").unwrap();
    let dir = create(&repo, &[]);
    assert!(dir.join(".env.session").is_file());
    assert!(dir.join("docker-compose.session.yml").is_file());
    assert!(dir.join("web/.env.session").is_file());
    assert_eq!(git_in(&dir, &["status", "--porcelain"]), "");
    git_in(&dir, &["add", "-A"]);
    assert_eq!(git_in(&dir, &["diff", "--cached", "--name-only"]), "");
    // A second create finds the block and leaves the file as it is.
    let first = std::fs::read_to_string(&exclude).unwrap();
    let second = create(&repo, &[]);
    assert_eq!(git_in(&second, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read_to_string(&exclude).unwrap(), first);
    assert_eq!(
        first,
        "# mine\n*.swp\n\n# dev-prism generated files\n/docker-compose.session.yml\n/.env.session\n/web/.env.session\n# end of dev-prism generated files\n"
    );
    // The main checkout is not a session: its own files still show.
    repo.write("new.txt", "x\n");
    assert!(repo.git(&["status", "--porcelain"]).contains("new.txt"));
    for d in [&dir, &second] {
        ok(&repo.dp(d, &["destroy"]));
    }
}

#[test]
fn names_the_repository_ignores_are_not_added() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // Repo::new ignores `.env.session` and `docker-compose.session.yml` in `.gitignore`.
    let repo = Repo::new(Flavor::V2, ONE);
    let exclude = repo.path.join(".git/info/exclude");
    let before = std::fs::read_to_string(&exclude).unwrap_or_default();
    let dir = create(&repo, &[]);
    assert_eq!(
        std::fs::read_to_string(&exclude).unwrap_or_default(),
        before
    );
    ok(&repo.dp(&dir, &["destroy"]));
}
