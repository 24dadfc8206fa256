//! Running a command inside a running container (`kubectl exec`, exec
//! probes), the way `runc exec` does it under containerd.
//!
//! Two halves:
//! - `exec_main`, the `k1s __exec <pid>` helper: a freshly exec'd,
//!   single-threaded process (setns into a mount namespace needs that). It
//!   joins the container's cgroups and namespaces and forks, so the child
//!   lands in the container's pid namespace; the child takes the
//!   container's capabilities, user, cwd and env, resolves argv[0] like runc
//!   and execs. The parent waits and exits with the child's code
//!   (128+signal when it was killed).
//! - `Runtime::exec`/`exec_capture`, the async side: spawns the helper,
//!   learns through a status pipe whether the command started (runc's
//!   error text otherwise) and hands out the streams.
//!
//! Helper protocol: argv `__exec <pid>`; fd 3 = status pipe (write end;
//! closed empty by a successful execve, or carrying the start error);
//! fd 4 = the `HelperSpec` JSON (a pipe, so env values stay out of `ps`);
//! with a tty, fd 5 = a socket the child sends its pty master over (the
//! pty is opened in the container's own devpts, as runc does).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::config::ContainerConfig;
use super::container::{
    check_executable, close_above_stdio_on_exec, drop_capabilities, go_errno, lookup_executable,
    path_from_env, reset_signals, set_user,
};
use super::state::{read_stat, Bundle};
use super::{Runtime, State};
use crate::spec::command::replace_or_append_env;
use crate::spec::user::parse_passwd;

/// The helper subcommand (`k1s __exec <pid>`).
pub const EXEC_ARG: &str = "__exec";

/// The helper's status pipe, spec pipe and console socket, at fixed numbers.
const STATUS_FD: RawFd = 3;
const SPEC_FD: RawFd = 4;
const CONSOLE_FD: RawFd = 5;

/// kubelet's exec prober keeps at most this much output (maxReadLength).
pub const PROBE_OUTPUT_LIMIT: usize = 10 * 1024;

/// What to run (the container supplies user, env and cwd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
}

/// The command could not be started; `Display` is containerd's text:
/// `failed to start exec "<id>": OCI runtime exec failed: <runc's message>: unknown`.
/// The CRI and streaming layers wrap it further (`failed to exec in
/// container: …`, then `error executing command in container: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecStartError {
    pub exec_id: String,
    /// runc's part, e.g. `exec failed: unable to start container process:
    /// exec: "nope": executable file not found in $PATH`.
    pub runtime_message: String,
}

impl std::fmt::Display for ExecStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed to start exec {:?}: OCI runtime exec failed: {}: unknown",
            self.exec_id, self.runtime_message
        )
    }
}

impl std::error::Error for ExecStartError {}

/// A started exec. Dropping it kills the command (like containerd when the
/// client goes away); `wait` reaps it.
pub struct ExecProcess {
    /// Present when `ExecSpec::stdin`; shutting it down closes the
    /// command's stdin (pipes only: a terminal has no EOF but ^D).
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// stdout, or everything the terminal shows with a tty.
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    /// None with a tty (a terminal has one output).
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Terminal size control, with a tty only.
    pub resize: Option<Resizer>,
    exec_id: String,
    helper: tokio::process::Child,
}

impl ExecProcess {
    /// containerd-style random id of this exec.
    pub fn id(&self) -> &str {
        &self.exec_id
    }

    /// Moves stdout out (an empty reader stays behind).
    pub fn take_stdout(&mut self) -> Box<dyn AsyncRead + Send + Unpin> {
        std::mem::replace(&mut self.stdout, Box::new(tokio::io::empty()))
    }

    /// SIGKILLs the command (the helper dies; the command follows by its
    /// parent-death signal).
    pub fn kill(&mut self) -> io::Result<()> {
        self.helper.start_kill()
    }

    /// The exit code: the command's own, 128+signal when it was killed.
    pub async fn wait(&mut self) -> io::Result<i32> {
        let status = self.helper.wait().await?;
        Ok(exit_code(status))
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 255,
    }
}

