//! Test harness: detects Docker, builds the local busybox image once, makes temp git repos, runs
//! the binary, and removes every Docker object a test created even when it fails (Drop).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

/// The image every test uses: busybox with the applets the tests and fixtures run, `cp`
/// included (so a `--data-from` copy takes the `cp -a` way).
pub const IMAGE: &str = "dev-prism-test-busybox:2";
/// An image without `cp` (like a distroless one): a `--data-from` copy takes the archive way.
pub const NOCP_IMAGE: &str = "dev-prism-test-nocp:1";

/// Which Compose CLI a test drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    V2,
    V1,
}

impl Flavor {
    pub fn env(self) -> &'static str {
        match self {
            Flavor::V2 => "v2",
            Flavor::V1 => "v1",
        }
    }
}

fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn compose_answers(flavor: Flavor) -> bool {
    let mut c = match flavor {
        Flavor::V2 => {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        }
        Flavor::V1 => Command::new("docker-compose"),
    };
    c.args(["version", "--short"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether `DEV_PRISM_REQUIRE_DOCKER=1` (CI) makes every prerequisite required.
pub fn prerequisites_required() -> bool {
    std::env::var("DEV_PRISM_REQUIRE_DOCKER").as_deref() == Ok("1")
}

/// Whether a test's prerequisite (`what`, e.g. "node") is `present`. When it is not: under
/// `DEV_PRISM_REQUIRE_DOCKER=1` the test fails naming it; otherwise the test says on stderr
/// that it skipped and why (past the harness's capture, so a green run shows what it did
/// not check) and the caller returns.
pub fn needs(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    assert!(
        !prerequisites_required(),
        "DEV_PRISM_REQUIRE_DOCKER=1 but {test} needs {what}, which is missing here"
    );
    skipped(&format!(
        "needs {what} (DEV_PRISM_REQUIRE_DOCKER=1 makes this a failure)"
    ));
    false
}

/// Says on stderr that the running test skipped and `why`, past the harness's capture (a
/// green run shows what it did not check).
pub fn skipped(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// Whether `program` (a name on PATH or a path) can be found, as a prerequisite: see
/// [`needs`].
pub fn needs_program(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success());
    needs(program, found)
}

/// The one check for "needs Docker": true when the engine and Compose `flavor` answer (the
/// test images are built once); otherwise see [`needs`].
pub fn docker_ready(flavor: Flavor) -> bool {
    static DOCKER: OnceLock<bool> = OnceLock::new();
    let ok = *DOCKER.get_or_init(|| {
        docker_answers()
            && build_image(
                IMAGE,
                &[
                    "sh", "httpd", "nc", "wget", "sleep", "echo", "cat", "ls", "true", "false",
                    "touch", "cp",
                ],
            )
            && build_image(NOCP_IMAGE, &["sh", "sleep", "nc", "cat", "ls"])
    });
    needs(
        &format!("a Docker engine and Compose {}", flavor.env()),
        ok && compose_answers(flavor),
    )
}

#[test]
fn a_missing_prerequisite_fails_under_require_and_skips_otherwise() {
    let outcome = std::thread::Builder::new()
        .name("this skip is expected: support's self-check".into())
        .spawn(|| needs("nothing real", false))
        .unwrap()
        .join();
    if prerequisites_required() {
        let panic = outcome.expect_err("must fail under DEV_PRISM_REQUIRE_DOCKER=1");
        let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("needs nothing real"), "{text}");
    } else {
        assert!(!outcome.unwrap(), "a missing prerequisite skips");
    }
    assert!(needs("something present", true));
}

/// `docker import` of a root filesystem holding the host's static busybox with `applets`
/// linked in /bin: no registry needed.
fn build_image(image: &str, applets: &[&str]) -> bool {
    let exists = Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if exists {
        return true;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    for d in ["bin", "tmp", "www", "data"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).expect("static busybox at /bin/busybox");
    for applet in applets {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(applet)).unwrap();
    }
    std::fs::write(r.join("www/index.html"), "hello from dev-prism test\n").unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import -c 'CMD [\"/bin/sh\"]' - {image} >/dev/null",
            r.display()
        ))
        .status()
        .expect("sh");
    status.success()
}

