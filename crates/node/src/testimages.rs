//! Small OCI images built offline, for tests: a layer/image builder, and
//! busybox, nginx and curl images made from this machine's Debian
//! binaries (`busybox-static`, `nginx`, `curl`) plus their shared-library
//! closure (from `ldd`). The output is an OCI layout for `k1s image import`.
//!
//! All three share one busybox base layer (so layer sharing is exercised),
//! and every tar is deterministic (sorted, fixed owner and mtime), so the
//! same host yields the same digests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::write::GzEncoder;

use crate::image::digest::Digest;
use crate::image::manifest::{
    Compression, Descriptor, ImageConfig, ImageConfigFile, Index, Manifest, Platform, RootFs,
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
use crate::image::reference::Reference;

/// Debian packages the test images are built from (CI installs them).
pub const DEBIAN_PACKAGES: &[&str] = &["busybox-static", "nginx", "curl"];

/// A fixed timestamp for every entry and the config's `created`.
const MTIME: u64 = 1_700_000_000;
const CREATED: &str = "2023-11-14T22:13:20Z";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Builds one layer tar, entries in the order added.
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        LayerBuilder::new()
    }
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        let mut tar = tar::Builder::new(Vec::new());
        tar.mode(tar::HeaderMode::Deterministic);
        LayerBuilder { tar }
    }

    fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(MTIME);
        h.set_size(size);
        h
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> io::Result<&mut Self> {
        self.dir_owned(path, mode, 0, 0)
    }

    pub fn dir_owned(
        &mut self,
        path: &str,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> io::Result<&mut Self> {
        let mut h = Self::header(tar::EntryType::Directory, mode, uid, gid, 0);
        self.tar.append_data(&mut h, path, io::empty())?;
        Ok(self)
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> io::Result<&mut Self> {
        self.file_owned(path, data, mode, 0, 0)
    }

    pub fn file_owned(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> io::Result<&mut Self> {
        let mut h = Self::header(tar::EntryType::Regular, mode, uid, gid, data.len() as u64);
        self.tar.append_data(&mut h, path, data)?;
        Ok(self)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<&mut Self> {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
        self.tar.append_link(&mut h, path, target)?;
        Ok(self)
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> io::Result<&mut Self> {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0, 0, 0);
        self.tar.append_link(&mut h, path, target)?;
        Ok(self)
    }

    pub fn char_device(
        &mut self,
        path: &str,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> io::Result<&mut Self> {
        let mut h = Self::header(tar::EntryType::Char, mode, 0, 0, 0);
        h.set_device_major(major)?;
        h.set_device_minor(minor)?;
        self.tar.append_data(&mut h, path, io::empty())?;
        Ok(self)
    }

    /// An OCI whiteout: `dir/.wh.name` hides `dir/name` of lower layers.
    pub fn whiteout(&mut self, path: &str) -> io::Result<&mut Self> {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), b"", 0o644)
    }

    /// An OCI opaque marker: hides everything lower layers have in `dir`.
    pub fn opaque(&mut self, dir: &str) -> io::Result<&mut Self> {
        self.file(
            &format!("{}/.wh..wh..opq", dir.trim_end_matches('/')),
            b"",
            0o644,
        )
    }

    /// An entry with a raw, unchecked name and link name (for tests that
    /// feed hostile archives: `../x`, `/abs`, …).
    pub fn raw(
        &mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
    ) -> io::Result<&mut Self> {
        let mut h = Self::header(kind, 0o644, 0, 0, data.len() as u64);
        let old = h.as_old_mut();
        if name.len() > old.name.len() || link.len() > old.linkname.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "raw name too long",
            ));
        }
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.tar.append(&h, data)?;
        Ok(self)
    }

    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.tar.into_inner()
    }
}

/// An image being put together: layers (uncompressed tars) and config.
#[derive(Clone, Default)]
pub struct ImageBuilder {
    pub layers: Vec<Vec<u8>>,
    pub config: ImageConfig,
    /// gzip the layer blobs (else plain tar blobs).
    pub gzip: bool,
}

