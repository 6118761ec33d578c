//! What apply may do to the world, as one narrow trait named after the domain. The real
//! implementation drives the adapters; tests drive a strict in-memory fake.

use std::path::Path;
use std::time::Duration;

use crate::adapters::process::Cancel;
use crate::adapters::{fs, outputs};
use crate::compose::file_args;
use crate::context::Ctx;
use crate::desired::{Desired, Var};
use crate::error::{Error, Problem, Result};
use crate::observed::Container;
use crate::plan::ready::{DataSource, NewVolume};

/// The Docker objects of a project a step removes, as the plan lists them.
pub struct ProjectObjects<'a> {
    /// `(id, name)`.
    pub containers: &'a [(String, String)],
    pub networks: &'a [String],
    pub volumes: &'a [String],
    pub images: &'a [String],
}

/// Every effect a plan's steps can have.
#[allow(async_fn_in_trait)] // crate-internal; used with static dispatch only
pub trait Effects {
    /// The session's containers now (one observation).
    async fn containers(&mut self, desired: &Desired) -> Result<Vec<Container>>;
    /// A file's bytes (envFiles keep bytes that are not UTF-8).
    fn read_file(&mut self, path: &Path) -> Result<Option<Vec<u8>>>;
    /// Writes `path`, never outside `root` (the session directory).
    fn write_file(&mut self, root: &Path, path: &Path, content: &[u8], mode: u32) -> Result<()>;
    fn remove_file(&mut self, root: &Path, path: &Path) -> Result<()>;
    /// Brings the session's `services` up (those `profiles` enable among them), recreating
    /// the changed ones; `remove_orphans` also removes containers of services it no longer has.
    async fn up(
        &mut self,
        desired: &Desired,
        services: &[String],
        profiles: &[String],
        remove_orphans: bool,
    ) -> Result<()>;
    async fn stop(&mut self, ids: &[String]) -> Result<()>;
    /// Unpauses the given containers of the session.
    async fn unpause(&mut self, ids: &[String]) -> Result<()>;
    /// Whether the container's health status can be believed: false for one this apply
    /// unpaused until an observation made after its next healthcheck has run (its checks
    /// failed while it was paused).
    async fn health_is_current(&mut self, _id: &str) -> Result<bool> {
        Ok(true)
    }
    /// Removes exactly the given objects of `project` (observed when the plan was made):
    /// its containers `(id, name)`, then its networks, built images and volumes. The one place
    /// a session's Docker objects are removed; it lists nothing itself.
    async fn remove_project(&mut self, project: &str, objects: &ProjectObjects<'_>) -> Result<()>;
    /// Adds the worktree and records that dev-prism made it.
    fn add_worktree(
        &mut self,
        path: &Path,
        branch: &str,
        create_branch: bool,
        start: Option<&str>,
    ) -> Result<()>;
    /// Adds the generated `names` (relative to the new worktree `path`) to the repository's
    /// `info/exclude` block unless git ignores them already (best effort: a failure is a
    /// warning, the session works without it).
    fn exclude_generated(&mut self, path: &Path, names: &[String]);
    /// Copies a file into the session directory, never over an existing one.
    /// Copies `from` (inside the main checkout) to `to` (never outside `root`).
    fn copy_file(&mut self, root: &Path, from: &Path, to: &Path, mode: u32) -> Result<()>;
    fn remove_worktree(&mut self, path: &Path, force: bool) -> Result<()>;
    /// Copies `paths` (relative) from the main checkout `from` into the new worktree `to`:
    /// never over an existing file, links as links, never through a link.
    fn copy_tree(&mut self, from: &Path, to: &Path, paths: &[std::path::PathBuf]) -> Result<()>;
    /// Creates `volumes` carrying Compose's labels, each a copy of `source`'s volume it names
    /// (or empty); `source`'s running containers are paused meanwhile and always unpaused.
    async fn copy_volumes(
        &mut self,
        desired: &Desired,
        source: &DataSource,
        volumes: &[NewVolume],
    ) -> Result<()>;
    /// Deletes the branch while it still points at `expected` (`--force` was already decided
    /// when the plan was made).
    fn delete_branch(&mut self, branch: &str, expected: &str) -> Result<()>;
    /// Runs one setup command; a signal `cancel` reports meanwhile is forwarded to it and ends
    /// the step as interrupted.
    async fn run_setup(
        &mut self,
        dir: &Path,
        command: &str,
        vars: &[Var],
        cancel: &mut Cancel,
    ) -> Result<()>;
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
    /// Containers this apply unpaused → when their last healthcheck seen right after the
    /// unpause started; gone from here once a check of the running container has run.
    pub unpaused: std::collections::BTreeMap<String, Option<String>>,
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
            .session_containers_for_readiness(&desired.dir.to_string_lossy())
            .await
    }

