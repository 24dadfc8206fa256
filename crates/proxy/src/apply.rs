//! The only code that touches the kernel: sends a transaction as one
//! nf_tables netlink batch when `netlink` can encode it, else runs `nft` (a
//! transaction per call, fed on stdin, so it applies atomically); runs
//! `conntrack` (from Debian's conntrack package); optionally inside a named
//! network namespace (`ip netns exec`, or a socket opened there).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::conntrack::ConntrackFilter;
use crate::netlink;
use crate::tx::Transaction;

/// Socket buffers for batches and their acknowledgements (nft uses as much).
const NETLINK_BUFFER: usize = 16 << 20;
/// How long the kernel may take to commit a batch before we give up waiting.
const NETLINK_REPLY_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("running {cmd}: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("{cmd} failed: {stderr}")]
    Failed { cmd: String, stderr: String },
    #[error("reading {cmd} output: {msg}")]
    Output { cmd: String, msg: String },
    /// The kernel rejected a netlink batch: nothing of it was applied.
    #[error("netlink batch refused: {0}")]
    Refused(String),
}

/// Runs nft and conntrack for one network namespace.
#[derive(Clone, Debug)]
pub struct Applier {
    netns: Option<String>,
    nft: String,
    conntrack: Option<String>,
    /// Send what `netlink` can encode directly instead of running nft.
    pub netlink: bool,
}

fn find_in_path(prog: &str) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| Path::new(dir).join(prog))
        .find(|p| p.is_file());
    found.map(|p| p.to_string_lossy().into_owned())
}

impl Default for Applier {
    fn default() -> Applier {
        Applier::new()
    }
}

impl Applier {
    /// Acts on the current network namespace.
    pub fn new() -> Applier {
        Applier {
            netns: None,
            nft: find_in_path("nft").unwrap_or_else(|| "nft".into()),
            conntrack: find_in_path("conntrack"),
            netlink: true,
        }
    }

    /// Acts inside the named namespace (`ip netns exec NAME ...`).
    pub fn in_netns(name: &str) -> Applier {
        Applier {
            netns: Some(name.into()),
            ..Applier::new()
        }
    }

    /// Whether the conntrack tool was found (else stale UDP flows stay).
    pub fn has_conntrack(&self) -> bool {
        self.conntrack.is_some()
    }