/// A built image: every blob, ready to write out or push.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    /// (blob, diffID)
    pub layers: Vec<(Vec<u8>, Digest)>,
    pub layer_media_types: Vec<String>,
}

impl ImageBuilder {
    pub fn new(config: ImageConfig) -> ImageBuilder {
        ImageBuilder {
            layers: Vec::new(),
            config,
            gzip: false,
        }
    }

    pub fn layer(mut self, tar: Vec<u8>) -> ImageBuilder {
        self.layers.push(tar);
        self
    }

    pub fn build(&self) -> io::Result<BuiltImage> {
        let mut layers = Vec::new();
        let mut types = Vec::new();
        for tar in &self.layers {
            let diff_id = Digest::of(tar);
            let blob = if self.gzip {
                let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(tar)?;
                enc.finish()?
            } else {
                tar.clone()
            };
            let c = if self.gzip {
                Compression::Gzip
            } else {
                Compression::None
            };
            types.push(c.oci_media_type().to_string());
            layers.push((blob, diff_id));
        }
        let cfg = ImageConfigFile {
            architecture: "amd64".into(),
            os: "linux".into(),
            created: Some(CREATED.into()),
            config: Some(self.config.clone()),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: layers.iter().map(|(_, d)| d.clone()).collect(),
            },
        };
        let config = serde_json::to_vec(&cfg).map_err(io::Error::other)?;
        let config_digest = Digest::of(&config);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: Descriptor::new(OCI_CONFIG, config_digest.clone(), config.len() as u64),
            layers: layers
                .iter()
                .zip(&types)
                .map(|((blob, _), t)| Descriptor::new(t, Digest::of(blob), blob.len() as u64))
                .collect(),
            annotations: None,
        };
        let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        Ok(BuiltImage {
            manifest_digest: Digest::of(&manifest),
            manifest,
            config_digest,
            config,
            layers,
            layer_media_types: types,
        })
    }
}

