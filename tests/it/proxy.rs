//! The proxy on the real engine, resolver-independent (Host headers, `curl --resolve`): each
//! test runs its own `dev-prism proxy` on its own port and state directory, and sessions whose
//! compose files set the `dev-prism.host`/`dev-prism.domain` labels per branch.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::*;

/// The test upstream (tests/fixtures/upstream.rs), built with rustc as a static binary and
/// imported as an image whose tag follows the source.
fn upstream_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upstream.rs");
            let text = std::fs::read(src).unwrap();
            let hash = text
                .iter()
                .fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
            let image = format!("dev-prism-test-upstream:{:012x}", hash & 0xffff_ffff_ffff);
            let exists = Command::new("docker")
                .args(["image", "inspect", &image])
                .output()
                .is_ok_and(|o| o.status.success());
            if exists {
                return image;
            }
            let root = tempfile::tempdir().unwrap();
            let bin = root.path().join("upstream");
            let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
            let out = Command::new(rustc)
                .args(["-O", "-C", "target-feature=+crt-static", src, "-o"])
                .arg(&bin)
                .output()
                .expect("rustc");
            assert!(out.status.success(), "rustc: {}", stderr(&out));
            let status = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "tar -C '{}' -c upstream | docker import -c 'CMD [\"/upstream\"]' - {image} >/dev/null",
                    root.path().display()
                ))
                .status()
                .unwrap();
            assert!(status.success(), "docker import of the upstream");
            image
        })
        .clone()
}

/// A free port on 127.0.0.1 (and, in all likelihood, ::1).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A repository whose branches `a`, `b`… each name their session `<branch>.<project>` in the
/// labels of the compose file (until create writes the labels itself).
struct Shop {
    repo: Repo,
    project: String,
}

impl Shop {
    fn new(branches: &[&str]) -> Shop {
        let repo = Repo::named(Flavor::V2, "services: {}\n", "px");
        let project = repo
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_lowercase();
        let image = upstream_image();
        for b in branches {
            repo.git(&["checkout", "-q", "-b", b]);
            repo.write(
                "docker-compose.yml",
                &format!(
                    "services:\n  web:\n    image: {image}\n    ports: [\"80\"]\n    stop_grace_period: 1s\n    labels:\n      dev-prism.host: \"{b}.{project}\"\n      dev-prism.domain: localhost\n"
                ),
            );
            repo.commit(b);
            repo.git(&["checkout", "-q", "main"]);
        }
        Shop { repo, project }
    }

    fn create(&self, branch: &str) -> PathBuf {
        let out = ok(&self
            .repo
            .dp(&self.repo.path, &["create", "-q", "--branch", branch]));
        PathBuf::from(out.lines().next().unwrap().trim())
    }

    fn name(&self, branch: &str) -> String {
        format!("web.{branch}.{}.localhost", self.project)
    }
}

/// A `dev-prism proxy` in the foreground on its own port and state directory; SIGTERM on drop.
struct Proxy {
    child: Option<Child>,
    port: u16,
    state: tempfile::TempDir,
}

impl Proxy {
    fn start() -> Proxy {
        let state = tempfile::tempdir().unwrap();
        Proxy::start_with(free_port(), state)
    }

    fn start_with(port: u16, state: tempfile::TempDir) -> Proxy {
        Proxy::start_env(port, state, &[])
    }

