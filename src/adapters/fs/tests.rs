use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

/// A session directory and a place outside it, both canonical.
fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let (root, outside) = (base.join("session"), base.join("outside"));
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    (tmp, root, outside)
}

#[test]
fn writes_atomically_with_the_mode_from_the_start() {
    let (_t, root, _) = dirs();
    let p = root.join(".env.session");
    write_atomic(&root, &p, b"A=1\n", 0o600).unwrap();
    write_atomic(&root, &p, b"A=2\n", 0o600).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"A=2\n");
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let left: Vec<_> = fs::read_dir(&root).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
}

#[test]
fn a_symlink_planted_at_the_temp_name_is_never_followed() {
    let (_t, root, outside) = dirs();
    let victim = outside.join("victim");
    fs::write(&victim, "precious").unwrap();
    // The name the temporary file had before (pid only): a neighbour could predict it.
    let planted = root.join(format!(".x.env.{}.tmp", std::process::id()));
    symlink(&victim, &planted).unwrap();
    write_atomic(&root, &root.join("x.env"), b"new", 0o600).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(fs::read_to_string(root.join("x.env")).unwrap(), "new");
}

#[test]
fn a_symlinked_directory_pointing_outside_is_refused() {
    let (_t, root, outside) = dirs();
    fs::create_dir(root.join("apps")).unwrap();
    symlink(&outside, root.join("apps/web")).unwrap();
    let target = root.join("apps/web/.env.session");
    let e = write_atomic(&root, &target, b"X=1\n", 0o600).unwrap_err();
    assert!(
        e.message().contains("apps/web is a symbolic link"),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains(&target.display().to_string()),
        "{}",
        e.message()
    );
    assert!(e.hint.is_some());
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    // Not removed through the link either.
    fs::write(outside.join(".env.session"), "theirs").unwrap();
    assert!(remove(&root, &target).is_err());
    assert!(outside.join(".env.session").exists());
    // Nor copied into.
    fs::write(root.join("src.env"), "S=1\n").unwrap();
    assert!(copy(
        &root,
        &root.join("src.env"),
        &root,
        &root.join("apps/web/x/.env"),
        0o600
    )
    .is_err());
    assert!(!outside.join("x").exists());
}

#[test]
fn paths_outside_the_root_are_refused() {
    let (_t, root, outside) = dirs();
    for p in [root.join("../outside/f"), outside.join("f")] {
        assert!(
            write_atomic(&root, &p, b"x", 0o600).is_err(),
            "{}",
            p.display()
        );
    }
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_symlink_at_the_target_is_neither_followed_nor_replaced_nor_removed() {
    let (_t, root, outside) = dirs();
    let victim = outside.join("victim");
    fs::write(&victim, "precious").unwrap();
    let target = root.join(".env.session");
    symlink(&victim, &target).unwrap();
    let e = write_atomic(&root, &target, b"X=1\n", 0o600).unwrap_err();
    assert!(e.message().contains("symbolic link"), "{}", e.message());
    assert!(remove(&root, &target).is_err());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(fs::symlink_metadata(&target)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn remove_of_a_missing_file_is_fine() {
    let (_t, root, _) = dirs();
    remove(&root, &root.join("nope")).unwrap();
    remove(&root, &root.join("no/such/dir/nope")).unwrap();
}

#[test]
fn copy_keeps_every_byte_and_reads_only_inside_its_root() {
    let (_t, root, outside) = dirs();
    let repo = outside.join("repo");
    fs::create_dir(&repo).unwrap();
    let bytes = b"A=caf\xe9\nB=\xff\xfe\n".to_vec();
    fs::write(repo.join(".env"), &bytes).unwrap();
    copy(
        &repo,
        &repo.join(".env"),
        &root,
        &root.join("apps/a/.env"),
        0o600,
    )
    .unwrap();
    assert_eq!(fs::read(root.join("apps/a/.env")).unwrap(), bytes);
    // A link in the repository that leads out of it is not read.
    fs::write(outside.join("secret"), "S=1\n").unwrap();
    symlink(outside.join("secret"), repo.join("leak.env")).unwrap();
    let e = copy(
        &repo,
        &repo.join("leak.env"),
        &root,
        &root.join("leak.env"),
        0o600,
    )
    .unwrap_err();
    assert!(e.message().contains("leads out of"), "{}", e.message());
    assert!(!root.join("leak.env").exists());
    // A link inside the repository is fine.
    symlink(repo.join(".env"), repo.join("alias.env")).unwrap();
    copy(
        &repo,
        &repo.join("alias.env"),
        &root,
        &root.join("alias.env"),
        0o600,
    )
    .unwrap();
    assert_eq!(read_bytes(&root.join("alias.env")).unwrap().unwrap(), bytes);
}
