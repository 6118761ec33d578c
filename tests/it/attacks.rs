//! An adversarial user on the ready-to-code and file-writing paths (issues 11-13): each test
//! is a fault found by attacking dev-prism, kept so it stays fixed.

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::process::Command;

use crate::support::*;

const ONE: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
"#;

/// A branch that commits a link (or a file) where the main checkout has an ignored directory
/// the copy patterns select: the branch's entry is what the worktree has, so the files under
/// it are not copied (as a committed file is kept) — create neither fails nor writes through
/// the link, and `plan --create` shows exactly that.
#[test]
fn a_branch_committing_a_link_where_main_has_an_ignored_directory_keeps_the_link() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\nvendor/\ncfg/\n.env.local\n",
    );
    repo.write(".worktreeinclude", "vendor/\ncfg/\n.env.local\n");
    repo.write("third_party/lib.js", "committed\n");
    repo.commit("include");
    // A branch where `vendor` is a committed link into the repository and `cfg` a file.
    repo.git(&["checkout", "-q", "-b", "linked"]);
    std::os::unix::fs::symlink("third_party", repo.path.join("vendor")).unwrap();
    repo.write("cfg", "a committed file\n");
    repo.git(&["add", "-f", "vendor", "cfg"]);
    repo.commit("vendor is a link, cfg a file");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("vendor/lib.js", "from main\n");
    repo.write("cfg/local.yml", "from main\n");
    repo.write(".env.local", "SECRET=1\n");

    let plan = ok(&repo.dp(&repo.path, &["plan", "--create", "--branch", "linked"]));
    assert!(
        !plan.contains("copy vendor/") && !plan.contains("copy cfg/"),
        "{plan}"
    );
    assert!(plan.contains("+ copy .env.local (1 file, 9 B)"), "{plan}");
    let out = repo.dp(&repo.path, &["create", "-q", "--branch", "linked"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = PathBuf::from(stdout(&out).lines().next().unwrap());
    let link = dir.join("vendor");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        std::fs::read_to_string(dir.join("third_party/lib.js")).unwrap(),
        "committed\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("cfg")).unwrap(),
        "a committed file\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(".env.local")).unwrap(),
        "SECRET=1\n"
    );
    ok(&repo.dp(&dir, &["destroy"]));
}

/// An `envFiles` entry the branch commits as a directory or a link cannot be copied or
/// rewritten: create refuses before anything is made (no service started), naming the file
/// and what it is, exit 2.
#[test]
fn an_env_file_committed_as_a_directory_or_link_is_refused_before_anything_starts() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE).with_env_file();
    repo.git(&["checkout", "-q", "-b", "dir"]);
    repo.write(".env/inner", "x\n");
    repo.git(&["add", "-f", ".env/inner"]);
    repo.commit(".env is a directory");
    repo.git(&["checkout", "-q", "-b", "link", "main"]);
    let outside = repo.root.join("outside.env");
    std::fs::write(&outside, "OUTSIDE=1\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path.join(".env")).unwrap();
    repo.git(&["add", "-f", ".env"]);
    repo.commit(".env is a link");
    repo.git(&["checkout", "-q", "main"]);
    repo.write(".env", "DATABASE_URL=postgres://u:p@localhost:5432/db\n");

    for (branch, what) in [("dir", "a directory"), ("link", "a symbolic link")] {
        let out = repo.dp(&repo.path, &["create", "--branch", branch]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "envFiles entry `.env` is {what} on branch `{branch}`"
            )),
            "{err}"
        );
        assert!(err.contains("hint: "), "{err}");
        // Refused while planning: nothing was started, nothing is left.
        assert!(!err.contains("compose up"), "{err}");
        assert!(!repo.sessions_dir().join(branch).exists());
        assert!(containers_under(&repo.root).is_empty());
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "OUTSIDE=1\n");
}