    fn start_env(port: u16, state: tempfile::TempDir, extra: &[(&str, &str)]) -> Proxy {
        let child = dp_command(Path::new("/"), &["proxy"], extra)
            .envs(Proxy::env_of(port, state.path()))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let p = Proxy {
            child: Some(child),
            port,
            state,
        };
        let started = Instant::now();
        while !p.status().starts_with("running") {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the proxy never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    fn env_of(port: u16, state: &Path) -> Vec<(String, String)> {
        vec![
            ("DEV_PRISM_PROXY_PORT".into(), port.to_string()),
            ("XDG_STATE_HOME".into(), state.display().to_string()),
            // Shorter than any idle wait below: an upgraded connection must outlive it.
            ("DEV_PRISM_PROXY_HEADER_TIMEOUT_MS".into(), "1000".into()),
        ]
    }

    fn dp(&self, args: &[&str]) -> std::process::Output {
        dp_command(Path::new("/"), args, &[])
            .envs(Proxy::env_of(self.port, self.state.path()))
            .output()
            .unwrap()
    }

    fn status(&self) -> String {
        stdout(&self.dp(&["proxy", "status"]))
    }

    /// One request on its own connection: (status code, body).
    fn get(&self, host: &str, path: &str, extra: &str) -> (u16, String) {
        let text = self.raw(host, path, extra);
        let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (code, body.to_string())
    }

    /// One request on its own connection: the whole response.
    fn raw(&self, host: &str, path: &str, extra: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}:{}\r\n{extra}Connection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    }

    fn curl(&self, name: &str, args: &[&str]) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--resolve"])
            .arg(format!("{name}:{}:127.0.0.1", self.port))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {args:?}: {}", stderr(&out));
        stdout(&out)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the child this guard started.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

/// Polls `f` (every 50 ms, at most 5 s) until it gives a value.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn field<'a>(body: &'a str, key: &str) -> &'a str {
    body.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
}

/// Ports the kernel lists as listening on `port`, as their local addresses' hex.
fn listening_on(port: u16) -> Vec<String> {
    let mut found = vec![];
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (f.get(1), f.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push(addr.to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn proxy_routes_sessions_by_name_through_stop_start_and_restart() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let shop = Shop::new(&["a", "b"]);
    let (dir_a, dir_b) = (shop.create("a"), shop.create("b"));
    let proxy = Proxy::start();
    let (a, b) = (shop.name("a"), shop.name("b"));

    // Each session at its own name; Host kept, X-Forwarded-* set, one hop.
    let first_request = Instant::now();
    let (code, body_a) = proxy.get(&a, "/x?y=1", "");
    assert_eq!(code, 200, "{body_a}");
    assert_eq!(field(&body_a, "path"), "/x?y=1");
    assert_eq!(field(&body_a, "host"), format!("{a}:{}", proxy.port));
    assert_eq!(field(&body_a, "xfh"), format!("{a}:{}", proxy.port));
    assert_eq!(field(&body_a, "xfp"), "http");
    assert_eq!(field(&body_a, "xff"), "127.0.0.1");
    assert_eq!(field(&body_a, "hops"), "1");
    let (code, body_b) = proxy.get(&b, "/", "");
    assert_eq!(code, 200, "{body_b}");
    assert_ne!(
        field(&body_a, "name"),
        field(&body_b, "name"),
        "two containers"
    );
    // Keep-alive to the upstream: a second client connection reuses the pooled one.
    let (_, again) = proxy.get(&a, "/", "");
    assert_eq!(field(&again, "conn"), field(&body_a, "conn"), "{again}");

    // The last request is recorded for the session (what `list` shows as IDLE), at most once
    // every few seconds: the second request above left the record alone.
    let project_a = &env_vars(&dir_a.join(".env.session"))["COMPOSE_PROJECT_NAME"];
    let record = proxy
        .state
        .path()
        .join("dev-prism/activity")
        .join(project_a);
    let written = wait_for(|| {
        std::fs::read_to_string(&record)
            .ok()
            .filter(|t| !t.trim().is_empty())
    });
    let ms: u128 = written.trim().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(now - ms < 10_000, "recorded {ms}, now {now}");
    let mtime = || std::fs::metadata(&record).unwrap().modified().unwrap();
    let first = mtime();
    assert_eq!(proxy.get(&a, "/", "").0, 200);
    std::thread::sleep(Duration::from_millis(300));
    // Within 5 s of the first request (the throttle counts from it, or later).
    if first_request.elapsed() < Duration::from_secs(4) {
        assert_eq!(mtime(), first, "throttled");
    }

    // Refusals.
    let (code, body) = proxy.get(&format!("web.nope.{}.localhost", shop.project), "/", "");
    assert_eq!(code, 404);
    assert!(
        body.contains(&a) && body.contains(&b),
        "404 names the sessions: {body}"
    );
    let (code, _) = proxy.get("evil.example", "/", "");
    assert_eq!(code, 421, "a name outside the domain (DNS rebinding)");
    // create/start/apply tell the proxy from another server by its header.
    let probe = proxy.raw("dev-prism-probe.invalid", "/", "");
    assert!(probe.starts_with("HTTP/1.1 421"), "{probe}");
    assert!(probe.contains("x-dev-prism-proxy: "), "{probe}");
    assert!(proxy.raw(&a, "/", "").contains("x-dev-prism-proxy: "));
    let (code, _) = proxy.get(&a, "/", "X-Dev-Prism-Hops: 3\r\n");
    assert_eq!(code, 508);

    // Focus: the project's short name reaches the focused session.
    let focus_name = format!("web.{}.localhost", shop.project);
    let (code, body) = proxy.get(&focus_name, "/", "");
    assert_eq!(code, 404);
    assert!(body.contains("proxy focus"), "{body}");
    ok(&proxy.dp(&["proxy", "focus", &dir_b.to_string_lossy()]));
    let (code, body) = proxy.get(&focus_name, "/", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(field(&body, "name"), field(&body_b, "name"));

    // Stopped: 502 naming the way back; started again (new port): the same name works, with
    // no restart of the proxy.
    ok(&shop.repo.dp(&dir_a, &["stop"]));
    let (code, body) = proxy.get(&a, "/", "");
    assert_eq!(code, 502, "{body}");
    assert!(
        body.contains(&format!("dev-prism start {}", dir_a.display())),
        "{body}"
    );
    ok(&shop.repo.dp(&dir_a, &["start"]));
    let started = Instant::now();
    let mut code = 0;
    while code != 200 && started.elapsed() < Duration::from_secs(5) {
        code = proxy.get(&a, "/", "").0;
        if code != 200 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(code, 200, "the started session answers at its name");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "visible within 1 s of start"
    );

    // Loopback only.
    let listening = listening_on(proxy.port);
    assert!(!listening.is_empty());
    for addr in &listening {
        assert!(
            addr == "0100007F" || addr == "00000000000000000000000001000000",
            "listens only on 127.0.0.1 and ::1: {listening:?}"
        );
    }

    // `proxy stop` ends the recorded proxy; a new one knows every route at once.
    let status = proxy.status();
    assert!(status.contains(&a) && status.contains(&b), "{status}");
    let mut proxy = proxy;
    let stopped = ok(&proxy.dp(&["proxy", "stop"]));
    assert!(stopped.contains("stopped"), "{stopped}");
    let _ = proxy.child.take().unwrap().wait();
    assert!(proxy.status().starts_with("not running"));
    let state = std::mem::replace(&mut proxy.state, tempfile::tempdir().unwrap());
    let proxy = Proxy::start_with(proxy.port, state);
    assert_eq!(proxy.get(&a, "/", "").0, 200);
    assert_eq!(proxy.get(&b, "/", "").0, 200);
    assert_eq!(
        proxy.get(&focus_name, "/", "").0,
        200,
        "focus kept in the state dir"
    );
}

#[test]
fn proxy_passes_websocket_sse_uploads_and_https() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let shop = Shop::new(&["a"]);
    shop.create("a");
    let proxy = Proxy::start();
    let a = shop.name("a");

    // WebSocket: upgrade, echo, stay idle past the proxy's header timeout (1 s here; hyper's
    // default is 30 s and applies only before a request's headers), echo again.
    let mut ws = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        ws,
        "GET /ws HTTP/1.1\r\nHost: {a}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        proxy.port
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    let echo = |ws: &mut TcpStream, text: &str| {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        ws.write_all(&frame).unwrap();
        let mut back = vec![0u8; 2 + text.len()];
        ws.read_exact(&mut back).unwrap();
        assert_eq!(&back[2..], text.as_bytes());
    };
    echo(&mut ws, "hello");
    std::thread::sleep(Duration::from_secs(3));
    echo(&mut ws, "still here");

    // SSE: the first event arrives before the stream ends (3 s later).
    let mut sse = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    write!(
        sse,
        "GET /sse HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: one") {
        let n = sse.read(&mut buf).unwrap();
        assert!(n > 0, "ended before the first event");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "first event not held back"
    );
    sse.read_to_end(&mut seen).unwrap();
    assert!(String::from_utf8_lossy(&seen).contains("data: two"));

    // A 20 MB upload.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), vec![b'x'; 20 * 1024 * 1024]).unwrap();
    let url = format!("http://{a}:{}/upload", proxy.port);
    let data = format!("@{}", file.path().display());
    let body = proxy.curl(&a, &["--data-binary", &data, &url]);
    assert_eq!(body, "received 20971520");

    // HTTPS on the same port, with the local CA made on first use.
    let url = format!("https://{a}:{}/", proxy.port);
    let first = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--resolve"])
        .arg(format!("{a}:{}:127.0.0.1", proxy.port))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        !first.status.success(),
        "an untrusted CA is refused by default"
    );
    let ca = proxy.state.path().join("dev-prism/ca.pem");
    let body = proxy.curl(&a, &["--cacert", &ca.to_string_lossy(), &url]);
    assert_eq!(field(&body, "xfp"), "https", "{body}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ca.with_file_name("ca-key.pem")), 0o600);
    assert_eq!(mode(ca.parent().unwrap()), 0o700);
    let trust = ok(&proxy.dp(&["proxy", "trust"]));
    assert!(trust.contains(&ca.display().to_string()), "{trust}");
}

#[test]
fn proxy_start_runs_detached_and_stop_ends_only_the_recorded_proxy() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = Proxy::env_of(port, state.path());
    let dp = |args: &[&str]| {
        dp_command(Path::new("/"), args, &[])
            .envs(env.clone())
            .output()
            .unwrap()
    };
    let started = ok(&dp(&["proxy", "start"]));
    let dir = state.path().join("dev-prism");
    let pid = recorded_pid(&dir, port);
    // Stopped by pid even when an assertion below fails.
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: kill(2) on the proxy this test started.
            unsafe { libc::kill(self.0 as i32, libc::SIGTERM) };
        }
    }
    let _kill = Kill(pid);
    assert!(started.contains(&format!("pid {pid}")), "{started}");
    // Its own session: no terminal's signals reach it.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(fields[3], pid.to_string(), "session id = its pid: {stat}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(format!("proxy-{port}.pid"))), 0o600);
    assert_eq!(mode(&dir.join(format!("proxy-{port}.log"))), 0o600);
    assert!(ok(&dp(&["proxy", "start"])).contains(&format!("already runs (pid {pid})")));
    assert!(ok(&dp(&["proxy", "status"])).starts_with(&format!("running (pid {pid})")));

