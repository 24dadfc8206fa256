//! `ImageStore`: the one entry point for `k1s image import|pull|ls|rm` and
//! for the pod runner (is the image present, its config, its lowerdirs).
//!
//! Layout under DATA_DIR/images: `blobs/sha256/<hex>`, `layers/<diffid>/`,
//! `index.json` (name → record), `lock`, `tmp/`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::error::{ImageError, IoContext, Result};
use super::import::{self, DirSource, Resolved, TarSource};
use super::list::ImageInfo;
use super::manifest::{self, Document, ImageConfigFile, Manifest, MAX_MANIFEST_BYTES};
use super::pull::{self, RegistryClient};
use super::reference::Reference;
use super::store::{BlobStore, ImageRecord, TagIndex};
use super::unpack::LayerStore;

pub struct ImageStore {
    root: PathBuf,
    blobs: BlobStore,
    layers: LayerStore,
    index: TagIndex,
}

/// The result of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledImage {
    pub reference: Reference,
    pub record: ImageRecord,
}

impl PulledImage {
    /// The digest the reference resolved to (what `crictl pull` prints
    /// as "Image is up to date for sha256:…" is the image ID instead).
    pub fn digest(&self) -> &Digest {
        &self.record.target
    }
}

/// What `remove` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedImage {
    /// Names removed from the index.
    pub untagged: Vec<String>,
    /// Blobs deleted because no remaining image uses them.
    pub deleted: Vec<Digest>,
}