impl BuiltImage {
    /// Every blob with its digest: config, layers, manifest.
    pub fn blobs(&self) -> Vec<(Digest, &[u8])> {
        let mut out = vec![(self.config_digest.clone(), self.config.as_slice())];
        out.extend(
            self.layers
                .iter()
                .map(|(b, _)| (Digest::of(b), b.as_slice())),
        );
        out.push((self.manifest_digest.clone(), self.manifest.as_slice()));
        out
    }

    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|(_, d)| d.clone()).collect()
    }

    pub fn manifest_descriptor(&self) -> Descriptor {
        let mut d = Descriptor::new(
            OCI_MANIFEST,
            self.manifest_digest.clone(),
            self.manifest.len() as u64,
        );
        d.platform = Some(Platform::linux_amd64());
        d
    }

    /// An image index with this image as linux/amd64 and an arm64 entry
    /// whose blobs do not exist (importers must not need them).
    pub fn multiarch_index(&self) -> io::Result<(Vec<u8>, Digest)> {
        let mut arm = Descriptor::new(
            OCI_MANIFEST,
            Digest::of(b"not-included-arm64-manifest"),
            1234,
        );
        arm.platform = Some(Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
            os_version: None,
        });
        let index = Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![arm, self.manifest_descriptor()],
            annotations: None,
        };
        let bytes = serde_json::to_vec(&index).map_err(io::Error::other)?;
        let d = Digest::of(&bytes);
        Ok((bytes, d))
    }

    /// Writes an OCI image layout with one index.json entry per name
    /// (annotated like BuildKit: full name + tag). With `multiarch`, the
    /// entries point at an image index instead of the manifest.
    pub fn write_oci_layout(&self, dir: &Path, names: &[&str], multiarch: bool) -> io::Result<()> {
        let blobs = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs)?;
        for (d, bytes) in self.blobs() {
            fs::write(blobs.join(d.hex()), bytes)?;
        }
        let top = if multiarch {
            let (bytes, d) = self.multiarch_index()?;
            fs::write(blobs.join(d.hex()), &bytes)?;
            Descriptor::new(OCI_INDEX, d, bytes.len() as u64)
        } else {
            Descriptor::new(
                OCI_MANIFEST,
                self.manifest_digest.clone(),
                self.manifest.len() as u64,
            )
        };
        let mut manifests = Vec::new();
        for name in names {
            let r = Reference::parse(name)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let mut d = top.clone();
            let mut ann = BTreeMap::new();
            ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), r.to_string());
            ann.insert(
                ANNOTATION_REF_NAME.to_string(),
                r.tag().unwrap_or("latest").to_string(),
            );
            d.annotations = Some(ann);
            manifests.push(d);
        }
        let index = Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests,
            annotations: None,
        };
        fs::write(
            dir.join("index.json"),
            serde_json::to_vec(&index).map_err(io::Error::other)?,
        )?;
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(())
    }

    /// The same layout as a tar file.
    pub fn write_oci_archive(
        &self,
        path: &Path,
        names: &[&str],
        multiarch: bool,
    ) -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        self.write_oci_layout(tmp.path(), names, multiarch)?;
        let mut tar = tar::Builder::new(fs::File::create(path)?);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.append_dir_all(".", tmp.path())?;
        tar.into_inner()?.sync_all()
    }

    /// A `docker save` archive (legacy layout: `<id>/layer.tar`,
    /// `<config>.json`, manifest.json). Layers are stored uncompressed, and
    /// a repeated layer is a symlink to the first copy, as docker does.
    pub fn write_docker_archive(&self, path: &Path, names: &[&str]) -> io::Result<()> {
        let mut tar = tar::Builder::new(fs::File::create(path)?);
        tar.mode(tar::HeaderMode::Deterministic);
        let add = |tar: &mut tar::Builder<fs::File>, name: &str, data: &[u8]| -> io::Result<()> {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(MTIME);
            tar.append_data(&mut h, name, data)
        };
        let config_name = format!("{}.json", self.config_digest.hex());
        add(&mut tar, &config_name, &self.config)?;
        let mut layer_paths = Vec::new();
        let mut first: BTreeMap<Digest, String> = BTreeMap::new();
        for (i, (_, diff_id)) in self.layers.iter().enumerate() {
            let p = format!(
                "{}/layer.tar",
                Digest::of(format!("{i}{diff_id}").as_bytes()).hex()
            );
            match first.get(diff_id) {
                Some(orig) => {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    h.set_mtime(MTIME);
                    tar.append_link(&mut h, &p, format!("../{orig}"))?;
                }
                None => {
                    let tar_bytes = self.uncompressed_layer(i)?;
                    add(&mut tar, &p, &tar_bytes)?;
                    first.insert(diff_id.clone(), p.clone());
                }
            }
            layer_paths.push(p);
        }
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": names,
            "Layers": layer_paths,
        }]);
        add(&mut tar, "manifest.json", manifest.to_string().as_bytes())?;
        tar.into_inner()?.sync_all()
    }

    fn uncompressed_layer(&self, i: usize) -> io::Result<Vec<u8>> {
        let blob = &self.layers[i].0;
        if Compression::sniff(blob) == Compression::Gzip {
            let mut out = Vec::new();
            io::copy(&mut flate2::read::GzDecoder::new(blob.as_slice()), &mut out)?;
            Ok(out)
        } else {
            Ok(blob.clone())
        }
    }
}

/// The test images: their names and where their OCI layouts were written.
#[derive(Debug, Clone)]
pub struct TestImage {
    pub names: Vec<String>,
    pub layout: PathBuf,
}

/// Image names the e2e suites use.
pub const BUSYBOX: &str = "docker.io/library/busybox:latest";
pub const NGINX: &str = "docker.io/library/nginx:latest";
pub const CURL: &str = "docker.io/curlimages/curl:latest";

