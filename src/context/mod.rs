//! Loads what a command needs, only when it asks: the session directory, its config and
//! compose model (no Docker), the engine connection, the Compose CLI, and the observation.

use std::path::{Path, PathBuf};

use crate::adapters::endpoint::{self, Endpoint};
use crate::adapters::git::Git;
use crate::adapters::{fs, node, tree as fs_tree};
use crate::adapters::{Compose, Engine};
use crate::compose::{self, labels, ComposeModel, Flavor, SESSION_FILE};
use crate::config::{self, Config, Format, CONFIG_FILES};
use crate::desired::{self, Desired, ENV_FILE};
use crate::error::{Error, Result};
use crate::observed::Observed;
use crate::ui::{Trace, Ui};
use crate::util::UtcTime;

mod load;
mod lock;
mod observe;
pub mod subnets;

pub use load::*;
pub use lock::*;
pub use observe::*;

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
    /// The project name a new session in this directory gets.
    pub fn project(&self) -> String {
        desired::project_name(&self.config.project_name, &self.dir)
    }

    /// The project to bring this session up as: the name its containers carry when an earlier
    /// version gave it (8 hex, [`desired::legacy_project_name`]), else [`Session::project`]
    /// (a changed `projectName` still moves the session to its new name, as before).
    pub fn project_for(&self, observed: &Observed) -> String {
        let legacy = desired::legacy_project_name(&self.config.project_name, &self.dir);
        match crate::observed::project_of(&observed.containers) {
            Some(p) if p == legacy => legacy,
            _ => self.project(),
        }
    }
}

/// Engine and Compose CLI, connected on first use.
#[derive(Default)]
pub struct Ctx {
    endpoint: Option<Endpoint>,
    engine: Option<std::sync::Arc<dyn Engine>>,
    compose: Option<std::sync::Arc<dyn Compose>>,
    /// git (`None`: the git CLI, logging through the run's trace).
    git: Option<std::sync::Arc<dyn Git>>,
    /// The flavour an existing session was made with, preferred when detecting Compose.
    prefer: Option<Flavor>,
    /// The local socket an ssh engine is reached through (API and Compose alike).
    tunnel: Option<std::sync::Arc<crate::adapters::ssh::Tunnel>>,
    /// The run's output: config warnings, and the `--verbose` trace the adapters log through.
    ui: Ui,
}

impl Ctx {
    /// A context whose adapters log through `ui`'s trace.
    pub fn new(ui: &Ui) -> Ctx {
        Ctx {
            ui: ui.clone(),
            ..Ctx::default()
        }
    }

    /// A context whose ports are the ones given, not the real engine, Compose CLI and git
    /// (unit tests run the real observer and effects against the fakes in `adapters/fake.rs`).
    pub fn with_ports(
        ui: &Ui,
        engine: std::sync::Arc<dyn Engine>,
        compose: std::sync::Arc<dyn Compose>,
        git: std::sync::Arc<dyn Git>,
    ) -> Ctx {
        Ctx {
            engine: Some(engine),
            compose: Some(compose),
            git: Some(git),
            ..Ctx::new(ui)
        }
    }

    /// A context for another task, sharing this one's connections.
    pub fn share(&self) -> Ctx {
        Ctx {
            endpoint: self.endpoint.clone(),
            engine: self.engine.clone(),
            compose: self.compose.clone(),
            git: self.git.clone(),
            prefer: self.prefer,
            tunnel: self.tunnel.clone(),
            ui: self.ui.clone(),
        }
    }

    /// The run's output.
    pub fn ui(&self) -> &Ui {
        &self.ui
    }

    /// The handle adapters log their external calls through.
    pub fn trace(&self) -> &Trace {
        self.ui.trace()
    }

