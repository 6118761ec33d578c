use super::*;
use std::os::unix::fs::symlink;

#[test]
fn copies_files_and_links_never_over_existing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(src.join("a/b")).unwrap();
    fs::create_dir_all(&dst).unwrap();
    fs::write(src.join("a/b/f.txt"), "hello").unwrap();
    fs::set_permissions(src.join("a/b/f.txt"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(src.join("keep.txt"), "new").unwrap();
    fs::write(dst.join("keep.txt"), "mine").unwrap();
    symlink("/etc/passwd", src.join("a/out")).unwrap();
    let paths: Vec<String> = ["a/b/f.txt", "keep.txt", "a/out", "gone.txt"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let done = copy_files(&src, &dst, &paths).unwrap();
    assert_eq!((done.files, done.kept), (2, 1));
    assert_eq!(fs::read_to_string(dst.join("a/b/f.txt")).unwrap(), "hello");
    let mode = fs::metadata(dst.join("a/b/f.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    assert_eq!(fs::read_to_string(dst.join("keep.txt")).unwrap(), "mine");
    assert_eq!(
        fs::read_link(dst.join("a/out")).unwrap(),
        Path::new("/etc/passwd")
    );
    let all = |_: &Path| true;
    assert!(same_as_source(&dst.join("a"), &src.join("a"), &all));
    assert!(!same_as_source(
        &dst.join("keep.txt"),
        &src.join("keep.txt"),
        &all
    ));
    fs::write(dst.join("a/b/f.txt"), "hellp").unwrap();
    assert!(!same_as_source(&dst.join("a"), &src.join("a"), &all));
}

#[test]
fn never_writes_through_a_linked_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst, out) = (
        tmp.path().join("src"),
        tmp.path().join("dst"),
        tmp.path().join("out"),
    );
    for d in [src.join("web"), dst.clone(), out.clone()] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(src.join("web/.env.local"), "X=1").unwrap();
    symlink(&out, dst.join("web")).unwrap();
    let e = copy_files(&src, &dst, &["web/.env.local".to_string()]).unwrap_err();
    assert!(e.message().contains("symbolic link"), "{}", e.message());
    assert!(!out.join(".env.local").exists());
}
