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

/// The container of `service` in the session in `dir`.
fn container(dir: &std::path::Path, service: &str) -> String {
    let l1 = format!("label=dev-prism.working_dir={}", dir.display());
    let l2 = format!("label=dev-prism.service={service}");
    let out = std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", &l1, "--filter", &l2])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !id.is_empty(),
        "no container for {service} in {}",
        dir.display()
    );
    id
}

fn docker_out(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn default_limits_are_applied_and_enforced() {
    for flavor in [Flavor::V2, Flavor::V1] {
        if !docker_ready(flavor) {
            continue;
        }
        // Behind Podman, dev-prism refuses Compose v1 (tested in podman.rs).
        if flavor == Flavor::V1 && crate::podman::is_podman() {
            continue;
        }
        let repo = Repo::new(
            flavor,
            r#"services:
  app:
    image: dev-prism-test-busybox:2
    command: ["sleep", "3600"]
    stop_grace_period: 1s
  own:
    image: dev-prism-test-busybox:2
    command: ["sleep", "3600"]
    mem_limit: 64m
    stop_grace_period: 1s
"#,
        );
        repo.write(
            "session.config.yaml",
            "resources: {memory: 96m, cpus: 0.5}\n",
        );
        repo.commit("limits");
        let dir = create(&repo, &[]);
        let inspect = |svc: &str| {
            docker_out(&[
                "inspect",
                "-f",
                "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
                &container(&dir, svc),
            ])
        };
        assert_eq!(
            inspect("app"),
            format!("{} 500000000", 96 << 20),
            "{flavor:?}"
        );
        // A service's own limit stays; the CPU default still reaches it.
        assert_eq!(
            inspect("own"),
            format!("{} 500000000", 64 << 20),
            "{flavor:?}"
        );
        // Enforced by the kernel inside the container (this engine runs cgroup v1).
        let read =
            |svc: &str, file: &str| docker_out(&["exec", &container(&dir, svc), "cat", file]);
        assert_eq!(
            read("app", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
            (96u64 << 20).to_string()
        );
        assert_eq!(read("app", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), "50000");
        assert_eq!(
            read("own", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        // Converged: the limits are part of what the plan compares.
        let plan = repo.dp(&dir, &["plan", "--detailed-exitcode"]);
        assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
        ok(&repo.dp(&dir, &["destroy"]));
    }
}

fn branches(repo: &Repo) -> Vec<String> {
    repo.git(&["branch", "--format=%(refname:short)"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn session_dirs(repo: &Repo) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo.sessions_dir())
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn max_running_refuses_with_nothing_made_even_in_parallel() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    repo.write("session.config.yaml", "maxRunning: 1\n");
    repo.commit("one at a time");
    let first = create(&repo, &[]);
    let (dirs, branches_before) = (session_dirs(&repo), branches(&repo));
    let refused = repo.dp(&repo.path, &["create", "-q"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(err.contains("(maxRunning: 1)"), "{err}");
    assert!(err.contains(&first.display().to_string()), "{err}");
    assert!(
        err.contains(&format!("dev-prism stop {}", first.display())),
        "{err}"
    );
    assert_eq!(session_dirs(&repo), dirs, "nothing made");
    assert_eq!(branches(&repo), branches_before, "no branch made");
    assert_eq!(containers_under(&repo.root).len(), 1);

    // With the first stopped, two creates at once: exactly one runs.
    ok(&repo.dp(&first, &["stop"]));
    let spawn = || {
        dp_command(
            &repo.path,
            &["create", "-q"],
            &[("DEV_PRISM_COMPOSE", repo.flavor.env())],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(2)),
        "{codes:?}: {} / {}",
        stderr(&outs[0]),
        stderr(&outs[1])
    );
    let running: Vec<_> = containers_under(&repo.root);
    let winner = PathBuf::from(
        stdout(outs.iter().find(|o| o.status.success()).unwrap())
            .lines()
            .next()
            .unwrap(),
    );
    // `start` of the stopped one is refused as well, naming the one that runs.
    let start = repo.dp(&first, &["start"]);
    assert_eq!(start.status.code(), Some(2), "{}", stderr(&start));
    assert!(stderr(&start).contains(&winner.display().to_string()));
    // `heal` (run by the git hooks) never starts a session, so the limit never refuses it:
    // it rewrites the stopped session's file and leaves it stopped.
    let session_file = first.join("docker-compose.session.yml");
    std::fs::remove_file(&session_file).unwrap();
    let healed = repo.dp(&first, &["heal"]);
    assert_eq!(healed.status.code(), Some(0), "{}", stderr(&healed));
    assert!(
        stdout(&healed).contains("rewrote docker-compose.session.yml"),
        "{}",
        stdout(&healed)
    );
    assert!(session_file.is_file());
    let up = std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", "status=running", "--filter"])
        .arg(format!("label=dev-prism.working_dir={}", first.display()))
        .output()
        .unwrap();
    assert!(up.stdout.is_empty(), "heal started nothing");
    assert_eq!(session_dirs(&repo).len(), 2, "{running:?}");
    for d in [&winner, &first] {
        ok(&repo.dp(d, &["destroy"]));
    }
}

#[test]
fn setup_outputs_are_pruned_when_unchanged_and_kept_when_edited() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    // An untracked file and an ignored directory, written by setup; a tracked file it changes.
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\nout/\n",
    );
    repo.write("tracked.txt", "committed\n");
    repo.write(
        "session.config.yaml",
        "setup:\n  - mkdir -p out/sub && echo built > out/sub/gen.txt && echo v1 > version.txt\n",
    );
    repo.commit("setup writes files");
    let clean = create(&repo, &[]);
    let edited = create(&repo, &[]);
    assert_eq!(
        std::fs::read_to_string(clean.join("version.txt")).unwrap(),
        "v1\n"
    );
    std::fs::write(edited.join("out/sub/gen.txt"), "changed by hand\n").unwrap();
    // Unchanged outputs are dev-prism's; a tracked change setup did not make is the user's.
    let plan = stdout(&repo.dp(&clean, &["plan", "--destroy"]));
    assert!(!plan.contains("kept"), "{plan}");
    for d in [&clean, &edited] {
        ok(&repo.dp(d, &["stop"]));
    }
    let out = repo.dp(&repo.path, &["prune", "-y"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !clean.exists(),
        "unchanged setup outputs do not block prune: {said}"
    );
    assert!(edited.join("out/sub/gen.txt").is_file(), "{said}");
    assert!(
        said.contains("out/"),
        "the edited output is listed as kept: {said}"
    );
    ok(&repo.dp(&edited, &["destroy", "--force"]));
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallFs(PathBuf);

impl SmallFs {
    /// `None` (with a message) where mounting is not permitted; as root it is expected to
    /// work, so under `DEV_PRISM_REQUIRE_DOCKER=1` a failure there fails the test.
    fn mount(dir: &std::path::Path, size: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(dir).unwrap();
        let root = std::fs::metadata("/proc/self").map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        });
        if !needs(
            "root (to mount a small file system)",
            !root.is_ok_and(|r| !r),
        ) {
            return None;
        }
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            needs(&format!("a tmpfs mount, which failed: {why}"), false);
            return None;
        }
        Some(SmallFs(dir.to_path_buf()))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn create_refuses_a_copy_larger_than_the_free_space() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    let small = repo.root.join("small");
    let Some(_fs) = SmallFs::mount(&small, "8m") else {
        return;
    };
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\nbig.bin\n",
    );
    repo.write(
        "session.config.yaml",
        &format!("sessionsDir: {}\ncopy: [big.bin]\n", small.display()),
    );
    repo.commit("copy a big file");
    std::fs::write(repo.path.join("big.bin"), vec![7u8; 16 << 20]).unwrap();
    let branches_before = branches(&repo);
    let out = repo.dp(&repo.path, &["create", "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not enough disk space"), "{err}");
    assert!(
        err.contains(&format!("{} bytes", 16 << 20)) || err.contains("16.8 MB"),
        "{err}"
    );
    assert!(err.contains(&small.display().to_string()), "{err}");
    assert!(err.contains("bytes) free"), "{err}");
    assert_eq!(
        std::fs::read_dir(&small).unwrap().count(),
        0,
        "nothing made"
    );
    assert_eq!(branches(&repo), branches_before, "no branch made");
    assert!(containers_under(&repo.root).is_empty());
}

/// A loop-mounted XFS image made with `reflink=1` (copy-on-write), unmounted when dropped.
struct CowFs(PathBuf);

impl CowFs {
    /// `None` (with a message) without root or `mkfs.xfs`; under `DEV_PRISM_REQUIRE_DOCKER=1`
    /// both are expected (CI installs xfsprogs), so their absence fails the test.
    fn mount(dir: &std::path::Path) -> Option<CowFs> {
        let required = std::env::var_os("DEV_PRISM_REQUIRE_DOCKER").is_some();
        let root = std::fs::metadata("/proc/self").map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        });
        let mkfs = std::process::Command::new("mkfs.xfs").arg("-V").output();
        let why = if root.is_ok_and(|r| !r) {
            Some("mounting an XFS image needs root".to_string())
        } else if !mkfs.is_ok_and(|o| o.status.success()) {
            Some("mkfs.xfs is missing (apt-get install xfsprogs)".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            assert!(!required, "{why}");
            eprintln!("skipped: {why}");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let image = dir.with_extension("img");
        // Sparse: XFS wants at least 300 MiB; only what is written takes space.
        std::fs::File::create(&image)
            .unwrap()
            .set_len(400 << 20)
            .unwrap();
        let run = |cmd: &str, args: &[&std::ffi::OsStr]| {
            let out = std::process::Command::new(cmd).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{cmd}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            "mkfs.xfs",
            &[
                "-q".as_ref(),
                "-m".as_ref(),
                "reflink=1".as_ref(),
                image.as_os_str(),
            ],
        );
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                dir.as_os_str(),
            ],
        );
        Some(CowFs(dir.to_path_buf()))
    }
}

impl Drop for CowFs {
    fn drop(&mut self) {
        let done = std::process::Command::new("umount").arg(&self.0).status();
        if !done.is_ok_and(|s| s.success()) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
}

/// Free bytes of the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%a %S"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    it.next().unwrap() * it.next().unwrap()
}

#[test]
fn create_counts_copy_on_write_clones_as_free_space() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // Its guard removes what a failed run leaves under its root, the XFS mount included.
    let repo = Repo::new(Flavor::V2, ONE);
    let Some(cow) = CowFs::mount(&repo.root.join("xfs")) else {
        return;
    };
    let app = cow.0.join("app");
    std::fs::create_dir_all(&app).unwrap();
    for (name, text) in [
        ("docker-compose.yml", ONE),
        (
            ".gitignore",
            ".env.session\ndocker-compose.session.yml\nbig.bin\n",
        ),
        ("session.config.yaml", "copy: [big.bin]\n"),
    ] {
        std::fs::write(app.join(name), text).unwrap();
    }
    git_in(&app, &["init", "-q", "-b", "main"]);
    git_in(&app, &["add", "-A"]);
    git_in(&app, &["commit", "-q", "-m", "a big ignored file to copy"]);
    // 250 MiB allocated (not sparse: a clone of it still needs no space of its own).
    let big = 250u64 << 20;
    let out = std::process::Command::new("fallocate")
        .args(["-l", &big.to_string()])
        .arg(app.join("big.bin"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let free = free_bytes(&app);
    assert!(
        free < big,
        "the copy must not fit as a real copy: {free} free"
    );

    // Counted at full size, the copy would not fit; as a clone it takes nothing.
    let env = [("DEV_PRISM_COMPOSE", Flavor::V2.env())];
    let out = dp_env(&app, &["-v", "create", "-q"], &env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "({big} bytes more are copy-on-write clones, counted as 0)"
        )),
        "{err}"
    );
    assert!(err.contains("1 cloned copy-on-write"), "{err}");
    let session = PathBuf::from(stdout(&out).lines().next().unwrap());
    assert_eq!(
        std::fs::metadata(session.join("big.bin")).unwrap().len(),
        big
    );
    assert!(
        free_bytes(&app) + (32 << 20) > free,
        "the clone shares its blocks: {} free before, {} after",
        free,
        free_bytes(&app)
    );
    ok(&dp_env(&session, &["destroy"], &env));
}
