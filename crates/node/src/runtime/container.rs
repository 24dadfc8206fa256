//! The container process's own setup, between the shim's fork and execve:
//! stdio, cgroups, namespaces, the root filesystem (planned in
//! `mount_plan.rs`, mounted by `mounts.rs`), identity, and the exec.
//!
//! Looking up the command follows Go's `exec.LookPath` as runc does
//! ([`lookup_executable`]). Failures are reported as runc words them,
//! because the kubelet shows those messages to users.

use super::config::ContainerConfig;
use super::mount_plan::mount_plan;
use super::mounts::apply_step;
use super::state::Bundle;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::convert::Infallible;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Go's `exec.LookPath` as runc runs it inside the container: names with a
/// `/` are used as they are, others are searched in `$PATH`. `check`
/// tells whether a path is an executable file, or why not (Go's words).
pub fn lookup_executable(
    file: &str,
    path_env: Option<&str>,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<String, String> {
    if file.contains('/') {
        return match check(file) {
            Ok(()) => Ok(file.to_string()),
            Err(why) => Err(format!("exec: {file:?}: {why}")),
        };
    }
    // Go's filepath.SplitList: an empty $PATH has no entries at all.
    let path = path_env.unwrap_or("");
    let dirs = path.split(':').filter(|_| !path.is_empty());
    for dir in dirs {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{}/{file}", dir.trim_end_matches('/'));
        if check(&candidate).is_ok() {
            if !candidate.starts_with('/') {
                return Err(format!(
                    "exec: {file:?}: cannot run executable found relative to current directory"
                ));
            }
            return Ok(candidate);
        }
    }
    Err(format!(
        "exec: {file:?}: executable file not found in $PATH"
    ))
}

/// The value of `PATH` in a `K=V` environment.
pub fn path_from_env(env: &[String]) -> Option<&str> {
    env.iter().rev().find_map(|e| e.strip_prefix("PATH="))
}

/// An errno the way Go prints it ("no such file or directory").
pub fn go_errno(e: Errno) -> String {
    let text = e.desc();
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

pub(crate) fn io_errno(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => go_errno(Errno::from_raw(n)),
        None => e.to_string(),
    }
}

// ---- Everything below touches the kernel and runs in the forked child. ----

/// Capabilities containerd grants a container by default.
pub const DEFAULT_CAPABILITIES: [u32; 14] = [
    0,  // CHOWN
    1,  // DAC_OVERRIDE
    3,  // FOWNER
    4,  // FSETID
    5,  // KILL
    6,  // SETGID
    7,  // SETUID
    8,  // SETPCAP
    10, // NET_BIND_SERVICE
    13, // NET_RAW
    18, // SYS_CHROOT
    27, // MKNOD
    29, // AUDIT_WRITE
    31, // SETFCAP
];

/// The container's stdio as the child receives it from the shim.
pub enum ChildStdio {
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A tty: the container end of the socket the pty master is sent
    /// over (see [`super::console`]).
    Console { socket: OwnedFd },
}

/// What the child needs, all opened by the shim before the fork.
pub struct InitArgs<'a> {
    pub cfg: &'a ContainerConfig,
    pub bundle: &'a Bundle,
    pub stdio: ChildStdio,
    /// `cgroup.procs` of each of the container's cgroups, open for writing.
    pub cgroup_procs: Vec<File>,
    /// /proc/sys/kernel/cap_last_cap, read while the host's /proc is visible.
    pub last_cap: u32,
}

/// Runs in the child the shim forked (pid 1 of the new pid namespace) and
/// never returns: it execs the container command, or writes why it could
/// not to `error_pipe` (close-on-exec, so a successful exec closes it
/// empty) and exits.
pub fn container_init(args: InitArgs<'_>, error_pipe: OwnedFd) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init(args)));
    let message = match outcome {
        Ok(Err(message)) => message,
        Ok(Ok(never)) => match never {},
        Err(_) => "container init panicked".to_string(),
    };
    let mut pipe = File::from(error_pipe);
    let _ = pipe.write_all(message.as_bytes());
    // SAFETY: _exit ends this forked child without running the parent's
    // atexit handlers or flushing its copied stdio buffers.
    unsafe { libc::_exit(127) }
}

