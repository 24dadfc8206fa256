//! Process handles that cannot be fooled by pid reuse: a pidfd refers to
//! one process for its whole life, so signalling or waiting through it
//! never hits a stranger that inherited the pid.

use super::state::ProcessRecord;
use nix::sys::signal::Signal;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct PidFd {
    fd: OwnedFd,
}

impl PidFd {
    /// `None` when no process has that pid.
    pub fn open(pid: i32) -> io::Result<Option<PidFd>> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Ok(None);
            }
            return Err(e);
        }
        // SAFETY: the kernel just returned this descriptor to us.
        Ok(Some(PidFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd as i32) },
        }))
    }

    /// A handle on exactly the recorded process; `None` when it is gone
    /// (or its pid now belongs to another process). The start time is
    /// checked after opening, so the handle cannot be to a newcomer.
    pub fn open_verified(rec: &ProcessRecord) -> io::Result<Option<PidFd>> {
        let Some(fd) = PidFd::open(rec.pid)? else {
            return Ok(None);
        };
        Ok(rec.exists().then_some(fd))
    }

    /// `Ok(false)` when the process has already exited.
    pub fn signal(&self, sig: Signal) -> io::Result<bool> {
        // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(true)
    }

    /// Resolves when the process has exited (it may still be a zombie).
    pub async fn exited(self) -> io::Result<()> {
        // SAFETY: an OwnedFd keeps its descriptor open and unchanged for
        // as long as the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register_with_interest(self.fd, Interest::READABLE)? };
        let _ready = fd.readable().await?;
        Ok(())
    }

    /// Blocks until the process exits or `timeout` passes; true if it exited.
    pub fn wait_blocking(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        loop {
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            return Ok(rc > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_and_signals_a_child() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let rec = ProcessRecord::of(child.id() as i32).unwrap();
        let fd = PidFd::open_verified(&rec).unwrap().unwrap();
        assert!(!fd.wait_blocking(Duration::from_millis(10)).unwrap());
        assert!(fd.signal(Signal::SIGKILL).unwrap());
        assert!(fd.wait_blocking(Duration::from_secs(10)).unwrap());
        child.wait().unwrap();
        // Reaped: signalling through the old handle finds nobody.
        assert!(!fd.signal(Signal::SIGKILL).unwrap());
    }

    #[test]
    fn a_recycled_pid_is_not_opened() {
        let me = ProcessRecord::of(std::process::id() as i32).unwrap();
        let other = ProcessRecord {
            start_time: me.start_time + 7,
            ..me
        };
        assert!(PidFd::open_verified(&other).unwrap().is_none());
    }

    #[tokio::test]
    async fn exited_resolves_on_exit() {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 0.1"])
            .spawn()
            .unwrap();
        let fd = PidFd::open(child.id() as i32).unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(10), fd.exited())
            .await
            .unwrap()
            .unwrap();
        child.wait().unwrap();
    }
}
