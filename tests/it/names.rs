//! The sessions' proxy names (DESIGN §10): fixed at create, unique within the project, kept by
//! stop/start, written into `.env.session` and `list --json` whether or not the proxy answers.

use std::io::{Read, Write};

use crate::support::*;

/// A program that is not dev-prism's proxy holding a port: answers every request with a
/// plain 200 and no proxy header.
fn squatter() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nServer: other\r\n\r\nnot a proxy");
        }
    });
    port
}

#[test]
fn names_are_unique_in_the_project_and_survive_stop_and_start() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let port = squatter().to_string();
    let env = [
        ("DEV_PRISM_COMPOSE", Flavor::V2.env()),
        ("DEV_PRISM_PROXY_PORT", port.as_str()),
    ];
    let dp = |dir: &std::path::Path, args: &[&str]| dp_env(dir, args, &env);
    // Two branches whose directories lower to the same name.
    let first = dp(&repo.path, &["create", "--branch", "Feat_X"]);
    ok(&first);
    assert!(
        stderr(&first).contains(&format!("port {port} is held by another program")),
        "{}",
        stderr(&first)
    );
    ok(&dp(&repo.path, &["create", "--branch", "feat-x"]));
    let (a, b) = (
        repo.sessions_dir().join("Feat_X"),
        repo.sessions_dir().join("feat-x"),
    );
    let project = repo.path.file_name().unwrap().to_string_lossy().to_string();
    let url = |dir: &std::path::Path| env_vars(&dir.join(".env.session"))["WEB_URL"].clone();
    assert_eq!(
        url(&a),
        format!("http://web.feat-x.{project}.localhost:{port}")
    );
    assert_eq!(
        url(&b),
        format!("http://web.feat-x-2.{project}.localhost:{port}")
    );
    // Not a web port: no URL variable.
    assert!(!env_vars(&a.join(".env.session")).contains_key("ECHO_URL"));

    // `list --json`: the name beside the direct URL.
    let list: serde_json::Value =
        serde_json::from_slice(&ok_bytes(&dp(&repo.path, &["--json", "list"]))).unwrap();
    let session = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["dir"] == b.to_string_lossy().as_ref())
        .expect("the session is listed");
    let web = session["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web")
        .unwrap();
    assert_eq!(web["ports"][0]["proxy_url"], url(&b).as_str());
    assert!(web["ports"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let echo = session["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "echo")
        .unwrap();
    assert!(echo["ports"][0].get("proxy_url").is_none(), "{echo}");

    // Stop and start: the second session keeps `feat-x-2` (the containers carry it), though
    // its own directory would lower to the first one's name.
    ok(&dp(&b, &["stop"]));
    ok(&dp(&b, &["start"]));
    assert_eq!(
        url(&b),
        format!("http://web.feat-x-2.{project}.localhost:{port}")
    );
    let plan = ok(&dp(&b, &["plan"]));
    assert!(plan.contains("No changes."), "{plan}");
}

fn ok_bytes(o: &std::process::Output) -> Vec<u8> {
    ok(o);
    o.stdout.clone()
}

#[test]
fn a_session_made_without_names_is_named_only_when_its_containers_are_made_and_unnamed_when_the_proxy_is_off(
) {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let port = squatter().to_string();
    let env = [
        ("DEV_PRISM_COMPOSE", Flavor::V2.env()),
        ("DEV_PRISM_PROXY_PORT", port.as_str()),
    ];
    let dp = |args: &[&str]| dp_env(&repo.path, args, &env);
    // Made without names (as a session from before them): direct URLs, no proxy contacted.
    repo.write("session.config.yaml", "proxy: {enabled: false}\n");
    let created = dp(&["create", "--in-place"]);
    ok(&created);
    assert!(!stderr(&created).contains("proxy"), "{}", stderr(&created));
    let vars = env_vars(&repo.path.join(".env.session"));
    assert_eq!(
        vars["WEB_URL"],
        format!("http://127.0.0.1:{}", vars["WEB_PORT"])
    );
    // The proxy turned on: the name is fixed when containers are made, so the running
    // session is not recreated for one (nor by `heal` on a checkout); plan and apply say how
    // to give it one.
    repo.write("session.config.yaml", "proxy: {domain: dev.test}\n");
    let planned = dp(&["plan"]);
    let plan = ok(&planned);
    assert!(plan.contains("No changes."), "{plan}");
    let note = stderr(&planned);
    assert!(note.contains("has no proxy name"), "{note}");
    ok(&dp(&["heal"]));
    ok(&dp(&["apply"]));
    let vars = env_vars(&repo.path.join(".env.session"));
    assert_eq!(
        vars["WEB_URL"],
        format!("http://127.0.0.1:{}", vars["WEB_PORT"])
    );
    // What the note says: its containers removed (volumes stay), apply makes them with a name.
    let project = note
        .split("docker compose -p ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let down = std::process::Command::new("docker")
        .args(["compose", "-p", &project, "down"])
        .current_dir(&repo.path)
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    ok(&dp(&["apply"]));
    let name = repo.path.file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(
        env_vars(&repo.path.join(".env.session"))["WEB_URL"],
        format!("http://web.{name}.{name}.dev.test:{port}")
    );
    let plan = ok(&dp(&["plan"]));
    assert!(plan.contains("No changes."), "{plan}");
    // And off again: the name goes, the direct URL comes back.
    repo.write("session.config.yaml", "proxy: {enabled: false}\n");
    ok(&dp(&["apply"]));
    let vars = env_vars(&repo.path.join(".env.session"));
    assert_eq!(
        vars["WEB_URL"],
        format!("http://127.0.0.1:{}", vars["WEB_PORT"])
    );
}