/// Sets a pty's window size (TIOCSWINSZ on the master).
#[derive(Clone)]
pub struct Resizer {
    master: Arc<OwnedFd>,
}

impl Resizer {
    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer we pass.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl std::fmt::Debug for Resizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resizer(fd {})", self.master.as_raw_fd())
    }
}

impl Runtime {
    /// Runs `spec.argv` in container `id` with its namespaces, root,
    /// cgroups, capabilities, user, env and cwd. Fails with an
    /// [`ExecStartError`] inside the `io::Error` when the command cannot
    /// start, and with containerd's `container is in CONTAINER_EXITED
    /// state` when the container does not run.
    pub async fn exec(&self, id: &str, spec: ExecSpec) -> io::Result<ExecProcess> {
        let config = self.read_config(id)?;
        let started = Bundle::new(self.bundle_dir(id)).read_started()?;
        let target = match (self.container_pid(id)?, started) {
            (Some(pid), Some(s)) if s.pid == pid => Target {
                pid,
                start_time: s.start_time,
            },
            _ => return Err(not_running(self.state(id)?)),
        };
        let cgroup_procs = self.cgroup_procs_files(id)?;
        spawn_exec(self.exe(), target, &config, cgroup_procs, spec).await
    }

    /// An exec probe's run (CRI ExecSync as the kubelet's prober uses
    /// it): no stdin, no tty; the output is stdout followed by stderr, of
    /// which the first [`PROBE_OUTPUT_LIMIT`] bytes are kept. Bounded by
    /// `timeout`: the command is killed then, and the error is the
    /// kubelet's `command "…" timed out`, kind `TimedOut`.
    pub async fn exec_capture(
        &self,
        id: &str,
        argv: Vec<String>,
        timeout: Duration,
    ) -> io::Result<(i32, Vec<u8>)> {
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("command {:?} timed out", argv.join(" ")),
            )
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let spec = ExecSpec {
            argv: argv.clone(),
            tty: false,
            stdin: false,
        };
        let mut process = tokio::time::timeout_at(deadline, self.exec(id, spec))
            .await
            .map_err(|_| timed_out())??;
        let stdout = process.take_stdout();
        let stderr = process.stderr.take();
        let run = async {
            let err_task = async {
                match stderr {
                    Some(r) => read_limited(r).await,
                    None => Ok(Vec::new()),
                }
            };
            let (code, out, err) = tokio::join!(process.wait(), read_limited(stdout), err_task);
            let mut output = out?;
            output.extend_from_slice(&err?);
            output.truncate(PROBE_OUTPUT_LIMIT);
            Ok::<_, io::Error>((code?, output))
        };
        match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result,
            Err(_) => {
                let _ = process.kill();
                let _ = process.wait().await;
                Err(timed_out())
            }
        }
    }
}

/// containerd's refusal to exec into a container that does not run.
fn not_running(state: State) -> io::Error {
    let name = match state {
        State::Created => "CONTAINER_CREATED",
        State::Running { .. } => "CONTAINER_RUNNING",
        State::Exited(_) => "CONTAINER_EXITED",
    };
    io::Error::other(format!("container is in {name} state"))
}

/// Reads a stream to its end, keeping the first [`PROBE_OUTPUT_LIMIT`]
/// bytes (the rest is drained so the command never blocks on a full pipe).
async fn read_limited(mut r: Box<dyn AsyncRead + Send + Unpin>) -> io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = PROBE_OUTPUT_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// The container's init process, as pid plus kernel start time (so a
/// recycled pid is never entered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub pid: i32,
    pub start_time: u64,
}

/// What the helper is told on fd 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HelperSpec {
    pub start_time: u64,
    pub argv: Vec<String>,
    pub tty: bool,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The container's `cgroup.procs` files, joined before the fork.
    pub cgroup_procs: Vec<PathBuf>,
}

