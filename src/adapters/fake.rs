//! In-memory fakes of the ports ([`Engine`], [`Compose`], [`Git`]) for unit tests: the real
//! observer and effects (`Ctx`) run against them through `Ctx::with_ports`, without Docker,
//! Compose or git. Strict where it matters: a call the fake cannot answer faithfully is an
//! error naming it, never a made-up answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::docker::{DiskUsage, EngineKind, EngineSecurity, FoundSource, NetworkSubnets};
use super::endpoint::Endpoint;
use super::engine::{Compose, Engine, Events, Fut};
use super::git::Git;
use crate::compose::{labels, Flavor};
use crate::error::{Error, Result};
use crate::observed::{Container, EngineHost, Fact, Owner, Owners, Worktree, WorktreeFacts};
use crate::plan::ready::{DataSource, NewVolume};

/// One network of the fake engine.
#[derive(Clone, Debug, Default)]
pub struct FakeNetwork {
    pub name: String,
    pub project: String,
    pub subnets: Vec<String>,
}

/// What the fake engine holds; tests fill it and read what the calls did.
#[derive(Debug, Default)]
pub struct EngineState {
    pub containers: Vec<Container>,
    pub networks: Vec<FakeNetwork>,
    /// (project, name)
    pub volumes: Vec<(String, String)>,
    /// (project, reference)
    pub images: Vec<(String, String)>,
    /// Every call, in order (`"remove_project p"`, `"stop c1"`, …).
    pub calls: Vec<String>,
}

/// A container engine in memory.
#[derive(Clone)]
pub struct FakeEngine {
    pub state: Arc<Mutex<EngineState>>,
    endpoint: Endpoint,
    host: EngineHost,
}

impl Default for FakeEngine {
    fn default() -> FakeEngine {
        FakeEngine {
            state: Arc::default(),
            endpoint: Endpoint {
                host: "unix:///fake.sock".into(),
                source: "the fake engine".into(),
                tls: None,
            },
            host: EngineHost::default(),
        }
    }
}

fn ready<'a, T: Send + 'a>(value: Result<T>) -> Fut<'a, T> {
    Box::pin(std::future::ready(value))
}

fn unsupported<'a, T: Send + 'a>(what: &str) -> Fut<'a, T> {
    ready(Err(Error::failure(format!(
        "the fake engine cannot {what}"
    ))))
}

impl FakeEngine {
    fn with<T>(&self, call: String, f: impl FnOnce(&mut EngineState) -> T) -> T {
        let mut s = self.state.lock().expect("fake engine state");
        s.calls.push(call);
        f(&mut s)
    }

    /// The calls made so far.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().expect("fake engine state").calls.clone()
    }

    fn project_of(c: &Container) -> Option<&str> {
        c.label(labels::PROJECT)
    }
}

