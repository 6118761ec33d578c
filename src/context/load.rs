//! Loading a session's config and compose files from a [`Source`]: the files in a directory
//! ([`Checkout`]), or the files committed at a git revision ([`Committed`]: a worktree that
//! does not exist yet). Reconciliation loads through the [`super::Observer`] (`load`,
//! `load_committed`), so the fake world answers from memory; the functions here are what the
//! real observer (and the commands that only read a config) run.

use super::*;

/// Where a session's config and compose files are read from.
pub trait Source {
    /// The text of `rel`, `None` when it does not exist.
    fn read(&self, t: &Trace, rel: &str) -> Result<Option<String>>;
    /// A path naming `rel` in messages.
    fn name(&self, rel: &str) -> PathBuf;
    /// Where the files are, in messages.
    fn place(&self) -> String;
    /// The config module `rel` (`session.config.mjs`/`.js`, whose text is `text`) evaluated to
    /// JSON.
    fn module(&self, t: &Trace, rel: &str, text: &str) -> Result<String>;
}

/// The files in a directory, as they are on disk.
pub struct Checkout<'a>(pub &'a Path);

impl Source for Checkout<'_> {
    fn read(&self, _t: &Trace, rel: &str) -> Result<Option<String>> {
        fs::read(&self.0.join(rel)).map(|o| o.map(|(t, _)| t))
    }

    fn name(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn place(&self) -> String {
        self.0.display().to_string()
    }

    /// node evaluates the file in place, its JSON kept in the content-keyed cache.
    fn module(&self, t: &Trace, rel: &str, _text: &str) -> Result<String> {
        node::load_module(t, &self.name(rel))
    }
}

/// The files committed at `rev` in the repository `repo`, read through the git port (so a
/// test's fake answers).
pub struct Committed<'a> {
    pub repo: &'a Path,
    pub rev: &'a str,
    pub git: &'a dyn crate::adapters::git::Git,
}

impl Source for Committed<'_> {
    fn read(&self, _t: &Trace, rel: &str) -> Result<Option<String>> {
        self.git.show(self.repo, self.rev, rel)
    }

    fn name(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    fn place(&self) -> String {
        format!("the files committed at {}", self.rev)
    }

    /// When the main checkout's file is the committed one (create refuses a config with
    /// uncommitted changes), node evaluates it in place, so its imports resolve (they are read
    /// as the main checkout has them) and the content-keyed cache serves it. Otherwise the
    /// committed text alone goes through a private temp copy, where an import cannot resolve.
    fn module(&self, t: &Trace, rel: &str, text: &str) -> Result<String> {
        let in_place = self.repo.join(rel);
        if fs::read(&in_place)
            .ok()
            .flatten()
            .is_some_and(|(t, _)| t == text)
        {
            return node::load_module(t, &in_place);
        }
        let tmp = tempdir_for_module(rel, text)?;
        let json = node::export_json(t, &tmp.join(rel));
        let _ = std::fs::remove_dir_all(&tmp);
        json.map_err(|e| {
            e.then(format!(
                "dev-prism evaluated the version committed at {} alone, because {} differs from it; an import of another file resolves only when the main checkout's copy is the committed one",
                self.rev,
                in_place.display()
            ))
        })
    }
}

/// How much of a session loading reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loading {
    /// The config and the compose files (bringing the session up, `heal`).
    Session,
    /// The session's identity only: its config (defaults when `lenient` and the config cannot
    /// be read), no compose file (stop and destroy work when a branch switch removed or broke
    /// them).
    Identity { lenient: bool },
}

/// Reads and validates the config found in `dir` (defaults when there is none).
pub fn load_config(ui: &Ui, dir: &Path, main_root: Option<&Path>) -> Result<Config> {
    load_config_from(ui, &Checkout(dir), main_root.unwrap_or(dir))
}