impl ImageStore {
    /// Opens (creating) DATA_DIR/images.
    pub fn open(data_dir: &Path) -> Result<ImageStore> {
        let root = data_dir.join("images");
        std::fs::create_dir_all(&root).at(&root)?;
        Ok(ImageStore {
            blobs: BlobStore::open(&root)?,
            layers: LayerStore::open(&root)?,
            index: TagIndex::new(&root),
            root,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// Imports an OCI layout (directory or tar) or a docker archive; tags
    /// every named image in it and returns the references.
    pub fn import(&self, path: &Path) -> Result<Vec<Reference>> {
        let mut added = HashSet::new();
        let meta = std::fs::metadata(path).at(path)?;
        let imported = if meta.is_dir() {
            import::import_source(&mut DirSource::new(path), &self.blobs)
        } else {
            TarSource::scan(path, &self.blobs, &mut added)
                .and_then(|mut src| import::import_source(&mut src, &self.blobs))
        };
        let result = imported.and_then(|images| {
            let refs: Vec<Reference> = images.iter().map(|(r, _)| r.clone()).collect();
            self.tag_all(images)?;
            Ok(refs)
        });
        // Files of the archive that no image uses (docker's json files,
        // other platforms) do not stay in the store.
        if !added.is_empty() {
            let lock = self.index.lock()?;
            let keep = self.reachable(&lock.load()?)?;
            for d in added.difference(&keep) {
                self.blobs.remove(d)?;
            }
        }
        result
    }

    /// Pulls `image` (any form `Reference::parse` takes) from its registry.
    pub async fn pull(&self, image: &str) -> Result<PulledImage> {
        let r = Reference::parse(image)?;
        let client = RegistryClient::new()?;
        self.pull_with(&client, &r).await
    }

    pub async fn pull_with(&self, client: &RegistryClient, r: &Reference) -> Result<PulledImage> {
        let resolved = pull::pull(client, &self.blobs, r).await?;
        let record = self.tag_all(vec![(r.clone(), resolved)])?.remove(0);
        Ok(PulledImage {
            reference: r.clone(),
            record,
        })
    }

    fn tag_all(&self, images: Vec<(Reference, Resolved)>) -> Result<Vec<ImageRecord>> {
        let lock = self.index.lock()?;
        let mut all = lock.load()?;
        let mut out = Vec::new();
        for (r, res) in images {
            let rec = ImageRecord {
                name: r.key(),
                target: res.target,
                target_media_type: res.target_media_type,
                manifest: res.manifest,
                config: res.config,
                size: res.size,
            };
            all.insert(rec.name.clone(), rec.clone());
            out.push(rec);
        }
        lock.save(&all)?;
        Ok(out)
    }

    /// The stored image for a pod's image string, if present. A digest
    /// reference also matches an image pulled by tag with that digest.
    pub fn get(&self, image: &str) -> Result<Option<ImageRecord>> {
        let r = Reference::parse(image)?;
        let all = self.index.load()?;
        if let Some(rec) = all.get(&r.key()) {
            return Ok(Some(rec.clone()));
        }
        if let Some(d) = r.digest() {
            let name = r.name();
            let hit = all
                .values()
                .find(|rec| rec.repository() == name && (rec.target == *d || rec.manifest == *d));
            return Ok(hit.cloned());
        }
        Ok(None)
    }

    /// Every stored image, sorted by name.
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        Ok(self
            .index
            .load()?
            .into_values()
            .map(|rec| ImageInfo {
                repository: rec.repository().to_string(),
                tag: rec.tag().unwrap_or("<none>").to_string(),
                id: rec.config.clone(),
                digest: rec.target.clone(),
                size: rec.size,
                name: rec.name,
            })
            .collect())
    }

    /// Removes an image by reference, or by image ID (full or a unique
    /// prefix of at least 4 hex digits) which removes all its names. Blobs
    /// and unpacked layers only it used are deleted, except layers that an
    /// overlay mount still uses.
    pub fn remove(&self, image: &str) -> Result<RemovedImage> {
        let lock = self.index.lock()?;
        let mut all = lock.load()?;
        let names = select_for_removal(&all, image)?;
        let removed: BTreeMap<String, ImageRecord> = names
            .iter()
            .filter_map(|n| all.remove(n).map(|r| (n.clone(), r)))
            .collect();
        lock.save(&all)?;

        // Work out both sets before deleting: the configs are blobs too.
        let keep = self.reachable(&all)?;
        let gone = self.reachable(&removed)?;
        let keep_layers = self.diff_ids(&all)?;
        let gone_layers = self.diff_ids(&removed)?;
        let mut deleted = Vec::new();
        for d in gone.difference(&keep) {
            self.blobs.remove(d)?;
            deleted.push(d.clone());
        }
        let in_use = mounted_lowerdirs();
        for d in gone_layers.difference(&keep_layers) {
            if !in_use.contains(&self.layers.path(d)) {
                self.layers.remove(d)?;
            }
        }
        deleted.sort();
        Ok(RemovedImage {
            untagged: names,
            deleted,
        })
    }

    pub fn manifest(&self, rec: &ImageRecord) -> Result<Manifest> {
        let bytes = self.blobs.read(&rec.manifest, MAX_MANIFEST_BYTES as u64)?;
        match manifest::parse_document(None, &bytes)? {
            Document::Manifest(m) => Ok(*m),
            Document::Index(_) => Err(ImageError::invalid(format!(
                "{} is an index, not a manifest",
                rec.manifest
            ))),
        }
    }

    /// The image config (ENTRYPOINT, CMD, Env, WorkingDir, User, diffIDs).
    pub fn config(&self, rec: &ImageRecord) -> Result<ImageConfigFile> {
        manifest::parse_config(&self.blobs.read(&rec.config, MAX_MANIFEST_BYTES as u64)?)
    }

    /// Unpacks any layer not yet unpacked and returns the overlay lowerdirs,
    /// topmost first. Blocking (disk-bound): call from spawn_blocking.
    pub fn rootfs_layers(&self, rec: &ImageRecord) -> Result<Vec<PathBuf>> {
        let m = self.manifest(rec)?;
        let cfg = self.config(rec)?;
        let layers: Vec<_> = m
            .layers
            .iter()
            .filter(|l| manifest::is_layer_media_type(&l.media_type))
            .collect();
        if layers.len() != cfg.rootfs.diff_ids.len() {
            return Err(ImageError::invalid(format!(
                "image config {} lists {} diff_ids for {} layers",
                rec.config,
                cfg.rootfs.diff_ids.len(),
                layers.len()
            )));
        }
        for (layer, diff_id) in layers.iter().zip(&cfg.rootfs.diff_ids) {
            if !self.layers.contains(diff_id) {
                if !self.blobs.contains(&layer.digest) {
                    return Err(ImageError::NotFound(format!("content {}", layer.digest)));
                }
                self.layers
                    .unpack(&self.blobs.path(&layer.digest), diff_id)?;
            }
        }
        Ok(self.layers.lowerdirs(&cfg.rootfs.diff_ids))
    }

    /// Every blob the given images use.
    fn reachable(&self, images: &BTreeMap<String, ImageRecord>) -> Result<HashSet<Digest>> {
        let mut out = HashSet::new();
        for rec in images.values() {
            out.insert(rec.target.clone());
            out.insert(rec.manifest.clone());
            out.insert(rec.config.clone());
            // A record whose manifest is gone still protects what it names.
            if let Ok(m) = self.manifest(rec) {
                out.extend(m.layers.into_iter().map(|l| l.digest));
            }
        }
        Ok(out)
    }

    fn diff_ids(&self, images: &BTreeMap<String, ImageRecord>) -> Result<HashSet<Digest>> {
        let mut out = HashSet::new();
        for rec in images.values() {
            if let Ok(cfg) = self.config(rec) {
                out.extend(cfg.rootfs.diff_ids);
            }
        }
        Ok(out)
    }
}

/// Names `image` designates: its reference key, or all names of an image
/// ID (prefix). Errors when nothing or more than one image ID matches.
fn select_for_removal(all: &BTreeMap<String, ImageRecord>, image: &str) -> Result<Vec<String>> {
    if let Ok(r) = Reference::parse(image) {
        if all.contains_key(&r.key()) {
            return Ok(vec![r.key()]);
        }
    }
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    let looks_like_id =
        hex.len() >= 4 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if looks_like_id {
        let ids: BTreeSet<&Digest> = all
            .values()
            .filter(|r| r.config.hex().starts_with(hex))
            .map(|r| &r.config)
            .collect();
        match ids.len() {
            0 => {}
            1 => {
                let id = ids.into_iter().next().cloned();
                return Ok(all
                    .values()
                    .filter(|r| Some(&r.config) == id.as_ref())
                    .map(|r| r.name.clone())
                    .collect());
            }
            _ => {
                return Err(ImageError::invalid(format!(
                    "image ID prefix {image:?} is ambiguous"
                )))
            }
        }
    }
    Err(ImageError::NotFound(format!("image \"{image}\"")))
}

/// Layer directories that overlay mounts in this mount namespace use as
/// lowerdirs (from /proc/self/mountinfo).
fn mounted_lowerdirs() -> HashSet<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return HashSet::new();
    };
    lowerdirs_in_mountinfo(&text)
}

