//! `k1s image import`: OCI image layouts (a directory or a tar of one) and
//! `docker save` archives, gzip-compressed or not. Blobs are verified as
//! they are stored; for an index only the linux/amd64 image is taken.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::digest::Digest;
use super::error::{ImageError, IoContext, Result};
use super::manifest::{
    self, Compression, Descriptor, Document, Index, Manifest, Platform, ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME, DOCKER_CONFIG, DOCKER_MANIFEST, MAX_MANIFEST_BYTES,
};
use super::reference::Reference;
use super::store::BlobStore;
use super::unpack::decompress;

/// What an import produced for one name, before it is tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub target: Digest,
    pub target_media_type: String,
    pub manifest: Digest,
    pub config: Digest,
    pub size: u64,
}

/// Where the files of an archive come from.
pub(crate) trait Source {
    /// A small file (index.json, manifest.json), None if absent.
    fn read_small(&mut self, blobs: &BlobStore, path: &str) -> Result<Option<Vec<u8>>>;
    /// Stores the file at `path` as a blob, checking `expected`.
    fn store(
        &mut self,
        blobs: &BlobStore,
        path: &str,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)>;
}

/// An OCI layout directory.
pub(crate) struct DirSource {
    root: PathBuf,
}

impl DirSource {
    pub(crate) fn new(root: &Path) -> DirSource {
        DirSource {
            root: root.to_path_buf(),
        }
    }
}

impl Source for DirSource {
    fn read_small(&mut self, _blobs: &BlobStore, path: &str) -> Result<Option<Vec<u8>>> {
        let p = self.root.join(path);
        match File::open(&p) {
            Ok(f) => {
                let mut out = Vec::new();
                f.take(MAX_MANIFEST_BYTES as u64 + 1)
                    .read_to_end(&mut out)
                    .at(&p)?;
                if out.len() > MAX_MANIFEST_BYTES {
                    return Err(ImageError::invalid(format!("{} is too large", p.display())));
                }
                Ok(Some(out))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::io(p.display().to_string(), e)),
        }
    }

    fn store(
        &mut self,
        blobs: &BlobStore,
        path: &str,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let rel = clean_rel(path)
            .ok_or_else(|| ImageError::invalid(format!("invalid path {path:?} in layout")))?;
        let p = self.root.join(rel);
        if let Some(d) = expected {
            if blobs.contains(d) {
                return Ok((d.clone(), blobs.size(d).unwrap_or_default()));
            }
        }
        let f = File::open(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                ImageError::NotFound(format!("{path} in {}", self.root.display()))
            }
            _ => ImageError::io(p.display().to_string(), e),
        })?;
        blobs.put_reader(f, expected, None)
    }
}

/// A tar archive, read once: every regular file goes into the blob store
/// (hashed on the way), and paths map to digests.
pub(crate) struct TarSource {
    files: HashMap<String, (Digest, u64)>,
    links: HashMap<String, String>,
}

