//! The ports to the outside world the rest of the program sees: the container [`Engine`]
//! (containers, networks, volumes, images, events) and [`Compose`]. The real ones are the Docker
//! Engine API ([`super::docker::DockerEngine`]) and the Compose CLI
//! ([`super::compose::ComposeCli`]); [`connect`] and [`detect_compose`] are the only places
//! that name them. A second engine is a new implementation of these traits, made in
//! [`connect`]: no code outside `adapters/` changes. The test fakes are in `fake.rs`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use super::compose::ComposeCli;
use super::docker::{
    DiskUsage, DockerEngine, EngineKind, EngineSecurity, FoundSource, NetworkSubnets,
};
use super::endpoint::Endpoint;
use super::ssh::Tunnel;
use crate::compose::Flavor;
use crate::error::Result;
use crate::observed::{Container, EngineHost, Owners};
use crate::plan::ready::{DataSource, NewVolume};
use crate::ui::Trace;

/// What a port's asynchronous method returns: a boxed future, so the ports are object safe
/// and the connection is shared as `Arc<dyn Engine>` by every task of a bulk command.
pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A stream of "something changed" signals (the proxy drops its route table on each).
pub type Events<'a> = Pin<Box<dyn futures_util::Stream<Item = Result<()>> + Send + 'a>>;

/// A container engine, as dev-prism uses it. Every method is one domain question or change;
/// none names a CLI flag or an API path.
pub trait Engine: Send + Sync {
    /// The endpoint connected to.
    fn endpoint(&self) -> &Endpoint;
    /// The API version negotiated (for `doctor`).
    fn api_version(&self) -> &str;
    /// Where its published ports are, seen from this machine.
    fn host(&self) -> &EngineHost;
    /// The engine's own version (for `doctor`).
    fn server_version(&self) -> Fut<'_, String>;
    /// Docker or Podman (from `/_ping`).
    fn kind(&self) -> &EngineKind;
    /// Rootless or not, and on which cgroup version (from `/info`).
    fn security(&self) -> Fut<'_, EngineSecurity>;

    // Containers.
    /// A session's containers (running or not), by its directory.
    fn session_containers<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<Container>>;
    /// The same, for a wait on readiness: an engine that does not run healthchecks by itself
    /// (Podman without systemd) runs the due ones first.
    fn session_containers_for_readiness<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<Container>> {
        self.session_containers(dir)
    }
    /// Every session container of one repository.
    fn repo_containers<'a>(&'a self, root: &'a str) -> Fut<'a, Vec<Container>>;
    /// Every session container on the engine.
    fn all_sessions(&self) -> Fut<'_, Vec<Container>>;
    /// Who owns a Compose project name (containers, networks, volumes carrying its label).
    fn project_owners<'a>(&'a self, project: &'a str, made: bool) -> Fut<'a, Owners>;
    /// The proxy names the sessions other than `dir`'s took.
    fn proxy_hosts<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<String>>;
    /// Stops containers, each within its own grace period.
    fn stop<'a>(&'a self, ids: &'a [String]) -> Fut<'a, ()>;
    /// Unpauses containers.
    fn unpause_containers<'a>(&'a self, ids: &'a [String]) -> Fut<'a, ()>;
    /// A container's health check results, oldest first: (end time, exit code).
    fn health_log<'a>(&'a self, id: &'a str) -> Fut<'a, Vec<(String, i64)>>;
    /// The session (or plain Compose project) whose containers name `dir`.
    fn find_source<'a>(&'a self, dir: &'a Path) -> Fut<'a, Option<FoundSource>>;
    /// A signal on every change to a session container.
    fn session_events(&self) -> Events<'_>;