    /// git, through the port (the CLI unless a test gave another).
    pub fn git(&self) -> std::sync::Arc<dyn Git> {
        self.git
            .clone()
            .unwrap_or_else(|| crate::adapters::git::cli(self.trace()))
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
                let t = crate::adapters::ssh::Tunnel::start(&target, self.trace())?;
                self.tunnel = Some(std::sync::Arc::new(t));
            }
        }
        Ok(self.tunnel.clone())
    }

    pub async fn engine(&mut self) -> Result<std::sync::Arc<dyn Engine>> {
        if self.engine.is_none() {
            let ep = self.endpoint()?;
            let tunnel = self.tunnel()?;
            self.engine = Some(crate::adapters::engine::connect(ep, tunnel, self.trace()).await?);
        }
        Ok(self.engine.clone().expect("set above"))
    }

    pub fn compose(&mut self) -> Result<std::sync::Arc<dyn Compose>> {
        if self.compose.is_none() {
            let ep = self.endpoint()?;
            let dial = self.tunnel()?.map(|t| t.docker_host());
            self.compose = Some(crate::adapters::engine::detect_compose(
                &ep,
                dial,
                self.prefer,
                self.trace(),
            )?);
        }
        Ok(self.compose.clone().expect("set above"))
    }
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
        _ => Ok(ctx.compose()?.flavor()),
    }
}

/// What a command asks of the desired state beyond the config.
#[derive(Clone, Debug, Default)]
pub struct Wants {
    pub selection: desired::Selection,
    /// Run the setup commands (`create`).
    pub setup: bool,
}

/// The desired state of a loaded session, keeping its creation time and where its data came
/// from.
pub fn desired_for(
    session: &Session,
    observed: &Observed,
    flavor: Flavor,
    wants: &Wants,
) -> Result<Desired> {
    desired_seeded(session, observed, flavor, wants, None)
}

/// [`desired_for`] of a session whose volumes are copied from `data_from` (`create
/// --data-from`): recorded on its containers, so `info` reads it from them and every later
/// rewrite of the session file keeps it. Without one, what was recorded is kept.
pub fn desired_seeded(
    session: &Session,
    observed: &Observed,
    flavor: Flavor,
    wants: &Wants,
    data_from: Option<String>,
) -> Result<Desired> {
    let data_from = data_from.or_else(|| recorded(observed, labels::DATA_FROM));
    let created_at =
        recorded(observed, labels::CREATED_AT).unwrap_or_else(|| UtcTime::now().rfc3339());
    let proxy_host = proxy_host(session, observed);
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
            subnet: crate::desired::subnet::choose(
                session.config.subnet_pool,
                &session.model,
                observed.session_file.as_deref(),
                observed.subnets.as_ref(),
                crate::subnet::seed(&session.dir.to_string_lossy()),
            )?,
            data_from,
            project: session.project_for(observed),
            proxy_host,
            proxy: crate::proxy::setting(),
        },
    )
}

