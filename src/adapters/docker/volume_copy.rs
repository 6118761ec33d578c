//! A new session's volumes as copies of another session's (`--data-from`), through the engine
//! only — a remote engine has no host paths. Throwaway containers are made from an image
//! already on the engine (the source's), mounting the source volumes read-only and the new
//! ones. When that image has a `cp`, each copy is a started container running `cp -a` (the
//! fast way, all volumes at once); when it has none (distroless), the containers are only
//! created, never started, and the archive endpoints stream each source into its copy (GET
//! archive → PUT archive, never held whole in memory).
//!
//! The source is never changed: its volumes are mounted read-only and without Docker's
//! copy-up; its running containers are paused for the copy (a crash-consistent copy) and
//! always unpaused — on success, on error, and when the copy is abandoned (Ctrl-C drops the
//! future: a guard unpauses from its own thread and connection).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions, VolumeCreateRequest,
};
use bollard::query_parameters::{
    DownloadFromContainerOptions, RemoveContainerOptions, UploadToContainerOptions,
};
use futures_util::StreamExt;

use super::DockerEngine;
use crate::adapters::endpoint::Endpoint;
use crate::compose::labels;
use crate::error::Result;
use crate::plan::ready::{DataSource, NewVolume};

/// A volume copy lasts as long as the data takes to stream.
const COPY_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How long an abandoned copy may take to unpause the source.
const UNPAUSE_TIMEOUT: Duration = Duration::from_secs(20);

