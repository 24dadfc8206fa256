//! The kernel layer for real, inside network namespaces the tests create
//! (never the host's tables): every scenario loads through `nft -f` and
//! `nft -j -f`, diffs apply, a flushed or deleted table is repaired, and
//! UDP flows of a removed endpoint are deleted from conntrack. Needs root,
//! iproute2, nftables and conntrack (`apt-get install -y nftables conntrack`).

mod common;

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{config, inputs, objects, scenario, SCENARIOS};
use k1s_proxy::listing::Fingerprint;
use k1s_proxy::{Applier, EndpointInfo, Proxy, Ruleset, Transaction};
use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh network namespace, deleted on drop (also when a test fails).
struct Netns {
    name: String,
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

impl Netns {
    fn new() -> Netns {
        for tool in ["nft", "conntrack"] {
            assert!(
                Command::new(tool).arg("--version").output().is_ok(),
                "{tool} is missing: apt-get install -y nftables conntrack"
            );
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("k1s-proxy-test-{}-{n}", std::process::id());
        let out = run(Command::new("ip").args(["netns", "add", &name]));
        assert!(
            out.status.success(),
            "ip netns add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns { name }
    }

    fn exec(&self, args: &[&str]) -> Output {
        let out = run(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn applier(&self) -> Applier {
        Applier::in_netns(&self.name)
    }

    /// Fingerprint of the table as the kernel lists it.
    fn fingerprint(&self) -> Fingerprint {
        let listing = self
            .applier()
            .list_json("k1s")
            .expect("list")
            .expect("table exists");
        Fingerprint::of_listing(&listing).expect("parses")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn namespace_is_deleted_even_when_the_test_fails() {
    let name = std::panic::catch_unwind(|| {
        let ns = Netns::new();
        let name = ns.name.clone();
        std::panic::panic_any(name);
    })
    .expect_err("panicked")
    .downcast::<String>()
    .expect("name");
    let list = run(Command::new("ip").args(["netns", "list"]));
    assert!(!String::from_utf8_lossy(&list.stdout).contains(name.as_str()));
}

#[test]
fn every_scenario_loads_from_text_and_from_json() {
    let ns = Netns::new();
    let a = ns.applier();
    for name in SCENARIOS {
        let rs = scenario(name);
        let full = Transaction::full(&rs);
        a.apply(&full).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            ns.fingerprint(),
            Fingerprint::of_ruleset(&rs, &[]),
            "{name}"
        );
        let from_text = a.list_text("k1s").expect("list").expect("table");

        assert!(a.delete_table("k1s").expect("delete"));
        assert!(!a.delete_table("k1s").expect("delete again"));
        a.apply_json(&full)
            .unwrap_or_else(|e| panic!("{name} (json): {e}"));
        let from_json = a.list_text("k1s").expect("list").expect("table");
        assert_eq!(
            without_object_comments(&from_text),
            from_json,
            "{name}: text and JSON loads differ"
        );
    }
    // The last table is replaced as a whole by the next full load.
    let rs = scenario("clusterip");
    a.apply(&Transaction::full(&rs)).expect("reload");
    assert_eq!(ns.fingerprint(), Fingerprint::of_ruleset(&rs, &[]));
}

/// nft 1.0.6 ignores `comment` on tables, chains, sets and maps in JSON
/// input (rule and element comments do arrive); drop those lines.
fn without_object_comments(listing: &str) -> String {
    listing
        .lines()
        .filter(|l| !l.trim_start().starts_with("comment \""))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn clusterip_objects(extra: Option<Ipv4Addr>, drop: Option<Ipv4Addr>) -> (Vec<Value>, Vec<Value>) {
    let objs = objects("clusterip");
    let kind = |o: &Value, k: &str| o.get("kind").and_then(Value::as_str) == Some(k);
    let services: Vec<Value> = objs
        .iter()
        .filter(|o| kind(o, "Service"))
        .cloned()
        .collect();
    let mut slices: Vec<Value> = objs
        .iter()
        .filter(|o| kind(o, "EndpointSlice"))
        .cloned()
        .collect();
    for s in slices
        .iter_mut()
        .filter(|s| s["metadata"]["name"] == "web-x7k2p")
    {
        let eps = s["endpoints"].as_array_mut().expect("endpoints");
        if let Some(ip) = extra {
            eps.push(serde_json::json!({"addresses": [ip.to_string()], "conditions": {"ready": true}, "nodeName": "k1s-node"}));
        }
        if let Some(ip) = drop {
            eps.retain(|e| e["addresses"][0] != ip.to_string());
        }
    }
    (services, slices)
}

#[test]
fn proxy_applies_diffs_and_repairs_drift() {
    let ns = Netns::new();
    let mut p = Proxy::new(config(), ns.applier());
    p.stale_chain_delay = Some(Duration::ZERO);
    let matches = |p: &Proxy, ns: &Netns| {
        let rs: &Ruleset = p.current().expect("synced");
        ns.fingerprint() == Fingerprint::of_ruleset(rs, &p.stale_chains())
    };

    assert!(p.loads_into_empty_kernel(), "no table yet");
    let (svcs, slices) = clusterip_objects(None, None);
    let s = p.sync(&svcs, &slices).expect("first sync");
    assert!(s.full && !s.drift, "{s:?}");
    assert!(matches(&p, &ns));
    assert!(ns.applier().table_exists("k1s").expect("list tables"));
    assert!(!ns.applier().table_exists("k1").expect("list tables"));
    // A proxy started after another run: its first load replaces a table.
    assert!(!Proxy::new(config(), ns.applier()).loads_into_empty_kernel());

    // Nothing changed: nothing to do.
    let s = p.sync(&svcs, &slices).expect("no-op sync");
    assert!(!s.full && s.ops == 0, "{s:?}");

    // One more endpoint: two chains touched, applied incrementally.
    let added = Ipv4Addr::new(10, 244, 0, 14);
    let (svcs, slices) = clusterip_objects(Some(added), None);
    let s = p.sync(&svcs, &slices).expect("add endpoint");
    assert!(!s.full && !s.drift && s.chains_touched == 2, "{s:?}");
    assert!(matches(&p, &ns));

    // Two endpoints fewer: their chains are flushed now, deleted next sync.
    let gone = Ipv4Addr::new(10, 244, 0, 13);
    let (svcs, slices) = clusterip_objects(None, Some(gone));
    let s = p.sync(&svcs, &slices).expect("remove endpoints");
    assert!(!s.full && !s.drift, "{s:?}");
    assert_eq!(p.stale_chains().len(), 2);
    assert!(matches(&p, &ns));
    let s = p.sync(&svcs, &slices).expect("cleanup sync");
    assert_eq!(s.stale_chains_deleted, 2, "{s:?}");
    assert!(p.stale_chains().is_empty() && matches(&p, &ns));

    // Someone flushes the table: the next sync notices and reloads it.
    ns.exec(&["nft", "flush", "table", "ip", "k1s"]);
    let s = p.sync(&svcs, &slices).expect("repair flush");
    assert!(s.full && s.drift, "{s:?}");
    assert!(matches(&p, &ns));

    // ... or deletes a map element, or the whole table.
    ns.exec(&[
        "nft",
        "delete",
        "element",
        "ip",
        "k1s",
        "service-ips",
        "{ 10.96.0.20 . tcp . 80 }",
    ]);
    let s = p.sync(&svcs, &slices).expect("repair element");
    assert!(s.full && s.drift, "{s:?}");
    ns.exec(&["nft", "delete", "table", "ip", "k1s"]);
    let s = p.sync(&svcs, &slices).expect("repair table");
    assert!(s.full && s.drift, "{s:?}");
    assert!(matches(&p, &ns));

    assert!(p.remove().expect("remove"));
    assert_eq!(ns.applier().list_json("k1s").expect("list"), None);
}

#[test]
fn same_transaction_chain_deletes_work_on_this_kernel() {
    let ns = Netns::new();
    let mut p = Proxy::new(config(), ns.applier());
    p.stale_chain_delay = None;
    let (services, mut slices) = inputs(&objects("clusterip"));
    p.sync_model(&services, &slices).expect("first sync");
    slices.iter_mut().for_each(|s| s.endpoints.clear());
    let s = p
        .sync_model(&services, &slices)
        .expect("all endpoints gone");
    assert!(!s.full && p.stale_chains().is_empty(), "{s:?}");
    assert_eq!(
        ns.fingerprint(),
        Fingerprint::of_ruleset(p.current().expect("synced"), &[])
    );
}

#[test]
fn udp_flows_to_a_removed_endpoint_are_forgotten() {
    let ns = Netns::new();
    let mut p = Proxy::new(config(), ns.applier());
    let (services, mut slices) = inputs(&objects("udp"));
    slices[0]
        .endpoints
        .push(EndpointInfo::ready(Ipv4Addr::new(10, 244, 0, 5)));
    p.sync_model(&services, &slices).expect("first sync");

    // A DNS client's flow that was DNATed to 10.244.0.5:53.
    ns.exec(&[
        "conntrack",
        "-I",
        "-p",
        "udp",
        "-s",
        "10.244.0.99",
        "-d",
        "10.96.0.10",
        "--sport",
        "40000",
        "--dport",
        "53",
        "--reply-src",
        "10.244.0.5",
        "--reply-dst",
        "10.244.0.99",
        "--reply-port-src",
        "53",
        "--reply-port-dst",
        "40000",
        "-t",
        "100",
    ]);
    slices[0]
        .endpoints
        .retain(|e| e.ip != Ipv4Addr::new(10, 244, 0, 5));
    let s = p.sync_model(&services, &slices).expect("endpoint removed");
    assert_eq!(
        (s.conntrack_filters, s.conntrack_deleted, s.conntrack_failed),
        (1, 1, 0),
        "{s:?}"
    );
    let left = ns.exec(&["conntrack", "-L", "-p", "udp"]);
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty());
}

#[test]
fn walking_through_all_scenarios_applies_only_diffs() {
    let ns = Netns::new();
    let mut p = Proxy::new(config(), ns.applier());
    p.stale_chain_delay = Some(Duration::ZERO);
    let mut order: Vec<&str> = SCENARIOS.to_vec();
    order.extend(SCENARIOS.iter().rev());
    for (i, name) in order.iter().enumerate() {
        let (services, slices) = inputs(&objects(name));
        let s = p
            .sync_model(&services, &slices)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.full, i == 0, "{name}: {s:?}");
        assert!(!s.drift, "{name}: {s:?}");
        let want = Fingerprint::of_ruleset(p.current().expect("synced"), &p.stale_chains());
        assert_eq!(ns.fingerprint(), want, "{name}");
    }
    // A changed affinity timeout recreates the sets in place.
    let (mut services, slices) = inputs(&objects("affinity"));
    p.sync_model(&services, &slices).expect("affinity");
    services[0].affinity_timeout = Some(5);
    let s = p.sync_model(&services, &slices).expect("affinity timeout");
    assert!(!s.full && !s.drift, "{s:?}");
    let text = ns.applier().list_text("k1s").expect("list").expect("table");
    assert!(text.contains("timeout 5s"), "{text}");
}

/// Runs `f` on a thread that has entered the namespace, so its sockets
/// live there.
fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let path = format!("/run/netns/{}", ns.name);
            let fd = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

#[test]
fn real_connections_follow_the_rules() {
    use k1s_proxy::{Protocol, ServiceInfo, ServicePortInfo};
    use std::io::ErrorKind;
    use std::net::{SocketAddr, TcpListener, TcpStream};

    let ns = Netns::new();
    let outside = Netns::new();
    // The node namespace holds the node address (on a veth whose peer is a
    // "laptop" in a second namespace) and one "pod" address (on a veth
    // whose two ends stay in the node namespace).
    ns.exec(&[
        "ip",
        "link",
        "add",
        "node0",
        "type",
        "veth",
        "peer",
        "name",
        "out0",
        "netns",
        &outside.name,
    ]);
    for cmd in [
        "ip link set lo up",
        "ip addr add 192.168.56.10/24 dev node0",
        "ip link set node0 up",
        "ip link add pod0 type veth peer name pod0p",
        "ip addr add 10.244.0.11/32 dev pod0",
        "ip link set pod0 up",
        "ip link set pod0p up",
        "ip route add 10.96.0.0/12 dev node0",
    ] {
        ns.exec(&cmd.split(' ').collect::<Vec<_>>());
    }
    for cmd in [
        "ip link set lo up",
        "ip addr add 192.168.56.1/24 dev out0",
        "ip link set out0 up",
        "ip route add 10.96.0.0/12 via 192.168.56.10",
    ] {
        outside.exec(&cmd.split(' ').collect::<Vec<_>>());
    }
    let port = |p: u16, node_port: Option<u16>| ServicePortInfo {
        name: String::new(),
        protocol: Protocol::Tcp,
        port: p,
        node_port,
    };
    let mut web = ServiceInfo::new("default", "web", Ipv4Addr::new(10, 96, 0, 20));
    web.ports.push(port(8080, Some(30080)));
    let mut empty = ServiceInfo::new("default", "empty", Ipv4Addr::new(10, 96, 0, 40));
    empty.ports.push(port(80, Some(30040)));
    let (_, mut slices) = inputs(&objects("external-ips"));
    slices[0].endpoints.truncate(1); // 10.244.0.11:80

    let mut p = Proxy::new(config(), ns.applier());
    p.sync_model(&[web, empty], &slices).expect("sync");

    let connect = |addr: &str| {
        let a: SocketAddr = addr.parse().expect("addr");
        TcpStream::connect_timeout(&a, Duration::from_millis(500)).map_err(|e| e.kind())
    };
    let listener = in_netns(&ns, || TcpListener::bind("10.244.0.11:80").expect("bind"));
    in_netns(&ns, || {
        for target in ["10.96.0.20:8080", "192.168.56.10:30080"] {
            let c = connect(target).unwrap_or_else(|e| panic!("{target}: {e:?}"));
            let (_, peer) = listener.accept().expect("accept");
            // Node-originated traffic reaches the endpoint masqueraded.
            assert_eq!(peer.ip().to_string(), "192.168.56.10", "{target}");
            drop(c);
        }
        // No endpoints: refused at once; wrong port of a ClusterIP too.
        for target in ["10.96.0.40:80", "192.168.56.10:30040", "10.96.0.20:81"] {
            assert_eq!(
                connect(target).err(),
                Some(ErrorKind::ConnectionRefused),
                "{target}"
            );
        }
        // Unallocated service IP: dropped, never answered.
        assert_eq!(connect("10.96.0.99:80").err(), Some(ErrorKind::TimedOut));
    });
    in_netns(&outside, || {
        // From outside the node: NodePort and (routed) ClusterIP work.
        for target in ["192.168.56.10:30080", "10.96.0.20:8080"] {
            let c = connect(target).unwrap_or_else(|e| panic!("{target}: {e:?}"));
            let (_, peer) = listener.accept().expect("accept");
            assert_eq!(peer.ip().to_string(), "192.168.56.1", "{target}");
            drop(c);
        }
        assert_eq!(
            connect("192.168.56.10:30040").err(),
            Some(ErrorKind::ConnectionRefused)
        );
        assert_eq!(connect("10.96.0.99:80").err(), Some(ErrorKind::TimedOut));
    });
}

#[test]
fn the_nftables_generation_moves_with_every_commit_and_only_then() {
    use k1s_proxy::generation::{read, Watch};
    let ns = Netns::new();
    let now = || in_netns(&ns, || read().expect("reading the generation"));
    let mut p = Proxy::new(config(), ns.applier());
    let (services, slices) = inputs(&objects("clusterip"));
    p.sync_model(&services, &slices).expect("first sync");
    let mut ours = Watch::default();
    ours.record(Some(now()));
    // Reading and listing commit nothing.
    ns.applier().list_json("k1s").expect("list");
    assert_eq!(ours.changed(Some(now())), Some(false));
    // Someone else's commit, in any table, moves it.
    ns.exec(&["nft", "flush", "table", "ip", "k1s"]);
    assert_eq!(ours.changed(Some(now())), Some(true));
    let s = p.sync_model(&services, &slices).expect("repair");
    assert!(s.full && s.drift, "{s:?}");
    ours.record(Some(now()));
    ns.exec(&["nft", "add", "table", "ip", "someone-else"]);
    assert_eq!(ours.changed(Some(now())), Some(true));
}
