//! Plans and sessions → text (and JSON, in [`json`]). Renderers never decide anything: they
//! only print values.

pub mod json;
pub(crate) mod reason;

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::compose::labels;
use crate::desired::address::{address, Address};
use crate::desired::names::proxy_url;
use crate::desired::{port_var_name, port_vars, ProxySetting};
use crate::observed::{Container, Health, State};
use crate::plan::{Action, Plan};
use crate::ui::paint;

/// The Terraform-style plan: drift first, a legend of the symbols used, one line per step with
/// its reason, details and (with `show_diff`) file diffs, then the summary line.
pub fn plan_text(plan: &Plan, header: &str, show_diff: bool, color: bool) -> String {
    let glyph = |a: Action| paint(color, a.color(), &format!("{:>3}", a.glyph()));
    let mut out = String::new();
    if !plan.drift.is_empty() {
        out.push_str("Changed outside dev-prism:\n");
        for d in &plan.drift {
            let _ = writeln!(out, "  {} {d}", paint(color, "33", "!"));
        }
        out.push('\n');
    }
    if plan.is_empty() {
        out.push_str("No changes. The session matches its configuration.\n");
        append_kept(&mut out, plan);
        return out;
    }
    let steps = plan.ordered();
    let mut used: Vec<Action> = vec![];
    for s in &steps {
        for a in std::iter::once(s.action).chain(s.details.iter().map(|d| d.action)) {
            if !used.contains(&a) {
                used.push(a);
            }
        }
    }
    used.sort_by_key(|a| *a as u8);
    out.push_str("Symbols:\n");
    for a in used {
        let _ = writeln!(out, "  {} {}", glyph(a), a.legend());
    }
    let _ = writeln!(out, "\n{header}\n");
    for s in steps {
        let known = match &s.op {
            crate::plan::Op::WriteFile {
                content: crate::plan::Content::Rendered { .. },
                ..
            } => " (content known after apply)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  {} {}{known}  (because {})",
            glyph(s.action),
            s.subject,
            s.reason
        );
        for d in &s.details {
            let _ = writeln!(
                out,
                "      {} {}  (because {})",
                glyph(d.action),
                d.subject,
                d.reason
            );
        }
        if show_diff {
            if let Some(diff) = &s.diff {
                for line in diff.lines() {
                    let code = match line.chars().next() {
                        Some('+') if !line.starts_with("+++") => "32",
                        Some('-') if !line.starts_with("---") => "31",
                        Some('@') => "36",
                        _ => "",
                    };
                    let line = if code.is_empty() {
                        line.to_string()
                    } else {
                        paint(color, code, line)
                    };
                    let _ = writeln!(out, "        {line}");
                }
            }
        }
    }
    let sum = plan.summary();
    let _ = write!(
        out,
        "\nPlan: {} to add, {} to change, {} to replace, {} to destroy, {} to run.\n",
        sum.add, sum.change, sum.replace, sum.destroy, sum.run
    );
    append_kept(&mut out, plan);
    out
}

fn append_kept(out: &mut String, plan: &Plan) {
    for k in &plan.kept {
        let _ = writeln!(out, "Note: {k}");
    }
}

/// `NAME  ADDRESS` lines from the session's running containers (`http://HOST:PORT` only
/// where a scheme applies); a port with a proxy name shows the name, the direct address
/// alongside.
pub fn port_lines(containers: &[Container], proxy_port: u16) -> String {
    let mut out = String::new();
    for p in published(containers, proxy_port) {
        let _ = writeln!(out, "  {:<20} {}", p.var, p.shown());
    }
    out
}

/// One published port of a running container.
pub struct PortRow {
    /// Its `.env.session` variable.
    pub var: String,
    /// `service` for a service's first port, `service:PORT` for the others.
    pub label: String,
    pub address: Address,
    /// Its URL through the proxy, when it has a name (`dev-prism.host`).
    pub proxy_url: Option<String>,
}

impl PortRow {
    /// The proxy URL with the direct address alongside (`http://web.s.p.localhost:7355
    /// (127.0.0.1:49153)`), or the direct address alone.
    pub fn shown(&self) -> String {
        match &self.proxy_url {
            Some(url) => format!(
                "{url} ({}:{})",
                crate::desired::address::url_host(&self.address.host),
                self.address.port
            ),
            None => self.address.display(),
        }
    }
}

