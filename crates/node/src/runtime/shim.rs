//! `k1s __shim <bundle>`: one small supervisor per container, like conmon.
//!
//! It detaches from k1s (so it outlives k1s restarts), creates the
//! container's cgroups and stdio, forks the container process into a new
//! pid namespace, tells k1s over the sync pipe (fd 3) whether the exec
//! worked, then copies output to the CRI log and attached clients,
//! serves the attach socket, and records the exit in `exit.json`.

use super::attach_proto::Frame;
use super::attach_server::{Hub, ResizeFn, StdinCommand};
use super::cgroup::Cgroups;
use super::config::ContainerConfig;
use super::console;
use super::container::{self, ChildStdio, InitArgs};
use super::pidfd::PidFd;
use super::state::{
    exit_status, rfc3339, write_json_atomic, Bundle, ExitRecord, ProcessRecord, StartedRecord,
    ATTACH_SOCKET,
};
use crate::logs::writer::{open_log_file, CriLogWriter, Stream};
use chrono::{DateTime, Utc};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

pub const SHIM_ARG: &str = "__shim";
/// k1s hands the shim the write end of the sync pipe as this descriptor.
pub const SYNC_FD: RawFd = 3;
/// Output still buffered in pipes is copied for at most this long after
/// the container exits (a leaked writer must not keep the shim alive).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
const CLIENT_DRAIN: Duration = Duration::from_secs(1);
const READ_CHUNK: usize = 32 * 1024;

/// The shim's one message to `Runtime::start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMessage {
    Started {
        pid: i32,
        #[serde(with = "rfc3339")]
        started_at: DateTime<Utc>,
    },
    /// `init` is true when the container's own setup or exec failed (what
    /// the kubelet reports as StartError), false for the shim's failures.
    Failed { message: String, init: bool },
}

/// Entry point of `k1s __shim <bundle>`; must run before any other
/// thread exists (it forks).
pub fn shim_main(args: Vec<String>) -> ! {
    let Some(bundle) = args.get(2) else {
        eprintln!("usage: k1s {SHIM_ARG} <bundle>");
        std::process::exit(2);
    };
    // SAFETY: k1s passed the sync pipe as fd 3; we take ownership once.
    let sync = unsafe {
        if libc::fcntl(SYNC_FD, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            eprintln!("k1s {SHIM_ARG}: no sync pipe on fd {SYNC_FD}");
            std::process::exit(2);
        }
        File::from(OwnedFd::from_raw_fd(SYNC_FD))
    };
    // Detach: k1s waits for this parent, which exits at once; the child
    // carries on in its own session, reparented away from k1s.
    // SAFETY: the process is single-threaded here (checked by the caller's
    // contract), so the child may do anything after fork.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(ForkResult::Child) => {}
        Err(e) => {
            report(
                &sync,
                &SyncMessage::Failed {
                    message: format!("forking the shim: {e}"),
                    init: false,
                },
            );
            std::process::exit(1);
        }
    }
    let _ = nix::unistd::setsid();
    let bundle = Bundle::new(PathBuf::from(bundle));
    let code = match run(&bundle, sync) {
        Ok(()) => 0,
        Err(e) => {
            shim_log(&bundle, &e);
            1
        }
    };
    std::process::exit(code)
}

/// Appends a line to the bundle's shim.log (the shim has no stderr).
fn shim_log(bundle: &Bundle, message: &str) {
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(bundle.shim_log())
    {
        let _ = writeln!(f, "{} {message}", Utc::now().to_rfc3339());
    }
}

fn report(mut sync: &File, message: &SyncMessage) {
    if let Ok(mut line) = serde_json::to_vec(message) {
        line.push(b'\n');
        let _ = sync.write_all(&line);
    }
}

