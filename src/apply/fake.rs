//! A strict in-memory world for apply and observation: files, containers, worktrees of any
//! number of sessions (over 400 lines: the world and its tests side by side). Stricter than the
//! real one on purpose — it refuses steps out of order (Compose before the session file, setup
//! before readiness, an env file that is not 0600, stopping an unknown container) — so the
//! tests prove the plan's ordering, not just its contents. It is observed through the same
//! [`Observer`] seam as the real world.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::effects::{setup_failed, Effects, ProjectObjects};
use crate::adapters::git::Git;
use crate::adapters::process::{interrupted, Cancel, Trigger};
use crate::compose::{labels, Flavor, PortSpec, SESSION_FILE};
use crate::context::{Loading, Observer, Session, Source};
use crate::desired::{Desired, Var, ENV_FILE};
use crate::error::{Error, Result, Signal};
use crate::observed::{Container, Health, Observed, Published, State};
use crate::plan::ready::{CopyPattern, DataSource, Entry, NewVolume};
use crate::ui::{Trace, Ui};

/// How a started service behaves in the fake.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Observations reporting "health: starting" before "healthy".
    pub starting_polls: usize,
    /// Exits with this code right after starting.
    pub exits_with: Option<i64>,
}

#[derive(Default)]
pub struct Fake {
    pub files: BTreeMap<PathBuf, (String, u32)>,
    pub containers: Vec<Container>,
    pub worktrees: Vec<PathBuf>,
    pub branches: Vec<String>,
    /// The branch each worktree was made on.
    pub worktree_branch: BTreeMap<PathBuf, String>,
    /// Every effect, in order.
    pub log: Vec<String>,
    pub behaviour: BTreeMap<String, Behaviour>,
    pub failing_setup: Option<String>,
    /// Volumes dev-prism created: name → the source volume it is a copy of.
    pub volumes: BTreeMap<String, Option<String>>,
    /// Containers paused now.
    pub paused: Vec<String>,
    /// Worktrees git cannot read (their repository moved): every fact about them is unknown.
    pub unreadable: Vec<PathBuf>,
    /// An effect (as its log line would read) that fails instead.
    pub fail_on: Option<String>,
    /// Subnets of networks that are not any session's.
    pub networks: Vec<crate::subnet::Net>,
    /// Subnets another network takes just before the next `compose up` (a parallel create).
    pub taken_meanwhile: Vec<crate::subnet::Net>,
    /// Each project's default network, made by its first `compose up`.
    pub own_networks: BTreeMap<String, crate::subnet::Net>,
    /// The Compose that would run sessions (flavour, version), when asked.
    pub compose: Option<(Flavor, String)>,
    /// Sessions a `--data-from` copy may read, by their directory.
    pub data_sources: BTreeMap<PathBuf, crate::plan::ready::DataSource>,
    /// The engine's label and isolation, when asked; a rootful Docker when `None`.
    pub isolation: Option<(String, crate::adapters::docker::EngineSecurity)>,
    /// A signal that arrives while the effect logged at this index (0-based, counting from
    /// the first effect) is done: the effect completes, as a real one that is never cut
    /// half-way would.
    pub signal_at: Option<(usize, Trigger, Signal)>,
    /// Volumes the engine finishes making (for a Compose stopped half-way) while a worktree is
    /// removed, after the rollback first looked.
    pub made_meanwhile: Vec<String>,
    /// The repository every directory of this world belongs to, with its commits (`None`: no
    /// repository, as `NoGit` answers).
    pub git: Option<Arc<dyn Git>>,
    /// The files of `files` git ignores in their checkout (what `git ls-files --ignored` lists).
    pub ignored: Vec<PathBuf>,
    /// The main checkout of the repository the worktrees this world adds belong to: a new
    /// worktree checks out its files but the `ignored` ones (a clean checkout of its commit),
    /// and loading the worktree finds it as the session's main checkout.
    pub repo: Option<PathBuf>,
    next_port: u16,
    polls: usize,
}