    // Networks, volumes, images.
    /// Every network with its subnets (one call).
    fn network_subnets(&self) -> Fut<'_, Vec<NetworkSubnets>>;
    fn project_networks<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>>;
    fn project_volumes<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>>;
    fn project_images<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>>;
    /// A project's volumes by Compose volume key.
    fn volumes_by_key<'a>(&'a self, project: &'a str) -> Fut<'a, BTreeMap<String, String>>;
    /// Where volumes keep their data on this machine (a local engine only).
    fn local_volume_paths<'a>(
        &'a self,
        volumes: &'a [String],
    ) -> Fut<'a, Option<(PathBuf, Vec<PathBuf>)>>;
    /// Creates `volumes` copied from the source's (see `docker/volume_copy.rs`).
    fn copy_volumes<'a>(
        &'a self,
        dir: &'a str,
        project: &'a str,
        source: &'a DataSource,
        volumes: &'a [NewVolume],
        last_out: &'a (dyn Fn() -> bool + Send + Sync),
    ) -> Fut<'a, ()>;
    /// Removes a project's containers, networks, volumes and built images.
    fn remove_project<'a>(&'a self, project: &'a str, dir: &'a str) -> Fut<'a, ()>;
    /// Removes exactly these objects (a plan's, observed when it was made): the containers
    /// `(id, name)`, then the networks, images and volumes. One already gone is no error.
    fn remove_objects<'a>(
        &'a self,
        containers: &'a [(String, String)],
        networks: &'a [String],
        images: &'a [String],
        volumes: &'a [String],
    ) -> Fut<'a, ()>;
    /// What the engine's data takes on disk, per session.
    fn disk_usage(&self) -> Fut<'_, DiskUsage>;
}

/// Brings a Compose project up and reads its logs.
pub trait Compose: Send + Sync {
    /// v2 or v1.
    fn flavor(&self) -> Flavor;
    /// Its version, as it reports it.
    fn version(&self) -> &str;
    /// `up -d` for the given services (`(remove_orphans, no_deps)`). Dropping the future
    /// stops Compose.
    fn up<'a>(
        &'a self,
        dir: &'a Path,
        project: &'a str,
        files: &'a [String],
        services: &'a [String],
        profiles: &'a [String],
        flags: (bool, bool),
    ) -> Fut<'a, ()>;
    /// Streams logs (`(tail, follow)`) to this process's own output; `true` when a signal
    /// `cancel` reported ended it.
    fn stream_logs<'a>(
        &'a self,
        dir: &'a Path,
        project: &'a str,
        files: &'a [String],
        services: &'a [String],
        lines: (usize, bool),
        cancel: &'a mut super::process::Cancel,
    ) -> Fut<'a, bool>;
    /// The last `n` log lines of one service (for explaining a failure).
    fn logs_tail(
        &self,
        dir: &Path,
        project: &str,
        files: &[String],
        service: &str,
        n: usize,
    ) -> String;
}

/// Connects to the engine at `endpoint` (through `tunnel` for ssh).
pub async fn connect(
    endpoint: Endpoint,
    tunnel: Option<Arc<Tunnel>>,
    trace: &Trace,
) -> Result<Arc<dyn Engine>> {
    Ok(Arc::new(
        DockerEngine::connect(endpoint, tunnel, trace).await?,
    ))
}

/// Finds a working Compose CLI for `endpoint` (see [`ComposeCli::detect`]).
pub fn detect_compose(
    endpoint: &Endpoint,
    dial: Option<String>,
    prefer: Option<Flavor>,
    trace: &Trace,
) -> Result<Arc<dyn Compose>> {
    Ok(Arc::new(ComposeCli::detect(endpoint, dial, prefer, trace)?))
}

