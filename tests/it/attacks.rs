//! An adversarial user on the ready-to-code and file-writing paths (issues 11-13): each test
//! is a fault found by attacking dev-prism, kept so it stays fixed.

use std::path::PathBuf;

use crate::support::*;

const ONE: &str = r#"services:
  db:
    image: dev-prism-test-busybox:2
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
"#;

/// A branch that commits a link (or a file) where the main checkout has an ignored directory
/// the copy patterns select: the branch's entry is what the worktree has, so the files under
/// it are not copied (as a committed file is kept) — create neither fails nor writes through
/// the link, and `plan --create` shows exactly that.
#[test]
fn a_branch_committing_a_link_where_main_has_an_ignored_directory_keeps_the_link() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\nvendor/\ncfg/\n.env.local\n",
    );
    repo.write(".worktreeinclude", "vendor/\ncfg/\n.env.local\n");
    repo.write("third_party/lib.js", "committed\n");
    repo.commit("include");
    // A branch where `vendor` is a committed link into the repository and `cfg` a file.
    repo.git(&["checkout", "-q", "-b", "linked"]);
    std::os::unix::fs::symlink("third_party", repo.path.join("vendor")).unwrap();
    repo.write("cfg", "a committed file\n");
    repo.git(&["add", "-f", "vendor", "cfg"]);
    repo.commit("vendor is a link, cfg a file");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("vendor/lib.js", "from main\n");
    repo.write("cfg/local.yml", "from main\n");
    repo.write(".env.local", "SECRET=1\n");

    let plan = ok(&repo.dp(&repo.path, &["plan", "--create", "--branch", "linked"]));
    assert!(
        !plan.contains("copy vendor/") && !plan.contains("copy cfg/"),
        "{plan}"
    );
    assert!(plan.contains("+ copy .env.local (1 file, 9 B)"), "{plan}");
    let out = repo.dp(&repo.path, &["create", "-q", "--branch", "linked"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = PathBuf::from(stdout(&out).lines().next().unwrap());
    let link = dir.join("vendor");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        std::fs::read_to_string(dir.join("third_party/lib.js")).unwrap(),
        "committed\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("cfg")).unwrap(),
        "a committed file\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(".env.local")).unwrap(),
        "SECRET=1\n"
    );
    ok(&repo.dp(&dir, &["destroy"]));
}

/// An `envFiles` entry the branch commits as a directory or a link cannot be copied or
/// rewritten: create refuses before anything is made (no service started), naming the file
/// and what it is, exit 2.
#[test]
fn an_env_file_committed_as_a_directory_or_link_is_refused_before_anything_starts() {
    if !docker_ready(Flavor::V2) {
        return;
    }
    let repo = Repo::new(Flavor::V2, ONE);
    repo.write(
        ".gitignore",
        ".env.session\ndocker-compose.session.yml\n.env\n",
    );
    repo.write("session.config.yaml", "envFiles: [.env]\n");
    repo.commit("env files");
    repo.git(&["checkout", "-q", "-b", "dir"]);
    repo.write(".env/inner", "x\n");
    repo.git(&["add", "-f", ".env/inner"]);
    repo.commit(".env is a directory");
    repo.git(&["checkout", "-q", "-b", "link", "main"]);
    let outside = repo.root.join("outside.env");
    std::fs::write(&outside, "OUTSIDE=1\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path.join(".env")).unwrap();
    repo.git(&["add", "-f", ".env"]);
    repo.commit(".env is a link");
    repo.git(&["checkout", "-q", "main"]);
    repo.write(".env", "DATABASE_URL=postgres://u:p@localhost:5432/db\n");

    for (branch, what) in [("dir", "a directory"), ("link", "a symbolic link")] {
        let out = repo.dp(&repo.path, &["create", "--branch", branch]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("envFiles entry `.env` is {what} on branch `{branch}`")),
            "{err}"
        );
        assert!(err.contains("hint: "), "{err}");
        // Refused while planning: nothing was started, nothing is left.
        assert!(!err.contains("compose up"), "{err}");
        assert!(!repo.sessions_dir().join(branch).exists());
        assert!(containers_under(&repo.root).is_empty());
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "OUTSIDE=1\n");
}
