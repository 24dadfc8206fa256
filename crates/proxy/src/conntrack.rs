//! Which UDP conntrack entries to delete after a change. UDP has no
//! connection end, so a client that keeps sending keeps its old flow: to an
//! endpoint that is gone (black hole), or — for a Service that had no
//! endpoints — to no endpoint at all (rejected). Deleting those entries
//! makes the next packet go through the new rules.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::model::Protocol;
use crate::nft::{Ruleset, ServiceSummary};

/// Selects UDP flows by original destination and reply source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConntrackFilter {
    /// Original destination address; `None` for NodePorts (any node IP).
    pub orig_dst: Option<Ipv4Addr>,
    /// Original destination port (Service port or NodePort).
    pub orig_dport: u16,
    /// The endpoint the flow was DNATed to; `None` for every flow.
    pub reply_src: Option<SocketAddrV4>,
}

impl ConntrackFilter {
    /// Arguments of `conntrack -D` that delete matching flows.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["-D", "-p", "udp"].iter().map(|s| s.to_string()).collect();
        if let Some(ip) = self.orig_dst {
            a.extend(["--orig-dst".into(), ip.to_string()]);
        }
        a.extend(["--orig-port-dst".into(), self.orig_dport.to_string()]);
        if let Some(ep) = self.reply_src {
            a.extend(["--reply-src".into(), ep.ip().to_string()]);
            a.extend(["--reply-port-src".into(), ep.port().to_string()]);
        }
        a
    }
}

fn destinations(
    s: &ServiceSummary,
    reply: Option<SocketAddrV4>,
    out: &mut BTreeSet<ConntrackFilter>,
) {
    for ip in &s.ips {
        out.insert(ConntrackFilter {
            orig_dst: Some(*ip),
            orig_dport: s.port,
            reply_src: reply,
        });
    }
    if let Some(np) = s.node_port {
        out.insert(ConntrackFilter {
            orig_dst: None,
            orig_dport: np,
            reply_src: reply,
        });
    }
}

/// Filters for the UDP flows that going from `old` to `new` made stale:
/// flows to endpoints no longer used, and flows to Service ports that had
/// no endpoint and now have one.
pub fn stale_udp(old: &Ruleset, new: &Ruleset) -> Vec<ConntrackFilter> {
    let mut out = BTreeSet::new();
    let none = BTreeSet::new();
    for (key, o) in old
        .services
        .iter()
        .filter(|(_, s)| s.protocol == Protocol::Udp)
    {
        let now = new.services.get(key).map_or(&none, |n| &n.endpoints);
        for ep in o.endpoints.difference(now) {
            destinations(o, Some(*ep), &mut out);
        }
    }
    for (key, n) in new
        .services
        .iter()
        .filter(|(_, s)| s.protocol == Protocol::Udp)
    {
        let had = old
            .services
            .get(key)
            .is_some_and(|o| !o.endpoints.is_empty());
        if !had && !n.endpoints.is_empty() {
            destinations(n, None, &mut out);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Config, EndpointInfo, EndpointSliceInfo, ServiceInfo, ServicePortInfo, SlicePort,
    };

    fn rs(endpoints: &[u8]) -> Ruleset {
        let mut svc = ServiceInfo::new("kube-system", "kube-dns", Ipv4Addr::new(10, 96, 0, 10));
        svc.external_ips = vec![Ipv4Addr::new(203, 0, 113, 1)];
        for (name, protocol) in [("dns", Protocol::Udp), ("dns-tcp", Protocol::Tcp)] {
            svc.ports.push(ServicePortInfo {
                name: name.into(),
                protocol,
                port: 53,
                node_port: (protocol == Protocol::Udp).then_some(30053),
            });
        }
        let slice = EndpointSliceInfo {
            namespace: "kube-system".into(),
            service_name: "kube-dns".into(),
            ports: vec![
                SlicePort {
                    name: "dns".into(),
                    protocol: Protocol::Udp,
                    port: 5353,
                },
                SlicePort {
                    name: "dns-tcp".into(),
                    protocol: Protocol::Tcp,
                    port: 5353,
                },
            ],
            endpoints: endpoints
                .iter()
                .map(|l| EndpointInfo::ready(Ipv4Addr::new(10, 244, 0, *l)))
                .collect(),
        };
        crate::build::ruleset(&Config::default(), &[svc], &[slice])
    }

    fn texts(f: Vec<ConntrackFilter>) -> Vec<String> {
        f.iter().map(|f| f.args().join(" ")).collect()
    }

    #[test]
    fn removed_udp_endpoint_flows_are_deleted() {
        assert_eq!(
            texts(stale_udp(&rs(&[1, 2]), &rs(&[2]))),
            [
                "-D -p udp --orig-port-dst 30053 --reply-src 10.244.0.1 --reply-port-src 5353",
                "-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.0.1 --reply-port-src 5353",
                "-D -p udp --orig-dst 203.0.113.1 --orig-port-dst 53 --reply-src 10.244.0.1 --reply-port-src 5353",
            ]
        );
    }

    #[test]
    fn first_udp_endpoint_clears_rejected_flows() {
        assert_eq!(
            texts(stale_udp(&rs(&[]), &rs(&[1]))),
            [
                "-D -p udp --orig-port-dst 30053",
                "-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53",
                "-D -p udp --orig-dst 203.0.113.1 --orig-port-dst 53",
            ]
        );
    }

    #[test]
    fn nothing_stale_without_udp_endpoint_loss() {
        assert!(stale_udp(&rs(&[1]), &rs(&[1, 2])).is_empty());
        assert!(stale_udp(&rs(&[1]), &rs(&[1])).is_empty());
        // Deleting the Service drops its flows' endpoints too.
        let empty = crate::build::ruleset(&Config::default(), &[], &[]);
        assert_eq!(stale_udp(&rs(&[1]), &empty).len(), 3);
    }
}
