//! Where a new session's data comes from (`--data-from`): the session (or plain Compose
//! project) in a directory, and its volumes by Compose volume key. The copy itself is in
//! `volume_copy`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::ListContainersOptions;

use super::DockerEngine;
use crate::compose::labels;
use crate::error::Result;

/// Compose's label naming a project's directory (v2 and v1).
const COMPOSE_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
const COMPOSE_VOLUME: &str = "com.docker.compose.volume";

/// A session (or plain Compose project) found in a directory.
#[derive(Clone, Debug)]
pub struct FoundSource {
    pub project: String,
    /// dev-prism's repository label, when it is a dev-prism session that recorded one.
    pub repo_root: Option<String>,
    pub dev_prism: bool,
    pub running: Vec<String>,
    pub image: String,
}

impl DockerEngine {
    /// The session in `dir`: a dev-prism session's containers (by `dev-prism.working_dir`),
    /// else a Compose project's (by `com.docker.compose.project.working_dir`). Running or
    /// stopped; `None` when no container names the directory.
    pub async fn find_source(&self, dir: &Path) -> Result<Option<FoundSource>> {
        let dir = dir.to_string_lossy();
        for (label, dev_prism) in [(labels::WORKING_DIR, true), (COMPOSE_WORKING_DIR, false)] {
            let list = self
                .client
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(HashMap::from([(
                        "label".to_string(),
                        vec![format!("{label}={dir}")],
                    )])),
                    ..Default::default()
                }))
                .await
                .map_err(|e| self.api_error("list containers", e))?;
            let label_of = |c: &bollard::models::ContainerSummary, l: &str| {
                c.labels.as_ref().and_then(|m| m.get(l)).cloned()
            };
            let Some(project) = list.iter().find_map(|c| label_of(c, labels::PROJECT)) else {
                continue;
            };
            let mine: Vec<_> = list
                .iter()
                .filter(|c| label_of(c, labels::PROJECT).as_deref() == Some(project.as_str()))
                .collect();
            let image = mine
                .iter()
                .find_map(|c| c.image_id.clone().or_else(|| c.image.clone()))
                .unwrap_or_default();
            return Ok(Some(FoundSource {
                repo_root: mine.iter().find_map(|c| label_of(c, labels::REPO_ROOT)),
                // Paused ones too: another copy may hold them paused, and the last copy out
                // unpauses them all.
                running: mine
                    .iter()
                    .filter(|c| {
                        matches!(
                            c.state,
                            Some(
                                ContainerSummaryStateEnum::RUNNING
                                    | ContainerSummaryStateEnum::PAUSED
                            )
                        )
                    })
                    .filter_map(|c| c.id.clone())
                    .collect(),
                project,
                dev_prism,
                image,
            }));
        }
        Ok(None)
    }

    /// A project's volumes by Compose volume key.
    pub async fn volumes_by_key(&self, project: &str) -> Result<BTreeMap<String, String>> {
        Ok(self
            .volumes(super::project_filter(project))
            .await?
            .into_iter()
            .filter_map(|v| Some((v.labels.get(COMPOSE_VOLUME)?.clone(), v.name)))
            .collect())
    }
}