impl Engine for FakeEngine {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
    fn api_version(&self) -> &str {
        "fake"
    }
    fn kind(&self) -> &EngineKind {
        &EngineKind::Docker
    }
    fn security(&self) -> Fut<'_, EngineSecurity> {
        ready(Ok(EngineSecurity {
            rootless: false,
            cgroup_v1: false,
        }))
    }
    fn host(&self) -> &EngineHost {
        &self.host
    }
    fn server_version(&self) -> Fut<'_, String> {
        ready(Ok("fake".into()))
    }
    fn session_containers<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<Container>> {
        ready(Ok(self.with(format!("session_containers {dir}"), |s| {
            s.containers
                .iter()
                .filter(|c| c.working_dir() == Some(dir))
                .cloned()
                .collect()
        })))
    }
    fn repo_containers<'a>(&'a self, root: &'a str) -> Fut<'a, Vec<Container>> {
        ready(Ok(self.with(format!("repo_containers {root}"), |s| {
            s.containers
                .iter()
                .filter(|c| c.label(labels::REPO_ROOT) == Some(root))
                .cloned()
                .collect()
        })))
    }
    fn all_sessions(&self) -> Fut<'_, Vec<Container>> {
        ready(Ok(self.with("all_sessions".into(), |s| {
            s.containers
                .iter()
                .filter(|c| c.label(labels::MANAGED) == Some("true"))
                .cloned()
                .collect()
        })))
    }
    fn project_owners<'a>(&'a self, project: &'a str, _made: bool) -> Fut<'a, Owners> {
        ready(Ok(self.with(format!("project_owners {project}"), |s| {
            Owners {
                containers: s
                    .containers
                    .iter()
                    .filter(|c| Self::project_of(c) == Some(project))
                    .cloned()
                    .collect(),
                volumes: s
                    .volumes
                    .iter()
                    .filter(|(p, _)| p == project)
                    .map(|(_, n)| n.clone())
                    .collect(),
                networks: s
                    .networks
                    .iter()
                    .filter(|n| n.project == project)
                    .map(|n| n.name.clone())
                    .collect(),
            }
        })))
    }
    fn proxy_hosts<'a>(&'a self, dir: &'a str) -> Fut<'a, Vec<String>> {
        ready(Ok(self.with(format!("proxy_hosts {dir}"), |s| {
            let mut hosts: Vec<String> = s
                .containers
                .iter()
                .filter(|c| c.working_dir() != Some(dir))
                .filter_map(|c| c.label(labels::HOST).map(str::to_string))
                .collect();
            hosts.sort();
            hosts.dedup();
            hosts
        })))
    }
    fn stop<'a>(&'a self, ids: &'a [String]) -> Fut<'a, ()> {
        self.with(format!("stop {}", ids.join(" ")), |s| {
            for c in s.containers.iter_mut().filter(|c| ids.contains(&c.id)) {
                c.state = crate::observed::State::Stopped;
            }
        });
        ready(Ok(()))
    }
    fn unpause_containers<'a>(&'a self, ids: &'a [String]) -> Fut<'a, ()> {
        self.with(format!("unpause {}", ids.join(" ")), |_| ());
        ready(Ok(()))
    }
    fn health_log<'a>(&'a self, _id: &'a str) -> Fut<'a, Vec<(String, i64)>> {
        ready(Ok(vec![]))
    }
    fn find_source<'a>(&'a self, _dir: &'a Path) -> Fut<'a, Option<FoundSource>> {
        unsupported("find a data source")
    }
    fn session_events(&self) -> Events<'_> {
        Box::pin(futures_util::stream::empty())
    }
    fn network_subnets(&self) -> Fut<'_, Vec<NetworkSubnets>> {
        ready(Ok(self.with("network_subnets".into(), |s| {
            s.networks
                .iter()
                .map(|n| NetworkSubnets {
                    name: n.name.clone(),
                    project: Some(n.project.clone()),
                    key: n
                        .name
                        .strip_prefix(&format!("{}_", n.project))
                        .map(str::to_string),
                    subnets: n.subnets.clone(),
                })
                .collect()
        })))
    }
    fn project_networks<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>> {
        ready(Ok(self.with(format!("project_networks {project}"), |s| {
            s.networks
                .iter()
                .filter(|n| n.project == project)
                .map(|n| n.name.clone())
                .collect()
        })))
    }
    fn project_volumes<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>> {
        ready(Ok(self.with(format!("project_volumes {project}"), |s| {
            s.volumes
                .iter()
                .filter(|(p, _)| p == project)
                .map(|(_, n)| n.clone())
                .collect()
        })))
    }
    fn project_images<'a>(&'a self, project: &'a str) -> Fut<'a, Vec<String>> {
        ready(Ok(self.with(format!("project_images {project}"), |s| {
            s.images
                .iter()
                .filter(|(p, _)| p == project)
                .map(|(_, n)| n.clone())
                .collect()
        })))
    }
    fn volumes_by_key<'a>(&'a self, _project: &'a str) -> Fut<'a, BTreeMap<String, String>> {
        unsupported("list volumes by key")
    }
    fn local_volume_paths<'a>(
        &'a self,
        _volumes: &'a [String],
    ) -> Fut<'a, Option<(PathBuf, Vec<PathBuf>)>> {
        ready(Ok(None))
    }
    fn copy_volumes<'a>(
        &'a self,
        _dir: &'a str,
        _project: &'a str,
        _source: &'a DataSource,
        _volumes: &'a [NewVolume],
        _last_out: &'a (dyn Fn() -> bool + Send + Sync),
    ) -> Fut<'a, ()> {
        unsupported("copy volumes")
    }
    fn remove_project<'a>(&'a self, project: &'a str, dir: &'a str) -> Fut<'a, ()> {
        self.with(format!("remove_project {project}"), |s| {
            s.containers.retain(|c| {
                !(Self::project_of(c) == Some(project) && c.working_dir() == Some(dir))
            });
            s.networks.retain(|n| n.project != project);
            s.volumes.retain(|(p, _)| p != project);
            s.images.retain(|(p, _)| p != project);
        });
        ready(Ok(()))
    }
    fn remove_objects<'a>(
        &'a self,
        containers: &'a [(String, String)],
        networks: &'a [String],
        images: &'a [String],
        volumes: &'a [String],
    ) -> Fut<'a, ()> {
        let names: Vec<&str> = containers.iter().map(|(_, n)| n.as_str()).collect();
        self.with(format!("remove_objects {}", names.join(" ")), |s| {
            s.containers
                .retain(|c| !containers.iter().any(|(id, _)| *id == c.id));
            s.networks.retain(|n| !networks.contains(&n.name));
            s.volumes.retain(|(_, v)| !volumes.contains(v));
            s.images.retain(|(_, i)| !images.contains(i));
        });
        ready(Ok(()))
    }
    fn disk_usage(&self) -> Fut<'_, DiskUsage> {
        ready(Ok(DiskUsage::default()))
    }
}

