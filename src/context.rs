//! Loads what a command needs, only when it asks: the session directory, its config and
//! compose model (no Docker), the engine connection, the Compose CLI, and the observation.

use std::path::{Path, PathBuf};

use crate::adapters::compose::ComposeCli;
use crate::adapters::docker::Engine;
use crate::adapters::endpoint::{self, Endpoint};
use crate::adapters::{fs, git, node};
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
/// per-user runtime/temp directory, named by a hash of the session directory, so it never
/// shows up in the user's worktree.
pub fn lock(dir: &Path) -> Result<SessionLock> {
    // Per user: a directory another user created would not be writable.
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => std::path::PathBuf::from(d).join("dev-prism-locks"),
        None => {
            use std::os::unix::fs::MetadataExt;
            let uid = std::fs::metadata("/proc/self")
                .map(|m| m.uid())
                .unwrap_or(0);
            std::env::temp_dir().join(format!("dev-prism-locks-{uid}"))
        }
    };
    let _ = std::fs::create_dir_all(&base);
    let path = base.join(format!(
        "{}.lock",
        crate::util::short_hash(dir.as_os_str().as_encoded_bytes(), 16)
    ));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::failure(format!("cannot open lock file {}: {e}", path.display())))?;
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

/// Reads and validates the config found in `dir` (defaults when there is none).
pub fn load_config(dir: &Path, main_root: Option<&Path>) -> Result<Config> {
    let root = main_root.unwrap_or(dir);
    let found = CONFIG_FILES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    let Some(path) = found else {
        return config::resolve(Default::default(), root, None);
    };
    let format = Format::of(&path);
    let text = match format {
        Format::Module => node::export_json(&path)?,
        _ => std::fs::read_to_string(&path)
            .map_err(|e| Error::failure(format!("cannot read {}: {e}", path.display())))?,
    };
    let raw = config::parse(&text, &path, format)?;
    config::resolve(raw, root, Some(path))
}

/// Finds and parses the user's compose files in `dir`.
pub fn load_compose(dir: &Path, config: &Config) -> Result<(Vec<String>, ComposeModel)> {
    let files: Vec<String> = match &config.compose_files {
        Some(list) => {
            for f in list {
                if !dir.join(f).is_file() {
                    return Err(Error::usage(format!(
                        "compose file {f} (from composeFile in the config) does not exist in {}",
                        dir.display()
                    ))
                    .with_hint("fix composeFile in the config, or add the file"));
                }
            }
            list.clone()
        }
        None => {
            let Some(main) = compose::DEFAULT_FILES
                .iter()
                .find(|f| dir.join(f).is_file())
            else {
                return Err(Error::usage(format!(
                    "no compose file in {} (looked for {})",
                    dir.display(),
                    compose::DEFAULT_FILES.join(", ")
                ))
                .with_hint("add a docker-compose.yml, or name yours with composeFile in session.config.yaml"));
            };
            let mut files = vec![main.to_string()];
            if let Some(o) = compose::override_candidates(main)
                .into_iter()
                .find(|o| dir.join(o).is_file())
            {
                files.push(o);
            }
            files
        }
    };
    let mut texts = vec![];
    for f in &files {
        let text = std::fs::read_to_string(dir.join(f))
            .map_err(|e| Error::usage(format!("cannot read compose file {f}: {e}")))?;
        texts.push((f.clone(), text));
    }
    let load = |rel: &str| -> Result<String> {
        std::fs::read_to_string(dir.join(rel)).map_err(|e| {
            Error::usage(format!(
                "cannot read compose file {rel} (named by include/extends): {e}"
            ))
            .with_hint("fix the path in the compose file")
        })
    };
    let model = compose::parse_with(&texts, &load)?;
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

/// Engine and Compose CLI, connected on first use.
#[derive(Default)]
pub struct Ctx {
    endpoint: Option<Endpoint>,
    engine: Option<Engine>,
    compose: Option<ComposeCli>,
    /// The flavour an existing session was made with, preferred when detecting Compose.
    prefer: Option<Flavor>,
}

impl Ctx {
    pub fn endpoint(&mut self) -> Result<Endpoint> {
        if self.endpoint.is_none() {
            self.endpoint = Some(endpoint::resolve()?);
        }
        Ok(self.endpoint.clone().expect("set above"))
    }

    pub async fn engine(&mut self) -> Result<Engine> {
        if self.engine.is_none() {
            let ep = self.endpoint()?;
            self.engine = Some(Engine::connect(ep).await?);
        }
        Ok(self.engine.clone().expect("set above"))
    }

    pub fn compose(&mut self) -> Result<ComposeCli> {
        if self.compose.is_none() {
            let ep = self.endpoint()?;
            self.compose = Some(ComposeCli::detect(&ep, self.prefer)?);
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

/// What only destroy needs on top: the project's networks and volumes, and the worktree with
/// its safety facts.
pub async fn observe_for_destroy(
    ctx: &mut Ctx,
    dir: &Path,
    project: &str,
    observed: &mut Observed,
) -> Result<()> {
    let engine = ctx.engine().await?;
    observed.networks = engine.project_networks(project).await?;
    observed.volumes = engine.project_volumes(project).await?;
    if let Some(wt) = git::worktrees(dir)
        .unwrap_or_default()
        .into_iter()
        .find(|w| w.path == dir)
    {
        if !wt.is_main {
            observed.safety = Some(git::safety(dir, wt.branch.as_deref())?);
        }
        observed.worktree = Some(wt);
    }
    Ok(())
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