/// containerd's exec process: the container's process spec with the new
/// args, `TERM=xterm` added for a terminal.
pub(crate) fn helper_spec(
    target: Target,
    config: &ContainerConfig,
    cgroup_procs: Vec<PathBuf>,
    spec: &ExecSpec,
) -> HelperSpec {
    let env = if spec.tty {
        replace_or_append_env(&config.env, &["TERM=xterm".to_string()])
    } else {
        config.env.clone()
    };
    HelperSpec {
        start_time: target.start_time,
        argv: spec.argv.clone(),
        tty: spec.tty,
        env,
        cwd: config.cwd.clone(),
        uid: config.uid,
        gid: config.gid,
        additional_gids: config.additional_gids.clone(),
        cgroup_procs,
    }
}

/// Starts the helper for the container process `target` and waits until
/// the command has exec'd (or failed to).
pub(crate) async fn spawn_exec(
    exe: &Path,
    target: Target,
    config: &ContainerConfig,
    cgroup_procs: Vec<PathBuf>,
    spec: ExecSpec,
) -> io::Result<ExecProcess> {
    if spec.argv.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "exec needs a command",
        ));
    }
    let exec_id = random_id()?;
    let json = serde_json::to_vec(&helper_spec(target, config, cgroup_procs, &spec))
        .map_err(io::Error::other)?;
    let (status_r, status_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (spec_r, spec_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let console = if spec.tty {
        Some(super::console::socket_pair()?)
    } else {
        None
    };

    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg(EXEC_ARG)
        .arg(target.pid.to_string())
        .kill_on_drop(true);
    if spec.tty {
        // The child puts the pty slave on its stdio itself.
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
    } else {
        cmd.stdin(if spec.stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    }
    let mut fds = vec![
        (status_w.as_raw_fd(), STATUS_FD),
        (spec_r.as_raw_fd(), SPEC_FD),
    ];
    if let Some((_, container_end)) = &console {
        fds.push((container_end.as_raw_fd(), CONSOLE_FD));
    }
    // SAFETY: the closure only calls async-signal-safe fcntl/dup2/close
    // and does not allocate (`fds` was built before the fork).
    unsafe {
        cmd.pre_exec(move || place_fds(&fds));
    }
    let mut helper = cmd.spawn()?;
    // Only the helper may hold these ends, so their closing means it.
    drop(status_w);
    drop(spec_r);
    let console = console.map(|(ours, theirs)| {
        drop(theirs);
        ours
    });

    let write_spec = async {
        let mut tx = tokio::net::unix::pipe::Sender::from_owned_fd(spec_w)?;
        tx.write_all(&json).await
    };
    let read_status = async {
        // The child sends the master before it execs (or fails).
        let master = match console {
            Some(socket) => {
                tokio::task::spawn_blocking(move || super::console::receive_master(&socket))
                    .await
                    .map_err(io::Error::other)??
            }
            None => None,
        };
        let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(status_r)?;
        let mut status = Vec::new();
        rx.read_to_end(&mut status).await?;
        Ok::<_, io::Error>((master, status))
    };
    let (written, status) = tokio::join!(write_spec, read_status);
    let (master, status) = status?;
    if !status.is_empty() {
        let _ = helper.wait().await;
        return Err(io::Error::other(ExecStartError {
            exec_id,
            runtime_message: String::from_utf8_lossy(&status).trim_end().to_string(),
        }));
    }
    // A helper that died before reading its spec reports through its exit.
    if let Err(e) = written {
        tracing::debug!(error = %e, "exec helper did not take its spec");
    }

    if spec.tty {
        let master = Arc::new(master.ok_or_else(|| {
            io::Error::other("exec helper started the command without a terminal")
        })?);
        let stdin: Option<Box<dyn AsyncWrite + Send + Unpin>> = if spec.stdin {
            Some(Box::new(PtyMaster::new(master.try_clone()?)?))
        } else {
            None
        };
        return Ok(ExecProcess {
            stdin,
            stdout: Box::new(PtyMaster::new(master.try_clone()?)?),
            stderr: None,
            resize: Some(Resizer { master }),
            exec_id,
            helper,
        });
    }
    let stdout = helper
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("exec helper has no stdout pipe"))?;
    let stderr = helper.stderr.take();
    let stdin = helper.stdin.take();
    Ok(ExecProcess {
        stdin: stdin.map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>),
        stdout: Box::new(stdout),
        stderr: stderr.map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
        resize: None,
        exec_id,
        helper,
    })
}

