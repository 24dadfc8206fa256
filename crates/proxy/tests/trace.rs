//! What the generated table does with packets, scenario by scenario,
//! asked of the packet tracer (which interprets the model, not the text).

mod common;

use std::net::Ipv4Addr;

use common::scenario;
use k1s_proxy::trace::{trace, trace_with, AffinityState};
use k1s_proxy::{Packet, Protocol};

const POD: &str = "10.244.0.99"; // some other pod on this node
const OUTSIDE: &str = "192.168.56.1"; // a laptop next to the node
const NODE: &str = "192.168.56.10"; // the node itself (from_local)

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn packet(src: &str, dst: &str, proto: Protocol, dport: u16) -> Packet {
    Packet {
        src: ip(src),
        dst: ip(dst),
        proto,
        dport,
        from_local: src == NODE,
    }
}

use Protocol::{Sctp, Tcp, Udp};

#[test]
fn packets_through_scenarios() {
    // (scenario, src, dst, proto, port, what happens)
    let cases: &[(&str, &str, &str, Protocol, u16, &str)] = &[
        // ClusterIP: random over three endpoints; off-cluster sources are
        // masqueraded; a pod reaching itself (hairpin) too.
        ("clusterip", POD, "10.96.0.20", Tcp, 80,
         "1/3 dnat 10.244.0.11:80, 1/3 dnat 10.244.0.12:80, 1/3 dnat 10.244.0.13:80"),
        ("clusterip", NODE, "10.96.0.20", Tcp, 80,
         "1/3 dnat 10.244.0.11:80 masquerade, 1/3 dnat 10.244.0.12:80 masquerade, 1/3 dnat 10.244.0.13:80 masquerade"),
        ("clusterip", "10.244.0.12", "10.96.0.20", Tcp, 80,
         "1/3 dnat 10.244.0.11:80, 1/3 dnat 10.244.0.12:80 masquerade, 1/3 dnat 10.244.0.13:80"),
        ("clusterip", POD, "10.96.0.1", Tcp, 443, "dnat 192.168.56.10:6443"),
        // Wrong port of a ClusterIP: rejected; unallocated ClusterIP: dropped.
        ("clusterip", POD, "10.96.0.20", Tcp, 81, "reject"),
        ("clusterip", POD, "10.96.0.20", Udp, 80, "reject"),
        ("clusterip", POD, "10.96.0.99", Tcp, 80, "drop"),
        ("clusterip", NODE, "10.96.0.99", Tcp, 80, "drop"),
        ("clusterip", OUTSIDE, "10.96.0.99", Tcp, 80, "drop"),
        // Not ours: untouched.
        ("clusterip", POD, "203.0.113.1", Udp, 53, "accept"),
        ("clusterip", OUTSIDE, NODE, Tcp, 80, "accept"),
        // NodePort from outside, from a pod and from the node: masqueraded.
        ("nodeport", OUTSIDE, NODE, Tcp, 30080,
         "1/2 dnat 10.244.0.11:80 masquerade, 1/2 dnat 10.244.0.12:80 masquerade"),
        ("nodeport", POD, NODE, Tcp, 30080,
         "1/2 dnat 10.244.0.11:80 masquerade, 1/2 dnat 10.244.0.12:80 masquerade"),
        ("nodeport", NODE, NODE, Tcp, 30080,
         "1/2 dnat 10.244.0.11:80 masquerade, 1/2 dnat 10.244.0.12:80 masquerade"),
        ("nodeport", OUTSIDE, NODE, Udp, 30080, "accept"),
        ("nodeport", OUTSIDE, NODE, Tcp, 30081, "accept"),
        ("nodeport", POD, "10.96.0.20", Tcp, 80, "1/2 dnat 10.244.0.11:80, 1/2 dnat 10.244.0.12:80"),
        // LoadBalancer IP (= node IP) and its source ranges.
        ("loadbalancer", OUTSIDE, NODE, Tcp, 80, "dnat 10.244.0.11:80 masquerade"),
        ("loadbalancer", OUTSIDE, NODE, Tcp, 31080, "dnat 10.244.0.11:80 masquerade"),
        ("loadbalancer", OUTSIDE, NODE, Tcp, 8080, "dnat 10.244.0.21:8080 masquerade"),
        ("loadbalancer", "10.1.1.1", NODE, Tcp, 8080, "drop"),
        ("loadbalancer", NODE, NODE, Tcp, 8080, "dnat 10.244.0.21:8080 masquerade"),
        // NodePorts are not subject to loadBalancerSourceRanges.
        ("loadbalancer", "10.1.1.1", NODE, Tcp, 31808, "dnat 10.244.0.21:8080 masquerade"),
        ("external-ips", "203.0.113.99", "203.0.113.10", Tcp, 8080, "dnat 10.244.0.11:80 masquerade"),
        ("external-ips", POD, "203.0.113.10", Tcp, 80, "accept"),
        // No endpoints: rejected at once, on every address.
        ("no-endpoints", POD, "10.96.0.20", Tcp, 80, "reject"),
        ("no-endpoints", OUTSIDE, NODE, Tcp, 30080, "reject"),
        ("no-endpoints", NODE, NODE, Tcp, 30080, "reject"),
        ("no-endpoints", NODE, "10.96.0.40", Tcp, 443, "reject"),
        ("no-endpoints", POD, "10.96.0.40", Tcp, 8443, "reject"),
        // externalTrafficPolicy Local: outside clients keep their source IP
        // and only reach the local endpoint; pods and the node use all.
        ("etp-local", OUTSIDE, NODE, Tcp, 30080, "dnat 10.244.0.11:80"),
        ("etp-local", POD, NODE, Tcp, 30080, "1/2 dnat 10.244.0.11:80, 1/2 dnat 10.244.1.5:80"),
        ("etp-local", NODE, NODE, Tcp, 30080,
         "1/2 dnat 10.244.0.11:80 masquerade, 1/2 dnat 10.244.1.5:80 masquerade"),
        ("etp-local", OUTSIDE, NODE, Tcp, 30081, "drop"),
        ("etp-local", POD, NODE, Tcp, 30081, "dnat 10.244.1.6:80"),
        ("etp-local", POD, "10.96.0.21", Tcp, 80, "dnat 10.244.1.6:80"),
        // internalTrafficPolicy Local.
        ("itp-local", POD, "10.96.0.20", Tcp, 80, "dnat 10.244.0.11:80"),
        ("itp-local", NODE, "10.96.0.20", Tcp, 80, "dnat 10.244.0.11:80 masquerade"),
        ("itp-local", POD, "10.96.0.21", Tcp, 80, "drop"),
        // Named target ports resolved per port name.
        ("multiport", POD, "10.96.0.60", Tcp, 80, "1/2 dnat 10.244.0.41:8080, 1/2 dnat 10.244.0.42:8080"),
        ("multiport", POD, "10.96.0.60", Tcp, 9100, "1/2 dnat 10.244.0.41:9100, 1/2 dnat 10.244.0.42:9100"),
        ("udp", POD, "10.96.0.10", Udp, 53, "dnat 192.168.56.10:53"),
        ("udp", POD, "10.96.0.10", Tcp, 53, "dnat 192.168.56.10:53"),
        ("udp", POD, "10.96.0.10", Udp, 9153, "reject"),
        ("sctp", OUTSIDE, NODE, Sctp, 30868, "dnat 10.244.0.71:3868 masquerade"),
        ("sctp", POD, "10.96.0.70", Sctp, 3868, "dnat 10.244.0.71:3868"),
        ("sctp", POD, "10.96.0.70", Tcp, 3868, "reject"),
        // Only terminating endpoints left: the serving ones still work.
        ("terminating", POD, "10.96.0.20", Tcp, 80, "1/2 dnat 10.244.0.11:80, 1/2 dnat 10.244.0.12:80"),
        // Headless: no ClusterIP to program, pods are reached directly.
        ("headless-externalname", POD, "10.244.0.51", Tcp, 5432, "accept"),
        ("headless-externalname", POD, "10.96.0.20", Tcp, 5432, "drop"),
    ];
    let mut failures = Vec::new();
    for (name, src, dst, proto, port, want) in cases {
        let rs = scenario(name);
        let got = trace(&rs, packet(src, dst, *proto, *port)).summary();
        if got != *want {
            failures.push(format!(
                "{name}: {src} -> {dst}:{port}/{proto}\n  want {want}\n  got  {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn affinity_sticks_a_client_to_its_endpoint() {
    let rs = scenario("affinity");
    let pkt = packet(POD, "10.96.0.50", Tcp, 80);
    let first = trace(&rs, pkt);
    assert_eq!(
        first.summary(),
        "1/2 dnat 10.244.0.31:8080, 1/2 dnat 10.244.0.32:8080"
    );
    // Each path records the client in the chosen endpoint's set.
    let chosen = first
        .outcomes
        .iter()
        .find(|o| {
            o.dnat
                .is_some_and(|d| d.port() == 8080 && d.ip().octets()[3] == 32)
        })
        .expect("path to .32");
    assert_eq!(
        chosen.affinity,
        ["affinity-FEFOGFCM-shop/sticky/tcp/__10.244.0.32/8080"]
    );
    // The next connection of that client goes to the same endpoint.
    let state: AffinityState = [(chosen.affinity[0].clone(), ip(POD))].into();
    assert_eq!(
        trace_with(&rs, pkt, &state).summary(),
        "dnat 10.244.0.32:8080"
    );
    // Another client is not affected.
    let other = packet("10.244.0.98", "10.96.0.50", Tcp, 80);
    assert_eq!(
        trace_with(&rs, other, &state).summary(),
        "1/2 dnat 10.244.0.31:8080, 1/2 dnat 10.244.0.32:8080"
    );
}

#[test]
fn paths_name_the_chains_they_cross() {
    let rs = scenario("nodeport");
    let t = trace(&rs, packet(OUTSIDE, NODE, Tcp, 30080));
    assert_eq!(
        t.outcomes[0].chains,
        [
            "firewall-check",
            "services",
            "external-PFISGYVC-default/web/tcp/",
            "mark-for-masquerade",
            "service-PFISGYVC-default/web/tcp/",
            "endpoint-MY64OWVI-default/web/tcp/__10.244.0.11/80",
            "service-endpoints-check",
            "cluster-ips-check",
            "masquerading",
        ]
    );
}