fn init(args: InitArgs<'_>) -> Result<Infallible, String> {
    let cfg = args.cfg;
    reset_signals();
    let console = match args.stdio {
        ChildStdio::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            install_fd(stdin.as_raw_fd(), 0)?;
            install_fd(stdout.as_raw_fd(), 1)?;
            install_fd(stderr.as_raw_fd(), 2)?;
            None
        }
        ChildStdio::Console { socket } => Some(socket),
    };
    join_cgroups(&args.cgroup_procs)?;
    drop(args.cgroup_procs);
    enter_namespaces(cfg)?;
    for step in mount_plan(cfg, args.bundle) {
        apply_step(&step, &args.bundle.rootfs())?;
    }
    // The pty comes from the container's own devpts, mounted just now.
    if let Some(socket) = console {
        super::console::setup_console(&socket, cfg.uid, cfg.gid)?;
    }
    if !cfg.hostname.is_empty() {
        nix::unistd::sethostname(&cfg.hostname)
            .map_err(|e| format!("sethostname: {}", go_errno(e)))?;
    }
    let cwd = if cfg.cwd.is_empty() { "/" } else { &cfg.cwd };
    // runc creates the working directory when the image lacks it.
    let _ = fs::create_dir_all(cwd);
    drop_capabilities(args.last_cap)?;
    set_user(cfg.uid, cfg.gid, &cfg.additional_gids)?;
    nix::unistd::chdir(cwd).map_err(|e| {
        format!(
            "chdir to cwd ({cwd:?}) set in config.json failed: {}",
            go_errno(e)
        )
    })?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    exec(cfg)
}

/// Signal dispositions survive execve when ignored (Rust ignores SIGPIPE),
/// and the mask always does; the container starts from the defaults.
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        // SAFETY: setting a signal to SIG_DFL installs no handler code;
        // SIGKILL/SIGSTOP and invalid numbers just fail.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    let empty = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&empty),
        None,
    );
}

/// dup2 that also works when `fd` already is `target` (dup2 would then
/// leave close-on-exec set).
fn install_fd(fd: RawFd, target: RawFd) -> Result<(), String> {
    // SAFETY: plain fd syscalls on descriptors this process owns.
    let rc = unsafe {
        if fd == target {
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, target)
        }
    };
    if rc < 0 {
        return Err(format!(
            "setting up stdio: {}",
            io_errno(&io::Error::last_os_error())
        ));
    }
    Ok(())
}

fn join_cgroups(procs: &[File]) -> Result<(), String> {
    for mut f in procs {
        // "0" is the writing process itself, whatever its pid namespace.
        f.write_all(b"0")
            .map_err(|e| format!("joining cgroup: {}", io_errno(&e)))?;
    }
    Ok(())
}

fn enter_namespaces(cfg: &ContainerConfig) -> Result<(), String> {
    // An empty netns path keeps the shim's network (hostNetwork pods).
    if !cfg.netns.as_os_str().is_empty() {
        let ns = File::open(&cfg.netns).map_err(|e| {
            format!(
                "opening network namespace {}: {}",
                cfg.netns.display(),
                io_errno(&e)
            )
        })?;
        nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
            format!(
                "joining network namespace {}: {}",
                cfg.netns.display(),
                go_errno(e)
            )
        })?;
    }
    nix::sched::unshare(
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC,
    )
    .map_err(|e| format!("unshare mount/uts/ipc namespaces: {}", go_errno(e)))
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// Limits the container to the default capabilities: drops the rest from
/// the bounding set (what a root process gets on exec) and clears the
/// inheritable and ambient sets so nothing comes back in through them.
pub fn drop_capabilities(last_cap: u32) -> Result<(), String> {
    let fail = |what: &str| {
        format!(
            "unable to apply caps: {what}: {}",
            io_errno(&io::Error::last_os_error())
        )
    };
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
    }
    for cap in 0..=last_cap {
        if DEFAULT_CAPABILITIES.contains(&cap) {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } < 0 {
            return Err(fail("dropping from the bounding set"));
        }
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset with a v3 header and the two data words it needs.
    unsafe {
        if libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        ) < 0
        {
            return Err(fail("capget"));
        }
        for d in &mut data {
            d.inheritable = 0;
        }
        if libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        ) < 0
        {
            return Err(fail("capset"));
        }
    }
    Ok(())
}

