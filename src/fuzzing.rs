//! Entry points for the fuzz targets in `fuzz/` (not an API): each takes arbitrary bytes and
//! drives one input path of dev-prism the way the program does, rendering whatever error comes
//! out as the user would see it. The property is that none of them panics.

use std::path::Path;

use crate::compose::{self, ComposeModel, Flavor};
use crate::config::{self, Config, Format};
use crate::desired::{self, Inputs, Intent, Scope, Selection};
use crate::error::Error;
use crate::observed::{self, Container, Observed};
use crate::{plan, render};

const REPO: &str = "/w/shop";
const DIR: &str = "/w/shop-sessions/s1";

/// Renders an error the way [`crate::report`] and `--json` do.
fn show(e: &Error) -> String {
    let mut out = e.message();
    if let Some(d) = e.diagnostic() {
        out.push_str(&format!("{d:?}"));
    }
    out.push_str(&render::json::to_string(&render::json::error("fuzz", e)));
    out
}

fn default_config() -> Config {
    config::resolve(Default::default(), Path::new(REPO), None).expect("the default config")
}

/// The desired state of `model` under `config` for each Compose flavor and selection, and the
/// plans that bring an observed session there.
fn desire_and_plan(config: &Config, model: &ComposeModel, observed: &Observed) {
    for (flavor, selection) in [
        (Flavor::V2, Selection::default()),
        (
            Flavor::V1,
            Selection {
                mode: Some(desired::Mode::Docker),
                without: vec![],
            },
        ),
    ] {
        let inputs = Inputs {
            dir: Path::new(DIR),
            flavor,
            compose_files: vec!["docker-compose.yml".into()],
            created_at: "2026-01-01T00:00:00.000Z".into(),
            repo_root: Some(Path::new(REPO)),
            selection,
            existing: observed
                .containers
                .iter()
                .map(|c| c.service.clone())
                .collect(),
            rewrite_env_files: true,
            with_setup: true,
            subnet: crate::subnet::Net::parse("10.99.0.0/24"),
            data_from: None,
            project: desired::project_name(&config.project_name, Path::new(DIR)),
            proxy_host: Some(crate::desired::names::host_label(
                "s1",
                &config.project_name,
            )),
            proxy: Default::default(),
        };
        let d = match desired::desired(config, model, inputs) {
            Ok(d) => d,
            Err(e) => {
                show(&e);
                continue;
            }
        };
        for intent in [
            Intent::Up,
            Intent::Stop,
            Intent::Destroy {
                force: true,
                scope: Scope::ALL,
            },
        ] {
            let p = plan::diff(&d, observed, intent, None);
            render::plan_text(&p, "fuzz", true, true);
            render::json::to_string(&render::json::plan(&p, DIR, &d.project));
        }
        render::json::to_string(&render::json::plan(&plan::heal(&d, observed), DIR, "p"));
    }
}

fn session_model() -> ComposeModel {
    compose::parse(&[(
        "docker-compose.yml".into(),
        "services:\n  db:\n    image: postgres\n    ports: ['5432']\n  web:\n    image: nginx\n    ports: ['80', '443']\n    profiles: [app]\n".into(),
    )])
    .expect("the fixed compose file")
}

/// Config text in each format → validated config → applied to a compose model → desired state.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for (name, format) in [
        ("session.config.yaml", Format::Yaml),
        ("session.config.json", Format::Json),
        ("session.config.mjs", Format::Module),
    ] {
        let path = Path::new(name);
        let raw = match config::parse(&text, path, format) {
            Ok(raw) => raw,
            Err(e) => {
                show(&e);
                continue;
            }
        };
        let cfg = match config::resolve(raw, Path::new(REPO), Some(path.to_path_buf())) {
            Ok(c) => c,
            Err(e) => {
                show(&e);
                continue;
            }
        };
        let mut model = session_model();
        if let Err(e) = crate::compose::adopt(&cfg, &mut model) {
            show(&e);
            continue;
        }
        desire_and_plan(&cfg, &model, &Observed::default());
    }
}

