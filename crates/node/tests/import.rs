//! `k1s image import|ls|rm` on a temp data dir: OCI layouts (dir, tar,
//! multi-arch index), docker archives (plain and gzipped, with docker's
//! symlinked duplicate layers), tamper detection, unpacking, and removal
//! with garbage collection. Unpacking needs root.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;

use k1s_node::image::manifest::ImageConfig;
use k1s_node::image::{format_images_table, Digest, ImageError, ImageStore};
use k1s_node::testimages::{BuiltImage, ImageBuilder, LayerBuilder};

fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    let mut l = LayerBuilder::new();
    for (path, body) in files {
        l.file(path, body.as_bytes(), 0o644).expect("file");
    }
    l.finish().expect("tar")
}

fn image(layers: Vec<Vec<u8>>, cmd: &str, gzip: bool) -> BuiltImage {
    let cfg = ImageConfig {
        cmd: Some(vec![cmd.to_string()]),
        env: Some(vec!["PATH=/bin".into()]),
        working_dir: "/srv".into(),
        ..Default::default()
    };
    let mut b = ImageBuilder::new(cfg);
    b.gzip = gzip;
    for l in layers {
        b = b.layer(l);
    }
    b.build().expect("build")
}

fn blob_set(store: &ImageStore) -> BTreeSet<Digest> {
    store.blobs().all().expect("blobs").into_iter().collect()
}

fn names(refs: &[k1s_node::image::Reference]) -> Vec<String> {
    refs.iter().map(|r| r.to_string()).collect()
}

#[test]
fn oci_layout_directory_with_an_index_and_two_names() {
    let data = tempfile::tempdir().unwrap();
    let store = ImageStore::open(data.path()).unwrap();
    let img = image(
        vec![
            layer(&[("a", "1"), ("shared", "low")]),
            layer(&[("b", "2"), ("shared", "high")]),
        ],
        "app",
        true,
    );
    let src = tempfile::tempdir().unwrap();
    img.write_oci_layout(src.path(), &["example.com:5000/test/app:v1", "app"], true)
        .unwrap();

    let refs = store.import(src.path()).expect("import");
    assert_eq!(
        names(&refs),
        vec![
            "example.com:5000/test/app:v1",
            "docker.io/library/app:latest"
        ]
    );

    let rec = store.get("app").unwrap().expect("present");
    let (_, index_digest) = img.multiarch_index().unwrap();
    assert_eq!(rec.target, index_digest, "the name points at the index");
    assert_eq!(rec.manifest, img.manifest_digest, "linux/amd64 was chosen");
    assert_eq!(rec.config, img.config_digest);
    assert_eq!(
        rec.repo_digest(),
        format!("docker.io/library/app@{index_digest}")
    );
    assert!(store.get("app:other").unwrap().is_none());
    assert!(store
        .get(&format!("docker.io/library/app@{}", img.manifest_digest))
        .unwrap()
        .is_some());

    let cfg = store.config(&rec).unwrap();
    let inner = cfg.config.expect("config");
    assert_eq!(inner.cmd, Some(vec!["app".to_string()]));
    assert_eq!(inner.working_dir, "/srv");

    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|i| i.id == img.config_digest));
    let table = format_images_table(&list);
    let id = &img.config_digest.hex()[..13];
    let size = list[0].size;
    assert!(table.starts_with("IMAGE "), "{table}");
    assert!(
        table.contains(&format!(
            "docker.io/library/app       latest              {id}"
        )),
        "{table}"
    );
    assert!(size > 0);

    // Unpack: lowerdirs are top-first and hold each layer's files.
    let lower = store.rootfs_layers(&rec).expect("unpack");
    assert_eq!(lower.len(), 2);
    assert_eq!(fs::read_to_string(lower[0].join("shared")).unwrap(), "high");
    assert_eq!(fs::read_to_string(lower[1].join("shared")).unwrap(), "low");
    assert_eq!(lower, store.rootfs_layers(&rec).unwrap(), "stable");
}

