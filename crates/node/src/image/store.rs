//! The content-addressed blob store (`images/blobs/sha256/<hex>`) and the
//! tag index (`images/index.json`, rewritten by atomic rename under a file
//! lock, so `k1s image ...` and the server can share one data directory).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::digest::{Digest, Hasher};
use super::error::{ImageError, IoContext, Result};

/// Blobs are written to a temp file next to the store, hashed on the way,
/// and renamed into place only when the digest matches.
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    pub fn open(images_dir: &Path) -> Result<BlobStore> {
        let dir = images_dir.join("blobs").join("sha256");
        let tmp = images_dir.join("tmp");
        fs::create_dir_all(&dir).at(&dir)?;
        fs::create_dir_all(&tmp).at(&tmp)?;
        Ok(BlobStore { dir, tmp })
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::NotFound(format!("content {d}"))
            } else {
                ImageError::io(p.display().to_string(), e)
            }
        })
    }

    /// Reads a small blob (manifest, config) fully, refusing huge ones.
    pub fn read(&self, d: &Digest, limit: u64) -> Result<Vec<u8>> {
        let f = self.open_blob(d)?;
        let mut out = Vec::new();
        f.take(limit + 1).read_to_end(&mut out).at(&self.path(d))?;
        if out.len() as u64 > limit {
            return Err(ImageError::invalid(format!(
                "blob {d} is larger than {limit} bytes"
            )));
        }
        Ok(out)
    }

    pub fn writer(&self) -> Result<BlobWriter> {
        let file = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.tmp)
            .at(&self.tmp)?;
        Ok(BlobWriter {
            file,
            hasher: Hasher::new(),
            dir: self.dir.clone(),
        })
    }

    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let mut w = self.writer()?;
        w.write_all(bytes).at(&self.tmp)?;
        Ok(w.commit(expected, None)?.0)
    }

    /// Streams `r` into the store; returns its digest and length.
    pub fn put_reader(
        &self,
        mut r: impl Read,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64)> {
        if let Some(d) = expected {
            if self.contains(d) {
                return Ok((d.clone(), self.size(d).unwrap_or_default()));
            }
        }
        let mut w = self.writer()?;
        io::copy(&mut r, &mut w).ctx(|| "copying blob".to_string())?;
        w.commit(expected, size)
    }

    pub fn remove(&self, d: &Digest) -> Result<()> {
        match fs::remove_file(self.path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ImageError::io(self.path(d).display().to_string(), e))
            }
            _ => Ok(()),
        }
    }

    pub fn all(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}

pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    hasher: Hasher,
    dir: PathBuf,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Verifies digest (and size, when known) and moves the blob into place.
    pub fn commit(self, expected: Option<&Digest>, size: Option<u64>) -> Result<(Digest, u64)> {
        self.commit_tracked(expected, size).map(|(d, n, _)| (d, n))
    }

    /// Like `commit`, also telling whether the blob is new to the store.
    pub fn commit_tracked(
        mut self,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64, bool)> {
        self.file
            .as_file_mut()
            .sync_all()
            .ctx(|| "syncing blob".to_string())?;
        let len = self.hasher.len();
        let actual = self.hasher.finish();
        if let Some(want) = expected {
            if let Some(s) = size {
                if s != len {
                    return Err(ImageError::SizeMismatch {
                        digest: want.clone(),
                        expected: s,
                        actual: len,
                    });
                }
            }
            if *want != actual {
                return Err(ImageError::DigestMismatch {
                    expected: want.clone(),
                    actual,
                });
            }
        }
        let dest = self.dir.join(actual.hex());
        let new = !dest.is_file();
        self.file
            .persist(&dest)
            .map_err(|e| ImageError::io(dest.display().to_string(), e.error))?;
        Ok((actual, len, new))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// One tagged (or digest-pinned) image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// The store key: `docker.io/library/nginx:latest` or `name@sha256:…`.
    pub name: String,
    /// What the reference resolved to (an index or a manifest): the
    /// "repo digest" the kubelet reports as imageID.
    pub target: Digest,
    pub target_media_type: String,
    /// The linux/amd64 manifest.
    pub manifest: Digest,
    /// The config blob; its digest is the image ID.
    pub config: Digest,
    /// Bytes of every blob for this platform (like containerd's image size).
    pub size: u64,
}

impl ImageRecord {
    /// `docker.io/library/nginx` — the name without tag or digest.
    pub fn repository(&self) -> &str {
        match self.name.rfind('@') {
            Some(i) => &self.name[..i],
            None => match self.name.rfind(':') {
                Some(i) if !self.name[i + 1..].contains('/') => &self.name[..i],
                _ => &self.name,
            },
        }
    }

    /// The tag, when the record is tagged.
    pub fn tag(&self) -> Option<&str> {
        if self.name.contains('@') {
            return None;
        }
        let repo_len = self.repository().len();
        self.name.get(repo_len + 1..)
    }

