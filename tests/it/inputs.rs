//! Inputs that used to get past the checks: what `plan --create` accepts, `create` must
//! accept too (issue 18), and every refusal comes before anything is made.

use std::path::Path;

use crate::support::*;

/// `plan --create` and `create` with `args` in `dir`: both refuse with exit 2 and the same
/// first line, containing `want`, and nothing new exists under the repository's parent.
#[track_caller]
fn both_refuse(repo: &Repo, dir: &Path, args: &[&str], want: &str) {
    let before = std::fs::read_dir(&repo.root).unwrap().count();
    let branches = repo.git(&["branch", "--list"]);
    let mut plan_args = vec!["plan", "--create"];
    plan_args.extend_from_slice(args);
    let mut create_args = vec!["create"];
    create_args.extend_from_slice(args);
    let plan = repo.dp(dir, &plan_args);
    let create = repo.dp(dir, &create_args);
    let first = |o: &std::process::Output| stderr(o).lines().next().unwrap_or("").to_string();
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert_eq!(create.status.code(), Some(2), "{}", stderr(&create));
    assert!(first(&plan).contains(want), "{}", stderr(&plan));
    assert_eq!(first(&plan), first(&create));
    assert_eq!(std::fs::read_dir(&repo.root).unwrap().count(), before);
    assert_eq!(repo.git(&["branch", "--list"]), branches);
    assert!(containers_under(&repo.root).is_empty());
}

#[test]
fn plan_create_refuses_what_create_would_fail_on() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    // A branch checked out in another worktree (here: the main checkout's own).
    let repo = Repo::new(Flavor::V2, ECHO);
    repo.git(&["branch", "feat"]);
    let other = repo.root.join("other");
    repo.git(&["worktree", "add", "-q", &other.to_string_lossy(), "feat"]);
    both_refuse(
        &repo,
        &repo.path,
        &["--branch", "feat"],
        "branch `feat` is already checked out in",
    );
    both_refuse(
        &repo,
        &repo.path,
        &["--branch", "main"],
        "branch `main` is already checked out in",
    );
    // A sparse checkout that leaves the compose file out.
    repo.write("sub/f", "x");
    repo.commit("sub");
    repo.git(&["sparse-checkout", "set", "--no-cone", "sub/"]);
    both_refuse(
        &repo,
        &repo.path,
        &["--branch", "sparse"],
        "docker-compose.yml is outside the sparse checkout",
    );
    // A directory name with a newline: Compose cannot read files under it.
    let nl = Repo::named(Flavor::V2, ECHO, "nl\n");
    both_refuse(
        &nl,
        &nl.path,
        &["--branch", "x"],
        "would contain a control character",
    );
}