/// In the forked child before exec: put each fd at its fixed number
/// (through high copies, so sources and targets may overlap).
fn place_fds(fds: &[(RawFd, RawFd)]) -> io::Result<()> {
    let mut copies = [0 as RawFd; 3];
    for (i, (src, _)) in fds.iter().enumerate().take(copies.len()) {
        // SAFETY: plain fd syscalls on fds this process owns.
        let c = unsafe { libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, 10) };
        if c < 0 {
            return Err(io::Error::last_os_error());
        }
        copies[i] = c;
    }
    for (i, (_, target)) in fds.iter().enumerate().take(copies.len()) {
        // SAFETY: as above; dup2 leaves the target without close-on-exec.
        if unsafe { libc::dup2(copies[i], *target) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: closing the temporary copy made above.
        unsafe { libc::close(copies[i]) };
    }
    Ok(())
}

fn random_id() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A pty master as an async byte stream. EIO (all slave ends closed)
/// reads as end of stream.
struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl PtyMaster {
    fn new(fd: OwnedFd) -> io::Result<PtyMaster> {
        let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
        fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // SAFETY: the OwnedFd moves into the AsyncFd, which keeps it open
        // and unchanged for its whole life.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(PtyMaster { fd })
    }
}

impl AsyncRead for PtyMaster {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard
                .try_io(|fd| nix::unistd::read(fd.get_ref(), unfilled).map_err(io::Error::from))
            {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

// ---- The helper process (`k1s __exec <pid>`). ----

/// Why the command did not start, and the helper's exit code for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartFailure {
    /// The part after runc's `unable to start container process: `.
    pub cause: String,
    /// 127 when the command does not exist, 126 when it cannot run.
    pub code: i32,
}

impl StartFailure {
    fn new(cause: impl Into<String>) -> StartFailure {
        StartFailure {
            cause: cause.into(),
            code: 126,
        }
    }

    /// runc exec's message for this failure.
    pub fn runc_message(&self) -> String {
        format!(
            "exec failed: unable to start container process: {}",
            self.cause
        )
    }
}

/// Entry point of `k1s __exec <pid>`; `args` is the whole argv (like
/// `shim_main`). Must run in a freshly exec'd process before any other
/// thread exists (it enters a mount namespace and forks).
pub fn exec_main(args: Vec<String>) -> ! {
    let code = match run_helper(&args) {
        Ok(code) => code,
        Err(failure) => {
            report_failure(&failure);
            failure.code
        }
    };
    std::process::exit(code)
}

fn report_failure(failure: &StartFailure) {
    let msg = failure.runc_message();
    // SAFETY: fd 3 is the status pipe by the helper protocol; ManuallyDrop
    // leaves it open (the process exits right after).
    let mut status = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(STATUS_FD) });
    if status.write_all(msg.as_bytes()).is_err() {
        eprintln!("{msg}");
    }
}

/// The namespaces joined, in this order (mount last: after it the host's
/// /proc and /sys are out of sight).
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

