//! Observation: one snapshot of a session directory (its files and containers — one Engine API
//! call), and for destroy the project's networks, volumes, images and the worktree's facts.
//! [`Observer`] is the seam reconciliation observes through; [`Ctx`] is the real observer
//! (Engine API, git, files), the strict fake in `apply/fake.rs` the one tests use.

use crate::adapters::docker::EngineSecurity;
use crate::plan::ready::{CopyPattern, DataSource, Entry};
use std::future::Future;

use super::*;

/// What reconciliation may learn about a session, in the session's terms. Every method is one
/// observation of the world; none changes it.
pub trait Observer: Send {
    /// The session in `dir` as its files are: the repository's main checkout (git), the config
    /// and, as `loading` says, the compose files. Config warnings and the `--verbose` trace
    /// go to `ui`.
    fn load(
        &mut self,
        ui: &Ui,
        dir: &Path,
        loading: Loading,
    ) -> impl Future<Output = Result<Session>> + Send;
    /// The session a new worktree of the repository `repo` gets: the config and compose files
    /// committed at `rev` (see [`load_committed`]).
    fn load_committed(
        &mut self,
        ui: &Ui,
        repo: &Path,
        rev: &str,
    ) -> impl Future<Output = Result<Session>> + Send;
    /// The session in `dir`: its files and its containers (one Engine API call).
    fn session(&mut self, dir: &Path) -> impl Future<Output = Result<Observed>> + Send;
    /// What only destroy (and create's rollback) needs on top: the project's networks,
    /// volumes and built images, and the worktree with every fact its removal depends on.
    fn for_destroy(
        &mut self,
        session: &Session,
        observed: &mut Observed,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The derived files (other than `.env.session`) the desired state names.
    fn derived(
        &mut self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> impl Future<Output = Result<()>> + Send;
    /// For bringing the session up: which subnets are taken, when its network needs a new one.
    fn subnets(
        &mut self,
        session: &Session,
        project: &str,
        observed: &mut Observed,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Everything on the engine under the Compose project `project` (DESIGN §10 "project
    /// identity": who owns the name).
    /// `made`: the project may be made now (its volumes and networks matter when it has no
    /// container).
    fn owners(
        &mut self,
        project: &str,
        made: bool,
    ) -> impl Future<Output = Result<crate::observed::Owners>> + Send;
    /// The Compose flavour to bring the session up with.
    fn flavor(&mut self, observed: &Observed) -> impl Future<Output = Result<Flavor>> + Send;
    /// For bringing the session up: the proxy names other sessions took, when this session
    /// needs one (see [`needs_host`]), and whether the proxy that answers serves another
    /// engine. The real observer also reserves the name the session will get (see
    /// [`reserve_name`]) until the process ends, so a parallel create picks another.
    fn hosts(
        &mut self,
        session: &Session,
        observed: &mut Observed,
    ) -> impl Future<Output = Result<()>> + Send;
    /// For a plan that brings the session up: whether the engine is remote and, when
    /// `compose` (the plan runs Compose), which Compose would run it. The default: a local
    /// engine, Compose not asked (a world without those facts refuses and warns about nothing).
    fn runtime(
        &mut self,
        compose: bool,
    ) -> impl Future<Output = Result<crate::observed::Runtime>> + Send {
        let _ = compose;
        async { Ok(crate::observed::Runtime::default()) }
    }
    /// The session a `--data-from` (or config `dataFrom`, as `what` says) copy reads from the
    /// directory `raw`: its project, volumes, running containers and an image for the copy's
    /// container. A directory that holds no session of this repository, or one still being
    /// created or changed, is refused.
    fn data_source(
        &mut self,
        session: &Session,
        raw: &Path,
        what: &str,
    ) -> impl Future<Output = Result<DataSource>> + Send;
    /// What create copies from the main checkout `repo` into a new worktree: the copy patterns
    /// (its `.worktreeinclude`, then config `copy`) and, when there are any, the gitignored
    /// files, less those committed on `existing` (the branch the worktree checks out: its
    /// files are there already). Neither in a bare repository.
    fn copy_sources(
        &mut self,
        repo: &Path,
        copy: &[String],
        existing: Option<&str>,
    ) -> impl Future<Output = Result<(Vec<CopyPattern>, Vec<Entry>)>> + Send;
    /// The main checkout's `rel` (an `envFiles` entry the branch does not commit, which create
    /// copies into the new worktree): its text, `None` when there is none. One that is not a
    /// regular file, or leads out of the repository `repo`, is refused.
    fn env_file(
        &mut self,
        repo: &Path,
        rel: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Whether anything is at `path` (a link counts, and is not followed): create picks a
    /// worktree directory nothing is at yet.
    fn exists(&mut self, path: &Path) -> impl Future<Output = bool> + Send;
    /// `path` resolved through links (and `..`), `None` when it does not resolve (nothing is
    /// there).
    fn resolve(&mut self, path: &Path) -> impl Future<Output = Option<PathBuf>> + Send;
    /// The text of the file at `path` as it is in the working copy, `None` when it cannot be
    /// read (create compares a changed config with its committed version).
    fn working_text(&mut self, path: &Path) -> impl Future<Output = Option<String>> + Send;
    /// What the engine is (its label, e.g. `Podman 4.3.1`) and how it isolates (rootless, on
    /// cgroup v1): asked only when a plan pauses a source or sets limits. The default: a
    /// rootful Docker.
    fn isolation(&mut self) -> impl Future<Output = Result<(String, EngineSecurity)>> + Send {
        async {
            Ok((
                "Docker".to_string(),
                EngineSecurity {
                    rootless: false,
                    cgroup_v1: false,
                },
            ))
        }
    }
}

/// Whether the session needs a proxy name chosen: the proxy is on and it has no container (a
/// new session, or one whose containers were removed): names are fixed when containers are
/// made.
pub fn needs_host(session: &Session, observed: &Observed) -> bool {
    session.config.proxy.enabled && observed.containers.is_empty()
}

/// The proxy is on but the session's containers carry no name (made while the proxy served
/// another engine, or before names): it keeps direct URLs until its containers are made anew.
pub fn unnamed(session: &Session, observed: &Observed) -> bool {
    session.config.proxy.enabled
        && !observed.containers.is_empty()
        && !observed
            .containers
            .iter()
            .any(|c| c.label(labels::HOST).is_some())
}

impl Ctx {
    /// The engine endpoint of the dev-prism proxy answering on the proxy's port, when it
    /// serves another engine than this command's (`None`: nothing answers, something else
    /// does, or it serves this engine).
    async fn proxy_elsewhere(&mut self) -> Result<Option<String>> {
        let ours = self.endpoint()?.host;
        Ok(
            match crate::proxy::daemon::probe_endpoint(crate::proxy::port()).await {
                crate::proxy::daemon::Probe::Proxy {
                    endpoint: Some(theirs),
                    ..
                } if !crate::proxy::same_engine(&theirs, &ours) => Some(theirs),
                _ => None,
            },
        )
    }
}

/// Observes the session in `dir`: its files and its containers (one API call).
pub async fn observe(ctx: &mut Ctx, dir: &Path) -> Result<Observed> {
    ctx.session(dir).await
}

impl Observer for Ctx {
    async fn load(&mut self, ui: &Ui, dir: &Path, loading: Loading) -> Result<Session> {
        let main_root = self.git().main_checkout(dir).unwrap_or(None);
        load_from(ui, &Checkout(dir), dir, main_root, loading)
    }

    async fn load_committed(&mut self, ui: &Ui, repo: &Path, rev: &str) -> Result<Session> {
        let git = self.git();
        let source = Committed {
            repo,
            rev,
            git: &*git,
        };
        load_committed(ui, &source, repo)
    }

    async fn env_file(&mut self, repo: &Path, rel: &str) -> Result<Option<String>> {
        let from = repo.join(rel);
        if from.is_file() {
            fs::source_inside(repo, &from)?;
        }
        Ok(fs::read(&from)?.map(|(t, _)| t))
    }

    async fn exists(&mut self, path: &Path) -> bool {
        path.symlink_metadata().is_ok()
    }

    async fn resolve(&mut self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }

    async fn working_text(&mut self, path: &Path) -> Option<String> {
        // Only a regular file is read (a FIFO there would make create wait forever).
        let bytes = crate::adapters::fs::read_bytes(path).ok().flatten()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn copy_sources(
        &mut self,
        repo: &Path,
        copy: &[String],
        existing: Option<&str>,
    ) -> Result<(Vec<CopyPattern>, Vec<Entry>)> {
        let patterns = fs_tree::copy_patterns(repo, copy);
        // A bare repository (its directory stands for the main checkout) has no files to copy.
        if patterns.is_empty() || self.git().is_bare(repo)? {
            return Ok((vec![], vec![]));
        }
        let mut files = fs_tree::ignored_files(self.trace(), repo)?;
        if let Some(rev) = existing {
            let tracked = fs_tree::tracked_at(self.trace(), repo, rev)?;
            crate::plan::ready::drop_committed(&mut files, |p| tracked.contains(p));
        }
        Ok((patterns, files))
    }

    async fn session(&mut self, dir: &Path) -> Result<Observed> {
        let containers = self
            .engine()
            .await?
            .session_containers(&dir.to_string_lossy())
            .await?;
        Ok(Observed {
            session_file: fs::read_observed(&dir.join(SESSION_FILE))?.map(|(t, _)| t),
            env_file: fs::read_observed(&dir.join(ENV_FILE))?,
            containers,
            ..Default::default()
        })
    }

    async fn for_destroy(&mut self, session: &Session, observed: &mut Observed) -> Result<()> {
        let engine = self.engine().await?;
        let dir = session.dir.clone();
        let config = session.config.clone();
        let main_root = session.main_root.clone();
        let git = self.git();
        let facts =
            tokio::task::spawn_blocking(move || worktree_facts(&*git, &dir, &config, main_root))
                .await
                .map_err(|e| Error::failure(format!("observing the worktree failed: {e}")))?;
        if let Some(f) = facts.as_ref().and_then(|f| f.made_for.clone()) {
            // A worktree moved with `git worktree move`: its containers carry the old directory.
            if f != session.dir && observed.containers.is_empty() {
                observed.containers = engine.session_containers(&f.to_string_lossy()).await?;
            }
        }
        observed.worktree = facts;
        let project = crate::observed::project_of(&observed.containers)
            .map(str::to_string)
            .unwrap_or_else(|| session.project());
        observed.networks = engine.project_networks(&project).await?;
        observed.volumes = engine.project_volumes(&project).await?;
        observed.images = engine.project_images(&project).await?;
        Ok(())
    }

    async fn derived(&mut self, desired: &Desired, observed: &mut Observed) -> Result<()> {
        for f in desired.derived.iter().filter(|f| f.path != ENV_FILE) {
            observed.derived.insert(
                f.path.clone(),
                fs::read_observed(&desired.dir.join(&f.path))?,
            );
        }
        Ok(())
    }

    async fn subnets(
        &mut self,
        session: &Session,
        project: &str,
        observed: &mut Observed,
    ) -> Result<()> {
        crate::context::subnets::observe(self, session, project, observed).await
    }

    async fn owners(&mut self, project: &str, made: bool) -> Result<crate::observed::Owners> {
        self.engine().await?.project_owners(project, made).await
    }

    async fn flavor(&mut self, observed: &Observed) -> Result<Flavor> {
        flavor(self, observed)
    }

    async fn data_source(
        &mut self,
        session: &Session,
        raw: &Path,
        what: &str,
    ) -> Result<DataSource> {
        let dir = std::fs::canonicalize(raw).map_err(|_| {
        Error::usage(format!(
            "{what} {}: the directory does not exist",
            raw.display()
        ))
        .with_hint("name the directory of a session of this repository (its main checkout, or a session worktree)")
    })?;
        // A source still being created (or changed) is busy: say so now, before anything is made.
        drop(crate::context::lock_shared(&dir)?);
        let engine = self.engine().await?;
        let none = |why: &str| {
            Error::usage(format!(
            "{what} {}: it holds no session of this repository ({why})",
            dir.display()
        ))
        .with_hint("start one there first (`dev-prism create --in-place`, or `docker compose up`), or name another directory")
        };
        let Some(found) = engine.find_source(&dir).await? else {
            return Err(none(
                "no dev-prism session and no Compose project has containers there",
            ));
        };
        let repo = session
            .main_root
            .clone()
            .unwrap_or_else(|| session.dir.clone());
        if !same_repository(&*self.git(), &dir, &repo, found.repo_root.as_deref()) {
            let kind = if found.dev_prism {
                "its session belongs to another repository"
            } else {
                "its Compose project is not in this repository"
            };
            return Err(none(kind));
        }
        if found.dev_prism {
            // Its volumes are read only when the project is the source directory's alone.
            engine.project_owners(&found.project, false).await?.check(
                &dir.to_string_lossy(),
                &found.project,
                true,
            )?;
        }
        Ok(DataSource {
            dir,
            volumes: engine.volumes_by_key(&found.project).await?,
            project: found.project,
            pause: found.running,
            image: found.image,
        })
    }

    async fn isolation(&mut self) -> Result<(String, EngineSecurity)> {
        let engine = self.engine().await?;
        Ok((engine.kind().label(), engine.security().await?))
    }

    async fn runtime(&mut self, compose: bool) -> Result<crate::observed::Runtime> {
        let ep = self.endpoint()?;
        Ok(crate::observed::Runtime {
            remote: (!ep.is_local()).then(|| ep.host.clone()),
            // A Compose that cannot be found is apply's to report, at its first use.
            compose: if compose {
                self.compose()
                    .ok()
                    .map(|c| (c.flavor(), c.version().to_string()))
            } else {
                None
            },
        })
    }

    async fn hosts(&mut self, session: &Session, observed: &mut Observed) -> Result<()> {
        if !needs_host(session, observed) {
            return Ok(());
        }
        let dir = session.dir.to_string_lossy().into_owned();
        // Choosing a name and reserving it is one step among this user's commands: names
        // other creates chose but have not yet given a container count as taken.
        let names = names_lock().await?;
        let mut taken = self.engine().await?.proxy_hosts(&dir).await?;
        taken.extend(reserved_names(&dir)?);
        taken.sort();
        taken.dedup();
        observed.taken_hosts = taken;
        observed.proxy_elsewhere = self.proxy_elsewhere().await?;
        if let Some(host) = super::proxy_host(session, observed) {
            reserve_name(&host, &dir)?;
        }
        drop(names);
        Ok(())
    }
}

/// The worktree `dir` is the top of, with its facts; `None` when it is none (a plain
/// directory, or git cannot list worktrees: then there is no worktree step at all).
pub(super) fn worktree_facts(
    git: &dyn crate::adapters::git::Git,
    dir: &Path,
    config: &Config,
    main_root: Option<PathBuf>,
) -> Option<crate::observed::WorktreeFacts> {
    use crate::observed::{Fact, WorktreeFacts};
    let wts = match git.worktrees(dir) {
        Ok(wts) => wts,
        // A linked worktree git can no longer read (its repository moved or was renamed): every
        // fact is unknown, so nothing of it is removed, and the output says why.
        Err(e) if dir.join(".git").is_file() => {
            let why = format!("git cannot read this worktree: {}", e.message());
            return Some(WorktreeFacts {
                path: dir.to_path_buf(),
                is_main: false,
                branch: None,
                branch_tip: None,
                made_by_dev_prism: Fact::Unknown(why.clone()),
                made_for: None,
                paths: Fact::Unknown(why.clone()),
                unmerged_commits: Fact::Unknown(why.clone()),
                submodules: Fact::Unknown(why),
            });
        }
        Err(_) => return None,
    };
    let wt = wts.into_iter().find(|w| w.path == dir)?;
    let recorded = git
        .setup_manifest(dir)
        .ok()
        .flatten()
        .map(|(_, file)| crate::adapters::outputs::read(&file))
        .unwrap_or_default();
    let owner = |path: &str, status: &'static str| {
        owner_of(dir, config, main_root.as_deref(), &recorded, path, status)
    };
    let mut facts = git.facts(&wt, &owner);
    // git status never lists a FIFO or socket (nor an empty directory): one at a generated
    // name is the user's all the same, and removing the worktree would delete it.
    if let Fact::Known(paths) = &mut facts.paths {
        let generated = [ENV_FILE.to_string(), SESSION_FILE.to_string()]
            .into_iter()
            .chain(
                config
                    .app_env
                    .keys()
                    .map(|app| format!("{}/{ENV_FILE}", app.trim_end_matches('/'))),
            );
        for name in generated.filter(|n| fs::is_special(&dir.join(n))) {
            let listed = paths.iter().any(|p| p.path.trim_end_matches('/') == name);
            if !listed {
                paths.push(crate::observed::PathFact {
                    path: name,
                    status: "untracked",
                    owner: crate::observed::Owner::User,
                });
            }
        }
    }
    Some(facts)
}

/// Whose a path reported by `git status` is (DESIGN §6): a file carrying dev-prism's header, a
/// copied env file identical to its source in the main checkout apart from the keys dev-prism
/// rewrites, an unchanged copy, or a setup output unchanged since create recorded it, is
/// dev-prism's; an ignored path matching `disposable` is disposable;
/// the rest (every modified tracked file included) is the user's.
pub(super) fn owner_of(
    dir: &Path,
    config: &Config,
    main_root: Option<&Path>,
    recorded: &crate::observed::outputs::Outputs,
    path: &str,
    status: &str,
) -> crate::observed::Owner {
    use crate::observed::{worktree::matches_any, Owner};
    if status == "modified" {
        return Owner::User;
    }
    // Only regular files are read (never through a link: an untracked link to /dev/zero would
    // never end), and only their first bytes unless they are a listed env file.
    let regular = std::fs::symlink_metadata(dir.join(path)).is_ok_and(|m| m.is_file());
    if regular {
        if desired::is_generated(&fs::head(&dir.join(path), 64)) {
            return Owner::DevPrism;
        }
        let copied = config.env_files.iter().any(|f| f == path);
        if let (true, Ok(Some((text, _)))) = (copied, fs::read(&dir.join(path))) {
            let src = main_root.and_then(|r| fs::read(&r.join(path)).ok().flatten());
            let mut keys: Vec<&str> = config.env_rewrite.keys().map(String::as_str).collect();
            keys.push("DATABASE_URL");
            if src.is_some_and(|(src, _)| {
                crate::observed::worktree::same_env_apart_from(&src, &text, &keys)
            }) {
                return Owner::DevPrism;
            }
        }
    }
    if status == "ignored" && matches_any(&config.disposable, path) {
        return Owner::Disposable;
    }
    // A copy of `.worktreeinclude` / `copy` that still holds what dev-prism copied.
    if main_root.is_some_and(|r| fs_tree::unchanged_copy(dir, r, &config.copy, path)) {
        return Owner::DevPrism;
    }
    // A file create's setup commands wrote, unchanged since.
    if crate::adapters::outputs::unchanged_output(dir, recorded, path) {
        return Owner::DevPrism;
    }
    Owner::User
}

/// Whether `dir` belongs to the repository whose main checkout is `repo`: by the repository
/// the session recorded, else by git.
fn same_repository(git: &dyn Git, dir: &Path, repo: &Path, recorded: Option<&str>) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(r) = recorded {
        return canonical(Path::new(r)) == canonical(repo);
    }
    let main: Option<PathBuf> = git.main_checkout(dir).ok().flatten();
    main.is_some_and(|m| canonical(&m) == canonical(repo))
}