/// Reads a file relative to a [`Memory`]'s base.
type ReadFile<'a> = Box<dyn Fn(&str) -> Result<Option<String>> + 'a>;

/// Files this world holds in memory, read by loading: `read` answers a path relative to
/// `base`. A config module is refused (node would read the disk).
struct Memory<'a> {
    base: &'a Path,
    place: String,
    read: ReadFile<'a>,
}

impl Source for Memory<'_> {
    fn read(&self, _t: &Trace, rel: &str) -> Result<Option<String>> {
        (self.read)(rel)
    }

    fn name(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    fn place(&self) -> String {
        self.place.clone()
    }

    fn module(&self, _t: &Trace, rel: &str, _text: &str) -> Result<String> {
        Err(Error::failure(format!(
            "the fake world cannot evaluate {rel} (node reads the disk)"
        )))
    }
}

impl Observer for Fake {
    async fn load(&mut self, ui: &Ui, dir: &Path, loading: Loading) -> Result<Session> {
        let main_root = match &self.repo {
            Some(repo) if self.worktrees.iter().any(|w| w == dir) => Some(repo.clone()),
            _ => self.git().main_checkout(dir).unwrap_or(None),
        };
        let files = &self.files;
        let source = Memory {
            base: dir,
            place: dir.display().to_string(),
            read: Box::new(|rel| Ok(files.get(&dir.join(rel)).map(|(t, _)| t.clone()))),
        };
        crate::context::load_from(ui, &source, dir, main_root, loading)
    }

    async fn load_committed(&mut self, ui: &Ui, repo: &Path, rev: &str) -> Result<Session> {
        let git = self.git();
        let source = Memory {
            base: repo,
            place: format!("the files committed at {rev}"),
            read: Box::new(|rel| git.show(repo, rev, rel)),
        };
        crate::context::load_committed(ui, &source, repo)
    }

    async fn env_file(&mut self, repo: &Path, rel: &str) -> Result<Option<String>> {
        Ok(self.files.get(&repo.join(rel)).map(|(t, _)| t.clone()))
    }

    /// Something is at a path this world holds a file or a worktree at, or under (a
    /// directory); this world has no links.
    async fn exists(&mut self, path: &Path) -> bool {
        self.holds(path)
    }

    /// A path resolves when it exists; with no links, to itself.
    async fn resolve(&mut self, path: &Path) -> Option<PathBuf> {
        self.holds(path).then(|| path.to_path_buf())
    }

    async fn working_text(&mut self, path: &Path) -> Option<String> {
        self.files.get(path).map(|(t, _)| t.clone())
    }

    async fn copy_sources(
        &mut self,
        repo: &Path,
        copy: &[String],
        existing: Option<&str>,
    ) -> Result<(Vec<CopyPattern>, Vec<Entry>)> {
        let include = self.files.get(&repo.join(".worktreeinclude"));
        let patterns = crate::plan::ready::copy_patterns(include.map(|(t, _)| t.as_str()), copy);
        let git = self.git();
        if patterns.is_empty() || git.is_bare(repo)? {
            return Ok((vec![], vec![]));
        }
        let mut files: Vec<Entry> = self
            .ignored
            .iter()
            .filter_map(|f| {
                let rel = f.strip_prefix(repo).ok()?;
                let (text, _) = self.files.get(f)?;
                Some(Entry {
                    path: rel.to_string_lossy().into_owned(),
                    file: rel.to_path_buf(),
                    bytes: text.len() as u64,
                })
            })
            .collect();
        if let Some(rev) = existing {
            crate::plan::ready::drop_committed(&mut files, |p| {
                git.mode_at(repo, rev, p).ok().flatten().is_some()
            });
        }
        Ok((patterns, files))
    }

