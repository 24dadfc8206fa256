//! The thin layer that puts volume plans on disk (the only file I/O of the
//! pod rules):
//!
//! - emptyDir and file volumes get their directory under
//!   `<pod_dir>/volumes/<name>` with mode 0777 like the kubelet's emptyDir
//!   (a tmpfs, when planned, is mounted there by the caller first);
//! - file volumes are written like the kubelet's AtomicWriter: the files
//!   go into a fresh `..<timestamp>.<n>` directory, `..data` is swapped to
//!   it with one rename, and each top-level name is a symlink into
//!   `..data/`, so a container never sees a half-written update; an
//!   unchanged payload is left alone;
//! - hostPath volumes get their type check (and the OrCreate creation);
//! - subPath mount sources are created inside their volume and checked
//!   not to escape it through symlinks.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::mounts::MountSpec;
use super::volumes::{
    host_path_check, HostFileKind, HostPathAction, VolumeContent, VolumeError, VolumeFile,
    VolumePlan,
};

const DATA_DIR_NAME: &str = "..data";
const DATA_DIR_TMP_NAME: &str = "..data_tmp";
/// The kubelet's emptyDir directory mode.
const EMPTY_DIR_MODE: u32 = 0o777;

/// Writes every planned volume under `pod_dir`.
pub fn materialize(plans: &[VolumePlan], pod_dir: &Path) -> Result<(), VolumeError> {
    for plan in plans {
        materialize_volume(plan, pod_dir).map_err(|message| VolumeError {
            volume: plan.name.clone(),
            message,
        })?;
    }
    Ok(())
}

fn materialize_volume(plan: &VolumePlan, pod_dir: &Path) -> Result<(), String> {
    let dir = plan.host_dir(pod_dir);
    match &plan.content {
        VolumeContent::EmptyDir => ensure_shared_dir(&dir).map_err(|e| e.to_string()),
        VolumeContent::Files(files) => {
            ensure_shared_dir(&dir).map_err(|e| e.to_string())?;
            write_atomic(&dir, files).map_err(|e| format!("write {}: {e}", dir.display()))
        }
        VolumeContent::HostPath { path, path_type } => {
            let observed = match fs::metadata(path) {
                Ok(meta) => Some(file_kind(&meta)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e.to_string()),
            };
            match host_path_check(path, path_type, observed)? {
                HostPathAction::Nothing => Ok(()),
                HostPathAction::CreateDirectory => create_dir_with_mode(Path::new(path), 0o755),
                HostPathAction::CreateFile => fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|f| f.set_permissions(fs::Permissions::from_mode(0o644)))
                    .map_err(|e| e.to_string()),
            }
        }
    }
}

fn file_kind(meta: &fs::Metadata) -> HostFileKind {
    let t = meta.file_type();
    if t.is_dir() {
        HostFileKind::Directory
    } else if t.is_file() {
        HostFileKind::File
    } else if t.is_socket() {
        HostFileKind::Socket
    } else if t.is_char_device() {
        HostFileKind::CharDevice
    } else if t.is_block_device() {
        HostFileKind::BlockDevice
    } else {
        HostFileKind::Other
    }
}

fn create_dir_with_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| e.to_string())
}

/// The emptyDir directory: created if needed, rwx for everyone (other
/// mode bits, such as a tmpfs's sticky bit, are kept).
fn ensure_shared_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o777 != EMPTY_DIR_MODE {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | EMPTY_DIR_MODE))?;
    }
    Ok(())
}