/// One service whose named volume holds about 400 MB (200 copies of busybox), so a
/// `--data-from` copy of it takes a while.
const BIG: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "[ -f /data/seed ] || { i=0; while [ $$i -lt 200 ]; do cp /bin/busybox /data/b$$i; i=$$((i+1)); done; echo ok > /data/seed; }; exec sleep 3600"]
    volumes: ["data:/data"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", "[ -f /data/seed ]"]
      interval: 1s
      start_period: 120s
volumes:
  data: {}
"#;

fn state(id: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Status}}", id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Unpauses a container when the test ends, whatever happened.
struct Unpause(String);

impl Drop for Unpause {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["unpause", &self.0])
            .output();
    }
}

/// The engine going away while `--data-from` has the source paused: create cannot unpause
/// it, so it says so in one sentence naming the container, with the command that does, and
/// the state it leaves is one `destroy` finishes once the engine is back.
#[test]
fn the_engine_vanishing_while_the_source_is_paused_says_how_to_unpause_it() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, BIG);
    let out = repo.dp(&repo.path, &["create", "-q", "--branch", "src"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let src = PathBuf::from(stdout(&out).lines().next().unwrap());
    let ids = containers_under(&src);
    let id = ids[0].0.clone();
    let _unpause = Unpause(id.clone());

    let proxy = crate::engine_proxy::EngineProxy::start(&repo.root);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dev-prism"))
        .current_dir(&repo.path)
        .args(["create", "--branch", "copy", "--data-from"])
        .arg(&src)
        .env("DOCKER_HOST", proxy.host())
        .env("DEV_PRISM_COMPOSE", "v2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while state(&id) != "paused" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    proxy.stop();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    // dev-prism could not unpause it (the engine was gone for it): it says so, and how.
    assert_eq!(state(&id), "paused", "{err}");
    assert!(
        err.contains(&format!("left paused: run `docker unpause {id}")),
        "{err}"
    );
    assert!(err.contains("dev-prism destroy"), "{err}");
    std::process::Command::new("docker")
        .args(["unpause", &id])
        .output()
        .unwrap();
    // With the engine back, destroy finishes: nothing of the new session is left.
    let dir = repo.sessions_dir().join("copy");
    let out = repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!dir.exists(), "{}", stderr(&out));
    assert!(by_project("volume", &repo.project_of(&dir)).is_empty());
    assert_eq!(state(&id), "running");
}

/// Runs dev-prism with `args` in `dir`, killing it (and failing) if it has not ended within
/// a minute: a command must never wait forever on a file.
fn bounded(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dev-prism"))
        .current_dir(dir)
        .args(args)
        .env("DEV_PRISM_COMPOSE", "v2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("`dev-prism {}` hung", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// A FIFO (or a link to a device) where a generated file belongs is the user's, not a file:
/// no command waits on it forever or reads it endlessly; each says which path is in the
/// way and what to do (exit 2), and leaves it where it is. Once it is gone, destroy finishes.
#[test]
fn a_fifo_or_device_at_a_generated_file_name_does_not_hang_any_command() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    repo.write(".worktreeinclude", "local/\n");
    repo.commit("include");
    let out = repo.dp(&repo.path, &["create", "-q", "--branch", "fifo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = PathBuf::from(stdout(&out).lines().next().unwrap());
    let env = dir.join(".env.session");
    std::fs::remove_file(&env).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&env)
        .status()
        .unwrap();
    assert!(made.success());
    // Nothing hangs. `info` shows the session (it reads no generated file it cannot); `plan`
    // and `apply` refuse to replace an object dev-prism did not write (exit 2, a hint); the
    // FIFO stays (a destroy keeps it too: inputs::special_files_at_generated_names_…).
    for args in [["info"], ["plan"], ["apply"]] {
        let out = bounded(&dir, &args);
        let err = stderr(&out);
        let want = if args == ["info"] { 0 } else { 2 };
        assert_eq!(out.status.code(), Some(want), "{args:?}: {err}");
        if want == 2 {
            assert!(
                err.contains(".env.session") && err.contains("hint: "),
                "{args:?}: {err}"
            );
        }
        assert!(env.symlink_metadata().unwrap().file_type().is_fifo());
    }
    // A `.worktreeinclude` that is a link to an endless device is not read endlessly.
    std::fs::remove_file(repo.path.join(".worktreeinclude")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", repo.path.join(".worktreeinclude")).unwrap();
    let out = bounded(&repo.path, &["plan", "--create", "--branch", "other"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains("copy"), "{}", stdout(&out));

    std::fs::remove_file(&env).unwrap();
    ok(&repo.dp(&dir, &["destroy"]));
    assert!(!dir.exists());
}

/// A file of the user's at a generated name (`.env.session` without dev-prism's header): a
/// plain destroy keeps it and the worktree; `destroy --force` removes the worktree, and then
/// says the file went with it — never "kept" for a file it deleted.
#[test]
fn destroy_force_never_reports_as_kept_a_user_file_it_deleted() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    let out = repo.dp(&repo.path, &["create", "-q", "--branch", "mine"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = PathBuf::from(stdout(&out).lines().next().unwrap());
    std::fs::write(dir.join(".env.session"), "MINE=1\n").unwrap();

    let out = repo.dp(&dir, &["destroy"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(dir.join(".env.session").exists(), "{text}");
    assert!(text.contains("kept file .env.session"), "{text}");

    let plan = ok(&repo.dp(&dir, &["plan", "--destroy", "--force"]));
    assert!(plan.contains(".env.session"), "listed as removed: {plan}");
    let out = repo.dp(&dir, &["destroy", "--force"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!dir.exists(), "{text}");
    assert!(!text.contains("kept file"), "it was deleted: {text}");
}

/// An `envFiles` file of the main checkout that is a link leading out of it: `plan --create`
/// refuses it as `create` does (exit 2, naming the link), and create makes nothing.
#[test]
fn an_env_file_linking_out_of_the_main_checkout_is_refused_by_plan_create_too() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE).with_env_file();
    let outside = repo.root.join("outside.env");
    std::fs::write(&outside, "SECRET=outside\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path.join(".env")).unwrap();
    for args in [
        &["plan", "--create", "--branch", "out"][..],
        &["create", "--branch", "out"][..],
    ] {
        let out = repo.dp(&repo.path, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("it leads out of"), "{args:?}: {err}");
        assert!(
            !err.contains("+ worktree"),
            "refused before anything: {err}"
        );
    }
    assert!(!repo.sessions_dir().join("out").exists());
    assert!(repo.git(&["branch", "--list", "out"]).trim().is_empty());
}

/// A service named `1db` gives `1DB_PORT`: kept in `.env.session` (dotenv readers and Compose
/// read it), said by plan and create, and left out of `dev-prism env`, whose `export 1DB_PORT`
/// ended a POSIX shell's `eval` before the other variables were set.
#[test]
fn a_service_name_starting_with_a_digit_does_not_break_eval_of_env() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let compose = r#"services:
  1db:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
    ports: ["7000"]
    stop_grace_period: 1s
  web:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
    ports: ["7000"]
    stop_grace_period: 1s
"#;
    let repo = Repo::new(Flavor::V2, compose);
    let plan = repo.dp(&repo.path, &["plan", "--create", "--branch", "x"]);
    ok(&plan);
    assert!(stderr(&plan).contains("1DB_PORT"), "{}", stderr(&plan));
    let out = repo.dp(&repo.path, &["create", "--branch", "x"]);
    ok(&out);
    assert!(
        stderr(&out).contains("not shell variable names"),
        "{}",
        stderr(&out)
    );
    let dir = repo.sessions_dir().join("x");
    let vars = env_vars(&dir.join(".env.session"));
    assert!(vars.contains_key("1DB_PORT"), "{vars:?}");
    let bin = env!("CARGO_BIN_EXE_dev-prism");
    let sh = Command::new("sh")
        .arg("-c")
        .arg(format!("eval \"$('{bin}' env)\" && echo \"web=$WEB_PORT\""))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&sh).trim(),
        format!("web={}", vars["WEB_PORT"]),
        "{}",
        stderr(&sh)
    );
    ok(&repo.dp(&dir, &["destroy"]));
}

/// `sessionsDir` through a committed link into `.git` (`gl -> .git`, `sessionsDir: gl/wt`)
/// passed the lexical check at load and put the worktree inside the repository's store; the
/// path as resolved is checked too, by plan and create alike.
#[test]
fn sessions_dir_through_a_link_into_git_is_refused() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    std::os::unix::fs::symlink(".git", repo.path.join("gl")).unwrap();
    repo.write("session.config.yaml", "sessionsDir: gl/wt\n");
    repo.commit("sessions in a link");
    for args in [
        &["plan", "--create", "--branch", "x"][..],
        &["create", "--branch", "x"],
    ] {
        let out = repo.dp(&repo.path, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("inside a git directory"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!repo.path.join(".git/wt").exists());
    assert!(containers_under(&repo.root).is_empty());
}

/// Two repositories sharing one `sessionsDir`: `prune --gone` in one took the other's gone
/// session for its own (its directory is under the shared sessionsDir) and removed its
/// containers and volumes; the repository a session's containers record decides.
#[test]
fn prune_gone_leaves_another_repositorys_session_in_a_shared_sessions_dir() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let mine = Repo::new(Flavor::V2, ECHO);
    let other = Repo::new(Flavor::V2, ECHO);
    let shared = mine.sessions_dir();
    for repo in [&mine, &other] {
        repo.write(
            "session.config.yaml",
            &format!("sessionsDir: {}\n", shared.display()),
        );
        repo.commit("shared sessions dir");
    }
    let theirs = PathBuf::from(
        ok(&other.dp(&other.path, &["create", "-q", "--branch", "theirs"]))
            .lines()
            .next()
            .unwrap(),
    );
    assert!(theirs.starts_with(&shared));
    let before = containers_under(&theirs);
    assert_eq!(before.len(), 1);
    std::fs::remove_dir_all(&theirs).unwrap();
    let out = ok(&mine.dp(&mine.path, &["prune", "--gone", "-y"]));
    assert!(!out.contains(&*theirs.to_string_lossy()), "{out}");
    assert_eq!(
        containers_under(&theirs),
        before,
        "another repository's session was pruned"
    );
    // Its own repository still finds it.
    let out = ok(&other.dp(&other.path, &["prune", "--gone", "-y"]));
    assert!(out.contains(&*theirs.to_string_lossy()), "{out}");
    assert!(containers_under(&theirs).is_empty());
}

/// A link at a generated file's name, to a copy of that file elsewhere: it was read through
/// (it has the header), so destroy planned to remove it, removed the containers and then
/// failed on the link, half-way. It is the user's, like a FIFO there: kept and reported; the
/// file it points to is never touched.
#[test]
fn a_link_at_a_generated_file_name_does_not_stop_destroy_halfway() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ECHO);
    let dir = PathBuf::from(
        ok(&repo.dp(&repo.path, &["create", "-q", "--branch", "x"]))
            .lines()
            .next()
            .unwrap(),
    );
    let file = dir.join("docker-compose.session.yml");
    let elsewhere = repo.root.join("elsewhere.yml");
    std::fs::copy(&file, &elsewhere).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let text = std::fs::read_to_string(&elsewhere).unwrap();
    let plan = ok(&repo.dp(&dir, &["plan", "--destroy"]));
    assert!(
        !plan.contains("- file docker-compose.session.yml"),
        "{plan}"
    );
    let out = repo.dp(&dir, &["destroy"]);
    ok(&out);
    assert!(
        stderr(&out).contains("kept file docker-compose.session.yml"),
        "not reported: {}",
        stderr(&out)
    );
    assert!(containers_under(&repo.root).is_empty());
    assert!(file.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), text);
}