    /// `docker.io/library/nginx@sha256:…`, the pod status imageID.
    pub fn repo_digest(&self) -> String {
        format!("{}@{}", self.repository(), self.target)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexFile {
    version: u32,
    images: BTreeMap<String, ImageRecord>,
}

/// The tag index on disk.
pub struct TagIndex {
    path: PathBuf,
    lock_path: PathBuf,
}

/// Holds the store's exclusive lock; index writes happen through it.
pub struct Locked<'a> {
    index: &'a TagIndex,
    _lock: Flock<File>,
}

impl TagIndex {
    pub fn new(images_dir: &Path) -> TagIndex {
        TagIndex {
            path: images_dir.join("index.json"),
            lock_path: images_dir.join("lock"),
        }
    }

    /// A snapshot of the index (readers need no lock: writes are atomic).
    pub fn load(&self) -> Result<BTreeMap<String, ImageRecord>> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let f: IndexFile = serde_json::from_slice(&bytes)
                    .map_err(|e| ImageError::invalid(format!("{}: {e}", self.path.display())))?;
                Ok(f.images)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ImageError::io(self.path.display().to_string(), e)),
        }
    }

    pub fn lock(&self) -> Result<Locked<'_>> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .at(&self.lock_path)?;
        let lock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| {
            ImageError::io(self.lock_path.display().to_string(), io::Error::from(e))
        })?;
        Ok(Locked {
            index: self,
            _lock: lock,
        })
    }
}

impl Locked<'_> {
    pub fn load(&self) -> Result<BTreeMap<String, ImageRecord>> {
        self.index.load()
    }

    pub fn save(&self, images: &BTreeMap<String, ImageRecord>) -> Result<()> {
        let path = &self.index.path;
        let dir = path.parent().unwrap_or(Path::new("."));
        let file = IndexFile {
            version: 1,
            images: images.clone(),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| ImageError::invalid(e.to_string()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".index-")
            .tempfile_in(dir)
            .at(dir)?;
        tmp.write_all(&bytes).at(path)?;
        tmp.as_file().sync_all().at(path)?;
        tmp.persist(path)
            .map_err(|e| ImageError::io(path.display().to_string(), e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_verifies_digest_and_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let good = Digest::of(b"abc");
        assert_eq!(store.put_bytes(b"abc", Some(&good)).expect("put"), good);
        assert!(store.contains(&good));
        assert_eq!(store.read(&good, 10).expect("read"), b"abc");
        assert_eq!(
            store.path(&good),
            dir.path().join("blobs/sha256").join(good.hex())
        );

        let err = store
            .put_bytes(b"abd", Some(&good))
            .map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(format!(
                "unexpected commit digest {}, expected {good}: failed precondition",
                Digest::of(b"abd")
            ))
        );
        assert!(
            !store.contains(&Digest::of(b"abd")),
            "a bad blob must not land"
        );
        let other = Digest::of(b"xyz");
        let err = store
            .put_reader(&b"xy"[..], Some(&other), Some(3))
            .map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(format!("unexpected size 2 for {other}, expected 3"))
        );
        assert!(store.read(&good, 2).is_err(), "limit applies");
        // No temp files are left behind.
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
        assert_eq!(store.all().expect("all"), vec![good.clone()]);
        store.remove(&good).expect("remove");
        store.remove(&good).expect("remove twice");
        assert!(matches!(
            store.open_blob(&good),
            Err(ImageError::NotFound(_))
        ));
    }

    #[test]
    fn index_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let idx = TagIndex::new(dir.path());
        assert!(idx.load().expect("empty").is_empty());
        let rec = ImageRecord {
            name: "docker.io/library/nginx:latest".into(),
            target: Digest::of(b"t"),
            target_media_type: "application/vnd.oci.image.index.v1+json".into(),
            manifest: Digest::of(b"m"),
            config: Digest::of(b"c"),
            size: 42,
        };
        {
            let l = idx.lock().expect("lock");
            let mut m = l.load().expect("load");
            m.insert(rec.name.clone(), rec.clone());
            l.save(&m).expect("save");
        }
        assert_eq!(idx.load().expect("load").get(&rec.name), Some(&rec));
        assert_eq!(rec.repository(), "docker.io/library/nginx");
        assert_eq!(rec.tag(), Some("latest"));
        assert_eq!(
            rec.repo_digest(),
            format!("docker.io/library/nginx@{}", rec.target)
        );
        let pinned = ImageRecord {
            name: format!("localhost:5000/x@{}", rec.target),
            ..rec.clone()
        };
        assert_eq!(
            (pinned.repository(), pinned.tag()),
            ("localhost:5000/x", None)
        );
        let port = ImageRecord {
            name: "localhost:5000/x:v1".into(),
            ..rec
        };
        assert_eq!(
            (port.repository(), port.tag()),
            ("localhost:5000/x", Some("v1"))
        );
    }
}
