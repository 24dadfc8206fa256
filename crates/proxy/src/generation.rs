//! Noticing that someone else changed nftables, cheaply. The kernel counts
//! committed nftables transactions per network namespace (the ruleset
//! "generation", what `nft` itself uses to validate its cache). Reading it
//! is one netlink round trip whatever the size of the tables, whereas any
//! `nft list` makes the kernel dump every chain (seconds at 10,000
//! Services). So the proxy remembers the generation its own last sync left
//! behind and polls it: a different value means another process committed
//! something — maybe deleted or flushed our table — and only then is the
//! table listed and compared.
//!
//! Pure part: the request bytes, the reply parser and `Watch`. Kernel
//! part: `read`, a netlink socket in the calling thread's namespace.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// `NFNL_SUBSYS_NFTABLES << 8`.
const SUBSYS_NFTABLES: u16 = 10 << 8;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFTA_GEN_ID: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
/// nlmsghdr (16 bytes) + nfgenmsg (4 bytes).
const HEADER: usize = 20;

/// A `NFT_MSG_GETGEN` request (what `nft` sends before listing).
pub fn request(seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER);
    b.extend_from_slice(&(HEADER as u32).to_ne_bytes());
    b.extend_from_slice(&(SUBSYS_NFTABLES | NFT_MSG_GETGEN).to_ne_bytes());
    b.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    b.extend_from_slice(&[0, 0, 0, 0]); // AF_UNSPEC, NFNETLINK_V0, res_id 0
    b
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The generation from the kernel's answer to `request(seq)`: a
/// `NFT_MSG_NEWGEN` message whose `NFTA_GEN_ID` attribute (big-endian)
/// holds it, or a netlink error.
pub fn parse_reply(buf: &[u8], seq: u32) -> Result<u32, String> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32_at(buf, at).ok_or("short header")? as usize;
        let kind = u16_at(buf, at + 4).ok_or("short header")?;
        let msg = buf
            .get(at..at + len)
            .filter(|_| len >= 16)
            .ok_or_else(|| format!("bad message length {len}"))?;
        if u32_at(msg, 8) == Some(seq) {
            if kind == NLMSG_ERROR {
                let errno = u32_at(msg, 16).map_or(0, |e| -(e as i32));
                return Err(format!("netlink error {errno}"));
            }
            if kind == SUBSYS_NFTABLES | NFT_MSG_NEWGEN {
                return gen_id(msg.get(HEADER..).unwrap_or_default())
                    .ok_or_else(|| "NEWGEN without NFTA_GEN_ID".to_string());
            }
        }
        at += align4(len);
    }
    Err("no answer to the generation request".into())
}

/// `NFTA_GEN_ID` among netlink attributes.
fn gen_id(attrs: &[u8]) -> Option<u32> {
    let mut at = 0;
    while at + 4 <= attrs.len() {
        let len = u16_at(attrs, at)? as usize;
        let kind = u16_at(attrs, at + 2)? & 0x3fff; // without NLA_F_* flags
        if len < 4 {
            return None;
        }
        if kind == NFTA_GEN_ID {
            let v: [u8; 4] = attrs.get(at + 4..at + 8)?.try_into().ok()?;
            return Some(u32::from_be_bytes(v));
        }
        at += align4(len);
    }
    None
}

/// A NETLINK_NETFILTER socket in the calling thread's network namespace,
/// bound, whose receives give up after `reply_limit`.
pub(crate) fn netfilter_socket(reply_limit: Duration) -> io::Result<OwnedFd> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, NetlinkAddr, SockFlag, SockProtocol,
        SockType,
    };
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    let limit = nix::sys::time::TimeVal::new(
        reply_limit.as_secs() as i64,
        i64::from(reply_limit.subsec_micros()),
    );
    setsockopt(&fd, sockopt::ReceiveTimeout, &limit)?;
    Ok(fd)
}

