//! `maxRunning`: how many sessions of a repository may run at once, counted under the
//! repository's lock so parallel commands cannot overshoot (DESIGN §10).

use std::path::{Path, PathBuf};

use super::Prepared;
use crate::context::{self, Ctx, RepoLock};
use crate::error::{Error, Problem, Result};
use crate::observed::{Container, State};
use crate::plan::{Op, Plan};

/// The directories of the sessions with a running container, other than `dir`, in order.
pub fn running_elsewhere(containers: &[Container], dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = containers
        .iter()
        .filter(|c| c.state == State::Running)
        .filter_map(|c| c.working_dir().map(PathBuf::from))
        .filter(|d| d != dir)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Whether carrying out `plan` makes a session run that does not run now.
pub fn starts_a_session(plan: &Plan, observed: &[Container]) -> bool {
    !observed.iter().any(|c| c.state == State::Running)
        && plan
            .ordered()
            .iter()
            .any(|s| matches!(s.op, Op::ComposeUp { .. }))
}

/// The refusal when `running` already fills `limit`.
pub fn check(limit: u64, running: Vec<PathBuf>) -> Result<()> {
    if (running.len() as u64) < limit {
        return Ok(());
    }
    let first = running.first().map(|d| d.display().to_string());
    Err(
        Error::from(Problem::TooManyRunning { limit, running }).with_hint(format!(
            "stop one first (`dev-prism stop {}`), or raise maxRunning in the config",
            first.as_deref().unwrap_or("DIR")
        )),
    )
}

/// With `maxRunning` set and a plan that starts the session: takes the repository's lock and
/// refuses when the limit is reached. The lock is held by the caller until its plan ran, so a
/// parallel create counts this session too.
pub async fn admit(ctx: &mut Ctx, p: &Prepared) -> Result<Option<RepoLock>> {
    let (Some(limit), Some(root)) = (p.session.config.max_running, &p.session.main_root) else {
        return Ok(None);
    };
    if !starts_a_session(&p.plan, &p.observed.containers) {
        return Ok(None);
    }
    let lock = context::repo_lock(root).await?;
    let containers = ctx
        .engine()
        .await?
        .repo_containers(&root.to_string_lossy())
        .await?;
    check(limit, running_elsewhere(&containers, &p.desired.dir))?;
    Ok(Some(lock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_other_running_sessions() {
        let c = |dir: &str, state: State| Container {
            id: format!("{dir}-{state:?}"),
            name: "app".into(),
            service: "app".into(),
            state,
            health: crate::observed::Health::None,
            exit_code: None,
            status: String::new(),
            ports: vec![],
            labels: [(
                crate::compose::labels::WORKING_DIR.to_string(),
                dir.to_string(),
            )]
            .into(),
            engine_host: Default::default(),
        };
        let cs = vec![
            c("/s/a", State::Running),
            c("/s/a", State::Running),
            c("/s/b", State::Stopped),
            c("/s/me", State::Running),
            c("/s/c", State::Running),
        ];
        let running = running_elsewhere(&cs, Path::new("/s/me"));
        assert_eq!(running, vec![PathBuf::from("/s/a"), PathBuf::from("/s/c")]);
        assert!(check(3, running.clone()).is_ok());
        let err = check(2, running).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "2 session(s) of this repository already run (maxRunning: 2):\n  /s/a\n  /s/c"
        );
        assert!(err.hint.unwrap().contains("`dev-prism stop /s/a`"));
    }
}
