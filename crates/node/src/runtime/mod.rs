//! The container runtime: what containerd + runc do for the kubelet.
//!
//! Each container is a bundle `DATA_DIR/containers/<id>/` supervised by
//! its own shim process (`k1s __shim <bundle>`, see [`shim`]) that outlives
//! k1s, so containers keep running across k1s restarts and are adopted
//! again through [`Runtime::list`]. The container process itself is set
//! up in [`container`]; cgroups in [`cgroup`]; on-disk records in [`state`].

pub mod attach_client;
pub mod attach_proto;
mod attach_server;
pub mod cgroup;
pub mod config;
mod console;
pub mod container;
pub mod exec;
pub mod mount_plan;
mod mounts;
mod pidfd;
pub mod portconnect;
pub mod shim;
pub mod state;

pub use config::{ContainerConfig, Limits, Mount};
pub use exec::exec_main;
pub use nix::sys::signal::Signal;
pub use shim::shim_main;

use cgroup::Cgroups;
use chrono::{DateTime, Utc};
use pidfd::PidFd;
use shim::{SyncMessage, SHIM_ARG, SYNC_FD};
use state::{
    is_container_id, new_container_id, write_json_atomic, Bundle, ExitRecord, ProcessRecord,
    StartedRecord, CONTAINERS_DIR,
};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `start` waits for the shim to report the exec.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGKILLed process may take to be gone.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the shim may take to record an exit once the container is gone.
const SHIM_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A container that started (its command exec'd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub pid: i32,
    pub started_at: DateTime<Utc>,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// 128+N when killed by signal N (like runc); 255 when nobody saw the
    /// exit (its shim died first).
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// `None` when the container never started.
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub oom_killed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The shim is still setting the container up.
    Created,
    Running {
        pid: i32,
        started_at: DateTime<Utc>,
    },
    Exited(ExitInfo),
}

/// One bundle as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub config: ContainerConfig,
    pub state: State,
}

/// Why a container did not start. `Display` gives the message containerd
/// returns to the kubelet (which reports reason `StartError`, exit 128).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    detail: String,
    init: bool,
}

impl StartError {
    fn internal(detail: impl Into<String>) -> StartError {
        StartError {
            detail: detail.into(),
            init: false,
        }
    }

    /// runc's own words, e.g. `exec: "nope": executable file not found in $PATH`.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// True when the container's setup or exec failed (the user's
    /// mistake, like a missing command), false for node-side failures.
    pub fn is_init_failure(&self) -> bool {
        self.init
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.init {
            write!(
                f,
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: \
                 runc create failed: unable to start container process: error during container init: {}: unknown",
                self.detail
            )
        } else {
            write!(f, "failed to start container: {}", self.detail)
        }
    }
}

impl std::error::Error for StartError {}

fn not_found(id: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("container {id} not found"))
}

#[derive(Debug, Clone)]
pub struct Runtime {
    data_dir: PathBuf,
    containers: PathBuf,
    exe: PathBuf,
    cgroups: Cgroups,
}

