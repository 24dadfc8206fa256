//! The service proxy end to end: k1s programs `table ip k1s` in its
//! network namespace from Services and EndpointSlices, and real TCP
//! connections to a ClusterIP and a NodePort reach a backend listening in
//! that namespace. (Pods come with the pod runner; here the backend is a
//! plain process behind a selector-less Service with hand-written Endpoints.)

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{eventually, stdout_of, Cluster, KubectlProxy, Laptop, NODE_IP};

struct Backend(Child);

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP server on NODE_IP:8080 inside the cluster's namespace.
fn backend(c: &Cluster) -> Backend {
    let dir = c.path("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "hello from the backend\n").unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &c.netns,
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            NODE_IP,
        ])
        .arg("--directory")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    Backend(child)
}

/// curl inside the namespace; returns (exit code, body, seconds taken).
fn curl(c: &Cluster, url: &str) -> (i32, String, f64) {
    let started = Instant::now();
    let out = c.curl(url, 5);
    (
        out.status.code().unwrap_or(-1),
        stdout_of(&out),
        started.elapsed().as_secs_f64(),
    )
}

const WEB: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  ports:
  - port: 80
    targetPort: 8080
    nodePort: 30080
---
apiVersion: v1
kind: Endpoints
metadata:
  name: web
subsets:
- addresses:
  - ip: 192.168.56.10
  ports:
  - port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: empty
spec:
  selector:
    app: nothing-matches
  ports:
  - port: 80
";

#[test]
fn cluster_ip_and_node_port_carry_traffic_and_empty_services_refuse() {
    let c = Cluster::start();
    let _backend = backend(&c);
    let f = c.file("web.yaml", WEB);
    c.ok(&["apply", "-f", &f]);
    let ip = c.cluster_ip("web");
    let empty_ip = c.cluster_ip("empty");

    assert!(
        eventually(Duration::from_secs(10), || c
            .proxy_table()
            .contains("default/web")),
        "rules for default/web never appeared:\n{}\n{}",
        c.proxy_table(),
        c.log()
    );
    assert!(
        eventually(Duration::from_secs(10), || curl(
            &c,
            &format!("http://{ip}/")
        )
        .1 == "hello from the backend\n"),
        "ClusterIP {ip} did not answer; table:\n{}",
        c.proxy_table()
    );
    let (code, body, _) = curl(&c, &format!("http://{NODE_IP}:30080/"));
    assert_eq!((code, body.as_str()), (0, "hello from the backend\n"));
    // From outside the node: the laptop namespace reaches NodePort 30080.
    let laptop = Laptop::join(&c);
    assert!(
        eventually(Duration::from_secs(5), || stdout_of(
            &laptop.curl(&format!("http://{NODE_IP}:30080/"), 5)
        ) == "hello from the backend\n"),
        "NodePort not reachable from the laptop namespace"
    );

    // The services/proxy subresource, directly and through `kubectl proxy`.
    assert_eq!(
        c.ok(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/services/web/proxy/"
        ]),
        "hello from the backend\n"
    );
    let kproxy = KubectlProxy::start(&c, 9999);
    let via_proxy = eventually(Duration::from_secs(10), || {
        curl(
            &c,
            "http://127.0.0.1:9999/api/v1/namespaces/default/services/web/proxy/",
        )
        .1 == "hello from the backend\n"
    });
    // Without the trailing slash kube-apiserver redirects to it (seed 001 uses `curl -L`).
    let redirect = c
        .in_netns("curl")
        .args(["-s", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{redirect_url}"])
        .arg("http://127.0.0.1:9999/api/v1/namespaces/default/services/web/proxy?x=1")
        .output()
        .expect("curl");
    drop(kproxy);
    assert!(via_proxy, "kubectl proxy did not reach the Service");
    assert_eq!(
        String::from_utf8_lossy(&redirect.stdout),
        "301 http://127.0.0.1:9999/api/v1/namespaces/default/services/web/proxy/?x=1"
    );
    let err = c.fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/services/empty/proxy/",
    ]);
    assert!(
        err.contains("no endpoints available for service \"empty\""),
        "{err}"
    );

    // No endpoints: refused at once (TCP reset), not a hang.
    let (code, _, took) = curl(&c, &format!("http://{empty_ip}/"));
    assert_eq!(code, 7, "curl exit 7 = connection refused");
    assert!(took < 2.0, "refusal took {took}s");

    // Removing the endpoints turns the Service into a refusing one.
    c.ok(&["delete", "endpoints", "web"]);
    assert!(
        eventually(Duration::from_secs(10), || curl(
            &c,
            &format!("http://{ip}/")
        )
        .0 == 7),
        "ClusterIP still answers after its endpoints went"
    );
}

