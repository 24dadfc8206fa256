//! Layer unpacking for overlayfs.
//!
//! Each layer is unpacked once, into an empty directory of its own
//! (`images/layers/<diffid hex>/`), the way Docker's overlay2 driver does,
//! and layers are stacked as overlay lowerdirs. OCI whiteouts become what
//! overlayfs understands: `.wh.NAME` a 0/0 character device named NAME,
//! `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory.
//!
//! Nothing from the archive is trusted: `..` components are refused, and
//! no entry may be written through a symlink (a layer tar made from a real
//! filesystem never has entries below a symlink), so a hostile layer
//! cannot write outside its directory. Symlink *targets* are stored as
//! they are; they are only ever resolved inside the container's root.

use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::digest::{Digest, HashingReader};
use super::error::{ImageError, IoContext, Result};
use super::manifest::Compression;

const OPAQUE_MARKER: &str = ".wh..wh..opq";
const META_PREFIX: &str = ".wh..wh.";
const WHITEOUT_PREFIX: &str = ".wh.";
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The unpacked layers, keyed by diffID.
pub struct LayerStore {
    dir: PathBuf,
}

impl LayerStore {
    pub fn open(images_dir: &Path) -> Result<LayerStore> {
        let dir = images_dir.join("layers");
        fs::create_dir_all(&dir).at(&dir)?;
        let store = LayerStore { dir };
        store.remove_stale_temp_dirs();
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.path(diff_id).is_dir()
    }

    /// Unpacks a (possibly compressed) layer blob unless it already is,
    /// checking the uncompressed stream against `diff_id`. The directory
    /// appears under its final name only when complete (atomic rename), so
    /// concurrent unpackers of one layer are harmless.
    pub fn unpack(&self, blob: &Path, diff_id: &Digest) -> Result<PathBuf> {
        let dest = self.path(diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let tmp = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempdir_in(&self.dir)
            .at(&self.dir)?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).at(tmp.path())?;
        let file = File::open(blob).at(blob)?;
        let mut hashed = HashingReader::new(decompress(BufReader::new(file))?);
        extract_layer(&mut hashed, tmp.path())?;
        let (actual, _) = hashed
            .finish()
            .ctx(|| format!("reading layer {}", blob.display()))?;
        if actual != *diff_id {
            return Err(ImageError::DigestMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        let staged = tmp.keep();
        if let Err(e) = fs::rename(&staged, &dest) {
            let _ = fs::remove_dir_all(&staged);
            if !dest.is_dir() {
                return Err(ImageError::io(dest.display().to_string(), e));
            }
        }
        Ok(dest)
    }

    pub fn remove(&self, diff_id: &Digest) -> Result<()> {
        let p = self.path(diff_id);
        match fs::remove_dir_all(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ImageError::io(p.display().to_string(), e))
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

    /// Overlay lowerdirs for layers listed bottom-first: the topmost layer
    /// comes first in overlayfs' `lowerdir=` option.
    pub fn lowerdirs(&self, diff_ids: &[Digest]) -> Vec<PathBuf> {
        diff_ids.iter().rev().map(|d| self.path(d)).collect()
    }

    /// Leftovers of unpacks interrupted by a crash (an hour is far longer
    /// than any unpack in progress takes).
    fn remove_stale_temp_dirs(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if stale && entry.file_name().as_bytes().starts_with(b".unpack-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The `lowerdir=` option value for a list of lowerdirs (top first).
pub fn lowerdir_option(lowerdirs: &[PathBuf]) -> String {
    lowerdirs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Wraps a layer stream in the decompressor its magic bytes call for.
pub fn decompress<'a, R: BufRead + 'a>(mut r: R) -> Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf().ctx(|| "reading layer".to_string())?;
    match Compression::sniff(head) {
        Compression::Gzip => Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r))),
        Compression::None => Ok(Box::new(r)),
        Compression::Zstd => Err(ImageError::invalid(
            "zstd-compressed layers are not supported",
        )),
    }
}

/// Extracts an uncompressed layer tar into `root` (an empty directory).
pub fn extract_layer<R: Read>(reader: R, root: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    let entries = archive.entries().ctx(|| "reading layer tar".to_string())?;
    for entry in entries {
        let mut entry = entry.ctx(|| "reading layer tar".to_string())?;
        let raw = entry.path_bytes().into_owned();
        let Some(rel) = clean_path(&raw)? else {
            // "./": the layer's root directory itself.
            if entry.header().entry_type().is_dir() {
                apply_metadata(&mut entry, root, false)?;
            }
            continue;
        };
        let name = rel
            .file_name()
            .map(OsStr::as_bytes)
            .unwrap_or_default()
            .to_vec();
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();

        if name == OPAQUE_MARKER.as_bytes() {
            let dir = ensure_dir(root, &parent, &raw)?;
            set_xattr(&dir, OVERLAY_OPAQUE_XATTR, b"y")?;
            continue;
        }
        let in_meta_dir = rel
            .components()
            .any(|c| c.as_os_str().as_bytes().starts_with(META_PREFIX.as_bytes()));
        if in_meta_dir {
            // aufs bookkeeping (.wh..wh.plnk/…, .wh..wh.aufs): not content.
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(unsafe_entry(&raw, "invalid whiteout name"));
            }
            let dir = ensure_dir(root, &parent, &raw)?;
            let target = dir.join(OsStr::from_bytes(hidden));
            remove_existing(&target)?;
            make_node(&target, libc::S_IFCHR, 0, 0, 0)?;
            let (uid, gid) = owner(&mut entry)?;
            std::os::unix::fs::lchown(&target, Some(uid), Some(gid)).at(&target)?;
            continue;
        }

        ensure_dir(root, &parent, &raw)?;
        let dest = root.join(&rel);
        let kind = entry.header().entry_type();
        let mode = entry
            .header()
            .mode()
            .ctx(|| format!("mode of {}", rel.display()))?
            & 0o7777;
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                let is_dir = fs::symlink_metadata(&dest)
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                if !is_dir {
                    remove_existing(&dest)?;
                    fs::create_dir(&dest).at(&dest)?;
                }
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_existing(&dest)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest)
                    .at(&dest)?;
                io::copy(&mut entry, &mut f).at(&dest)?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(&raw, "symlink without a target"))?
                    .into_owned();
                remove_existing(&dest)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dest).at(&dest)?;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(&raw, "hardlink without a target"))?
                    .into_owned();
                let Some(target_rel) = clean_path(&target)? else {
                    return Err(unsafe_entry(&raw, "hardlink to the layer root"));
                };
                check_no_symlink_parents(root, &target_rel, &target)?;
                let source = root.join(&target_rel);
                match fs::symlink_metadata(&source) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(unsafe_entry(
                            &raw,
                            "hardlink target is not an earlier file of this layer",
                        ))
                    }
                }
                if source != dest {
                    remove_existing(&dest)?;
                    fs::hard_link(&source, &dest).at(&dest)?;
                }
                // A hardlink shares the target's inode and metadata.
                continue;
            }
            T::Char | T::Block | T::Fifo => {
                let (major, minor) = device_numbers(&entry, &rel)?;
                let fmt = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                remove_existing(&dest)?;
                make_node(&dest, fmt, mode, major, minor)?;
            }
            // Long names and PAX headers are folded into the next entry by
            // the tar reader; anything else is not filesystem content.
            _ => {
                tracing::debug!(path = %rel.display(), ?kind, "skipping layer entry");
                continue;
            }
        }
        let is_dir = kind == T::Directory;
        let mtime = apply_metadata(&mut entry, &dest, kind == T::Symlink)?;
        if is_dir {
            dir_times.push((dest, mtime));
        }
    }
    // Directory times last: creating children changes them.
    for (dir, mtime) in dir_times.iter().rev() {
        set_mtime(dir, *mtime)?;
    }
    Ok(())
}

