//! What people and agents read: human output (normalised), JSON documents per command, no
//! escape codes off a terminal, env/exec, doctor, completions and man page.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// Host ports: 4+ digits right after `:` or `=`.
fn mask_ports(s: &str) -> String {
    let mut r = String::new();
    let mut chars = s.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() && (prev == ':' || prev == '=') {
            let mut digits = c.to_string();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            r.push_str(if digits.len() >= 4 { "<PORT>" } else { &digits });
            prev = 'x';
            continue;
        }
        r.push(c);
        prev = c;
    }
    r
}

/// Replaces the temp root, host ports, hashes and times so output can be pinned.
fn normalise(text: &str, root: &Path) -> String {
    let mut out = text.replace(&*root.to_string_lossy(), "<ROOT>");
    out = mask_ports(&out);
    // `<name>-<16 hex>` project names (8 hex: sessions named by earlier versions).
    let words: Vec<String> = out
        .split_inclusive(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .map(|w| {
            let core = w.trim_end_matches(|c: char| c.is_whitespace() || c == '(' || c == ')');
            let rest = &w[core.len()..];
            match core.rsplit_once('-') {
                Some((_, h))
                    if (h.len() == 16 || h.len() == 8)
                        && h.chars().all(|c| c.is_ascii_hexdigit())
                        && core.starts_with("app") =>
                {
                    format!("<PROJECT>{rest}")
                }
                _ => w.to_string(),
            }
        })
        .collect();
    out = words.concat();
    out
}

fn created(o: &std::process::Output) -> PathBuf {
    PathBuf::from(ok(o).lines().next().unwrap())
}

#[test]
fn human_output_of_list_info_and_plan() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let create = repo.dp(&repo.path, &["create", "--branch", "demo"]);
    assert!(
        !stderr(&create).contains('\x1b'),
        "no animation or colour off a terminal"
    );
    assert!(
        stderr(&create).contains("Applied 5 step(s) in "),
        "{}",
        stderr(&create)
    );
    let dir = created(&create);
    let info = normalise(&ok(&repo.dp(&dir, &["info"])), &repo.root);
    let name = repo
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        info,
        format!(
            "Session:  <ROOT>/{name}-sessions/demo\nBranch:   demo\nProject:  <PROJECT>\nStatus:   running (2/2 containers running)\nAge:      now\nIdle:     now\n\n\
             Services:\n  echo             running              7000 → 127.0.0.1:<PORT>, 7001 → 127.0.0.1:<PORT>\n\
             \x20 web              running (healthy)    80 → http://web.demo.{name}.localhost:<PORT> (127.0.0.1:<PORT>)\n\n\
             Ports (.env.session):\n  ECHO_PORT=<PORT>\n  ECHO_7001_PORT=<PORT>\n  WEB_PORT=<PORT>\n\
             \x20 WEB_URL=http://web.demo.{name}.localhost:<PORT>\n"
        )
    );
    // Other sessions on the engine (longer directories and branches) widen the columns: read
    // this session's row by its columns, not by its padding (positions before normalising).
    let list = ok(&repo.dp(&repo.path, &["list"]));
    let header = list.lines().next().unwrap();
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("{} ", dir.display())))
        .unwrap_or_else(|| panic!("{list}"));
    let column = |title: &str| {
        let at = header.find(title).unwrap();
        let cell = line[at..].split("  ").next().unwrap().trim();
        normalise(cell, &repo.root)
    };
    assert_eq!(
        (column("BRANCH"), column("STATUS"), column("CONTAINERS")),
        ("demo".into(), "running".into(), "2/2".into()),
        "{list}"
    );
    assert_eq!(
        normalise(&line[header.find("PORTS").unwrap()..], &repo.root),
        format!("echo → 127.0.0.1:<PORT>, echo:<PORT> → 127.0.0.1:<PORT>, web → http://web.demo.{name}.localhost:<PORT> (127.0.0.1:<PORT>)"),
        "{list}"
    );
    assert!(
        header.starts_with("DIRECTORY ") && header.contains("  BRANCH  "),
        "{list}"
    );
    std::fs::remove_file(dir.join(".env.session")).unwrap();
    let plan = normalise(&ok(&repo.dp(&dir, &["plan"])), &repo.root);
    assert_eq!(
        plan,
        format!(
            "Changed outside dev-prism:\n  ! file .env.session was deleted\n\nSymbols:\n    + create\n\n\
             dev-prism will perform these actions in <ROOT>/{name}-sessions/demo (project <PROJECT>):\n\n\
             \x20   + file .env.session  (because it does not exist)\n\n\
             Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy, 0 to run.\n"
        )
    );
    // Off a terminal: no escape codes anywhere, stdout or stderr.
    for args in [&["info"][..], &["list"], &["plan", "--diff"], &["doctor"]] {
        let o = repo.dp(&dir, args);
        assert!(
            !stdout(&o).contains('\x1b') && !stderr(&o).contains('\x1b'),
            "{args:?}"
        );
    }
    // --color always forces them; NO_COLOR does not fight an explicit choice.
    let o = dp_env(&dir, &["--color", "always", "list"], &[("NO_COLOR", "1")]);
    assert!(stdout(&o).contains("\x1b[32m"), "{}", stdout(&o));
}