impl DockerEngine {
    /// Creates `volumes` and copies each from the source volume it names (see the module).
    /// `dir` and `project` are the new session's: the throwaway containers carry its labels,
    /// so a copy abandoned halfway (Ctrl-C, `kill -9`) leaves nothing its destroy (or
    /// create's rollback) does not remove. Several copies of one source may run at once (they
    /// share its lock): each pauses it, and only the one for which `last_out` says no other
    /// copy remains unpauses it.
    pub async fn copy_volumes(
        &self,
        dir: &str,
        project: &str,
        source: &DataSource,
        volumes: &[NewVolume],
        last_out: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<()> {
        for v in volumes {
            let started = std::time::Instant::now();
            let request = VolumeCreateRequest {
                name: Some(v.name.clone()),
                driver: v.driver.clone(),
                driver_opts: Some(v.driver_opts.clone().into_iter().collect()),
                labels: Some(v.labels.clone().into_iter().collect()),
                ..Default::default()
            };
            self.client
                .create_volume(request)
                .await
                .map_err(|e| self.api_error(&format!("create volume {}", v.name), e))?;
            self.trace.call(
                &format!("Docker API: POST /volumes/create ({})", v.name),
                started,
            );
        }
        let copies: Vec<(&str, &str)> = volumes
            .iter()
            .filter_map(|v| Some((v.from.as_deref()?, v.name.as_str())))
            .collect();
        if copies.is_empty() {
            return Ok(());
        }
        let mut guard = Guard {
            endpoint: self.endpoint.clone(),
            paused: vec![],
            trace: self.trace.clone(),
            last_out: Some(last_out),
            all: source.pause.clone(),
        };
        let mut throwaways = vec![];
        let result = self
            .copy_paused(dir, project, source, &copies, &mut guard, &mut throwaways)
            .await;
        // Another copy still reading the source keeps it paused; the last one out unpauses
        // every container of the source, whichever copy paused it.
        let last = guard.last_out.take().is_some_and(|f| f());
        let unpaused = if last {
            for id in &source.pause {
                if !guard.paused.contains(id) {
                    guard.paused.push(id.clone());
                }
            }
            self.unpause(&mut guard).await
        } else {
            guard.paused.clear();
            Ok(())
        };
        for id in throwaways {
            let started = std::time::Instant::now();
            let _ = self
                .client
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: false,
                        link: false,
                    }),
                )
                .await;
            self.trace
                .call(&format!("Docker API: DELETE /containers/{id}"), started);
        }
        // A source left paused matters more than why the copy failed (the engine going away
        // fails both): that is the error, and its hint the command that unpauses it.
        unpaused.and(result)
    }

    async fn copy_paused(
        &self,
        dir: &str,
        project: &str,
        source: &DataSource,
        copies: &[(&str, &str)],
        guard: &mut Guard<'_>,
        throwaways: &mut Vec<String>,
    ) -> Result<()> {
        for id in &source.pause {
            let started = std::time::Instant::now();
            let paused = self.client.pause_container(id).await;
            self.trace
                .call(&format!("Docker API: POST /containers/{id}/pause"), started);
            match paused {
                Ok(()) => guard.paused.push(id.clone()),
                // Gone, or no longer running (stopped, or paused by someone else): nothing
                // to pause, and nothing of ours to unpause.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => {}
                Err(e) => return Err(self.api_error(&format!("pause container {id}"), e)),
            }
        }
        if self
            .copy_by_cp(dir, project, source, copies, throwaways)
            .await?
        {
            return Ok(());
        }
        // Two containers: the engine locks a container while an archive streams out of it,
        // so reading and writing through one would wait on itself.
        let mount = |side: &str, vols: Vec<&str>| -> Vec<(String, String, bool)> {
            vols.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    (
                        v.to_string(),
                        format!("/dev-prism-{side}-{i}"),
                        side == "from",
                    )
                })
                .collect()
        };
        let never = vec!["/dev-prism-never-runs".to_string()];
        let from = mount("from", copies.iter().map(|c| c.0).collect());
        let reader = self
            .throwaway(dir, project, source, from, never.clone())
            .await?;
        throwaways.push(reader.clone());
        let to = mount("to", copies.iter().map(|c| c.1).collect());
        let writer = self.throwaway(dir, project, source, to, never).await?;
        throwaways.push(writer.clone());
        let patient = self.client.clone().with_timeout(COPY_TIMEOUT);
        for (i, (from, to)) in copies.iter().enumerate() {
            let tar = patient
                .download_from_container(
                    &reader,
                    Some(DownloadFromContainerOptions {
                        path: format!("/dev-prism-from-{i}/."),
                    }),
                )
                .map(|chunk| chunk.map_err(std::io::Error::other));
            patient
                .upload_to_container(
                    &writer,
                    Some(UploadToContainerOptions {
                        path: format!("/dev-prism-to-{i}"),
                        ..Default::default()
                    }),
                    bollard::body_try_stream(tar),
                )
                .await
                .map_err(|e| self.api_error(&format!("copy volume {from} into {to}"), e))?;
        }
        Ok(())
    }

    /// The fast way, when the image has a `cp`: one started throwaway container per volume
    /// running `cp -a` between the two mounts (as root, without network). `false` when the
    /// image has no `cp` (nothing was written: the archive way follows).
    async fn copy_by_cp(
        &self,
        dir: &str,
        project: &str,
        source: &DataSource,
        copies: &[(&str, &str)],
        throwaways: &mut Vec<String>,
    ) -> Result<bool> {
        // Every copy at once: each runs in its own container.
        let mut running = vec![];
        for (i, (from, to)) in copies.iter().enumerate() {
            let mounts = vec![
                (from.to_string(), "/dev-prism-from".to_string(), true),
                (to.to_string(), "/dev-prism-to".to_string(), false),
            ];
            let cmd = ["cp", "-a", "/dev-prism-from/.", "/dev-prism-to/"];
            let cmd = cmd.iter().map(|s| s.to_string()).collect();
            let id = self.throwaway(dir, project, source, mounts, cmd).await?;
            throwaways.push(id.clone());
            let started = std::time::Instant::now();
            let start = self.client.start_container(&id, None).await;
            self.trace
                .call(&format!("Docker API: POST /containers/{id}/start"), started);
            match start {
                Ok(()) => running.push((id, from, to)),
                // No `cp` in the image (distroless): the container never ran.
                Err(_) if i == 0 => return Ok(false),
                Err(e) => return Err(self.api_error(&format!("copy volume {from}"), e)),
            }
        }
        let patient = self.client.clone().with_timeout(COPY_TIMEOUT);
        for (id, from, to) in running {
            let started = std::time::Instant::now();
            let waited = patient.wait_container(&id, None).next().await;
            self.trace.call(
                &format!("Docker API: POST /containers/{id}/wait (the copy {from} → {to})"),
                started,
            );
            let code = match waited {
                Some(Ok(r)) => r.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(e)) => return Err(self.api_error(&format!("copy volume {from}"), e)),
                None => -1,
            };
            if code != 0 {
                return Err(crate::error::Error::failure(format!(
                    "copying volume {from} into {to} failed: `cp -a` exited with code {code}"
                )));
            }
        }
        Ok(true)
    }

    /// A throwaway container mounting `mounts` (volume, path, read-only), labelled as the new
    /// session's; `cmd` runs only when it is started.
    async fn throwaway(
        &self,
        dir: &str,
        project: &str,
        source: &DataSource,
        mounts: Vec<(String, String, bool)>,
        cmd: Vec<String>,
    ) -> Result<String> {
        let mounts = mounts
            .into_iter()
            .map(|(volume, path, read_only)| Mount {
                target: Some(path),
                source: Some(volume),
                typ: Some(MountType::VOLUME),
                read_only: Some(read_only),
                // Docker would otherwise fill an empty volume from the image.
                volume_options: Some(MountVolumeOptions {
                    no_copy: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let labels = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::WORKING_DIR.to_string(), dir.to_string()),
            (labels::PROJECT.to_string(), project.to_string()),
            (
                labels::SERVICE.to_string(),
                crate::observed::VOLUME_COPY_SERVICE.to_string(),
            ),
            (
                crate::compose::labels::DATA_FROM.to_string(),
                source.dir.to_string_lossy().into_owned(),
            ),
        ]);
        let body = ContainerCreateBody {
            image: Some(source.image.clone()),
            cmd: Some(cmd),
            entrypoint: Some(vec![]),
            user: Some("0:0".into()),
            network_disabled: Some(true),
            labels: Some(labels),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let created = self
            .client
            .create_container(None, body)
            .await
            .map_err(|e| self.api_error("create a container to copy volumes through", e))?;
        self.trace
            .call("Docker API: POST /containers/create", started);
        Ok(created.id)
    }

    /// Unpauses what was paused; disarms the guard.
    async fn unpause(&self, guard: &mut Guard<'_>) -> Result<()> {
        let (mut first_error, mut left) = (None, vec![]);
        for id in std::mem::take(&mut guard.paused) {
            let started = std::time::Instant::now();
            let unpaused = self.client.unpause_container(&id).await;
            self.trace.call(
                &format!("Docker API: POST /containers/{id}/unpause"),
                started,
            );
            match unpaused {
                Ok(()) => {}
                // Gone (its session destroyed) or not paused: nothing left to unpause, and
                // nothing to advise.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => {}
                Err(e) => {
                    first_error
                        .get_or_insert(self.api_error(&format!("unpause container {id}"), e));
                    left.push(id);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e.with_hint(format!(
                "the source's containers are left paused: run `docker unpause {}` once the engine answers",
                left.join(" ")
            ))),
        }
    }
}

impl DockerEngine {
    /// Unpauses containers a plan observed paused, before Compose brings the session up
    /// (Compose cannot start a paused container). A copy whose dev-prism was killed (`kill
    /// -9`) could not unpause its source: the source's next `apply` or `start` does.
    pub async fn unpause_containers(&self, ids: &[String]) -> Result<()> {
        for id in ids {
            self.client
                .unpause_container(id)
                .await
                .map_err(|e| self.api_error(&format!("unpause container {id}"), e))?;
        }
        Ok(())
    }

    /// The container's recent healthchecks, oldest first: when each started and its exit
    /// code. One inspect: asked only of containers dev-prism just unpaused, whose health
    /// status may be stale.
    pub async fn health_log(&self, id: &str) -> Result<Vec<(String, i64)>> {
        let c = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| self.api_error(&format!("inspect container {id}"), e))?;
        Ok(c.state
            .and_then(|s| s.health)
            .and_then(|h| h.log)
            .unwrap_or_default()
            .into_iter()
            .map(|l| (l.start.unwrap_or_default(), l.exit_code.unwrap_or(-1)))
            .collect())
    }
}

/// Unpauses the source when the copy is abandoned (its future dropped: Ctrl-C). Runs on its
/// own thread, runtime, connection (and ssh tunnel), so it works while the caller's runtime is busy
/// dropping the copy; the throwaway containers carry the new session's labels and go with
/// its rollback. Like a copy that ends, an abandoned one unpauses the source only when no
/// other copy still reads it (`last_out`), and then all of it.
struct Guard<'a> {
    endpoint: Endpoint,
    paused: Vec<String>,
    trace: crate::ui::Trace,
    /// Asked once, by whichever ends first: the copy, or this guard.
    last_out: Option<&'a (dyn Fn() -> bool + Send + Sync)>,
    /// Every container of the source the copy found running or paused.
    all: Vec<String>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(last_out) = self.last_out.take() {
            if last_out() {
                for id in std::mem::take(&mut self.all) {
                    if !self.paused.contains(&id) {
                        self.paused.push(id);
                    }
                }
            } else {
                self.paused.clear();
            }
        }
        if self.paused.is_empty() {
            return;
        }
        let mut guard = Guard {
            endpoint: self.endpoint.clone(),
            paused: std::mem::take(&mut self.paused),
            trace: self.trace.clone(),
            last_out: None,
            all: vec![],
        };
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let unpause = async {
                        // Its own ssh tunnel too: the caller's runs on the busy runtime.
                        let tunnel =
                            crate::adapters::endpoint::SshTarget::parse(&guard.endpoint.host)
                                .and_then(|t| {
                                    crate::adapters::ssh::Tunnel::start(&t, &guard.trace).ok()
                                })
                                .map(std::sync::Arc::new);
                        let connected =
                            DockerEngine::connect(guard.endpoint.clone(), tunnel, &guard.trace)
                                .await;
                        if let Ok(engine) = connected {
                            let _ = engine.unpause(&mut guard).await;
                        }
                    };
                    let _ = tokio::time::timeout(UNPAUSE_TIMEOUT, unpause).await;
                });
            }
            // Tried once; never again from this guard's own drop.
            guard.paused.clear();
        })
        .join();
    }
}
