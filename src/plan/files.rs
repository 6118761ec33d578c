//! File steps: the session compose file and the derived env files, each written only when its
//! content differs, never over a file of the user's (no generated header).

use super::*;

fn file_diff(old: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

pub(super) fn write_step(
    name: &str,
    path: PathBuf,
    observed: Option<&str>,
    desired: Result<String, Render>,
    mode: u32,
    mode_ok: bool,
) -> Option<Step> {
    let known = desired.as_ref().ok().map(String::as_str);
    let (action, reason, diff) = match (observed, known) {
        (None, None) => (Action::Create, Reason::PortsPublished, None),
        (Some(_), None) => (Action::Update, Reason::PortsChange, None),
        (None, Some(new)) => (
            Action::Create,
            Reason::FileMissing,
            Some(file_diff("", new, name)),
        ),
        (Some(old), Some(new)) if old != new => (
            Action::Update,
            Reason::ContentDiffers,
            Some(file_diff(old, new, name)),
        ),
        (Some(_), Some(_)) if !mode_ok => (Action::Update, Reason::Mode(mode), None),
        (Some(_), Some(_)) => return None,
    };
    Some(Step {
        action,
        subject: Subject::File(name.to_string()),
        reason,
        diff,
        details: vec![],
        op: Op::WriteFile {
            path,
            content: match desired {
                Ok(text) => Content::Text { text },
                Err(render) => Content::Rendered { render },
            },
            mode,
        },
    })
}

/// Steps for the derived files. With `after_start`, ports are only known after apply; else
/// they are rendered now from the observed containers and compared with the files on disk.
pub(super) fn derived_steps(
    desired: &Desired,
    observed: &Observed,
    after_start: bool,
) -> Vec<Step> {
    file_steps(
        &desired.project,
        &desired.dir,
        &desired.derived,
        observed,
        &desired.proxy,
        after_start,
    )
}

/// Steps for `files` of the session in `dir` (see [`derived_steps`]).
fn file_steps(
    project: &str,
    dir: &std::path::Path,
    files: &[DerivedFile],
    observed: &Observed,
    proxy: &crate::desired::ProxySetting,
    after_start: bool,
) -> Vec<Step> {
    let vars = session_vars(project, dir, &observed.containers, proxy);
    let mut steps = vec![];
    for f in files {
        let path = dir.join(&f.path);
        let current: Option<(String, u32)> = if f.path == ENV_FILE {
            observed.env_file.clone()
        } else {
            observed.derived.get(&f.path).cloned().flatten()
        };
        let text = current.as_ref().map(|(t, _)| t.as_str());
        let rewrite = matches!(f.render, Render::Rewrite { .. });
        if !rewrite && text.is_some_and(|t| !is_generated(t)) {
            continue; // the user's file: never overwritten (see `foreign_files`)
        }
        // A rewrite needs the file; when the worktree has none there is nothing to rewrite.
        if matches!(f.render, Render::Rewrite { .. }) && current.is_none() {
            continue;
        }
        let mode_ok = current.as_ref().is_none_or(|(_, m)| m & 0o777 == f.mode);
        let desired_text = if after_start {
            Err(f.render.clone())
        } else {
            match render_file(&f.render, &vars, text.map(str::as_bytes)) {
                Ok(Some(t)) => Ok(String::from_utf8_lossy(&t).into_owned()),
                // Validated when the desired state was built; nothing sensible to write.
                Ok(None) | Err(_) => continue,
            }
        };
        // Bytes that are not UTF-8 were read as U+FFFD: such a rewrite is rendered from the
        // file's bytes when applied, so they are kept.
        let desired_text = match desired_text {
            Ok(t)
                if matches!(f.render, Render::Rewrite { .. })
                    && t.contains('\u{FFFD}')
                    && text != Some(t.as_str()) =>
            {
                Err(f.render.clone())
            }
            other => other,
        };
        if let Some(step) = write_step(&f.path, path, text, desired_text, f.mode, mode_ok) {
            steps.push(step);
        }
    }
    steps
}

/// `.env.session` alone, from Docker's answer: what `info` heals without loading the config.
/// Empty when nothing runs (starting is not a reader's business) or the file is right.
pub fn env_file_plan(
    project: &str,
    dir: &std::path::Path,
    observed: &Observed,
    proxy: &crate::desired::ProxySetting,
) -> Plan {
    let mut plan = Plan::default();
    if observed
        .containers
        .iter()
        .any(|c| c.state == State::Running)
    {
        let env = DerivedFile {
            path: ENV_FILE.into(),
            render: Render::EnvSession,
            mode: 0o600,
        };
        for step in file_steps(project, dir, &[env], observed, proxy, false) {
            plan.add(step, &[]);
        }
    }
    plan
}

/// Generated files on disk that dev-prism did not write (no generated header): the user's
/// files with a generated file's name, which no step overwrites or deletes.
pub fn foreign_files(desired: &Desired, observed: &Observed) -> Vec<String> {
    let mut out = vec![];
    if observed
        .session_file
        .as_deref()
        .is_some_and(|t| !is_generated(t))
    {
        out.push(SESSION_FILE.to_string());
    }
    for f in &desired.derived {
        if matches!(f.render, Render::Rewrite { .. }) {
            continue;
        }
        let current = if f.path == ENV_FILE {
            observed.env_file.as_ref()
        } else {
            observed.derived.get(&f.path).and_then(Option::as_ref)
        };
        if current.is_some_and(|(t, _)| !is_generated(t)) {
            out.push(f.path.clone());
        }
    }
    out
}