/// The current generation of the calling thread's network namespace.
pub fn read() -> io::Result<u32> {
    use nix::sys::socket::{recv, send, MsgFlags};
    // The kernel answers at once; never let a poll hang the proxy.
    let fd = netfilter_socket(Duration::from_millis(500))?;
    let seq = 1;
    send(fd.as_raw_fd(), &request(seq), MsgFlags::empty())?;
    let mut buf = vec![0u8; 8192];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
    parse_reply(&buf[..n], seq).map_err(io::Error::other)
}

/// The generation our own last commit left behind, and whether someone
/// committed since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watch {
    ours: Option<u32>,
}

impl Watch {
    /// Call right after our own commits with the generation read then
    /// (`None` if unreadable). A commit by someone else in between is
    /// taken for ours — a window of microseconds.
    pub fn record(&mut self, now: Option<u32>) {
        self.ours = now;
    }

    /// Whether the generation moved since `record`: `None` when either
    /// value is unknown (the caller falls back to a slow periodic check).
    pub fn changed(&self, now: Option<u32>) -> Option<bool> {
        Some(now? != self.ours?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel sends back (6.x): NEWGEN with res_id = low bits of
    /// the generation, then NFTA_GEN_ID, NFTA_GEN_PROC_PID and
    /// NFTA_GEN_PROC_NAME ("nft\0").
    fn newgen(seq: u32, generation: u32) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&8u16.to_ne_bytes());
        attrs.extend_from_slice(&1u16.to_ne_bytes());
        attrs.extend_from_slice(&generation.to_be_bytes());
        attrs.extend_from_slice(&8u16.to_ne_bytes());
        attrs.extend_from_slice(&2u16.to_ne_bytes());
        attrs.extend_from_slice(&4242u32.to_be_bytes());
        attrs.extend_from_slice(&8u16.to_ne_bytes());
        attrs.extend_from_slice(&3u16.to_ne_bytes());
        attrs.extend_from_slice(b"nft\0");
        let mut m = Vec::new();
        m.extend_from_slice(&((HEADER + attrs.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&(SUBSYS_NFTABLES | NFT_MSG_NEWGEN).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&77u32.to_ne_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&(generation as u16).to_be_bytes());
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn request_is_a_getgen_message() {
        let r = request(9);
        assert_eq!(r.len(), 20);
        assert_eq!(u32_at(&r, 0), Some(20));
        assert_eq!(u16_at(&r, 4), Some(0x0a10));
        assert_eq!(u16_at(&r, 6), Some(1));
        assert_eq!(u32_at(&r, 8), Some(9));
        assert_eq!(&r[16..], &[0, 0, 0, 0]);
    }

    #[test]
    fn reply_gives_the_generation() {
        assert_eq!(parse_reply(&newgen(9, 70_123), 9), Ok(70_123));
        // Another sequence number's message first, then ours.
        let mut two = newgen(8, 1);
        two.extend(newgen(9, 2));
        assert_eq!(parse_reply(&two, 9), Ok(2));
        assert!(parse_reply(&newgen(8, 1), 9).is_err());
    }

    #[test]
    fn errors_and_garbage_are_errors() {
        let mut err = Vec::new();
        err.extend_from_slice(&36u32.to_ne_bytes());
        err.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err.extend_from_slice(&0u16.to_ne_bytes());
        err.extend_from_slice(&9u32.to_ne_bytes());
        err.extend_from_slice(&0u32.to_ne_bytes());
        err.extend_from_slice(&(-1i32).to_ne_bytes()); // EPERM
        err.extend_from_slice(&request(9)[..16]);
        assert_eq!(parse_reply(&err, 9), Err("netlink error 1".into()));
        assert!(parse_reply(&[1, 2, 3], 9).is_err());
        let mut short = newgen(9, 5);
        short[0] = 200; // claims more than there is
        assert!(parse_reply(&short, 9).is_err());
    }

    #[test]
    fn watch_says_when_someone_else_committed() {
        let mut w = Watch::default();
        assert_eq!(w.changed(Some(5)), None, "nothing recorded yet");
        w.record(Some(5));
        assert_eq!(w.changed(Some(5)), Some(false));
        assert_eq!(w.changed(Some(6)), Some(true));
        assert_eq!(w.changed(None), None, "unreadable");
        w.record(None);
        assert_eq!(w.changed(Some(6)), None);
    }
}