    fn command(&self, prog: &str, args: &[&str]) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, prog]);
                c
            }
            None => Command::new(prog),
        };
        c.args(args);
        c
    }

    fn run(&self, prog: &str, args: &[&str], stdin: Option<&str>) -> Result<Output, ApplyError> {
        let mut cmd = self.command(prog, args);
        let desc = format!("{prog} {}", args.join(" "));
        let spawn = |source| ApplyError::Spawn {
            cmd: desc.clone(),
            source,
        };
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(spawn)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).map_err(spawn)?;
        }
        child.wait_with_output().map_err(spawn)
    }

    fn nft(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, ApplyError> {
        let out = self.run(&self.nft, args, stdin)?;
        if !out.status.success() {
            return Err(ApplyError::Failed {
                cmd: format!("nft {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out)
    }

    /// Applies `nft -f` text as one transaction.
    pub fn apply_text(&self, text: &str) -> Result<(), ApplyError> {
        self.nft(&["-f", "-"], Some(text)).map(drop)
    }

    /// Applies a transaction atomically: as a netlink batch when it can be
    /// encoded, else (or if the kernel refused the batch) through nft.
    /// Nothing to do if empty.
    pub fn apply(&self, tx: &Transaction) -> Result<(), ApplyError> {
        if tx.is_empty() {
            return Ok(());
        }
        if self.netlink {
            match self.apply_netlink(tx) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                // Nothing was applied (batches are atomic); nft says why, or succeeds.
                Err(e @ ApplyError::Refused(_)) => {
                    tracing::warn!(error = %e, "applying with nft instead")
                }
                // No answer: whether it applied is unknown, so do not apply it twice.
                Err(e) => return Err(e),
            }
        }
        self.apply_text(&tx.to_nft())
    }

    /// Applies a transaction as one netlink batch; `false` when `netlink`
    /// cannot encode it (nothing was done then).
    pub fn apply_netlink(&self, tx: &Transaction) -> Result<bool, ApplyError> {
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos());
        match netlink::encode(tx, seq) {
            Some(batch) => self.commit(&batch).map(|()| true),
            None => Ok(false),
        }
    }

    /// A netfilter netlink socket in this applier's network namespace.
    fn socket(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        use nix::sys::socket::{setsockopt, sockopt};
        let open = || -> std::io::Result<std::os::fd::OwnedFd> {
            let fd = crate::generation::netfilter_socket(NETLINK_REPLY_LIMIT)?;
            // Root may exceed the default limits (large batches); else keep them.
            let _ = setsockopt(&fd, sockopt::SndBufForce, &NETLINK_BUFFER);
            let _ = setsockopt(&fd, sockopt::RcvBufForce, &NETLINK_BUFFER);
            Ok(fd)
        };
        let Some(ns) = &self.netns else {
            return open();
        };
        // A socket belongs to the namespace it was created in: create it
        // on a thread that entered the named one.
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path)?;
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
                open()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
        })
    }

    /// Sends a batch and waits for the kernel's verdict: the
    /// acknowledgement of its last command, after any errors.
    fn commit(&self, batch: &netlink::Batch) -> Result<(), ApplyError> {
        use nix::sys::socket::{recv, send, MsgFlags};
        use std::os::fd::AsRawFd;
        let fail = |msg: String| ApplyError::Failed {
            cmd: "netlink batch".into(),
            stderr: msg,
        };
        let io = |e: std::io::Error| fail(e.to_string());
        let refused =
            |errno: i32| ApplyError::Refused(std::io::Error::from_raw_os_error(errno).to_string());
        let fd = self.socket().map_err(io)?;
        let sent =
            send(fd.as_raw_fd(), &batch.bytes, MsgFlags::empty()).map_err(|e| io(e.into()))?;
        if sent != batch.bytes.len() {
            return Err(fail(format!("sent {sent} of {} bytes", batch.bytes.len())));
        }
        let mut buf = vec![0u8; 1 << 16];
        let mut first_error: Option<i32> = None;
        let mut done = false;
        while !done {
            let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => n,
                Err(e) => {
                    return Err(match first_error {
                        Some(errno) => refused(errno),
                        None => io(e.into()),
                    })
                }
            };
            for (seq, errno) in netlink::acks(&buf[..n]) {
                if errno != 0 {
                    first_error.get_or_insert(errno);
                }
                done |= seq == batch.last_seq || seq == batch.begin_seq;
            }
        }
        match first_error {
            None => Ok(()),
            Some(errno) => Err(refused(errno)),
        }
    }

    /// Applies a transaction through nft's JSON input instead.
    pub fn apply_json(&self, tx: &Transaction) -> Result<(), ApplyError> {
        if tx.is_empty() {
            return Ok(());
        }
        self.nft(&["-j", "-f", "-"], Some(&tx.to_json().to_string()))
            .map(drop)
    }

    fn missing(e: &ApplyError) -> bool {
        matches!(e, ApplyError::Failed { stderr, .. } if stderr.contains("No such file or directory"))
    }

    /// `nft -j list table ip NAME`, or `None` when the table does not exist.
    pub fn list_json(&self, table: &str) -> Result<Option<Value>, ApplyError> {
        match self.nft(&["-j", "list", "table", "ip", table], None) {
            Ok(out) => {
                serde_json::from_slice(&out.stdout)
                    .map(Some)
                    .map_err(|e| ApplyError::Output {
                        cmd: "nft -j list".into(),
                        msg: e.to_string(),
                    })
            }
            Err(e) if Self::missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `table ip NAME` exists, without listing what it holds
    /// (seconds at scale).
    pub fn table_exists(&self, table: &str) -> Result<bool, ApplyError> {
        let out = self.nft(&["list", "tables", "ip"], None)?;
        let wanted = format!("table ip {table}");
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == wanted))
    }

    /// `nft list table ip NAME` as text, or `None` when it does not exist.
    pub fn list_text(&self, table: &str) -> Result<Option<String>, ApplyError> {
        match self.nft(&["list", "table", "ip", table], None) {
            Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
            Err(e) if Self::missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the table; `false` if it was not there.
    pub fn delete_table(&self, table: &str) -> Result<bool, ApplyError> {
        match self.nft(&["delete", "table", "ip", table], None) {
            Ok(_) => Ok(true),
            Err(e) if Self::missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the flows `f` selects; returns how many went. Errors when
    /// the conntrack tool is missing.
    pub fn conntrack_delete(&self, f: &ConntrackFilter) -> Result<u64, ApplyError> {
        let Some(prog) = &self.conntrack else {
            return Err(ApplyError::Spawn {
                cmd: "conntrack".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "conntrack not installed",
                ),
            });
        };
        let args = f.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(prog, &args, None)?;
        // "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been
        // deleted." — the exit status is 1 when the count is 0.
        let stderr = String::from_utf8_lossy(&out.stderr);
        parse_deleted(&stderr).ok_or_else(|| ApplyError::Failed {
            cmd: format!("conntrack {}", args.join(" ")),
            stderr: stderr.trim().to_string(),
        })
    }
}

fn parse_deleted(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("flow entries have been deleted"))?;
    let before = line.split(" flow entries").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conntrack_summary_is_parsed() {
        assert_eq!(
            parse_deleted(
                "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n"
            ),
            Some(0)
        );
        assert_eq!(
            parse_deleted("conntrack v1.4.7 (conntrack-tools): 12 flow entries have been deleted."),
            Some(12)
        );
        assert_eq!(
            parse_deleted("conntrack v1.4.7 (conntrack-tools): Operation not permitted"),
            None
        );
    }

    #[test]
    fn netns_commands_go_through_ip_netns_exec() {
        let a = Applier::in_netns("k1s-x");
        let c = a.command("nft", &["-f", "-"]);
        assert_eq!(c.get_program(), "ip");
        let args: Vec<_> = c
            .get_args()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["netns", "exec", "k1s-x", "nft", "-f", "-"]);
    }
}
