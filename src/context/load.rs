//! Loading a session's config and compose files from a `Source`: the files in a directory, or
//! the files committed at a git revision (a worktree that does not exist yet).

use super::*;

/// Where a session's config and compose files are read from: the files in a directory, or
/// the files committed at a git revision (a worktree that does not exist yet).
pub enum Source<'a> {
    Dir(&'a Path),
    /// Read through the git port (`Ctx::git`), so a test's fake answers.
    Git {
        repo: &'a Path,
        rev: &'a str,
        git: &'a dyn crate::adapters::git::Git,
    },
}

impl Source<'_> {
    /// The text of `rel`, `None` when it does not exist.
    pub fn read(&self, _t: &Trace, rel: &str) -> Result<Option<String>> {
        match self {
            Source::Dir(dir) => fs::read(&dir.join(rel)).map(|o| o.map(|(t, _)| t)),
            Source::Git { repo, rev, git } => git.show(repo, rev, rel),
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
pub fn load_config(ui: &Ui, dir: &Path, main_root: Option<&Path>) -> Result<Config> {
    load_config_from(ui, &Source::Dir(dir), main_root.unwrap_or(dir))
}

/// Reads and validates the config of `source`; `root` is the main checkout (defaults and
/// `sessionsDir` are relative to it).
pub fn load_config_from(ui: &Ui, source: &Source<'_>, root: &Path) -> Result<Config> {
    let t = ui.trace();
    for name in CONFIG_FILES {
        let Some(text) = source.read(t, name)? else {
            continue;
        };
        let path = source.name(name);
        let format = Format::of(&path);
        let text = match (format, source) {
            (Format::Module, Source::Dir(_)) => node::load_module(t, &path)?,
            (Format::Module, Source::Git { .. }) => {
                // node imports files: the committed version goes through a private temp copy.
                let tmp = tempdir_for_module(name, &text)?;
                let json = node::export_json(t, &tmp.join(name));
                let _ = std::fs::remove_dir_all(&tmp);
                json?
            }
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
    load_compose_from(ui, &Source::Dir(dir), config)
}

/// Finds and parses the user's compose files of `source`.
pub fn load_compose_from(
    ui: &Ui,
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

/// Loads a session directory: git root, config, compose model.
pub fn load_session(ui: &Ui, dir: &Path) -> Result<Session> {
    let git = crate::adapters::git::cli(ui.trace());
    let main_root = git.main_checkout(dir).unwrap_or(None);
    let config = load_config(ui, dir, main_root.as_deref())?;
    let (compose_files, model) = load_compose(ui, dir, &config)?;
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
pub fn load_identity(ui: &Ui, dir: &Path, lenient: bool) -> Result<Session> {
    let git = crate::adapters::git::cli(ui.trace());
    let main_root = git.main_checkout(dir).unwrap_or(None);
    let config = match load_config(ui, dir, main_root.as_deref()) {
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
