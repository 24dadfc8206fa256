//! The container's terminal, made the way runc does it: the container
//! process opens a pty in its *own* devpts instance (so `tty` inside
//! prints `/dev/pts/0` and the slave is also `/dev/console`), and hands
//! the master to the shim over a unix socket pair (SCM_RIGHTS).

use super::container::go_errno;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The socket pair the master travels over (shim end, container end).
pub fn socket_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

fn send_fd(socket: BorrowedFd<'_>, fd: RawFd) -> nix::Result<()> {
    let fds = [fd];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(b"m")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
}

/// Receives the pty master; `None` when the container process ended (or
/// closed its end) without sending one.
pub fn receive_master(socket: &OwnedFd) -> nix::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            other => break other?,
        }
    };
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel installed these descriptors for us.
            let owned: Vec<OwnedFd> = fds
                .iter()
                .map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) })
                .collect();
            return Ok(owned.into_iter().next());
        }
    }
    Ok(None)
}

/// Runs in the container process after pivot_root: opens a pty in the
/// container's devpts, sends the master to the shim, makes the slave the
/// controlling terminal and stdin/stdout/stderr, and `/dev/console`.
pub fn setup_console(socket: &OwnedFd, uid: u32, gid: u32) -> Result<(), String> {
    const CONTEXT: &str = "setting up the console";
    let (slave, name) = send_new_pty(socket.as_fd(), uid, gid, CONTEXT)?;
    bind_console(&name).map_err(|e| step_error(CONTEXT, "/dev/console", e))?;
    become_controlling_terminal(&slave, CONTEXT)
}

/// `<context>: <step>: <errno>`, the wording of a terminal setup failure.
fn step_error(context: &str, step: &str, e: Errno) -> String {
    format!("{context}: {step}: {}", go_errno(e))
}

/// Opens a pty in the devpts mounted at /dev/pts (the container's own, as
/// with runc), hands its slave to `uid`:`gid` and sends the master over
/// `socket`. Returns the slave and its name. Shared by container init and
/// the exec helper, which both run inside the container.
pub(super) fn send_new_pty(
    socket: BorrowedFd<'_>,
    uid: u32,
    gid: u32,
    context: &str,
) -> Result<(OwnedFd, String), String> {
    let err = |step: &str, e: Errno| step_error(context, step, e);
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| err("open /dev/ptmx", e))?;
    nix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| err("ptsname", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| err(&format!("open {name}"), e))?;
    // The process's user owns its terminal, as with runc.
    nix::unistd::fchown(
        &slave,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(|e| err("chown", e))?;
    send_fd(socket, master.as_raw_fd()).map_err(|e| err("sending the master", e))?;
    Ok((slave, name))
}

/// Starts a new session with `slave` as its controlling terminal and makes
/// it stdin, stdout and stderr.
pub(super) fn become_controlling_terminal(slave: &OwnedFd, context: &str) -> Result<(), String> {
    nix::unistd::setsid().map_err(|e| step_error(context, "setsid", e))?;
    // SAFETY: TIOCSCTTY takes an int argument; `slave` is an open tty.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(step_error(context, "TIOCSCTTY", Errno::last()));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto stdio of descriptors this process owns.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(step_error(context, "dup2", Errno::last()));
        }
    }
    Ok(())
}

fn bind_console(slave: &str) -> nix::Result<()> {
    use nix::mount::MsFlags;
    let console = "/dev/console";
    if std::fs::symlink_metadata(console).is_err() {
        std::fs::File::create(console)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    }
    nix::mount::mount(
        Some(slave),
        console,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}
