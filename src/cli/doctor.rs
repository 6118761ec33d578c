use std::path::Path;

use crate::adapters::endpoint;
use crate::context::{self, Ctx};
use crate::error::Result;
use crate::render::json;
use crate::ui::{paint, Ui};

/// Check that everything dev-prism needs works here, and say how to fix what does not.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// One check's outcome.
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    fix: Option<String>,
}

fn check(name: &'static str, r: std::result::Result<String, (String, String)>) -> Check {
    match r {
        Ok(detail) => Check {
            name,
            ok: true,
            detail,
            fix: None,
        },
        Err((detail, fix)) => Check {
            name,
            ok: false,
            detail,
            fix: Some(fix),
        },
    }
}

use crate::adapters::process::version_of;

pub async fn run(_args: Args, ctx: &mut Ctx, ui: &Ui) -> Result<i32> {
    let git = ctx.git();
    let mut checks = vec![];
    let cwd = context::session_dir(None)?;

    // Engine endpoint and reachability.
    let ep = endpoint::resolve();
    checks.push(check(
        "docker endpoint",
        ep.as_ref()
            .map(|e| {
                let ports = match e.remote_host() {
                    _ if e.is_local() => "published ports are on this machine".to_string(),
                    Some(h) => format!(
                        "published ports are on {h} (remote; with bindAddress 127.0.0.1 only on its own loopback)"
                    ),
                    None => String::new(),
                };
                format!(
                    "{} (from {}); transport: {}; {ports}",
                    e.host,
                    e.source,
                    e.transport().label()
                )
            })
            .map_err(|e| (e.message(), e.hint.clone().unwrap_or_default())),
    ));
    let engine = ctx.engine().await;
    let engine_check = match &engine {
        Ok(engine) => {
            let version = engine
                .server_version()
                .await
                .unwrap_or_else(|_| "unknown".into());
            let kind = match engine.kind() {
                crate::adapters::docker::EngineKind::Docker => format!("Docker {version}"),
                podman => podman.label(),
            };
            let mode = match engine.security().await {
                Ok(s) if s.rootless => format!(
                    "rootless{}",
                    if s.cgroup_v1 {
                        " on cgroup v1: no pause, no resource limits"
                    } else {
                        ""
                    }
                ),
                Ok(_) => "rootful".to_string(),
                Err(_) => "rootless or not: unknown".to_string(),
            };
            Ok(format!(
                "reachable; {kind} ({mode}), API {}",
                engine.api_version()
            ))
        }
        Err(e) => Err((e.message(), e.hint.clone().unwrap_or_default())),
    };
    checks.push(check("docker engine", engine_check));

    // Compose: both flavours, and which one dev-prism uses.
    let v2 = version_of("docker", &["compose", "version", "--short"]);
    let v1 = version_of("docker-compose", &["version", "--short"]);
    let used = ep
        .as_ref()
        .ok()
        .map(|e| crate::adapters::engine::detect_compose(e, None, None, ui.trace()));
    checks.push(check(
        "docker compose",
        match &used {
            Some(Ok(cli)) => Ok(format!(
                "using Compose {} ({}); v2: {}, v1: {}",
                cli.version(),
                cli.flavor().label(),
                v2.as_deref().unwrap_or("not found"),
                v1.as_deref().unwrap_or("not found"),
            )),
            Some(Err(e)) => Err((e.message(), e.hint.clone().unwrap_or_default())),
            None => Err(("no Docker endpoint".into(), "fix the endpoint first".into())),
        },
    ));

    // git and worktrees.
    checks.push(check(
        "git",
        match version_of("git", &["--version"]) {
            Some(v) => {
                let worktrees = crate::adapters::git::worktrees_supported(&cwd);
                if worktrees {
                    Ok(format!("{v}, worktrees supported"))
                } else {
                    Err((
                        format!("{v} has no `git worktree`"),
                        "install git 2.5 or newer".into(),
                    ))
                }
            }
            None => Err((
                "git not found".into(),
                "install git and put it on PATH".into(),
            )),
        },
    ));

    // The config and compose file here, if this is a project directory.
    let top = git.toplevel(&cwd).ok().flatten().unwrap_or(cwd.clone());
    let has_module = ["session.config.mjs", "session.config.js"]
        .iter()
        .any(|f| top.join(f).is_file());
    if has_module {
        checks.push(check(
            "node",
            version_of("node", &["--version"])
                .map(|v| format!("{v} (reads session.config.mjs/.js)"))
                .ok_or((
                    "node not found, but the config is a JavaScript module".into(),
                    "install node, or convert the config to session.config.yaml".into(),
                )),
        ));
    }
    let main_root = git.main_checkout(&top).ok().flatten();
    match context::load_config(ui, &top, main_root.as_deref()) {
        Ok(config) => {
            checks.push(check(
                "config",
                Ok(match &config.source {
                    Some(p) => format!("{} is valid", p.display()),
                    None => "no session.config.* here; defaults apply".into(),
                }),
            ));
            // Loopback (127.0.0.0/8, ::1) is local only, whichever address of it.
            let open = !config
                .bind_address
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
            checks.push(check(
                "bind address",
                if open {
                    Err((
                        format!(
                            "{}: session ports are reachable from other machines",
                            config.bind_address
                        ),
                        "set bindAddress: 127.0.0.1 unless you need that".into(),
                    ))
                } else {
                    Ok(format!("{} (local only)", config.bind_address))
                },
            ));
            if crate::compose::DEFAULT_FILES
                .iter()
                .any(|f| top.join(f).is_file())
                || config.compose_files.is_some()
            {
                checks.push(check(
                    "compose file",
                    context::load_compose(ui, &top, &config)
                        .map(|(files, model)| {
                            format!("{} ({} services)", files.join(", "), model.services.len())
                        })
                        .map_err(|e| (e.message(), e.hint.clone().unwrap_or_default())),
                ));
            }
        }
        Err(e) => checks.push(check(
            "config",
            Err((e.message(), e.hint.clone().unwrap_or_default())),
        )),
    }
    // A new worktree session uses the config committed on its branch: an untracked or edited
    // one here would not be what it runs with (create refuses it, naming the keys).
    if let Some(repo) = &main_root {
        checks.push(check(
            "config committed",
            crate::reconcile::create::config_is_committed(ctx, &*git, &top, repo, "HEAD")
                .await
                .map(|()| "new worktree sessions use the config as you see it".to_string())
                .map_err(|e| (e.message(), e.hint.clone().unwrap_or_default())),
        ));
    }

    // Sessions whose directories vanished.
    if let Ok(engine) = &engine {
        if let Ok(all) = engine.all_sessions().await {
            // This repository's vanished sessions are its problem; other repositories' are
            // mentioned, not failed on (they are someone else's, and their own doctor says so).
            let this_repo = main_root.clone().unwrap_or(top.clone());
            let (gone, others): (Vec<_>, Vec<_>) = crate::render::sessions(&all)
                .into_iter()
                .filter(|r| !Path::new(&r.dir).is_dir())
                .partition(|r| {
                    Path::new(&r.dir).starts_with(&this_repo)
                        || r.containers.iter().any(|c| {
                            c.label(crate::compose::labels::REPO_ROOT)
                                .is_some_and(|root| Path::new(root) == this_repo)
                        })
                });
            let gone: Vec<String> = gone.into_iter().map(|r| r.dir).collect();
            // What an interrupted create (`kill -9`) can leave: a worktree dev-prism made whose
            // session never got containers. Not a fault; `prune` or `destroy DIR` removes it.
            let bare: Vec<String> = git
                .worktrees(&this_repo)
                .unwrap_or_default()
                .into_iter()
                .filter(|w| !w.is_main)
                .filter(|w| git.made_by_dev_prism(&w.path).unwrap_or(false))
                .filter(|w| {
                    !all.iter()
                        .any(|c| c.working_dir().is_some_and(|d| Path::new(d) == w.path))
                })
                .map(|w| w.path.display().to_string())
                .collect();
            checks.push(check(
                "session worktrees",
                Ok(if bare.is_empty() {
                    "every session worktree of this repository has its containers".into()
                } else {
                    format!(
                        "{} session worktree(s) without containers (an interrupted create, or never started): {}; `dev-prism start DIR` starts one, `dev-prism prune` or `dev-prism destroy DIR` removes it",
                        bare.len(),
                        bare.join(", ")
                    )
                }),
            ));
            checks.push(check(
                "sessions",
                if gone.is_empty() && others.is_empty() {
                    Ok("every session's directory exists".into())
                } else if gone.is_empty() {
                    Ok(format!(
                        "this repository's sessions all exist; {} session(s) of other repositories have lost their directory (`dev-prism destroy DIR` removes one)",
                        others.len()
                    ))
                } else {
                    Err((
                        format!(
                            "{} session(s) whose directory is gone: {}",
                            gone.len(),
                            gone.join(", ")
                        ),
                        format!(
                            "remove their containers with `dev-prism destroy '{}'`",
                            gone[0]
                        ),
                    ))
                },
            ));
        }
    }

    let failed = checks.iter().filter(|c| !c.ok).count();
    if ui.json {
        let rows = checks
            .iter()
            .map(|c| json::Check {
                name: c.name.to_string(),
                ok: c.ok,
                detail: c.detail.clone(),
                fix: c.fix.clone(),
            })
            .collect();
        ui.json_out(&json::doc(
            "doctor",
            json::DoctorDoc {
                ok: failed == 0,
                checks: rows,
            },
        ));
    } else {
        let mut out = String::new();
        for c in &checks {
            let mark = if c.ok {
                paint(ui.color, "32", "ok ")
            } else {
                paint(ui.color, "31", "ERR")
            };
            out.push_str(&format!("{mark} {:<16} {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("    fix: {fix}\n"));
            }
        }
        out.push_str(&if failed == 0 {
            "Everything dev-prism needs works.\n".to_string()
        } else {
            format!("{failed} problem(s) found.\n")
        });
        ui.out(&out);
    }
    Ok(i32::from(failed > 0))
}
