//! A whole ready create through the strict fake: the worktree, the copied files, the volumes
//! copied before Compose starts (the source paused and unpaused), then the services.

use std::collections::BTreeMap;
use std::path::Path;

use super::fake::Fake;
use crate::desired::testing::{desired, DIR};
use crate::desired::{Intent, Selection};
use crate::plan::ready::{self, CopyPattern, DataSource, Entry};
use crate::plan::{add_worktree_step, diff_after, Op};
use crate::reconcile::create::Made;
use crate::ui::Ui;

const COMPOSE: &str = "services:\n  db:\n    image: postgres:16\n    volumes: ['pg:/var/lib/postgresql/data']\nvolumes:\n  pg: {}\n";

#[tokio::test(flavor = "current_thread")]
async fn files_and_volumes_come_before_the_services() {
    let d = desired(COMPOSE, "", Selection::default(), &[], true).unwrap();
    let mut fx = Fake::default();
    fx.files
        .insert("/w/shop/node_modules/x.js".into(), ("x".into(), 0o100644));
    let mut first = vec![add_worktree_step(DIR.into(), "s1", true, None)];
    first.extend(ready::copy_steps(
        &[CopyPattern {
            pattern: "node_modules/".into(),
            origin: ready::CopyOrigin::WorktreeInclude,
        }],
        &[Entry {
            path: "node_modules/x.js".into(),
            file: "node_modules/x.js".into(),
            bytes: 1,
        }],
        &[],
        Path::new("/w/shop"),
        Path::new(DIR),
    ));
    let source = DataSource {
        dir: "/w/shop".into(),
        project: "shop-1".into(),
        pause: vec!["c1".into()],
        image: "img".into(),
        volumes: BTreeMap::from([("pg".to_string(), "shop-1_pg".to_string())]),
    };
    let model = crate::compose::parse(&[("docker-compose.yml".into(), COMPOSE.into())]).unwrap();
    let target = ready::Target {
        project: &d.project,
        dir: Path::new(DIR),
        shared: &[],
        compose_version: "2.40.3",
    };
    first.extend(ready::data_step(&model.top, target, &source));
    let plan = diff_after(&d, &fx.observed(&d).await, Intent::Up, first);
    let ui = Ui::default().quieted();
    super::apply(&plan, &d, &mut fx, &ui).await.unwrap();
    let name = format!("{}_pg", d.project);
    assert_eq!(
        &fx.log[..6],
        &[
            format!("add worktree {DIR}"),
            "copy 1 file(s)".to_string(),
            "pause c1".into(),
            format!("volume {name}"),
            "unpause c1".into(),
            format!("write {DIR}/docker-compose.session.yml"),
        ]
    );
    assert!(fx.paused.is_empty());
    assert_eq!(fx.volumes[&name].as_deref(), Some("shop-1_pg"));
    assert_eq!(fx.files[&Path::new(DIR).join("node_modules/x.js")].0, "x");
    // A create that fails at the volume step rolls back the project (its volumes).
    let at = plan
        .ordered()
        .iter()
        .position(|s| matches!(s.op, Op::CopyVolumes { .. }))
        .unwrap();
    assert!(Made::after(&plan, at, true).project);
    assert!(!Made::after(&plan, at - 1, true).project);
}
