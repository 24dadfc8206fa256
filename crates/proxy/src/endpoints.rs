//! Which endpoints a Service port's rules may use: gathering them from the
//! EndpointSlices and sorting them into "Cluster" and "Local" sets with the
//! terminating-endpoint fallback (kube-proxy's CategorizeEndpoints).

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use crate::model::{EndpointSliceInfo, Protocol};

/// One endpoint of one Service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddrV4,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub local: bool,
}

impl Endpoint {
    fn serving_terminating(&self) -> bool {
        self.serving && self.terminating
    }
}

/// The endpoints of Service port (`namespace/service`, port `port_name`,
/// `protocol`) across all its slices, sorted by address. The slice port with
/// the same name carries the resolved target port (that is how a named
/// targetPort reaches the proxy). An address listed twice keeps the
/// readiest entry.
pub fn gather(slices: &[&EndpointSliceInfo], port_name: &str, protocol: Protocol) -> Vec<Endpoint> {
    let mut by_addr: BTreeMap<SocketAddrV4, Endpoint> = BTreeMap::new();
    for slice in slices {
        for sp in slice
            .ports
            .iter()
            .filter(|p| p.name == port_name && p.protocol == protocol)
        {
            for e in &slice.endpoints {
                let ep = Endpoint {
                    addr: SocketAddrV4::new(e.ip, sp.port),
                    ready: e.ready,
                    serving: e.serving,
                    terminating: e.terminating,
                    local: e.local,
                };
                let rank = |e: &Endpoint| (e.ready, e.serving, !e.terminating);
                by_addr
                    .entry(ep.addr)
                    .and_modify(|old| {
                        if rank(&ep) > rank(old) {
                            *old = ep;
                        }
                    })
                    .or_insert(ep);
            }
        }
    }
    by_addr.into_values().collect()
}

/// Result of sorting a Service port's endpoints by traffic policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categorized {
    /// Endpoints for "Cluster" policy (ready ones, else serving+terminating).
    pub cluster: Vec<Endpoint>,
    /// Endpoints for "Local" policy (local ready ones, else local
    /// serving+terminating).
    pub local: Vec<Endpoint>,
    /// Union of the above that some rule uses, in address order.
    pub reachable: Vec<Endpoint>,
    /// Whether any usable endpoint exists anywhere.
    pub has_any: bool,
}