/// Owner, mode (not for symlinks), xattrs and mtime; returns the mtime.
fn apply_metadata<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    dest: &Path,
    symlink: bool,
) -> Result<i64> {
    let (uid, gid) = owner(entry)?;
    std::os::unix::fs::lchown(dest, Some(uid), Some(gid)).at(dest)?;
    if !symlink {
        let mode = entry
            .header()
            .mode()
            .ctx(|| format!("mode of {}", dest.display()))?
            & 0o7777;
        // After chown, which clears set-id bits.
        fs::set_permissions(dest, fs::Permissions::from_mode(mode)).at(dest)?;
    }
    if let Some(exts) = entry
        .pax_extensions()
        .ctx(|| format!("pax headers of {}", dest.display()))?
    {
        for ext in exts {
            let ext = ext.ctx(|| format!("pax headers of {}", dest.display()))?;
            if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                let name = String::from_utf8_lossy(name).into_owned();
                set_xattr(dest, &name, ext.value_bytes())?;
            }
        }
    }
    let mtime = entry.header().mtime().unwrap_or(0);
    let mtime = i64::try_from(mtime).unwrap_or(0);
    set_mtime(dest, mtime)?;
    Ok(mtime)
}

/// uid/gid from the header, or PAX records for ids too large for it.
fn owner<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<(u32, u32)> {
    let mut uid = entry.header().uid().unwrap_or(0);
    let mut gid = entry.header().gid().unwrap_or(0);
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            let parsed = ext.value().ok().and_then(|v| v.parse::<u64>().ok());
            match (ext.key_bytes(), parsed) {
                (b"uid", Some(v)) => uid = v,
                (b"gid", Some(v)) => gid = v,
                _ => {}
            }
        }
    }
    let uid =
        u32::try_from(uid).map_err(|_| ImageError::invalid(format!("uid {uid} out of range")))?;
    let gid =
        u32::try_from(gid).map_err(|_| ImageError::invalid(format!("gid {gid} out of range")))?;
    Ok((uid, gid))
}

