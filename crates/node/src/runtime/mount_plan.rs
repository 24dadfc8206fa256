//! What the container's root filesystem is made of, decided up front as
//! a pure list of steps (golden-tested): the overlay rootfs, /proc, a
//! minimal /dev, /sys, the pod's bind mounts, the kernel paths containerd
//! hides, and the pivot_root. [`secure_join`] resolves a destination
//! inside the rootfs without letting an image's symlinks lead out of it.
//! `mounts.rs` carries the steps out.

use super::config::ContainerConfig;
use super::state::Bundle;
use nix::mount::MsFlags;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// One step of preparing the container's root filesystem. Destinations
/// are paths inside the container; they are resolved under the rootfs
/// when the step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// Keeps every mount made from here on out of the host's namespace.
    MakeRootPrivate,
    Overlay {
        target: PathBuf,
        lowerdir: String,
        upperdir: PathBuf,
        workdir: PathBuf,
        /// Lowerdirs are relative to this directory (long layer lists
        /// would not fit in one page of mount options otherwise).
        relative_to: Option<PathBuf>,
    },
    Filesystem {
        fstype: &'static str,
        destination: &'static str,
        flags: MsFlags,
        data: &'static str,
    },
    /// sysfs read-only, or a read-only bind of the host's /sys when the
    /// kernel refuses a new sysfs mount.
    Sysfs {
        destination: &'static str,
    },
    /// A character device, bind-mounted from the host's /dev when mknod
    /// is not allowed.
    Device {
        destination: &'static str,
        major: u64,
        minor: u64,
    },
    Symlink {
        destination: &'static str,
        target: &'static str,
    },
    Bind {
        source: PathBuf,
        destination: String,
        read_only: bool,
    },
    /// Hides a kernel interface: /dev/null over a file, an empty
    /// read-only tmpfs over a directory; absent paths are skipped.
    Mask {
        destination: &'static str,
    },
    ReadOnly {
        destination: &'static str,
    },
    PivotRoot {
        new_root: PathBuf,
    },
}

const DEV_FLAGS: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_STRICTATIME);
const NOSUID_NOEXEC: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC);
pub(crate) const NOSUID_NODEV_NOEXEC: MsFlags = NOSUID_NOEXEC.union(MsFlags::MS_NODEV);

/// Character devices every container gets (runc's defaults).
const DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("/dev/ptmx", "pts/ptmx"),
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// Paths containerd masks and makes read-only for unprivileged containers.
const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Mount options must fit in one page; stay well below it.
const MAX_MOUNT_DATA: usize = 4000;

/// Everything done to build the container's root, in order.
pub fn mount_plan(cfg: &ContainerConfig, bundle: &Bundle) -> Vec<MountStep> {
    let mut plan = vec![MountStep::MakeRootPrivate, overlay_step(cfg, bundle)];
    let fs = |fstype, destination, flags, data| MountStep::Filesystem {
        fstype,
        destination,
        flags,
        data,
    };
    plan.push(fs("proc", "/proc", NOSUID_NODEV_NOEXEC, ""));
    plan.push(fs("tmpfs", "/dev", DEV_FLAGS, "mode=755,size=65536k"));
    for (destination, major, minor) in DEVICES {
        plan.push(MountStep::Device {
            destination,
            major,
            minor,
        });
    }
    plan.push(fs(
        "devpts",
        "/dev/pts",
        NOSUID_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    ));
    plan.push(fs(
        "tmpfs",
        "/dev/shm",
        NOSUID_NODEV_NOEXEC,
        "mode=1777,size=65536k",
    ));
    plan.push(fs("mqueue", "/dev/mqueue", NOSUID_NODEV_NOEXEC, ""));
    for (destination, target) in DEV_SYMLINKS {
        plan.push(MountStep::Symlink {
            destination,
            target,
        });
    }
    plan.push(MountStep::Sysfs {
        destination: "/sys",
    });
    // Parents before children, as containerd sorts them, so a volume
    // inside another volume is not hidden by it.
    let mut mounts = cfg.mounts.clone();
    mounts.sort_by_key(|m| path_depth(&m.destination));
    for m in mounts {
        plan.push(MountStep::Bind {
            source: m.source,
            destination: m.destination,
            read_only: m.read_only,
        });
    }
    for destination in MASKED {
        plan.push(MountStep::Mask { destination });
    }
    for destination in READ_ONLY {
        plan.push(MountStep::ReadOnly { destination });
    }
    plan.push(MountStep::PivotRoot {
        new_root: bundle.rootfs(),
    });
    plan
}