impl Runtime {
    /// `exe` is the binary to re-exec as `exe __shim <bundle>` (the k1s
    /// binary itself in production).
    pub fn new(data_dir: &Path, exe: PathBuf) -> io::Result<Runtime> {
        let containers = data_dir.join(CONTAINERS_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&containers)?;
        Ok(Runtime {
            data_dir: data_dir.to_path_buf(),
            containers,
            exe,
            cgroups: Cgroups::detect(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn bundle(&self, id: &str) -> io::Result<Bundle> {
        if !is_container_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{id:?} is not a container id"),
            ));
        }
        Ok(Bundle::new(self.containers.join(id)))
    }

    fn existing_bundle(&self, id: &str) -> io::Result<Bundle> {
        let b = self.bundle(id)?;
        if !b.dir().is_dir() {
            return Err(not_found(id));
        }
        Ok(b)
    }

    /// The bundle directory of `id` (it may not exist). An id that is not
    /// one of ours maps to a name no bundle has, never outside the dir.
    pub(crate) fn bundle_dir(&self, id: &str) -> PathBuf {
        match self.bundle(id) {
            Ok(b) => b.dir().to_path_buf(),
            Err(_) => self.containers.join(".not-a-container-id"),
        }
    }

    /// The container's config.json.
    pub(crate) fn read_config(&self, id: &str) -> io::Result<ContainerConfig> {
        self.existing_bundle(id)?.read_config()
    }

    /// The pid (in k1s' pid namespace) of the container's init process
    /// while it runs; `None` once it exited or before it started.
    pub(crate) fn container_pid(&self, id: &str) -> io::Result<Option<i32>> {
        let b = self.existing_bundle(id)?;
        Ok(b.read_started()?
            .map(|s| s.process())
            .filter(|p| p.is_running())
            .map(|p| p.pid))
    }

    /// The shim's attach socket (see [`attach_proto`]). Its path can be
    /// longer than a unix socket address allows: connect through
    /// `/proc/self/fd/<dirfd>/attach.sock` when it is.
    pub(crate) fn attach_socket(&self, id: &str) -> io::Result<PathBuf> {
        Ok(self.bundle(id)?.attach_socket())
    }

    /// The binary this runtime re-execs for helpers.
    pub(crate) fn exe(&self) -> &Path {
        &self.exe
    }

    /// `cgroup.procs` files of the container's cgroups (for processes
    /// exec'd into it).
    pub(crate) fn cgroup_procs_files(&self, id: &str) -> io::Result<Vec<PathBuf>> {
        let cfg = self.read_config(id)?;
        self.cgroups.procs_files(&cfg.pod_uid, id)
    }

    /// Creates the bundle and starts the container; returns once its
    /// command exec'd. On failure nothing is left behind.
    pub async fn start(&self, cfg: &ContainerConfig) -> Result<Container, StartError> {
        let rt = self.clone();
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || rt.start_blocking(&cfg))
            .await
            .map_err(|e| StartError::internal(format!("start task: {e}")))?
    }

    fn start_blocking(&self, cfg: &ContainerConfig) -> Result<Container, StartError> {
        // The log exists once the container has started, like containerd's:
        // `kubectl logs` right after the start finds it.
        crate::logs::writer::open_log_file(&cfg.log_path).map_err(|e| {
            StartError::internal(format!("creating log {}: {e}", cfg.log_path.display()))
        })?;
        let id =
            new_container_id().map_err(|e| StartError::internal(format!("container id: {e}")))?;
        let bundle = Bundle::new(self.containers.join(&id));
        let result = create_bundle(&bundle, cfg)
            .map_err(|e| {
                StartError::internal(format!("creating bundle {}: {e}", bundle.dir().display()))
            })
            .and_then(|()| self.spawn_shim(&bundle));
        match result {
            Ok((pid, started_at)) => Ok(Container {
                id,
                pid,
                started_at,
            }),
            Err(e) => {
                if let Err(cleanup) = self.remove_blocking(&id) {
                    tracing::warn!(id, error = %cleanup, "cleaning up after a failed start");
                }
                Err(e)
            }
        }
    }

