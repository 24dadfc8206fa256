//! Network namespaces as files, and worker threads that live in them.
//!
//! A pod's namespace is pinned by bind-mounting the creating thread's
//! `/proc/thread-self/ns/net` onto DATA_DIR/netns/<uid>, as `ip netns add`
//! does under /run/netns. Namespace membership is per thread, so every
//! kernel operation runs on a short-lived thread that first joins the right
//! namespace; netlink sockets it opens stay bound to the namespace they were
//! created in, which lets one thread talk to the node and a pod at once.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{statfs, NSFS_MAGIC};

use super::error::{io_error, NetError};

const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// A handle on the network namespace of the calling thread.
pub(crate) fn current() -> Result<Arc<File>, NetError> {
    File::open(THREAD_NETNS)
        .map(Arc::new)
        .map_err(io_error(format!("opening {THREAD_NETNS}")))
}

/// Whether `path` has a network namespace mounted on it.
pub(crate) fn is_pinned(path: &Path) -> bool {
    statfs(path).is_ok_and(|fs| fs.filesystem_type() == NSFS_MAGIC)
}

/// Moves the calling thread into the namespace `ns`.
pub(crate) fn join(ns: &File) -> Result<(), NetError> {
    setns(ns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| io_error("joining network namespace")(io::Error::from(e)))
}

/// Moves the calling thread into the namespace pinned at `path`.
pub(crate) fn enter(path: &Path) -> Result<(), NetError> {
    let file = File::open(path).map_err(io_error(format!("opening {}", path.display())))?;
    join(&file)
}

/// Creates a network namespace, pins it at `path` and leaves the calling
/// thread inside it. Only for worker threads: the thread stays changed.
pub(crate) fn create_here(path: &Path) -> Result<(), NetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
    }
    // Mode 0 like `ip netns add`: the file is only a mount point.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o000)
        .open(path)
        .map_err(io_error(format!("creating {}", path.display())))?;
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| io_error("creating network namespace")(io::Error::from(e)))?;
    mount(
        Some(THREAD_NETNS),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| io_error(format!("pinning network namespace at {}", path.display()))(e.into()))
}

/// Unpins and deletes the namespace file; fine if it is already gone.
/// The namespace itself dies once no process is left in it.
pub(crate) fn remove(path: &Path) -> Result<(), NetError> {
    // A repair may have stacked a second mount on the file; unmount all.
    for _ in 0..8 {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => break,
            Err(e) => {
                return Err(io_error(format!("unmounting {}", path.display()))(e.into()));
            }
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(format!("removing {}", path.display()))(e)),
    }
}

/// Pod uids that have a namespace file under `dir`.
pub(crate) fn list(dir: &Path) -> Result<Vec<String>, NetError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("listing {}", dir.display()))(e)),
    };
    let mut uids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(format!("listing {}", dir.display())))?;
        if let Some(name) = entry.file_name().to_str() {
            uids.push(name.to_string());
        }
    }
    uids.sort();
    Ok(uids)
}

/// Runs `job` on a fresh thread that first joins `ns`, and awaits it. The
/// thread ends with the job, so whatever namespace it wandered into dies
/// with it and no other thread is affected.
pub(crate) async fn run_in<T, F>(ns: Arc<File>, job: F) -> Result<T, NetError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("k1s-net".into())
        .spawn(move || {
            let result = join(&ns).and_then(|()| job());
            // The receiver is gone only if the caller stopped waiting.
            let _ = tx.send(result);
        })
        .map_err(io_error("starting network worker thread"))?;
    rx.await
        .map_err(|_| NetError::Worker("network worker thread panicked".into()))?
}

/// Runs `fut` to completion on a single-threaded runtime owned by the
/// calling (worker) thread, so netlink sockets stay on that thread.
pub(crate) fn block_on<T>(
    fut: impl std::future::Future<Output = Result<T, NetError>>,
) -> Result<T, NetError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(io_error("starting netlink runtime"))?;
    rt.block_on(fut)
}
