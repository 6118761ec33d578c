//! Loads what a command needs, only when it asks: the session directory, its config and
//! compose model (no Docker), the engine connection, the Compose CLI, and the observation.

use std::path::{Path, PathBuf};

use crate::adapters::compose::ComposeCli;
use crate::adapters::docker::Engine;
use crate::adapters::endpoint::{self, Endpoint};
use crate::adapters::{fs, git, node, tree as fs_tree};
use crate::compose::{self, labels, ComposeModel, Flavor, SESSION_FILE};
use crate::config::{self, Config, Format, CONFIG_FILES};
use crate::desired::{self, Desired, ENV_FILE};
use crate::error::{Error, Result};
use crate::observed::Observed;
use crate::util::UtcTime;

/// The canonical form of a directory argument (default: the current directory).
pub fn session_dir(arg: Option<&Path>) -> Result<PathBuf> {
    let raw = match arg {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| Error::failure(format!("cannot read the current directory: {e}")))?,
    };
    std::fs::canonicalize(&raw).map_err(|_| {
        Error::usage(format!("directory {} does not exist", raw.display()))
            .with_hint("pass an existing session directory, or run the command inside one")
    })
}

/// Held while a command changes a session; released when the process exits, however it
/// exits (an OS file lock), so a crashed command never leaves a stale lock behind.
#[derive(Debug)]
pub struct SessionLock {
    _file: std::fs::File,
}

/// Takes the session's lock or fails at once with a "busy" error. The lock file lives in a
/// per-user directory (`$XDG_RUNTIME_DIR/dev-prism-locks`, else
/// `$TMPDIR/dev-prism-locks-<uid>`), named by a hash of the session directory, so it never
/// shows up in the user's worktree. The directory is verified before use: a real directory
/// (not a link), owned by the current user, mode 700; the lock file is opened without
/// following a link and must be the user's too.
pub fn lock(dir: &Path) -> Result<SessionLock> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let uid = current_uid()?;
    let base = lock_dir(uid)?;
    let path = base.join(format!(
        "{}.lock",
        crate::util::short_hash(dir.as_os_str().as_encoded_bytes(), 16)
    ));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| {
            Error::failure(format!("cannot open lock file {}: {e}", path.display()))
                .with_hint("a symbolic link there is refused; remove it and run the command again")
        })?;
    let owner = file
        .metadata()
        .map_err(|e| Error::failure(format!("cannot inspect {}: {e}", path.display())))?
        .uid();
    if owner != uid {
        return Err(Error::failure(format!(
            "refusing the lock file {}: it is owned by uid {owner}, not by you (uid {uid})",
            path.display()
        ))
        .with_hint("remove it and run the command again"));
    }
    match file.try_lock() {
        Ok(()) => Ok(SessionLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(
            crate::error::Kind::Busy,
            format!("another dev-prism command is working on {}", dir.display()),
        )
        .with_hint("wait for it to finish and run the command again")),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::failure(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// The effective uid, without libc: the owner of `/proc/self`, else of a file this process
/// creates.
fn current_uid() -> Result<u32> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    if let Ok(m) = std::fs::metadata("/proc/self") {
        return Ok(m.uid());
    }
    let probe = std::env::temp_dir().join(format!(
        ".dev-prism-uid-{}-{}",
        std::process::id(),
        UtcTime::now().slug()
    ));
    let fail = |e: std::io::Error| Error::failure(format!("cannot learn the current user: {e}"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&probe)
        .map_err(fail)?;
    let uid = file.metadata().map_err(fail)?.uid();
    let _ = std::fs::remove_file(&probe);
    Ok(uid)
}

/// The per-user lock directory, created mode 700 and verified.
fn lock_dir(uid: u32) -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("dev-prism-locks"),
        None => std::env::temp_dir().join(format!("dev-prism-locks-{uid}")),
    };
    let refuse = |why: String| {
        Error::failure(format!(
            "refusing the lock directory {}: {why}",
            base.display()
        ))
        .with_hint(format!(
            "remove {} (it holds only dev-prism's lock files); dev-prism makes it again, yours, mode 700",
            base.display()
        ))
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refuse(format!("cannot create it: {e}"))),
    }
    let inspect =
        || std::fs::symlink_metadata(&base).map_err(|e| refuse(format!("cannot inspect it: {e}")));
    let m = inspect()?;
    if m.file_type().is_symlink() {
        return Err(refuse("it is a symbolic link".into()));
    }
    if !m.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    if m.uid() != uid {
        return Err(refuse(format!(
            "it is owned by uid {}, not by you (uid {uid})",
            m.uid()
        )));
    }
    if m.mode() & 0o777 != 0o700 {
        // Yours, made by an older dev-prism or under a narrow umask: set it to 700.
        let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700));
        let mode = inspect()?.mode() & 0o777;
        if mode != 0o700 {
            return Err(refuse(format!("its mode is {mode:o}, not 700")));
        }
    }
    Ok(base)
}