    fn spawn_shim(&self, bundle: &Bundle) -> Result<(i32, DateTime<Utc>), StartError> {
        let internal = |what: &str, e: io::Error| StartError::internal(format!("{what}: {e}"));
        let (sync_read, sync_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| internal("sync pipe", e.into()))?;
        let raw = sync_write.as_raw_fd();
        let mut cmd = Command::new(&self.exe);
        cmd.arg(SHIM_ARG)
            .arg(bundle.dir())
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let rc = if raw == SYNC_FD {
                    libc::fcntl(raw, libc::F_SETFD, 0)
                } else {
                    libc::dup2(raw, SYNC_FD)
                };
                if rc < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| internal(&format!("running {} {SHIM_ARG}", self.exe.display()), e))?;
        drop(sync_write);
        // The first shim process only forks the real one and exits.
        child
            .wait()
            .map_err(|e| internal("waiting for the shim", e))?;
        let reply = read_until_eof(sync_read, START_TIMEOUT)
            .map_err(|e| internal("reading the shim's report", e))?;
        let Some(reply) = reply else {
            self.kill_bundle_processes(bundle);
            return Err(StartError::internal(format!(
                "the shim did not report within {}s",
                START_TIMEOUT.as_secs()
            )));
        };
        let line = reply.split(|&b| b == b'\n').next().unwrap_or_default();
        match serde_json::from_slice::<SyncMessage>(line) {
            Ok(SyncMessage::Started { pid, started_at }) => Ok((pid, started_at)),
            Ok(SyncMessage::Failed { message, init }) => Err(StartError {
                detail: message,
                init,
            }),
            Err(_) => Err(StartError::internal(format!(
                "the shim exited without reporting: {}",
                fs::read_to_string(bundle.shim_log())
                    .unwrap_or_default()
                    .trim()
            ))),
        }
    }

    /// Waits for the container to exit (also for containers started by a
    /// previous k1s).
    pub async fn wait(&self, id: &str) -> io::Result<ExitInfo> {
        let bundle = self.existing_bundle(id)?;
        let started = bundle.read_started()?;
        if let Some(exit) = bundle.read_exit()? {
            return Ok(exit_info(started.as_ref(), exit));
        }
        if let Some(s) = &started {
            if let Some(fd) = PidFd::open_verified(&s.process())? {
                fd.exited().await?;
            }
        }
        // The shim records the exit and then exits itself.
        if let Some(shim) = bundle.read_shim()? {
            if let Some(fd) = PidFd::open_verified(&shim)? {
                if started.is_some() {
                    let _ = tokio::time::timeout(SHIM_EXIT_TIMEOUT, fd.exited()).await;
                } else {
                    fd.exited().await?;
                }
            }
        }
        let started = bundle.read_started()?;
        match bundle.read_exit()? {
            Some(exit) => Ok(exit_info(started.as_ref(), exit)),
            None => Ok(record_unknown_exit(&bundle, started.as_ref())),
        }
    }

    /// Sends `signal` to the container's init process; a container that
    /// is not running is left alone.
    pub fn kill(&self, id: &str, signal: Signal) -> io::Result<()> {
        let bundle = self.existing_bundle(id)?;
        if let Some(s) = bundle.read_started()? {
            if let Some(fd) = PidFd::open_verified(&s.process())? {
                fd.signal(signal)?;
            }
        }
        Ok(())
    }

    /// SIGTERM, up to `grace` for the container to exit, then SIGKILL (a
    /// zero grace kills at once), as the kubelet stops containers.
    pub async fn stop(&self, id: &str, grace: Duration) -> io::Result<ExitInfo> {
        if !grace.is_zero() {
            self.kill(id, Signal::SIGTERM)?;
            if let Ok(exit) = tokio::time::timeout(grace, self.wait(id)).await {
                return exit;
            }
        }
        self.kill(id, Signal::SIGKILL)?;
        tokio::time::timeout(KILL_TIMEOUT + SHIM_EXIT_TIMEOUT, self.wait(id))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("container {id} did not exit after SIGKILL"),
                )
            })?
    }

    /// Kills what still runs, then deletes the bundle and the cgroups.
    /// Removing a container that is not there succeeds.
    pub async fn remove(&self, id: &str) -> io::Result<()> {
        let rt = self.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || rt.remove_blocking(&id))
            .await
            .map_err(io::Error::other)?
    }

    fn remove_blocking(&self, id: &str) -> io::Result<()> {
        let bundle = self.bundle(id)?;
        if !bundle.dir().exists() {
            return Ok(());
        }
        let cfg = bundle.read_config().ok();
        self.kill_bundle_processes(&bundle);
        destroy_bundle(&bundle, cfg.as_ref(), &self.cgroups)
    }

    /// SIGKILLs the container, its shim and anything left in its cgroups,
    /// and waits (bounded) for them to be gone.
    fn kill_bundle_processes(&self, bundle: &Bundle) {
        kill_bundle_processes(bundle, &self.cgroups);
    }

    /// The state of one container.
    pub fn state(&self, id: &str) -> io::Result<State> {
        bundle_state(&self.existing_bundle(id)?)
    }

    /// Every bundle with its config and state, for adopting containers
    /// after a restart. Judging a state records the exit of a container
    /// whose shim is gone, so this is for when nothing is being started.
    pub fn list(&self) -> io::Result<Vec<ContainerInfo>> {
        let mut out = Vec::new();
        for (id, bundle, config) in self.configured_bundles()? {
            let state = bundle_state(&bundle)?;
            out.push(ContainerInfo { id, config, state });
        }
        Ok(out)
    }

    /// The ids of pod `pod_uid`'s containers, from their configs alone.
    /// Unlike [`Runtime::list`] it judges no state, so it never takes a
    /// container another pod is starting right now (config written, shim
    /// not yet up) for one whose shim died.
    pub fn ids_of_pod(&self, pod_uid: &str) -> io::Result<Vec<String>> {
        Ok(self
            .configured_bundles()?
            .into_iter()
            .filter(|(_, _, config)| config.pod_uid == pod_uid)
            .map(|(id, _, _)| id)
            .collect())
    }

    /// Every bundle that has a config, by id.
    fn configured_bundles(&self) -> io::Result<Vec<(String, Bundle, ContainerConfig)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.containers)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_container_id(&name) {
                continue;
            }
            let bundle = Bundle::new(entry.path());
            match bundle.read_config() {
                Ok(config) => out.push((name, bundle, config)),
                Err(e) => {
                    tracing::debug!(id = name, error = %e, "skipping bundle without config")
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Asks the shim to reopen the container's log file (after the kubelet
    /// rotated it).
    pub fn reopen_log(&self, id: &str) -> io::Result<()> {
        let bundle = self.existing_bundle(id)?;
        if let Some(shim) = bundle.read_shim()? {
            if let Some(fd) = PidFd::open_verified(&shim)? {
                fd.signal(Signal::SIGUSR1)?;
            }
        }
        Ok(())
    }

    /// Kills every container and shim of `data_dir` and deletes their
    /// bundles and cgroups (for `k1s reset`). Returns how many bundles
    /// were removed. Blocking.
    pub fn reset(data_dir: &Path) -> io::Result<usize> {
        let containers = data_dir.join(CONTAINERS_DIR);
        if !containers.is_dir() {
            return Ok(0);
        }
        let cgroups = Cgroups::detect();
        let bundles: Vec<Bundle> = fs::read_dir(&containers)?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| Bundle::new(e.path()))
            .collect();
        // Kill every container first, so their shims reap them and exit
        // in parallel; then wait for each (and force what lingers).
        for bundle in &bundles {
            if let Ok(Some(started)) = bundle.read_started() {
                if let Ok(Some(fd)) = PidFd::open_verified(&started.process()) {
                    let _ = fd.signal(Signal::SIGKILL);
                }
            }
        }
        for bundle in &bundles {
            kill_bundle_processes(bundle, &cgroups);
        }
        // Shims whose records are missing are found by their command line.
        for pid in shims_under(&containers) {
            if let Ok(Some(fd)) = ProcessRecord::of(pid).and_then(|r| PidFd::open_verified(&r)) {
                let _ = fd.signal(Signal::SIGKILL);
                let _ = fd.wait_blocking(KILL_TIMEOUT);
            }
        }
        for bundle in &bundles {
            destroy_bundle(bundle, bundle.read_config().ok().as_ref(), &cgroups)?;
        }
        cgroups.remove_k1s_dirs_if_empty();
        let _ = fs::remove_dir(&containers);
        Ok(bundles.len())
    }
}