const DNS_OBJECTS: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
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

#[test]
fn cluster_dns_answers_through_the_kube_dns_service() {
    let c = Cluster::start();
    // The in-process DNS server is selected by kube-dns like CoreDNS pods are.
    let eps = c.jsonpath(
        &["endpoints", "kube-dns", "-n", "kube-system"],
        "{.subsets[0].addresses[0].ip}",
    );
    assert_eq!(eps, NODE_IP);
    let f = c.file("dns.yaml", DNS_OBJECTS);
    c.ok(&["apply", "-f", &f]);
    let web_ip = c.cluster_ip("web");

    assert!(
        eventually(Duration::from_secs(10), || c
            .dig(&["+short", "kubernetes.default.svc.cluster.local"])
            .trim()
            == "10.96.0.1"),
        "no answer through 10.96.0.10; log:\n{}",
        c.log()
    );
    assert!(eventually(Duration::from_secs(5), || c
        .dig(&["+short", "web.default.svc.cluster.local"])
        .trim()
        == web_ip));
    assert_eq!(
        c.dig(&["+short", "WEB.Default.svc.cluster.local"]).trim(),
        web_ip
    );
    assert_eq!(
        c.dig(&["+short", "db.default.svc.cluster.local", "CNAME"])
            .trim(),
        "endpoint.database.site.com."
    );
    assert_eq!(
        c.dig(&["+short", "_http._tcp.web.default.svc.cluster.local", "SRV"])
            .trim(),
        "0 100 80 web.default.svc.cluster.local."
    );
    let missing = c.dig(&["missing.default.svc.cluster.local"]);
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
    assert!(
        missing.contains("IN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local."),
        "{missing}"
    );
    let aaaa = c.dig(&["web.default.svc.cluster.local", "AAAA"]);
    assert!(
        aaaa.contains("status: NOERROR") && aaaa.contains("ANSWER: 0"),
        "AAAA of an IPv4 Service is NODATA: {aaaa}"
    );
    assert_eq!(
        c.dig(&["+short", "dns-version.cluster.local", "TXT"])
            .trim(),
        "\"1.1.0\""
    );
    let ptr = web_ip.split('.').rev().collect::<Vec<_>>().join(".");
    assert_eq!(
        c.dig(&["+short", &format!("{ptr}.in-addr.arpa"), "PTR"])
            .trim(),
        "web.default.svc.cluster.local."
    );
    // Over TCP too.
    assert_eq!(
        c.dig(&["+tcp", "+short", "kubernetes.default.svc.cluster.local"])
            .trim(),
        "10.96.0.1"
    );
}

#[test]
fn reset_removes_the_table_and_is_idempotent() {
    let mut c = Cluster::start();
    assert!(eventually(Duration::from_secs(10), || c
        .proxy_table()
        .contains("table ip k1s")));
    c.stop("TERM");
    let first = c.reset_ok();
    assert!(first.contains("nftables table ip k1s: removed"), "{first}");
    assert_eq!(c.proxy_table(), "");
    let again = c.reset_ok();
    assert!(
        again.contains("nftables table ip k1s: not present"),
        "{again}"
    );
}

const LOAD_BALANCERS: &str = "apiVersion: v1
kind: Service
metadata:
  name: web-lb
spec:
  type: LoadBalancer
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Endpoints
metadata:
  name: web-lb
subsets:
- addresses:
  - ip: 192.168.56.10
  ports:
  - port: 8080
";

const SECOND_LB: &str = "apiVersion: v1
kind: Service
metadata:
  name: late-lb
spec:
  type: LoadBalancer
  ports:
  - port: 80
";

