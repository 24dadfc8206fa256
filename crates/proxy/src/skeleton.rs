//! The fixed part of the table: hooks, dispatch chains, the masquerade
//! machinery and the (empty) verdict maps that Services fill. Names are
//! kube-proxy's, so its documentation applies to k1s too.

use crate::model::{Config, Protocol};
use crate::nft::{
    Addr, BaseChain, Chain, ChainType, Cmp, Hook, Map, MapType, Match, Rule, Stmt, Verdict,
    VmapKey, PRIORITY_DSTNAT, PRIORITY_SRCNAT,
};

pub const CLUSTER_IPS: &str = "cluster-ips";
pub const NODEPORT_IPS: &str = "nodeport-ips";
pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
pub const FIREWALL_IPS: &str = "firewall-ips";
pub const SERVICE_IPS: &str = "service-ips";
pub const SERVICE_NODEPORTS: &str = "service-nodeports";
pub const SERVICES: &str = "services";
pub const MASQUERADING: &str = "masquerading";
pub const MARK_MASQ: &str = "mark-for-masquerade";
pub const REJECT_CHAIN: &str = "reject-chain";
pub const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
pub const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
pub const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
pub const FIREWALL_CHECK: &str = "firewall-check";

pub const TABLE_COMMENT: &str = "rules for the k1s service proxy";

pub fn jump(target: &str) -> Stmt {
    Stmt::Verdict(Verdict::Jump(target.into()))
}

pub fn goto(target: &str) -> Stmt {
    Stmt::Verdict(Verdict::Goto(target.into()))
}

pub fn regular(name: &str, rules: Vec<Rule>) -> Chain {
    Chain {
        rules,
        ..Chain::regular(name)
    }
}

fn base(name: &str, kind: ChainType, hook: Hook, priority: i32, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        base: Some(BaseChain {
            kind,
            hook,
            priority,
        }),
        comment: None,
        rules,
    }
}

fn vmap(key: VmapKey, map: &str) -> Stmt {
    Stmt::Vmap {
        key,
        map: map.into(),
    }
}

/// The empty verdict maps, in listing order.
pub fn maps() -> Vec<Map> {
    let map = |name: &str, kind, comment: &str| Map {
        name: name.into(),
        comment: Some(comment.into()),
        kind,
        elements: Default::default(),
    };
    use MapType::{AddrProtoPort, ProtoPort};
    vec![
        map(
            NO_ENDPOINT_SERVICES,
            AddrProtoPort,
            "vmap to drop or reject packets to services with no endpoints",
        ),
        map(
            NO_ENDPOINT_NODEPORTS,
            ProtoPort,
            "vmap to drop or reject packets to service nodeports with no endpoints",
        ),
        map(
            FIREWALL_IPS,
            AddrProtoPort,
            "destinations that are subject to LoadBalancerSourceRanges",
        ),
        map(
            SERVICE_IPS,
            AddrProtoPort,
            "ClusterIP, ExternalIP and LoadBalancer IP traffic",
        ),
        map(SERVICE_NODEPORTS, ProtoPort, "NodePort traffic"),
    ]
}