fn run_helper(args: &[String]) -> Result<i32, StartFailure> {
    let pid: i32 = match args {
        [_, _, pid] => pid
            .parse()
            .map_err(|_| StartFailure::new(format!("bad container pid {pid:?}")))?,
        _ => {
            return Err(StartFailure::new(format!(
                "usage: k1s {EXEC_ARG} <container-pid>"
            )))
        }
    };
    let spec = read_spec()?;
    let gone = || StartFailure::new(format!("container process {pid} is gone"));

    let mut joins = Vec::new();
    for (name, flag) in NAMESPACES {
        let target = format!("/proc/{pid}/ns/{name}");
        // Namespaces we already share are skipped.
        if same_file(&target, &format!("/proc/self/ns/{name}")) {
            continue;
        }
        let file = File::open(&target).map_err(|_| gone())?;
        joins.push((name, flag, file));
    }
    // The handles are the right process's only if it still is that process.
    match read_stat(pid) {
        Ok(Some(stat)) if stat.start_time == spec.start_time => {}
        _ => return Err(gone()),
    }
    let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| StartFailure::new("reading /proc/sys/kernel/cap_last_cap"))?;
    for procs in &spec.cgroup_procs {
        // "0" is the writing process itself; the child inherits the cgroups.
        std::fs::write(procs, "0").map_err(|e| {
            StartFailure::new(format!(
                "joining cgroup {}: {}",
                procs.display(),
                io_text(&e)
            ))
        })?;
    }
    for (name, flag, file) in &joins {
        setns(file.as_fd(), *flag).map_err(|e| {
            StartFailure::new(format!(
                "failed to join the {name} namespace of {pid}: {}",
                go_errno(e)
            ))
        })?;
    }
    drop(joins);

    // SAFETY: this process is single-threaded (a fresh exec, no runtime).
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(StartFailure::new(format!("fork: {}", go_errno(e)))),
        Ok(nix::unistd::ForkResult::Child) => {
            let failure = match prepare_and_exec(&spec, last_cap) {
                Ok(never) => match never {},
                Err(failure) => failure,
            };
            report_failure(&failure);
            // SAFETY: leave without the parent's atexit handlers or buffers.
            unsafe { libc::_exit(failure.code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // Only the child may hold the status pipe (its exec closes it),
            // the console socket and the command's stdio (so the streams
            // end when the command's side closes them).
            for fd in [STATUS_FD, CONSOLE_FD, 0, 1, 2] {
                // SAFETY: closing fds this process owns and no longer uses.
                unsafe { libc::close(fd) };
            }
            Ok(wait_child(child))
        }
    }
}

fn wait_child(child: Pid) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}

fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn read_spec() -> Result<HelperSpec, StartFailure> {
    // SAFETY: fd 4 is the spec pipe by the helper protocol; we own it.
    let mut f = unsafe { File::from_raw_fd(SPEC_FD) };
    let mut json = Vec::new();
    f.read_to_end(&mut json)
        .map_err(|e| StartFailure::new(format!("reading the exec spec: {}", io_text(&e))))?;
    serde_json::from_slice(&json)
        .map_err(|e| StartFailure::new(format!("parsing the exec spec: {e}")))
}

