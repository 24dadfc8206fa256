//! `kubectl port-forward`'s last hop: a TCP connection to localhost:port
//! inside a pod's network namespace, as containerd's portForward dials it
//! (IPv4 first, then IPv6), with its error texts.
//!
//! The socket is created on a throw-away thread that setns'd into the pod
//! netns; a socket keeps the namespace it was made in, so the stream works
//! from any thread afterwards. The thread never returns to the host netns,
//! which is why it must not be a pool thread.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sched::{setns, CloneFlags};

use super::container::go_errno;

/// Connects to 127.0.0.1:`port` (else [::1]:`port`) inside the network
/// namespace bind-mounted at `netns`.
pub async fn port_connect(netns: &Path, port: u16) -> io::Result<tokio::net::TcpStream> {
    let netns = netns.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("k1s-portconnect".into())
        .spawn(move || {
            let _ = tx.send(connect_in_netns(&netns, port));
        })?;
    let stream = rx
        .await
        .map_err(|_| io::Error::other("port-forward connect thread ended without a result"))??;
    stream.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(stream)
}

/// Runs on its own thread: enters the netns for good, then dials.
fn connect_in_netns(netns: &Path, port: u16) -> io::Result<std::net::TcpStream> {
    let sandbox = sandbox_name(netns);
    let ns = std::fs::File::open(netns).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("network namespace for sandbox {sandbox:?} is closed"),
        )
    })?;
    setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!(
                "failed to execute portforward in network namespace {:?}: entering it: {}",
                netns.display().to_string(),
                go_errno(e)
            ),
        )
    })?;
    let v4 = dial(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let v4_err = match v4 {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let v6_err = match dial(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    Err(io::Error::new(
        v4_err
            .errno
            .map(io::Error::from)
            .map_or(io::ErrorKind::Other, |e| e.kind()),
        connect_failure_message(netns, &sandbox, port, &v4_err, &v6_err),
    ))
}

/// The pod's id as the netns file names it (DATA_DIR/netns/<pod-uid>).
fn sandbox_name(netns: &Path) -> String {
    netns
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| netns.display().to_string())
}

/// One failed dial, in Go's `net.OpError` terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DialError {
    addr: SocketAddr,
    /// "socket" or "connect".
    op: &'static str,
    errno: Option<nix::errno::Errno>,
}

impl DialError {
    /// `dial tcp4 127.0.0.1:80: connect: connection refused`
    fn go_text(&self) -> String {
        let net = if self.addr.is_ipv4() { "tcp4" } else { "tcp6" };
        let cause = self
            .errno
            .map_or_else(|| "unknown error".to_string(), go_errno);
        format!("dial {net} {}: {}: {cause}", self.addr, self.op)
    }
}

/// containerd's message, wrapped as its portForward wraps it.
pub(crate) fn connect_failure_message(
    netns: &Path,
    sandbox: &str,
    port: u16,
    v4: &DialError,
    v6: &DialError,
) -> String {
    format!(
        "failed to execute portforward in network namespace {:?}: failed to connect to localhost:{port} inside namespace {sandbox:?}, IPv4: {} IPv6 {} ",
        netns.display().to_string(),
        v4.go_text(),
        v6.go_text()
    )
}

fn dial(addr: SocketAddr) -> Result<std::net::TcpStream, DialError> {
    use nix::sys::socket::{
        connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6,
    };
    let fail = |op, e: nix::errno::Errno| DialError {
        addr,
        op,
        errno: Some(e),
    };
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd: OwnedFd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| fail("socket", e))?;
    match addr {
        SocketAddr::V4(a) => connect(fd.as_raw_fd(), &SockaddrIn::from(a)),
        SocketAddr::V6(a) => connect(fd.as_raw_fd(), &SockaddrIn6::from(a)),
    }
    .map_err(|e| fail("connect", e))?;
    Ok(std::net::TcpStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn failure_message_matches_containerd() {
        let v4 = DialError {
            addr: "127.0.0.1:80".parse().unwrap(),
            op: "connect",
            errno: Some(Errno::ECONNREFUSED),
        };
        let v6 = DialError {
            addr: "[::1]:80".parse().unwrap(),
            op: "connect",
            errno: Some(Errno::ECONNREFUSED),
        };
        assert_eq!(
            connect_failure_message(Path::new("/var/lib/k1s/netns/uid-1"), "uid-1", 80, &v4, &v6),
            "failed to execute portforward in network namespace \"/var/lib/k1s/netns/uid-1\": \
             failed to connect to localhost:80 inside namespace \"uid-1\", \
             IPv4: dial tcp4 127.0.0.1:80: connect: connection refused \
             IPv6 dial tcp6 [::1]:80: connect: connection refused "
        );
        assert_eq!(sandbox_name(Path::new("/d/netns/abc")), "abc");
    }

    #[tokio::test]
    async fn missing_netns_is_reported_as_closed() {
        let err = port_connect(Path::new("/nonexistent/k1s/netns/pod-x"), 80)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "network namespace for sandbox \"pod-x\" is closed"
        );
    }
}
