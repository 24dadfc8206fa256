//! The pure heart of the proxy: Services + EndpointSlices + Config in, the
//! complete `table ip k1s` out. The layout follows kube-proxy's nftables
//! mode: verdict maps dispatch on destination, per-Service chains pick an
//! endpoint at random, per-endpoint chains DNAT.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::endpoints::Endpoint;
use crate::model::{Config, EndpointSliceInfo, ServiceInfo, ServicePortName};
use crate::names;
use crate::nft::{
    Addr, Chain, Cmp, ElemKey, Element, Map, Match, Rule, Ruleset, ServiceSummary, Set, SetKind,
    Stmt, Verdict,
};
use crate::plan::{plan, PortPlan};
use crate::skeleton;
pub use crate::skeleton::*;

/// Builds the whole table for `services` and their `slices`.
pub fn ruleset(cfg: &Config, services: &[ServiceInfo], slices: &[EndpointSliceInfo]) -> Ruleset {
    let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSliceInfo>> = BTreeMap::new();
    for s in slices {
        by_service
            .entry((s.namespace.as_str(), s.service_name.as_str()))
            .or_default()
            .push(s);
    }
    let mut sorted: Vec<&ServiceInfo> = services.iter().collect();
    sorted.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    let mut b = Builder::new(cfg);
    for svc in sorted {
        let svc_slices = by_service
            .get(&(svc.namespace.as_str(), svc.name.as_str()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for port in &svc.ports {
            let p = plan(svc, port, svc_slices);
            b.elements(&p);
            b.chains(&p);
        }
    }
    b.finish()
}

/// The verdict-map elements and the ClusterIP one Service puts in the
/// table. When Services claim the same destination, `ruleset` keeps the
/// first by namespace/name; an incremental update uses these claims to
/// pick the same winner without rebuilding everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceClaims {
    /// `(map, key, element)`, at most one per `(map, key)`.
    pub elements: Vec<(String, ElemKey, Element)>,
    /// In the `cluster-ips` set (only Services with ports are).
    pub cluster_ip: Option<Ipv4Addr>,
}

pub fn service_claims(
    cfg: &Config,
    svc: &ServiceInfo,
    slices: &[&EndpointSliceInfo],
) -> ServiceClaims {
    let mut b = Builder::new(cfg);
    for port in &svc.ports {
        b.elements(&plan(svc, port, slices));
    }
    ServiceClaims {
        elements: b
            .maps
            .into_iter()
            .flat_map(|m| {
                let name = m.name;
                m.elements
                    .into_iter()
                    .map(move |(k, e)| (name.clone(), k, e))
            })
            .collect(),
        cluster_ip: b.cluster_ips.into_iter().next(),
    }
}

/// Drops prefixes covered by another one, so anonymous interval sets
/// never hold overlapping elements (older nft refuses them).
fn disjoint(mut nets: Vec<Ipv4Net>) -> Vec<Ipv4Net> {
    nets.sort();
    nets.dedup();
    let all = nets.clone();
    nets.retain(|n| !all.iter().any(|o| o != n && o.contains(n)));
    nets
}

struct Builder<'a> {
    cfg: &'a Config,
    /// The skeleton's verdict maps, filled per Service port.
    maps: Vec<Map>,
    cluster_ips: BTreeSet<Ipv4Addr>,
    affinity_sets: Vec<Set>,
    chains: Vec<Chain>,
    services: BTreeMap<String, ServiceSummary>,
}