/// One `up`: the project and its services.
pub type Up = (String, Vec<String>);

/// A Compose that records what it was asked to bring up.
#[derive(Clone, Default)]
pub struct FakeCompose {
    pub ups: Arc<Mutex<Vec<Up>>>,
}

impl Compose for FakeCompose {
    fn flavor(&self) -> Flavor {
        Flavor::V2
    }
    fn version(&self) -> &str {
        "2.40.3"
    }
    fn up<'a>(
        &'a self,
        _dir: &'a Path,
        project: &'a str,
        _files: &'a [String],
        services: &'a [String],
        _profiles: &'a [String],
        _flags: (bool, bool),
    ) -> Fut<'a, ()> {
        self.ups
            .lock()
            .expect("fake compose")
            .push((project.to_string(), services.to_vec()));
        ready(Ok(()))
    }
    fn stream_logs<'a>(
        &'a self,
        _dir: &'a Path,
        _project: &'a str,
        _files: &'a [String],
        _services: &'a [String],
        _lines: (usize, bool),
        _cancel: &'a mut super::process::Cancel,
    ) -> Fut<'a, bool> {
        ready(Ok(false))
    }
    fn logs_tail(&self, _: &Path, _: &str, _: &[String], _: &str, _: usize) -> String {
        String::new()
    }
}

/// A directory that is no git repository: every question has the answer git gives outside
/// one, and every change is refused.
#[derive(Clone, Default)]
pub struct NoGit;

fn no_repo<T>(what: &str) -> Result<T> {
    Err(Error::failure(format!(
        "the fake git has no repository to {what}"
    )))
}