/// A session directory with its config and compose model loaded (no Docker involved).
#[derive(Clone, Debug)]
pub struct Session {
    pub dir: PathBuf,
    /// The repository's main checkout, when `dir` is inside a git repository.
    pub main_root: Option<PathBuf>,
    pub config: Config,
    /// The user's compose files, relative to `dir`, in `-f` order.
    pub compose_files: Vec<String>,
    pub model: ComposeModel,
}

impl Session {
    pub fn project(&self) -> String {
        desired::project_name(&self.config.project_name, &self.dir)
    }
}

/// Where a session's config and compose files are read from: the files in a directory, or
/// the files committed at a git revision (a worktree that does not exist yet).
pub enum Source<'a> {
    Dir(&'a Path),
    Git { repo: &'a Path, rev: &'a str },
}

impl Source<'_> {
    /// The text of `rel`, `None` when it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<String>> {
        match self {
            Source::Dir(dir) => fs::read(&dir.join(rel)).map(|o| o.map(|(t, _)| t)),
            Source::Git { repo, rev } => git::show(repo, rev, rel),
        }
    }

    /// A path naming `rel` in messages.
    fn name(&self, rel: &str) -> PathBuf {
        match self {
            Source::Dir(dir) => dir.join(rel),
            Source::Git { repo, .. } => repo.join(rel),
        }
    }
}

/// Reads and validates the config found in `dir` (defaults when there is none).
pub fn load_config(dir: &Path, main_root: Option<&Path>) -> Result<Config> {
    load_config_from(&Source::Dir(dir), main_root.unwrap_or(dir))
}

/// Reads and validates the config of `source`; `root` is the main checkout (defaults and
/// `sessionsDir` are relative to it).
pub fn load_config_from(source: &Source<'_>, root: &Path) -> Result<Config> {
    for name in CONFIG_FILES {
        let Some(text) = source.read(name)? else {
            continue;
        };
        let path = source.name(name);
        let format = Format::of(&path);
        let text = match (format, source) {
            (Format::Module, Source::Dir(_)) => node::export_json(&path)?,
            (Format::Module, Source::Git { .. }) => {
                // node imports files: the committed version goes through a private temp copy.
                let tmp = tempdir_for_module(name, &text)?;
                let json = node::export_json(&tmp.join(name));
                let _ = std::fs::remove_dir_all(&tmp);
                json?
            }
            _ => text,
        };
        let raw = config::parse(&text, &path, format)?;
        return config::resolve(raw, root, Some(path));
    }
    config::resolve(Default::default(), root, None)
}

fn tempdir_for_module(name: &str, text: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "dev-prism-config-{}-{}",
        std::process::id(),
        UtcTime::now().slug()
    ));
    std::fs::create_dir(&dir)
        .and_then(|_| std::fs::write(dir.join(name), text))
        .map_err(|e| Error::failure(format!("cannot stage {name} for node: {e}")))?;
    Ok(dir)
}

