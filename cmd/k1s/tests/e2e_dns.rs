//! Cluster DNS as pods see it: a busybox pod resolves Services through
//! 10.96.0.10 with the resolv.conf the kubelet wrote (`nslookup`, like the
//! walkthrough), headless Services follow their Deployment's pods,
//! ExternalName gives its CNAME; names outside the cluster go to an
//! upstream the test runs (Knot, in a namespace of its own joined to the
//! node's by a veth), and a client outside the node — the laptop — gets
//! cluster names but no recursion.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{dig, eventually, ip, Cluster, Laptop, NODE_IP};

const BUSYBOX: &str = "busybox:1.35";

/// The upstream's address, in its own namespace (TEST-NET-2: never routed).
const UPSTREAM_IP: &str = "198.51.100.53";
/// The node's end of the veth to the upstream.
const UPSTREAM_PEER_IP: &str = "198.51.100.1";
/// What the upstream says www.example.test is.
const WWW_IP: &str = "198.51.100.80";

const OBJECTS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:1.35
        command: [\"sleep\", \"3600\"]
        ports:
        - name: http
          containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: v1
kind: Service
metadata:
  name: web-headless
spec:
  clusterIP: None
  selector:
    app: web
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  type: ExternalName
  externalName: endpoint.database.site.com
";

/// `nslookup ARGS` in the client pod; its output whatever the exit code
/// (busybox exits 1 when any search-list name is NXDOMAIN).
fn nslookup(c: &Cluster, args: &[&str]) -> String {
    let mut all = vec!["exec", "client", "--", "nslookup"];
    all.extend_from_slice(args);
    let out = c.kubectl(&all);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The addresses of the "Name: NAME" block(s) of nslookup's output.
fn addresses_of(output: &str, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in output.lines() {
        if let Some(n) = line.strip_prefix("Name:") {
            inside = n.trim() == name;
        } else if let Some(a) = line.strip_prefix("Address:") {
            if inside {
                out.insert(a.trim().to_string());
            }
        } else if line.trim().is_empty() {
            inside = false;
        }
    }
    out
}

/// nslookup's `output` answers `name` with `ip` and nothing else.
fn assert_answer(c: &Cluster, output: &str, name: &str, ip: &str) {
    assert_eq!(
        addresses_of(output, name),
        BTreeSet::from([ip.to_string()]),
        "{output}\nk1s log:\n{}",
        c.log()
    );
}

fn ips(list: &str) -> BTreeSet<String> {
    list.split_whitespace().map(str::to_string).collect()
}

fn web_pod_ips(c: &Cluster) -> BTreeSet<String> {
    ips(&c.jsonpath(
        &[
            "pods",
            "-l",
            "app=web",
            "--field-selector=status.phase=Running",
        ],
        "{.items[*].status.podIP}",
    ))
}

/// What the kubelet writes for a ClusterFirst pod in `default`: the
/// cluster's search list, then the node's own search domains (none on a
/// bare test machine), nameserver 10.96.0.10, ndots:5.
fn expected_resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut search = vec![
        "default.svc.cluster.local".to_string(),
        "svc.cluster.local".to_string(),
        "cluster.local".to_string(),
    ];
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if matches!(words.next(), Some("search" | "domain")) {
            for d in words {
                let d = d.trim_end_matches('.').to_string();
                if !d.is_empty() && !search.contains(&d) {
                    search.push(d);
                }
            }
        }
    }
    format!(
        "search {}\nnameserver 10.96.0.10\noptions ndots:5\n",
        search.join(" ")
    )
}

