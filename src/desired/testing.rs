//! Test builders shared by the pure-core tests: a desired state from inline texts.

use std::path::Path;

use super::{Desired, Inputs, Selection};
use crate::compose::{self, Flavor};
use crate::config;
use crate::error::Result;

/// The session directory every test state uses.
pub const DIR: &str = "/w/shop-sessions/s1";

/// A desired state from a compose file, a config, a selection, the services that already have
/// containers, and whether this is `create` (setup commands).
pub fn desired(
    compose_text: &str,
    config_yaml: &str,
    selection: Selection,
    existing: &[&str],
    with_setup: bool,
) -> Result<Desired> {
    let mut model = compose::parse(&[("docker-compose.yml".into(), compose_text.into())])?;
    let raw = config::parse(
        config_yaml,
        Path::new("session.config.yaml"),
        config::Format::Yaml,
    )?;
    let cfg = config::resolve(raw, Path::new("/w/shop"), None)?;
    crate::compose::adopt(&cfg, &mut model)?;
    super::desired(
        &cfg,
        &model,
        Inputs {
            dir: Path::new(DIR),
            flavor: Flavor::V2,
            compose_files: vec!["docker-compose.yml".into()],
            created_at: "2026-01-01T00:00:00.000Z".into(),
            repo_root: None,
            selection,
            existing: existing.iter().map(|s| s.to_string()).collect(),
            rewrite_env_files: true,
            with_setup,
            subnet: None,
            data_from: None,
            project: super::project_name(&cfg.project_name, Path::new(DIR)),
            proxy_host: Some(crate::desired::names::host_label("s1", &cfg.project_name)),
            proxy: Default::default(),
        },
    )
}