/// The session's proxy name, fixed when its containers are made (DESIGN §10): what its
/// containers carry, kept by every later rewrite; none when they carry none (made while the
/// proxy served another engine, or before names): giving it one would recreate every
/// container of a session that may be running, on any `heal` (every checkout), so plan and
/// apply say how to give it one instead ([`unnamed`]). With no container — a new session, or
/// one whose containers were removed — `<dir name>.<projectName>` lowered, numbered past the
/// names other sessions took; none when the proxy that answers serves another engine.
/// The session file's record is not kept: with no container, another session may have taken
/// the name since.
fn proxy_host(session: &Session, observed: &Observed) -> Option<String> {
    if !session.config.proxy.enabled {
        return None;
    }
    if !observed.containers.is_empty() {
        return observed
            .containers
            .iter()
            .find_map(|c| c.label(labels::HOST))
            .map(str::to_string);
    }
    // The proxy on the port serves another engine: a name would not answer.
    if observed.proxy_elsewhere.is_some() {
        return None;
    }
    let dir_name = session
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = crate::desired::names::host_label(&dir_name, &session.config.project_name);
    Some(crate::desired::names::unique_host(
        &host,
        &observed.taken_hosts,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::{Container, Health, State};

    fn session() -> Session {
        let raw = config::parse("{}", Path::new("session.config.yaml"), Format::Yaml).unwrap();
        let model = compose::parse(&[(
            "docker-compose.yml".into(),
            "services:\n  db: {image: x}\n".into(),
        )])
        .unwrap();
        Session {
            dir: "/w/s1".into(),
            main_root: None,
            config: config::resolve(raw, Path::new("/w/s1"), None).unwrap(),
            compose_files: vec!["docker-compose.yml".into()],
            model,
        }
    }

    fn seeded(desired: &Desired) -> Option<String> {
        compose::label_in(&desired.session_file, labels::DATA_FROM)
    }

    #[test]
    fn where_the_data_came_from_is_kept_from_the_containers_and_absent_stays_absent() {
        let s = session();
        let wants = Wants::default();
        let mut observed = Observed::default();
        // A session made without `--data-from`, or by a version before the label: none.
        let plain = desired_for(&s, &observed, Flavor::V2, &wants).unwrap();
        assert_eq!(seeded(&plain), None);
        // create records its source...
        let made = desired_seeded(&s, &observed, Flavor::V2, &wants, Some("/w/main".into()));
        assert_eq!(seeded(&made.unwrap()).as_deref(), Some("/w/main"));
        // ...and every later rewrite keeps what the containers carry.
        observed.containers.push(Container {
            id: "c1".into(),
            name: "db-1".into(),
            service: "db".into(),
            state: State::Running,
            health: Health::None,
            exit_code: None,
            status: String::new(),
            ports: vec![],
            labels: [(labels::DATA_FROM.to_string(), "/w/main".to_string())].into(),
            engine_host: Default::default(),
        });
        let healed = desired_for(&s, &observed, Flavor::V2, &wants).unwrap();
        assert_eq!(seeded(&healed).as_deref(), Some("/w/main"));
    }

    #[test]
    fn the_proxy_name_is_kept_from_the_containers_else_chosen_unique() {
        let mut s = session();
        s.dir = "/w/Feat_X".into();
        s.config.project_name = "Shop".into();
        let mut observed = Observed::default();
        let host = |o: &Observed, s: &Session| {
            let d = desired_for(s, o, Flavor::V2, &Wants::default()).unwrap();
            compose::label_in(&d.session_file, labels::HOST)
        };
        assert_eq!(host(&observed, &s).as_deref(), Some("feat-x.shop"));
        // Another session (`feat-x`, lowered alike) took it: the next number.
        observed.taken_hosts = vec!["feat-x.shop".into(), "feat-x-2.shop".into()];
        assert_eq!(host(&observed, &s).as_deref(), Some("feat-x-3.shop"));
        // The containers' name is kept, whatever is taken or recorded in the session file.
        observed.containers.push(Container {
            id: "c1".into(),
            name: "db-1".into(),
            service: "db".into(),
            state: State::Stopped,
            health: Health::None,
            exit_code: None,
            status: String::new(),
            ports: vec![],
            labels: [(labels::HOST.to_string(), "feat-x.shop".to_string())].into(),
            engine_host: Default::default(),
        });
        assert_eq!(host(&observed, &s).as_deref(), Some("feat-x.shop"));
        // Containers made without a name (the proxy then served another engine) keep none:
        // no recreate only to add one; plan and apply say how to get one.
        observed.containers[0].labels.clear();
        assert_eq!(host(&observed, &s), None);
        assert!(unnamed(&s, &observed) && !needs_host(&s, &observed));
        observed.containers.clear();
        assert_eq!(host(&observed, &s).as_deref(), Some("feat-x-3.shop"));
        assert!(!unnamed(&s, &observed) && needs_host(&s, &observed));
        // The proxy off: no name.
        s.config.proxy.enabled = false;
        assert_eq!(host(&observed, &s), None);
    }
}