#[test]
fn oci_archive_and_docker_archives() {
    let data = tempfile::tempdir().unwrap();
    let store = ImageStore::open(data.path()).unwrap();
    let work = tempfile::tempdir().unwrap();

    let oci = image(vec![layer(&[("x", "x")])], "oci", false);
    let oci_tar = work.path().join("oci.tar");
    oci.write_oci_archive(&oci_tar, &["localhost:5000/oci:1"], false)
        .unwrap();
    assert_eq!(
        names(&store.import(&oci_tar).expect("oci tar")),
        vec!["localhost:5000/oci:1"]
    );
    assert_eq!(
        store
            .get("localhost:5000/oci:1")
            .unwrap()
            .expect("rec")
            .manifest,
        oci.manifest_digest
    );

    // docker save: the third layer repeats the first (a symlink in the tar).
    let base = layer(&[("base", "b")]);
    let dock = image(
        vec![base.clone(), layer(&[("mid", "m")]), base],
        "docker",
        true,
    );
    let plain = work.path().join("docker.tar");
    dock.write_docker_archive(&plain, &["busybox:1.36", "registry.local/x/busybox:latest"])
        .unwrap();
    let refs = store.import(&plain).expect("docker archive");
    assert_eq!(
        names(&refs),
        vec![
            "docker.io/library/busybox:1.36",
            "registry.local/x/busybox:latest"
        ]
    );
    let rec = store.get("busybox:1.36").unwrap().expect("rec");
    assert_eq!(
        rec.config, dock.config_digest,
        "the config is kept byte for byte"
    );
    let lower = store.rootfs_layers(&rec).expect("unpack");
    assert_eq!(lower.len(), 3);
    assert_eq!(lower[0], lower[2]);

    // The same archive gzipped, as `docker save | gzip` makes it.
    let gz = work.path().join("docker.tar.gz");
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&fs::read(&plain).unwrap()).unwrap();
    enc.finish().unwrap();
    let refs = store.import(&gz).expect("gzipped docker archive");
    assert_eq!(refs.len(), 2);
    assert_eq!(
        store.get("busybox:1.36").unwrap().expect("rec"),
        rec,
        "re-import is idempotent"
    );

    // Only blobs that images use remain (manifest.json etc. are dropped).
    let mut want = BTreeSet::new();
    for r in store.list().unwrap() {
        let rec = store.get(&r.name).unwrap().expect("rec");
        want.insert(rec.target.clone());
        want.insert(rec.manifest.clone());
        want.insert(rec.config.clone());
        want.extend(
            store
                .manifest(&rec)
                .unwrap()
                .layers
                .into_iter()
                .map(|l| l.digest),
        );
    }
    assert_eq!(blob_set(&store), want);
}

#[test]
fn tampered_and_unnamed_layouts_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let store = ImageStore::open(data.path()).unwrap();
    let img = image(vec![layer(&[("f", "good")])], "x", false);

    let src = tempfile::tempdir().unwrap();
    img.write_oci_layout(src.path(), &["tampered:1"], false)
        .unwrap();
    let layer_digest = Digest::of(&img.layers[0].0);
    let path = src.path().join("blobs/sha256").join(layer_digest.hex());
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, bytes).unwrap();
    let err = store.import(src.path()).expect_err("tampered");
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert!(!store.blobs().contains(&layer_digest));

    let unnamed = tempfile::tempdir().unwrap();
    img.write_oci_layout(unnamed.path(), &[], false).unwrap();
    let err = store
        .import(unnamed.path())
        .expect_err("unnamed")
        .to_string();
    assert!(err.starts_with("no named images"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = store.import(empty.path()).expect_err("empty").to_string();
    assert_eq!(
        err,
        "not an OCI image layout or docker archive: no index.json or manifest.json"
    );
    let missing = store
        .import(&empty.path().join("nope"))
        .expect_err("missing")
        .to_string();
    assert!(missing.contains("No such file"), "{missing}");
}

#[test]
fn remove_collects_blobs_and_layers_no_image_uses() {
    let data = tempfile::tempdir().unwrap();
    let store = ImageStore::open(data.path()).unwrap();
    let base = layer(&[("base", "b")]);
    let one = image(vec![base.clone(), layer(&[("one", "1")])], "one", true);
    let two = image(vec![base, layer(&[("two", "2")])], "two", true);
    let src = tempfile::tempdir().unwrap();
    one.write_oci_layout(&src.path().join("one"), &["one:1", "one:latest"], false)
        .unwrap();
    two.write_oci_layout(&src.path().join("two"), &["two:1"], false)
        .unwrap();
    store.import(&src.path().join("one")).unwrap();
    store.import(&src.path().join("two")).unwrap();
    for n in ["one:1", "two:1"] {
        store
            .rootfs_layers(&store.get(n).unwrap().expect(n))
            .unwrap();
    }
    assert_eq!(store.layers().all().unwrap().len(), 3);

    // Untagging one of two names deletes nothing.
    let r = store.remove("one:latest").unwrap();
    assert_eq!(r.untagged, vec!["docker.io/library/one:latest"]);
    assert!(r.deleted.is_empty());

    // Removing "two" deletes its own blobs and layer, keeps the shared base.
    let before = blob_set(&store);
    let r = store.remove("docker.io/library/two:1").unwrap();
    let want: BTreeSet<Digest> = [
        two.manifest_digest.clone(),
        two.config_digest.clone(),
        Digest::of(&two.layers[1].0),
    ]
    .into();
    assert_eq!(r.deleted.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(
        blob_set(&store),
        before.difference(&want).cloned().collect()
    );
    let layers: BTreeSet<Digest> = store.layers().all().unwrap().into_iter().collect();
    assert_eq!(layers, one.diff_ids().into_iter().collect());

    // By image ID prefix: every name of that image goes, and everything else.
    store.import(&src.path().join("one")).unwrap();
    let r = store.remove(&one.config_digest.hex()[..12]).unwrap();
    assert_eq!(
        r.untagged,
        vec!["docker.io/library/one:1", "docker.io/library/one:latest"]
    );
    assert!(store.list().unwrap().is_empty());
    assert!(blob_set(&store).is_empty());
    assert!(store.layers().all().unwrap().is_empty());
    let err = store.remove("one:1").expect_err("gone").to_string();
    assert_eq!(err, "image \"one:1\": not found");
}
