//! Pure decisions of node networking: the names, addresses and MACs that the
//! kernel layer then puts in place. Nothing here touches the kernel.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use super::ipam::Pool;

/// Interface name of the pod end of the veth pair, as every CNI plugin names it.
pub const POD_IFNAME: &str = "eth0";

/// MTU of the bridge and both veth ends.
pub const MTU: u32 = 1500;

/// Linux's IFNAMSIZ minus the terminating NUL.
const MAX_IFNAME: usize = 15;

/// Host end of a pod's veth pair: `veth` + 8 hex digits of SHA-256(uid).
/// Derived from the uid alone so teardown and reset find it without state.
pub fn host_veth_name(pod_uid: &str) -> String {
    let digest = Sha256::digest(pod_uid.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{hex}")
}

/// A fixed, locally administered MAC for the bridge. Without one the bridge
/// borrows the lowest port MAC and changes it as pods come and go, which
/// leaves the pods' ARP entries for the gateway pointing at a stale MAC.
pub fn bridge_mac(gateway: Ipv4Addr) -> [u8; 6] {
    let [_, b, c, d] = gateway.octets();
    // 02 = locally administered unicast; 6b:31 = "k1".
    [0x02, 0x6b, 0x31, b, c, d]
}

/// Where a pod's network namespace is pinned: DATA_DIR/netns/<uid>.
pub fn netns_path(data_dir: &Path, pod_uid: &str) -> PathBuf {
    netns_dir(data_dir).join(pod_uid)
}

/// DATA_DIR/netns.
pub fn netns_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("netns")
}

/// Pod uids become file and interface-alias names: accept what a Kubernetes
/// uid (a UUID) or a test name looks like, nothing that could walk paths.
pub fn valid_pod_uid(pod_uid: &str) -> bool {
    !pod_uid.is_empty()
        && pod_uid.len() <= 128
        && pod_uid != "."
        && pod_uid != ".."
        && pod_uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `name` can be a Linux interface name.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

/// The bridge as `ensure()` sets it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePlan {
    pub name: String,
    pub mac: [u8; 6],
    pub mtu: u32,
    /// Gateway address with the pod CIDR's prefix (10.244.0.1/24).
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// Routed onto the bridge so service traffic never leaves the node.
    pub service_cidr: Ipv4Net,
}

pub fn bridge_plan(bridge: &str, pool: &Pool, service_cidr: Ipv4Net) -> BridgePlan {
    BridgePlan {
        name: bridge.to_string(),
        mac: bridge_mac(pool.gateway()),
        mtu: MTU,
        address: pool.gateway(),
        prefix_len: pool.net().prefix_len(),
        service_cidr: service_cidr.trunc(),
    }
}

/// One pod's links and addresses as `setup_pod()` sets them up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPlan {
    pub pod_uid: String,
    pub netns: PathBuf,
    pub bridge: String,
    pub host_veth: String,
    pub mtu: u32,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

pub fn pod_plan(
    data_dir: &Path,
    bridge: &str,
    pool: &Pool,
    pod_uid: &str,
    ip: Ipv4Addr,
) -> PodPlan {
    PodPlan {
        pod_uid: pod_uid.to_string(),
        netns: netns_path(data_dir, pod_uid),
        bridge: bridge.to_string(),
        host_veth: host_veth_name(pod_uid),
        mtu: MTU,
        ip,
        prefix_len: pool.net().prefix_len(),
        gateway: pool.gateway(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_are_stable_short_and_distinct() {
        // Golden values: changing the scheme would orphan veths of running pods.
        assert_eq!(
            host_veth_name("2f0c5a1e-6a43-4d57-9a0e-3c1f8f0b7d11"),
            "vethb4d8c847"
        );
        assert_eq!(host_veth_name("pod-a"), "veth9bb860b4");
        let names: std::collections::BTreeSet<_> = (0..200)
            .map(|i| host_veth_name(&format!("uid-{i}")))
            .collect();
        assert_eq!(names.len(), 200);
        assert!(names.iter().all(|n| n.len() == 12 && valid_ifname(n)));
    }

    #[test]
    fn bridge_mac_is_local_unicast_and_follows_the_gateway() {
        let mac = bridge_mac("10.244.0.1".parse().unwrap());
        assert_eq!(mac, [0x02, 0x6b, 0x31, 0xf4, 0x00, 0x01]);
        assert_eq!(mac[0] & 0x01, 0, "unicast");
        assert_eq!(mac[0] & 0x02, 0x02, "locally administered");
    }

    #[test]
    fn plans_follow_the_address_plan() {
        let pool = Pool::new("10.244.0.0/24".parse().unwrap()).unwrap();
        let b = bridge_plan("k1s0", &pool, "10.96.0.0/12".parse().unwrap());
        assert_eq!(b.address.to_string(), "10.244.0.1");
        assert_eq!(b.prefix_len, 24);
        assert_eq!(b.mtu, 1500);
        assert_eq!(b.service_cidr.to_string(), "10.96.0.0/12");

        let p = pod_plan(
            Path::new("/var/lib/k1s"),
            "k1s0",
            &pool,
            "pod-a",
            "10.244.0.7".parse().unwrap(),
        );
        assert_eq!(p.netns, Path::new("/var/lib/k1s/netns/pod-a"));
        assert_eq!(p.host_veth, "veth9bb860b4");
        assert_eq!(p.gateway.to_string(), "10.244.0.1");
        assert_eq!(p.prefix_len, 24);
    }

    #[test]
    fn uids_that_could_escape_the_netns_dir_are_invalid() {
        assert!(valid_pod_uid("2f0c5a1e-6a43-4d57-9a0e-3c1f8f0b7d11"));
        assert!(valid_pod_uid("test_pod.1"));
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b"] {
            assert!(!valid_pod_uid(bad), "{bad:?}");
        }
    }

    #[test]
    fn interface_names_respect_ifnamsiz() {
        assert!(valid_ifname("k1s0"));
        assert!(valid_ifname("abcdefghijklmno"));
        assert!(!valid_ifname("abcdefghijklmnop"));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname(""));
    }
}
