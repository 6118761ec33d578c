//! Writes that cannot be turned against the user (DESIGN §6): nothing written through a link
//! out of the session directory, a verified lock directory, paths Compose must not
//! interpolate, envFiles bytes kept, `network_mode: host` refused.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn created(out: &std::process::Output) -> PathBuf {
    PathBuf::from(ok(out).lines().next().unwrap())
}

/// The working-directory labels of the containers of the session in `dir`, as Docker has them.
fn labels_under(root: &Path) -> Vec<String> {
    containers_under(root)
        .into_iter()
        .map(|(_, dir, _)| dir)
        .collect()
}

/// What `sh` reads for `var` after running `script` in `dir`.
fn sh_value(dir: &Path, script: &str, var: &str) -> String {
    let out = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!("{script}; printf %s \"${var}\""))
        .env("DEV_PRISM", env!("CARGO_BIN_EXE_dev-prism"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn app_env_dir_that_is_a_committed_link_out_of_the_repository_is_refused() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let outside = repo.root.join("outside");
    std::fs::create_dir(&outside).unwrap();
    repo.write(
        "session.config.yaml",
        "readyTimeout: 30\nappEnv:\n  apps/web:\n    WHERE: \"${SESSION_DIR}\"\n",
    );
    std::fs::create_dir_all(repo.path.join("apps")).unwrap();
    symlink(&outside, repo.path.join("apps/web")).unwrap();
    repo.commit("a link out of the repository");
    let out = repo.dp(&repo.path, &["create", "-q"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("apps/web is a symbolic link"), "{err}");
    assert!(err.contains(&outside.display().to_string()), "{err}");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside the repository"
    );
    assert!(labels_under(&repo.root).is_empty(), "rolled back");
}

#[test]
fn env_files_keep_bytes_that_are_not_utf8() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let compose = "services:\n  db:\n    image: dev-prism-test-busybox:2\n    command: [\"nc\", \"-ll\", \"-p\", \"5432\", \"-e\", \"cat\"]\n    ports: [\"5432\"]\n    stop_grace_period: 1s\n";
    let repo = Repo::new(Flavor::V2, compose).with_env_file();
    let before = b"# caf\xe9\nDATABASE_URL=postgresql://u:p@localhost:5432/x\nLATIN=\xff\xfe\n";
    std::fs::write(repo.path.join(".env"), before).unwrap();
    let dir = created(&repo.dp(&repo.path, &["create", "-q"]));
    let port = port(&env_vars(&dir.join(".env.session")), "DB_PORT");
    let after = std::fs::read(dir.join(".env")).unwrap();
    let mut want = b"# caf\xe9\nDATABASE_URL=postgresql://u:p@127.0.0.1:".to_vec();
    want.extend_from_slice(format!("{port}/x\nLATIN=").as_bytes());
    want.extend_from_slice(b"\xff\xfe\n");
    assert_eq!(
        String::from_utf8_lossy(&after),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(after, want);
    ok(&repo.dp(&repo.path, &["destroy", "--force", &dir.to_string_lossy()]));
}

#[test]
fn network_mode_host_is_refused_before_anything_starts() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let compose = "services:\n  echo:\n    image: dev-prism-test-busybox:2\n    command: [\"sleep\", \"600\"]\n    ports: [\"7000\"]\n    network_mode: host\n";
    let repo = Repo::new(Flavor::V2, compose);
    let out = repo.dp(&repo.path, &["create", "--in-place"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("service `echo` uses `network_mode: host`"),
        "{err}"
    );
    assert!(labels_under(&repo.root).is_empty());
    assert!(by_project("network", &repo.project_of(&repo.path)).is_empty());
    assert!(!repo.path.join("docker-compose.session.yml").exists());
}

/// A path Compose would interpolate, with a space, quotes and unicode: every label equals the
/// real path, `. .env.session` and `eval "$(dev-prism env)"` read it back, destroy leaves
/// nothing — in place and as a worktree.
fn odd_path_round_trip(flavor: Flavor) {
    if !docker_ready(flavor) {
        return;
    }
    let repo = Repo::named(flavor, ECHO, "dir $HOME 'q' ü ");
    repo.write("session.config.yaml", "readyTimeout: 30\n");
    repo.commit("config");
    let worktree = |repo: &Repo| created(&repo.dp(&repo.path, &["create", "-q"]));
    let in_place = |repo: &Repo| {
        ok(&repo.dp(&repo.path, &["create", "-q", "--in-place"]));
        repo.path.clone()
    };
    let makers: [fn(&Repo) -> PathBuf; 2] = [in_place, worktree];
    for make in makers {
        let dir = make(&repo);
        let text = dir.to_string_lossy().into_owned();
        let labels = labels_under(&repo.root);
        assert!(!labels.is_empty());
        assert!(labels.iter().all(|l| *l == text), "{labels:?} != {text}");
        assert_eq!(
            sh_value(&dir, ". ./.env.session", "SESSION_DIR"),
            text,
            ".env.session"
        );
        assert_eq!(
            sh_value(&dir, "eval \"$(\"$DEV_PRISM\" env)\"", "SESSION_DIR"),
            text,
            "dev-prism env"
        );
        assert_eq!(compose_reads_session_dir(&dir), text, "Compose's env_file");
        let project = repo.project_of(&dir);
        ok(&repo.dp(&repo.path, &["destroy", &text]));
        assert!(labels_under(&repo.root).is_empty(), "containers left");
        assert!(by_project("network", &project).is_empty(), "network left");
    }
    assert!(
        std::fs::read_dir(repo.sessions_dir())
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "worktree left"
    );
}

/// `SESSION_DIR` as Compose's dotenv reader reads it from `.env.session` (`env_file:`).
fn compose_reads_session_dir(dir: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("compose.yml");
    let env = dir.join(".env.session");
    std::fs::write(
        &file,
        format!(
            "services:\n  s:\n    image: x\n    env_file: [{:?}]\n",
            env.to_string_lossy().replace('$', "$$")
        ),
    )
    .unwrap();
    let out = Command::new("docker")
        .args(["compose", "-f"])
        .arg(&file)
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    // Compose prints a literal `$` as `$$`.
    doc["services"]["s"]["environment"]["SESSION_DIR"]
        .as_str()
        .unwrap()
        .replace("$$", "$")
}

#[test]
fn dollar_space_quote_unicode_path_v2() {
    odd_path_round_trip(Flavor::V2);
}

#[test]
fn dollar_space_quote_unicode_path_v1() {
    odd_path_round_trip(Flavor::V1);
}

/// The lock file a command in `dir` uses under `base`.
fn lock_file(base: &Path, dir: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(dir).unwrap();
    base.join(format!(
        "{}.lock",
        dev_prism::util::short_hash(dir.as_os_str().as_encoded_bytes(), 16)
    ))
}

#[test]
fn the_lock_directory_is_verified_and_links_are_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = std::fs::canonicalize(tmp.path()).unwrap();
    let (session, elsewhere) = (run.join("session"), run.join("elsewhere"));
    std::fs::create_dir(&session).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    let base = run.join("dev-prism-locks");
    let xdg = run.to_string_lossy().into_owned();
    let stop = || dp_env(&session, &["stop"], &[("XDG_RUNTIME_DIR", &xdg)]);
    let about_lock = |o: &std::process::Output| stderr(o).contains("lock");

    // A link in place of the directory.
    symlink(&elsewhere, &base).unwrap();
    let out = stop();
    assert!(
        stderr(&out).contains("is a symbolic link"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    std::fs::remove_file(&base).unwrap();

    // Made fresh: the user's, mode 700.
    let out = stop();
    assert!(!about_lock(&out), "{}", stderr(&out));
    let m = std::fs::symlink_metadata(&base).unwrap();
    assert_eq!(m.mode() & 0o777, 0o700);

    // One of the user's with a wider mode (an older dev-prism made it) is set to 700.
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = stop();
    assert!(!about_lock(&out), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&base).unwrap().mode() & 0o777, 0o700);

    // A link planted at the lock file's name is not followed.
    let victim = elsewhere.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let lock = lock_file(&base, &session);
    let _ = std::fs::remove_file(&lock);
    symlink(&victim, &lock).unwrap();
    let out = stop();
    assert!(
        stderr(&out).contains("cannot open lock file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    std::fs::remove_file(&lock).unwrap();

    // Someone else's directory (only root can make one to test with).
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    if me == 0 {
        std::os::unix::fs::chown(&base, Some(4242), None).unwrap();
        let out = stop();
        assert!(
            stderr(&out).contains("owned by uid 4242"),
            "{}",
            stderr(&out)
        );
    }
}