#[test]
fn load_balancer_gets_the_node_address_and_serves_there() {
    let c = Cluster::start();
    let _backend = backend(&c);
    let f = c.file("lb.yaml", LOAD_BALANCERS);
    c.ok(&["apply", "-f", &f]);
    assert!(
        eventually(Duration::from_secs(10), || c.jsonpath(
            &["svc", "web-lb"],
            "{.status.loadBalancer.ingress[0].ip}"
        ) == NODE_IP),
        "no ingress: {}",
        c.ok(&["get", "svc", "web-lb", "-o", "yaml"])
    );
    let row = support::squeeze(&c.ok(&["get", "svc", "web-lb", "--no-headers"]));
    assert!(row.starts_with("web-lb LoadBalancer 10."), "{row}");
    assert!(row.contains(&format!(" {NODE_IP} 80:")), "{row}");
    assert!(
        eventually(Duration::from_secs(10), || curl(
            &c,
            &format!("http://{NODE_IP}/")
        )
        .1 == "hello from the backend\n"),
        "LoadBalancer port 80 on the node did not answer; table:\n{}",
        c.proxy_table()
    );
    // A second LoadBalancer on the same port stays pending, with a Warning saying why.
    let f = c.file("late.yaml", SECOND_LB);
    c.ok(&["apply", "-f", &f]);
    assert!(eventually(Duration::from_secs(10), || {
        c.jsonpath(
            &["events", "--field-selector", "involvedObject.name=late-lb"],
            "{.items[*].reason}",
        ) == "PortInUse"
    }));
    assert_eq!(
        support::squeeze(&c.ok(&["get", "svc", "late-lb", "--no-headers"]))
            .split(' ')
            .nth(3),
        Some("<pending>")
    );
    let described = c.ok(&["describe", "svc", "late-lb"]);
    assert!(
        described.contains(
            "80/TCP is already served on the node by LoadBalancer Service default/web-lb"
        ),
        "{described}"
    );
    // When the first one goes, the waiting one gets the address.
    c.ok(&["delete", "svc", "web-lb"]);
    assert!(eventually(Duration::from_secs(10), || {
        c.jsonpath(&["svc", "late-lb"], "{.status.loadBalancer.ingress[0].ip}") == NODE_IP
    }));
}

/// `/metrics` of the API server, fetched with curl inside the namespace.
fn metrics(c: &Cluster) -> String {
    let token = std::fs::read_to_string(c.data_dir().join("token")).expect("token");
    let ca = c.data_dir().join("pki/ca.crt");
    let out = c
        .in_netns("curl")
        .args(["-s", "--max-time", "5"])
        .arg("--cacert")
        .arg(&ca)
        .args(["-H", &format!("Authorization: Bearer {}", token.trim())])
        .arg(format!("https://{NODE_IP}:6443/metrics"))
        .output()
        .expect("curl");
    stdout_of(&out)
}

/// The value of the sample line `series` (name with labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn proxy_metrics_are_served_with_the_api_servers() {
    let c = Cluster::start();
    let _backend = backend(&c);
    let f = c.file("web.yaml", WEB);
    c.ok(&["apply", "-f", &f]);
    let ip = c.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(
        eventually(Duration::from_secs(10), || curl(
            &c,
            &format!("http://{ip}/")
        )
        .1 == "hello from the backend\n"),
        "ClusterIP {ip} did not answer"
    );
    let web_ready = "k1s_service_endpoints{namespace=\"default\",ready=\"true\",service=\"web\"}";
    let text = metrics(&c);
    assert!(text.contains("apiserver_request_total{"), "{text}");
    assert_eq!(sample(&text, web_ready), Some(1.0), "{text}");
    for (series, at_least) in [
        ("kubeproxy_sync_proxy_rules_duration_seconds_count", 1.0),
        (
            "kubeproxy_sync_partial_proxy_rules_duration_seconds_count",
            1.0,
        ),
        ("kubeproxy_network_programming_duration_seconds_count", 1.0),
        // kubernetes, kube-dns and web (and empty).
        ("kubeproxy_sync_proxy_rules_service_changes_total", 3.0),
        ("kubeproxy_sync_proxy_rules_endpoint_changes_total", 2.0),
        // kubernetes:https, kube-dns's three ports, web, empty.
        ("k1s_proxy_service_ports", 6.0),
        ("k1s_proxy_endpoints", 5.0),
        ("kubeproxy_sync_proxy_rules_last_timestamp_seconds", 1.7e9),
    ] {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(v >= at_least, "{series} = {v}, want >= {at_least}");
    }
    assert_eq!(
        sample(
            &text,
            "kubeproxy_sync_proxy_rules_nftables_sync_failures_total"
        ),
        Some(0.0)
    );
    assert!(text.contains("# TYPE kubeproxy_network_programming_duration_seconds histogram"));

    // The endpoint goes: its count follows, and the Service's change is counted.
    let changes = sample(&text, "kubeproxy_sync_proxy_rules_endpoint_changes_total");
    c.ok(&["delete", "endpoints", "web"]);
    assert!(
        eventually(Duration::from_secs(10), || {
            let t = metrics(&c);
            sample(&t, web_ready) == Some(0.0)
                && sample(&t, "kubeproxy_sync_proxy_rules_endpoint_changes_total") > changes
        }),
        "endpoint count did not drop:\n{}",
        metrics(&c)
    );
}