    async fn session(&mut self, dir: &Path) -> Result<Observed> {
        let file = |name: &str| self.files.get(&dir.join(name)).cloned();
        Ok(Observed {
            session_file: file(SESSION_FILE).map(|(t, _)| t),
            env_file: file(ENV_FILE),
            containers: self.containers_of(dir),
            ..Default::default()
        })
    }

    async fn for_destroy(&mut self, session: &Session, observed: &mut Observed) -> Result<()> {
        use crate::observed::{Fact, WorktreeFacts};
        let dir = &session.dir;
        // A worktree this world made: clean, marked, its branch at a known tip. One it cannot
        // read: nothing known. Anything else is no worktree.
        let known = self.worktrees.contains(dir);
        fn fact<T>(known: bool, value: T) -> Fact<T> {
            match known {
                true => Fact::Known(value),
                false => Fact::Unknown("the fake cannot read this worktree".to_string()),
            }
        }
        observed.worktree = (known || self.unreadable.contains(dir)).then(|| {
            let branch = self.worktree_branch.get(dir).filter(|_| known).cloned();
            WorktreeFacts {
                path: dir.clone(),
                is_main: false,
                branch_tip: branch.as_ref().map(|_| "tip".to_string()),
                branch,
                made_by_dev_prism: fact(known, true),
                made_for: known.then(|| dir.clone()),
                paths: fact(known, vec![]),
                unmerged_commits: fact(known, 0),
                submodules: fact(known, vec![]),
            }
        });
        let project = crate::observed::project_of(&observed.containers)
            .map(str::to_string)
            .unwrap_or_else(|| session.project());
        let prefix = format!("{project}_");
        observed.volumes = self
            .volumes
            .keys()
            .filter(|v| v.starts_with(&prefix))
            .cloned()
            .collect();
        Ok(())
    }

    async fn derived(&mut self, desired: &Desired, observed: &mut Observed) -> Result<()> {
        for f in desired.derived.iter().filter(|f| f.path != ENV_FILE) {
            let file = self.files.get(&desired.dir.join(&f.path)).cloned();
            observed.derived.insert(f.path.clone(), file);
        }
        Ok(())
    }

    async fn owners(&mut self, project: &str, _made: bool) -> Result<crate::observed::Owners> {
        let prefix = format!("{project}_");
        Ok(crate::observed::Owners {
            containers: self
                .containers
                .iter()
                .filter(|c| c.project() == Some(project))
                .cloned()
                .collect(),
            volumes: self
                .volumes
                .keys()
                .filter(|v| v.starts_with(&prefix))
                .cloned()
                .collect(),
            networks: vec![],
        })
    }

    async fn subnets(&mut self, s: &Session, project: &str, o: &mut Observed) -> Result<()> {
        if crate::context::subnets::wanted(s, o) {
            let taken = self.networks.iter().chain(self.own_networks.values());
            o.subnets = Some(crate::subnet::Facts {
                existing: self.own_networks.get(project).map(|n| Some(*n)),
                taken: taken.copied().collect(),
            });
        }
        Ok(())
    }

    async fn flavor(&mut self, observed: &Observed) -> Result<Flavor> {
        Ok(crate::context::recorded_flavor(observed).unwrap_or(Flavor::V2))
    }

    async fn runtime(&mut self, compose: bool) -> Result<crate::observed::Runtime> {
        Ok(crate::observed::Runtime {
            remote: None,
            compose: self.compose.clone().filter(|_| compose),
        })
    }

    async fn data_source(
        &mut self,
        _session: &Session,
        raw: &Path,
        what: &str,
    ) -> Result<crate::plan::ready::DataSource> {
        self.data_sources.get(raw).cloned().ok_or_else(|| {
            Error::usage(format!(
                "{what} {}: it holds no session of this repository",
                raw.display()
            ))
        })
    }