/// Base chains and the fixed regular chains, in listing order.
pub fn chains(cfg: &Config) -> Vec<Chain> {
    use ChainType::{Filter, Nat};
    let mark = cfg.masquerade_mark();
    let new = |target: &str| Rule::new(vec![Match::CtStateNew], jump(target));
    let always = |stmt: Stmt| Rule::new(vec![], stmt);
    let to_nodeport = || Match::Daddr(Cmp::Eq, Addr::Set(NODEPORT_IPS.into()));
    // Filter chains see packets before DNAT, so they judge the Service
    // address the client used.
    let filter = PRIORITY_DSTNAT - 10;
    vec![
        base(
            "filter-prerouting",
            Filter,
            Hook::Prerouting,
            filter,
            vec![new(FIREWALL_CHECK)],
        ),
        base(
            "filter-input",
            Filter,
            Hook::Input,
            filter,
            vec![
                new(NODEPORT_ENDPOINTS_CHECK),
                new(SERVICE_ENDPOINTS_CHECK),
                // k1s routes the service CIDR locally, so unallocated
                // ClusterIPs must also be stopped on the way in.
                new(CLUSTER_IPS_CHECK),
            ],
        ),
        base(
            "filter-forward",
            Filter,
            Hook::Forward,
            filter,
            vec![new(SERVICE_ENDPOINTS_CHECK), new(CLUSTER_IPS_CHECK)],
        ),
        base(
            "filter-output",
            Filter,
            Hook::Output,
            filter,
            vec![new(SERVICE_ENDPOINTS_CHECK), new(FIREWALL_CHECK)],
        ),
        base(
            "filter-output-post-dnat",
            Filter,
            Hook::Output,
            PRIORITY_DSTNAT + 10,
            vec![new(CLUSTER_IPS_CHECK)],
        ),
        base(
            "nat-prerouting",
            Nat,
            Hook::Prerouting,
            PRIORITY_DSTNAT,
            vec![always(jump(SERVICES))],
        ),
        base(
            "nat-output",
            Nat,
            Hook::Output,
            PRIORITY_DSTNAT,
            vec![always(jump(SERVICES))],
        ),
        base(
            "nat-postrouting",
            Nat,
            Hook::Postrouting,
            PRIORITY_SRCNAT,
            vec![always(jump(MASQUERADING))],
        ),
        regular(
            NODEPORT_ENDPOINTS_CHECK,
            vec![Rule::new(
                vec![to_nodeport()],
                vmap(VmapKey::ProtoPort, NO_ENDPOINT_NODEPORTS),
            )],
        ),
        regular(
            SERVICE_ENDPOINTS_CHECK,
            vec![always(vmap(VmapKey::DaddrProtoPort, NO_ENDPOINT_SERVICES))],
        ),
        regular(
            FIREWALL_CHECK,
            vec![always(vmap(VmapKey::DaddrProtoPort, FIREWALL_IPS))],
        ),
        regular(
            SERVICES,
            vec![
                always(vmap(VmapKey::DaddrProtoPort, SERVICE_IPS)),
                Rule::new(
                    vec![to_nodeport()],
                    vmap(VmapKey::ProtoPort, SERVICE_NODEPORTS),
                ),
            ],
        ),
        regular(
            MASQUERADING,
            vec![
                Rule::new(vec![Match::MarkClear(mark)], Stmt::Verdict(Verdict::Return)),
                // Clear the bit so a re-routed packet is not masqueraded twice.
                always(Stmt::MarkXor(mark)),
                always(Stmt::Masquerade),
            ],
        ),
        regular(
            CLUSTER_IPS_CHECK,
            vec![
                Rule::new(
                    vec![Match::Daddr(Cmp::Eq, Addr::Set(CLUSTER_IPS.into()))],
                    Stmt::Reject,
                )
                .commented("Reject traffic to invalid ports of ClusterIPs"),
                Rule::new(
                    vec![Match::Daddr(Cmp::Eq, Addr::Net(cfg.service_cidr))],
                    Stmt::Verdict(Verdict::Drop),
                )
                .commented("Drop traffic to unallocated ClusterIPs"),
            ],
        ),
        regular(MARK_MASQ, vec![always(Stmt::MarkOr(mark))]),
        Chain {
            comment: Some("helper for @no-endpoint-services / @no-endpoint-nodeports".into()),
            ..regular(
                REJECT_CHAIN,
                vec![
                    // A TCP client sees "connection refused" at once.
                    Rule::new(vec![Match::L4proto(Protocol::Tcp)], Stmt::RejectTcpReset),
                    always(Stmt::Reject),
                ],
            )
        },
    ]
}