    // A pid file naming another process: stop refuses and that process lives on.
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(
        dir.join(format!("proxy-{port}.pid")),
        other.id().to_string(),
    )
    .unwrap();
    let refused = dp(&["proxy", "stop"]);
    assert!(!refused.status.success(), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("not the dev-prism proxy"),
        "{}",
        stderr(&refused)
    );
    assert!(
        other.try_wait().unwrap().is_none(),
        "the other process lives"
    );
    let _ = other.kill();
    let _ = other.wait();

    std::fs::write(dir.join(format!("proxy-{port}.pid")), pid.to_string()).unwrap();
    assert!(ok(&dp(&["proxy", "stop"])).contains(&format!("stopped the proxy (pid {pid})")));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        }
    );
    assert!(ok(&dp(&["proxy", "status"])).starts_with("not running"));

    // A state directory others may open is refused (it holds the CA's key).
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let refused = dp(&["proxy", "start"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("0700"), "{}", stderr(&refused));
}

/// The pid `proxy start` recorded for `port` in the state directory `dir`.
fn recorded_pid(dir: &Path, port: u16) -> u32 {
    std::fs::read_to_string(dir.join(format!("proxy-{port}.pid")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Loads each URL in turn in ONE headless Chromium context (cookies kept between pages) and
/// returns each page's text, with Playwright from `target/mcp-venv` (CI installs it there) or
/// `python3`. `None` when Chromium or Playwright is missing (a failure under
/// `DEV_PRISM_REQUIRE_DOCKER=1`).
fn browse(urls: &[String]) -> Option<Vec<String>> {
    const SCRIPT: &str = r#"
import json, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = b.new_context().new_page()
    out = []
    for url in json.loads(sys.argv[1]):
        page.goto(url)
        out.append(page.inner_text("body"))
    b.close()
print(json.dumps(out))
"#;
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-venv/bin/python");
    let python = if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".to_string()
    };
    let have = Path::new("/usr/bin/chromium").exists()
        && Command::new(&python)
            .args(["-c", "import playwright"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !needs("Chromium (/usr/bin/chromium) and Playwright (pip)", have) {
        return None;
    }
    let out = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(serde_json::to_string(urls).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "playwright: {}", stderr(&out));
    Some(serde_json::from_str(&stdout(&out)).unwrap())
}

#[test]
fn proxy_names_keep_two_sessions_cookies_apart_in_a_browser() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let shop = Shop::new(&["a", "b"]);
    let (dir_a, dir_b) = (shop.create("a"), shop.create("b"));
    let proxy = Proxy::start();
    let port = |dir: &Path| env_vars(&dir.join(".env.session"))["WEB_PORT"].clone();
    let by_name = |b: &str, path: &str| format!("http://{}:{}{path}", shop.name(b), proxy.port);
    let direct = |dir: &Path, path: &str| format!("http://127.0.0.1:{}{path}", port(dir));
    let Some(pages) = browse(&[
        by_name("a", "/setcookie"),
        by_name("b", "/"),
        by_name("a", "/"),
        direct(&dir_a, "/setcookie"),
        direct(&dir_b, "/"),
    ]) else {
        return;
    };
    let who_a = field(&pages[2], "name");
    assert!(!who_a.is_empty(), "{pages:?}");
    assert_eq!(
        field(&pages[2], "cookie"),
        format!("who={who_a}"),
        "a keeps its cookie"
    );
    assert_eq!(
        field(&pages[1], "cookie"),
        "",
        "b never gets a's cookie: {pages:?}"
    );
    // The control: by port, the two sessions share one cookie jar.
    assert_eq!(
        field(&pages[4], "cookie"),
        format!("who={who_a}"),
        "{pages:?}"
    );
}

/// A stand-in engine on a unix socket: `/version`, `/containers/json` (one running dev-prism
/// container while `running` is set, else none) and `/events` (an empty stream); once `gone`
/// is set it answers nothing (every connection closed at once: an engine that went away).
fn fake_engine(
    socket: &Path,
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    gone: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (running, gone) = (running.clone(), gone.clone());
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    if gone.load(std::sync::atomic::Ordering::SeqCst)
                        || std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0
                        || gone.load(std::sync::atomic::Ordering::SeqCst)
                    {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    loop {
                        let mut h = String::new();
                        if std::io::BufRead::read_line(&mut reader, &mut h).unwrap_or(0) == 0
                            || h.trim().is_empty()
                        {
                            break;
                        }
                    }
                    let body = if path.contains("/version") {
                        r#"{"ApiVersion":"1.43","MinAPIVersion":"1.12","Version":"24.0.0"}"#.into()
                    } else if path.contains("/containers/json")
                        && running.load(std::sync::atomic::Ordering::SeqCst)
                    {
                        r#"[{"Id":"fake","Names":["/fake"],"State":"running","Status":"Up 1 second","Labels":{"dev-prism.managed":"true","dev-prism.service":"web"},"Ports":[]}]"#.to_string()
                    } else {
                        "[]".to_string()
                    };
                    let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.43\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
        }
    })
}

#[test]
fn proxy_ends_by_itself_once_no_session_has_run_for_the_idle_time() {
    ends_when_idle(false);
}

/// An engine that stops answering (a removed context, a stopped VM) counts as no session
/// running: the background proxy does not outlive it forever.
#[test]
fn proxy_ends_by_itself_once_its_engine_has_not_answered_for_the_idle_time() {
    ends_when_idle(true);
}

/// A proxy with a session running stays past its idle time; then the session stops (or, with
/// `engine_goes`, the engine stops answering) and it ends by itself.
fn ends_when_idle(engine_goes: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("docker.sock");
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _engine = fake_engine(&socket, running.clone(), gone.clone());
    let port = free_port();
    let mut child = dp_command(Path::new("/"), &["proxy"], &[])
        .envs(Proxy::env_of(port, tmp.path()))
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("DEV_PRISM_PROXY_IDLE_EXIT", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Reap<'a>(&'a mut Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Reap(&mut child);
    // A session runs: the proxy stays well past its idle time.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        guard.0.try_wait().unwrap().is_none(),
        "ended while a session ran"
    );
    // None runs any more, or the engine is gone: it ends by itself, exit 0, saying why.
    if engine_goes {
        gone.store(true, std::sync::atomic::Ordering::SeqCst);
    } else {
        running.store(false, std::sync::atomic::Ordering::SeqCst);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never ended");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut said = String::new();
    guard
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert!(said.contains("no session has run"), "{said}");
    assert_eq!(said.contains("does not answer"), engine_goes, "{said}");
    assert!(
        !tmp.path()
            .join(format!("dev-prism/proxy-{port}.pid"))
            .exists(),
        "its pid file goes with it"
    );
}

/// `proxy stop` knows the proxy by its endpoint probe, which it answers without listing the
/// sessions: a proxy whose engine went away (a stopped VM, a removed context) is still stopped.
/// Control: a pid file naming another process, on a port something else answers (HTTP, but not
/// the proxy), is refused and that process lives on.
#[test]
fn proxy_stop_ends_a_proxy_whose_engine_is_gone_and_still_refuses_another_server() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("docker.sock");
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _engine = fake_engine(&socket, running, gone.clone());
    let host = format!("unix://{}", socket.display());
    let dp = |port: u16, args: &[&str]| {
        dp_command(Path::new("/"), args, &[("DOCKER_HOST", &host)])
            .envs(Proxy::env_of(port, tmp.path()))
            .output()
            .unwrap()
    };
    let port = free_port();
    let started = ok(&dp(port, &["proxy", "start"]));
    let dir = tmp.path().join("dev-prism");
    let pid_file = dir.join(format!("proxy-{port}.pid"));
    let pid = recorded_pid(&dir, port);
    // Ended by pid even when an assertion below fails (a no-op once stopped: nothing is
    // signalled unless that pid is still the proxy this test started).
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.0)).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("proxy") {
                // SAFETY: kill(2) on the proxy this test started.
                unsafe { libc::kill(self.0 as i32, libc::SIGTERM) };
            }
        }
    }
    let _kill = Kill(pid);
    assert!(started.contains(&format!("pid {pid}")), "{started}");

    // The engine goes away: every connection to it is closed at once. Once its cached
    // table is stale, the proxy's status (the names) cannot be listed any more.
    gone.store(true, std::sync::atomic::Ordering::SeqCst);
    let status_head = || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: _dev-prism\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.lines().next().unwrap_or_default().to_string()
    };
    wait_for(|| status_head().contains(" 503 ").then_some(()));
    let stopped = dp(port, &["proxy", "stop"]);
    assert!(
        ok(&stopped).contains(&format!("stopped the proxy (pid {pid})")),
        "{}",
        stdout(&stopped)
    );
    let ended = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .is_none_or(|(_, r)| r.trim_start().starts_with('Z'))
    };
    assert!(ended(pid), "the proxy (pid {pid}) still runs");
    assert!(!pid_file.exists(), "its pid file is removed");
    assert!(ok(&dp(port, &["proxy", "status"])).starts_with("not running"));

    // Control: another HTTP server on a port, a pid file naming another process.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let body = r#"{"ok":true}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    struct Reap<'a>(&'a mut Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let other_pid = other.id();
    let other = Reap(&mut other);
    let other_file = dir.join(format!("proxy-{other_port}.pid"));
    std::fs::write(&other_file, other_pid.to_string()).unwrap();
    let refused = dp(other_port, &["proxy", "stop"]);
    assert!(!refused.status.success(), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains(&format!(
            "pid {other_pid} (recorded in {}) is not the dev-prism proxy answering on port {other_port}",
            other_file.display()
        )),
        "{}",
        stderr(&refused)
    );
    assert!(
        other.0.try_wait().unwrap().is_none(),
        "the other process lives"
    );
    assert!(other_file.exists(), "its pid file is left as it was");
}