    async fn isolation(&mut self) -> Result<(String, crate::adapters::docker::EngineSecurity)> {
        Ok(self.isolation.clone().unwrap_or((
            "Docker".into(),
            crate::adapters::docker::EngineSecurity {
                rootless: false,
                cgroup_v1: false,
            },
        )))
    }

    async fn hosts(&mut self, session: &Session, observed: &mut Observed) -> Result<()> {
        if crate::context::needs_host(session, observed) {
            let dir = session.dir.to_string_lossy();
            observed.taken_hosts = self
                .containers
                .iter()
                .filter(|c| c.working_dir() != Some(&dir))
                .filter_map(|c| c.label(labels::HOST).map(str::to_string))
                .collect();
        }
        Ok(())
    }
}

impl Fake {
    /// Whether a file or a worktree is at `path`, or under it (`path` is then a directory).
    pub fn holds(&self, path: &Path) -> bool {
        let mut at = self.files.keys().chain(&self.worktrees);
        at.any(|p| p.starts_with(path))
    }

    /// The repository port this world answers git questions with.
    pub fn git(&self) -> Arc<dyn Git> {
        self.git
            .clone()
            .unwrap_or_else(|| Arc::new(crate::adapters::fake::NoGit))
    }

    /// Observes `desired`'s session as `apply` finds it: its files, containers and derived
    /// files, through the [`Observer`] seam.
    pub async fn observed(&mut self, desired: &Desired) -> Observed {
        let mut o = self.session(&desired.dir).await.expect("the fake observes");
        self.derived(desired, &mut o)
            .await
            .expect("the fake observes");
        o
    }

    fn containers_of(&self, dir: &Path) -> Vec<Container> {
        let dir = dir.to_string_lossy();
        let mine = |c: &&Container| c.working_dir() == Some(dir.as_ref());
        self.containers.iter().filter(mine).cloned().collect()
    }

    /// Logs an effect, and sends the signal due at it.
    fn record(&mut self, line: String) {
        self.log.push(line);
        if let Some((at, trigger, signal)) = &self.signal_at {
            if *at + 1 == self.log.len() {
                trigger.fire(*signal);
            }
        }
    }

    /// Fails when `effect` is the one this world was told to fail.
    fn check(&self, effect: &str) -> Result<()> {
        match &self.fail_on {
            Some(f) if f == effect => Err(Error::failure(format!("{effect} failed"))),
            _ => Ok(()),
        }
    }

    fn start(&mut self, desired: &Desired, service: &str) {
        self.next_port += 1;
        let base = 40000 + self.next_port * 10;
        let spec = &desired.services[service];
        let behaviour = self.behaviour.get(service).cloned().unwrap_or_default();
        let mut l = BTreeMap::new();
        l.insert(labels::PROJECT.to_string(), desired.project.clone());
        l.insert(
            labels::WORKING_DIR.to_string(),
            desired.dir.to_string_lossy().into_owned(),
        );
        l.insert(labels::CONFIG_HASH.to_string(), spec.config_hash.clone());
        l.insert(
            labels::PORTS.to_string(),
            spec.ports
                .iter()
                .map(PortSpec::key)
                .collect::<Vec<_>>()
                .join(","),
        );
        // The proxy name, as Compose gives the session file's labels to every container.
        for key in [labels::HOST, labels::DOMAIN] {
            if let Some(v) = crate::compose::label_in(&desired.session_file, key) {
                l.insert(key.to_string(), v);
            }
        }
        let (state, exit_code) = match behaviour.exits_with {
            Some(code) => (State::Stopped, Some(code)),
            None => (State::Running, None),
        };
        let container = Container {
            id: format!("{service}-{}", self.next_port),
            name: format!("{}-{service}-1", desired.project),
            service: service.to_string(),
            state,
            health: if behaviour.starting_polls > 0 {
                Health::Starting
            } else {
                Health::None
            },
            exit_code,
            status: String::new(),
            ports: spec
                .ports
                .iter()
                .enumerate()
                .map(|(i, p)| Published {
                    spec: p.clone(),
                    host_ip: "127.0.0.1".into(),
                    host_port: base + i as u16,
                })
                .collect(),
            labels: l,
            engine_host: Default::default(),
        };
        self.containers.retain(|c| c.service != service);
        self.containers.push(container);
    }
}