/// A compose file: an HTTP service with a healthcheck on a FIXED host port, and a TCP echo
/// service with two ports and no healthcheck.
pub const COMPOSE: &str = r#"services:
  web:
    image: dev-prism-test-busybox:2
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["8080:80"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 1s
      retries: 20
  echo:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
    ports: ["7000", "7001"]
    stop_grace_period: 1s
"#;

/// A temporary git repository with a compose file, and cleanup of everything under it.
pub struct Repo {
    _tmp: tempfile::TempDir,
    /// Parent of the checkout; sessions go to `<root>/<name>-sessions`.
    pub root: PathBuf,
    /// The main checkout.
    pub path: PathBuf,
    pub flavor: Flavor,
}

impl Repo {
    /// A repository whose directory name (and so project name) is unique.
    pub fn new(flavor: Flavor, compose: &str) -> Repo {
        Repo::named(flavor, compose, "app")
    }

    /// A repository in a directory whose name starts with `prefix` (any characters), made
    /// unique by the temp directory's suffix.
    pub fn named(flavor: Flavor, compose: &str, prefix: &str) -> Repo {
        let tmp = tempfile::Builder::new().prefix("dp-it-").tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let name = format!(
            "{prefix}{}",
            root.file_name()
                .unwrap()
                .to_string_lossy()
                .replace("dp-it-", "")
                .to_lowercase()
        );
        let path = root.join(name);
        std::fs::create_dir_all(&path).unwrap();
        let repo = Repo {
            _tmp: tmp,
            root,
            path,
            flavor,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write("docker-compose.yml", compose);
        repo.write(".gitignore", ".env.session\ndocker-compose.session.yml\n");
        repo.commit("init");
        repo
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.path, args)
    }

    /// Config `envFiles: [.env]` with `.env` gitignored, committed.
    pub fn with_env_file(self) -> Self {
        self.write(
            ".gitignore",
            ".env.session\ndocker-compose.session.yml\n.env\n",
        );
        self.write("session.config.yaml", "envFiles: [.env]\n");
        self.commit("env files");
        self
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join(format!(
            "{}-sessions",
            self.path.file_name().unwrap().to_string_lossy()
        ))
    }

    /// Runs dev-prism in `dir` with this repo's Compose flavour.
    pub fn dp(&self, dir: &Path, args: &[&str]) -> Output {
        dp_env(dir, args, &[("DEV_PRISM_COMPOSE", self.flavor.env())])
    }
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=Test",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn dp_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    dp_command(dir, args, env).output().unwrap()
}

/// The dev-prism command `dp_env` runs, for tests that spawn it themselves.
pub fn dp_command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dev-prism"));
    c.current_dir(dir).args(args).env_remove("NO_COLOR");
    // A proxy a test's create starts in the background ends soon after the last session
    // (a test that needs it longer sets its own value).
    c.env("DEV_PRISM_PROXY_IDLE_EXIT", "20");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, showing both streams otherwise.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// `KEY=VALUE` lines of an env file.
pub fn env_vars(path: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn port(vars: &std::collections::BTreeMap<String, String>, key: &str) -> u16 {
    vars.get(key)
        .unwrap_or_else(|| panic!("{key} missing in {vars:?}"))
        .parse()
        .unwrap()
}

/// Sends a line to the echo service and expects it back.
pub fn echo_answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if s.write_all(b"ping\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"ping\n"
}

/// Fetches `/` from the web service.
pub fn http_answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("hello from dev-prism test")
}

/// Docker objects labelled with a working directory under `root`.
pub fn containers_under(root: &Path) -> Vec<(String, String, String)> {
    let out = Command::new("docker")
        .args([
            "ps", "-a", "--filter", "label=dev-prism.managed=true", "--format",
            "{{.ID}}\t{{.Label \"dev-prism.working_dir\"}}\t{{.Label \"com.docker.compose.project\"}}",
        ])
        .output()
        .unwrap();
    let prefix = root.to_string_lossy().to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let id = parts.next()?.to_string();
            let dir = parts.next()?.to_string();
            let project = parts.next().unwrap_or("").to_string();
            dir.starts_with(&prefix).then_some((id, dir, project))
        })
        .collect()
}

/// One long-running service with one published port and no healthcheck: up in about a second.
pub const ECHO: &str = r#"services:
  echo:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
    ports: ["7000"]
    stop_grace_period: 1s
"#;

pub fn by_project(kind: &str, project: &str) -> Vec<String> {
    docker_ls(kind, &format!("label=com.docker.compose.project={project}"))
}

/// `docker KIND ls -q --filter FILTER`.
pub fn docker_ls(kind: &str, filter: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([kind, "ls", "-q", "--filter", filter])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

impl Drop for Repo {
    fn drop(&mut self) {
        // Remove only what this test's sessions created: containers whose directory label is
        // under this test's temp dir, and the networks/volumes of their projects.
        let found = containers_under(&self.root);
        let mut projects: Vec<String> = found.iter().map(|(_, _, p)| p.clone()).collect();
        projects.extend(self.extra_projects());
        projects.sort();
        projects.dedup();
        for (id, _, _) in &found {
            let _ = Command::new("docker").args(["rm", "-f", "-v", id]).output();
        }
        for p in projects.iter().filter(|p| !p.is_empty()) {
            for n in by_project("network", p) {
                let _ = Command::new("docker").args(["network", "rm", &n]).output();
            }
            for v in by_project("volume", p) {
                let _ = Command::new("docker")
                    .args(["volume", "rm", "-f", &v])
                    .output();
            }
        }
    }
}

impl Repo {
    /// The project names of every directory a session of this repo may have used (a session
    /// whose containers are gone may still have a network).
    fn extra_projects(&self) -> Vec<String> {
        let mut dirs = vec![self.path.clone()];
        if let Ok(rd) = std::fs::read_dir(self.sessions_dir()) {
            dirs.extend(rd.flatten().map(|e| e.path()));
        }
        dirs.iter().map(|d| self.project_of(d)).collect()
    }

    /// The project name dev-prism gives the session in `dir`.
    pub fn project_of(&self, dir: &Path) -> String {
        let name = self
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        dev_prism::desired::project_name(&name, dir)
    }
}