    fn read_file(&mut self, path: &Path) -> Result<Option<Vec<u8>>> {
        fs::read_bytes(path)
    }

    fn write_file(&mut self, root: &Path, path: &Path, content: &[u8], mode: u32) -> Result<()> {
        fs::write_atomic(root, path, content, mode)
    }

    fn remove_file(&mut self, root: &Path, path: &Path) -> Result<()> {
        fs::remove(root, path)
    }

    async fn up(
        &mut self,
        desired: &Desired,
        services: &[String],
        profiles: &[String],
        remove_orphans: bool,
    ) -> Result<()> {
        // A Compose of another flavour than the session's was refused with the plan.
        let compose = self.ctx.compose()?;
        // A job that is done is left out of `services`; as a dependency Compose would run it
        // again, so dependencies are not pulled in then (every other one is listed).
        let no_deps = desired
            .services
            .iter()
            .any(|(n, s)| s.run && s.is_job && !services.contains(n));
        // A subnet taken since the plan was made fails here, as Compose says: the apply ends
        // and the reconciler observes and plans again (`reconcile::carry_out_counted`).
        compose
            .up(
                &desired.dir,
                &desired.project,
                &file_args(&desired.compose_files, desired.flavor),
                services,
                profiles,
                (remove_orphans, no_deps),
            )
            .await
    }

    async fn unpause(&mut self, ids: &[String]) -> Result<()> {
        let engine = self.ctx.engine().await?;
        engine.unpause_containers(ids).await?;
        for id in ids {
            let log = engine.health_log(id).await?;
            self.unpaused
                .insert(id.clone(), log.last().map(|(start, _)| start.clone()));
        }
        Ok(())
    }

    async fn health_is_current(&mut self, id: &str) -> Result<bool> {
        let Some(seen) = self.unpaused.get(id) else {
            return Ok(true);
        };
        let log = self.ctx.engine().await?.health_log(id).await?;
        if crate::apply::checked_since(&log, seen.as_deref()) {
            // From the next observation on: the status in hand was listed before this
            // inspect, so it may predate the check just found (seen on Docker when nothing
            // ran between the unpause and the first look).
            self.unpaused.remove(id);
        }
        Ok(false)
    }

    async fn stop(&mut self, ids: &[String]) -> Result<()> {
        self.ctx.engine().await?.stop(ids).await
    }

    async fn remove_project(&mut self, _project: &str, o: &ProjectObjects<'_>) -> Result<()> {
        let engine = self.ctx.engine().await?;
        engine
            .remove_objects(o.containers, o.networks, o.images, o.volumes)
            .await
    }