impl<'a> Builder<'a> {
    /// The skeleton's empty maps; nothing else yet.
    fn new(cfg: &'a Config) -> Builder<'a> {
        Builder {
            cfg,
            maps: skeleton::maps(),
            cluster_ips: BTreeSet::new(),
            affinity_sets: Vec::new(),
            chains: Vec::new(),
            services: BTreeMap::new(),
        }
    }

    /// Adds an element; the first Service (by namespace/name) to claim a
    /// destination keeps it (validation normally prevents clashes).
    fn add(&mut self, map: &str, key: ElemKey, verdict: Verdict, comment: String) {
        if let Some(m) = self.maps.iter_mut().find(|m| m.name == map) {
            m.elements.entry(key).or_insert(Element {
                verdict,
                comment: Some(comment),
            });
        }
    }

    /// `ip saddr` is (not) from a pod of this cluster.
    fn pod_source(&self, cmp: Cmp) -> Match {
        Match::Saddr(cmp, Addr::Net(self.cfg.cluster_cidr))
    }

    /// Dispatch and no-endpoint map elements of one Service port.
    fn elements(&mut self, p: &PortPlan) {
        let (svc, port, label) = (p.svc, p.port, &p.label);
        let vip = |ip: Ipv4Addr| ElemKey::AddrProtoPort(ip, port.protocol, port.port);
        let goto = |c: &str| Verdict::Goto(c.to_string());
        let reason = p.no_endpoint_reason;
        self.cluster_ips.insert(svc.cluster_ip);
        if p.has_internal {
            self.add(
                SERVICE_IPS,
                vip(svc.cluster_ip),
                goto(p.internal_chain()),
                format!("{label} ClusterIP"),
            );
        } else {
            self.add(
                NO_ENDPOINT_SERVICES,
                vip(svc.cluster_ip),
                p.no_endpoint_verdict.clone(),
                format!("{label} ClusterIP, {reason}"),
            );
        }
        let external = [
            ("external IP", &svc.external_ips),
            ("LoadBalancer IP", &svc.load_balancer_ips),
        ];
        for (kind, ips) in external {
            for ip in ips {
                if p.uses_external_chain {
                    self.add(
                        SERVICE_IPS,
                        vip(*ip),
                        goto(&p.external_chain),
                        format!("{label} {kind}"),
                    );
                }
                if !p.has_external {
                    self.add(
                        NO_ENDPOINT_SERVICES,
                        vip(*ip),
                        p.no_endpoint_verdict.clone(),
                        format!("{label} {kind}, {reason}"),
                    );
                }
            }
        }
        if p.uses_firewall_chain {
            for ip in &svc.load_balancer_ips {
                self.add(
                    FIREWALL_IPS,
                    vip(*ip),
                    goto(&p.firewall_chain),
                    format!("{label} loadBalancerSourceRanges"),
                );
            }
        }
        if let Some(np) = port.node_port {
            let key = ElemKey::ProtoPort(port.protocol, np);
            if p.uses_external_chain {
                self.add(
                    SERVICE_NODEPORTS,
                    key,
                    goto(&p.external_chain),
                    format!("{label} NodePort"),
                );
            }
            if !p.has_external {
                self.add(
                    NO_ENDPOINT_NODEPORTS,
                    key,
                    p.no_endpoint_verdict.clone(),
                    format!("{label} NodePort, {reason}"),
                );
            }
        }
        let mut ips = vec![svc.cluster_ip];
        ips.extend(svc.external_ips.iter().chain(&svc.load_balancer_ips));
        self.services.insert(
            format!("{label}/{}", port.protocol),
            ServiceSummary {
                protocol: port.protocol,
                port: port.port,
                node_port: port.node_port,
                ips,
                endpoints: p.endpoints.reachable.iter().map(|e| e.addr).collect(),
                // Only a Local policy can leave a port with endpoints
                // elsewhere and nowhere to go here.
                no_local_internal: p.endpoints.has_any && !p.has_internal,
                no_local_external: p.endpoints.has_any && !p.has_external,
            },
        );
    }

    /// Chains of one Service port, in reading order: cluster, local,
    /// external, firewall, then one per endpoint.
    fn chains(&mut self, p: &PortPlan) {
        let (svc, port) = (p.svc, p.port);
        let affinity = svc.affinity_timeout.is_some();
        let mut cluster_rules = Vec::new();
        let mut local_rules = Vec::new();
        if p.has_internal {
            let mut m = vec![
                Match::Daddr(Cmp::Eq, Addr::Ip(svc.cluster_ip)),
                Match::Dport(port.protocol, port.port),
            ];
            if !self.cfg.masquerade_all {
                // Off-cluster clients reaching a ClusterIP get masqueraded so
                // replies come back through this node.
                m.push(self.pod_source(Cmp::Ne));
            }
            let rules = if p.internal_local {
                &mut local_rules
            } else {
                &mut cluster_rules
            };
            rules.push(Rule::new(m, jump(MARK_MASQ)));
        }
        if p.uses_cluster_chain {
            cluster_rules.extend(dispatch_rules(&p.spn, &p.endpoints.cluster, affinity));
            self.chains.push(regular(&p.cluster_chain, cluster_rules));
        }
        if p.uses_local_chain {
            local_rules.extend(dispatch_rules(&p.spn, &p.endpoints.local, affinity));
            self.chains.push(regular(&p.local_chain, local_rules));
        }
        if p.uses_external_chain {
            self.chains
                .push(regular(&p.external_chain, self.external_rules(p)));
        }
        if p.uses_firewall_chain {
            self.chains
                .push(regular(&p.firewall_chain, vec![self.firewall_rule(p)]));
        }
        for ep in &p.endpoints.reachable {
            self.endpoint_chain(p, ep);
        }
    }

    fn external_rules(&self, p: &PortPlan) -> Vec<Rule> {
        let mut rules = Vec::new();
        if !p.external_local {
            // Endpoints may be anywhere: masquerade so replies return here.
            rules.push(Rule::new(vec![], jump(MARK_MASQ)));
        } else {
            // Pods and the node itself are not "external": they use the
            // Cluster set, as if the load balancer sent them back in.
            rules.push(
                Rule::new(vec![self.pod_source(Cmp::Eq)], goto(&p.cluster_chain))
                    .commented("short-circuit pod traffic"),
            );
            rules.push(
                Rule::new(vec![Match::FibSaddrLocal], jump(MARK_MASQ))
                    .commented("masquerade local traffic"),
            );
            rules.push(
                Rule::new(vec![Match::FibSaddrLocal], goto(&p.cluster_chain))
                    .commented("short-circuit local traffic"),
            );
        }
        if p.has_external {
            rules.push(Rule::new(vec![], goto(p.external_policy_chain())));
        }
        rules
    }

    fn firewall_rule(&self, p: &PortPlan) -> Rule {
        let mut allowed = p.svc.load_balancer_source_ranges.clone();
        let node_allowed = self
            .cfg
            .node_ips
            .iter()
            .any(|ip| allowed.iter().any(|n| n.contains(ip)));
        if node_allowed {
            // The node reaching its own LB IP arrives with the LB IP as source.
            allowed.extend(p.svc.load_balancer_ips.iter().map(|ip| Ipv4Net::from(*ip)));
        }
        Rule::new(
            vec![Match::Saddr(Cmp::Ne, Addr::Nets(disjoint(allowed)))],
            Stmt::Verdict(Verdict::Drop),
        )
        .commented(format!("{} loadBalancerSourceRanges", p.label))
    }

    fn endpoint_chain(&mut self, p: &PortPlan, ep: &Endpoint) {
        let (ip, port) = (*ep.addr.ip(), ep.addr.port());
        let mut rules = vec![
            // Hairpin: a pod reaching itself through the Service must see
            // the reply come from the Service, so masquerade.
            Rule::new(vec![Match::Saddr(Cmp::Eq, Addr::Ip(ip))], jump(MARK_MASQ)),
        ];
        if let Some(timeout) = p.svc.affinity_timeout {
            let set = names::affinity_set(&p.spn, ip, port);
            rules.push(Rule::new(vec![], Stmt::UpdateSaddr(set.clone())));
            self.affinity_sets.push(Set {
                name: set,
                comment: Some(format!("{} ClientIP affinity to {}", p.label, ep.addr)),
                kind: SetKind::Dynamic { timeout },
            });
        }
        rules.push(Rule::new(
            vec![Match::L4proto(p.port.protocol)],
            Stmt::Dnat(ep.addr),
        ));
        self.chains
            .push(regular(&names::endpoint_chain(&p.spn, ip, port), rules));
    }

    fn finish(self) -> Ruleset {
        let mut chains = skeleton::chains(self.cfg);
        chains.extend(self.chains);
        let node_ips: BTreeSet<Ipv4Addr> = self
            .cfg
            .node_ips
            .iter()
            .copied()
            .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
            .collect();
        let mut sets = vec![
            Set {
                name: CLUSTER_IPS.into(),
                comment: Some("Active ClusterIPs".into()),
                kind: SetKind::Static(self.cluster_ips),
            },
            Set {
                name: NODEPORT_IPS.into(),
                comment: Some("IPs that accept NodePort traffic".into()),
                kind: SetKind::Static(node_ips),
            },
        ];
        sets.extend(self.affinity_sets);
        Ruleset {
            table: self.cfg.table.clone(),
            comment: TABLE_COMMENT.into(),
            sets,
            maps: self.maps,
            chains,
            services: self.services,
        }
    }
}

/// Affinity lookups, then the random pick among `endpoints`.
fn dispatch_rules(spn: &ServicePortName, endpoints: &[Endpoint], affinity: bool) -> Vec<Rule> {
    let chains: Vec<String> = endpoints
        .iter()
        .map(|e| names::endpoint_chain(spn, *e.addr.ip(), e.addr.port()))
        .collect();
    let mut rules = Vec::new();
    if affinity {
        for (e, chain) in endpoints.iter().zip(&chains) {
            let set = names::affinity_set(spn, *e.addr.ip(), e.addr.port());
            rules.push(Rule::new(
                vec![Match::Saddr(Cmp::Eq, Addr::Set(set))],
                goto(chain),
            ));
        }
    }
    rules.push(Rule::new(vec![], Stmt::NumgenVmap(chains)));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointInfo, Protocol, ServicePortInfo, SlicePort};