fn device_numbers<R: Read>(entry: &tar::Entry<'_, R>, rel: &Path) -> Result<(u32, u32)> {
    let h = entry.header();
    let major = h
        .device_major()
        .ctx(|| format!("device of {}", rel.display()))?
        .unwrap_or(0);
    let minor = h
        .device_minor()
        .ctx(|| format!("device of {}", rel.display()))?
        .unwrap_or(0);
    Ok((major, minor))
}

/// Normalizes an archive path: drops `/` and `.`, refuses `..`. None for
/// the root itself.
fn clean_path(raw: &[u8]) -> Result<Option<PathBuf>> {
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry(raw, "path contains \"..\"")),
            Component::Prefix(_) => return Err(unsafe_entry(raw, "unexpected path prefix")),
        }
    }
    Ok(if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    })
}

/// Makes sure `root/rel` is a real directory (creating missing ones
/// 0755 root:root like Docker), never passing through a symlink.
fn ensure_dir(root: &Path, rel: &Path, entry: &[u8]) -> Result<PathBuf> {
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(unsafe_entry(entry, "a parent directory is a symlink"))
            }
            Ok(_) => return Err(unsafe_entry(entry, "a parent directory is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&cur).at(&cur)?;
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755)).at(&cur)?;
            }
            Err(e) => return Err(ImageError::io(cur.display().to_string(), e)),
        }
    }
    Ok(cur)
}

fn check_no_symlink_parents(root: &Path, rel: &Path, raw: &[u8]) -> Result<()> {
    let mut cur = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            if fs::symlink_metadata(&cur)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
            {
                return Err(unsafe_entry(raw, "hardlink target goes through a symlink"));
            }
        }
    }
    Ok(())
}

/// Removes whatever is at `p` (later entries replace earlier ones).
fn remove_existing(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).at(p),
        Ok(_) => fs::remove_file(p).at(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImageError::io(p.display().to_string(), e)),
    }
}

fn unsafe_entry(raw: &[u8], why: &str) -> ImageError {
    ImageError::Unsafe {
        path: PathBuf::from(OsStr::from_bytes(raw)),
        why: why.to_string(),
    }
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| ImageError::invalid(format!("path {} has a NUL", p.display())))
}

fn make_node(p: &Path, fmt: libc::mode_t, perm: u32, major: u32, minor: u32) -> Result<()> {
    let c = cpath(p)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: c is a valid NUL-terminated path; mknod has no other inputs.
    let rc = unsafe { libc::mknod(c.as_ptr(), fmt | (perm as libc::mode_t & 0o7777), dev) };
    if rc != 0 {
        return Err(ImageError::io(
            format!("mknod {}", p.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

pub(crate) fn set_xattr(p: &Path, name: &str, value: &[u8]) -> Result<()> {
    let c = cpath(p)?;
    let n = CString::new(name)
        .map_err(|_| ImageError::invalid(format!("xattr name {name:?} has a NUL")))?;
    // SAFETY: valid C strings and a value buffer with its exact length.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(ImageError::io(
            format!("setxattr {name} on {}", p.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn set_mtime(p: &Path, secs: i64) -> Result<()> {
    let c = cpath(p)?;
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid path and a two-element timespec array as utimensat expects.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(ImageError::io(
            format!("utimensat {}", p.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        let ok: &[(&str, Option<&str>)] = &[
            ("./", None),
            ("/", None),
            (".", None),
            ("./etc/passwd", Some("etc/passwd")),
            ("/usr//bin/", Some("usr/bin")),
            ("a/./b", Some("a/b")),
        ];
        for (raw, want) in ok {
            let got = clean_path(raw.as_bytes()).expect("clean");
            assert_eq!(got, want.map(PathBuf::from), "{raw}");
        }
        for bad in ["../x", "a/../../x", "a/.."] {
            let err = clean_path(bad.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(
                err,
                Err(format!(
                    "refusing layer entry {bad:?}: path contains \"..\""
                ))
            );
        }
    }

    #[test]
    fn lowerdirs_are_top_first() {
        let store = LayerStore {
            dir: PathBuf::from("/d/layers"),
        };
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let dirs = store.lowerdirs(&[a.clone(), b.clone()]);
        assert_eq!(dirs, vec![store.path(&b), store.path(&a)]);
        assert_eq!(
            lowerdir_option(&dirs),
            format!("/d/layers/{}:/d/layers/{}", b.hex(), a.hex())
        );
    }
}
