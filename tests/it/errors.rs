//! Bad input and an unreachable engine: one sentence, a hint, the documented exit code, and
//! nothing written.

use crate::support::*;

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `plan` in `repo` fails with exit 2, `needle` and a hint; returns stderr.
#[track_caller]
fn plan_fails(repo: &Repo, needle: &str) -> String {
    let out = dp_env(&repo.path, &["plan"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint: "), "{}", stderr(&out));
    stderr(&out)
}

/// `plan` in a repository whose compose file is `compose` fails with exit 2 and `needle`.
#[track_caller]
fn plan_rejects_compose(compose: &str, needle: &str) -> String {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write("docker-compose.yml", compose);
    plan_fails(&repo, needle)
}

#[test]
fn docker_unreachable_is_exit_3_with_endpoint_and_hint() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    for args in [&["list"][..], &["info"], &["plan"]] {
        let out = dp_env(
            &repo.path,
            args,
            &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        );
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: cannot reach the Docker engine at unix:///nonexistent/docker.sock (DOCKER_HOST)"),
            "{err}"
        );
        assert!(err.contains("hint: "), "{err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn unknown_config_key_is_a_located_usage_error_and_writes_nothing() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write(
        "session.config.yaml",
        "projectName: shop\nsesionsDir: ../x\n",
    );
    let before = files_in(&repo.path);
    for args in [
        &["plan"][..],
        &["create", "--in-place"],
        &["create"],
        &["apply"],
    ] {
        let out = dp_env(&repo.path, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ")
                && err.contains("session.config.yaml:2:1: unknown field `sesionsDir`"),
            "{err}"
        );
        assert!(err.contains("hint: "), "{err}");
    }
    assert_eq!(files_in(&repo.path), before);
    assert!(!repo.sessions_dir().exists());
}

#[test]
fn wrong_type_in_json_config() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write("session.config.json", "{\n  \"apps\": \"web\"\n}\n");
    plan_fails(&repo, "session.config.json:2:");
}

#[test]
fn missing_compose_file() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    std::fs::remove_file(repo.path.join("docker-compose.yml")).unwrap();
    plan_fails(&repo, "no compose file in");
}

#[test]
fn malformed_compose_file_names_line() {
    let err = plan_rejects_compose(
        "services:\n  web:\n    image: [unclosed\n",
        "docker-compose.yml:",
    );
    assert!(err.starts_with("error: docker-compose.yml:"), "{err}");
}

#[test]
fn create_outside_a_git_repository() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("docker-compose.yml"), COMPOSE).unwrap();
    let out = dp_env(tmp.path(), &["create"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not inside a git repository"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--in-place"));
}

#[test]
fn invalid_branch_name() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let out = dp_env(&repo.path, &["create", "--branch", "bad..name"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`bad..name` is not a valid git branch name"));
    assert!(!repo.sessions_dir().exists());
}

#[test]
fn missing_directory_argument() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let out = dp_env(&repo.path, &["info", "/nonexistent/dir"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("directory /nonexistent/dir does not exist"));
}

#[test]
fn usage_errors_and_help() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let out = dp_env(&repo.path, &["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let help = ok(&dp_env(
        &repo.path,
        &["--help"],
        &[("DOCKER_HOST", "unix:///nonexistent")],
    ));
    for cmd in [
        "create", "plan", "apply", "info", "list", "start", "stop", "destroy",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from help");
    }
    assert!(help.contains("Examples:"));
}

#[test]
fn module_config_is_read_through_node() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    if !needs_program("node") {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write(
        "session.config.mjs",
        "export default { projectName: 'from-mjs', bindAddress: '127.0.0.1' };\n",
    );
    let out = ok(&dp_env(&repo.path, &["plan"], &[]));
    assert!(out.contains("(project from-mjs-"), "{out}");
    repo.write("session.config.mjs", "throw new Error('boom');\n");
    let out = dp_env(&repo.path, &["plan"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("could not be loaded by node: "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("boom"), "{}", stderr(&out));
}

#[test]
fn module_config_without_node_says_how_to_convert() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    repo.write("session.config.mjs", "export default {};\n");
    let out = dp_env(&repo.path, &["plan"], &[("PATH", "/nonexistent")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs node, which is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("session.config.yaml"));
}

#[test]
fn docker_contexts_are_honoured() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let cfg = repo.root.join("docker-config");
    let meta = cfg.join("contexts/meta/0123abcd");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///nonexistent/ctx.sock","SkipTLSVerify":false}}}"#,
    )
    .unwrap();
    std::fs::write(cfg.join("config.json"), r#"{"currentContext":"remote"}"#).unwrap();
    let cfg_s = cfg.to_string_lossy().into_owned();
    // The current context of the docker CLI's config…
    let out = dp_env(
        &repo.path,
        &["list"],
        &[
            ("DOCKER_CONFIG", &cfg_s),
            ("DOCKER_HOST", ""),
            ("DOCKER_CONTEXT", ""),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "cannot reach the Docker engine at unix:///nonexistent/ctx.sock (context remote)"
        ),
        "{}",
        stderr(&out)
    );
    // …DOCKER_CONTEXT over it, `default` meaning the default socket…
    let out = dp_env(
        &repo.path,
        &["list"],
        &[
            ("DOCKER_CONFIG", &cfg_s),
            ("DOCKER_HOST", ""),
            ("DOCKER_CONTEXT", "nope"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("docker context `nope` was not found"),
        "{}",
        stderr(&out)
    );
    // …and DOCKER_HOST over both.
    let out = dp_env(
        &repo.path,
        &["list"],
        &[
            ("DOCKER_CONFIG", &cfg_s),
            ("DOCKER_HOST", "unix:///nonexistent/host.sock"),
        ],
    );
    assert!(
        stderr(&out).contains("unix:///nonexistent/host.sock (DOCKER_HOST)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn service_names_and_port_ranges_compose_would_reject() {
    plan_rejects_compose(
        "services:\n  \"bad name\":\n    image: x\n",
        "service name `bad name` is not valid for Compose",
    );
    plan_rejects_compose(
        "services:\n  web:\n    image: x\n    ports: [\"3000-3005:3000-3005\"]\n",
        "is a port range",
    );
}
