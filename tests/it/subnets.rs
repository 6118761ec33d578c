//! Session networks get their own small subnets from `subnetPool`, so one engine holds more
//! sessions than Docker's default address pools (about 30 networks).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;

const TINY: &str = r#"services:
  app:
    image: dev-prism-test-busybox:2
    command: ["sleep", "3600"]
"#;

/// The IPv4 subnet of a project's default network, as the engine reports it.
fn network_subnet(project: &str) -> String {
    let out = Command::new("docker")
        .args([
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            &format!("{project}_default"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn recorded(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("docker-compose.session.yml")).ok()?;
    dev_prism::desired::subnet::recorded(&text).map(|n| n.to_string())
}

fn in_pool(subnet: &str, pool: &str) -> bool {
    let (n, p) = (
        dev_prism::subnet::Net::parse(subnet),
        dev_prism::subnet::Net::parse(pool).unwrap(),
    );
    n.is_some_and(|n| p.contains(&n))
}

/// Runs `f` over `0..n` on `workers` threads.
fn parallel(n: usize, workers: usize, f: impl Fn(usize) -> Output + Sync) -> Vec<Output> {
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; n]);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let out = f(i);
                results.lock().unwrap()[i] = Some(out);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

#[test]
fn forty_sessions_outgrow_dockers_default_pools() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repos: Vec<Repo> = (0..40).map(|_| Repo::new(Flavor::V2, TINY)).collect();
    // Creates run side by side: their subnet choices race, and must never collide.
    let created = parallel(repos.len(), 8, |i| {
        repos[i].dp(&repos[i].path, &["create", "--in-place", "-q"])
    });
    let mut subnets = vec![];
    for (repo, out) in repos.iter().zip(&created) {
        ok(out);
        let subnet = network_subnet(&repo.project_of(&repo.path));
        assert!(in_pool(&subnet, "10.199.0.0/16"), "{subnet}");
        assert_eq!(recorded(&repo.path).as_deref(), Some(subnet.as_str()));
        subnets.push(subnet);
    }
    let mut distinct = subnets.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), subnets.len(), "{subnets:?}");
    let destroyed = parallel(repos.len(), 8, |i| {
        repos[i].dp(&repos[i].path, &["destroy", "-q"])
    });
    for (repo, out) in repos.iter().zip(&destroyed) {
        ok(out);
        assert!(by_project("network", &repo.project_of(&repo.path)).is_empty());
    }
}

#[test]
fn a_session_keeps_its_subnet_from_the_configured_pool() {
    for flavor in [Flavor::V2, Flavor::V1] {
        if !docker_ready(flavor) {
            continue;
        }
        let repo = Repo::new(flavor, TINY);
        repo.write("session.config.yaml", "subnetPool: 10.198.16.0/20\n");
        repo.commit("pool");
        let dir = &repo.path;
        let plan = ok(&repo.dp(dir, &["plan", "--create", "--in-place"]));
        assert!(plan.contains("network default: subnet 10.198."), "{plan}");
        ok(&repo.dp(dir, &["create", "--in-place", "-q"]));
        let project = repo.project_of(dir);
        let subnet = network_subnet(&project);
        assert!(in_pool(&subnet, "10.198.16.0/20"), "{flavor:?}: {subnet}");
        assert!(subnet.ends_with("/28"), "one service: the smallest subnet");
        assert_eq!(recorded(dir).as_deref(), Some(subnet.as_str()));
        // Converged, stopped and started again: the same network, the same subnet.
        assert!(ok(&repo.dp(dir, &["plan"])).contains("No changes"));
        ok(&repo.dp(dir, &["stop", "-q"]));
        ok(&repo.dp(dir, &["start", "-q"]));
        ok(&repo.dp(dir, &["apply", "-q"]));
        assert_eq!(network_subnet(&project), subnet, "{flavor:?}");
        // The session file deleted: heal writes it again with the network's subnet, and what
        // heal wrote is what plan wants.
        std::fs::remove_file(dir.join("docker-compose.session.yml")).unwrap();
        ok(&repo.dp(dir, &["heal"]));
        assert_eq!(
            recorded(dir).as_deref(),
            Some(subnet.as_str()),
            "{flavor:?}"
        );
        let out = repo.dp(dir, &["plan", "--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(0), "{flavor:?}: {}", stdout(&out));
        ok(&repo.dp(dir, &["destroy", "-q"]));
    }
}

/// Removes a network the test made, even when the test fails.
struct NetworkGuard(String);

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

#[test]
fn a_subnet_taken_meanwhile_is_replaced_and_compose_retried() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, TINY);
    let dir = &repo.path;
    ok(&repo.dp(dir, &["create", "--in-place", "-q"]));
    let first = recorded(dir).expect("a subnet in the session file");
    // The session's network goes away and another network takes its subnet: what a parallel
    // create does between observing and `compose up`.
    let project = repo.project_of(dir);
    for (id, _, _) in containers_under(&repo.root) {
        ok(&Command::new("docker")
            .args(["rm", "-f", &id])
            .output()
            .unwrap());
    }
    ok(&Command::new("docker")
        .args(["network", "rm", &format!("{project}_default")])
        .output()
        .unwrap());
    let blocker = NetworkGuard(format!("{project}-blocker"));
    ok(&Command::new("docker")
        .args(["network", "create", "--subnet", &first, &blocker.0])
        .output()
        .unwrap());
    ok(&repo.dp(dir, &["apply", "-q"]));
    let second = recorded(dir).unwrap();
    assert_ne!(second, first);
    assert_eq!(network_subnet(&project), second);
    ok(&repo.dp(dir, &["destroy", "-q"]));
}