    fn cfg() -> Config {
        Config {
            node_name: "node".into(),
            node_ips: vec![Ipv4Addr::new(192, 168, 56, 10), Ipv4Addr::LOCALHOST],
            ..Config::default()
        }
    }

    fn web(port: u16) -> ServiceInfo {
        let mut s = ServiceInfo::new("default", "web", Ipv4Addr::new(10, 96, 0, 50));
        s.ports.push(ServicePortInfo {
            name: String::new(),
            protocol: Protocol::Tcp,
            port,
            node_port: None,
        });
        s
    }

    fn slice(ips: &[u8]) -> EndpointSliceInfo {
        EndpointSliceInfo {
            namespace: "default".into(),
            service_name: "web".into(),
            ports: vec![SlicePort {
                name: String::new(),
                protocol: Protocol::Tcp,
                port: 8080,
            }],
            endpoints: ips
                .iter()
                .map(|l| EndpointInfo::ready(Ipv4Addr::new(10, 244, 0, *l)))
                .collect(),
        }
    }

    #[test]
    fn loopback_is_never_a_nodeport_address() {
        let rs = ruleset(&cfg(), &[], &[]);
        let set = rs.set(NODEPORT_IPS).and_then(Set::elements).expect("set");
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [&Ipv4Addr::new(192, 168, 56, 10)]
        );
    }

    #[test]
    fn clashing_destinations_keep_the_first_service() {
        let mut other = web(80);
        other.namespace = "zzz".into();
        other.cluster_ip = Ipv4Addr::new(10, 96, 0, 51);
        other.external_ips = vec![Ipv4Addr::new(10, 96, 0, 50)];
        let rs = ruleset(&cfg(), &[other, web(80)], &[slice(&[1])]);
        let map = rs.map(SERVICE_IPS).expect("map");
        let e =
            &map.elements[&ElemKey::AddrProtoPort(Ipv4Addr::new(10, 96, 0, 50), Protocol::Tcp, 80)];
        assert_eq!(e.comment.as_deref(), Some("default/web ClusterIP"));
    }

    #[test]
    fn masquerade_all_drops_the_pod_source_condition() {
        let c = Config {
            masquerade_all: true,
            ..cfg()
        };
        let rs = ruleset(&c, &[web(80)], &[slice(&[1])]);
        let chain = rs
            .chain("service-PFISGYVC-default/web/tcp/")
            .expect("chain");
        assert_eq!(chain.rules[0].matches.len(), 2);
        assert_eq!(chain.rules[0].stmt, jump(MARK_MASQ));
    }

    #[test]
    fn disjoint_removes_covered_prefixes() {
        let n = |s: &str| s.parse::<Ipv4Net>().expect("net");
        assert_eq!(
            disjoint(vec![
                n("10.0.0.0/8"),
                n("10.96.0.0/12"),
                n("192.168.56.10/32"),
                n("10.0.0.0/8")
            ]),
            vec![n("10.0.0.0/8"), n("192.168.56.10/32")]
        );
    }

    #[test]
    fn summary_flags_local_policies_without_local_endpoints() {
        let mut services = Vec::new();
        let mut slices = Vec::new();
        // Endpoints as (last octet, on this node).
        let mut add =
            |name: &str, internal: bool, external: bool, node_port: bool, eps: &[(u8, bool)]| {
                let n = services.len() as u8;
                let mut svc = web(80);
                svc.name = name.to_string();
                svc.cluster_ip = Ipv4Addr::new(10, 96, 1, n);
                svc.internal_policy_local = internal;
                svc.external_policy_local = external;
                svc.ports[0].node_port = node_port.then_some(30000 + u16::from(n));
                services.push(svc);
                let mut sl = slice(&[]);
                sl.service_name = name.to_string();
                sl.endpoints = eps
                    .iter()
                    .map(|(l, local)| EndpointInfo {
                        local: *local,
                        ..EndpointInfo::ready(Ipv4Addr::new(10, 244, 0, *l))
                    })
                    .collect();
                slices.push(sl);
            };
        add("int-remote", true, false, false, &[(1, false)]);
        add("int-here", true, false, false, &[(2, false), (3, true)]);
        add("int-none", true, false, false, &[]);
        add("ext-remote", false, true, true, &[(4, false)]);
        // Not reachable from outside: its external policy means nothing.
        add("ext-clusterip", false, true, false, &[(5, false)]);
        add("both-remote", true, true, true, &[(6, false)]);
        let rs = ruleset(&cfg(), &services, &slices);
        let flags = |name: &str| {
            let s = &rs.services[&format!("default/{name}/tcp")];
            (s.no_local_internal, s.no_local_external)
        };
        assert_eq!(flags("int-remote"), (true, false));
        assert_eq!(flags("int-here"), (false, false));
        assert_eq!(
            flags("int-none"),
            (false, false),
            "no endpoints: rejected, not dropped"
        );
        assert_eq!(flags("ext-remote"), (false, true));
        assert_eq!(flags("ext-clusterip"), (false, false));
        assert_eq!(flags("both-remote"), (true, true));
    }

    #[test]
    fn summary_lists_reachable_endpoints() {
        let rs = ruleset(&cfg(), &[web(80)], &[slice(&[2, 1])]);
        let s = &rs.services["default/web/tcp"];
        assert_eq!(
            s.endpoints
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
            ["10.244.0.1:8080", "10.244.0.2:8080"]
        );
        assert_eq!(s.ips, vec![Ipv4Addr::new(10, 96, 0, 50)]);
    }
}
