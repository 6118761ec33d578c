//! Command-line types (clap) and dispatch; one file per command. Glue only: commands call the
//! context, reconcile and render modules, never git, files or Docker directly.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::context::Ctx;
use crate::error::Result;
use crate::ui::Ui;

mod apply;
mod bulk;
mod claude;
mod completions;
mod create;
mod destroy;
mod doctor;
mod env;
mod exec;
mod forward;
mod heal;
mod hooks;
mod info;
mod list;
mod logs;
mod mcp;
#[doc(hidden)]
pub use mcp::fuzzing::serve_bytes as mcp_fuzz;
mod plan;
mod proxy;
mod prune;
mod start;
mod stop;
mod stop_all;

/// Isolated parallel development sessions: a git worktree, its own Docker Compose project on
/// random host ports, and env files that say where those ports are.
#[derive(Debug, Parser)]
#[command(name = "dev-prism", version, propagate_version = true, after_help = EXAMPLES)]
pub struct Cli {
    /// Print only data and errors, no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Log every Docker, Compose, git and node call with its duration (stderr).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Print one JSON document on stdout (schema: docs/json.md); errors too.
    #[arg(long, global = true)]
    pub json: bool,

    /// Colour: auto (only on a terminal, not with NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = crate::ui::ColorChoice::Auto)]
    pub color: crate::ui::ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "Examples:
  dev-prism create                      new worktree + services on random ports
  dev-prism create --in-place           a session in the current directory
  dev-prism create --branch feature/x   worktree on branch feature/x
  dev-prism plan --diff                 what apply would change, with file diffs
  dev-prism list                        running sessions and their ports
  dev-prism destroy                     remove the session in this directory
  dev-prism hooks install               heal sessions after every checkout, merge, rebase
  dev-prism exec -- npm test            run a command with the session's ports in its env
  dev-prism forward                     reach a remote (ssh) engine's session at 127.0.0.1
  eval \"$(dev-prism env)\"               export the session's variables into this shell
  dev-prism --json info                 machine-readable output (schema: docs/json.md)
  claude mcp add dev-prism -- dev-prism mcp   the same as MCP tools for coding agents";

/// A directory argument: the session directory, default the current directory.
#[derive(Debug, clap::Args)]
pub struct DirArg {
    /// Session directory (default: the current directory).
    pub dir: Option<PathBuf>,
}

/// Which services run: `--mode` and `--without` (also the MCP tools' `mode` and `without`).
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize, schemars::JsonSchema)]
pub struct SelectionArgs {
    /// docker: infrastructure and app services in containers; native: only infrastructure
    /// (services outside the `apps` profiles), apps run on the host. Default: docker for
    /// create; otherwise what the session already runs.
    #[arg(long, value_enum)]
    pub mode: Option<crate::desired::Mode>,
    /// App profiles to leave out, comma-separated (docker mode).
    #[arg(long, value_delimiter = ',', value_name = "APP,...")]
    #[serde(default)]
    #[schemars(description = "App profiles to leave out (docker mode).")]
    pub without: Vec<String>,
}