/// Finds and parses the user's compose files in `dir`.
pub fn load_compose(dir: &Path, config: &Config) -> Result<(Vec<String>, ComposeModel)> {
    load_compose_from(&Source::Dir(dir), config)
}

/// Finds and parses the user's compose files of `source`.
pub fn load_compose_from(
    source: &Source<'_>,
    config: &Config,
) -> Result<(Vec<String>, ComposeModel)> {
    let place = match source {
        Source::Dir(d) => d.display().to_string(),
        Source::Git { rev, .. } => format!("the files committed at {rev}"),
    };
    let mut texts = vec![];
    match &config.compose_files {
        Some(list) => {
            for f in list {
                let Some(text) = source.read(f)? else {
                    return Err(Error::usage(format!(
                        "compose file {f} (from composeFile in the config) does not exist in {place}"
                    ))
                    .with_hint("fix composeFile in the config, or add (and commit) the file"));
                };
                texts.push((f.clone(), text));
            }
        }
        None => {
            for main in compose::DEFAULT_FILES {
                if let Some(text) = source.read(main)? {
                    texts.push((main.to_string(), text));
                    for o in compose::override_candidates(main) {
                        if let Some(text) = source.read(&o)? {
                            texts.push((o, text));
                            break;
                        }
                    }
                    break;
                }
            }
            if texts.is_empty() {
                return Err(Error::usage(format!(
                    "no compose file in {place} (looked for {})",
                    compose::DEFAULT_FILES.join(", ")
                ))
                .with_hint("add a docker-compose.yml, or name yours with composeFile in session.config.yaml"));
            }
        }
    }
    let load = |rel: &str| -> Result<String> {
        source.read(rel)?.ok_or_else(|| {
            Error::usage(format!(
                "compose file {rel} (named by include/extends) does not exist in {place}"
            ))
            .with_hint("fix the path in the compose file")
        })
    };
    let mut model = compose::parse_with(&texts, &load)?;
    for w in config::adopt(config, &mut model)? {
        crate::ui::warn_once(&format!("warning: {w}"));
    }
    let files = texts.into_iter().map(|(f, _)| f).collect();
    Ok((files, model))
}

/// Loads a session directory: git root, config, compose model.
pub fn load_session(dir: &Path) -> Result<Session> {
    let main_root = git::main_checkout(dir).unwrap_or(None);
    let config = load_config(dir, main_root.as_deref())?;
    let (compose_files, model) = load_compose(dir, &config)?;
    Ok(Session {
        dir: dir.to_path_buf(),
        main_root,
        config,
        compose_files,
        model,
    })
}

/// A session's identity without its compose files: the directory, the repository and the
/// config (defaults when `lenient` and the config cannot be read).
pub fn load_identity(dir: &Path, lenient: bool) -> Result<Session> {
    let main_root = git::main_checkout(dir).unwrap_or(None);
    let config = match load_config(dir, main_root.as_deref()) {
        Ok(c) => c,
        Err(_) if lenient => config::resolve(
            Default::default(),
            main_root.as_deref().unwrap_or(dir),
            None,
        )?,
        Err(e) => return Err(e),
    };
    Ok(Session {
        dir: dir.to_path_buf(),
        main_root,
        config,
        compose_files: vec![],
        model: ComposeModel::default(),
    })
}

/// Engine and Compose CLI, connected on first use.
#[derive(Default)]
pub struct Ctx {
    endpoint: Option<Endpoint>,
    engine: Option<Engine>,
    compose: Option<ComposeCli>,
    /// The flavour an existing session was made with, preferred when detecting Compose.
    prefer: Option<Flavor>,
    /// The local socket an ssh engine is reached through (API and Compose alike).
    tunnel: Option<std::sync::Arc<crate::adapters::ssh::Tunnel>>,
}