/// Reads and validates the config of `source`; `root` is the main checkout (defaults and
/// `sessionsDir` are relative to it).
pub fn load_config_from(ui: &Ui, source: &dyn Source, root: &Path) -> Result<Config> {
    let t = ui.trace();
    for name in CONFIG_FILES {
        let Some(text) = source.read(t, name)? else {
            continue;
        };
        let path = source.name(name);
        let format = Format::of(&path);
        let text = match format {
            Format::Module => source.module(t, name, &text)?,
            _ => text,
        };
        let raw = config::parse(&text, &path, format)?;
        return config::resolve(raw, root, Some(path))
            .map_err(|e| config::locate(e, &text, format));
    }
    config::resolve(Default::default(), root, None)
}

pub(super) fn tempdir_for_module(name: &str, text: &str) -> Result<PathBuf> {
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
pub fn load_compose(ui: &Ui, dir: &Path, config: &Config) -> Result<(Vec<String>, ComposeModel)> {
    load_compose_from(ui, &Checkout(dir), config)
}

/// Finds and parses the user's compose files of `source`.
pub fn load_compose_from(
    ui: &Ui,
    source: &dyn Source,
    config: &Config,
) -> Result<(Vec<String>, ComposeModel)> {
    let place = source.place();
    let mut texts = vec![];
    match &config.compose_files {
        Some(list) => {
            for f in list {
                let Some(text) = source.read(ui.trace(), f)? else {
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
                if let Some(text) = source.read(ui.trace(), main)? {
                    texts.push((main.to_string(), text));
                    for o in compose::override_candidates(main) {
                        if let Some(text) = source.read(ui.trace(), &o)? {
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
        source.read(ui.trace(), rel)?.ok_or_else(|| {
            Error::usage(format!(
                "compose file {rel} (named by include/extends) does not exist in {place}"
            ))
            .with_hint("fix the path in the compose file")
        })
    };
    let mut model = compose::parse_with(&texts, &load)?;
    for w in crate::compose::adopt(config, &mut model)? {
        ui.warn_once(&format!("warning: {w}"));
    }
    let files = texts.into_iter().map(|(f, _)| f).collect();
    Ok((files, model))
}

/// Loads a session directory from disk: git root (through the git CLI), config, compose
/// model.
pub fn load_session(ui: &Ui, dir: &Path) -> Result<Session> {
    let main_root = crate::adapters::git::cli(ui.trace())
        .main_checkout(dir)
        .unwrap_or(None);
    load_from(ui, &Checkout(dir), dir, main_root, Loading::Session)
}

/// A session's identity from disk, without its compose files: the directory, the repository
/// and the config (defaults when `lenient` and the config cannot be read).
pub fn load_identity(ui: &Ui, dir: &Path, lenient: bool) -> Result<Session> {
    let main_root = crate::adapters::git::cli(ui.trace())
        .main_checkout(dir)
        .unwrap_or(None);
    load_from(
        ui,
        &Checkout(dir),
        dir,
        main_root,
        Loading::Identity { lenient },
    )
}

/// The session in `dir` whose repository's main checkout is `main_root`, its files read from
/// `source` (what every observer's `load` runs).
pub fn load_from(
    ui: &Ui,
    source: &dyn Source,
    dir: &Path,
    main_root: Option<PathBuf>,
    loading: Loading,
) -> Result<Session> {
    let root = main_root.as_deref().unwrap_or(dir);
    let (config, compose_files, model) = match loading {
        Loading::Session => {
            let config = load_config_from(ui, source, root)?;
            let (files, model) = load_compose_from(ui, source, &config)?;
            (config, files, model)
        }
        Loading::Identity { lenient } => {
            let config = match load_config_from(ui, source, root) {
                Ok(c) => c,
                Err(_) if lenient => config::resolve(Default::default(), root, None)?,
                Err(e) => return Err(e),
            };
            (config, vec![], ComposeModel::default())
        }
    };
    Ok(Session {
        dir: dir.to_path_buf(),
        main_root,
        config,
        compose_files,
        model,
    })
}

/// The session a new worktree of the repository `repo` gets from `source` (the files
/// committed at its revision): config and compose files. Its `dir` is `repo` until create
/// picks the worktree's.
pub fn load_committed(ui: &Ui, source: &dyn Source, repo: &Path) -> Result<Session> {
    load_from(ui, source, repo, Some(repo.to_path_buf()), Loading::Session)
}