fn create_bundle(bundle: &Bundle, cfg: &ContainerConfig) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(bundle.dir())?;
    for (dir, mode) in [
        (bundle.rootfs(), 0o755),
        (bundle.upper(), 0o755),
        (bundle.work(), 0o700),
    ] {
        fs::DirBuilder::new().mode(mode).create(dir)?;
    }
    if cfg.lowerdirs.is_empty() {
        fs::DirBuilder::new()
            .mode(0o755)
            .create(mount_plan::empty_lowerdir(bundle))?;
    }
    write_json_atomic(&bundle.config_path(), cfg)
}

/// Reads `fd` to its end; `None` if that takes longer than `timeout`.
fn read_until_eof(fd: OwnedFd, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + timeout;
    let mut file = fs::File::from(fd);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if rc == 0 {
            continue;
        }
        match file.read(&mut buf) {
            Ok(0) => return Ok(Some(out)),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn exit_info(started: Option<&StartedRecord>, exit: ExitRecord) -> ExitInfo {
    ExitInfo {
        exit_code: exit.exit_code,
        signal: exit.signal,
        started_at: started.map(|s| s.started_at),
        finished_at: exit.finished_at,
        oom_killed: exit.oom_killed,
    }
}

/// Records (once) that the container is gone but nobody saw how: its shim
/// died. containerd reports such exits as 255.
fn record_unknown_exit(bundle: &Bundle, started: Option<&StartedRecord>) -> ExitInfo {
    let exit = ExitRecord {
        exit_code: 255,
        signal: None,
        finished_at: Utc::now(),
        oom_killed: false,
    };
    if let Err(e) = write_json_atomic(&bundle.exit_path(), &exit) {
        tracing::warn!(bundle = %bundle.dir().display(), error = %e, "recording an unknown exit");
    }
    exit_info(started, exit)
}

fn shim_running(bundle: &Bundle) -> io::Result<bool> {
    Ok(bundle.read_shim()?.is_some_and(|s| s.is_running()))
}

fn bundle_state(bundle: &Bundle) -> io::Result<State> {
    let started = bundle.read_started()?;
    if let Some(exit) = bundle.read_exit()? {
        return Ok(State::Exited(exit_info(started.as_ref(), exit)));
    }
    let running = |s: &StartedRecord| State::Running {
        pid: s.pid,
        started_at: s.started_at,
    };
    match &started {
        Some(s) if s.process().is_running() => return Ok(running(s)),
        // Exited, and the shim is about to record it.
        Some(s) if shim_running(bundle)? => return Ok(running(s)),
        None if shim_running(bundle)? => return Ok(State::Created),
        _ => {}
    }
    // The shim is gone: it either recorded the exit just now or never will.
    match bundle.read_exit()? {
        Some(exit) => Ok(State::Exited(exit_info(started.as_ref(), exit))),
        None => Ok(State::Exited(record_unknown_exit(bundle, started.as_ref()))),
    }
}

fn kill_bundle_processes(bundle: &Bundle, cgroups: &Cgroups) {
    let open =
        |rec: Option<ProcessRecord>| rec.and_then(|r| PidFd::open_verified(&r).ok().flatten());
    let container = open(bundle.read_started().ok().flatten().map(|s| s.process()));
    if let Some(fd) = &container {
        let _ = fd.signal(Signal::SIGKILL);
        let _ = fd.wait_blocking(KILL_TIMEOUT);
    }
    // A shim leaves by itself once its container is gone.
    if let Some(fd) = open(bundle.read_shim().ok().flatten()) {
        if !fd.wait_blocking(SHIM_EXIT_TIMEOUT).unwrap_or(false) {
            let _ = fd.signal(Signal::SIGKILL);
            let _ = fd.wait_blocking(KILL_TIMEOUT);
        }
    }
    if let Ok(cfg) = bundle.read_config() {
        for pid in cgroups.processes(&cfg.pod_uid, &bundle.id()) {
            // In our container's cgroup, so ours.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn destroy_bundle(
    bundle: &Bundle,
    cfg: Option<&ContainerConfig>,
    cgroups: &Cgroups,
) -> io::Result<()> {
    // The rootfs is mounted inside the container's mount namespace only;
    // this catches a mount that leaked into ours all the same.
    let _ = nix::mount::umount2(&bundle.rootfs(), nix::mount::MntFlags::MNT_DETACH);
    // The cgroups go whatever happens to the directory: they are empty now.
    let cgroups_gone = match cfg {
        Some(cfg) => cgroups.remove(&cfg.pod_uid, &bundle.id()),
        None => Ok(()),
    };
    remove_dir_settled(bundle.dir())?;
    cgroups_gone
}

/// `remove_dir_all` that tolerates a last write landing while it runs (a
/// dying shim finishing its exit record): it tries again a few times.
fn remove_dir_settled(dir: &Path) -> io::Result<()> {
    const ATTEMPTS: usize = 5;
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        match fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        if attempt + 1 < ATTEMPTS {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("not removed"));
    Err(io::Error::new(
        e.kind(),
        format!("removing {}: {e}", dir.display()),
    ))
}

/// The bundle a `k1s __shim <bundle>` command line names.
pub fn shim_bundle_of(cmdline: &[u8]) -> Option<PathBuf> {
    let mut args = cmdline.split(|&b| b == 0);
    let _exe = args.next()?;
    if args.next()? != SHIM_ARG.as_bytes() {
        return None;
    }
    let bundle = args.next().filter(|b| !b.is_empty())?;
    Some(PathBuf::from(String::from_utf8_lossy(bundle).into_owned()))
}

fn shims_under(containers: &Path) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .and_then(|c| shim_bundle_of(&c))
                .is_some_and(|b| b.starts_with(containers))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_read_like_containerd() {
        let e = StartError {
            detail: r#"exec: "nope": executable file not found in $PATH"#.into(),
            init: true,
        };
        assert_eq!(
            e.to_string(),
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: \
             runc create failed: unable to start container process: error during container init: \
             exec: \"nope\": executable file not found in $PATH: unknown"
        );
        assert!(e.is_init_failure());
        assert_eq!(
            StartError::internal("boom").to_string(),
            "failed to start container: boom"
        );
    }

    #[test]
    fn listing_a_pods_containers_leaves_a_starting_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(dir.path(), PathBuf::from("/nonexistent")).unwrap();
        // A container of another pod between its config and its shim.
        let starting = Bundle::new(rt.containers.join("a".repeat(64)));
        let other = ContainerConfig {
            pod_uid: "uid-2".into(),
            ..ContainerConfig::example()
        };
        create_bundle(&starting, &other).unwrap();
        let mine = Bundle::new(rt.containers.join("b".repeat(64)));
        create_bundle(&mine, &ContainerConfig::example()).unwrap();
        assert_eq!(rt.ids_of_pod("uid-1").unwrap(), vec!["b".repeat(64)]);
        assert_eq!(rt.ids_of_pod("uid-2").unwrap(), vec!["a".repeat(64)]);
        assert_eq!(
            starting.read_exit().unwrap(),
            None,
            "nothing judged it exited"
        );
    }

    #[test]
    fn finds_shims_by_command_line() {
        assert_eq!(
            shim_bundle_of(b"/usr/bin/k1s\0__shim\0/var/lib/k1s/containers/abc\0"),
            Some(PathBuf::from("/var/lib/k1s/containers/abc"))
        );
        assert_eq!(shim_bundle_of(b"/usr/bin/k1s\0server\0"), None);
        assert_eq!(shim_bundle_of(b"/usr/bin/k1s\0__shim\0\0"), None);
        assert_eq!(shim_bundle_of(b""), None);
    }

    #[test]
    fn reads_until_the_writer_closes() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let writer = std::thread::spawn(move || {
            let mut f = fs::File::from(w);
            std::io::Write::write_all(&mut f, b"{\"x\":1}\n").unwrap();
        });
        assert_eq!(
            read_until_eof(r, Duration::from_secs(10)).unwrap(),
            Some(b"{\"x\":1}\n".to_vec())
        );
        writer.join().unwrap();
        let (r, _w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        assert_eq!(read_until_eof(r, Duration::from_millis(50)).unwrap(), None);
    }
}