/// The forked child, in the container's namespaces now: terminal,
/// capabilities, user, cwd, then the exec. Returns only on failure.
fn prepare_and_exec(
    spec: &HelperSpec,
    last_cap: u32,
) -> Result<std::convert::Infallible, StartFailure> {
    reset_signals();
    if spec.tty {
        setup_terminal(spec.uid, spec.gid).map_err(StartFailure::new)?;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let env = prepare_env(&spec.env, spec.uid, passwd.as_deref()).map_err(StartFailure::new)?;

    // runc: chdir before the user switch, again after it on EPERM/EACCES.
    let cwd = if spec.cwd.is_empty() {
        "/"
    } else {
        spec.cwd.as_str()
    };
    let chdir_later = match nix::unistd::chdir(cwd) {
        Ok(()) => false,
        Err(Errno::EPERM | Errno::EACCES) => true,
        Err(e) => return Err(chdir_failure(cwd, e)),
    };
    drop_capabilities(last_cap).map_err(StartFailure::new)?;
    set_user(spec.uid, spec.gid, &spec.additional_gids).map_err(StartFailure::new)?;
    if chdir_later {
        nix::unistd::chdir(cwd).map_err(|e| chdir_failure(cwd, e))?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));

    // Die with the helper (killed on timeout or when the client goes).
    // Set after the uid change, which clears it.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| StartFailure::new(format!("prctl: {}", go_errno(e))))?;
    // Our parent lives outside this pid namespace, so it reads as 0 here;
    // anything else means it already died and we were reparented.
    if nix::unistd::getppid() != Pid::from_raw(0) {
        return Err(StartFailure::new(
            "exec helper exited before the command started",
        ));
    }

    let program = spec
        .argv
        .first()
        .ok_or_else(|| StartFailure::new("args must not be empty"))?;
    let resolved =
        lookup_executable(program, path_from_env(&env), check_executable).map_err(|cause| {
            StartFailure {
                code: if cause.ends_with("executable file not found in $PATH")
                    || cause.ends_with("no such file or directory")
                {
                    127
                } else {
                    126
                },
                cause,
            }
        })?;

    let cstr = |s: &str| {
        CString::new(s).map_err(|_| StartFailure::new(format!("{s:?} contains a NUL byte")))
    };
    let path_c = cstr(&resolved)?;
    let argv_c: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<_, _>>()?;
    let env_c: Vec<CString> = env.iter().map(|e| cstr(e)).collect::<Result<_, _>>()?;
    // Nothing of the helper's may leak into the container; the status pipe
    // closes with the exec, which tells the caller it succeeded.
    close_above_stdio_on_exec();
    let err = match nix::unistd::execve(&path_c, &argv_c, &env_c) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(StartFailure {
        cause: format!("exec {resolved}: {}", go_errno(err)),
        code: if err == Errno::ENOENT { 127 } else { 126 },
    })
}

/// Opens a pty in the container's devpts, sends the master back on the
/// console socket, and makes the slave our controlling terminal and stdio.
fn setup_terminal(uid: u32, gid: u32) -> Result<(), String> {
    const CONTEXT: &str = "setting up the terminal";
    // SAFETY: fd 5 is the console socket by the helper protocol.
    let socket = unsafe { BorrowedFd::borrow_raw(CONSOLE_FD) };
    let (slave, _name) = super::console::send_new_pty(socket, uid, gid, CONTEXT)?;
    // SAFETY: the console socket is not needed any more.
    unsafe { libc::close(CONSOLE_FD) };
    super::console::become_controlling_terminal(&slave, CONTEXT)
}

fn chdir_failure(cwd: &str, e: Errno) -> StartFailure {
    StartFailure::new(format!(
        "chdir to cwd ({cwd:?}) set in config.json failed: {}",
        go_errno(e)
    ))
}

/// runc's prepareEnv: one entry per name (the last wins, in the order of
/// those last entries), no empty HOME, and HOME from the container's
/// /etc/passwd (else `/`) when missing.
pub(crate) fn prepare_env(
    env: &[String],
    uid: u32,
    passwd: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(env.len() + 1);
    let mut home_set = false;
    for kv in env.iter().rev() {
        let Some((key, value)) = kv.split_once('=') else {
            return Err("invalid environment variable: missing '='".to_string());
        };
        if key.is_empty() {
            return Err("invalid environment variable: name cannot be empty".to_string());
        }
        if !seen.insert(key) {
            continue;
        }
        if kv.contains('\0') {
            return Err(format!(
                "invalid environment variable {key:?}: contains nul byte (\\x00)"
            ));
        }
        if key == "HOME" {
            if value.is_empty() {
                continue;
            }
            home_set = true;
        }
        out.push(kv.clone());
    }
    out.reverse();
    if !home_set {
        let home = passwd
            .and_then(|text| parse_passwd(text).into_iter().find(|e| e.uid == uid))
            .map(|e| e.home)
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".to_string());
        out.push(format!("HOME={home}"));
    }
    Ok(out)
}