impl Git for NoGit {
    fn toplevel(&self, _: &Path) -> Result<Option<PathBuf>> {
        Ok(None)
    }
    fn main_checkout(&self, _: &Path) -> Result<Option<PathBuf>> {
        Ok(None)
    }
    fn common_dir(&self, _: &Path) -> Result<Option<PathBuf>> {
        Ok(None)
    }
    fn is_bare(&self, _: &Path) -> Result<bool> {
        Ok(false)
    }
    fn worktrees(&self, _: &Path) -> Result<Vec<Worktree>> {
        no_repo("list worktrees of")
    }
    fn branch_exists(&self, _: &Path, _: &str) -> Result<bool> {
        Ok(false)
    }
    fn valid_branch_name(&self, _: &Path, _: &str) -> Result<bool> {
        Ok(true)
    }
    fn add_worktree(&self, _: &Path, _: &Path, _: &str, _: bool, _: Option<&str>) -> Result<()> {
        no_repo("add a worktree to")
    }
    fn remove_worktree(&self, _: &Path, _: &Path, _: bool) -> Result<()> {
        no_repo("remove a worktree from")
    }
    fn delete_branch(&self, _: &Path, _: &str, _: &str) -> Result<()> {
        no_repo("delete a branch of")
    }
    fn mark_worktree(&self, _: &Path) -> Result<()> {
        no_repo("mark a worktree of")
    }
    fn setup_manifest(&self, _: &Path) -> Result<Option<(PathBuf, PathBuf)>> {
        Ok(None)
    }
    fn made_by_dev_prism(&self, _: &Path) -> Result<bool> {
        Ok(false)
    }
    fn facts(&self, wt: &Worktree, _: &dyn Fn(&str, &'static str) -> Owner) -> WorktreeFacts {
        fn unknown<T>() -> Fact<T> {
            Fact::Unknown("the fake git has no repository".into())
        }
        WorktreeFacts {
            path: wt.path.clone(),
            is_main: wt.is_main,
            branch: wt.branch.clone(),
            branch_tip: None,
            made_by_dev_prism: unknown(),
            made_for: None,
            paths: unknown(),
            unmerged_commits: unknown(),
            submodules: unknown(),
        }
    }
    fn hooks_dir(&self, _: &Path) -> Result<PathBuf> {
        no_repo("find the hooks of")
    }
    fn current_branch(&self, _: &Path) -> Option<String> {
        None
    }
    fn merged(&self, _: &Path, _: &str) -> Result<crate::tidy::Merged> {
        no_repo("compare branches of")
    }
    fn show(&self, _: &Path, _: &str, _: &str) -> Result<Option<String>> {
        no_repo("read a revision of")
    }
    fn mode_at(&self, _: &Path, _: &str, _: &str) -> Result<Option<String>> {
        no_repo("read a revision of")
    }
    fn tree_bytes(&self, _: &Path, _: &str) -> Result<u64> {
        no_repo("measure a tree of")
    }
    fn commit_of(&self, _: &Path, _: &str) -> Result<Option<String>> {
        Ok(None)
    }
    fn outside_sparse_checkout(&self, _: &Path, _: &[&str]) -> Result<Vec<String>> {
        Ok(vec![])
    }
    fn status_of(&self, _: &Path, _: &[&str]) -> Result<Vec<String>> {
        Ok(vec![])
    }
    fn exclude_generated(&self, _: &Path, _: &[String]) -> Result<()> {
        Ok(())
    }
}

/// A repository whose main checkout is `root` and whose commits are in memory: `committed` is
/// every revision's files; every change is recorded in `calls`. Used through the real
/// effects, `root` is a real directory and the worktrees it adds are real directories holding
/// those files; through the fake world (apply/fake.rs), whose effects add worktrees in memory,
/// `root` is a path of that world's and nothing here touches the disk.
#[derive(Default)]
pub struct FakeRepo {
    pub root: PathBuf,
    pub committed: BTreeMap<String, String>,
    pub branches: Mutex<Vec<String>>,
    pub calls: Mutex<Vec<String>>,
}

impl FakeRepo {
    fn record(&self, call: String) {
        self.calls.lock().expect("fake repo").push(call);
    }

    /// The changes made so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("fake repo").clone()
    }
}

