//! Chain and set names for Service ports and endpoints. They follow
//! kube-proxy's nftables scheme — `service-PFISGYVC-default/web/tcp/` — so
//! names match what a kubeadm cluster shows: an 8-character base32 SHA-256
//! prefix keeps them unique and visually distinct, the rest says what the
//! chain is for.

use std::net::Ipv4Addr;

use crate::model::ServicePortName;

/// nft object names are limited to 255 bytes plus NUL.
const NAME_MAX: usize = 256;
/// Longest prefix we put in front of a base name ("external-", ...).
const PREFIX_MAX: usize = 16;
const BASE_MAX: usize = NAME_MAX - PREFIX_MAX;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// First 8 base32 characters (40 bits) of SHA-256(name).
fn hash8(name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let bits = digest.as_ref()[..5]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (0..8)
        .map(|i| BASE32[((bits >> (35 - 5 * i)) & 31) as usize] as char)
        .collect()
}

fn hash_and_truncate(name: &str) -> String {
    let mut out = format!("{}-{}", hash8(name), name);
    if out.len() > BASE_MAX {
        // Only ASCII gets here (names are DNS labels, IPs and digits).
        out.truncate(BASE_MAX - 3);
        out.push_str("...");
    }
    out
}

/// `HASH-ns/name/proto/port`, the base of every per-service-port name.
pub fn service_base(spn: &ServicePortName) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}",
        spn.namespace, spn.name, spn.protocol, spn.port
    ))
}

/// `HASH-ns/name/proto/port__ip/port`, the base of per-endpoint names.
pub fn endpoint_base(spn: &ServicePortName, ip: Ipv4Addr, port: u16) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{}/{}",
        spn.namespace, spn.name, spn.protocol, spn.port, ip, port
    ))
}

/// Chain with the endpoints used for "Cluster" traffic policy.
pub fn service_chain(spn: &ServicePortName) -> String {
    format!("service-{}", service_base(spn))
}

/// Chain with the node-local endpoints ("Local" traffic policy).
pub fn local_chain(spn: &ServicePortName) -> String {
    format!("local-{}", service_base(spn))
}

/// Chain for NodePort, LoadBalancer and external IP traffic.
pub fn external_chain(spn: &ServicePortName) -> String {
    format!("external-{}", service_base(spn))
}

/// Chain enforcing loadBalancerSourceRanges.
pub fn firewall_chain(spn: &ServicePortName) -> String {
    format!("firewall-{}", service_base(spn))
}

/// Chain that DNATs to one endpoint.
pub fn endpoint_chain(spn: &ServicePortName, ip: Ipv4Addr, port: u16) -> String {
    format!("endpoint-{}", endpoint_base(spn, ip, port))
}

/// Dynamic set remembering clients stuck to one endpoint.
pub fn affinity_set(spn: &ServicePortName, ip: Ipv4Addr, port: u16) -> String {
    format!("affinity-{}", endpoint_base(spn, ip, port))
}

/// Names of per-service objects all contain a '/', fixed objects never do.
pub fn is_service_object(name: &str) -> bool {
    name.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn spn(ns: &str, name: &str, port: &str) -> ServicePortName {
        ServicePortName {
            namespace: ns.into(),
            name: name.into(),
            port: port.into(),
            protocol: Protocol::Tcp,
        }
    }

    /// The names in /work/shared/reference/kube-proxy-nftables/ captures.
    #[test]
    fn names_match_kube_proxy() {
        let web = spn("default", "web", "");
        assert_eq!(service_chain(&web), "service-PFISGYVC-default/web/tcp/");
        assert_eq!(external_chain(&web), "external-PFISGYVC-default/web/tcp/");
        assert_eq!(
            endpoint_chain(&web, Ipv4Addr::new(10, 244, 0, 11), 80),
            "endpoint-MY64OWVI-default/web/tcp/__10.244.0.11/80"
        );
        let k = spn("default", "kubernetes", "https");
        assert_eq!(
            service_chain(&k),
            "service-2QRHZV4L-default/kubernetes/tcp/https"
        );
        assert_eq!(
            endpoint_chain(&k, Ipv4Addr::new(198, 18, 0, 1), 6443),
            "endpoint-X2MYRCEH-default/kubernetes/tcp/https__198.18.0.1/6443"
        );
        let first = spn("default", "first-service", "name-of-service-port");
        assert_eq!(
            service_chain(&first),
            "service-CAIVTJVY-default/first-service/tcp/name-of-service-port"
        );
    }

    #[test]
    fn long_names_are_truncated_within_limit() {
        let long = "a".repeat(63);
        let s = spn(&long, &long, &long);
        let name = endpoint_chain(&s, Ipv4Addr::new(10, 244, 255, 255), 65535);
        assert!(name.len() < NAME_MAX, "{}", name.len());
        let other = endpoint_chain(&s, Ipv4Addr::new(10, 244, 255, 254), 65535);
        assert_ne!(name, other, "hash keeps truncated names distinct");
        assert!(is_service_object(&name));
        assert!(!is_service_object("mark-for-masquerade"));
    }
}