fn lowerdirs_in_mountinfo(text: &str) -> HashSet<PathBuf> {
    let mut out = HashSet::new();
    for line in text.lines() {
        // "... - overlay overlay rw,lowerdir=/a:/b,upperdir=...": after " - "
        // come fstype, source, super options.
        let Some((_, tail)) = line.split_once(" - ") else {
            continue;
        };
        let mut f = tail.split(' ');
        if f.next() != Some("overlay") {
            continue;
        }
        let opts = f.nth(1).unwrap_or_default();
        for opt in opts.split(',') {
            if let Some(dirs) = opt.strip_prefix("lowerdir=") {
                for d in dirs.split(':').filter(|d| !d.is_empty()) {
                    out.insert(PathBuf::from(unescape_mountinfo(d)));
                }
            }
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|oct| u8::from_str_radix(oct, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, config: &[u8]) -> ImageRecord {
        ImageRecord {
            name: name.into(),
            target: Digest::of(name.as_bytes()),
            target_media_type: manifest::OCI_MANIFEST.into(),
            manifest: Digest::of(name.as_bytes()),
            config: Digest::of(config),
            size: 1,
        }
    }

    #[test]
    fn removal_by_name_or_id() {
        let mut all = BTreeMap::new();
        for r in [
            rec("docker.io/library/nginx:latest", b"n"),
            rec("docker.io/library/nginx:1", b"n"),
            rec("docker.io/library/busybox:latest", b"b"),
        ] {
            all.insert(r.name.clone(), r);
        }
        assert_eq!(
            select_for_removal(&all, "nginx").expect("by name"),
            vec!["docker.io/library/nginx:latest"]
        );
        let id = Digest::of(b"n");
        let mut both = select_for_removal(&all, &id.hex()[..12]).expect("by id");
        both.sort();
        assert_eq!(
            both,
            vec![
                "docker.io/library/nginx:1",
                "docker.io/library/nginx:latest"
            ]
        );
        assert_eq!(
            select_for_removal(&all, &id.to_string())
                .expect("full id")
                .len(),
            2
        );
        assert_eq!(
            select_for_removal(&all, "redis").map_err(|e| e.to_string()),
            Err("image \"redis\": not found".to_string())
        );
    }

    #[test]
    fn parses_overlay_lowerdirs_from_mountinfo() {
        let text = "\
36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
120 30 0:50 / /run/k1s/pods/x/rootfs rw,relatime - overlay overlay rw,lowerdir=/var/lib/k1s/images/layers/aa:/var/lib/k1s/images/layers/bb,upperdir=/u,workdir=/w
121 30 0:51 / /t rw - overlay overlay rw,lowerdir=/with\\040space,upperdir=/u2,workdir=/w2
";
        let got = lowerdirs_in_mountinfo(text);
        let want: HashSet<PathBuf> = [
            "/var/lib/k1s/images/layers/aa",
            "/var/lib/k1s/images/layers/bb",
            "/with space",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got, want);
    }
}