/// A service at port 80 of the test image, for tests that need names but no upstream.
const WEB: &str = "services:\n  web:\n    image: dev-prism-test-busybox:2\n    command: [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n    ports: [\"80\"]\n    stop_grace_period: 1s\n";

/// dev-prism in `dir` with the proxy's port and state directory set.
fn dp_at(repo: &Repo, dir: &Path, args: &[&str], port: u16, state: &Path) -> Command {
    let state = state.to_string_lossy().into_owned();
    let mut c = dp_command(dir, args, &[("DEV_PRISM_COMPOSE", repo.flavor.env())]);
    c.env("DEV_PRISM_PROXY_PORT", port.to_string())
        .env("XDG_STATE_HOME", state);
    c
}

/// The unix socket the engine listens on (DOCKER_HOST when it names one).
fn engine_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// A unix socket at `path` relaying every connection to the engine's socket: the same engine
/// at another endpoint. Its thread ends with the test process.
fn relay(path: &Path) {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(engine) = std::os::unix::net::UnixStream::connect(engine_socket()) else {
                continue;
            };
            let (mut c2, mut e2) = (client.try_clone().unwrap(), engine.try_clone().unwrap());
            let (mut c, mut e) = (client, engine);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c, &mut e);
                let _ = e.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut e2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