fn run(bundle: &Bundle, sync: File) -> Result<(), String> {
    std::env::set_current_dir(bundle.dir())
        .map_err(|e| format!("chdir {}: {e}", bundle.dir().display()))?;
    let me = ProcessRecord::of(std::process::id() as i32).map_err(|e| e.to_string())?;
    write_json_atomic(&bundle.shim_path(), &me).map_err(|e| format!("writing shim.json: {e}"))?;
    let fail = |message: String| {
        report(
            &sync,
            &SyncMessage::Failed {
                message: message.clone(),
                init: false,
            },
        );
        message
    };
    let cfg = bundle
        .read_config()
        .map_err(|e| fail(format!("reading config: {e}")))?;
    let cgroups = Cgroups::detect();
    let procs = cgroups
        .create(&cfg.pod_uid, &bundle.id(), &cfg.limits)
        .and_then(|_| open_cgroup_procs(&cgroups, &cfg.pod_uid, &bundle.id()))
        .map_err(|e| fail(format!("creating cgroups: {e}")))?;
    let (child_stdio, shim_side) =
        make_stdio(&cfg).map_err(|e| fail(format!("creating stdio: {e}")))?;
    let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let (err_read, err_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    // Our next child becomes pid 1 of a new pid namespace.
    nix::sched::unshare(CloneFlags::CLONE_NEWPID)
        .map_err(|e| fail(format!("unshare pid namespace: {e}")))?;
    // SAFETY: still single-threaded: no runtime or thread started yet.
    let child = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop(err_read);
            drop(shim_side);
            container::container_init(
                InitArgs {
                    cfg: &cfg,
                    bundle,
                    stdio: child_stdio,
                    cgroup_procs: procs,
                    last_cap,
                },
                err_write,
            )
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(fail(format!("fork: {e}"))),
    };
    drop(err_write);
    drop(child_stdio);
    drop(procs);

    // A tty container sends its pty master first (or closes the socket
    // by failing or exec'ing without one).
    let shim_io = match shim_side {
        ShimSide::Pipes(io) => Some(io),
        ShimSide::Console(socket) => console::receive_master(&socket)
            .ok()
            .flatten()
            .map(|master| ShimIo::Tty { master }),
    };
    let mut init_error = Vec::new();
    let _ = File::from(err_read).read_to_end(&mut init_error);
    if init_error.is_empty() && shim_io.is_none() {
        init_error = b"the container process did not hand over its console".to_vec();
    }
    let (true, Some(shim_io)) = (init_error.is_empty(), shim_io) else {
        // Normally the child already exited; without a console it may run.
        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(child, None);
        let message = String::from_utf8_lossy(&init_error).into_owned();
        report(
            &sync,
            &SyncMessage::Failed {
                message: message.clone(),
                init: true,
            },
        );
        return Err(format!("container init failed: {message}"));
    };

    let started = StartedRecord {
        pid: child.as_raw(),
        start_time: ProcessRecord::of(child.as_raw())
            .map(|r| r.start_time)
            .unwrap_or(0),
        started_at: Utc::now(),
    };
    write_json_atomic(&bundle.started_path(), &started)
        .map_err(|e| fail(format!("writing state.json: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("starting the shim runtime: {e}")))?;
    // Before k1s learns of us: SIGUSR1 (reopen the log) would kill a shim
    // that has no handler yet.
    let (usr1, listener) = {
        let _entered = runtime.enter();
        let usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
            .map_err(|e| fail(format!("handling SIGUSR1: {e}")))?;
        // Attach works as soon as start() returns. Bound relative to the
        // bundle (our cwd): the absolute path may be longer than a socket
        // address allows.
        let _ = std::fs::remove_file(ATTACH_SOCKET);
        let listener = UnixListener::bind(ATTACH_SOCKET)
            .map_err(|e| fail(format!("binding {ATTACH_SOCKET}: {e}")))?;
        (usr1, listener)
    };
    report(
        &sync,
        &SyncMessage::Started {
            pid: started.pid,
            started_at: started.started_at,
        },
    );
    drop(sync);

    let status = runtime.block_on(supervise(bundle, &cfg, child, shim_io, usr1, listener));
    let (exit_code, signal) = status.unwrap_or_else(|e| {
        shim_log(bundle, &format!("waiting for the container: {e}"));
        exit_status(None, None)
    });
    let exit = ExitRecord {
        exit_code,
        signal,
        finished_at: Utc::now(),
        oom_killed: cgroups.oom_killed(&cfg.pod_uid, &bundle.id()),
    };
    write_json_atomic(&bundle.exit_path(), &exit).map_err(|e| format!("writing exit.json: {e}"))
}

fn open_cgroup_procs(cgroups: &Cgroups, pod_uid: &str, id: &str) -> io::Result<Vec<File>> {
    cgroups
        .procs_files(pod_uid, id)?
        .iter()
        .map(|p| OpenOptions::new().write(true).open(p))
        .collect()
}

/// The shim's ends of the container's stdio.
enum ShimIo {
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    Tty {
        master: OwnedFd,
    },
}

/// The shim's stdio before the fork: pipe ends, or the socket a tty
/// container sends its pty master over.
enum ShimSide {
    Pipes(ShimIo),
    Console(OwnedFd),
}

fn make_stdio(cfg: &ContainerConfig) -> io::Result<(ChildStdio, ShimSide)> {
    if cfg.tty {
        let (shim_end, container_end) = console::socket_pair().map_err(io::Error::from)?;
        return Ok((
            ChildStdio::Console {
                socket: container_end,
            },
            ShimSide::Console(shim_end),
        ));
    }
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from);
    let (stdin_child, stdin_shim) = if cfg.stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        let null = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/null")?;
        (OwnedFd::from(null), None)
    };
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    Ok((
        ChildStdio::Pipes {
            stdin: stdin_child,
            stdout: stdout_w,
            stderr: stderr_w,
        },
        ShimSide::Pipes(ShimIo::Pipes {
            stdin: stdin_shim,
            stdout: stdout_r,
            stderr: stderr_r,
        }),
    ))
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

type SharedLog = Arc<Mutex<CriLogWriter<Box<dyn Write + Send>>>>;

fn open_log(bundle: &Bundle, path: &Path) -> Box<dyn Write + Send> {
    match open_log_file(path) {
        Ok(f) => Box::new(f),
        Err(e) => {
            shim_log(bundle, &format!("opening log {}: {e}", path.display()));
            Box::new(io::sink())
        }
    }
}

fn log_write(log: &SharedLog, stream: Stream, data: &[u8]) {
    let mut w = log.lock().unwrap_or_else(PoisonError::into_inner);
    // Logging must not stop the copying: a full disk loses lines, not the container.
    let _ = w.write(stream, data);
}

/// Copies output and serves attach until the container exits; returns
/// its exit code and signal.
async fn supervise(
    bundle: &Bundle,
    cfg: &ContainerConfig,
    child: Pid,
    io: ShimIo,
    usr1: tokio::signal::unix::Signal,
    listener: UnixListener,
) -> io::Result<(i32, Option<i32>)> {
    let log: SharedLog = Arc::new(Mutex::new(CriLogWriter::new(open_log(
        bundle,
        &cfg.log_path,
    ))));
    let mut outputs = Vec::new();
    let hub = match io {
        ShimIo::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            let stdin_tx = match stdin {
                Some(fd) => Some(spawn_pipe_stdin(fd)?),
                None => None,
            };
            let hub = Hub::new(stdin_tx, None, cfg.stdin_once, false);
            for (fd, stream) in [(stdout, Stream::Stdout), (stderr, Stream::Stderr)] {
                let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
                outputs.push(tokio::spawn(copy_pipe(
                    rx,
                    stream,
                    log.clone(),
                    hub.clone(),
                )));
            }
            hub
        }
        ShimIo::Tty { master } => {
            set_nonblocking(master.as_raw_fd())?;
            // SAFETY: an OwnedFd keeps its descriptor open and unchanged
            // for as long as the AsyncFd owns it.
            let master = Arc::new(unsafe { AsyncFd::register(master)? });
            let stdin_tx = cfg.stdin.then(|| spawn_pty_stdin(master.clone()));
            let m = master.clone();
            let resize: ResizeFn = Arc::new(move |cols, rows| resize_pty(m.get_ref(), cols, rows));
            let hub = Hub::new(stdin_tx, Some(resize), cfg.stdin_once, true);
            outputs.push(tokio::spawn(copy_pty(master, log.clone(), hub.clone())));
            hub
        }
    };
    let accept = tokio::spawn(hub.clone().serve(listener));
    let reopen = tokio::spawn(reopen_log_on_sigusr1(
        usr1,
        bundle.clone(),
        cfg.log_path.clone(),
        log.clone(),
    ));

    let status = wait_child(child).await;

    let drained = async {
        for o in outputs {
            let _ = o.await;
        }
    };
    let _ = tokio::time::timeout(OUTPUT_DRAIN, drained).await;
    {
        let mut w = log.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = w.finish_stream(Stream::Stdout);
        let _ = w.finish_stream(Stream::Stderr);
    }
    accept.abort();
    let _ = std::fs::remove_file(ATTACH_SOCKET);
    hub.shutdown(CLIENT_DRAIN).await;
    reopen.abort();
    status
}

async fn wait_child(child: Pid) -> io::Result<(i32, Option<i32>)> {
    if let Some(fd) = PidFd::open(child.as_raw())? {
        fd.exited().await?;
    }
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(exit_status(Some(code), None)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(exit_status(None, Some(sig as i32))),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

async fn copy_pipe(
    mut rx: tokio::net::unix::pipe::Receiver,
    stream: Stream,
    log: SharedLog,
    hub: Arc<Hub>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match rx.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                log_write(&log, stream, &buf[..n]);
                let data = buf[..n].to_vec();
                hub.broadcast(match stream {
                    Stream::Stdout => Frame::Stdout(data),
                    Stream::Stderr => Frame::Stderr(data),
                });
            }
        }
    }
}