/// Compose files: the input is split at lines `#---` into `docker-compose.yml`, `b.yml` and
/// `sub/c.yml`; the first is loaded, the others only through `include` and `extends: {file}`.
pub fn compose(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, "\n#---\n");
    let main = parts.next().unwrap_or("").to_string();
    let others: Vec<(String, String)> = ["b.yml", "sub/c.yml"]
        .iter()
        .zip(parts)
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let load = |name: &str| {
        others
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| Error::usage(format!("{name} does not exist")))
    };
    let mut model = match compose::parse_with(&[("docker-compose.yml".into(), main)], &load) {
        Ok(m) => m,
        Err(e) => {
            show(&e);
            return;
        }
    };
    compose::bind_mounts(&model);
    crate::desired::subnet::default_network_members(&model);
    let cfg = default_config();
    if let Err(e) = crate::compose::adopt(&cfg, &mut model) {
        show(&e);
        return;
    }
    desire_and_plan(&cfg, &model, &Observed::default());
}

/// An Engine API container list (`GET /containers/json`, arbitrary JSON in the bollard
/// types: any label value, any port) → observed containers → everything shown or planned
/// from them.
pub fn observed(data: &[u8]) {
    let Ok(containers) = observed::containers_from_json(&String::from_utf8_lossy(data)) else {
        return;
    };
    observed_containers(containers);
}

fn observed_containers(containers: Vec<Container>) {
    for c in &containers {
        c.declared_ports();
        c.is_ready();
        for p in &c.ports {
            desired::address::address(c, p).url();
        }
    }
    observed::project_of(&containers);
    desired::address::needs_forward(&containers);
    let vars = desired::session_vars("p", Path::new(DIR), &containers, &Default::default());
    desired::env_file_text(&vars);
    render::port_lines(&containers, 7355);
    render::status(&containers);
    let rows = render::sessions(&containers);
    render::list_text(&rows, 0, true, 7355);
    render::info_text(
        DIR,
        "p",
        Some("main"),
        &containers,
        true,
        &Default::default(),
    );
    render::json::to_string(&render::json::session(
        DIR,
        "p",
        None,
        &containers,
        &Default::default(),
    ));
    let observed = Observed {
        containers,
        ..Default::default()
    };
    desire_and_plan(&default_config(), &session_model(), &observed);
}

/// MCP: the input is what a client writes to `dev-prism mcp` after the handshake (JSON-RPC
/// lines), served by the real server over in-memory pipes. Tool calls that pass validation run
/// a program that does not exist, so no command runs.
pub fn mcp(data: &[u8]) -> Vec<u8> {
    crate::cli::mcp_fuzz(data)
}

#[cfg(test)]
mod tests {
    /// The committed fuzz corpus replayed without the fuzzer: a panic found once stays found.
    #[test]
    fn the_fuzz_corpus_replays_without_panics() {
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 4] = [
            ("config", super::config),
            ("compose", super::compose),
            ("observed", super::observed),
            ("mcp", |d| drop(super::mcp(d))),
        ];
        for (name, target) in targets {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus")
                .join(name);
            let mut n = 0;
            for entry in std::fs::read_dir(&dir).unwrap() {
                target(&std::fs::read(entry.unwrap().path()).unwrap());
                n += 1;
            }
            assert!(n > 0, "no corpus in {}", dir.display());
        }
    }

    /// The MCP harness reaches the tools: a valid call is answered, having failed to run.
    #[test]
    fn the_mcp_harness_answers_tool_calls() {
        let out = super::mcp(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"info","arguments":{"dir":"/s"}}}
"#,
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(r#""id":7"#), "{out}");
        assert!(out.contains("could not run dev-prism info"), "{out}");
    }
}
