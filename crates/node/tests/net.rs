//! Root tests of node networking. Every test makes its own network
//! namespace (`ip netns add k1s-net-<pid>-<n>`) and runs the code on a
//! thread that joined it, so the bridge, veths, routes and nft table live
//! only there; pod namespaces are pinned under the test's temp dir. The
//! host's namespace is never touched, and a guard removes everything also
//! when a test fails.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k1s_node::net::{reset, NetConfig, NodeNetwork, PodNet};
use k1s_node::state::NodeState;
use serde_json::Value;

mod support;

use support::Netns;

/// A test's node: its namespace and data dir. Dropping it resets the
/// network (with the code under test, then unmounting any pod namespace
/// file that is still pinned), then deletes the namespace and the dir.
struct Lab {
    ns: Netns,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            ns: Netns::new("k1s-net"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn cfg(&self) -> NetConfig {
        NetConfig::with_defaults(self.data_dir())
    }

    fn state(&self) -> Arc<NodeState> {
        Arc::new(NodeState::open(self.data_dir()).expect("open state"))
    }

    /// The node network on `state`, not yet ensured.
    fn network(&self, state: Arc<NodeState>) -> NodeNetwork {
        NodeNetwork::new(self.cfg(), state).expect("network")
    }

    /// The node network on `state` with bridge, route and table in place.
    fn ready_network(&self, state: Arc<NodeState>) -> NodeNetwork {
        let net = self.network(state);
        block_on(net.ensure()).expect("ensure");
        net
    }

    /// Runs `f` on a thread inside the lab's namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.ns.path(), f)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Must not panic: it also runs while a failed test unwinds.
        let dir = self.data_dir().to_path_buf();
        let ns_file = self.ns.path();
        let cleanup = std::thread::spawn(move || {
            let file = std::fs::File::open(&ns_file).map_err(|e| e.to_string())?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| e.to_string())?;
            block_on(reset(&dir, "k1s0")).map_err(|e| e.to_string())
        })
        .join();
        match cleanup {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("lab cleanup: reset failed: {e}"),
            Err(_) => eprintln!("lab cleanup: reset panicked"),
        }
        let dir = self.data_dir().to_path_buf();
        if let Ok(entries) = std::fs::read_dir(dir.join("netns")) {
            for entry in entries.flatten() {
                let _ = nix::mount::umount2(&entry.path(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Runs `f` on a thread that joined the namespace pinned at `ns_file`.
fn in_ns<T: Send>(ns_file: &Path, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(ns_file)
                .unwrap_or_else(|e| panic!("{}: {e}", ns_file.display()));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            // The main thread never leaves the namespace the tests started in.
            assert_ne!(
                netns_inode("/proc/thread-self/ns/net"),
                netns_inode("/proc/self/ns/net"),
                "test code must not run in the test process's own network namespace"
            );
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

fn netns_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("stat netns").ino()
}

fn block_on<T>(fut: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(fut)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `ip -j ARGS` in the current thread's namespace.
fn ip_json(args: &[&str]) -> Value {
    let out = run(Command::new("ip").arg("-j").args(args));
    assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ip {args:?}: {e}"))
}

/// `ip -j ARGS` inside the namespace pinned at `ns_file`.
fn pod_ip_json(ns_file: &Path, args: &[&str]) -> Value {
    let net = format!("--net={}", ns_file.display());
    let out = run(Command::new("nsenter")
        .arg(&net)
        .args(["ip", "-j"])
        .args(args));
    assert!(
        out.status.success(),
        "nsenter ip {args:?}: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ip {args:?}: {e}"))
}

/// Runs `cmd`, which must succeed.
fn succeed(cmd: &mut Command) {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
}

/// `ip ARGS` in the current thread's namespace, which must succeed.
fn ip(args: &[&str]) {
    succeed(Command::new("ip").args(args));
}

fn is_up(link: &Value) -> bool {
    link[0]["flags"]
        .as_array()
        .is_some_and(|flags| flags.iter().any(|f| f == "UP"))
}

fn link_exists(name: &str) -> bool {
    run(Command::new("ip").args(["link", "show", "dev", name]))
        .status
        .success()
}

fn nft_table() -> Option<String> {
    let out = run(Command::new("nft").args(["list", "table", "ip", "k1s-node"]));
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An ICMP echo reply from `to` inside `from` (busybox-static's ping):
/// one echo a second until the first reply, for at most 3 s, because a
/// veth that was just (re)created may drop the first ARP while its carrier
/// comes up.
fn ping(from: &Path, to: Ipv4Addr) -> bool {
    let net = format!("--net={}", from.display());
    let out = run(Command::new("nsenter").arg(&net).args([
        "busybox",
        "ping",
        "-c1",
        "-w3",
        &to.to_string(),
    ]));
    out.status.success()
}

/// A TCP connection from inside `from` to a listener inside `to`.
fn tcp_connects(from: &Path, to: &Path, addr: Ipv4Addr) -> bool {
    let listener = in_ns(to, || TcpListener::bind((addr, 0)).expect("listen"));
    let target = listener.local_addr().expect("listener address");
    in_ns(from, || {
        TcpStream::connect_timeout(&target, Duration::from_secs(2)).is_ok()
    })
}

fn addr_of(link: &Value) -> Vec<(String, u64)> {
    link[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["family"] == "inet")
        .map(|a| {
            (
                a["local"].as_str().unwrap_or_default().to_string(),
                a["prefixlen"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    eprintln!("{what}: {:.2} ms", start.elapsed().as_secs_f64() * 1e3);
    out
}

#[test]
fn ensure_sets_up_bridge_route_sysctls_and_table_idempotently() {
    let lab = Lab::new();
    lab.run(|| {
        let net = lab.network(lab.state());
        timed("ensure (first)", || block_on(net.ensure())).expect("ensure");
        timed("ensure (again)", || block_on(net.ensure())).expect("ensure twice");

        let link = ip_json(&["addr", "show", "dev", "k1s0"]);
        assert_eq!(
            addr_of(&link),
            vec![("10.244.0.1".to_string(), 24)],
            "{link}"
        );
        assert_eq!(link[0]["mtu"], 1500);
        assert_eq!(link[0]["address"], "02:6b:31:f4:00:01");
        assert!(is_up(&link), "{link}");

        let route = ip_json(&["route", "show", "10.96.0.0/12"]);
        assert_eq!(route[0]["dev"], "k1s0", "{route}");

        let forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        assert_eq!(forward.trim(), "1");
        let nf = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").unwrap();
        assert_eq!(nf.trim(), "1");

        let table = nft_table().expect("table ip k1s-node");
        assert!(
            table.contains(
                r#"ip saddr 10.244.0.0/24 ip daddr != 10.244.0.0/16 oifname != "k1s0" masquerade"#
            ),
            "{table}"
        );
        let cfg = lab.cfg();
        let rendered = k1s_node::net::nft::ruleset("k1s0", cfg.pod_cidr, cfg.cluster_cidr);
        assert_eq!(
            table, rendered,
            "the kernel holds exactly the rendered table"
        );

        // A drifted table is replaced on the next ensure.
        succeed(Command::new("nft").args(["add", "rule", "ip", "k1s-node", "forward", "counter"]));
        block_on(net.ensure()).expect("ensure after drift");
        assert_eq!(nft_table().expect("table"), rendered);

        // Repair: what went missing comes back.
        ip(&["route", "del", "10.96.0.0/12"]);
        succeed(Command::new("nft").args(["delete", "table", "ip", "k1s-node"]));
        ip(&["link", "set", "k1s0", "down"]);
        block_on(net.ensure()).expect("ensure repairs");
        assert_eq!(
            ip_json(&["route", "show", "10.96.0.0/12"])[0]["dev"],
            "k1s0"
        );
        assert!(nft_table().is_some());
        let link = ip_json(&["link", "show", "dev", "k1s0"]);
        assert!(is_up(&link), "{link}");
    });
}

#[test]
fn pods_get_distinct_ips_and_reach_each_other_and_the_gateway() {
    let lab = Lab::new();
    lab.run(|| {
        let net = lab.ready_network(lab.state());
        let a = timed("setup_pod a", || block_on(net.setup_pod("pod-a"))).expect("setup a");
        let b = timed("setup_pod b", || block_on(net.setup_pod("pod-b"))).expect("setup b");

        assert_ne!(a.ip, b.ip);
        for (uid, p) in [("pod-a", &a), ("pod-b", &b)] {
            assert!(lab.cfg().pod_cidr.contains(&p.ip), "{p:?}");
            assert_eq!(p.gateway, Ipv4Addr::new(10, 244, 0, 1));
            assert_eq!(p.prefix_len, 24);
            assert_eq!(p.netns, lab.data_dir().join("netns").join(uid));
            assert!(p.netns.is_file());
        }
        assert_eq!(a.ip, Ipv4Addr::new(10, 244, 0, 2));
        assert_eq!(b.ip, Ipv4Addr::new(10, 244, 0, 3));

        // Host end: a port of k1s0, up, hairpin on, labelled with the uid.
        let veth = ip_json(&["-d", "link", "show", "dev", &a.host_veth]);
        assert_eq!(veth[0]["master"], "k1s0", "{veth}");
        assert_eq!(veth[0]["ifalias"], "pod-a", "{veth}");
        assert_eq!(
            veth[0]["linkinfo"]["info_slave_data"]["hairpin"], true,
            "{veth}"
        );
        assert!(is_up(&veth), "{veth}");

        // Pod end: eth0 with the IP, lo up, default route via the gateway.
        let eth0 = pod_ip_json(&a.netns, &["addr", "show", "dev", "eth0"]);
        assert_eq!(addr_of(&eth0), vec![(a.ip.to_string(), 24)], "{eth0}");
        assert_eq!(eth0[0]["mtu"], 1500);
        let lo = pod_ip_json(&a.netns, &["addr", "show", "dev", "lo"]);
        assert!(is_up(&lo), "{lo}");
        let default = pod_ip_json(&a.netns, &["route", "show", "default"]);
        assert_eq!(default[0]["gateway"], "10.244.0.1", "{default}");
        assert_eq!(default[0]["dev"], "eth0", "{default}");
        let links = pod_ip_json(&a.netns, &["link", "show"]);
        assert_eq!(
            links.as_array().unwrap().len(),
            2,
            "only lo and eth0: {links}"
        );

        assert!(ping(&a.netns, b.ip), "a -> b");
        assert!(ping(&b.netns, a.ip), "b -> a");
        assert!(ping(&a.netns, a.gateway), "a -> gateway");
        assert!(tcp_connects(&a.netns, &b.netns, b.ip), "tcp a -> b");
        assert!(
            tcp_connects(&b.netns, &lab.ns.path(), b.gateway),
            "tcp b -> node"
        );

        // Same uid: same network, nothing recreated.
        let again =
            timed("setup_pod a (again)", || block_on(net.setup_pod("pod-a"))).expect("again");
        assert_eq!(again, a);
        let veth_again = ip_json(&["link", "show", "dev", &a.host_veth]);
        assert_eq!(veth_again[0]["ifindex"], veth[0]["ifindex"]);
    });
}

#[test]
fn pod_traffic_leaving_the_node_is_masqueraded_and_service_ips_stay_local() {
    let lab = Lab::new();
    // An "outside" host joined to the node by a veth; it has no route to
    // the pod CIDR, so a pod's ping comes back only if it was masqueraded.
    let outside = Netns::new("k1s-out");
    lab.run(|| {
        let out_ns = outside.name.as_str();
        ip(&[
            "link", "add", "up0", "type", "veth", "peer", "name", "ext0", "netns", out_ns,
        ]);
        ip(&["addr", "add", "192.168.77.1/24", "dev", "up0"]);
        ip(&["link", "set", "up0", "up"]);
        ip(&["route", "add", "default", "via", "192.168.77.2"]);
        ip(&[
            "-n",
            out_ns,
            "addr",
            "add",
            "192.168.77.2/24",
            "dev",
            "ext0",
        ]);
        ip(&["-n", out_ns, "link", "set", "ext0", "up"]);

        let net = lab.ready_network(lab.state());
        let a = block_on(net.setup_pod("pod-a")).expect("setup a");

        assert!(
            ping(&a.netns, Ipv4Addr::new(192, 168, 77, 2)),
            "pod -> outside"
        );
        let seen = in_ns(&outside.path(), || {
            let listener = TcpListener::bind("192.168.77.2:0").expect("listen outside");
            let port = listener.local_addr().unwrap().port();
            let target = SocketAddr::from(([192, 168, 77, 2], port));
            in_ns(&a.netns, || {
                TcpStream::connect_timeout(&target, Duration::from_secs(2))
                    .expect("pod connects outside")
            });
            listener.accept().expect("accept").1
        });
        assert_eq!(
            seen.ip().to_string(),
            "192.168.77.1",
            "source is the node, not the pod"
        );

        // A ClusterIP without a DNAT rule stays on the node even with a default route out.
        let route = ip_json(&["route", "get", "10.96.0.10"]);
        assert_eq!(route[0]["dev"], "k1s0", "{route}");
    });
}

#[test]
fn teardown_removes_veth_netns_and_ip_and_is_idempotent() {
    let lab = Lab::new();
    lab.run(|| {
        let state = lab.state();
        let net = lab.ready_network(state.clone());
        let a = block_on(net.setup_pod("pod-a")).expect("setup a");

        timed("teardown_pod a", || block_on(net.teardown_pod("pod-a"))).expect("teardown");
        assert!(!link_exists(&a.host_veth));
        assert!(!a.netns.exists());
        assert_eq!(state.assigned_ip("pod-a").unwrap(), None);
        block_on(net.teardown_pod("pod-a")).expect("teardown twice");
        block_on(net.teardown_pod("never-set-up")).expect("teardown of an unknown pod");

        // The freed IP is not handed out again right away.
        let c = block_on(net.setup_pod("pod-c")).expect("setup c");
        assert_ne!(c.ip, a.ip);

        // Half done: the veth is already gone, the namespace file is left.
        ip(&["link", "del", &c.host_veth]);
        block_on(net.teardown_pod("pod-c")).expect("teardown half-done");
        assert!(!c.netns.exists());
        assert!(state.assigned().unwrap().is_empty());

        // Half done the other way: an unpinned file only.
        std::fs::write(lab.data_dir().join("netns").join("pod-d"), b"").unwrap();
        block_on(net.teardown_pod("pod-d")).expect("teardown of a bare file");
        assert!(!lab.data_dir().join("netns").join("pod-d").exists());

        assert!(
            block_on(net.teardown_pod("../etc")).is_err(),
            "uids cannot walk paths"
        );
    });
}

#[test]
fn setup_repairs_a_half_done_pod() {
    let lab = Lab::new();
    lab.run(|| {
        let net = lab.ready_network(lab.state());
        let a = block_on(net.setup_pod("pod-a")).expect("setup a");

        // The host veth vanished (and eth0 with it).
        ip(&["link", "del", &a.host_veth]);
        let repaired = block_on(net.setup_pod("pod-a")).expect("repair veth");
        assert_eq!(repaired, a);
        assert!(ping(&a.netns, a.gateway), "after veth repair");

        // The default route inside the pod vanished.
        let net_arg = format!("--net={}", a.netns.display());
        succeed(
            Command::new("nsenter")
                .arg(&net_arg)
                .args(["ip", "route", "del", "default"]),
        );
        block_on(net.setup_pod("pod-a")).expect("repair route");
        let default = pod_ip_json(&a.netns, &["route", "show", "default"]);
        assert_eq!(default[0]["gateway"], "10.244.0.1", "{default}");

        // The namespace file exists but nothing is mounted on it.
        let bare = lab.data_dir().join("netns").join("pod-x");
        std::fs::write(&bare, b"").unwrap();
        let x = block_on(net.setup_pod("pod-x")).expect("setup over a bare file");
        assert!(ping(&x.netns, a.ip), "x -> a");

        // A veth labelled with another pod's uid is not taken over.
        ip(&["link", "set", "dev", &a.host_veth, "alias", "someone-else"]);
        let err = block_on(net.setup_pod("pod-a")).expect_err("name clash");
        assert_eq!(
            err.to_string(),
            format!(
                "host interface {} for pod pod-a is already used by pod someone-else",
                a.host_veth
            )
        );
        block_on(net.teardown_pod("pod-a")).expect("teardown");
        assert!(link_exists(&a.host_veth), "the other pod's veth stays");
    });
}

#[test]
fn a_failed_first_setup_gives_the_ip_back() {
    let lab = Lab::new();
    lab.run(|| {
        let state = lab.state();
        let net = lab.network(state.clone());
        // No ensure(): the bridge is missing.
        let err = block_on(net.setup_pod("pod-a")).expect_err("no bridge");
        assert_eq!(
            err.to_string(),
            "bridge k1s0 does not exist: NodeNetwork::ensure() creates it"
        );
        assert_eq!(state.assigned_ip("pod-a").unwrap(), None);
        assert!(!lab.data_dir().join("netns").join("pod-a").exists());
    });
}

#[test]
fn assignments_survive_reopening_the_state() {
    let lab = Lab::new();
    lab.run(|| {
        let (a, b) = {
            let net = lab.ready_network(lab.state());
            let a: PodNet = block_on(net.setup_pod("pod-a")).expect("setup a");
            let b: PodNet = block_on(net.setup_pod("pod-b")).expect("setup b");
            (a, b)
        };
        // A restarted node: new state handle, new network object.
        let state = lab.state();
        let net = lab.ready_network(state.clone());
        assert_eq!(block_on(net.setup_pod("pod-a")).expect("a again"), a);
        let c = block_on(net.setup_pod("pod-c")).expect("setup c");
        assert_eq!(c.ip, Ipv4Addr::new(10, 244, 0, 4));
        assert_eq!(net.known_pods().unwrap(), ["pod-a", "pod-b", "pod-c"]);
        assert_eq!(state.assigned_ip("pod-b").unwrap(), Some(b.ip));
        assert!(ping(&c.netns, b.ip), "c -> b");
    });
}

#[test]
fn reset_removes_bridge_table_pods_and_assignments() {
    let lab = Lab::new();
    let dir = lab.data_dir().to_path_buf();
    lab.run(|| {
        let (a, b) = {
            let net = lab.ready_network(lab.state());
            let a = block_on(net.setup_pod("pod-a")).expect("setup a");
            let b = block_on(net.setup_pod("pod-b")).expect("setup b");
            (a, b)
        };
        timed("reset", || block_on(reset(&dir, "k1s0"))).expect("reset");

        assert!(!link_exists("k1s0"));
        assert!(!link_exists(&a.host_veth) && !link_exists(&b.host_veth));
        let links = ip_json(&["link", "show"]);
        assert_eq!(
            links.as_array().unwrap().len(),
            1,
            "only lo is left: {links}"
        );
        assert!(ip_json(&["route", "show", "10.96.0.0/12"])
            .as_array()
            .unwrap()
            .is_empty());
        assert!(nft_table().is_none());
        assert!(!dir.join("netns").exists());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(dir.to_str().unwrap()),
            "no pod namespace stays mounted"
        );
        assert!(NodeState::open(&dir)
            .unwrap()
            .assigned()
            .unwrap()
            .is_empty());

        block_on(reset(&dir, "k1s0")).expect("reset twice");
    });
}

#[test]
fn reset_refuses_while_the_state_is_open() {
    let lab = Lab::new();
    let dir = lab.data_dir().to_path_buf();
    lab.run(|| {
        let _state = lab.state();
        let err = block_on(reset(&dir, "k1s0")).expect_err("state in use");
        assert!(err.to_string().contains("is in use"), "{err}");
    });
}