/// With a tty, stdout and stderr are one stream, logged as stdout.
async fn copy_pty(master: Arc<AsyncFd<OwnedFd>>, log: SharedLog, hub: Arc<Hub>) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let Ok(mut guard) = master.readable().await else {
            return;
        };
        let read = guard.try_io(|fd| {
            // SAFETY: reading into our own buffer from an fd we own.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match read {
            Err(_would_block) => continue,
            // EIO: every slave descriptor is closed (the container is gone).
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                log_write(&log, Stream::Stdout, &buf[..n]);
                hub.broadcast(Frame::Stdout(buf[..n].to_vec()));
            }
        }
    }
}

fn spawn_pipe_stdin(fd: OwnedFd) -> io::Result<mpsc::UnboundedSender<StdinCommand>> {
    let mut pipe = tokio::net::unix::pipe::Sender::from_owned_fd(fd)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                StdinCommand::Data(data) => {
                    // The container closed its stdin or exited: drop input.
                    if pipe.write_all(&data).await.is_err() {
                        return;
                    }
                }
                StdinCommand::Close => return,
            }
        }
    });
    Ok(tx)
}

fn spawn_pty_stdin(master: Arc<AsyncFd<OwnedFd>>) -> mpsc::UnboundedSender<StdinCommand> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            let StdinCommand::Data(data) = cmd else {
                continue;
            };
            let mut rest = &data[..];
            while !rest.is_empty() {
                let Ok(mut guard) = master.writable().await else {
                    return;
                };
                let wrote = guard.try_io(|fd| {
                    // SAFETY: writing from our own buffer to an fd we own.
                    let n =
                        unsafe { libc::write(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(n as usize)
                    }
                });
                match wrote {
                    Err(_would_block) => continue,
                    Ok(Ok(n)) => rest = &rest[n..],
                    Ok(Err(_)) => return,
                }
            }
        }
    });
    tx
}

fn resize_pty(master: &OwnedFd, cols: u16, rows: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
    }
}

/// After the kubelet rotates a log file it asks for the log to be
/// reopened; `Runtime::reopen_log` signals SIGUSR1.
async fn reopen_log_on_sigusr1(
    mut usr1: tokio::signal::unix::Signal,
    bundle: Bundle,
    path: PathBuf,
    log: SharedLog,
) {
    while usr1.recv().await.is_some() {
        let out = open_log(&bundle, &path);
        let mut w = log.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = w.replace_output(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sync_messages_are_one_json_line_each() {
        let started = SyncMessage::Started {
            pid: 42,
            started_at: Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&started).unwrap(),
            r#"{"started":{"pid":42,"started_at":"2026-11-23T10:00:00.000000000Z"}}"#
        );
        let failed = SyncMessage::Failed {
            message: "exec: \"x\": executable file not found in $PATH".into(),
            init: true,
        };
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(serde_json::from_str::<SyncMessage>(&text).unwrap(), failed);
    }
}
