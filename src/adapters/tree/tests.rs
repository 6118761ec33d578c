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

#[test]
fn sparse_files_stay_sparse() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&dst).unwrap();
    // 64 MiB with 8 KiB of data at the start and at 40 MiB, and a hole at the end.
    let f = fs::File::create(src.join("disk.img")).unwrap();
    f.set_len(64 << 20).unwrap();
    f.write_all_at(&[7u8; 8192], 0).unwrap();
    f.write_all_at(&[9u8; 8192], 40 << 20).unwrap();
    drop(f);
    let src_blocks = fs::metadata(src.join("disk.img")).unwrap().blocks();
    assert!(
        src_blocks < 1024,
        "the test's file system keeps no holes ({src_blocks} blocks)"
    );
    let done = copy_files(&src, &dst, &["disk.img".to_string()]).unwrap();
    assert_eq!(done.files, 1);
    let copy = fs::metadata(dst.join("disk.img")).unwrap();
    assert_eq!(copy.len(), 64 << 20);
    // st_blocks counts 512-byte units: the copy holds about what the original does (a clone
    // shares even that), never the 131072 blocks of a fully written file.
    assert!(
        copy.blocks() <= src_blocks * 2 + 64,
        "{} blocks",
        copy.blocks()
    );
    assert_eq!(
        fs::read(dst.join("disk.img")).unwrap(),
        fs::read(src.join("disk.img")).unwrap()
    );
    // A file that ends in data, and an empty one.
    fs::write(src.join("plain"), b"abc").unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    copy_files(&src, &dst, &["plain".to_string(), "empty".to_string()]).unwrap();
    assert_eq!(fs::read(dst.join("plain")).unwrap(), b"abc");
    assert_eq!(fs::read(dst.join("empty")).unwrap(), b"");
}