fn path_depth(p: &str) -> usize {
    Path::new(p)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

fn overlay_step(cfg: &ContainerConfig, bundle: &Bundle) -> MountStep {
    let lowerdirs = if cfg.lowerdirs.is_empty() {
        vec![empty_lowerdir(bundle)]
    } else {
        cfg.lowerdirs.clone()
    };
    let (upperdir, workdir) = (bundle.upper(), bundle.work());
    let absolute = crate::image::unpack::lowerdir_option(&lowerdirs);
    let fixed = "lowerdir=,upperdir=,workdir=".len()
        + upperdir.as_os_str().len()
        + workdir.as_os_str().len();
    let common_parent = lowerdirs[0].parent().filter(|p| {
        lowerdirs
            .iter()
            .all(|l| l.parent() == Some(*p) && l.file_name().is_some())
    });
    let (lowerdir, relative_to) = match common_parent {
        Some(parent) if absolute.len() + fixed > MAX_MOUNT_DATA => {
            let names: Vec<String> = lowerdirs
                .iter()
                .filter_map(|l| l.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            (names.join(":"), Some(parent.to_path_buf()))
        }
        _ => (absolute, None),
    };
    MountStep::Overlay {
        target: bundle.rootfs(),
        lowerdir,
        upperdir,
        workdir,
        relative_to,
    }
}

/// The lowerdir of an image without layers (overlayfs needs one).
pub fn empty_lowerdir(bundle: &Bundle) -> PathBuf {
    bundle.dir().join("empty")
}

fn flag_names(flags: MsFlags) -> String {
    let names = [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_STRICTATIME, "strictatime"),
    ];
    names
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for MountStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountStep::MakeRootPrivate => write!(f, "make / rprivate"),
            MountStep::Overlay {
                target,
                lowerdir,
                upperdir,
                workdir,
                relative_to,
            } => {
                write!(
                    f,
                    "overlay on {} lowerdir={lowerdir} upperdir={} workdir={}",
                    target.display(),
                    upperdir.display(),
                    workdir.display()
                )?;
                if let Some(dir) = relative_to {
                    write!(f, " (lowerdirs relative to {})", dir.display())?;
                }
                Ok(())
            }
            MountStep::Filesystem {
                fstype,
                destination,
                flags,
                data,
            } => {
                write!(f, "{fstype} on {destination} ({}", flag_names(*flags))?;
                if !data.is_empty() {
                    write!(f, ",{data}")?;
                }
                write!(f, ")")
            }
            MountStep::Sysfs { destination } => {
                write!(f, "sysfs on {destination} (ro,nosuid,nodev,noexec)")
            }
            MountStep::Device {
                destination,
                major,
                minor,
            } => write!(f, "device {destination} c {major}:{minor}"),
            MountStep::Symlink {
                destination,
                target,
            } => write!(f, "symlink {destination} -> {target}"),
            MountStep::Bind {
                source,
                destination,
                read_only,
            } => write!(
                f,
                "bind {} on {destination} ({})",
                source.display(),
                if *read_only { "ro" } else { "rw" }
            ),
            MountStep::Mask { destination } => write!(f, "mask {destination}"),
            MountStep::ReadOnly { destination } => write!(f, "read-only {destination}"),
            MountStep::PivotRoot { new_root } => write!(f, "pivot_root {}", new_root.display()),
        }
    }
}