impl Git for FakeRepo {
    fn toplevel(&self, dir: &Path) -> Result<Option<PathBuf>> {
        Ok(dir.starts_with(&self.root).then(|| self.root.clone()))
    }
    fn main_checkout(&self, dir: &Path) -> Result<Option<PathBuf>> {
        self.toplevel(dir)
    }
    fn common_dir(&self, dir: &Path) -> Result<Option<PathBuf>> {
        Ok(self.toplevel(dir)?.map(|root| root.join(".git")))
    }
    fn is_bare(&self, _: &Path) -> Result<bool> {
        Ok(false)
    }
    fn worktrees(&self, _: &Path) -> Result<Vec<Worktree>> {
        Ok(vec![Worktree {
            path: self.root.clone(),
            branch: Some("main".into()),
            is_main: true,
        }])
    }
    fn branch_exists(&self, _: &Path, branch: &str) -> Result<bool> {
        Ok(self
            .branches
            .lock()
            .expect("fake repo")
            .iter()
            .any(|b| b == branch))
    }
    fn valid_branch_name(&self, _: &Path, name: &str) -> Result<bool> {
        Ok(!name.is_empty() && !name.contains(' '))
    }
    fn add_worktree(
        &self,
        _: &Path,
        path: &Path,
        branch: &str,
        create_branch: bool,
        _: Option<&str>,
    ) -> Result<()> {
        self.record(format!("add worktree {branch}"));
        for (f, text) in &self.committed {
            let p = path.join(f);
            std::fs::create_dir_all(p.parent().expect("a file's parent"))
                .and_then(|()| std::fs::write(&p, text))
                .map_err(|e| Error::io("cannot write", &p, e))?;
        }
        if create_branch {
            self.branches
                .lock()
                .expect("fake repo")
                .push(branch.to_string());
        }
        Ok(())
    }
    fn remove_worktree(&self, _: &Path, path: &Path, _: bool) -> Result<()> {
        self.record(format!("remove worktree {}", path.display()));
        std::fs::remove_dir_all(path).map_err(|e| Error::io("cannot remove", path, e))
    }
    fn delete_branch(&self, _: &Path, branch: &str, _: &str) -> Result<()> {
        self.record(format!("delete branch {branch}"));
        self.branches
            .lock()
            .expect("fake repo")
            .retain(|b| b != branch);
        Ok(())
    }
    fn mark_worktree(&self, _: &Path) -> Result<()> {
        Ok(())
    }
    fn setup_manifest(&self, _: &Path) -> Result<Option<(PathBuf, PathBuf)>> {
        Ok(None)
    }
    fn made_by_dev_prism(&self, _: &Path) -> Result<bool> {
        Ok(true)
    }
    fn facts(&self, wt: &Worktree, owner: &dyn Fn(&str, &'static str) -> Owner) -> WorktreeFacts {
        NoGit.facts(wt, owner)
    }
    fn hooks_dir(&self, top: &Path) -> Result<PathBuf> {
        Ok(top.join(".git/hooks"))
    }
    fn current_branch(&self, _: &Path) -> Option<String> {
        None
    }
    fn merged(&self, _: &Path, _: &str) -> Result<crate::tidy::Merged> {
        no_repo("compare branches of")
    }
    fn show(&self, _: &Path, _: &str, path: &str) -> Result<Option<String>> {
        Ok(self.committed.get(path).cloned())
    }
    fn mode_at(&self, _: &Path, _: &str, path: &str) -> Result<Option<String>> {
        Ok(self.committed.contains_key(path).then(|| "100644".into()))
    }
    fn tree_bytes(&self, _: &Path, _: &str) -> Result<u64> {
        Ok(self.committed.values().map(|t| t.len() as u64).sum())
    }
    fn commit_of(&self, _: &Path, _: &str) -> Result<Option<String>> {
        Ok(Some("c0ffee".into()))
    }
    fn outside_sparse_checkout(&self, _: &Path, _: &[&str]) -> Result<Vec<String>> {
        Ok(vec![])
    }
    fn status_of(&self, _: &Path, _: &[&str]) -> Result<Vec<String>> {
        Ok(vec![])
    }
    fn exclude_generated(&self, _: &Path, _: &[String]) -> Result<()> {
        Ok(())
    }
}