#[test]
fn json_documents_for_every_command() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let plan = json_of(&repo.dp(&repo.path, &["--json", "plan"]));
    assert_eq!(plan["schema"], "dev-prism/2");
    assert_eq!(plan["command"], "plan");
    assert_eq!(plan["changes"], true);
    assert_eq!(plan["summary"]["add"], 4);
    assert_eq!(plan["steps"][0]["glyph"], "+");
    assert_eq!(plan["steps"][3]["known_after_apply"], true);

    let created = json_of(&repo.dp(&repo.path, &["--json", "create", "--branch", "j"]));
    assert_eq!(created["command"], "create");
    let s = &created["session"];
    let dir = PathBuf::from(s["dir"].as_str().unwrap());
    assert_eq!(s["branch"], "j");
    assert_eq!(s["status"], "running");
    assert_eq!(s["services"][1]["name"], "web");
    assert_eq!(s["services"][1]["health"], "healthy");
    let web_port = s["services"][1]["ports"][0]["host_port"].as_u64().unwrap();
    assert_eq!(s["services"][1]["ports"][0]["container_port"], 80);
    assert_eq!(
        s["services"][1]["ports"][0]["url"],
        format!("http://127.0.0.1:{web_port}")
    );
    // Its name through the proxy (on by default), beside the direct URL.
    let name = repo
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        s["services"][1]["ports"][0]["proxy_url"],
        format!("http://web.j.{name}.localhost:7355")
    );
    assert_eq!(
        s["vars"]["WEB_URL"],
        format!("http://web.j.{name}.localhost:7355")
    );
    assert_eq!(s["services"][1]["ports"][0]["host"], "127.0.0.1");
    assert_eq!(s["services"][1]["ports"][0]["port"], web_port);
    assert_eq!(s["services"][1]["ports"][0]["protocol"], "tcp");
    // The echo service's ports are not web ports: no URL.
    assert!(s["services"][0]["ports"][0].get("url").is_none(), "{s}");
    assert_eq!(s["vars"]["SESSION_HOST"], "127.0.0.1");
    assert_eq!(s["vars"]["WEB_PORT"], web_port.to_string());
    assert_eq!(s["env_file"], format!("{}/.env.session", dir.display()));

    let info = json_of(&repo.dp(&dir, &["--json", "info"]));
    assert_eq!(info["session"]["project"], s["project"]);
    assert_eq!(info["healed"], serde_json::json!([]));
    let list = json_of(&repo.dp(&repo.path, &["--json", "list"]));
    assert!(list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["dir"] == s["dir"]));
    let plan = json_of(&repo.dp(&dir, &["--json", "plan"]));
    assert_eq!(plan["changes"], false);
    let heal = json_of(&repo.dp(&dir, &["--json", "heal", "--check"]));
    assert_eq!(
        (heal["command"].as_str(), heal["changes"].as_bool()),
        (Some("heal"), Some(false))
    );
    let apply = json_of(&repo.dp(&dir, &["--json", "apply"]));
    assert_eq!(apply["session"]["status"], "running");
    let env = json_of(&repo.dp(&dir, &["--json", "env"]));
    assert_eq!(env["vars"]["WEB_PORT"], web_port.to_string());
    let stop = json_of(&repo.dp(&dir, &["--json", "stop"]));
    assert_eq!(stop["command"], "stop");
    assert!(stop["applied"].as_array().unwrap().len() >= 2);
    let start = json_of(&repo.dp(&dir, &["--json", "start"]));
    assert_eq!(start["session"]["status"], "running");
    let destroy = json_of(&repo.dp(&repo.path, &["--json", "destroy", &dir.to_string_lossy()]));
    assert_eq!(destroy["command"], "destroy");
    assert_eq!(destroy["kept"], serde_json::json!([]));

    // Errors in JSON mode are JSON too, on stdout, with the same exit code.
    let o = repo.dp(&repo.path, &["--json", "info", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
    let e = json_of(&o);
    assert_eq!(e["error"]["exit_code"], 2);
    assert_eq!(e["error"]["kind"], "usage");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert!(e["error"]["hint"].is_string());
    let o = dp_env(
        &repo.path,
        &["--json", "list"],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    assert_eq!(json_of(&o)["error"]["exit_code"], 3);
}

#[test]
fn env_and_exec_pass_variables_and_exit_codes() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    ok(&repo.dp(&repo.path, &["create", "--in-place"]));
    let vars = env_vars(&repo.path.join(".env.session"));
    let env = ok(&repo.dp(&repo.path, &["env"]));
    assert!(
        env.contains(&format!("export WEB_PORT='{}'\n", vars["WEB_PORT"])),
        "{env}"
    );
    // The export lines are valid shell.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{env}\necho \"$ECHO_7001_PORT|$SESSION_DIR\""))
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o).trim(),
        format!("{}|{}", vars["ECHO_7001_PORT"], repo.path.display())
    );
    let o = repo.dp(
        &repo.path,
        &[
            "exec",
            "--",
            "sh",
            "-c",
            "echo $WEB_PORT $COMPOSE_PROJECT_NAME; exit 7",
        ],
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(
        stdout(&o).trim(),
        format!("{} {}", vars["WEB_PORT"], vars["COMPOSE_PROJECT_NAME"])
    );
    let o = repo.dp(&repo.path, &["exec", "--", "no-such-program-xyz"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(stderr(&o).contains("command not found: `no-such-program-xyz`"));
    ok(&repo.dp(&repo.path, &["stop"]));
    let o = repo.dp(&repo.path, &["exec", "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no running session"), "{}", stderr(&o));
}

#[test]
fn doctor_reports_and_fails_when_the_engine_is_away() {
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let o = dp_env(
        &repo.path,
        &["doctor"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("ERR docker engine    cannot reach the Docker engine at unix:///nonexistent/docker.sock"), "{text}");
    assert!(text.contains("    fix: "), "{text}");
    assert!(
        text.contains("ok  compose file     docker-compose.yml (2 services)"),
        "{text}"
    );
    let j = json_of(&dp_env(
        &repo.path,
        &["--json", "doctor"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    ));
    assert_eq!(j["ok"], false);
    if !docker_ready(Flavor::V2) {
        return;
    }
    let o = dp_env(&repo.path, &["doctor"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let said = stdout(&o);
    let engine = said
        .lines()
        .find(|l| l.starts_with("ok  docker engine    reachable; "))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        (engine.contains("; Docker ") || engine.contains("; Podman "))
            && (engine.contains(" (rootful), API 1.") || engine.contains(" (rootless")),
        "{engine}"
    );
    assert!(stdout(&o).contains("Everything dev-prism needs works."));
}

#[test]
fn destroy_of_a_vanished_directory_removes_its_containers() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let dir = created(&repo.dp(&repo.path, &["create", "--branch", "gone"]));
    std::fs::remove_dir_all(&dir).unwrap();
    let doctor = stdout(&dp_env(&repo.path, &["doctor"], &[]));
    assert!(
        doctor.contains("whose directory is gone") && doctor.contains(&*dir.to_string_lossy()),
        "{doctor}"
    );
    ok(&repo.dp(&repo.path, &["destroy", &dir.to_string_lossy()]));
    assert!(containers_under(&dir).is_empty());
}

#[test]
fn completions_and_man_page() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = ok(&dp_env(tmp.path(), &["completions", shell], &[]));
        assert!(o.contains("dev-prism") && o.contains("destroy"), "{shell}");
    }
    let man = ok(&dp_env(tmp.path(), &["man"], &[]));
    assert!(man.contains(".TH dev-prism 1"));
    let v = ok(&dp_env(tmp.path(), &["--version"], &[]));
    assert!(v.starts_with("dev-prism "));
}

#[test]
fn verbose_traces_git_docker_and_compose_calls_on_stderr_only() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, COMPOSE);
    let plain = repo.dp(&repo.path, &["plan"]);
    assert!(!stderr(&plain).contains("debug:"), "{}", stderr(&plain));
    // With --quiet too: traces are asked for, progress is not.
    for args in [&["-v", "plan"][..], &["-q", "--verbose", "plan"]] {
        let o = repo.dp(&repo.path, args);
        let (out, err) = (ok(&o), stderr(&o));
        assert!(!out.contains("debug:"), "traces never reach stdout: {out}");
        for call in [
            "debug: git rev-parse ",
            "debug: Docker API: GET /containers/json ",
            "debug: docker compose version --short (",
        ] {
            assert!(err.contains(call), "{args:?}: no `{call}` in\n{err}");
        }
    }
}
