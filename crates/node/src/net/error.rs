//! Errors of node networking, each naming the step that failed.

use std::io;

use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A syscall or netlink request failed (netlink errors carry the errno).
    #[error("{op}: {source}")]
    Io { op: String, source: io::Error },
    /// A netlink exchange failed without an errno (protocol trouble).
    #[error("{op}: {source}")]
    Netlink {
        op: String,
        source: rtnetlink::Error,
    },
    #[error("applying nftables rules: {0}")]
    Nft(#[from] k1s_proxy::ApplyError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("invalid pod uid {0:?}")]
    InvalidUid(String),
    #[error("invalid network configuration: {0}")]
    Config(String),
    #[error("bridge {0} does not exist: NodeNetwork::ensure() creates it")]
    NoBridge(String),
    /// Two pod uids hash to the same host veth name.
    #[error("host interface {veth} for pod {pod_uid} is already used by pod {owner}")]
    VethTaken {
        veth: String,
        pod_uid: String,
        owner: String,
    },
    #[error("{0}")]
    Worker(String),
}

impl NetError {
    /// The errno behind the error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// `map_err` adapter for I/O errors: `.map_err(io_error("doing x"))`.
pub(crate) fn io_error(op: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let op = op.into();
    move |source| NetError::Io { op, source }
}

/// `map_err` adapter for netlink errors; kernel rejections become I/O
/// errors with their errno so callers can tell ENODEV from EEXIST.
pub(crate) fn netlink_error(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let op = op.into();
    move |source| match &source {
        rtnetlink::Error::NetlinkError(msg) if msg.code.is_some() => NetError::Io {
            op,
            source: msg.to_io(),
        },
        _ => NetError::Netlink { op, source },
    }
}
