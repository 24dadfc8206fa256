//! Carries out the mount plan inside the container's fresh mount
//! namespace (in the forked child, before the exec). Every destination is
//! resolved with [`secure_join`]; failures read like runc's.

use super::container::{go_errno, io_errno};
use super::mount_plan::{secure_join, MountStep, NOSUID_NODEV_NOEXEC};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

fn real_readlink(p: &Path) -> io::Result<Option<String>> {
    match fs::read_link(p) {
        Ok(t) => Ok(Some(t.to_string_lossy().into_owned())),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::EINVAL)
                || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn in_rootfs(rootfs: &Path, destination: &str) -> Result<PathBuf, String> {
    secure_join(rootfs, destination, real_readlink)
        .map_err(|e| format!("resolving {destination:?} in the rootfs: {}", io_errno(&e)))
}

fn mount_error(source: &str, destination: &str, e: Errno) -> String {
    format!(
        "error mounting {source:?} to rootfs at {destination:?}: {}",
        go_errno(e)
    )
}

fn ensure_dir(p: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o755).create(p)
}

fn ensure_file(p: &Path) -> io::Result<()> {
    if let Some(parent) = p.parent() {
        ensure_dir(parent)?;
    }
    match fs::symlink_metadata(p) {
        Ok(_) => Ok(()),
        Err(_) => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(p)
            .map(drop),
    }
}

fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(source, target, fstype, flags, data)
}

pub(crate) fn apply_step(step: &MountStep, rootfs: &Path) -> Result<(), String> {
    match step {
        MountStep::MakeRootPrivate => mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        )
        .map_err(|e| format!("making / private: {}", go_errno(e))),
        MountStep::Overlay {
            target,
            lowerdir,
            upperdir,
            workdir,
            relative_to,
        } => {
            if let Some(dir) = relative_to {
                nix::unistd::chdir(dir).map_err(|e| {
                    format!(
                        "chdir to layer directory {}: {}",
                        dir.display(),
                        go_errno(e)
                    )
                })?;
            }
            let data = format!(
                "lowerdir={lowerdir},upperdir={},workdir={}",
                upperdir.display(),
                workdir.display()
            );
            mount(
                Some(Path::new("overlay")),
                target,
                Some("overlay"),
                MsFlags::empty(),
                Some(&data),
            )
            .map_err(|e| {
                format!(
                    "mounting the overlay rootfs on {}: {}",
                    target.display(),
                    go_errno(e)
                )
            })
        }
        MountStep::Filesystem {
            fstype,
            destination,
            flags,
            data,
        } => {
            let target = in_rootfs(rootfs, destination)?;
            ensure_dir(&target)
                .map_err(|e| format!("creating mountpoint {destination:?}: {}", io_errno(&e)))?;
            let data = (!data.is_empty()).then_some(*data);
            mount(Some(Path::new(fstype)), &target, Some(fstype), *flags, data)
                .map_err(|e| mount_error(fstype, destination, e))
        }
        MountStep::Sysfs { destination } => {
            let target = in_rootfs(rootfs, destination)?;
            ensure_dir(&target)
                .map_err(|e| format!("creating mountpoint {destination:?}: {}", io_errno(&e)))?;
            let flags = NOSUID_NODEV_NOEXEC | MsFlags::MS_RDONLY;
            if mount(
                Some(Path::new("sysfs")),
                &target,
                Some("sysfs"),
                flags,
                None,
            )
            .is_ok()
            {
                return Ok(());
            }
            bind(Path::new("/sys"), &target, true, true)
                .map_err(|e| mount_error("/sys", destination, e))
        }
        MountStep::Device {
            destination,
            major,
            minor,
        } => {
            let target = in_rootfs(rootfs, destination)?;
            make_device(&target, destination, *major, *minor)
        }
        MountStep::Symlink {
            destination,
            target,
        } => {
            let link = in_rootfs(rootfs, destination)?;
            match std::os::unix::fs::symlink(target, &link) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(format!(
                    "symlink {destination} -> {target}: {}",
                    io_errno(&e)
                )),
                _ => Ok(()),
            }
        }
        MountStep::Bind {
            source,
            destination,
            read_only,
        } => {
            let target = in_rootfs(rootfs, destination)?;
            let src = source.display().to_string();
            let meta = fs::metadata(source).map_err(|e| {
                format!(
                    "error mounting {src:?} to rootfs at {destination:?}: stat {src}: {}",
                    io_errno(&e)
                )
            })?;
            let created = if meta.is_dir() {
                ensure_dir(&target)
            } else {
                ensure_file(&target)
            };
            created
                .map_err(|e| format!("creating mountpoint {destination:?}: {}", io_errno(&e)))?;
            bind(source, &target, *read_only, true).map_err(|e| mount_error(&src, destination, e))
        }
        MountStep::Mask { destination } => {
            let target = in_rootfs(rootfs, destination)?;
            match fs::metadata(&target) {
                Err(_) => Ok(()),
                Ok(m) if m.is_dir() => mount(
                    Some(Path::new("tmpfs")),
                    &target,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None,
                )
                .map_err(|e| format!("masking {destination}: {}", go_errno(e))),
                Ok(_) => bind(Path::new("/dev/null"), &target, false, false)
                    .map_err(|e| format!("masking {destination}: {}", go_errno(e))),
            }
        }
        MountStep::ReadOnly { destination } => {
            let target = in_rootfs(rootfs, destination)?;
            if fs::symlink_metadata(&target).is_err() {
                return Ok(());
            }
            bind(&target, &target, true, true)
                .map_err(|e| format!("making {destination} read-only: {}", go_errno(e)))
        }
        MountStep::PivotRoot { new_root } => pivot_root(new_root),
    }
}

/// A bind mount, made read-only with the remount a bind needs for that.
fn bind(source: &Path, target: &Path, read_only: bool, recursive: bool) -> nix::Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(source), target, None, flags, None)?;
    if read_only {
        mount(
            None,
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    Ok(())
}

fn make_device(target: &Path, destination: &str, major: u64, minor: u64) -> Result<(), String> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let mode = Mode::from_bits_truncate(0o666);
    match mknod(target, SFlag::S_IFCHR, mode, makedev(major, minor)) {
        Ok(()) => {
            // mknod honours the umask; devices are world read-write.
            let _ = nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                target,
                mode,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            );
            Ok(())
        }
        Err(Errno::EPERM) | Err(Errno::EACCES) => {
            ensure_file(target).map_err(|e| format!("creating {destination}: {}", io_errno(&e)))?;
            bind(Path::new(destination), target, false, false)
                .map_err(|e| mount_error(destination, destination, e))
        }
        Err(e) => Err(format!("mknod {destination}: {}", go_errno(e))),
    }
}

/// pivot_root(".", ".") then detaching the old root, as runc does: no
/// directory for the old root is needed in the image.
fn pivot_root(new_root: &Path) -> Result<(), String> {
    let err = |what: &str, e: Errno| {
        format!("pivot_root {}: {what}: {}", new_root.display(), go_errno(e))
    };
    nix::unistd::chdir(new_root).map_err(|e| err("chdir", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| err("pivot_root", e))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| err("unmounting the old root", e))?;
    nix::unistd::chdir("/").map_err(|e| err("chdir /", e))
}