impl Effects for Fake {
    async fn containers(&mut self, desired: &Desired) -> Result<Vec<Container>> {
        // Health progresses with every observation.
        self.polls += 1;
        for c in &mut self.containers {
            let starting = self
                .behaviour
                .get(&c.service)
                .map_or(0, |b| b.starting_polls);
            if c.health == Health::Starting && self.polls > starting {
                c.health = Health::Healthy;
            }
        }
        Ok(self.containers_of(&desired.dir))
    }

    fn read_file(&mut self, path: &Path) -> Result<Option<Vec<u8>>> {
        Ok(self.files.get(path).map(|(t, _)| t.clone().into_bytes()))
    }

    fn write_file(&mut self, root: &Path, path: &Path, content: &[u8], mode: u32) -> Result<()> {
        if !path.starts_with(root) {
            return Err(Error::failure(format!(
                "{} written outside {}",
                path.display(),
                root.display()
            )));
        }
        if path.file_name().is_some_and(|n| n == ENV_FILE) && mode != 0o600 {
            return Err(Error::failure(format!(
                "{} written with mode {mode:o}",
                path.display()
            )));
        }
        self.record(format!("write {}", path.display()));
        self.files.insert(
            path.to_path_buf(),
            (
                String::from_utf8_lossy(content).into_owned(),
                0o100000 | mode,
            ),
        );
        Ok(())
    }

    fn remove_file(&mut self, _root: &Path, path: &Path) -> Result<()> {
        self.record(format!("remove {}", path.display()));
        self.files.remove(path);
        Ok(())
    }

    async fn up(
        &mut self,
        desired: &Desired,
        services: &[String],
        _profiles: &[String],
        remove_orphans: bool,
    ) -> Result<()> {
        match self.files.get(&desired.dir.join(SESSION_FILE)) {
            Some((text, _)) if *text == desired.session_file => {}
            _ => {
                return Err(Error::failure(
                    "compose up before the session file was written",
                ))
            }
        }
        self.networks.append(&mut self.taken_meanwhile);
        if let Some(choice) = desired
            .subnet
            .filter(|_| !self.own_networks.contains_key(&desired.project))
        {
            if self.networks.iter().any(|n| n.overlaps(&choice.net)) {
                return Err(Error::from(crate::error::Problem::Compose {
                    command: "up".into(),
                    stderr: "Error response from daemon: Pool overlaps with other one on this address space".into(),
                }));
            }
            self.own_networks
                .insert(desired.project.clone(), choice.net);
        }
        self.record(format!("up {}", services.join(",")));
        for s in services {
            let current = self.containers.iter().find(|c| &c.service == s);
            let hash = &desired.services[s].config_hash;
            // Like Compose: (re)create when missing or changed, start when stopped.
            let fresh = current.is_none_or(|c| c.label(labels::CONFIG_HASH) != Some(hash));
            if fresh || current.is_some_and(|c| c.state != State::Running) {
                self.start(desired, s);
            }
        }
        if remove_orphans {
            self.containers
                .retain(|c| desired.services.contains_key(&c.service));
        }
        Ok(())
    }

    async fn unpause(&mut self, ids: &[String]) -> Result<()> {
        self.check(&format!("unpause {}", ids.join(",")))?;
        for id in ids {
            let c = self
                .containers
                .iter_mut()
                .find(|c| &c.id == id && c.state == State::Paused)
                .ok_or_else(|| Error::failure(format!("unpause of a container not paused {id}")))?;
            c.state = State::Running;
        }
        self.record(format!("unpause {}", ids.len()));
        Ok(())
    }