#[test]
fn pods_resolve_services_through_cluster_dns() {
    let c = Cluster::start_with_images();
    let f = c.file("dns.yaml", OBJECTS);
    c.ok(&["apply", "-f", &f]);
    c.start_client_pod(BUSYBOX);
    let web_ip = c.cluster_ip("web");

    let resolv = c.ok(&["exec", "client", "--", "cat", "/etc/resolv.conf"]);
    assert_eq!(resolv, expected_resolv_conf());
    if !std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("search") || l.starts_with("domain"))
    {
        assert_eq!(
            resolv,
            "search default.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    // The short name, through the search list, like the walkthrough.
    let short = nslookup(&c, &["web"]);
    assert!(
        short.starts_with("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n"),
        "{short}"
    );
    assert_answer(&c, &short, "web.default.svc.cluster.local", &web_ip);
    let full = nslookup(&c, &["web.default.svc.cluster.local"]);
    assert_answer(&c, &full, "web.default.svc.cluster.local", &web_ip);
    let api = nslookup(&c, &["kubernetes.default.svc.cluster.local"]);
    assert_answer(
        &c,
        &api,
        "kubernetes.default.svc.cluster.local",
        "10.96.0.1",
    );

    // SRV for the named port, PTR for the ClusterIP.
    let srv = nslookup(
        &c,
        &["-type=SRV", "_http._tcp.web.default.svc.cluster.local"],
    );
    assert!(
        srv.contains(
            "_http._tcp.web.default.svc.cluster.local\tservice = 0 100 80 web.default.svc.cluster.local"
        ),
        "{srv}"
    );
    let reverse: Vec<&str> = web_ip.split('.').rev().collect();
    let ptr = nslookup(&c, &[&web_ip]);
    assert!(
        ptr.contains(&format!(
            "{}.in-addr.arpa\tname = web.default.svc.cluster.local",
            reverse.join(".")
        )),
        "{ptr}"
    );

    // ExternalName: its CNAME.
    let cname = nslookup(&c, &["-type=CNAME", "db"]);
    assert!(
        cname.contains("db.default.svc.cluster.local\tcanonical name = endpoint.database.site.com"),
        "{cname}"
    );

    // Headless: the Ready pods' addresses, following the Deployment.
    c.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let headless = "web-headless.default.svc.cluster.local";
    let mut last = String::new();
    let three = web_pod_ips(&c);
    assert_eq!(three.len(), 3, "{three:?}");
    assert!(
        eventually(Duration::from_secs(20), || {
            last = nslookup(&c, &[headless]);
            addresses_of(&last, headless) == three
        }),
        "headless answer {last}\nwanted {three:?}"
    );
    c.ok(&["scale", "deployment/web", "--replicas=2"]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let mut two = BTreeSet::new();
    assert!(
        eventually(Duration::from_secs(30), || {
            two = web_pod_ips(&c);
            last = nslookup(&c, &[headless]);
            two.len() == 2 && addresses_of(&last, headless) == two
        }),
        "after scaling to 2: headless answer {last}\nRunning pods {two:?}"
    );
    assert!(two.is_subset(&three), "{two:?} not from {three:?}");
}

/// A namespace with an authoritative Knot for `example.test`, joined to
/// the node's namespace by a veth. knotd and the namespace (with the veth)
/// go on drop.
struct Upstream {
    netns: String,
    knotd: Option<Child>,
}

impl Upstream {
    fn start(c: &Cluster) -> Upstream {
        let knotd = ["/usr/sbin/knotd", "/usr/bin/knotd"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("knotd is not installed (Debian package `knot`)");
        let netns = format!("{}-upstream", c.netns);
        ip(&["netns", "add", &netns]);
        let mut up = Upstream { netns, knotd: None };
        let ns = up.netns.clone();
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&[
            "-n", &c.netns, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ]);
        ip(&[
            "-n",
            &c.netns,
            "addr",
            "add",
            &format!("{UPSTREAM_PEER_IP}/24"),
            "dev",
            "up0",
        ]);
        ip(&["-n", &c.netns, "link", "set", "up0", "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{UPSTREAM_IP}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);

        let dir = c.path("knot");
        std::fs::create_dir_all(&dir).expect("knot dir");
        let d = dir.display();
        std::fs::write(
            dir.join("example.test.zone"),
            format!(
                "$ORIGIN example.test.\n$TTL 60\n\
                 @ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n\
                 @ IN NS ns.example.test.\n\
                 ns IN A {UPSTREAM_IP}\n\
                 www IN A {WWW_IP}\n"
            ),
        )
        .expect("zone file");
        let conf = dir.join("knot.conf");
        std::fs::write(
            &conf,
            format!(
                "server:\n    listen: {UPSTREAM_IP}@53\n    rundir: \"{d}\"\n\
                 database:\n    storage: \"{d}\"\n\
                 log:\n  - target: stderr\n    any: warning\n\
                 zone:\n  - domain: example.test\n    file: \"{d}/example.test.zone\"\n    storage: \"{d}\"\n    zonefile-sync: -1\n"
            ),
        )
        .expect("knot.conf");
        let log = std::fs::File::create(dir.join("knot.log")).expect("knot log");
        // `ip netns exec` execs knotd: the child's PID is knotd's.
        up.knotd = Some(
            Command::new("ip")
                .args(["netns", "exec", &ns, knotd, "-c"])
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("starting knotd"),
        );
        let answered = eventually(Duration::from_secs(10), || {
            dig(&ns, UPSTREAM_IP, &["+short", "www.example.test"]).trim() == WWW_IP
        });
        assert!(
            answered,
            "knotd does not answer; log:\n{}",
            std::fs::read_to_string(dir.join("knot.log")).unwrap_or_default()
        );
        up
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(mut k) = self.knotd.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

#[test]
fn outside_names_are_forwarded_for_pods_and_refused_to_the_laptop() {
    let c = Cluster::start_with_images_and_upstream(UPSTREAM_IP);
    let _upstream = Upstream::start(&c);
    let f = c.file(
        "ext.yaml",
        "apiVersion: v1
kind: Service
metadata:
  name: ext
spec:
  type: ExternalName
  externalName: www.example.test
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - name: http
    port: 80
",
    );
    c.ok(&["apply", "-f", &f]);
    c.start_client_pod(BUSYBOX);
    let web_ip = c.cluster_ip("web");

    // A pod asks 10.96.0.10; k1s asks the upstream.
    let www = nslookup(&c, &["www.example.test"]);
    assert!(www.contains("Server:\t\t10.96.0.10"), "{www}");
    assert_answer(&c, &www, "www.example.test", WWW_IP);
    // The ExternalName's target is chased: CNAME, then the upstream's A.
    let ext = nslookup(&c, &["ext.default.svc.cluster.local"]);
    assert!(
        ext.contains("ext.default.svc.cluster.local\tcanonical name = www.example.test"),
        "{ext}"
    );
    assert_answer(&c, &ext, "www.example.test", WWW_IP);

    // The laptop reaches the node's DNS port from outside: cluster names
    // yes, recursion no (no open resolver).
    let laptop = Laptop::join(&c);
    let cluster_name = dig(
        &laptop.netns,
        NODE_IP,
        &["+short", "web.default.svc.cluster.local"],
    );
    assert_eq!(cluster_name.trim(), web_ip);
    let outside = dig(&laptop.netns, NODE_IP, &["www.example.test"]);
    assert!(outside.contains("status: REFUSED"), "{outside}");
    assert!(!outside.contains(WWW_IP), "{outside}");
    let alias = dig(&laptop.netns, NODE_IP, &["ext.default.svc.cluster.local"]);
    assert!(
        alias.contains("status: NOERROR") && alias.contains("CNAME\twww.example.test."),
        "{alias}"
    );
    assert!(
        !alias.contains(WWW_IP),
        "the laptop made k1s chase an outside name: {alias}"
    );
    // The pods still recurse after the laptop was refused.
    let again = nslookup(&c, &["www.example.test"]);
    assert_answer(&c, &again, "www.example.test", WWW_IP);
}
