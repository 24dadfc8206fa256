//! Network sysctls. /proc/sys/net shows the namespace of the thread that
//! opens the file, so these act on the worker thread's namespace.

use std::path::Path;
use std::process::{Command, Stdio};

use super::error::{io_error, NetError};

pub(crate) const IP_FORWARD: &str = "net/ipv4/ip_forward";
/// Present only while br_netfilter is loaded; per namespace since Linux 5.3.
pub(crate) const BRIDGE_NF_CALL_IPTABLES: &str = "net/bridge/bridge-nf-call-iptables";

fn path_of(key: &str) -> String {
    format!("/proc/sys/{key}")
}

/// Sets `key` to `value` unless it already has it.
pub(crate) fn ensure(key: &str, value: &str) -> Result<(), NetError> {
    let path = path_of(key);
    let current = std::fs::read_to_string(&path).map_err(io_error(format!("reading {path}")))?;
    if current.trim() == value {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(io_error(format!("writing {value} to {path}")))
}

/// Makes bridged IPv4 traffic pass through netfilter, so a reply from a
/// pod to a pod on the same bridge is un-DNATed when the request went
/// through a ClusterIP. Loads br_netfilter if needed (as kubeadm asks the
/// admin to); without it that one path breaks, everything else works, so a
/// missing module is reported, not fatal.
pub(crate) fn ensure_bridge_netfilter() -> Result<(), NetError> {
    if !Path::new(&path_of(BRIDGE_NF_CALL_IPTABLES)).exists() {
        let loaded = Command::new("modprobe")
            .arg("br_netfilter")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !loaded || !Path::new(&path_of(BRIDGE_NF_CALL_IPTABLES)).exists() {
            tracing::warn!(
                "br_netfilter is not available: pod -> ClusterIP -> pod traffic on the same node will fail"
            );
            return Ok(());
        }
    }
    ensure(BRIDGE_NF_CALL_IPTABLES, "1")
}