    async fn stop(&mut self, ids: &[String]) -> Result<()> {
        self.check(&format!("stop {}", ids.join(",")))?;
        for id in ids {
            let c = self
                .containers
                .iter_mut()
                .find(|c| &c.id == id)
                .ok_or_else(|| Error::failure(format!("stop of unknown container {id}")))?;
            c.state = State::Stopped;
            c.ports.clear();
        }
        self.record(format!("stop {}", ids.len()));
        Ok(())
    }

    async fn remove_project(&mut self, project: &str, o: &ProjectObjects<'_>) -> Result<()> {
        self.check(&format!("remove project {project}"))?;
        // Exactly what the plan listed (a container gone meanwhile is no error, as on the
        // engine); what appeared since stays for the next observation.
        self.volumes.retain(|v, _| !o.volumes.contains(v));
        self.containers
            .retain(|c| !o.containers.iter().any(|(id, _)| *id == c.id));
        self.record(format!("remove project {project}"));
        Ok(())
    }

    fn copy_file(&mut self, _root: &Path, from: &Path, to: &Path, mode: u32) -> Result<()> {
        if !self.worktrees.iter().any(|w| to.starts_with(w)) {
            return Err(Error::failure("copy into a worktree that does not exist"));
        }
        let text = self
            .files
            .get(from)
            .map(|(t, _)| t.clone())
            .unwrap_or_default();
        self.files.entry(to.to_path_buf()).or_insert((text, mode));
        self.record(format!("copy {}", to.display()));
        Ok(())
    }

    fn add_worktree(
        &mut self,
        path: &Path,
        branch: &str,
        create_branch: bool,
        _start: Option<&str>,
    ) -> Result<()> {
        if create_branch {
            self.branches.push(branch.to_string());
        }
        if let Some(repo) = &self.repo {
            let tracked: Vec<(PathBuf, (String, u32))> = self
                .files
                .iter()
                .filter(|(f, _)| f.starts_with(repo) && !self.ignored.contains(f))
                .filter_map(|(f, v)| Some((path.join(f.strip_prefix(repo).ok()?), v.clone())))
                .collect();
            self.files.extend(tracked);
        }
        self.worktrees.push(path.to_path_buf());
        self.worktree_branch
            .insert(path.to_path_buf(), branch.to_string());
        self.record(format!("add worktree {}", path.display()));
        Ok(())
    }

    fn exclude_generated(&mut self, _path: &Path, _names: &[String]) {}

    fn remove_worktree(&mut self, path: &Path, _force: bool) -> Result<()> {
        self.check(&format!("remove worktree {}", path.display()))?;
        self.worktrees.retain(|w| w != path);
        // The worktree's files go, its config with them.
        self.files.retain(|f, _| !f.starts_with(path));
        for v in std::mem::take(&mut self.made_meanwhile) {
            self.volumes.insert(v, None);
        }
        self.record(format!("remove worktree {}", path.display()));
        Ok(())
    }

    fn copy_tree(&mut self, from: &Path, to: &Path, paths: &[std::path::PathBuf]) -> Result<()> {
        if !self.worktrees.iter().any(|w| w == to) {
            return Err(Error::failure("copy into a worktree that does not exist"));
        }
        for p in paths {
            if let Some(f) = self.files.get(&from.join(p)).cloned() {
                self.files.entry(to.join(p)).or_insert(f);
            }
        }
        self.record(format!("copy {} file(s)", paths.len()));
        Ok(())
    }

    async fn copy_volumes(
        &mut self,
        _desired: &Desired,
        source: &DataSource,
        volumes: &[NewVolume],
    ) -> Result<()> {
        if self.log.iter().any(|l| l.starts_with("up ")) {
            return Err(Error::failure("volumes copied after services started"));
        }
        for id in &source.pause {
            self.paused.push(id.clone());
            self.record(format!("pause {id}"));
        }
        for v in volumes {
            if self.volumes.contains_key(&v.name) {
                return Err(Error::failure(format!("volume {} exists", v.name)));
            }
            self.volumes.insert(v.name.clone(), v.from.clone());
            self.record(format!("volume {}", v.name));
        }
        for id in &source.pause {
            self.paused.retain(|p| p != id);
            self.record(format!("unpause {id}"));
        }
        Ok(())
    }

