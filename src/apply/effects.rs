//! What apply may do to the world, as one narrow trait named after the domain. The real
//! implementation drives the adapters; tests drive a strict in-memory fake.

use std::path::Path;
use std::time::Duration;

use crate::adapters::{fs, git};
use crate::compose::file_args;
use crate::context::Ctx;
use crate::desired::{Desired, Var};
use crate::error::{Error, Result};
use crate::observed::Container;

/// Every effect a plan's steps can have.
#[allow(async_fn_in_trait)] // crate-internal; used with static dispatch only
pub trait Effects {
    /// The session's containers now (one observation).
    async fn containers(&mut self, desired: &Desired) -> Result<Vec<Container>>;
    fn read_file(&mut self, path: &Path) -> Result<Option<String>>;
    fn write_file(&mut self, path: &Path, content: &str, mode: u32) -> Result<()>;
    fn remove_file(&mut self, path: &Path) -> Result<()>;
    async fn compose_up(
        &mut self,
        desired: &Desired,
        services: &[String],
        profiles: &[String],
        remove_orphans: bool,
    ) -> Result<()>;
    async fn stop(&mut self, ids: &[String]) -> Result<()>;
    async fn remove_project(&mut self, desired: &Desired, project: &str) -> Result<()>;
    fn add_worktree(&mut self, path: &Path, branch: &str, create_branch: bool) -> Result<()>;
    fn remove_worktree(&mut self, path: &Path, force: bool) -> Result<()>;
    fn delete_branch(&mut self, branch: &str) -> Result<()>;
    fn run_setup(&mut self, dir: &Path, command: &str, vars: &[Var]) -> Result<()>;
    /// The last log lines of a service, to explain a failure (best effort).
    fn service_logs(&mut self, desired: &Desired, service: &str) -> String;
    /// Waits between two readiness observations.
    async fn pause(&mut self, d: Duration);
}

/// The effects on the real world: Docker (bollard), the Compose CLI, git, files, `sh`.
pub struct Real<'a> {
    pub ctx: &'a mut Ctx,
    /// The main checkout, where worktree and branch operations run.
    pub repo: Option<&'a Path>,
}

impl Real<'_> {
    fn repo(&self) -> Result<&Path> {
        self.repo.ok_or_else(|| {
            Error::failure("this step needs the git repository, which was not found")
        })
    }
}

impl Effects for Real<'_> {
    async fn containers(&mut self, desired: &Desired) -> Result<Vec<Container>> {
        let engine = self.ctx.engine().await?;
        engine
            .session_containers(&desired.dir.to_string_lossy())
            .await
    }

    fn read_file(&mut self, path: &Path) -> Result<Option<String>> {
        Ok(fs::read(path)?.map(|(t, _)| t))
    }

    fn write_file(&mut self, path: &Path, content: &str, mode: u32) -> Result<()> {
        fs::write_atomic(path, content, mode)
    }

    fn remove_file(&mut self, path: &Path) -> Result<()> {
        fs::remove(path)
    }

    async fn compose_up(
        &mut self,
        desired: &Desired,
        services: &[String],
        profiles: &[String],
        remove_orphans: bool,
    ) -> Result<()> {
        let compose = self.ctx.compose()?;
        if compose.flavor != desired.flavor {
            return Err(Error::failure(format!(
                "this session's files were written for Compose {}, but Compose {} ({}) would run them",
                desired.flavor.label(),
                compose.flavor.label(),
                compose.version
            ))
            .with_hint("set DEV_PRISM_COMPOSE to the flavour the session was made with, or destroy and re-create it"));
        }
        compose
            .up(
                &desired.dir,
                &desired.project,
                &file_args(&desired.compose_files, desired.flavor),
                services,
                profiles,
                remove_orphans,
            )
            .await
    }

    async fn stop(&mut self, ids: &[String]) -> Result<()> {
        self.ctx.engine().await?.stop(ids).await
    }

    async fn remove_project(&mut self, desired: &Desired, project: &str) -> Result<()> {
        let engine = self.ctx.engine().await?;
        engine
            .remove_project(project, &desired.dir.to_string_lossy())
            .await
    }

    fn add_worktree(&mut self, path: &Path, branch: &str, create_branch: bool) -> Result<()> {
        git::add_worktree(self.repo()?, path, branch, create_branch)
    }

    fn remove_worktree(&mut self, path: &Path, force: bool) -> Result<()> {
        git::remove_worktree(self.repo()?, path, force)
    }

    fn delete_branch(&mut self, branch: &str) -> Result<()> {
        git::delete_branch(self.repo()?, branch)
    }

    fn run_setup(&mut self, dir: &Path, command: &str, vars: &[Var]) -> Result<()> {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::io::stderr())
            .status()
            .map_err(|e| Error::failure(format!("could not run setup `{command}`: {e}")))?;
        if status.success() {
            return Ok(());
        }
        let code = status
            .code()
            .map(|c| format!("exit code {c}"))
            .unwrap_or_else(|| "a signal".into());
        Err(setup_failed(command, &code))
    }

    fn service_logs(&mut self, desired: &Desired, service: &str) -> String {
        self.ctx
            .compose()
            .map(|c| {
                c.logs_tail(
                    &desired.dir,
                    &desired.project,
                    &file_args(&desired.compose_files, desired.flavor),
                    service,
                    10,
                )
            })
            .unwrap_or_default()
    }

    async fn pause(&mut self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A failed setup command: named with its exit code; the session stays (no rollback).
pub fn setup_failed(command: &str, code: &str) -> Error {
    let mut e = Error::failure(format!("setup command `{command}` failed with {code}")).with_hint(
        "the session is running; fix the command or run it by hand (`dev-prism info` shows the ports)",
    );
    e.keep_session = true;
    e
}