impl SelectionArgs {
    /// The selection; `default_mode` applies when neither flag is given.
    pub fn selection(
        &self,
        default_mode: Option<crate::desired::Mode>,
    ) -> crate::desired::Selection {
        let mode = self.mode.or(if self.without.is_empty() {
            default_mode
        } else {
            Some(crate::desired::Mode::Docker)
        });
        crate::desired::Selection {
            mode,
            without: self.without.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Create(create::Args),
    Plan(plan::Args),
    Apply(apply::Args),
    Info(info::Args),
    List(list::Args),
    Logs(logs::Args),
    Start(start::Args),
    Stop(stop::Args),
    StopAll(stop_all::Args),
    Destroy(destroy::Args),
    Heal(heal::Args),
    Hooks(hooks::Args),
    Prune(prune::Args),
    Claude(claude::Args),
    Env(env::Args),
    Exec(exec::Args),
    Forward(forward::Args),
    Proxy(proxy::Args),
    Mcp(mcp::Args),
    Doctor(doctor::Args),
    Completions(completions::Args),
    Man(completions::ManArgs),
}

impl Command {
    /// The command's name, as JSON documents report it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Create(_) => "create",
            Command::Plan(_) => "plan",
            Command::Apply(_) => "apply",
            Command::Info(_) => "info",
            Command::List(_) => "list",
            Command::Logs(_) => "logs",
            Command::Start(_) => "start",
            Command::Stop(_) => "stop",
            Command::StopAll(_) => "stop-all",
            Command::Destroy(_) => "destroy",
            Command::Heal(_) => "heal",
            Command::Hooks(_) => "hooks",
            Command::Prune(_) => "prune",
            Command::Claude(_) => "claude",
            Command::Env(_) => "env",
            Command::Exec(_) => "exec",
            Command::Forward(_) => "forward",
            Command::Proxy(_) => "proxy",
            Command::Mcp(_) => "mcp",
            Command::Doctor(_) => "doctor",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

/// Prints a session after create/apply/start: JSON, or (with `dir_line`) the directory and
/// one `NAME  ADDRESS` line per port.
pub(crate) fn print_session(
    ui: &Ui,
    command: &str,
    dir: &std::path::Path,
    project: &str,
    containers: &[crate::observed::Container],
    dir_line: bool,
) {
    let git = crate::adapters::git::cli(ui.trace());
    if ui.json {
        let branch = git.current_branch(dir);
        let session = crate::render::json::session(
            &dir.to_string_lossy(),
            project,
            branch.as_deref(),
            containers,
            &crate::proxy::setting(),
        );
        ui.json_out(&crate::render::json::doc(
            command,
            crate::render::json::SessionDoc { session },
        ));
    } else if dir_line {
        ui.out(&format!(
            "{}\n{}",
            dir.display(),
            crate::render::port_lines(containers, crate::proxy::port())
        ));
    } else {
        ui.out(&crate::render::port_lines(containers, crate::proxy::port()));
    }
    warn_if_remote_loopback(ui, dir, containers);
}

/// A remote engine publishing on its own loopback (the default `bindAddress`): nothing here
/// reaches the ports until `dev-prism forward` forwards them.
pub(crate) fn warn_if_remote_loopback(
    ui: &Ui,
    dir: &std::path::Path,
    containers: &[crate::observed::Container],
) {
    if let Some(host) = crate::desired::address::needs_forward(containers) {
        ui.warn(&format!(
            "the ports are only on {host}'s loopback: run `dev-prism forward {}` to reach them at 127.0.0.1 here (or set bindAddress: 0.0.0.0 to publish them on {host})",
            dir.display()
        ));
    }
}

/// After a failed create: the session directory on stdout when a session is left there (a
/// failed setup command keeps it), so `dir=$(dev-prism create -q | head -1)` finds it.
pub(crate) async fn print_dir_if_session(ui: &Ui, ctx: &mut Ctx, dir: &std::path::Path) {
    if ui.json {
        return;
    }
    let Ok(engine) = ctx.engine().await else {
        return;
    };
    if engine
        .session_containers(&dir.to_string_lossy())
        .await
        .is_ok_and(|c| !c.is_empty())
    {
        ui.out(&dir.display().to_string());
    }
}

/// Prints the steps a stop or destroy carried out (JSON), or nothing (progress already said it).
pub(crate) fn print_applied(
    ui: &Ui,
    command: &str,
    dir: &std::path::Path,
    plan: &crate::plan::Plan,
) {
    if ui.json {
        let applied = crate::render::json::applied(plan, &dir.to_string_lossy());
        ui.json_out(&crate::render::json::doc(command, applied));
    }
}

/// Runs a parsed command, its output through `ui`; returns the exit code on success.
pub async fn dispatch(cli: Cli, ui: &Ui) -> Result<i32> {
    let mut ctx = Ctx::new(ui);
    // The command's one cancellation, handed to what it cancels; it listens for signals from
    // its first use on (a command that never applies anything still dies of one).
    let mut cancel = crate::adapters::process::Cancel::from_signals();
    match cli.command {
        Command::Create(a) => {
            // From the first moment: a signal before apply starts (while the worktree is
            // made) is noticed by apply's first step, which then rolls create back.
            cancel.listen();
            create::run(a, &mut ctx, ui, &mut cancel).await
        }
        Command::Plan(a) => plan::run(a, &mut ctx, ui).await,
        Command::Apply(a) => apply::run(a, &mut ctx, ui, &mut cancel).await,
        Command::Info(a) => info::run(a, &mut ctx, ui).await,
        Command::List(a) => list::run(a, &mut ctx, ui).await,
        Command::Logs(a) => logs::run(a, &mut ctx, ui, &mut cancel).await,
        Command::Start(a) => start::run(a, &mut ctx, ui, &mut cancel).await,
        Command::Stop(a) => stop::run(a, &mut ctx, ui, &mut cancel).await,
        Command::StopAll(a) => stop_all::run(a, &mut ctx, ui, &cancel).await,
        Command::Destroy(a) => destroy::run(a, &mut ctx, ui, &mut cancel).await,
        Command::Heal(a) => heal::run(a, &mut ctx, ui, &mut cancel).await,
        Command::Hooks(a) => hooks::run(a, ui),
        Command::Prune(a) => prune::run(a, &mut ctx, ui, &cancel).await,
        Command::Claude(a) => claude::run(a, ui),
        Command::Env(a) => env::run(a, &mut ctx, ui).await,
        Command::Exec(a) => exec::run(a, &mut ctx, ui).await,
        Command::Forward(a) => forward::run(a, &mut ctx, ui, &mut cancel).await,
        Command::Proxy(a) => proxy::run(a, &mut ctx, ui).await,
        Command::Mcp(a) => mcp::run(a, &ui.diagnostics_only()).await,
        Command::Doctor(a) => doctor::run(a, &mut ctx, ui).await,
        Command::Completions(a) => completions::run(a, ui),
        Command::Man(a) => completions::man(a, ui),
    }
}

/// When the proxy answering on its port serves another engine than this session's: says the
/// session keeps direct URLs, and how to give it names (a proxy of its own on another port).
pub(crate) fn warn_proxy_elsewhere(ui: &Ui, p: &crate::reconcile::Prepared) {
    if let Some(engine) = &p.observed.proxy_elsewhere {
        let port = crate::proxy::port();
        ui.warn(&format!(
            "the dev-prism proxy on port {port} serves the engine at {engine}, not this session's: the session gets no proxy name and keeps its direct URLs"
        ));
        ui.warn(&format!(
            "  a proxy routes only to its own engine's sessions; to name this one, create it with another port, e.g. DEV_PRISM_PROXY_PORT={}",
            port.wrapping_add(1).max(1024)
        ));
    }
}

/// With `proxy.enabled`, makes sure the background proxy answers on its port (after `create`,
/// `start`, `apply`): starts it when nothing does (one progress line), warns once when
/// something else holds the port. Never a failure: the session's names and env files do not
/// depend on the proxy answering right now.
pub(crate) async fn ensure_proxy(config: &crate::config::Config, ui: &Ui) {
    use crate::adapters::proxy::{self, Probe};
    if !config.proxy.enabled {
        return;
    }
    let port = crate::proxy::port();
    let found = tokio::task::spawn_blocking(move || proxy::probe(port))
        .await
        .unwrap_or(Probe::Nothing);
    match found {
        Probe::Ours => {}
        Probe::Other(what) => ui.warn(&format!(
            "port {port} is held by another program ({what}), not dev-prism's proxy: the session's names ({}) do not answer until it is free, or until DEV_PRISM_PROXY_PORT names a free port; the direct addresses work",
            config.proxy.domain
        )),
        Probe::Nothing => {
            ui.status(&format!("Starting the dev-prism proxy on 127.0.0.1:{port}"));
            let trace = ui.trace().clone();
            let started = match std::env::current_exe() {
                Ok(exe) => tokio::task::spawn_blocking(move || {
                    proxy::start(&exe, std::time::Duration::from_secs(10), &trace)
                })
                .await
                .unwrap_or_else(|e| Err(crate::error::Error::failure(e.to_string()))),
                Err(e) => Err(crate::error::Error::failure(format!(
                    "cannot find this program's path: {e}"
                ))),
            };
            if let Err(e) = started {
                ui.warn(&format!(
                    "{}; the session's names do not answer until the proxy runs (`dev-prism proxy start`); the direct addresses work",
                    e.message()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