/// Builds busybox, nginx and curl into `out_dir/{busybox,nginx,curl}`.
pub fn build_test_images(out_dir: &Path) -> io::Result<Vec<TestImage>> {
    let base = busybox_layer()?;
    let images = [
        (
            "busybox",
            vec![
                BUSYBOX.to_string(),
                "docker.io/library/busybox:1.35".to_string(),
            ],
            busybox_image(base.clone()),
        ),
        (
            "nginx",
            // 1.17 and 1.18 name the same image: the rollout tests move
            // Deployments between tags (`kubectl set image`) offline.
            vec![
                NGINX.to_string(),
                "docker.io/library/nginx:1.22".to_string(),
                "docker.io/library/nginx:1.17".to_string(),
                "docker.io/library/nginx:1.18".to_string(),
            ],
            nginx_image(base.clone())?,
        ),
        (
            "curl",
            vec![
                CURL.to_string(),
                "docker.io/curlimages/curl:7.88.1".to_string(),
            ],
            curl_image(base)?,
        ),
    ];
    let mut out = Vec::new();
    for (dir, names, builder) in images {
        let layout = out_dir.join(dir);
        if layout.exists() {
            fs::remove_dir_all(&layout)?;
        }
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        builder
            .build()?
            .write_oci_layout(&layout, &name_refs, false)?;
        out.push(TestImage { names, layout });
    }
    Ok(out)
}

fn missing(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{what} not found: the test images need the Debian packages {}",
            DEBIAN_PACKAGES.join(" ")
        ),
    )
}

/// The shared base: static busybox with its applet links and a minimal /etc.
pub fn busybox_layer() -> io::Result<Vec<u8>> {
    let busybox = fs::read("/bin/busybox").map_err(|_| missing("/bin/busybox"))?;
    let list = Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .map_err(|_| missing("/bin/busybox"))?;
    let mut applets: BTreeSet<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != "bin/busybox")
        .collect();
    applets.insert("bin/sh".into());

    let mut l = LayerBuilder::new();
    for (d, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("run", 0o755),
        ("sbin", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("var", 0o755),
        ("var/run", 0o755),
    ] {
        l.dir(d, mode)?;
    }
    l.file("bin/busybox", &busybox, 0o755)?;
    for a in &applets {
        l.symlink(a, "/bin/busybox")?;
    }
    l.file("etc/passwd", PASSWD.as_bytes(), 0o644)?;
    l.file("etc/group", GROUP.as_bytes(), 0o644)?;
    l.file(
        "etc/nsswitch.conf",
        b"passwd: files\ngroup: files\nhosts: files dns\n",
        0o644,
    )?;
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        l.file(f, b"", 0o644)?;
    }
    l.finish()
}

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