impl Ctx {
    /// A context for another task, sharing this one's connections.
    pub fn share(&self) -> Ctx {
        Ctx {
            endpoint: self.endpoint.clone(),
            engine: self.engine.clone(),
            compose: self.compose.clone(),
            prefer: self.prefer,
            tunnel: self.tunnel.clone(),
        }
    }

    pub fn endpoint(&mut self) -> Result<Endpoint> {
        if self.endpoint.is_none() {
            self.endpoint = Some(endpoint::resolve()?);
        }
        Ok(self.endpoint.clone().expect("set above"))
    }

    /// For an ssh endpoint, the tunnel both the API client and Compose go through.
    fn tunnel(&mut self) -> Result<Option<std::sync::Arc<crate::adapters::ssh::Tunnel>>> {
        let ep = self.endpoint()?;
        if self.tunnel.is_none() {
            if let Some(target) = endpoint::SshTarget::parse(&ep.host) {
                let t = crate::adapters::ssh::Tunnel::start(&target)?;
                self.tunnel = Some(std::sync::Arc::new(t));
            }
        }
        Ok(self.tunnel.clone())
    }

    pub async fn engine(&mut self) -> Result<Engine> {
        if self.engine.is_none() {
            let ep = self.endpoint()?;
            let tunnel = self.tunnel()?;
            self.engine = Some(Engine::connect(ep, tunnel).await?);
        }
        Ok(self.engine.clone().expect("set above"))
    }

    pub fn compose(&mut self) -> Result<ComposeCli> {
        if self.compose.is_none() {
            let ep = self.endpoint()?;
            let dial = self.tunnel()?.map(|t| t.docker_host());
            self.compose = Some(ComposeCli::detect(&ep, dial, self.prefer)?);
        }
        Ok(self.compose.clone().expect("set above"))
    }
}

/// Observes the session in `dir`: its files and its containers (one API call).
pub async fn observe(ctx: &mut Ctx, dir: &Path) -> Result<Observed> {
    let containers = ctx
        .engine()
        .await?
        .session_containers(&dir.to_string_lossy())
        .await?;
    Ok(Observed {
        session_file: fs::read(&dir.join(SESSION_FILE))?.map(|(t, _)| t),
        env_file: fs::read(&dir.join(ENV_FILE))?,
        containers,
        ..Default::default()
    })
}