impl Engine for DockerEngine {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
    fn api_version(&self) -> &str {
        &self.api_version
    }
    fn host(&self) -> &EngineHost {
        &self.host
    }
    fn server_version(&self) -> Fut<'_, String> {
        Box::pin(DockerEngine::server_version(self))
    }
    fn kind(&self) -> &EngineKind {
        &self.kind
    }
    fn security(&self) -> Fut<'_, EngineSecurity> {
        Box::pin(DockerEngine::security(self))
    }
    fn session_containers<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<Container>> {
        Box::pin(DockerEngine::session_containers(self, dir))
    }
    fn session_containers_for_readiness<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<Container>> {
        Box::pin(DockerEngine::session_containers_for_readiness(self, dir))
    }
    fn repo_containers<'a>(&'a self, root: &'a str) -> Fut<'a, Vec<Container>> {
        Box::pin(DockerEngine::repo_containers(self, root))
    }
    fn all_sessions(&self) -> Fut<'_, Vec<Container>> {
        Box::pin(DockerEngine::all_sessions(self))
    }
    fn project_owners<'a>(&'a self, project: &'a str, made: bool) -> Fut<'a, Owners> {
        Box::pin(DockerEngine::project_owners(self, project, made))
    }
    fn proxy_hosts<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<String>> {
        Box::pin(DockerEngine::proxy_hosts(self, dir))
    }
    fn stop<'a>(&'a self, ids: &'a [String]) -> Fut<'a, ()> {
        Box::pin(DockerEngine::stop(self, ids))
    }
    fn unpause_containers<'a>(&'a self, ids: &'a [String]) -> Fut<'a, ()> {
        Box::pin(DockerEngine::unpause_containers(self, ids))
    }
    fn health_log<'a>(&'a self, id: &'a str) -> Fut<'a, Vec<(String, i64)>> {
        Box::pin(DockerEngine::health_log(self, id))
    }
    fn find_source<'a>(&'a self, dir: &'a Path) -> Fut<'a, Option<FoundSource>> {
        Box::pin(DockerEngine::find_source(self, dir))
    }
    fn session_events(&self) -> Events<'_> {
        Box::pin(DockerEngine::session_events(self))
    }
    fn network_subnets(&self) -> Fut<'_, Vec<NetworkSubnets>> {
        Box::pin(DockerEngine::network_subnets(self))
    }
    fn project_networks<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>> {
        Box::pin(DockerEngine::project_networks(self, project))
    }
    fn project_volumes<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>> {
        Box::pin(DockerEngine::project_volumes(self, project))
    }
    fn project_images<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>> {
        Box::pin(DockerEngine::project_images(self, project))
    }
    fn volumes_by_key<'a>(&'a self, project: &'a str) -> Fut<'a, BTreeMap<String, String>> {
        Box::pin(DockerEngine::volumes_by_key(self, project))
    }
    fn local_volume_paths<'a>(
        &'a self,
        volumes: &'a [String],
    ) -> Fut<'a, Option<(PathBuf, Vec<PathBuf>)>> {
        Box::pin(DockerEngine::local_volume_paths(self, volumes))
    }
    fn copy_volumes<'a>(
        &'a self,
        dir: &'a str,
        project: &'a str,
        source: &'a DataSource,
        volumes: &'a [NewVolume],
        last_out: &'a (dyn Fn() -> bool + Send + Sync),
    ) -> Fut<'a, ()> {
        Box::pin(DockerEngine::copy_volumes(
            self, dir, project, source, volumes, last_out,
        ))
    }
    fn remove_project<'a>(&'a self, project: &'a str, dir: &'a str) -> Fut<'a, ()> {
        Box::pin(DockerEngine::remove_project(self, project, dir))
    }
    fn remove_objects<'a>(
        &'a self,
        containers: &'a [(String, String)],
        networks: &'a [String],
        images: &'a [String],
        volumes: &'a [String],
    ) -> Fut<'a, ()> {
        Box::pin(DockerEngine::remove_objects(
            self, containers, networks, images, volumes,
        ))
    }
    fn disk_usage(&self) -> Fut<'_, DiskUsage> {
        Box::pin(DockerEngine::disk_usage(self))
    }
}

impl Compose for ComposeCli {
    fn flavor(&self) -> Flavor {
        self.flavor
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn up<'a>(
        &'a self,
        dir: &'a Path,
        project: &'a str,
        files: &'a [String],
        services: &'a [String],
        profiles: &'a [String],
        flags: (bool, bool),
    ) -> Fut<'a, ()> {
        Box::pin(ComposeCli::up(
            self, dir, project, files, services, profiles, flags,
        ))
    }
    fn stream_logs<'a>(
        &'a self,
        dir: &'a Path,
        project: &'a str,
        files: &'a [String],
        services: &'a [String],
        lines: (usize, bool),
        cancel: &'a mut super::process::Cancel,
    ) -> Fut<'a, bool> {
        Box::pin(ComposeCli::stream_logs(
            self, dir, project, files, services, lines, cancel,
        ))
    }
    fn logs_tail(
        &self,
        dir: &Path,
        project: &str,
        files: &[String],
        service: &str,
        n: usize,
    ) -> String {
        ComposeCli::logs_tail(self, dir, project, files, service, n)
    }
}