/// The published ports of running containers, in service order (one container per service),
/// with their names through the proxy listening on `proxy_port`.
pub fn published(containers: &[Container], proxy_port: u16) -> Vec<PortRow> {
    let mut sorted: Vec<&Container> = containers
        .iter()
        .filter(|c| c.state == State::Running)
        .collect();
    sorted.sort_by(|a, b| a.service.cmp(&b.service));
    sorted.dedup_by(|a, b| a.service == b.service);
    let mut out = vec![];
    for c in sorted {
        for (i, spec) in c.declared_ports().iter().enumerate() {
            let Some(p) = c.ports.iter().find(|p| &p.spec == spec) else {
                continue;
            };
            out.push(PortRow {
                var: port_var_name(&c.service, i, spec),
                label: if i == 0 {
                    c.service.clone()
                } else {
                    format!("{}:{}", c.service, spec.container_port)
                },
                address: address(c, p),
                proxy_url: proxy_url(c, spec.container_port, proxy_port),
            });
        }
    }
    out
}

/// The session's status from its containers: `none`, `restarting` (a crash loop), `paused`
/// (a container is paused), `running` (every service runs, every job is done), `partial` or
/// `stopped`.
pub fn status(containers: &[Container]) -> &'static str {
    let running = containers
        .iter()
        .filter(|c| c.state == State::Running)
        .count();
    let done = containers.iter().filter(|c| job_done(c)).count();
    if containers.is_empty() {
        "none"
    } else if containers.iter().any(|c| c.state == State::Restarting) {
        "restarting"
    } else if containers.iter().any(|c| c.state == State::Paused) {
        "paused"
    } else if running == 0 {
        "stopped"
    } else if running + done == containers.len() {
        "running"
    } else {
        "partial"
    }
}

/// A one-shot job's container that exited 0.
fn job_done(c: &Container) -> bool {
    c.label(labels::JOB) == Some("true") && c.state == State::Stopped && c.exit_code == Some(0)
}

/// One session as `list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub dir: String,
    /// The branch checked out there, when it is a git worktree (filled by the caller).
    pub branch: Option<String>,
    /// The session's containers.
    pub containers: Vec<Container>,
    /// Its last activity, milliseconds since the epoch (filled by the caller).
    pub last_activity: Option<i64>,
    /// What it holds on disk (`--size`, filled by the caller).
    pub disk: Option<Disk>,
}

pub use crate::observed::Disk;

/// `1.2G`, `340M`, `12K`, `0`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}")
    } else if v < 10.0 {
        format!("{v:.1}{}", UNITS[i])
    } else {
        format!("{v:.0}{}", UNITS[i])
    }
}

/// When the session was created (its `dev-prism.created_at` label), milliseconds since the
/// epoch.
pub fn created_at(containers: &[Container]) -> Option<i64> {
    containers
        .iter()
        .find_map(|c| c.label(labels::CREATED_AT))
        .and_then(crate::util::UtcTime::parse_unix_millis)
}

impl SessionRow {
    pub fn running(&self) -> usize {
        self.containers
            .iter()
            .filter(|c| c.state == State::Running)
            .count()
    }

    /// Containers that hold their processes: running, paused or restarting (not stopped).
    pub fn up(&self) -> usize {
        self.containers
            .iter()
            .filter(|c| c.state != State::Stopped)
            .count()
    }
}

/// Groups containers by session directory. Containers whose directory label is missing or not
/// an absolute path are not sessions and are skipped.
pub fn sessions(containers: &[Container]) -> Vec<SessionRow> {
    let mut by_dir: BTreeMap<&str, Vec<Container>> = BTreeMap::new();
    for c in containers {
        if let Some(dir) = c.working_dir().filter(|d| d.starts_with('/')) {
            let row = by_dir.entry(dir).or_default();
            // A `--data-from` copy's throwaway container is no service or container of the
            // session: its row is there (a create under way), without it.
            if !c.is_volume_copy() {
                row.push(c.clone());
            }
        }
    }
    by_dir
        .into_iter()
        .map(|(dir, containers)| SessionRow {
            dir: dir.to_string(),
            branch: None,
            containers,
            last_activity: None,
            disk: None,
        })
        .collect()
}