fn base_config(cmd: &[&str]) -> ImageConfig {
    ImageConfig {
        env: Some(vec![DEFAULT_PATH.to_string()]),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

pub fn busybox_image(base: Vec<u8>) -> ImageBuilder {
    ImageBuilder::new(base_config(&["sh"])).layer(base)
}

/// nginx answering every request with its hostname (the pod name), so
/// load-balancing tests can see which endpoint served them.
pub const NGINX_CONF: &str = r#"user root;
worker_processes 1;
error_log stderr notice;
pid /run/nginx.pid;

events {
    worker_connections 256;
}

http {
    access_log /dev/stdout;
    server {
        listen 80;
        location / {
            default_type text/plain;
            return 200 "$hostname\n";
        }
    }
}
"#;

pub fn nginx_image(base: Vec<u8>) -> io::Result<ImageBuilder> {
    let mut l = LayerBuilder::new();
    add_binary_with_closure(&mut l, "/usr/sbin/nginx")?;
    for d in ["etc/nginx", "var/log/nginx", "var/lib/nginx"] {
        l.dir(d, 0o755)?;
    }
    for d in ["body", "fastcgi", "proxy", "scgi", "uwsgi"] {
        l.dir(&format!("var/lib/nginx/{d}"), 0o700)?;
    }
    l.file("etc/nginx/nginx.conf", NGINX_CONF.as_bytes(), 0o644)?;
    let mut cfg = base_config(&["nginx", "-g", "daemon off;"]);
    cfg.exposed_ports = Some([("80/tcp".to_string(), serde_json::json!({}))].into());
    cfg.stop_signal = Some("SIGQUIT".into());
    Ok(ImageBuilder::new(cfg).layer(base).layer(l.finish()?))
}

/// Like curlimages/curl's: `curl` unless the first argument is a command.
pub const CURL_ENTRYPOINT: &str = r#"#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ]; then
    set -- curl "$@"
fi
exec "$@"
"#;

pub fn curl_image(base: Vec<u8>) -> io::Result<ImageBuilder> {
    let mut l = LayerBuilder::new();
    add_binary_with_closure(&mut l, "/usr/bin/curl")?;
    // The upper layer replaces /etc/passwd and /etc/group, adding curl_user.
    l.file(
        "etc/passwd",
        format!("{PASSWD}curl_user:x:100:101:curl:/home/curl_user:/bin/sh\n").as_bytes(),
        0o644,
    )?;
    l.file(
        "etc/group",
        format!("{GROUP}curl_group:x:101:curl_user\n").as_bytes(),
        0o644,
    )?;
    l.dir_owned("home/curl_user", 0o755, 100, 101)?;
    l.file("entrypoint.sh", CURL_ENTRYPOINT.as_bytes(), 0o755)?;
    let mut cfg = base_config(&["curl"]);
    cfg.entrypoint = Some(vec!["/entrypoint.sh".into()]);
    cfg.user = "curl_user".into();
    cfg.working_dir = "/home/curl_user".into();
    Ok(ImageBuilder::new(cfg).layer(base).layer(l.finish()?))
}

/// Adds a host binary and every shared library `ldd` lists for it, at the
/// same paths, with the parent directories (symlinks resolved: regular
/// files only, so the image does not depend on the host's /lib layout).
pub fn add_binary_with_closure(l: &mut LayerBuilder, binary: &str) -> io::Result<()> {
    if !Path::new(binary).exists() {
        return Err(missing(binary));
    }
    let mut files = vec![binary.to_string()];
    files.extend(ldd(binary)?);
    let mut dirs = BTreeSet::new();
    for f in &files {
        let mut p = Path::new(f.trim_start_matches('/')).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_string_lossy().into_owned());
            p = d.parent();
        }
    }
    for d in &dirs {
        l.dir(d, 0o755)?;
    }
    for f in &files {
        let data = fs::read(f)?;
        l.file(f.trim_start_matches('/'), &data, 0o755)?;
    }
    Ok(())
}

/// Library paths from `ldd BINARY`.
pub fn ldd(binary: &str) -> io::Result<Vec<String>> {
    let out = Command::new("ldd").arg(binary).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ldd {binary} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse_ldd(&String::from_utf8_lossy(&out.stdout))
}

fn parse_ldd(text: &str) -> io::Result<Vec<String>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("not a dynamic executable") || line.starts_with("statically linked") {
            continue;
        }
        if line.ends_with("not found") {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("ldd: {line}"),
            ));
        }
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim().split(" (").next().unwrap_or_default().trim(),
            None => line.split(" (").next().unwrap_or_default().trim(),
        };
        if path.starts_with('/') {
            libs.push(path.to_string());
        }
    }
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f07)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f07c1ed0000)\n";
        assert_eq!(
            parse_ldd(text).expect("parse"),
            vec![
                "/lib/x86_64-linux-gnu/libz.so.1".to_string(),
                "/lib64/ld-linux-x86-64.so.2".to_string()
            ]
        );
        assert!(parse_ldd("\tlibfoo.so => not found\n").is_err());
        assert_eq!(
            parse_ldd("\tnot a dynamic executable\n").expect("static"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn builds_are_deterministic() {
        let layer = || {
            let mut l = LayerBuilder::new();
            l.dir("etc", 0o755).expect("dir");
            l.file("etc/x", b"x", 0o644).expect("file");
            l.finish().expect("finish")
        };
        let img = ImageBuilder::new(base_config(&["sh"])).layer(layer());
        let (a, b) = (img.build().expect("a"), img.build().expect("b"));
        assert_eq!(a.manifest_digest, b.manifest_digest);
        assert_eq!(a.diff_ids(), vec![Digest::of(&layer())]);
    }
}