/// What only destroy (and create's rollback) needs on top: the project's networks, volumes
/// and built images, and the worktree with every fact its removal depends on.
pub async fn observe_for_destroy(
    ctx: &mut Ctx,
    session: &Session,
    observed: &mut Observed,
) -> Result<()> {
    let engine = ctx.engine().await?;
    let dir = session.dir.clone();
    let config = session.config.clone();
    let main_root = session.main_root.clone();
    let facts = tokio::task::spawn_blocking(move || worktree_facts(&dir, &config, main_root))
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

/// The worktree `dir` is the top of, with its facts; `None` when it is none (a plain
/// directory, or git cannot list worktrees: then there is no worktree step at all).
fn worktree_facts(
    dir: &Path,
    config: &Config,
    main_root: Option<PathBuf>,
) -> Option<crate::observed::WorktreeFacts> {
    use crate::observed::{Fact, WorktreeFacts};
    let wts = match git::worktrees(dir) {
        Ok(wts) => wts,
        // A linked worktree git can no longer read (its repository moved or was renamed): every
        // fact is unknown, so nothing of it is removed, and the output says why.
        Err(e) if dir.join(".git").is_file() => {
            let why = format!("git cannot read this worktree: {}", e.message);
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
    let owner = |path: &str, status: &'static str| {
        owner_of(dir, config, main_root.as_deref(), path, status)
    };
    Some(git::facts(&wt, &owner))
}

/// Whose a path reported by `git status` is (DESIGN §6): a file carrying dev-prism's header, or
/// a copied env file identical to its source in the main checkout apart from the keys
/// dev-prism rewrites, is dev-prism's; an ignored path matching `disposable` is disposable;
/// the rest (every modified tracked file included) is the user's.
fn owner_of(
    dir: &Path,
    config: &Config,
    main_root: Option<&Path>,
    path: &str,
    status: &str,
) -> crate::observed::Owner {
    use crate::observed::{worktree::matches_any, Owner};
    if status == "modified" {
        return Owner::User;
    }
    if !path.ends_with('/') {
        if let Ok(Some((text, _))) = fs::read(&dir.join(path)) {
            if desired::is_generated(&text) {
                return Owner::DevPrism;
            }
            let copied = config.env_files.iter().any(|f| f == path);
            if copied {
                if let Some(src) = main_root.and_then(|r| fs::read(&r.join(path)).ok().flatten()) {
                    let mut keys: Vec<&str> =
                        config.env_rewrite.keys().map(String::as_str).collect();
                    keys.push("DATABASE_URL");
                    if crate::observed::worktree::same_env_apart_from(&src.0, &text, &keys) {
                        return Owner::DevPrism;
                    }
                }
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
    Owner::User
}

/// A fact the session recorded: a label on its containers or, when they are gone, the same
/// label in its session file.
fn recorded(observed: &Observed, label: &str) -> Option<String> {
    observed
        .containers
        .iter()
        .find_map(|c| c.label(label).map(str::to_string))
        .or_else(|| {
            let text = observed.session_file.as_deref()?;
            compose::label_in(text, label)
        })
}

/// The Compose flavour the session was made with, as recorded. No CLI process.
pub fn recorded_flavor(observed: &Observed) -> Option<Flavor> {
    recorded(observed, labels::COMPOSE).and_then(|f| Flavor::from_label(&f))
}

/// The Compose flavour to run the session with: what its containers were made with when they
/// exist (no CLI process needed), else what the Compose CLI found answers as.
pub fn flavor(ctx: &mut Ctx, observed: &Observed) -> Result<Flavor> {
    let from_labels = observed
        .containers
        .iter()
        .find_map(|c| c.label(labels::COMPOSE).and_then(Flavor::from_label));
    ctx.prefer = from_labels;
    match from_labels {
        Some(f) if std::env::var_os("DEV_PRISM_COMPOSE").is_none() => Ok(f),
        _ => Ok(ctx.compose()?.flavor),
    }
}

/// What a command asks of the desired state beyond the config.
#[derive(Clone, Debug, Default)]
pub struct Wants {
    pub selection: desired::Selection,
    /// Run the setup commands (`create`).
    pub setup: bool,
}

/// The desired state of a loaded session, keeping its creation time.
pub fn desired_for(
    session: &Session,
    observed: &Observed,
    flavor: Flavor,
    wants: &Wants,
) -> Result<Desired> {
    let created_at =
        recorded(observed, labels::CREATED_AT).unwrap_or_else(|| UtcTime::now().rfc3339());
    let linked_worktree = session
        .main_root
        .as_deref()
        .is_some_and(|r| r != session.dir);
    desired::desired(
        &session.config,
        &session.model,
        desired::Inputs {
            dir: &session.dir,
            flavor,
            compose_files: session.compose_files.clone(),
            created_at,
            repo_root: session.main_root.as_deref(),
            selection: wants.selection.clone(),
            existing: observed
                .containers
                .iter()
                .map(|c| c.service.clone())
                .collect(),
            rewrite_env_files: linked_worktree,
            with_setup: wants.setup,
            subnet: crate::subnet::choose(
                session.config.subnet_pool,
                &session.model,
                observed.session_file.as_deref(),
                observed.subnets.as_ref(),
                crate::subnet::seed(&session.dir.to_string_lossy()),
            ),
        },
    )
}

/// Reads the derived files (other than `.env.session`) the desired state names.
pub fn read_derived(desired: &Desired, observed: &mut Observed) -> Result<()> {
    for f in desired.derived.iter().filter(|f| f.path != ENV_FILE) {
        observed
            .derived
            .insert(f.path.clone(), fs::read(&desired.dir.join(&f.path))?);
    }
    Ok(())
}
