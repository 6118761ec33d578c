//! Remote engines, stood in for by this machine: an sshd on 127.0.0.1 on a non-22 port with a
//! generated key (`DOCKER_HOST=ssh://user@127.0.0.1:PORT`), and a TLS endpoint with generated
//! certificates in front of the local socket (`tcp://` with `DOCKER_TLS_VERIFY`). Each test
//! starts and stops its own daemon; no other sshd or proxy is touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

const TINY: &str = r#"services:
  app:
    image: dev-prism-test-busybox:2
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["80"]
"#;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
}

/// A daemon this test started: killed (by its own pid) when the test ends, however it ends.
pub(crate) struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(addr: &str, port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect((addr, port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {addr}:{port}");
}

/// An sshd on 127.0.0.1:PORT accepting a generated key, and an `ssh` wrapper (first on PATH)
/// that uses it: what a user's `~/.ssh/config` would do for a real remote host.
pub(crate) fn sshd(dir: &Path) -> (Daemon, u16, String) {
    sshd_on(dir, "127.0.0.1")
}

/// [`sshd`] listening on `addr`.
pub(crate) fn sshd_on(dir: &Path, addr: &str) -> (Daemon, u16, String) {
    sshd_with(dir, addr, &[])
}

/// [`sshd_on`] with more `-o` options.
fn sshd_with(dir: &Path, addr: &str, options: &[&str]) -> (Daemon, u16, String) {
    let key = |name: &str| {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(name)));
    };
    key("host_key");
    key("client_key");
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    let _ = std::fs::create_dir_all("/run/sshd");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("ssh"),
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -i '{}' -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \"$@\"\n",
            dir.join("client_key").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let sshd = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-e")
        .args(["-p", &port.to_string(), "-h"])
        .arg(dir.join("host_key"))
        .arg("-o")
        .arg(format!("ListenAddress={addr}"))
        .arg("-o")
        .arg(format!(
            "AuthorizedKeysFile={}",
            dir.join("authorized_keys").display()
        ))
        .arg("-o")
        .arg(format!("PidFile={}", dir.join("sshd.pid").display()))
        .args(["-o", "StrictModes=no", "-o", "UsePAM=no"])
        .args(["-o", "PasswordAuthentication=no"])
        .args(options.iter().flat_map(|o| ["-o", o]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon(sshd);
    wait_for_port(addr, port);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (daemon, port, path)
}

pub(crate) fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_ssh_engine_on_another_port_runs_sessions() {
    if !docker_ready(Flavor::V2) || !needs_program("/usr/sbin/sshd") || !needs_program("ssh-keygen")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_sshd, port, path) = sshd(tmp.path());
    let host = format!("ssh://{}@127.0.0.1:{port}", user());
    for flavor in [Flavor::V2, Flavor::V1] {
        if !docker_ready(flavor) {
            continue;
        }
        let repo = Repo::new(flavor, TINY);
        let dir = &repo.path;
        let env = [
            ("DOCKER_HOST", host.as_str()),
            ("PATH", path.as_str()),
            ("DEV_PRISM_COMPOSE", flavor.env()),
        ];
        ok(&dp_env(dir, &["create", "--in-place", "-q"], &env));
        let listed = ok(&dp_env(dir, &["list", "--all"], &env));
        assert!(listed.contains(&dir.display().to_string()), "{listed}");
        let info = ok(&dp_env(dir, &["info"], &env));
        assert!(info.contains("APP_PORT"), "{info}");
        let doctor = stdout(&dp_env(dir, &["doctor"], &env));
        assert!(doctor.contains("transport: ssh"), "{doctor}");
        ok(&dp_env(dir, &["destroy", "-q"], &env));
        assert!(containers_under(&repo.root).is_empty());
    }
    // A wrong port names ssh's own reason.
    let repo = Repo::new(Flavor::V2, TINY);
    let bad = format!("ssh://{}@127.0.0.1:{}", user(), free_port());
    let out = dp_env(
        &repo.path,
        &["list"],
        &[("DOCKER_HOST", bad.as_str()), ("PATH", path.as_str())],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("ssh says"), "{}", stderr(&out));
}

/// ssh to a Podman socket: the remote's `docker system dial-stdio` reaches Podman when its
/// `docker` CLI points there (a docker context or DOCKER_HOST on the remote; here sshd's
/// `SetEnv` names the socket of the tests' engine). Runs where that engine is Podman on a local
/// socket (.ci/run's rootful Podman run).
#[test]
fn an_ssh_engine_reaches_a_podman_socket() {
    if !docker_ready(Flavor::V2) || !needs_program("/usr/sbin/sshd") || !needs_program("ssh-keygen")
    {
        return;
    }
    let socket = std::env::var("DOCKER_HOST").unwrap_or_default();
    if !crate::podman::on_podman_only() {
        return;
    }
    assert!(
        socket.starts_with("unix://"),
        "a local Podman socket: {socket}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let set_env = format!("SetEnv=DOCKER_HOST={socket}");
    let (_sshd, port, path) = sshd_with(tmp.path(), "127.0.0.1", &[&set_env]);
    let host = format!("ssh://{}@127.0.0.1:{port}", user());
    let repo = Repo::new(Flavor::V2, TINY);
    let dir = &repo.path;
    let env = [
        ("DOCKER_HOST", host.as_str()),
        ("PATH", path.as_str()),
        ("DEV_PRISM_COMPOSE", "v2"),
    ];
    let doctor = stdout(&dp_env(dir, &["doctor"], &env));
    assert!(
        doctor.contains("transport: ssh") && doctor.contains("reachable; Podman "),
        "{doctor}"
    );
    ok(&dp_env(dir, &["create", "--in-place", "-q"], &env));
    let info = ok(&dp_env(dir, &["info"], &env));
    assert!(info.contains("APP_PORT"), "{info}");
    // Through the tunnel too, one list call: Podman's own.
    let listed = dp_env(dir, &["-v", "list"], &env);
    let err = stderr(&listed);
    let calls: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("containers/json"))
        .collect();
    assert!(
        calls.len() == 1 && calls[0].contains("Podman API: GET /libpod/containers/json"),
        "{err}"
    );
    ok(&dp_env(dir, &["destroy", "-q"], &env));
    assert!(containers_under(&repo.root).is_empty());
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as `docker` expects
/// them in DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dp-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    for (name, subject, ext) in [
        (
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "/CN=client", "extendedKeyUsage=clientAuth\n"),
    ] {
        let (key, cert) = match name {
            "server" => ("server-key.pem", "server.pem"),
            _ => ("key.pem", "cert.pem"),
        };
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("{ext}authorityKeyIdentifier=keyid,issuer\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            key,
            "-out",
            &format!("{name}.csr"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            cert,
        ]);
    }
}

