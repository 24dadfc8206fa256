//! Settings of the DNS server and where the upstream resolvers come from.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::builder::ZoneConfig;

/// Everything `Dns::new` needs.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    pub zone: ZoneConfig,
    /// Where names outside the cluster zone go (--upstream-dns, or the
    /// node's resolv.conf via `system_upstreams`). Empty: SERVFAIL.
    pub upstreams: Vec<SocketAddr>,
    /// Clients that may recurse (pod CIDR, node IPs, loopback); everyone
    /// else gets REFUSED for names outside the zone: no open resolver.
    pub recursion_allowed: Vec<IpNet>,
    /// One log line per query (CoreDNS `log`); off by default.
    pub log_queries: bool,
    /// Forwarded answers kept at most this many…
    pub cache_capacity: usize,
    /// …and at most this long (kubeadm's Corefile: `cache 30`).
    pub cache_max_ttl: Duration,
    /// How long one upstream gets before the next is tried.
    pub forward_timeout: Duration,
    /// Forwarded queries waiting at once; beyond this SERVFAIL at once, so
    /// a flood of outside names cannot pile up tasks.
    pub max_forwards_in_flight: usize,
    /// Idle TCP connections are closed after this.
    pub tcp_idle_timeout: Duration,
    /// Threads answering UDP; 0: one per CPU.
    pub udp_threads: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            zone: ZoneConfig::default(),
            upstreams: Vec::new(),
            recursion_allowed: Vec::new(),
            log_queries: false,
            cache_capacity: 9984,
            cache_max_ttl: Duration::from_secs(30),
            forward_timeout: Duration::from_secs(2),
            max_forwards_in_flight: 512,
            tcp_idle_timeout: Duration::from_secs(10),
            udp_threads: 0,
        }
    }
}

/// "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:53".
pub fn parse_upstream(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

/// The nameservers of a resolv.conf, skipping loopback stubs such as
/// systemd-resolved's 127.0.0.53 (forwarding there from pods would loop
/// back into the node, as kubelet's resolvConf handling avoids too).
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        // A zone index ("fe80::1%eth0") cannot be used from here.
        let Ok(ip) = addr.parse::<IpAddr>() else {
            continue;
        };
        if ip.is_loopback() || ip.is_unspecified() {
            continue;
        }
        let sa = SocketAddr::new(ip, 53);
        if !out.contains(&sa) {
            out.push(sa);
        }
    }
    out
}

/// The node's upstreams: /etc/resolv.conf, and when that only has a local
/// stub, systemd-resolved's list of real servers.
pub fn system_upstreams() -> Vec<SocketAddr> {
    for path in ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            let found = upstreams_from_resolv_conf(&text);
            if !found.is_empty() {
                return found;
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstreams() {
        let cases = [
            ("192.0.2.53", Some("192.0.2.53:53")),
            ("192.0.2.53:5353", Some("192.0.2.53:5353")),
            (" 2001:db8::1 ", Some("[2001:db8::1]:53")),
            ("[2001:db8::1]:54", Some("[2001:db8::1]:54")),
            ("dns.example", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_upstream(input),
                want.map(|w| w.parse().unwrap()),
                "{input}"
            );
        }
    }

    #[test]
    fn reads_resolv_conf() {
        let text = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n\
                    nameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver 192.0.2.1\n\
                    search example.com\noptions edns0 trust-ad\nnameserver\n";
        let got = upstreams_from_resolv_conf(text);
        assert_eq!(
            got,
            vec![
                "192.0.2.1:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::53]:53".parse().unwrap()
            ]
        );
        assert!(upstreams_from_resolv_conf("nameserver 127.0.0.53\noptions edns0\n").is_empty());
    }
}