/// The `list` table; AGE and IDLE as of `now` (milliseconds since the epoch), DISK when the
/// rows carry sizes.
pub fn list_text(rows: &[SessionRow], now: i64, color: bool, proxy_port: u16) -> String {
    let ago = |t: Option<i64>| t.map_or("-".to_string(), |t| crate::tidy::short_age(now - t));
    let sized = rows.iter().any(|r| r.disk.is_some());
    let disk = |r: &SessionRow| {
        if sized {
            format!("{:<6}  ", r.disk.map_or("-".into(), |d| bytes(d.total())))
        } else {
            String::new()
        }
    };
    let mut out = String::new();
    let width = rows
        .iter()
        .map(|r| r.dir.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    let bwidth = rows
        .iter()
        .map(|r| r.branch.as_deref().unwrap_or("-").chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{:<width$}  {:<bwidth$}  {:<10}  {:<10}  {:<4}  {:<4}  {}PORTS",
        "DIRECTORY",
        "BRANCH",
        "STATUS",
        "CONTAINERS",
        "AGE",
        "IDLE",
        if sized { "DISK    " } else { "" }
    );
    for r in rows {
        let running = r.up();
        let st = status(&r.containers);
        let code = match st {
            "running" => "32",
            "restarting" => "31",
            "partial" | "paused" => "33",
            _ => "2",
        };
        let status = paint(color, code, &format!("{st:<10}"));
        let ports: Vec<String> = published(&r.containers, proxy_port)
            .iter()
            .map(|p| format!("{} → {}", p.label, p.shown()))
            .collect();
        let _ = writeln!(
            out,
            "{:<width$}  {:<bwidth$}  {}  {:<10}  {:<4}  {:<4}  {}{}",
            r.dir,
            r.branch.as_deref().unwrap_or("-"),
            status,
            format!("{running}/{}", r.containers.len()),
            ago(created_at(&r.containers)),
            ago(r.last_activity),
            disk(r),
            ports.join(", ")
        );
    }
    out
}

/// The `info` card.
pub fn info_text(
    dir: &str,
    project: &str,
    branch: Option<&str>,
    containers: &[Container],
    color: bool,
    proxy: &ProxySetting,
) -> String {
    let mut out = String::new();
    let running = containers
        .iter()
        .filter(|c| c.state == State::Running)
        .count();
    let status = match status(containers) {
        "none" => "no containers",
        "partial" => "partly running",
        "restarting" => "restarting (a container keeps crashing)",
        "paused" => "paused (`dev-prism apply` unpauses it)",
        other => other,
    };
    let paused = containers
        .iter()
        .filter(|c| c.state == State::Paused)
        .count();
    let _ = writeln!(out, "Session:  {dir}");
    if let Some(b) = branch {
        let _ = writeln!(out, "Branch:   {b}");
    }
    let _ = writeln!(out, "Project:  {project}");
    let status = paint(color, if running > 0 { "32" } else { "2" }, status);
    let paused = if paused > 0 {
        format!(", {paused} paused")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "Status:   {status} ({running}/{} containers running{paused})",
        containers.len()
    );
    if !containers.is_empty() {
        out.push_str("\nServices:\n");
        let mut sorted: Vec<&Container> = containers.iter().collect();
        sorted.sort_by(|a, b| a.service.cmp(&b.service));
        for c in sorted {
            let state = match (c.state, c.health) {
                (State::Running, Health::Healthy) => "running (healthy)".to_string(),
                (State::Running, Health::Unhealthy) => "running (unhealthy)".to_string(),
                (State::Running, Health::Starting) => "running (starting)".to_string(),
                (State::Running, Health::None) => "running".to_string(),
                (State::Stopped, _) if job_done(c) => "done (job, exit 0)".to_string(),
                (State::Stopped, _) => match c.exit_code {
                    Some(code) => format!("exited ({code})"),
                    None => "stopped".to_string(),
                },
                (State::Paused, _) => "paused".to_string(),
                (State::Restarting, _) => "restarting (crash loop)".to_string(),
            };
            let ports: Vec<String> = c
                .declared_ports()
                .iter()
                .filter_map(|spec| {
                    let p = c.ports.iter().find(|p| &p.spec == spec)?;
                    let shown = PortRow {
                        var: String::new(),
                        label: String::new(),
                        address: address(c, p),
                        proxy_url: proxy_url(c, spec.container_port, proxy.port),
                    }
                    .shown();
                    Some(format!("{} → {shown}", spec.container_port))
                })
                .collect();
            let _ = writeln!(
                out,
                "  {:<16} {:<20} {}",
                c.service,
                state,
                ports.join(", ")
            );
        }
    }
    let vars = port_vars(containers, proxy);
    if !vars.is_empty() {
        out.push_str("\nPorts (.env.session):\n");
        for (k, v) in vars {
            let _ = writeln!(out, "  {k}={v}");
        }
    }
    out
}