pub fn set_user(uid: u32, gid: u32, additional_gids: &[u32]) -> Result<(), String> {
    use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
    let groups: Vec<Gid> = additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| format!("unable to setup user: setgroups: {}", go_errno(e)))?;
    setgid(Gid::from_raw(gid))
        .map_err(|e| format!("unable to setup user: setgid {gid}: {}", go_errno(e)))?;
    setuid(Uid::from_raw(uid))
        .map_err(|e| format!("unable to setup user: setuid {uid}: {}", go_errno(e)))
}

/// Go's `findExecutable`: a regular file the current user may execute.
pub fn check_executable(path: &str) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| format!("stat {path}: {}", io_errno(&e)))?;
    if meta.is_dir() {
        return Err(go_errno(Errno::EISDIR));
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).map_err(go_errno)
}

fn cstrings(items: &[String], what: &str) -> Result<Vec<CString>, String> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| format!("{what} {s:?} contains a NUL byte"))
        })
        .collect()
}

/// Marks every descriptor above stdio close-on-exec, so the program about
/// to be exec'd inherits only stdin, stdout and stderr.
pub(crate) fn close_above_stdio_on_exec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

fn exec(cfg: &ContainerConfig) -> Result<Infallible, String> {
    let argv0 = cfg.args.first().ok_or("process args must not be empty")?;
    let path = lookup_executable(argv0, path_from_env(&cfg.env), check_executable)?;
    let args = cstrings(&cfg.args, "argument")?;
    let env = cstrings(&cfg.env, "environment entry")?;
    let c_path =
        CString::new(path.as_bytes()).map_err(|_| format!("path {path:?} contains a NUL byte"))?;
    // Nothing of the shim's may leak into the container (the error pipe
    // closing tells the shim the exec succeeded).
    close_above_stdio_on_exec();
    match nix::unistd::execve(&c_path, &args, &env) {
        Ok(never) => match never {},
        Err(e) => Err(format!("exec {path}: {}", go_errno(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_searches_path_like_go() {
        let exists = |p: &str| match p {
            "/bin/sh" | "/usr/local/bin/app" => Ok(()),
            "/usr/bin/sh" => Err("permission denied".to_string()),
            "/dir" => Err("is a directory".to_string()),
            other => Err(format!("stat {other}: no such file or directory")),
        };
        let path = Some("/usr/local/bin:/usr/bin:/bin");
        assert_eq!(lookup_executable("sh", path, exists), Ok("/bin/sh".into()));
        assert_eq!(
            lookup_executable("app", path, exists),
            Ok("/usr/local/bin/app".into())
        );
        assert_eq!(
            lookup_executable("nope", path, exists),
            Err(r#"exec: "nope": executable file not found in $PATH"#.into())
        );
        assert_eq!(
            lookup_executable("sh", None, exists),
            Err(r#"exec: "sh": executable file not found in $PATH"#.into())
        );
        assert_eq!(
            lookup_executable("/nope", path, exists),
            Err(r#"exec: "/nope": stat /nope: no such file or directory"#.into())
        );
        assert_eq!(
            lookup_executable("/dir", path, exists),
            Err(r#"exec: "/dir": is a directory"#.into())
        );
        assert_eq!(
            lookup_executable("/bin/sh", None, exists),
            Ok("/bin/sh".into())
        );
        let dot = |p: &str| {
            if p == "./tool" {
                Ok(())
            } else {
                Err("no".to_string())
            }
        };
        assert_eq!(
            lookup_executable("tool", Some(":/bin"), dot),
            Err(
                r#"exec: "tool": cannot run executable found relative to current directory"#.into()
            )
        );
    }

    #[test]
    fn path_comes_from_the_last_entry() {
        let env = vec![
            "A=1".to_string(),
            "PATH=/a".to_string(),
            "PATH=/b".to_string(),
        ];
        assert_eq!(path_from_env(&env), Some("/b"));
        assert_eq!(path_from_env(&["X=1".to_string()]), None);
    }

    #[test]
    fn errno_texts_read_like_go() {
        assert_eq!(go_errno(Errno::ENOENT), "no such file or directory");
        assert_eq!(go_errno(Errno::EACCES), "permission denied");
        assert_eq!(go_errno(Errno::ENOTDIR), "not a directory");
    }
}