    fn add_worktree(
        &mut self,
        path: &Path,
        branch: &str,
        create_branch: bool,
        start: Option<&str>,
    ) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        let git = self.ctx.git();
        git.add_worktree(self.repo()?, path, branch, create_branch, start)?;
        git.mark_worktree(path)
    }

    fn exclude_generated(&mut self, path: &Path, names: &[String]) {
        if let Err(e) = self.ctx.git().exclude_generated(path, names) {
            self.ctx.ui().warn(&format!(
                "could not add the generated files to the repository's info/exclude ({}); `git status` in the session shows them",
                e.message()
            ));
        }
    }

    fn copy_file(&mut self, root: &Path, from: &Path, to: &Path, mode: u32) -> Result<()> {
        if to.symlink_metadata().is_ok() {
            return Ok(());
        }
        fs::copy(self.repo()?, from, root, to, mode)
    }

    fn remove_worktree(&mut self, path: &Path, force: bool) -> Result<()> {
        self.ctx.git().remove_worktree(self.repo()?, path, force)
    }

    fn copy_tree(&mut self, from: &Path, to: &Path, paths: &[std::path::PathBuf]) -> Result<()> {
        let started = std::time::Instant::now();
        let c = crate::adapters::tree::copy_files(from, to, paths)?;
        self.ctx.trace().call(
            &format!(
                "copy into {}: {} files, {} bytes; {} cloned copy-on-write, {} kept",
                to.display(),
                c.files,
                c.bytes,
                c.cloned,
                c.kept
            ),
            started,
        );
        Ok(())
    }

    async fn copy_volumes(
        &mut self,
        desired: &Desired,
        source: &DataSource,
        volumes: &[NewVolume],
    ) -> Result<()> {
        // Shared with other copies of the source, never with a command changing it: its
        // destroy or apply waits for the copy (busy), and this copy fails at once while one
        // runs (DESIGN §10 "a busy source").
        let share = crate::context::lock_shared(&source.dir)?;
        let engine = self.ctx.engine().await?;
        // The plan observed the source before this lock: it may have been started, stopped,
        // recreated or destroyed since. What is paused (and whose the project is) is observed
        // again now that nothing can change it.
        let found = engine
            .find_source(&source.dir)
            .await?
            .filter(|f| f.project == source.project);
        let Some(found) = found else {
            return Err(Error::usage(format!(
                "--data-from {}: its session changed since the plan ({} no longer has containers there); nothing was copied",
                source.dir.display(),
                source.project
            )));
        };
        if found.dev_prism {
            engine.project_owners(&found.project, false).await?.check(
                &source.dir.to_string_lossy(),
                &found.project,
                true,
            )?;
        }
        let source = DataSource {
            pause: found.running,
            ..source.clone()
        };
        let dir = desired.dir.to_string_lossy();
        engine
            .copy_volumes(&dir, &desired.project, &source, volumes, &|| share.last())
            .await
    }

    fn delete_branch(&mut self, branch: &str, expected: &str) -> Result<()> {
        self.ctx.git().delete_branch(self.repo()?, branch, expected)
    }

    async fn run_setup(
        &mut self,
        dir: &Path,
        command: &str,
        vars: &[Var],
        cancel: &mut Cancel,
    ) -> Result<()> {
        // What the command writes in a worktree dev-prism made is recorded as its output.
        let manifest = self.ctx.git().setup_manifest(dir).ok().flatten();
        let before = manifest.as_ref().map(|_| outputs::stamps(dir));
        let status = crate::adapters::process::run_shell(dir, command, vars, cancel).await;
        // Only a command that succeeded: one interrupted or failed leaves a session that is
        // rolled back or inspected, and what appeared meanwhile may be someone's work.
        let succeeded = status.as_ref().is_ok_and(|s| s.success());
        if let (Some((root, file)), Some(before), true) = (&manifest, &before, succeeded) {
            if let Err(e) = outputs::record(root, file, dir, before) {
                self.ctx.ui().warn(&format!(
                    "could not record what `{command}` wrote ({}); a destroy keeps it as work",
                    e.message()
                ));
            }
        }
        let status = status?;
        if status.success() {
            return Ok(());
        }
        let code = status.code().map_or_else(
            || {
                use std::os::unix::process::ExitStatusExt;
                format!("signal {}", status.signal().unwrap_or(0))
            },
            |c| format!("exit code {c}"),
        );
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

/// A failed setup command, named with its exit code (create keeps the session: see
/// `reconcile::create::is_setup`).
pub fn setup_failed(command: &str, code: &str) -> Error {
    Error::from(Problem::SetupFailed {
        command: command.to_string(),
        status: code.to_string(),
    })
}
