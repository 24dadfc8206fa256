//! The table of question → expected answer for `Zone::answer`, over a small
//! cluster that has every kind of Service the spec describes.

use hickory_server::proto::rr::{Name, RecordType};
use serde_json::{json, Value};

use crate::builder::{Kind, ZoneBuilder, ZoneConfig};
use crate::zone::{Outcome, PodMode, Zone};

fn svc(ns: &str, name: &str, spec: Value) -> (Kind, String, String, Value) {
    (
        Kind::Service,
        ns.into(),
        name.into(),
        json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}),
    )
}

fn slice(
    ns: &str,
    name: &str,
    service: &str,
    family: &str,
    ports: Value,
    endpoints: Value,
) -> (Kind, String, String, Value) {
    (
        Kind::EndpointSlice,
        ns.into(),
        name.into(),
        json!({
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
            "addressType": family, "ports": ports, "endpoints": endpoints
        }),
    )
}

fn ep(ip: &str, ready: bool, hostname: Option<&str>) -> Value {
    let mut v = json!({"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": false}});
    if let Some(h) = hostname {
        v["hostname"] = json!(h);
    }
    v
}

fn cluster() -> Vec<(Kind, String, String, Value)> {
    vec![
        (
            Kind::Namespace,
            String::new(),
            "default".into(),
            json!({"metadata": {"name": "default"}}),
        ),
        (
            Kind::Namespace,
            String::new(),
            "prod".into(),
            json!({"metadata": {"name": "prod"}}),
        ),
        svc(
            "default",
            "kubernetes",
            json!({"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}),
        ),
        svc(
            "kube-system",
            "kube-dns",
            json!({"clusterIP": "10.96.0.10", "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}, {"name": "metrics", "port": 9153, "protocol": "TCP"}]}),
        ),
        svc(
            "default",
            "web",
            json!({"clusterIP": "10.96.0.20", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        ),
        slice(
            "default",
            "web-abc",
            "web",
            "IPv4",
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
            json!([ep("10.244.0.11", true, None)]),
        ),
        svc(
            "default",
            "nameless",
            json!({"clusterIP": "10.96.0.21", "ports": [{"port": 80, "protocol": "TCP"}]}),
        ),
        svc(
            "default",
            "db",
            json!({"clusterIP": "None", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}),
        ),
        slice(
            "default",
            "db-1",
            "db",
            "IPv4",
            json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
            json!([
                ep("10.244.0.5", true, Some("db-0")),
                ep("10.244.0.6", true, Some("db-1")),
                ep("10.244.0.7", true, None),
                ep("10.244.0.8", false, Some("db-3"))
            ]),
        ),
        svc("default", "lonely", json!({"clusterIP": "None"})),
        slice(
            "default",
            "lonely-1",
            "lonely",
            "IPv4",
            json!([]),
            json!([ep("10.244.0.30", false, None)]),
        ),
        svc(
            "default",
            "warm",
            json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
        ),
        slice(
            "default",
            "warm-1",
            "warm",
            "IPv4",
            json!([]),
            json!([ep("10.244.0.9", false, None)]),
        ),
        svc(
            "default",
            "ext",
            json!({"type": "ExternalName", "externalName": "www.example.com"}),
        ),
        svc(
            "default",
            "alias",
            json!({"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}),
        ),
        svc(
            "default",
            "loop",
            json!({"type": "ExternalName", "externalName": "loop.default.svc.cluster.local."}),
        ),
        svc(
            "default",
            "v6",
            json!({"clusterIP": "fd00::10", "clusterIPs": ["fd00::10"], "ports": [{"name": "http", "port": 80}]}),
        ),
        svc(
            "default",
            "dual",
            json!({"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}),
        ),
        slice(
            "default",
            "dual-4",
            "dual",
            "IPv4",
            json!([{"name": "http", "port": 80, "protocol": "TCP"}]),
            json!([ep("10.244.0.40", true, Some("d0"))]),
        ),
        slice(
            "default",
            "dual-6",
            "dual",
            "IPv6",
            json!([{"name": "http", "port": 80, "protocol": "TCP"}]),
            json!([ep("fd00::40", true, Some("d0"))]),
        ),
        svc("default", "pending", json!({"type": "ClusterIP"})),
        (
            Kind::Pod,
            "default".into(),
            "pod1".into(),
            json!({"status": {"podIP": "10.244.0.11"}}),
        ),
    ]
}

fn build(config: ZoneConfig) -> Zone {
    let mut b = ZoneBuilder::new(config);
    for (kind, ns, name, obj) in cluster() {
        b.apply(kind, &ns, &name, Some(&obj));
    }
    b.build(42)
}

/// The outcome as text: rcode and flags, then one line per record.
pub(crate) fn render(o: &Outcome<'_>) -> String {
    let a = match o {
        Outcome::Forward => return "FORWARD".into(),
        Outcome::Local(a) => a,
    };
    let mut out = format!(
        "{}{}",
        crate::metrics::rcode_name(a.rcode),
        if a.authoritative { " aa" } else { "" }
    );
    for r in a.answers.iter() {
        out.push_str(&format!("\nANS {r}"));
    }
    for r in a.authority {
        out.push_str(&format!("\nAUTH {r}"));
    }
    for r in a.additionals {
        out.push_str(&format!("\nADD {r}"));
    }
    if let Some(c) = a.chase {
        out.push_str(&format!("\nCHASE {c}"));
    }
    out
}

const SOA_LINE: &str = "AUTH cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5";

fn nodata() -> String {
    format!("NOERROR aa\n{SOA_LINE}")
}

fn nxdomain() -> String {
    format!("NXDOMAIN aa\n{SOA_LINE}")
}

fn check(zone: &Zone, table: &[(&str, RecordType, String)]) {
    let mut failures = Vec::new();
    for (q, t, want) in table {
        let name = Name::from_ascii(q).expect("test name");
        let got = render(&zone.answer(&name, *t));
        if &got != want {
            failures.push(format!("{q} {t}:\n--- want\n{want}\n--- got\n{got}\n"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn answers_every_record_type_and_rcode() {
    use RecordType::*;
    let zone = build(ZoneConfig::default());
    let table: Vec<(&str, RecordType, String)> = vec![
        // 2.3.1 ClusterIP Service: A; case-insensitive; AAAA/TXT/MX of an IPv4 Service is NODATA.
        ("web.default.svc.cluster.local.", A, s("NOERROR aa\nANS web.default.svc.cluster.local. 5 IN A 10.96.0.20")),
        ("WEB.Default.SVC.Cluster.LOCAL.", A, s("NOERROR aa\nANS web.default.svc.cluster.local. 5 IN A 10.96.0.20")),
        ("kubernetes.default.svc.cluster.local.", A, s("NOERROR aa\nANS kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1")),
        ("web.default.svc.cluster.local.", AAAA, nodata()),
        ("web.default.svc.cluster.local.", TXT, nodata()),
        ("web.default.svc.cluster.local.", MX, nodata()),
        ("web.default.svc.cluster.local.", PTR, nodata()),
        // IPv6 ClusterIP: AAAA, and A is NODATA.
        ("v6.default.svc.cluster.local.", AAAA, s("NOERROR aa\nANS v6.default.svc.cluster.local. 5 IN AAAA fd00::10")),
        ("v6.default.svc.cluster.local.", A, nodata()),
        // Unknown names are NXDOMAIN with the zone SOA.
        ("nope.default.svc.cluster.local.", A, nxdomain()),
        ("web.nope.svc.cluster.local.", A, nxdomain()),
        ("pending.default.svc.cluster.local.", A, nxdomain()),
        ("foo.cluster.local.", A, nxdomain()),
        ("x.y.web.default.svc.cluster.local.", A, nxdomain()),
        ("a.b._http._tcp.web.default.svc.cluster.local.", SRV, nxdomain()),
        // 2.3.2 SRV for named ports: one target, the Service name; A in additional.
        ("_http._tcp.web.default.svc.cluster.local.", SRV, s("NOERROR aa\nANS _http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.\nADD web.default.svc.cluster.local. 5 IN A 10.96.0.20")),
        ("_DNS._UDP.web.default.svc.cluster.local.", SRV, s("NOERROR aa\nANS _dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local.\nADD web.default.svc.cluster.local. 5 IN A 10.96.0.20")),
        ("_http._tcp.web.default.svc.cluster.local.", A, nodata()),
        ("_http._udp.web.default.svc.cluster.local.", SRV, nxdomain()),
        ("_nope._tcp.web.default.svc.cluster.local.", SRV, nxdomain()),
        ("http.tcp.web.default.svc.cluster.local.", SRV, nxdomain()),
        // "_tcp.<svc>" is an empty non-terminal: NODATA, not NXDOMAIN.
        ("_tcp.web.default.svc.cluster.local.", SRV, nodata()),
        ("_sctp.web.default.svc.cluster.local.", SRV, nxdomain()),
        // SRV on the Service name itself lists every port (CoreDNS).
        ("web.default.svc.cluster.local.", SRV, s("NOERROR aa\nANS web.default.svc.cluster.local. 5 IN SRV 0 50 80 web.default.svc.cluster.local.\nANS web.default.svc.cluster.local. 5 IN SRV 0 50 53 web.default.svc.cluster.local.\nADD web.default.svc.cluster.local. 5 IN A 10.96.0.20")),
        // Unnamed ports have no _port._proto name.
        ("nameless.default.svc.cluster.local.", SRV, s("NOERROR aa\nANS nameless.default.svc.cluster.local. 5 IN SRV 0 100 80 nameless.default.svc.cluster.local.\nADD nameless.default.svc.cluster.local. 5 IN A 10.96.0.21")),
        ("_tcp.nameless.default.svc.cluster.local.", SRV, nxdomain()),
        // Endpoint names of a ClusterIP Service (CoreDNS answers them too).
        ("10-244-0-11.web.default.svc.cluster.local.", A, s("NOERROR aa\nANS 10-244-0-11.web.default.svc.cluster.local. 5 IN A 10.244.0.11")),
        // 2.4.1 headless: A per ready endpoint, not the unready one.
        ("db.default.svc.cluster.local.", A, s("NOERROR aa\nANS db.default.svc.cluster.local. 5 IN A 10.244.0.5\nANS db.default.svc.cluster.local. 5 IN A 10.244.0.6\nANS db.default.svc.cluster.local. 5 IN A 10.244.0.7")),
        ("db.default.svc.cluster.local.", AAAA, nodata()),
        ("db-0.db.default.svc.cluster.local.", A, s("NOERROR aa\nANS db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.5")),
        ("DB-1.db.default.svc.cluster.local.", A, s("NOERROR aa\nANS db-1.db.default.svc.cluster.local. 5 IN A 10.244.0.6")),
        ("10-244-0-7.db.default.svc.cluster.local.", A, s("NOERROR aa\nANS 10-244-0-7.db.default.svc.cluster.local. 5 IN A 10.244.0.7")),
        ("db-0.db.default.svc.cluster.local.", AAAA, nodata()),
        ("db-3.db.default.svc.cluster.local.", A, nxdomain()),
        ("10-244-0-8.db.default.svc.cluster.local.", A, nxdomain()),
        // 2.4.2 headless SRV: one per ready endpoint, target <hostname>.<svc>...
        ("_pg._tcp.db.default.svc.cluster.local.", SRV, s("NOERROR aa\n\
ANS _pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.default.svc.cluster.local.\n\
ANS _pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-1.db.default.svc.cluster.local.\n\
ANS _pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 10-244-0-7.db.default.svc.cluster.local.\n\
ADD db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.5\n\
ADD db-1.db.default.svc.cluster.local. 5 IN A 10.244.0.6\n\
ADD 10-244-0-7.db.default.svc.cluster.local. 5 IN A 10.244.0.7")),
        ("db-0.db.default.svc.cluster.local.", SRV, s("NOERROR aa\nANS db-0.db.default.svc.cluster.local. 5 IN SRV 0 100 5432 db-0.db.default.svc.cluster.local.\nADD db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.5")),
        // Headless without ready endpoints: NXDOMAIN, and so is everything below it.
        ("lonely.default.svc.cluster.local.", A, nxdomain()),
        ("lonely.default.svc.cluster.local.", AAAA, nxdomain()),
        ("10-244-0-30.lonely.default.svc.cluster.local.", A, nxdomain()),
        // publishNotReadyAddresses: every endpoint.
        ("warm.default.svc.cluster.local.", A, s("NOERROR aa\nANS warm.default.svc.cluster.local. 5 IN A 10.244.0.9")),
        // Headless with slices for both families under one hostname.
        ("dual.default.svc.cluster.local.", AAAA, s("NOERROR aa\nANS dual.default.svc.cluster.local. 5 IN AAAA fd00::40")),
        ("d0.dual.default.svc.cluster.local.", A, s("NOERROR aa\nANS d0.dual.default.svc.cluster.local. 5 IN A 10.244.0.40")),
        ("d0.dual.default.svc.cluster.local.", AAAA, s("NOERROR aa\nANS d0.dual.default.svc.cluster.local. 5 IN AAAA fd00::40")),
        ("_http._tcp.dual.default.svc.cluster.local.", SRV, s("NOERROR aa\nANS _http._tcp.dual.default.svc.cluster.local. 5 IN SRV 0 100 80 d0.dual.default.svc.cluster.local.\nADD d0.dual.default.svc.cluster.local. 5 IN A 10.244.0.40\nADD d0.dual.default.svc.cluster.local. 5 IN AAAA fd00::40")),
        // 2.5 ExternalName: CNAME; outside targets are chased by the server.
        ("ext.default.svc.cluster.local.", A, s("NOERROR aa\nANS ext.default.svc.cluster.local. 5 IN CNAME www.example.com.\nCHASE www.example.com.")),
        ("ext.default.svc.cluster.local.", AAAA, s("NOERROR aa\nANS ext.default.svc.cluster.local. 5 IN CNAME www.example.com.\nCHASE www.example.com.")),
        ("ext.default.svc.cluster.local.", CNAME, s("NOERROR aa\nANS ext.default.svc.cluster.local. 5 IN CNAME www.example.com.")),
        ("_http._tcp.ext.default.svc.cluster.local.", SRV, nxdomain()),
        // ... and targets inside the zone are followed here.
        ("alias.default.svc.cluster.local.", A, s("NOERROR aa\nANS alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.\nANS web.default.svc.cluster.local. 5 IN A 10.96.0.20")),
        ("alias.default.svc.cluster.local.", AAAA, format!("NOERROR aa\nANS alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.\n{SOA_LINE}")),
        ("loop.default.svc.cluster.local.", A, s("NOERROR aa\nANS loop.default.svc.cluster.local. 5 IN CNAME loop.default.svc.cluster.local.")),
        // 2.3.3 / 2.4.3 PTR: ClusterIPs and endpoint IPs.
        ("20.0.96.10.in-addr.arpa.", PTR, s("NOERROR aa\nANS 20.0.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local.")),
        ("10.0.96.10.IN-ADDR.ARPA.", PTR, s("NOERROR aa\nANS 10.0.96.10.in-addr.arpa. 5 IN PTR kube-dns.kube-system.svc.cluster.local.")),
        ("5.0.244.10.in-addr.arpa.", PTR, s("NOERROR aa\nANS 5.0.244.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local.")),
        ("7.0.244.10.in-addr.arpa.", PTR, s("NOERROR aa\nANS 7.0.244.10.in-addr.arpa. 5 IN PTR 10-244-0-7.db.default.svc.cluster.local.")),
        ("11.0.244.10.in-addr.arpa.", PTR, s("NOERROR aa\nANS 11.0.244.10.in-addr.arpa. 5 IN PTR 10-244-0-11.web.default.svc.cluster.local.")),
        ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", PTR, s("NOERROR aa\nANS 0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR v6.default.svc.cluster.local.")),
        ("20.0.96.10.in-addr.arpa.", A, s("NOERROR aa\nAUTH in-addr.arpa. 5 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 42 7200 1800 86400 5")),
        // Unknown reverse names fall through to the upstream.
        ("8.0.244.10.in-addr.arpa.", PTR, s("FORWARD")),
        ("99.0.244.10.in-addr.arpa.", PTR, s("FORWARD")),
        ("0.96.10.in-addr.arpa.", PTR, s("FORWARD")),
        // Pods (insecure, kubeadm's default): any IP label in an existing namespace.
        ("10-244-0-11.default.pod.cluster.local.", A, s("NOERROR aa\nANS 10-244-0-11.default.pod.cluster.local. 5 IN A 10.244.0.11")),
        ("10-244-9-9.default.pod.cluster.local.", A, s("NOERROR aa\nANS 10-244-9-9.default.pod.cluster.local. 5 IN A 10.244.9.9")),
        ("fd00--9.default.pod.cluster.local.", AAAA, s("NOERROR aa\nANS fd00--9.default.pod.cluster.local. 5 IN AAAA fd00::9")),
        ("10-244-0-11.default.pod.cluster.local.", AAAA, nodata()),
        ("10-244-0-11.nope.pod.cluster.local.", A, nxdomain()),
        ("not-an-ip.default.pod.cluster.local.", A, nxdomain()),
        ("x.10-244-0-11.default.pod.cluster.local.", A, nxdomain()),
        // Empty non-terminals and namespaces.
        ("svc.cluster.local.", A, nodata()),
        ("pod.cluster.local.", A, nodata()),
        ("default.svc.cluster.local.", A, nodata()),
        ("prod.svc.cluster.local.", A, nodata()),
        ("kube-system.svc.cluster.local.", A, nodata()),
        ("default.pod.cluster.local.", A, nodata()),
        ("nope.svc.cluster.local.", A, nxdomain()),
        ("nope.pod.cluster.local.", A, nxdomain()),
        // Apex: SOA, NS (the kube-dns Service), and NODATA otherwise.
        ("cluster.local.", SOA, s("NOERROR aa\nANS cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5")),
        ("Cluster.Local.", NS, s("NOERROR aa\nANS cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.\nADD kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10")),
        ("cluster.local.", A, nodata()),
        ("ns.dns.cluster.local.", A, s("NOERROR aa\nANS ns.dns.cluster.local. 5 IN A 10.96.0.10")),
        ("dns.cluster.local.", A, nodata()),
        ("x.dns.cluster.local.", A, nxdomain()),
        ("web.default.svc.cluster.local.", SOA, nodata()),
        ("web.default.svc.cluster.local.", NS, nodata()),
        ("nope.default.svc.cluster.local.", SOA, nxdomain()),
        // 2.2 schema version.
        ("dns-version.cluster.local.", TXT, s("NOERROR aa\nANS dns-version.cluster.local. 28800 IN TXT 1.1.0")),
        ("dns-version.cluster.local.", A, nodata()),
        ("x.dns-version.cluster.local.", TXT, nxdomain()),
        // Wildcards are not served: "*" is just a label that does not exist.
        ("*.default.svc.cluster.local.", A, nxdomain()),
        ("*.svc.cluster.local.", A, nxdomain()),
        ("*.cluster.local.", A, nxdomain()),
        ("web.*.svc.cluster.local.", A, nxdomain()),
        // Zone transfers are refused.
        ("cluster.local.", AXFR, s("REFUSED")),
        ("cluster.local.", IXFR, s("REFUSED")),
        // Everything outside the cluster zone is forwarded.
        ("example.com.", A, s("FORWARD")),
        ("local.", A, s("FORWARD")),
        ("cluster.local.example.com.", A, s("FORWARD")),
        ("xcluster.local.", A, s("FORWARD")),
        (".", NS, s("FORWARD")),
    ];
    check(&zone, &table);
}

#[test]
fn verified_and_disabled_pod_modes() {
    use RecordType::*;
    let verified = build(ZoneConfig {
        pod_mode: PodMode::Verified,
        ..ZoneConfig::default()
    });
    check(
        &verified,
        &[
            (
                "10-244-0-11.default.pod.cluster.local.",
                A,
                s("NOERROR aa\nANS 10-244-0-11.default.pod.cluster.local. 5 IN A 10.244.0.11"),
            ),
            ("10-244-9-9.default.pod.cluster.local.", A, nxdomain()),
            ("10-244-0-11.prod.pod.cluster.local.", A, nxdomain()),
        ],
    );
    let disabled = build(ZoneConfig {
        pod_mode: PodMode::Disabled,
        ..ZoneConfig::default()
    });
    check(
        &disabled,
        &[
            ("10-244-0-11.default.pod.cluster.local.", A, nxdomain()),
            ("default.pod.cluster.local.", A, nxdomain()),
            ("pod.cluster.local.", A, nodata()),
        ],
    );
}

#[test]
fn custom_domain_and_ttl() {
    use RecordType::*;
    let zone = build(ZoneConfig {
        domain: "K1S.test.".into(),
        ttl: 30,
        ..ZoneConfig::default()
    });
    check(
        &zone,
        &[
            ("web.default.svc.k1s.test.", A, s("NOERROR aa\nANS web.default.svc.k1s.test. 30 IN A 10.96.0.20")),
            ("nope.default.svc.k1s.test.", A, s("NXDOMAIN aa\nAUTH k1s.test. 30 IN SOA ns.dns.k1s.test. hostmaster.k1s.test. 42 7200 1800 86400 30")),
            ("dns-version.k1s.test.", TXT, s("NOERROR aa\nANS dns-version.k1s.test. 28800 IN TXT 1.1.0")),
            ("web.default.svc.cluster.local.", A, s("FORWARD")),
            // The in-zone alias target is in the other domain now: chased upstream.
            ("alias.default.svc.k1s.test.", A, s("NOERROR aa\nANS alias.default.svc.k1s.test. 30 IN CNAME web.default.svc.cluster.local.\nCHASE web.default.svc.cluster.local.")),
        ],
    );
}

#[test]
fn updates_add_change_and_remove_names() {
    use RecordType::*;
    let mut b = ZoneBuilder::new(ZoneConfig::default());
    let web = |ip: &str| json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80}]}});
    let q = |z: &Zone, n: &str, t| render(&z.answer(&Name::from_ascii(n).expect("name"), t));
    assert!(b.apply(Kind::Service, "default", "web", Some(&web("10.96.0.20"))));
    // The same object again changes nothing.
    assert!(!b.apply(Kind::Service, "default", "web", Some(&web("10.96.0.20"))));
    let z1 = b.build(1);
    assert_eq!(
        q(&z1, "web.default.svc.cluster.local.", A),
        "NOERROR aa\nANS web.default.svc.cluster.local. 5 IN A 10.96.0.20"
    );

    b.apply(Kind::Service, "default", "web", Some(&web("10.96.0.30")));
    let z2 = b.build(2);
    assert_eq!(
        q(&z2, "web.default.svc.cluster.local.", A),
        "NOERROR aa\nANS web.default.svc.cluster.local. 5 IN A 10.96.0.30"
    );
    assert_eq!(q(&z2, "20.0.96.10.in-addr.arpa.", PTR), "FORWARD");
    // The old zone is untouched: readers holding it keep a consistent view.
    assert_eq!(
        q(&z1, "web.default.svc.cluster.local.", A),
        "NOERROR aa\nANS web.default.svc.cluster.local. 5 IN A 10.96.0.20"
    );

    // A slice arriving adds endpoint names; moving it to another Service moves them.
    let sl = |svc: &str| {
        json!({"metadata": {"labels": {"kubernetes.io/service-name": svc}}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": ["10.244.0.5"]}]})
    };
    b.apply(Kind::EndpointSlice, "default", "web-1", Some(&sl("web")));
    let z3 = b.build(3);
    assert_eq!(
        q(&z3, "10-244-0-5.web.default.svc.cluster.local.", A),
        "NOERROR aa\nANS 10-244-0-5.web.default.svc.cluster.local. 5 IN A 10.244.0.5"
    );
    b.apply(Kind::EndpointSlice, "default", "web-1", Some(&sl("other")));
    let z4 = b.build(4);
    assert!(q(&z4, "10-244-0-5.web.default.svc.cluster.local.", A).starts_with("NXDOMAIN"));

    b.apply(Kind::Service, "default", "web", None);
    let z5 = b.build(5);
    assert!(q(&z5, "web.default.svc.cluster.local.", A).starts_with("NXDOMAIN"));
    assert_eq!(z5.service_count(), 0);
    // The namespace goes with its last object.
    assert!(q(&z5, "default.svc.cluster.local.", A).starts_with("NXDOMAIN"));
}

#[test]
fn garbage_objects_do_not_panic() {
    let mut b = ZoneBuilder::new(ZoneConfig::default());
    for v in [
        json!(null),
        json!(1),
        json!("x"),
        json!({"spec": 3}),
        json!({"spec": {"clusterIP": 7, "ports": "no"}}),
        json!({"spec": {"type": "ExternalName", "externalName": "bad..name"}}),
        json!({"spec": {"clusterIP": "None"}, "metadata": {"annotations": 5}}),
    ] {
        b.apply(Kind::Service, "default", "x", Some(&v));
        b.apply(Kind::EndpointSlice, "default", "x", Some(&v));
        b.apply(Kind::Pod, "default", "x", Some(&v));
        let _ = b.build(1);
    }
    // A name no label can hold is skipped, not a panic.
    let long = "a".repeat(70);
    b.apply(
        Kind::Service,
        "default",
        &long,
        Some(&json!({"spec": {"clusterIP": "10.96.0.9"}})),
    );
    let z = b.build(2);
    assert_eq!(z.service_count(), 0);
}

#[test]
fn incremental_builds_match_a_fresh_build() {
    use RecordType::*;
    let queries: Vec<(&str, RecordType)> = vec![
        ("web.default.svc.cluster.local.", A),
        ("db.default.svc.cluster.local.", A),
        ("_pg._tcp.db.default.svc.cluster.local.", SRV),
        ("20.0.96.10.in-addr.arpa.", PTR),
        ("21.0.96.10.in-addr.arpa.", PTR),
        ("5.0.244.10.in-addr.arpa.", PTR),
        ("11.0.244.10.in-addr.arpa.", PTR),
        ("10-244-0-11.default.pod.cluster.local.", A),
        ("10-244-0-12.default.pod.cluster.local.", A),
        ("prod.svc.cluster.local.", A),
        ("default.svc.cluster.local.", A),
        ("cluster.local.", NS),
    ];
    let config = || ZoneConfig {
        pod_mode: PodMode::Verified,
        ..ZoneConfig::default()
    };
    let mut inc = ZoneBuilder::new(config());
    let mut final_state: Vec<(Kind, String, String, Option<Value>)> = Vec::new();
    for (kind, ns, name, obj) in cluster() {
        inc.apply(kind, &ns, &name, Some(&obj));
        let _ = inc.build(42);
        final_state.push((kind, ns, name, Some(obj)));
    }
    // A series of changes, each published on its own.
    let changes: Vec<(Kind, &str, &str, Option<Value>)> = vec![
        // web takes nameless's old IP; nameless goes away.
        (Kind::Service, "default", "nameless", None),
        (
            Kind::Service,
            "default",
            "web",
            Some(
                json!({"spec": {"clusterIP": "10.96.0.21", "ports": [{"name": "http", "port": 80}]}}),
            ),
        ),
        // db loses an endpoint, then db-0 moves to an IP that web's endpoint has.
        (
            Kind::EndpointSlice,
            "default",
            "db-1",
            Some(
                json!({"metadata": {"labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv4",
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}], "endpoints": [ep("10.244.0.11", true, Some("db-0"))]}),
            ),
        ),
        (
            Kind::Pod,
            "default",
            "pod2",
            Some(json!({"status": {"podIP": "10.244.0.12"}})),
        ),
        (Kind::Pod, "default", "pod1", None),
        (Kind::Namespace, "", "prod", None),
        (Kind::Service, "kube-system", "kube-dns", None),
    ];
    for (kind, ns, name, obj) in changes {
        inc.apply(kind, ns, name, obj.as_ref());
        let _ = inc.build(42);
        final_state.retain(|(k, n, m, _)| !(*k == kind && n == ns && m == name));
        if obj.is_some() {
            final_state.push((kind, ns.into(), name.into(), obj));
        }
    }
    let incremental = inc.build(42);
    let mut fresh = ZoneBuilder::new(config());
    for (kind, ns, name, obj) in &final_state {
        fresh.apply(*kind, ns, name, obj.as_ref());
    }
    let fresh = fresh.build(42);
    for (q, t) in queries {
        let n = Name::from_ascii(q).expect("name");
        assert_eq!(
            render(&incremental.answer(&n, t)),
            render(&fresh.answer(&n, t)),
            "{q} {t}"
        );
    }
    let n = Name::from_ascii("11.0.244.10.in-addr.arpa.").expect("name");
    assert_eq!(
        render(&fresh.answer(&n, PTR)),
        "NOERROR aa\nANS 11.0.244.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local.\nANS 11.0.244.10.in-addr.arpa. 5 IN PTR 10-244-0-11.web.default.svc.cluster.local."
    );
}

#[test]
fn kinds_from_storage_prefixes() {
    let cases = [
        ("services", Some(Kind::Service)),
        ("discovery.k8s.io/endpointslices", Some(Kind::EndpointSlice)),
        ("pods", Some(Kind::Pod)),
        ("namespaces", Some(Kind::Namespace)),
        ("endpoints", None),
    ];
    for (prefix, want) in cases {
        assert_eq!(Kind::from_storage_prefix(prefix), want, "{prefix}");
    }
}