#[test]
fn a_tls_engine_runs_sessions() {
    if !docker_ready(Flavor::V2) || !needs_program("socat") || !needs_program("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let certs: PathBuf = tmp.path().to_path_buf();
    certificates(&certs);
    let port = free_port();
    // The proxy does not ask for the client's certificate: socat's OpenSSL refuses a resumed
    // session when it does (no session id context); the client still presents it.
    let proxy = Command::new("socat")
        .current_dir(&certs)
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert=server.pem,key=server-key.pem,verify=0"
        ))
        .arg("UNIX-CONNECT:/var/run/docker.sock")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _proxy = Daemon(proxy);
    wait_for_port("127.0.0.1", port);
    let repo = Repo::new(Flavor::V2, TINY);
    let dir = &repo.path;
    let host = format!("tcp://127.0.0.1:{port}");
    let cert_path = certs.display().to_string();
    let env = [
        ("DOCKER_HOST", host.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", cert_path.as_str()),
        ("DEV_PRISM_COMPOSE", "v2"),
    ];
    ok(&dp_env(dir, &["create", "--in-place", "-q"], &env));
    let listed = ok(&dp_env(dir, &["list", "--all"], &env));
    assert!(listed.contains(&dir.display().to_string()), "{listed}");
    ok(&dp_env(dir, &["destroy", "-q"], &env));
    assert!(containers_under(&repo.root).is_empty());
    // Compose v1 cannot verify this engine: refused clearly, before anything is made.
    let mut v1 = env;
    v1[3] = ("DEV_PRISM_COMPOSE", "v1");
    let out = dp_env(dir, &["create", "--in-place", "-q"], &v1);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Compose v1") && stderr(&out).contains("TLS engine"),
        "{}",
        stderr(&out)
    );
    assert!(containers_under(&repo.root).is_empty());
    // Certificates the engine's CA did not sign are refused, with the cause.
    let other = tempfile::tempdir().unwrap();
    certificates(other.path());
    let other_path = other.path().display().to_string();
    let out = dp_env(
        dir,
        &["list"],
        &[
            ("DOCKER_HOST", host.as_str()),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", other_path.as_str()),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
