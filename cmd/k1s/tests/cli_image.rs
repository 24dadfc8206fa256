//! `k1s image import|ls|rm` on images built offline from Debian binaries.

use std::process::Command;

fn k1s(data_dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_k1s"))
        .arg("image")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("k1s image");
    assert!(
        out.status.success(),
        "k1s image {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn import_list_and_remove_images() {
    let dir = tempfile::tempdir().unwrap();
    let images = k1s_node::testimages::build_test_images(&dir.path().join("built"))
        .expect("building test images");
    let data = dir.path().join("data");
    let busybox = images
        .iter()
        .find(|i| i.names.iter().any(|n| n.contains("busybox")))
        .expect("a busybox image");
    let imported = k1s(&data, &["import", busybox.layout.to_str().unwrap()]);
    assert!(
        imported.contains("imported docker.io/library/busybox:"),
        "{imported}"
    );
    let listed = k1s(&data, &["ls"]);
    let header = listed.lines().next().unwrap_or("");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]
    );
    assert!(listed.contains("docker.io/library/busybox"), "{listed}");
    let removed = k1s(&data, &["rm", "busybox:latest"]);
    assert_eq!(removed.trim(), "Deleted: docker.io/library/busybox:latest");
    assert!(!k1s(&data, &["ls"]).contains("busybox                    latest"));
}