/// Joins `unsafe_path` onto `root` resolving symlinks as if `root` were
/// `/`, so no symlink in the image can point a mount outside the rootfs.
/// `readlink` returns a link's target, or `None` for anything that is not
/// a symlink (including paths that do not exist yet).
pub fn secure_join(
    root: &Path,
    unsafe_path: &str,
    mut readlink: impl FnMut(&Path) -> io::Result<Option<String>>,
) -> io::Result<PathBuf> {
    const MAX_LINKS: usize = 255;
    let mut queue: VecDeque<String> = split_components(unsafe_path);
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = queue.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&part);
        match readlink(&candidate)? {
            Some(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                if target.starts_with('/') {
                    resolved.clear();
                }
                for (i, c) in split_components(&target).into_iter().enumerate() {
                    queue.insert(i, c);
                }
            }
            None => resolved.push(part),
        }
    }
    Ok(resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

fn split_components(p: &str) -> VecDeque<String> {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::Mount;
    use std::collections::HashMap;

    fn config() -> ContainerConfig {
        ContainerConfig {
            lowerdirs: vec![
                "/var/lib/k1s/images/layers/bbb".into(),
                "/var/lib/k1s/images/layers/aaa".into(),
            ],
            mounts: vec![
                Mount {
                    source: "/var/lib/k1s/pods/uid-1/volumes/data/sub".into(),
                    destination: "/data/sub".into(),
                    read_only: false,
                },
                Mount {
                    source: "/var/lib/k1s/pods/uid-1/etc-hosts".into(),
                    destination: "/etc/hosts".into(),
                    read_only: false,
                },
                Mount {
                    source: "/var/lib/k1s/pods/uid-1/volumes/data".into(),
                    destination: "/data".into(),
                    read_only: true,
                },
            ],
            ..ContainerConfig::example()
        }
    }

    const GOLDEN_PLAN: &str = "\
make / rprivate
overlay on /b/rootfs lowerdir=/var/lib/k1s/images/layers/bbb:/var/lib/k1s/images/layers/aaa upperdir=/b/upper workdir=/b/work
proc on /proc (nosuid,nodev,noexec)
tmpfs on /dev (nosuid,strictatime,mode=755,size=65536k)
device /dev/null c 1:3
device /dev/zero c 1:5
device /dev/full c 1:7
device /dev/random c 1:8
device /dev/urandom c 1:9
device /dev/tty c 5:0
devpts on /dev/pts (nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5)
tmpfs on /dev/shm (nosuid,nodev,noexec,mode=1777,size=65536k)
mqueue on /dev/mqueue (nosuid,nodev,noexec)
symlink /dev/ptmx -> pts/ptmx
symlink /dev/fd -> /proc/self/fd
symlink /dev/stdin -> /proc/self/fd/0
symlink /dev/stdout -> /proc/self/fd/1
symlink /dev/stderr -> /proc/self/fd/2
sysfs on /sys (ro,nosuid,nodev,noexec)
bind /var/lib/k1s/pods/uid-1/volumes/data on /data (ro)
bind /var/lib/k1s/pods/uid-1/volumes/data/sub on /data/sub (rw)
bind /var/lib/k1s/pods/uid-1/etc-hosts on /etc/hosts (rw)
mask /proc/acpi
mask /proc/asound
mask /proc/kcore
mask /proc/keys
mask /proc/latency_stats
mask /proc/timer_list
mask /proc/timer_stats
mask /proc/sched_debug
mask /proc/scsi
mask /sys/firmware
mask /sys/devices/virtual/powercap
read-only /proc/bus
read-only /proc/fs
read-only /proc/irq
read-only /proc/sys
read-only /proc/sysrq-trigger
pivot_root /b/rootfs
";

    #[test]
    fn mount_plan_golden() {
        let plan = mount_plan(&config(), &Bundle::new("/b".into()));
        let text: String = plan.iter().map(|s| format!("{s}\n")).collect();
        assert_eq!(text, GOLDEN_PLAN);
    }

    #[test]
    fn long_layer_lists_use_relative_lowerdirs() {
        let mut cfg = config();
        cfg.lowerdirs = (0..60)
            .map(|i| PathBuf::from(format!("/var/lib/k1s/images/layers/{i:064x}")))
            .collect();
        let plan = mount_plan(&cfg, &Bundle::new("/b".into()));
        let MountStep::Overlay {
            lowerdir,
            relative_to,
            ..
        } = &plan[1]
        else {
            panic!("second step is {:?}", plan[1]);
        };
        assert_eq!(
            relative_to.as_deref(),
            Some(Path::new("/var/lib/k1s/images/layers"))
        );
        assert!(lowerdir.starts_with(&format!("{:064x}:{:064x}:", 0, 1)));
        assert!(lowerdir.len() < MAX_MOUNT_DATA);
    }

    #[test]
    fn images_without_layers_get_an_empty_lowerdir() {
        let mut cfg = config();
        cfg.lowerdirs.clear();
        let plan = mount_plan(&cfg, &Bundle::new("/b".into()));
        assert!(matches!(&plan[1], MountStep::Overlay { lowerdir, .. } if lowerdir == "/b/empty"));
    }

    fn fake_fs(links: &[(&str, &str)]) -> impl FnMut(&Path) -> io::Result<Option<String>> {
        let map: HashMap<PathBuf, String> = links
            .iter()
            .map(|(l, t)| (PathBuf::from(l), t.to_string()))
            .collect();
        move |p: &Path| Ok(map.get(p).cloned())
    }

    #[test]
    fn secure_join_keeps_symlinks_inside_the_root() {
        let root = Path::new("/r");
        let join = |p: &str, links: &[(&str, &str)]| secure_join(root, p, fake_fs(links)).unwrap();
        assert_eq!(join("/etc/hosts", &[]), PathBuf::from("/r/etc/hosts"));
        assert_eq!(join("../../etc/x", &[]), PathBuf::from("/r/etc/x"));
        // An absolute link restarts at the container root, not the host's.
        assert_eq!(
            join("/etc/hosts", &[("/r/etc", "/host/etc")]),
            PathBuf::from("/r/host/etc/hosts")
        );
        // A relative link climbing out stops at the root.
        assert_eq!(
            join("/a/b", &[("/r/a", "../../../outside")]),
            PathBuf::from("/r/outside/b")
        );
        assert_eq!(
            join(
                "/dev/ptmx2",
                &[("/r/dev", "./devices/"), ("/r/devices", "real")]
            ),
            PathBuf::from("/r/real/ptmx2")
        );
    }

    #[test]
    fn secure_join_stops_symlink_loops() {
        let err = secure_join(
            Path::new("/r"),
            "/a",
            fake_fs(&[("/r/a", "/b"), ("/r/b", "/a")]),
        )
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }
}