/// AtomicWriter.Write.
fn write_atomic(dir: &Path, files: &[VolumeFile]) -> io::Result<()> {
    let data_link = dir.join(DATA_DIR_NAME);
    let old_ts = fs::read_link(&data_link).ok();
    if let Some(old) = &old_ts {
        if payload_matches(&dir.join(old), files)? {
            return Ok(());
        }
    }
    let old_visible = old_ts
        .as_ref()
        .map(|old| top_level_names(&dir.join(old)))
        .transpose()?
        .unwrap_or_default();

    let ts_name = new_timestamp_dir(dir)?;
    let ts_dir = dir.join(&ts_name);
    for file in files {
        let target = ts_dir.join(&file.relative_path);
        if let Some(parent) = target.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        fs::write(&target, &file.bytes)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode))?;
    }

    let tmp_link = dir.join(DATA_DIR_TMP_NAME);
    match fs::remove_file(&tmp_link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(&ts_name, &tmp_link)?;
    fs::rename(&tmp_link, &data_link)?;

    let visible: BTreeSet<String> = files
        .iter()
        .filter_map(|f| first_component(&f.relative_path))
        .collect();
    for name in &visible {
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_DIR_NAME).join(name), &path)?;
        }
    }
    for name in old_visible.difference(&visible) {
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(&path)?;
        }
    }
    if let Some(old) = old_ts {
        if old != ts_name {
            match fs::remove_dir_all(dir.join(old)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

fn first_component(path: &str) -> Option<String> {
    match Path::new(path).components().next() {
        Some(Component::Normal(c)) => Some(c.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// `..2006_01_02_15_04_05.<n>` like os.MkdirTemp with the kubelet's prefix.
fn new_timestamp_dir(dir: &Path) -> io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("..%Y_%m_%d_%H_%M_%S");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().rotate_left(16);
    for attempt in 0u32..16 {
        let name = PathBuf::from(format!(
            "{stamp}.{}",
            seed.wrapping_add(attempt.wrapping_mul(7919))
        ));
        match fs::DirBuilder::new().mode(0o700).create(dir.join(&name)) {
            Ok(()) => {
                // 0755 whatever the umask, so every user can walk the tree.
                fs::set_permissions(dir.join(&name), fs::Permissions::from_mode(0o755))?;
                return Ok(name);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free timestamp directory name",
    ))
}

/// Whether the files under `ts_dir` are exactly the payload.
fn payload_matches(ts_dir: &Path, files: &[VolumeFile]) -> io::Result<bool> {
    let mut on_disk = Vec::new();
    if collect_files(ts_dir, Path::new(""), &mut on_disk).is_err() {
        return Ok(false);
    }
    on_disk.sort();
    let mut wanted: Vec<PathBuf> = files
        .iter()
        .map(|f| PathBuf::from(&f.relative_path))
        .collect();
    wanted.sort();
    if on_disk != wanted {
        return Ok(false);
    }
    for file in files {
        let path = ts_dir.join(&file.relative_path);
        let meta = fs::metadata(&path)?;
        if meta.permissions().mode() & 0o7777 != file.mode || fs::read(&path)? != file.bytes {
            return Ok(false);
        }
    }
    Ok(true)
}

fn collect_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            collect_files(root, &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

fn top_level_names(ts_dir: &Path) -> io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    match fs::read_dir(ts_dir) {
        Ok(entries) => {
            for entry in entries {
                names.insert(entry?.file_name().to_string_lossy().into_owned());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(names)
}

/// A mount with its source as an absolute host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMount {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// Resolves mount sources against `pod_dir`; subPath sources are created
/// inside their volume when missing (with the volume directory's mode) and
/// must not lead out of it, like the kubelet's SafeMakeDir and
/// PrepareSafeSubpath.
pub fn resolve_mount_sources(
    mounts: &[MountSpec],
    pod_dir: &Path,
    container: &str,
) -> Result<Vec<ResolvedMount>, String> {
    let mut out = Vec::with_capacity(mounts.len());
    for mount in mounts {
        let mut source = mount.source_path(pod_dir);
        if let Some(of) = &mount.sub_path_of {
            let volume_dir = pod_dir.join(&of.volume_dir);
            let escaped = || {
                format!(
                    "failed to prepare subPath for volumeMount {:?} of container {container:?}",
                    of.volume
                )
            };
            let root = volume_dir.canonicalize().map_err(|_| escaped())?;
            if fs::symlink_metadata(&source).is_err() {
                let existing = nearest_existing(&source);
                let inside = existing.canonicalize().map_err(|_| escaped())?;
                if !inside.starts_with(&root) {
                    return Err(escaped());
                }
                let mode = fs::metadata(&root)
                    .map_err(|_| escaped())?
                    .permissions()
                    .mode()
                    & 0o7777;
                make_dirs_with_mode(&existing, &source, mode).map_err(|_| {
                    format!(
                        "failed to create subPath directory for volumeMount {:?} of container {container:?}",
                        of.volume
                    )
                })?;
            }
            source = source.canonicalize().map_err(|_| escaped())?;
            if !source.starts_with(&root) {
                return Err(escaped());
            }
        }
        out.push(ResolvedMount {
            source,
            destination: mount.destination.clone(),
            read_only: mount.read_only,
        });
    }
    Ok(out)
}

/// Creates the directories from below `existing` down to `target`, each
/// chmod-ed to `mode` (mkdir alone would apply the umask).
fn make_dirs_with_mode(existing: &Path, target: &Path, mode: u32) -> io::Result<()> {
    let rest = target.strip_prefix(existing).map_err(io::Error::other)?;
    let mut cur = existing.to_path_buf();
    for part in rest.components() {
        cur.push(part);
        fs::create_dir(&cur)?;
        fs::set_permissions(&cur, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn nearest_existing(path: &Path) -> PathBuf {
    let mut cur = path.to_path_buf();
    while fs::symlink_metadata(&cur).is_err() {
        if !cur.pop() {
            break;
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::mounts::SubPathOf;
    use crate::pod::volumes::HostPathType;

    fn plan(name: &str, content: VolumeContent) -> VolumePlan {
        VolumePlan {
            name: name.into(),
            content,
            memory_backed: false,
            size_limit: None,
            read_only: true,
            warnings: vec![],
        }
    }

    fn file(path: &str, bytes: &str, mode: u32) -> VolumeFile {
        VolumeFile {
            relative_path: path.into(),
            bytes: bytes.as_bytes().to_vec(),
            mode,
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn files_volume_layout_and_update() {
        let tmp = tempfile::tempdir().unwrap();
        let pod_dir = tmp.path();
        let v1 = plan(
            "config",
            VolumeContent::Files(vec![
                file("game.properties", "lives=3\n", 0o644),
                file("conf/ui", "color=purple\n", 0o400),
                file("old", "x", 0o644),
            ]),
        );
        materialize(std::slice::from_ref(&v1), pod_dir).unwrap();
        let dir = pod_dir.join("volumes/config");
        assert_eq!(mode(&dir), 0o777);
        assert_eq!(
            fs::read_to_string(dir.join("game.properties")).unwrap(),
            "lives=3\n"
        );
        assert_eq!(
            fs::read_to_string(dir.join("conf/ui")).unwrap(),
            "color=purple\n"
        );
        assert_eq!(
            fs::read_link(dir.join("game.properties")).unwrap(),
            Path::new("..data/game.properties")
        );
        assert_eq!(
            fs::read_link(dir.join("conf")).unwrap(),
            Path::new("..data/conf")
        );
        let ts = fs::read_link(dir.join("..data")).unwrap();
        assert!(ts.to_string_lossy().starts_with("..20"), "{ts:?}");
        assert_eq!(mode(&dir.join(&ts)), 0o755);
        assert_eq!(mode(&dir.join(&ts).join("conf/ui")), 0o400);

        // Same payload: nothing is rewritten.
        materialize(std::slice::from_ref(&v1), pod_dir).unwrap();
        assert_eq!(fs::read_link(dir.join("..data")).unwrap(), ts);

        // New payload: ..data swaps, removed keys disappear, old dir goes.
        let v2 = plan(
            "config",
            VolumeContent::Files(vec![
                file("game.properties", "lives=5\n", 0o644),
                file("conf/ui", "color=red\n", 0o400),
            ]),
        );
        materialize(&[v2], pod_dir).unwrap();
        let ts2 = fs::read_link(dir.join("..data")).unwrap();
        assert_ne!(ts, ts2);
        assert_eq!(
            fs::read_to_string(dir.join("game.properties")).unwrap(),
            "lives=5\n"
        );
        assert!(fs::symlink_metadata(dir.join("old")).is_err());
        assert!(!dir.join(&ts).exists());
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want = vec![
            "..data".to_string(),
            ts2.to_string_lossy().into_owned(),
            "conf".into(),
            "game.properties".into(),
        ];
        want.sort();
        assert_eq!(names, want);
    }

    #[test]
    fn empty_dirs_and_host_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("a-file"), "x").unwrap();
        let p = |name: &str, path: &Path, t: HostPathType| {
            plan(
                name,
                VolumeContent::HostPath {
                    path: path.display().to_string(),
                    path_type: t,
                },
            )
        };
        let pod_dir = tmp.path().join("pod");
        materialize(
            &[
                plan("cache", VolumeContent::EmptyDir),
                p(
                    "mk",
                    &host.join("made/deep"),
                    HostPathType::DirectoryOrCreate,
                ),
                p("mf", &host.join("made-file"), HostPathType::FileOrCreate),
                p("f", &host.join("a-file"), HostPathType::File),
            ],
            &pod_dir,
        )
        .unwrap();
        assert_eq!(mode(&pod_dir.join("volumes/cache")), 0o777);
        assert!(host.join("made/deep").is_dir());
        assert!(host.join("made-file").is_file());
        let err = materialize(
            &[p("d", &host.join("a-file"), HostPathType::Directory)],
            &pod_dir,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "MountVolume.SetUp failed for volume \"d\" : hostPath type check failed: {} is not a directory",
                host.join("a-file").display()
            )
        );
    }

    #[test]
    fn sub_path_sources_stay_inside_their_volume() {
        let tmp = tempfile::tempdir().unwrap();
        let pod_dir = tmp.path();
        fs::create_dir_all(pod_dir.join("volumes/data")).unwrap();
        fs::set_permissions(
            pod_dir.join("volumes/data"),
            fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        std::os::unix::fs::symlink("/", pod_dir.join("volumes/data/escape")).unwrap();
        let m = |sub: &str| MountSpec {
            source_relative_or_abs: Path::new("volumes/data").join(sub),
            destination: "/x".into(),
            read_only: false,
            sub_path_of: Some(SubPathOf {
                volume: "data".into(),
                volume_dir: "volumes/data".into(),
            }),
        };
        let plain = MountSpec {
            source_relative_or_abs: "etc-hosts".into(),
            destination: "/etc/hosts".into(),
            read_only: false,
            sub_path_of: None,
        };
        let got = resolve_mount_sources(&[m("logs/web-0"), plain], pod_dir, "app").unwrap();
        let created = pod_dir.join("volumes/data/logs/web-0");
        assert!(created.is_dir());
        assert_eq!(mode(&created), 0o777);
        assert_eq!(got[0].source, created.canonicalize().unwrap());
        assert_eq!(got[1].source, pod_dir.join("etc-hosts"));
        assert_eq!(
            resolve_mount_sources(&[m("escape/etc")], pod_dir, "app").unwrap_err(),
            "failed to prepare subPath for volumeMount \"data\" of container \"app\""
        );
        assert!(resolve_mount_sources(&[m("escape/newdir")], pod_dir, "app").is_err());
        assert!(!Path::new("/newdir").exists());
    }
}