/// Sorts `endpoints` (in address order) for a port that uses the Cluster
/// and/or the Local endpoint set.
pub fn categorize(endpoints: &[Endpoint], uses_cluster: bool, uses_local: bool) -> Categorized {
    let mut out = Categorized::default();
    let pick = |f: &dyn Fn(&Endpoint) -> bool| endpoints.iter().filter(|e| f(e)).copied().collect();

    if uses_cluster {
        out.cluster = pick(&|e| e.ready);
        if out.cluster.is_empty() {
            // No ready endpoint anywhere: fall back to ones still serving
            // while they terminate, so connections drain instead of failing.
            out.cluster = pick(&|e| e.serving_terminating());
        }
        out.has_any = !out.cluster.is_empty();
    }
    if !uses_local {
        out.reachable = out.cluster.clone();
        return out;
    }

    out.has_any |= endpoints.iter().any(|e| e.ready || e.serving_terminating());
    out.local = pick(&|e| e.local && e.ready);
    if out.local.is_empty() {
        out.local = pick(&|e| e.local && e.serving_terminating());
    }
    out.reachable = if uses_cluster {
        endpoints
            .iter()
            .filter(|e| out.cluster.contains(e) || out.local.contains(e))
            .copied()
            .collect()
    } else {
        out.local.clone()
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointInfo, SlicePort};
    use std::net::Ipv4Addr;

    fn ep(last: u8, ready: bool, serving: bool, terminating: bool, local: bool) -> Endpoint {
        Endpoint {
            addr: SocketAddrV4::new(Ipv4Addr::new(10, 244, 0, last), 80),
            ready,
            serving,
            terminating,
            local,
        }
    }

    fn addrs(eps: &[Endpoint]) -> Vec<u8> {
        eps.iter().map(|e| e.addr.ip().octets()[3]).collect()
    }

    #[test]
    fn categorize_table() {
        let ready_local = ep(1, true, true, false, true);
        let ready_remote = ep(2, true, true, false, false);
        let term_local = ep(3, false, true, true, true);
        let term_remote = ep(4, false, true, true, false);
        let dead = ep(5, false, false, false, true);
        // (name, endpoints, uses_cluster, uses_local, cluster, local, reachable, has_any)
        type Case<'a> = (
            &'a str,
            Vec<Endpoint>,
            bool,
            bool,
            Vec<u8>,
            Vec<u8>,
            Vec<u8>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "cluster only",
                vec![ready_local, ready_remote, term_local, dead],
                true,
                false,
                vec![1, 2],
                vec![],
                vec![1, 2],
                true,
            ),
            (
                "terminating fallback",
                vec![term_local, term_remote, dead],
                true,
                false,
                vec![3, 4],
                vec![],
                vec![3, 4],
                true,
            ),
            (
                "nothing usable",
                vec![dead],
                true,
                false,
                vec![],
                vec![],
                vec![],
                false,
            ),
            (
                "local only",
                vec![ready_local, ready_remote],
                false,
                true,
                vec![],
                vec![1],
                vec![1],
                true,
            ),
            (
                "local only, remote endpoints only",
                vec![ready_remote],
                false,
                true,
                vec![],
                vec![],
                vec![],
                true,
            ),
            (
                "local terminating fallback",
                vec![term_local, ready_remote],
                false,
                true,
                vec![],
                vec![3],
                vec![3],
                true,
            ),
            (
                "both",
                vec![ready_local, ready_remote, term_local],
                true,
                true,
                vec![1, 2],
                vec![1],
                vec![1, 2],
                true,
            ),
            (
                "both, local terminating",
                vec![ready_remote, term_local],
                true,
                true,
                vec![2],
                vec![3],
                vec![2, 3],
                true,
            ),
        ];
        for (name, eps, uc, ul, cluster, local, reachable, has_any) in cases {
            let c = categorize(&eps, uc, ul);
            assert_eq!(addrs(&c.cluster), cluster, "{name}: cluster");
            assert_eq!(addrs(&c.local), local, "{name}: local");
            assert_eq!(addrs(&c.reachable), reachable, "{name}: reachable");
            assert_eq!(c.has_any, has_any, "{name}: has_any");
        }
    }

    #[test]
    fn gather_matches_port_name_and_protocol_and_dedups() {
        let e = |last: u8, ready: bool| EndpointInfo {
            ip: Ipv4Addr::new(10, 244, 0, last),
            ready,
            serving: ready,
            terminating: false,
            local: true,
        };
        let s1 = EndpointSliceInfo {
            namespace: "default".into(),
            service_name: "web".into(),
            ports: vec![
                SlicePort {
                    name: "http".into(),
                    protocol: Protocol::Tcp,
                    port: 8080,
                },
                SlicePort {
                    name: "dns".into(),
                    protocol: Protocol::Udp,
                    port: 5353,
                },
            ],
            endpoints: vec![e(12, false), e(11, true)],
        };
        let s2 = EndpointSliceInfo {
            endpoints: vec![e(12, true)],
            ..s1.clone()
        };
        let got = gather(&[&s1, &s2], "http", Protocol::Tcp);
        assert_eq!(
            got.iter()
                .map(|e| (e.addr.to_string(), e.ready))
                .collect::<Vec<_>>(),
            [
                ("10.244.0.11:8080".to_string(), true),
                ("10.244.0.12:8080".to_string(), true)
            ]
        );
        assert_eq!(gather(&[&s1], "dns", Protocol::Udp)[0].addr.port(), 5353);
        assert!(gather(&[&s1], "dns", Protocol::Tcp).is_empty());
        assert!(gather(&[&s1], "", Protocol::Tcp).is_empty());
    }
}