#[test]
fn a_create_on_another_engine_than_the_proxys_keeps_direct_urls_and_says_why() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::named(Flavor::V2, WEB, "pxe");
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("engine.sock");
    relay(&sock);
    let other = format!("unix://{}", sock.display());
    let port = free_port();
    let proxy = Proxy::start_env(
        port,
        tempfile::tempdir().unwrap(),
        &[("DOCKER_HOST", &other)],
    );
    let status = proxy.status();
    assert!(status.contains(&other), "status names its engine: {status}");

    let out = dp_at(
        &repo,
        &repo.path,
        &["create", "-q", "--branch", "far"],
        port,
        proxy.state.path(),
    )
    .output()
    .unwrap();
    let dir = PathBuf::from(ok(&out).lines().next().unwrap().trim());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("serves the engine at {other}")) && err.contains("direct URLs"),
        "{err}"
    );
    let url = &env_vars(&dir.join(".env.session"))["WEB_URL"];
    assert!(url.starts_with("http://127.0.0.1:"), "direct: {url}");

    // Control: with the proxy gone, the next create starts one for its own engine and gets a
    // name.
    drop(proxy);
    let state = tempfile::tempdir().unwrap();
    let out = dp_at(
        &repo,
        &repo.path,
        &["create", "-q", "--branch", "near"],
        port,
        state.path(),
    )
    .output()
    .unwrap();
    let near = PathBuf::from(ok(&out).lines().next().unwrap().trim());
    let url = &env_vars(&near.join(".env.session"))["WEB_URL"];
    assert!(url.starts_with("http://web.near."), "named: {url}");
    assert!(!stderr(&out).contains("direct URLs"), "{}", stderr(&out));
    // The far session keeps no name now that names would answer (fixed at create): `plan`
    // says how to give it one, `heal` recreates nothing and its URL stays direct.
    let out = dp_at(&repo, &dir, &["plan"], port, state.path())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(said.contains("has no proxy name"), "{said}");
    ok(&dp_at(&repo, &dir, &["heal"], port, state.path())
        .output()
        .unwrap());
    let url = &env_vars(&dir.join(".env.session"))["WEB_URL"];
    assert!(url.starts_with("http://127.0.0.1:"), "still direct: {url}");
    let _ = dp_at(&repo, &repo.path, &["proxy", "stop"], port, state.path()).output();
}

#[test]
fn parallel_creates_never_pick_the_same_name() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::named(Flavor::V2, WEB, "pxn");
    let port = free_port();
    let state = tempfile::tempdir().unwrap();
    // `x_y` and `x-y` lower to the same DNS label: one of them is numbered.
    let children: Vec<_> = ["x_y", "x-y"]
        .iter()
        .map(|b| {
            dp_at(
                &repo,
                &repo.path,
                &["create", "-q", "--branch", b],
                port,
                state.path(),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut urls = vec![];
    for child in children {
        let out = child.wait_with_output().unwrap();
        let dir = PathBuf::from(ok(&out).lines().next().unwrap().trim());
        urls.push(env_vars(&dir.join(".env.session"))["WEB_URL"].clone());
    }
    urls.sort();
    let project = repo
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    assert_eq!(
        urls,
        vec![
            format!("http://web.x-y-2.{project}.localhost:{port}"),
            format!("http://web.x-y.{project}.localhost:{port}"),
        ]
    );
    let _ = dp_at(&repo, &repo.path, &["proxy", "stop"], port, state.path()).output();
}