    fn delete_branch(&mut self, branch: &str, _expected: &str) -> Result<()> {
        if self
            .worktrees
            .iter()
            .any(|w| self.worktree_branch.get(w).map(String::as_str) == Some(branch))
        {
            return Err(Error::failure("branch deleted while its worktree exists"));
        }
        self.branches.retain(|b| b != branch);
        self.record(format!("delete branch {branch}"));
        Ok(())
    }

    async fn run_setup(
        &mut self,
        _dir: &Path,
        command: &str,
        vars: &[Var],
        cancel: &mut Cancel,
    ) -> Result<()> {
        if let Some(c) = self.containers.iter().find(|c| !c.is_ready()) {
            return Err(Error::failure(format!(
                "setup ran before `{}` was ready",
                c.service
            )));
        }
        self.record(format!(
            "setup {command} with {}",
            vars.iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
        // The real command is handed the signal and ends; so does this one.
        if let Some(s) = cancel.take() {
            return Err(interrupted(s, &format!("setup `{command}`")));
        }
        if self.failing_setup.as_deref() == Some(command) {
            return Err(setup_failed(command, "exit code 1"));
        }
        Ok(())
    }

    fn service_logs(&mut self, _desired: &Desired, service: &str) -> String {
        format!("{service} | boom")
    }

    async fn pause(&mut self, _d: Duration) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::testing::{desired, DIR};
    use crate::desired::{Intent, Selection};
    use crate::plan::diff;
    use crate::ui::Ui;

    const COMPOSE: &str = "services:\n  db:\n    image: postgres:16\n    ports: ['5432']\n  web:\n    image: web\n    ports: ['8080:80', '443']\n";
    const CONFIG: &str = "envFiles: [app/.env]\nsetup: ['make seed']\nappEnv:\n  app:\n    URL: 'http://localhost:${WEB_PORT}'\n";

    fn quiet() -> Ui {
        Ui::default().quieted()
    }

    async fn converge(fx: &mut Fake, d: &Desired) -> Result<()> {
        let plan = diff(d, &fx.observed(d).await, Intent::Up, None);
        super::super::apply(&plan, d, fx, &quiet()).await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn apply_of_a_fresh_plan_converges_and_replans_to_nothing() {
        let d = desired(COMPOSE, CONFIG, Selection::default(), &[], true).unwrap();
        let mut fx = Fake::default();
        let env = Path::new(DIR).join("app/.env");
        fx.files.insert(
            env.clone(),
            (
                "DATABASE_URL=postgresql://u:p@localhost:5432/x\n".into(),
                0o100600,
            ),
        );
        fx.behaviour.insert(
            "db".into(),
            Behaviour {
                starting_polls: 3,
                exits_with: None,
            },
        );
        converge(&mut fx, &d).await.unwrap();
        assert_eq!(
            fx.log,
            vec![
                format!("write {DIR}/docker-compose.session.yml"),
                "up db,web".to_string(),
                format!("write {DIR}/.env.session"),
                format!("write {DIR}/app/.env.session"),
                format!("write {DIR}/app/.env"),
                "setup make seed with COMPOSE_PROJECT_NAME,SESSION_DIR,SESSION_HOST,DB_PORT,WEB_PORT,WEB_443_PORT,WEB_URL,WEB_443_URL".into(),
            ]
        );
        assert_eq!(
            fx.files[&env].0,
            "DATABASE_URL=postgresql://u:p@127.0.0.1:40010/x\n"
        );
        // Planning again against the world apply left finds nothing to do (setup is create's).
        let again = desired(COMPOSE, CONFIG, Selection::default(), &["db", "web"], false).unwrap();
        let plan = diff(&again, &fx.observed(&again).await, Intent::Up, None);
        assert!(
            plan.is_empty(),
            "{:?}",
            plan.ordered()
                .iter()
                .map(|s| &s.subject)
                .collect::<Vec<_>>()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn stop_then_up_then_destroy_each_converge() {
        let d = desired(COMPOSE, "", Selection::default(), &[], false).unwrap();
        let mut fx = Fake::default();
        converge(&mut fx, &d).await.unwrap();
        let first_ports = fx.files[&Path::new(DIR).join(ENV_FILE)].0.clone();
        for intent in [Intent::Stop, Intent::Up, Intent::destroy(false)] {
            let plan = diff(&d, &fx.observed(&d).await, intent, None);
            super::super::apply(&plan, &d, &mut fx, &quiet())
                .await
                .unwrap();
            let after = diff(&d, &fx.observed(&d).await, intent, None);
            assert!(
                after.is_empty(),
                "{intent:?} left {:?}",
                after
                    .ordered()
                    .iter()
                    .map(|s| &s.subject)
                    .collect::<Vec<_>>()
            );
            if intent == Intent::Up {
                let text = &fx.files[&Path::new(DIR).join(ENV_FILE)].0;
                assert_ne!(*text, first_ports, "ports change on every start");
            }
        }
        assert!(fx.containers.is_empty());
        assert!(fx.files.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_service_that_exits_fails_with_its_logs_before_setup_runs() {
        let d = desired(COMPOSE, CONFIG, Selection::default(), &[], true).unwrap();
        let mut fx = Fake::default();
        fx.behaviour.insert(
            "web".into(),
            Behaviour {
                starting_polls: 0,
                exits_with: Some(3),
            },
        );
        let err = converge(&mut fx, &d).await.unwrap_err();
        assert_eq!(
            err.message(),
            "service `web` exited with code 3; its last log lines:\nweb | boom"
        );
        assert!(!fx.log.iter().any(|l| l.starts_with("setup")));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_setup_keeps_the_session() {
        let d = desired(COMPOSE, CONFIG, Selection::default(), &[], true).unwrap();
        let mut fx = Fake {
            failing_setup: Some("make seed".into()),
            ..Default::default()
        };
        let err = converge(&mut fx, &d).await.unwrap_err();
        assert_eq!(
            err.message(),
            "setup command `make seed` failed with exit code 1"
        );
        assert_eq!(fx.containers.len(), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn network_mode_host_with_ports_is_refused_before_anything_starts() {
        let compose = "services:\n  db:\n    image: x\n    ports: ['5432']\n    network_mode: host\n  side:\n    image: x\n    network_mode: host\n";
        let d = desired(compose, "", Selection::default(), &[], false).unwrap();
        let mut fx = Fake::default();
        let err = converge(&mut fx, &d).await.unwrap_err();
        assert!(
            err.message()
                .contains("service `db` uses `network_mode: host`"),
            "{}",
            err.message()
        );
        assert!(err.message().contains("5432/tcp"), "{}", err.message());
        assert!(err.hint.is_some());
        assert!(fx.log.is_empty(), "{:?}", fx.log);
        // Without published ports it only warns.
        let quiet_side = compose.replace(
            "    ports: ['5432']\n    network_mode: host\n",
            "    ports: ['5432']\n",
        );
        let d = desired(&quiet_side, "", Selection::default(), &[], false).unwrap();
        converge(&mut Fake::default(), &d).await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_fake_refuses_compose_before_the_session_file() {
        // Proves the strictness the other tests rely on.
        let d = desired(COMPOSE, "", Selection::default(), &[], false).unwrap();
        let mut fx = Fake::default();
        let err = fx.up(&d, &["db".into()], &[], false).await.unwrap_err();
        assert!(err.message().contains("before the session file"));
    }
}