impl TarSource {
    /// Reads the archive; digests new to the store are added to `added`
    /// so the caller can drop the ones no image ends up using.
    pub(crate) fn scan(
        path: &Path,
        blobs: &BlobStore,
        added: &mut HashSet<Digest>,
    ) -> Result<TarSource> {
        let f = File::open(path).at(path)?;
        let reader = decompress(BufReader::new(f))?;
        let mut archive = tar::Archive::new(reader);
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        for entry in archive.entries().at(path)? {
            let entry = entry.at(path)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean_rel(&raw) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                if let Some(target) = entry.link_name_bytes() {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let base = if kind.is_symlink() {
                        Path::new(&name)
                            .parent()
                            .map(|p| p.join(&target))
                            .unwrap_or_else(|| PathBuf::from(&target))
                    } else {
                        PathBuf::from(&target)
                    };
                    if let Some(resolved) = clean_rel(&base.to_string_lossy()) {
                        links.insert(name, resolved);
                    }
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = entry.header().size().unwrap_or(0);
            let mut w = blobs.writer()?;
            let mut entry = entry;
            std::io::copy(&mut entry, &mut w).at(path)?;
            let (d, n, new) = w.commit_tracked(None, Some(size))?;
            if new {
                added.insert(d.clone());
            }
            files.insert(name, (d, n));
        }
        Ok(TarSource { files, links })
    }

    fn lookup(&self, path: &str) -> Option<&(Digest, u64)> {
        let mut p = clean_rel(path)?;
        for _ in 0..16 {
            if let Some(hit) = self.files.get(&p) {
                return Some(hit);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

impl Source for TarSource {
    fn read_small(&mut self, blobs: &BlobStore, path: &str) -> Result<Option<Vec<u8>>> {
        match self.lookup(path) {
            Some((d, _)) => blobs.read(d, MAX_MANIFEST_BYTES as u64).map(Some),
            None => Ok(None),
        }
    }

    fn store(
        &mut self,
        _blobs: &BlobStore,
        path: &str,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let (d, n) = self
            .lookup(path)
            .ok_or_else(|| ImageError::NotFound(format!("{path} in archive")))?;
        if let Some(want) = expected {
            if want != d {
                return Err(ImageError::DigestMismatch {
                    expected: want.clone(),
                    actual: d.clone(),
                });
            }
        }
        Ok((d.clone(), *n))
    }
}

/// `a/./b`, `/a/b` → `a/b`; None for paths with `..` or nothing left.
fn clean_rel(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str()?),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Reads the archive's index (OCI) or manifest.json (docker) and stores
/// every named linux/amd64 image; returns (reference, what it resolved to).
pub(crate) fn import_source(
    src: &mut dyn Source,
    blobs: &BlobStore,
) -> Result<Vec<(Reference, Resolved)>> {
    let oci = match src.read_small(blobs, "index.json")? {
        Some(bytes) => Some(
            serde_json::from_slice::<Index>(&bytes)
                .map_err(|e| ImageError::invalid(format!("invalid index.json: {e}")))?,
        ),
        None => None,
    };
    let named: Vec<(String, Descriptor)> = oci
        .iter()
        .flat_map(|idx| idx.manifests.iter())
        .filter_map(|d| oci_name(d).map(|n| (n, d.clone())))
        .collect();
    if !named.is_empty() {
        let mut out = Vec::new();
        for (name, desc) in named {
            let r = Reference::parse(&name)?;
            out.push((r, import_descriptor(src, blobs, &desc)?));
        }
        return Ok(out);
    }
    if let Some(bytes) = src.read_small(blobs, "manifest.json")? {
        return import_docker_archive(src, blobs, &bytes);
    }
    if oci.is_some() {
        return Err(ImageError::invalid(format!(
            "no named images: index.json entries need an {ANNOTATION_CONTAINERD_NAME} or {ANNOTATION_REF_NAME} annotation with a full name"
        )));
    }
    Err(ImageError::invalid(
        "not an OCI image layout or docker archive: no index.json or manifest.json",
    ))
}

/// The image name an index entry carries; a bare tag names no repository.
fn oci_name(d: &Descriptor) -> Option<String> {
    if let Some(n) = d.annotation(ANNOTATION_CONTAINERD_NAME) {
        return Some(n.to_string());
    }
    let r = d.annotation(ANNOTATION_REF_NAME)?;
    if r.contains(['/', ':', '@']) {
        Some(r.to_string())
    } else {
        None
    }
}

fn import_descriptor(
    src: &mut dyn Source,
    blobs: &BlobStore,
    desc: &Descriptor,
) -> Result<Resolved> {
    let (target, top_size) = src.store(blobs, &blob_path(&desc.digest), Some(&desc.digest))?;
    let bytes = blobs.read(&target, MAX_MANIFEST_BYTES as u64)?;
    let mut size = top_size;
    let (manifest_digest, manifest) =
        match manifest::parse_document(Some(&desc.media_type), &bytes)? {
            Document::Manifest(m) => (target.clone(), *m),
            Document::Index(idx) => {
                let chosen = manifest::select_platform(&idx, &Platform::linux_amd64())
                    .ok_or_else(|| {
                        ImageError::NotFound("no match for platform in manifest".into())
                    })?
                    .clone();
                let (d, n) = src.store(blobs, &blob_path(&chosen.digest), Some(&chosen.digest))?;
                size += n;
                let bytes = blobs.read(&d, MAX_MANIFEST_BYTES as u64)?;
                match manifest::parse_document(Some(&chosen.media_type), &bytes)? {
                    Document::Manifest(m) => (d, *m),
                    Document::Index(_) => {
                        return Err(ImageError::invalid(
                            "nested image indexes are not supported",
                        ))
                    }
                }
            }
        };
    let (config, n) = src.store(
        blobs,
        &blob_path(&manifest.config.digest),
        Some(&manifest.config.digest),
    )?;
    size += n;
    for layer in &manifest.layers {
        size += src
            .store(blobs, &blob_path(&layer.digest), Some(&layer.digest))?
            .1;
    }
    check_layers(blobs, &manifest, &config)?;
    Ok(Resolved {
        target,
        target_media_type: desc.media_type.clone(),
        manifest: manifest_digest,
        config,
        size,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// `docker save` format: manifest.json points at a config file and layer
/// tars by path. We write a Docker v2 manifest for it, as containerd does.
fn import_docker_archive(
    src: &mut dyn Source,
    blobs: &BlobStore,
    bytes: &[u8],
) -> Result<Vec<(Reference, Resolved)>> {
    let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::invalid(format!("invalid manifest.json: {e}")))?;
    let mut out = Vec::new();
    for entry in entries {
        let tags = entry.repo_tags.clone().unwrap_or_default();
        if tags.is_empty() {
            continue;
        }
        let (config, config_size) = src.store(blobs, &entry.config, None)?;
        let mut layers = Vec::new();
        for path in &entry.layers {
            let (d, n) = src.store(blobs, path, None)?;
            let mut head = [0u8; 4];
            let got = blobs.open_blob(&d)?.read(&mut head).at(&blobs.path(&d))?;
            let media = Compression::sniff(&head[..got]).docker_media_type();
            layers.push(Descriptor::new(media, d, n));
        }
        let m = Manifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST.into()),
            config: Descriptor::new(DOCKER_CONFIG, config.clone(), config_size),
            layers,
            annotations: None,
        };
        check_layers(blobs, &m, &config)?;
        let mbytes = serde_json::to_vec(&m).map_err(|e| ImageError::invalid(e.to_string()))?;
        let manifest = blobs.put_bytes(&mbytes, None)?;
        let size = mbytes.len() as u64 + config_size + m.layers.iter().map(|l| l.size).sum::<u64>();
        let resolved = Resolved {
            target: manifest.clone(),
            target_media_type: DOCKER_MANIFEST.into(),
            manifest,
            config,
            size,
        };
        for tag in tags {
            out.push((Reference::parse(&tag)?, resolved.clone()));
        }
    }
    if out.is_empty() {
        return Err(ImageError::invalid("no tagged images in manifest.json"));
    }
    Ok(out)
}

/// The config must be an image config with one diffID per layer.
pub(crate) fn check_layers(blobs: &BlobStore, m: &Manifest, config: &Digest) -> Result<()> {
    let cfg = manifest::parse_config(&blobs.read(config, MAX_MANIFEST_BYTES as u64)?)?;
    let layers = m
        .layers
        .iter()
        .filter(|l| manifest::is_layer_media_type(&l.media_type))
        .count();
    if layers != cfg.rootfs.diff_ids.len() {
        return Err(ImageError::invalid(format!(
            "image config {config} lists {} diff_ids for {layers} layers",
            cfg.rootfs.diff_ids.len()
        )));
    }
    if !cfg.os.is_empty() && cfg.os != "linux" {
        return Err(ImageError::invalid(format!(
            "image is for {}/{}, not linux/amd64",
            cfg.os, cfg.architecture
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            clean_rel("./blobs/sha256/ab"),
            Some("blobs/sha256/ab".into())
        );
        assert_eq!(clean_rel("/manifest.json"), Some("manifest.json".into()));
        assert_eq!(clean_rel("a/../b"), Some("b".into()));
        assert_eq!(clean_rel("../b"), None);
        assert_eq!(clean_rel("./"), None);
    }

    #[test]
    fn names_from_annotations() {
        let mut d = Descriptor::new(manifest::OCI_MANIFEST, Digest::of(b"x"), 1);
        assert_eq!(oci_name(&d), None);
        d.annotations = Some([(ANNOTATION_REF_NAME.to_string(), "latest".to_string())].into());
        assert_eq!(oci_name(&d), None, "a bare tag names no repository");
        d.annotations = Some([(ANNOTATION_REF_NAME.to_string(), "nginx:1.25".to_string())].into());
        assert_eq!(oci_name(&d), Some("nginx:1.25".into()));
        d.annotations = Some(
            [
                (ANNOTATION_REF_NAME.to_string(), "latest".to_string()),
                (
                    ANNOTATION_CONTAINERD_NAME.to_string(),
                    "docker.io/library/busybox:latest".to_string(),
                ),
            ]
            .into(),
        );
        assert_eq!(
            oci_name(&d),
            Some("docker.io/library/busybox:latest".into())
        );
    }
}