fn io_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => go_errno(Errno::from_raw(n)),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ContainerConfig {
        ContainerConfig {
            container_name: "c".into(),
            args: vec!["sleep".into(), "3600".into()],
            env: vec![
                "PATH=/usr/bin:/bin".into(),
                "TERM=dumb".into(),
                "A=1".into(),
            ],
            cwd: "/work".into(),
            uid: 1000,
            gid: 1001,
            additional_gids: vec![5, 6],
            log_path: "/tmp/0.log".into(),
            ..ContainerConfig::example()
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const TARGET: Target = Target {
        pid: 42,
        start_time: 777,
    };

    #[test]
    fn helper_spec_takes_the_containers_process_and_adds_term_for_a_tty() {
        let procs = vec![PathBuf::from(
            "/sys/fs/cgroup/pids/k1s/uid-1/c/cgroup.procs",
        )];
        let plain = helper_spec(
            TARGET,
            &config(),
            procs.clone(),
            &ExecSpec {
                argv: s(&["ls", "-l"]),
                tty: false,
                stdin: true,
            },
        );
        assert_eq!(
            plain,
            HelperSpec {
                start_time: 777,
                argv: s(&["ls", "-l"]),
                tty: false,
                env: s(&["PATH=/usr/bin:/bin", "TERM=dumb", "A=1"]),
                cwd: "/work".into(),
                uid: 1000,
                gid: 1001,
                additional_gids: vec![5, 6],
                cgroup_procs: procs,
            }
        );
        let tty = helper_spec(
            TARGET,
            &config(),
            vec![],
            &ExecSpec {
                argv: s(&["sh"]),
                tty: true,
                stdin: true,
            },
        );
        assert_eq!(tty.env, s(&["PATH=/usr/bin:/bin", "TERM=xterm", "A=1"]));
    }

    #[test]
    fn exec_start_error_reads_like_containerd() {
        let e = ExecStartError {
            exec_id: "abc".into(),
            runtime_message: StartFailure::new(
                "exec: \"nope\": executable file not found in $PATH",
            )
            .runc_message(),
        };
        assert_eq!(
            e.to_string(),
            "failed to start exec \"abc\": OCI runtime exec failed: exec failed: unable to start \
             container process: exec: \"nope\": executable file not found in $PATH: unknown"
        );
    }

    #[test]
    fn not_running_names_the_cri_state() {
        assert_eq!(
            not_running(State::Created).to_string(),
            "container is in CONTAINER_CREATED state"
        );
    }

    #[test]
    fn prepare_env_dedups_and_sets_home() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
        assert_eq!(
            prepare_env(&s(&["A=1", "B=2", "A=3"]), 1000, Some(passwd)).unwrap(),
            s(&["B=2", "A=3", "HOME=/home/app"])
        );
        assert_eq!(
            prepare_env(&s(&["HOME=", "X=1"]), 0, Some(passwd)).unwrap(),
            s(&["X=1", "HOME=/root"])
        );
        assert_eq!(
            prepare_env(&s(&["HOME=/data"]), 0, Some(passwd)).unwrap(),
            s(&["HOME=/data"])
        );
        assert_eq!(prepare_env(&s(&[]), 42, None).unwrap(), s(&["HOME=/"]));
        assert_eq!(
            prepare_env(&s(&["NOEQUALS"]), 0, None).unwrap_err(),
            "invalid environment variable: missing '='"
        );
        assert_eq!(
            prepare_env(&s(&["=x"]), 0, None).unwrap_err(),
            "invalid environment variable: name cannot be empty"
        );
    }

    #[test]
    fn exit_codes_map_signals_to_128_plus() {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(9)), 137);
    }

    /// The pty stream and resizer against a host process (no container
    /// needed): `stty size` reports what the resizer set.
    #[tokio::test]
    async fn pty_master_streams_output_and_resizes() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let master = Arc::new(pty.master);
        Resizer {
            master: master.clone(),
        }
        .resize(123, 45)
        .unwrap();
        let slave = pty.slave;
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("stty size; echo done")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap())
            .spawn()
            .unwrap();
        drop(slave);
        let mut reader = PtyMaster::new(master.try_clone().unwrap()).unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        assert!(child.wait().await.unwrap().success());
        assert_eq!(String::from_utf8_lossy(&out), "45 123\r\ndone\r\n");
    }
}
