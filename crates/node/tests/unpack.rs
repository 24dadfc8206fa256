//! Layer unpacking with crafted tars: metadata, whiteouts, opaque dirs,
//! hostile paths, unpack-once, and a real overlay mount (in a private
//! mount namespace made by `unshare -m`, so nothing leaks). Needs root.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use k1s_node::image::unpack::{extract_layer, lowerdir_option, LayerStore, OVERLAY_OPAQUE_XATTR};
use k1s_node::image::{Digest, ImageError};
use k1s_node::testimages::LayerBuilder;

fn require_root() {
    assert_eq!(
        nix::unistd::geteuid().as_raw(),
        0,
        "these tests need root (mknod, trusted.* xattrs, mounts)"
    );
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = CString::new(p.as_os_str().as_encoded_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 64];
    // SAFETY: valid C strings and a buffer of the length passed.
    let rc = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        return None;
    }
    buf.truncate(rc as usize);
    Some(buf)
}

fn extract(tar: &[u8]) -> (tempfile::TempDir, Result<(), ImageError>) {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("root")).expect("root");
    let r = extract_layer(tar, &dir.path().join("root"));
    (dir, r)
}

#[test]
fn files_dirs_links_devices_and_metadata() {
    require_root();
    let mut l = LayerBuilder::new();
    l.dir("etc", 0o755).unwrap();
    l.file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
        .unwrap();
    l.dir("usr", 0o755).unwrap();
    l.dir("usr/bin", 0o755).unwrap();
    l.file_owned("usr/bin/tool", b"#!/bin/sh\n", 0o4755, 1000, 1001)
        .unwrap();
    l.symlink("bin", "usr/bin").unwrap();
    l.symlink("etc/abs", "/etc/passwd").unwrap();
    l.hardlink("etc/passwd.bak", "etc/passwd").unwrap();
    l.char_device("dev/null", 1, 3, 0o666).unwrap();
    l.file("a/b/c/deep.txt", b"deep", 0o600).unwrap();
    l.dir("tmp", 0o1777).unwrap();
    l.file("etc/replaced", b"first", 0o644).unwrap();
    l.file("etc/replaced", b"second", 0o640).unwrap();
    let long = format!("long/{}/file", "x".repeat(150));
    l.file(&long, b"long name", 0o644).unwrap();
    let (dir, r) = extract(&l.finish().unwrap());
    r.expect("extract");
    let root = dir.path().join("root");

    let meta = |p: &str| fs::symlink_metadata(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(
        fs::read(root.join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    let tool = meta("usr/bin/tool");
    assert_eq!(
        (tool.uid(), tool.gid(), tool.mode() & 0o7777),
        (1000, 1001, 0o4755),
        "set-uid survives chown"
    );
    assert_eq!(
        fs::read_link(root.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        fs::read_link(root.join("etc/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        meta("etc/passwd.bak").ino(),
        meta("etc/passwd").ino(),
        "hardlink shares the inode"
    );
    let null = meta("dev/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(
        meta("a/b").mode() & 0o7777,
        0o755,
        "implicit parents are 0755"
    );
    assert_eq!(meta("a/b/c/deep.txt").mode() & 0o7777, 0o600);
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(fs::read(root.join("etc/replaced")).unwrap(), b"second");
    assert_eq!(meta("etc/replaced").mode() & 0o7777, 0o640);
    assert_eq!(fs::read(root.join(&long)).unwrap(), b"long name");
    assert_eq!(
        meta("etc").mtime(),
        1_700_000_000,
        "directory times are set after their children"
    );
    assert_eq!(meta("etc/passwd").mtime(), 1_700_000_000);
    assert_eq!(meta("bin").mtime(), 1_700_000_000, "symlink times too");
}

#[test]
fn whiteouts_and_opaque_directories() {
    require_root();
    let mut l = LayerBuilder::new();
    l.dir("etc", 0o755).unwrap();
    l.whiteout("etc/motd").unwrap();
    l.whiteout("toplevel").unwrap();
    l.opaque("var/cache").unwrap();
    l.file("var/cache/new", b"n", 0o644).unwrap();
    l.file(".wh..wh.plnk/123", b"", 0o644).unwrap();
    let (dir, r) = extract(&l.finish().unwrap());
    r.expect("extract");
    let root = dir.path().join("root");

    for hidden in ["etc/motd", "toplevel"] {
        let m = fs::symlink_metadata(root.join(hidden)).expect(hidden);
        assert!(
            m.file_type().is_char_device(),
            "{hidden} is a whiteout device"
        );
        assert_eq!(m.rdev(), 0, "{hidden} is 0/0");
    }
    assert!(!root.join("etc/.wh.motd").exists());
    assert_eq!(
        getxattr(&root.join("var/cache"), OVERLAY_OPAQUE_XATTR).as_deref(),
        Some(&b"y"[..])
    );
    assert!(!root.join("var/cache/.wh..wh..opq").exists());
    assert!(root.join("var/cache/new").is_file());
    assert!(
        !root.join(".wh..wh.plnk").exists(),
        "aufs metadata is not content"
    );
    assert_eq!(getxattr(&root.join("etc"), OVERLAY_OPAQUE_XATTR), None);
}

#[test]
fn hostile_entries_are_refused_and_write_nothing_outside() {
    require_root();
    use tar::EntryType::{Link, Regular, Symlink};
    type Case = (
        &'static str,
        Vec<(tar::EntryType, &'static [u8], &'static [u8])>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "dotdot",
            vec![(Regular, b"../evil", b"")],
            "refusing layer entry \"../evil\": path contains \"..\"",
        ),
        (
            "nested dotdot",
            vec![(Regular, b"a/../../evil", b"")],
            "path contains \"..\"",
        ),
        (
            "write through absolute symlink",
            vec![(Symlink, b"escape", b"/"), (Regular, b"escape/evil", b"")],
            "refusing layer entry \"escape/evil\": a parent directory is a symlink",
        ),
        (
            "write through relative symlink",
            vec![(Symlink, b"up", b"../.."), (Regular, b"up/evil", b"")],
            "a parent directory is a symlink",
        ),
        (
            "whiteout through symlink",
            vec![(Symlink, b"d", b"/tmp"), (Regular, b"d/.wh.x", b"")],
            "a parent directory is a symlink",
        ),
        (
            "hardlink outside",
            vec![(Link, b"h", b"../../evil")],
            "path contains \"..\"",
        ),
        (
            "hardlink to a host file",
            vec![(Link, b"h", b"/etc/passwd")],
            "hardlink target is not an earlier file of this layer",
        ),
        (
            "bad whiteout",
            vec![(Regular, b"a/.wh..", b"")],
            "invalid whiteout name",
        ),
    ];
    for (what, entries, want) in cases {
        let mut l = LayerBuilder::new();
        for (kind, name, link) in entries {
            l.raw(kind, name, link, b"").unwrap();
        }
        let (dir, r) = extract(&l.finish().unwrap());
        let err = r.expect_err(what).to_string();
        assert!(err.contains(want), "{what}: {err}");
        assert!(!dir.path().join("evil").exists(), "{what}: wrote outside");
        assert!(
            !Path::new("/tmp/x").exists() && !Path::new("/evil").exists(),
            "{what}: wrote to the host"
        );
    }
    // An absolute entry name stays inside the root.
    let mut l = LayerBuilder::new();
    l.raw(Regular, b"/abs/file", b"", b"").unwrap();
    let (dir, r) = extract(&l.finish().unwrap());
    r.expect("absolute names are rooted");
    assert!(dir.path().join("root/abs/file").is_file());
}

#[test]
fn layers_unpack_once_and_check_their_diff_id() {
    require_root();
    let images = tempfile::tempdir().unwrap();
    let store = LayerStore::open(images.path()).unwrap();
    let mut l = LayerBuilder::new();
    l.file("hello", b"world", 0o644).unwrap();
    let tar = l.finish().unwrap();
    let diff_id = Digest::of(&tar);
    let blob = images.path().join("blob.gz");
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(&blob).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap();

    let wrong = Digest::of(b"nope");
    let err = store.unpack(&blob, &wrong).expect_err("diff id mismatch");
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(!store.contains(&wrong));

    let dir = store.unpack(&blob, &diff_id).expect("unpack");
    assert_eq!(dir, images.path().join("layers").join(diff_id.hex()));
    assert_eq!(fs::read(dir.join("hello")).unwrap(), b"world");
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o755
    );
    fs::write(dir.join("marker"), b"").unwrap();
    assert_eq!(store.unpack(&blob, &diff_id).expect("again"), dir);
    assert!(
        dir.join("marker").exists(),
        "an unpacked layer is not unpacked again"
    );
    assert_eq!(store.all().unwrap(), vec![diff_id]);
    let leftovers: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != *dir.file_name().unwrap())
        .collect();
    assert!(leftovers.is_empty(), "no temp dirs left: {leftovers:?}");
}

#[test]
fn overlay_mount_hides_whited_out_files() {
    require_root();
    let images = tempfile::tempdir().unwrap();
    let store = LayerStore::open(images.path()).unwrap();
    let mut lower = LayerBuilder::new();
    lower.dir("etc", 0o755).unwrap();
    lower.file("etc/keep", b"k", 0o644).unwrap();
    lower.file("etc/gone", b"g", 0o644).unwrap();
    lower.dir("var", 0o755).unwrap();
    lower.dir("var/cache", 0o755).unwrap();
    lower.file("var/cache/old", b"o", 0o644).unwrap();
    let mut upper = LayerBuilder::new();
    upper.whiteout("etc/gone").unwrap();
    upper.opaque("var/cache").unwrap();
    upper.file("var/cache/new", b"n", 0o644).unwrap();
    let mut ids = Vec::new();
    for tar in [lower.finish().unwrap(), upper.finish().unwrap()] {
        let blob = images.path().join(format!("blob{}", ids.len()));
        fs::write(&blob, &tar).unwrap();
        let d = Digest::of(&tar);
        store.unpack(&blob, &d).unwrap();
        ids.push(d);
    }
    let lowerdirs = store.lowerdirs(&ids);
    let (up, work, merged) = (
        images.path().join("up"),
        images.path().join("work"),
        images.path().join("merged"),
    );
    for d in [&up, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let script = format!(
        "mount -t overlay overlay -o lowerdir={},upperdir={},workdir={} {m} && ls -A {m}/etc && echo --- && ls -A {m}/var/cache",
        lowerdir_option(&lowerdirs),
        up.display(),
        work.display(),
        m = merged.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mount failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "keep\n---\nnew\n");
    // The mount lived only in the child's namespace.
    assert!(fs::read_dir(&merged).unwrap().next().is_none());
}
