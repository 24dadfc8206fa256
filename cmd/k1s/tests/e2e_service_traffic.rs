//! Service traffic with real pods, the parts of the dataplane that only
//! show under load or over time: sessionAffinity ClientIP, external and
//! internal traffic policies (source IPs in nginx's access log, drop vs
//! reject), zero failed requests through a rolling update and scaling,
//! `kubectl port-forward svc/...`, the proxy repairing its table after
//! someone deleted or flushed it, UDP flows moving to a replaced backend
//! (stale conntrack entries), and `k1s reset` leaving nothing behind.
//!
//! Every test starts its own k1s in its own namespace (support::Cluster);
//! "outside the node" is a second namespace joined by a veth
//! (support::Laptop). The nginx test image answers every request with its
//! hostname, i.e. the pod name, so the body says which pod served it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{
    eventually, pod_cgroups, stdout_of, Cluster, Laptop, PortForward, LAPTOP_IP, NODE_IP,
};

const NGINX: &str = "nginx:1.22";
const CURL: &str = "curlimages/curl:7.88.1";
/// The node's address on the pod bridge (k1s0): what masquerade rewrites
/// the source to for traffic delivered to pods.
const BRIDGE_IP: &str = "10.244.0.1";

/// With three endpoints picked at random, 30 requests miss one of them
/// about once in 60,000 runs, and all land on one pod once in 10^13.
const REQUESTS: usize = 30;

/// How long the endpoints may take to follow the pods.
const ENDPOINTS_WAIT: Duration = Duration::from_secs(30);

/// A Deployment of `replicas` nginx pods labelled `app=NAME`, rolled out.
fn nginx_deployment(c: &Cluster, name: &str, replicas: u32) -> BTreeMap<String, String> {
    c.ok(&[
        "create",
        "deployment",
        name,
        &format!("--image={NGINX}"),
        &format!("--replicas={replicas}"),
    ]);
    rollout(c, name);
    let pods = c.pod_ips(&format!("app={name}"));
    assert_eq!(pods.len(), replicas as usize, "{pods:?}");
    pods
}

fn rollout(c: &Cluster, deployment: &str) {
    c.ok(&[
        "rollout",
        "status",
        &format!("deployment/{deployment}"),
        "--timeout=90s",
    ]);
}

/// Two nginx pods behind the NodePort Service `web` (30080) with its
/// endpoints in place, and the laptop to reach it from outside the node.
fn web_on_node_port(c: &Cluster) -> (BTreeMap<String, String>, Laptop) {
    let web = nginx_deployment(c, "web", 2);
    c.ok(&[
        "create",
        "service",
        "nodeport",
        "web",
        "--tcp=80:80",
        "--node-port=30080",
    ]);
    c.wait_endpoints("web", &web.values().cloned().collect(), ENDPOINTS_WAIT);
    (web, Laptop::join(c))
}

fn names(pods: &BTreeMap<String, String>) -> BTreeSet<String> {
    pods.keys().cloned().collect()
}

/// `kubectl exec client -- sh -c SCRIPT`, which must succeed; its stdout.
fn in_client(c: &Cluster, script: &str) -> String {
    c.ok(&["exec", "client", "--", "sh", "-c", script])
}

/// What `n` requests to `url` from the client pod answered, one line each
/// (the pod name, or `FAILED exit=N` when curl failed).
fn curl_from_client(c: &Cluster, url: &str, n: usize) -> Vec<String> {
    in_client(
        c,
        &format!(
            "for i in $(seq 1 {n}); do curl -s --max-time 3 {url} || echo \"FAILED exit=$?\"; done"
        ),
    )
    .lines()
    .map(String::from)
    .collect()
}

/// curl on the node itself: (exit code, body).
fn curl_from_node(c: &Cluster, url: &str, max_secs: u32) -> (i32, String) {
    let out = c.curl(url, max_secs);
    (
        out.status.code().unwrap_or(-1),
        stdout_of(&out).trim().to_string(),
    )
}

fn distinct(answers: &[String]) -> BTreeSet<String> {
    answers.iter().cloned().collect()
}

/// `nft` on the node; (success, stdout + stderr).
fn nft(c: &Cluster, args: &[&str]) -> (bool, String) {
    let out = c.nft(args);
    (
        out.status.success(),
        format!(
            "{}{}",
            stdout_of(&out),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Whether `nft list map` output has the element `key : verdict`
/// (comments, printed between key and verdict, are left out).
fn has_element(listing: &str, key: &str, verdict: &str) -> bool {
    let mut plain = String::new();
    let mut rest = listing;
    while let Some(at) = rest.find("comment \"") {
        plain.push_str(&rest[..at]);
        let after = &rest[at + "comment \"".len()..];
        rest = after.find('"').map_or("", |end| &after[end + 1..]);
    }
    plain.push_str(rest);
    let want = format!("{key} : {verdict}");
    plain
        .split([',', '{', '}', '\n'])
        .any(|e| e.split_whitespace().collect::<Vec<_>>().join(" ") == want)
}

#[test]
fn has_element_reads_nft_map_listings() {
    let listing = "elements = { tcp . 30081 comment \"default/remote NodePort, no local endpoints\" : drop,\n\
                   tcp . 30082 : goto reject-chain }";
    assert!(has_element(listing, "tcp . 30081", "drop"));
    assert!(has_element(listing, "tcp . 30082", "goto reject-chain"));
    assert!(!has_element(listing, "tcp . 30082", "drop"));
    assert!(!has_element(listing, "tcp . 3008", "drop"));
}

/// Milestones on stderr, so a slow run shows where the time went.
fn step(started: Instant, what: &str) {
    eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------
// 1. sessionAffinity

const AFFINITY_SERVICES: &str = "apiVersion: v1
kind: Service
metadata:
  name: sticky
spec:
  type: NodePort
  selector: {app: web}
  sessionAffinity: ClientIP
  ports:
  - port: 80
    nodePort: 30090
---
apiVersion: v1
kind: Service
metadata:
  name: spread
spec:
  selector: {app: web}
  ports:
  - port: 80
";

#[test]
fn session_affinity_client_ip_pins_one_pod_while_none_spreads() {
    let c = Cluster::start_with_images();
    let web = nginx_deployment(&c, "web", 3);
    c.ok(&["apply", "-f", &c.file("svc.yaml", AFFINITY_SERVICES)]);
    let ips: BTreeSet<String> = web.values().cloned().collect();
    c.wait_endpoints("sticky", &ips, ENDPOINTS_WAIT);
    c.wait_endpoints("spread", &ips, ENDPOINTS_WAIT);
    // Defaulting, as kube-apiserver does it.
    assert_eq!(
        c.jsonpath(
            &["svc", "sticky"],
            "{.spec.sessionAffinityConfig.clientIP.timeoutSeconds}"
        ),
        "10800"
    );
    c.start_client_pod(CURL);

    let sticky = curl_from_client(&c, "http://sticky", REQUESTS);
    assert_eq!(sticky.len(), REQUESTS, "{sticky:?}");
    let pinned = distinct(&sticky);
    assert_eq!(
        pinned.len(),
        1,
        "ClientIP affinity: one pod answers all: {sticky:?}"
    );
    let first = pinned.iter().next().cloned().unwrap_or_default();
    assert!(web.contains_key(&first), "{first} is a web pod");

    let spread = curl_from_client(&c, "http://spread", REQUESTS);
    assert_eq!(spread.len(), REQUESTS, "{spread:?}");
    assert_eq!(
        distinct(&spread),
        names(&web),
        "without affinity the requests spread over every pod"
    );

    // The laptop is another client IP: it sticks too (through the NodePort,
    // affinity is recorded before the source is masqueraded).
    let laptop = Laptop::join(&c);
    let from_laptop = laptop.curl_answers(&format!("http://{NODE_IP}:30090/"), REQUESTS);
    let laptop_pods = distinct(&from_laptop);
    assert_eq!(laptop_pods.len(), 1, "{from_laptop:?}");
    assert!(names(&web).is_superset(&laptop_pods), "{from_laptop:?}");

    // When the pinned pod goes, the client sticks to another one (a
    // remaining pod or the ReplicaSet's replacement).
    c.ok(&["delete", "pod", &first, "--wait=false"]);
    let gone = web[&first].clone();
    assert!(
        eventually(Duration::from_secs(30), || {
            let now = c.endpoint_ips("sticky");
            !now.contains(&gone) && !now.is_empty()
        }),
        "the deleted pod leaves the endpoints: {:?}",
        c.endpoint_ips("sticky")
    );
    assert!(
        eventually(Duration::from_secs(10), || !c
            .proxy_table()
            .contains(&format!("dnat to {gone}:80"))),
        "the proxy stops sending to the deleted pod"
    );
    let moved = curl_from_client(&c, "http://sticky", REQUESTS);
    let now = distinct(&moved);
    assert_eq!(now.len(), 1, "sticks to one pod again: {moved:?}");
    assert!(
        !now.contains(&first) && !now.iter().any(|a| a.starts_with("FAILED")),
        "moved away from the deleted pod {first}: {moved:?}"
    );
}

// ---------------------------------------------------------------------
// 2. externalTrafficPolicy / internalTrafficPolicy

/// The client address nginx logged for the request to `path`, from the
/// access log of the pod that answered (`kubectl logs`).
fn logged_source(c: &Cluster, pod: &str, path: &str) -> String {
    let needle = format!("\"GET {path} HTTP/1.1\"");
    let mut found = None;
    eventually(Duration::from_secs(10), || {
        found = c
            .ok(&["logs", pod])
            .lines()
            .find(|l| l.contains(&needle))
            .and_then(|l| l.split_whitespace().next())
            .map(String::from);
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("{pod} logged no {needle}:\n{}", c.ok(&["logs", pod])))
}

/// A Service without selector whose only endpoint is `pod_ip` on another
/// node (`node2`): for this node's proxy the endpoint exists but is not
/// local, the one-node way to see what the "Local" policies do then.
fn remote_service(name: &str, pod_ip: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
{spec}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  labels:
    kubernetes.io/service-name: {name}
addressType: IPv4
ports:
- port: 80
  protocol: TCP
endpoints:
- addresses: [\"{pod_ip}\"]
  nodeName: node2
  conditions: {{ready: true}}
"
    )
}

#[test]
fn traffic_policies_keep_or_masquerade_the_source_and_drop_without_local_endpoints() {
    let t = Instant::now();
    let c = Cluster::start_with_images();
    let (web, laptop) = web_on_node_port(&c);
    step(t, "deployment behind NodePort 30080");
    let url = |path: &str| format!("http://{NODE_IP}:30080{path}");

    // externalTrafficPolicy Cluster (the default): the endpoint could be on
    // any node, so the node masquerades and the pod sees the node's address.
    assert_eq!(
        c.jsonpath(&["svc", "web"], "{.spec.externalTrafficPolicy}"),
        "Cluster"
    );
    let mut pod = String::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            pod = stdout_of(&laptop.curl(&url("/policy-cluster"), 5))
                .trim()
                .to_string();
            web.contains_key(&pod)
        }),
        "laptop → NodePort answered {pod:?}"
    );
    assert_eq!(
        logged_source(&c, &pod, "/policy-cluster"),
        BRIDGE_IP,
        "Cluster policy: source NATed to the node"
    );

    step(t, "ETP Cluster checked");
    // Local: only this node's endpoints, and the client address survives.
    c.ok(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Local"}}"#,
    ]);
    pod.clear();
    let mut last = String::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            let path = format!("/policy-local-{}", rand_suffix());
            let out = laptop.curl(&url(&path), 5);
            pod = stdout_of(&out).trim().to_string();
            if !web.contains_key(&pod) {
                return false;
            }
            last = logged_source(&c, &pod, &path);
            last == LAPTOP_IP
        }),
        "Local policy: the pod sees the laptop's address, saw {last} (pod {pod})"
    );

    step(t, "ETP Local checked");
    // Endpoints that exist only on another node: with policy Local the
    // NodePort drops what comes from outside (no answer, no reset) ...
    let web_ip = web.values().next().cloned().unwrap_or_default();
    let remote = remote_service(
        "remote",
        &web_ip,
        "  type: NodePort\n  externalTrafficPolicy: Local\n  ports:\n  - port: 80\n    nodePort: 30081",
    );
    c.ok(&["apply", "-f", &c.file("remote.yaml", &remote)]);
    let remote_url = format!("http://{NODE_IP}:30081/");
    // ... while the node itself and pods still get through (kube-proxy's
    // "short-circuit local traffic": they are not external clients).
    assert!(
        eventually(Duration::from_secs(10), || curl_from_node(
            &c,
            &remote_url,
            3
        )
        .1
        .starts_with("web-")),
        "the node reaches the Local NodePort with only remote endpoints: {:?}",
        curl_from_node(&c, &remote_url, 3)
    );
    let started = Instant::now();
    let out = laptop.curl(&remote_url, 3);
    assert_eq!(
        out.status.code(),
        Some(28),
        "dropped: curl times out (28), got {:?} {}",
        out.status.code(),
        stdout_of(&out)
    );
    assert!(started.elapsed() >= Duration::from_secs(3));
    let (_, table) = nft(&c, &["list", "map", "ip", "k1s", "no-endpoint-nodeports"]);
    assert!(
        has_element(&table, "tcp . 30081", "drop"),
        "a drop verdict for the NodePort:\n{table}"
    );

    step(t, "drop checked");
    // internalTrafficPolicy Local with only remote endpoints: the ClusterIP
    // drops; with Cluster (the `remote` Service) the same endpoint answers.
    let internal = remote_service(
        "internal",
        &web_ip,
        "  internalTrafficPolicy: Local\n  ports:\n  - port: 80",
    );
    c.ok(&["apply", "-f", &c.file("internal.yaml", &internal)]);
    let remote_ip = c.cluster_ip("remote");
    let internal_ip = c.cluster_ip("internal");
    assert!(
        eventually(Duration::from_secs(10), || curl_from_node(
            &c,
            &format!("http://{remote_ip}/"),
            3
        )
        .1
        .starts_with("web-")),
        "internalTrafficPolicy Cluster reaches a remote endpoint"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let (_, map) = nft(&c, &["list", "map", "ip", "k1s", "no-endpoint-services"]);
            has_element(&map, &format!("{internal_ip} . tcp . 80"), "drop")
        }),
        "internalTrafficPolicy Local without local endpoints: drop"
    );
    assert_eq!(
        curl_from_node(&c, &format!("http://{internal_ip}/"), 2).0,
        28,
        "internalTrafficPolicy Local without local endpoints drops"
    );
    step(t, "ITP local drop checked");
    // With local endpoints (web's pods are here), Local serves them.
    c.ok(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"internalTrafficPolicy":"Local"}}"#,
    ]);
    let web_ip_svc = c.cluster_ip("web");
    c.start_client_pod(CURL);
    let answers = curl_from_client(&c, &format!("http://{web_ip_svc}"), 10);
    assert!(
        answers.iter().all(|a| web.contains_key(a)),
        "internalTrafficPolicy Local with local endpoints serves: {answers:?}"
    );

    step(t, "ITP local checked");
    // No endpoints at all (scaled to 0): rejected at once, for both
    // policies alike (kube-proxy's reject, not the "no local" drop).
    c.ok(&["scale", "deployment", "web", "--replicas=0"]);
    c.wait_endpoints("web", &BTreeSet::new(), ENDPOINTS_WAIT);
    assert!(
        eventually(Duration::from_secs(10), || {
            let started = Instant::now();
            let out = laptop.curl(&url("/"), 3);
            out.status.code() == Some(7) && started.elapsed() < Duration::from_secs(2)
        }),
        "no endpoints: the NodePort refuses at once (curl exit 7)"
    );
}

/// A short random-enough path suffix (the clock's nanoseconds).
fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------
// 3. Zero failed requests through a rollout and scaling

/// nginx behind a readiness probe, rolled one pod at a time without ever
/// going below the desired count, and a preStop sleep: the usual recipe on
/// a kubeadm cluster, because the kubelet sends SIGTERM while proxies are
/// still removing the endpoint (they run concurrently), and nginx stops
/// accepting at once. The sleep keeps it serving until every proxy has
/// moved on.
const ROLLING_WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.22
        ports:
        - containerPort: 80
        readinessProbe:
          httpGet: {path: /, port: 80}
          periodSeconds: 1
        lifecycle:
          preStop:
            sleep: {seconds: 5}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
";

/// A request loop in the client pod, bounded in count and time, that ends
/// early once /tmp/stop exists; one line per request:
/// `N EXIT HTTP-CODE BODY ERROR`.
const LOOP: &str = r#"n=0; end=$(( $(date +%s) + 120 ))
while [ ! -e /tmp/stop ] && [ $n -lt 20000 ] && [ $(date +%s) -lt $end ]; do
  n=$((n+1)); rm -f /tmp/b /tmp/e
  code=$(curl -sS --max-time 2 -o /tmp/b -w '%{http_code}' http://web/ 2>/tmp/e); rc=$?
  echo "$n $rc $code $(cat /tmp/b 2>/dev/null) $(cat /tmp/e 2>/dev/null)"
done
echo "loop done after $n"
"#;

/// The client loop, read line by line in a thread.
struct Loop {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Loop {
    fn start(c: &Cluster) -> Loop {
        let mut child = c
            .kubectl_cmd(&["exec", "client", "--", "sh", "-c", LOOP])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl exec");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Loop {
            child,
            lines,
            reader: Some(reader),
        }
    }

    fn count(&self) -> usize {
        self.lines.lock().expect("lines").len()
    }

    /// Asks the loop to end and returns every line it printed.
    fn stop(mut self, c: &Cluster) -> Vec<String> {
        in_client(c, "touch /tmp/stop");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pods of `app=web` that exist at all (also terminating ones).
fn web_pod_count(c: &Cluster) -> usize {
    c.ok(&["get", "pods", "-l", "app=web", "--no-headers", "-o", "name"])
        .lines()
        .count()
}

#[test]
fn rolling_update_and_scaling_fail_no_request() {
    let c = Cluster::start_with_images();
    c.ok(&["apply", "-f", &c.file("web.yaml", ROLLING_WEB)]);
    rollout(&c, "web");
    let before = c.pod_ips("app=web");
    c.wait_endpoints("web", &before.values().cloned().collect(), ENDPOINTS_WAIT);
    c.start_client_pod(CURL);

    let requests = Loop::start(&c);
    assert!(
        eventually(Duration::from_secs(20), || requests.count() >= 20),
        "the client loop runs"
    );
    c.ok(&["set", "image", "deployment/web", "nginx=nginx:1.17"]);
    rollout(&c, "web");
    assert!(
        eventually(Duration::from_secs(30), || web_pod_count(&c) == 3),
        "the old pods finish terminating"
    );
    let after_rollout = c.pod_ips("app=web");
    assert!(names(&after_rollout).is_disjoint(&names(&before)));

    c.ok(&["scale", "deployment/web", "--replicas=5"]);
    rollout(&c, "web");
    c.ok(&["scale", "deployment/web", "--replicas=2"]);
    assert!(
        eventually(Duration::from_secs(30), || web_pod_count(&c) == 2),
        "scaled down to two pods"
    );
    let last = c.pod_ips("app=web");
    // A few more requests against the final two.
    let seen = requests.count();
    assert!(eventually(Duration::from_secs(10), || requests.count() >= seen + 10));
    let lines = requests.stop(&c);

    let results: Vec<&String> = lines
        .iter()
        .filter(|l| !l.starts_with("loop done"))
        .collect();
    assert!(results.len() >= 100, "enough requests: {}", results.len());
    let failed: Vec<&&String> = results
        .iter()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) != Some(&"0") || f.get(2) != Some(&"200")
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}\nk1s log:\n{}",
        failed.len(),
        results.len(),
        c.log()
    );
    let served: BTreeSet<String> = results
        .iter()
        .filter_map(|l| l.split_whitespace().nth(3))
        .map(String::from)
        .collect();
    eprintln!(
        "{} requests, all answered, by {} pods: {served:?}",
        results.len(),
        served.len()
    );
    for (what, set) in [
        ("the first pods", &before),
        ("the rolled-out pods", &after_rollout),
        ("the last pods", &last),
    ] {
        assert!(
            !served.is_disjoint(&names(set)),
            "{what} served requests: served {served:?}, {what} {set:?}"
        );
    }
}

// ---------------------------------------------------------------------
// 4. kubectl port-forward to a Service

#[test]
fn port_forward_to_a_service_reaches_one_of_its_pods() {
    let c = Cluster::start_with_images();
    let web = nginx_deployment(&c, "web", 2);
    c.ok(&["expose", "deployment", "web", "--port=80"]);
    let pf = PortForward::start(&c, "svc/web", "18081:80");
    let first = pf.first_line.clone();
    let answers: Vec<String> = (0..5)
        .map(|_| {
            let (_, body) = curl_from_node(&c, "http://localhost:18081/", 5);
            body
        })
        .collect();
    let err = pf.stop();
    assert!(
        first.contains("Forwarding from 127.0.0.1:18081 -> 80"),
        "{first}{err}"
    );
    // kubectl picks one pod of the Service and forwards to it.
    let got = distinct(&answers);
    assert_eq!(got.len(), 1, "{answers:?} {err}");
    assert!(names(&web).is_superset(&got), "{answers:?} not in {web:?}");
}

// ---------------------------------------------------------------------
// 5. Drift: someone deletes or flushes the proxy's table

#[test]
fn a_deleted_or_flushed_table_is_repaired_within_seconds() {
    let c = Cluster::start_with_images();
    let web = nginx_deployment(&c, "web", 1);
    c.ok(&["expose", "deployment", "web", "--port=80"]);
    c.wait_endpoints("web", &web.values().cloned().collect(), ENDPOINTS_WAIT);
    let url = format!("http://{}/", c.cluster_ip("web"));
    assert!(
        eventually(Duration::from_secs(10), || curl_from_node(&c, &url, 2)
            .1
            .starts_with("web-")),
        "the ClusterIP answers"
    );
    for (what, damage) in [
        ("deleted", ["delete", "table", "ip", "k1s"]),
        ("flushed", ["flush", "table", "ip", "k1s"]),
    ] {
        let (ok, out) = nft(&c, &damage);
        assert!(ok, "nft {damage:?}: {out}");
        let broken = Instant::now();
        // While broken, the ClusterIP does not answer.
        let (code, _) = curl_from_node(&c, &url, 1);
        let repaired = eventually(Duration::from_secs(10), || {
            curl_from_node(&c, &url, 1).1.starts_with("web-")
        });
        let took = broken.elapsed();
        assert!(
            repaired && took < Duration::from_secs(5),
            "table {what}: ClusterIP answered again after {took:?} (repaired={repaired}, \
             curl exit while broken {code}); log:\n{}",
            c.log()
        );
        eprintln!("table {what}: repaired after {took:?}");
        assert!(c.proxy_table().contains("service-ips"));
    }
    // The proxy said why it reloaded (its drift check, not a Service change).
    let log = c.log();
    assert!(
        log.contains("nftables table is gone, reloading it"),
        "{log}"
    );
    assert!(
        log.contains("nftables table was changed behind our back, reloading it"),
        "{log}"
    );
}

// ---------------------------------------------------------------------
// 6. UDP: a flow moves to the replacement pod

/// A UDP echo server and a client, in perl without modules (builtins
/// only). Debian's busybox-static `nc` has no `-u` and busybox has no UDP
/// server applet, so the test image carries /usr/bin/perl instead.
const UDP_ECHO: &str = r#"$| = 1;
socket(S, 2, 2, 17) or die "socket: $!";
bind(S, pack("S n N x8", 2, 5353, 0)) or die "bind: $!";
print "listening on udp 5353\n";
while (1) {
    my $peer = recv(S, my $buf, 1500, 0);
    next unless defined $peer;
    my ($port, @ip) = unpack("x2 n C4", $peer);
    print "from ", join(".", @ip), ":$port $buf\n";
    send(S, "$ENV{HOSTNAME} $buf", 0, $peer);
}
"#;

/// Sends `ping N` from source port 40000 to ARGV[0]:ARGV[1] every 200 ms
/// (at most 3000 times) and prints each answer or `timeout N`.
const UDP_CLIENT: &str = r#"$| = 1;
my ($ip, $port) = @ARGV;
socket(S, 2, 2, 17) or die "socket: $!";
bind(S, pack("S n N x8", 2, 40000, 0)) or die "bind: $!";
my $to = pack("S n C4 x8", 2, $port, split(/\./, $ip));
for my $n (1 .. 3000) {
    send(S, "ping $n", 0, $to) or print "send failed $n: $!\n";
    my $rin = '';
    vec($rin, fileno(S), 1) = 1;
    if (select(my $rout = $rin, undef, undef, 0.5)) {
        recv(S, my $buf, 1500, 0);
        print "$buf\n";
    } else {
        print "timeout $n\n";
    }
    select(undef, undef, undef, 0.2);
}
"#;

/// Builds an image `udp-echo:1.0` in `dir` with busybox, perl (and its
/// shared libraries) and the two scripts; returns its OCI layout.
fn udp_echo_image(dir: &Path) -> PathBuf {
    use k1s_node::testimages::{
        add_binary_with_closure, busybox_image, busybox_layer, LayerBuilder,
    };
    let layout = dir.join("udp-echo");
    let base = busybox_layer().expect("busybox layer");
    let mut l = LayerBuilder::new();
    add_binary_with_closure(&mut l, "/usr/bin/perl").expect("perl and its libraries");
    l.file("udp-echo.pl", UDP_ECHO.as_bytes(), 0o644)
        .expect("file");
    l.file("udp-client.pl", UDP_CLIENT.as_bytes(), 0o644)
        .expect("file");
    let mut image = busybox_image(base).layer(l.finish().expect("layer"));
    image.config.cmd = Some(vec!["perl".into(), "/udp-echo.pl".into()]);
    image
        .build()
        .expect("building udp-echo")
        .write_oci_layout(&layout, &["docker.io/library/udp-echo:1.0"], false)
        .expect("writing udp-echo");
    layout
}

const UDP_OBJECTS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 1
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: echo
        image: udp-echo:1.0
        ports:
        - containerPort: 5353
          protocol: UDP
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  selector: {app: echo}
  ports:
  - name: echo
    protocol: UDP
    port: 53
    targetPort: 5353
";

/// What the UDP client printed so far: `POD ping N` answers, `timeout N`.
fn udp_answers(c: &Cluster) -> Vec<String> {
    stdout_of(&c.kubectl(&["logs", "udp-client"]))
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_udp_flow_moves_to_the_replacement_pod() {
    let c = Cluster::start_with_images();
    let layout = udp_echo_image(c.dir.path());
    c.import_image(&layout);
    c.ok(&["apply", "-f", &c.file("echo.yaml", UDP_OBJECTS)]);
    rollout(&c, "echo");
    let first = c.pod_ips("app=echo");
    let (first_pod, first_ip) = first.iter().next().expect("an echo pod");
    c.wait_endpoints("echo", &BTreeSet::from([first_ip.clone()]), ENDPOINTS_WAIT);
    let svc_ip = c.cluster_ip("echo");

    c.ok(&[
        "run",
        "udp-client",
        "--image=udp-echo:1.0",
        "--restart=Never",
        "--",
        "perl",
        "/udp-client.pl",
        &svc_ip,
        "53",
    ]);
    let answered_by = |pod: &str| {
        let prefix = format!("{pod} ping ");
        udp_answers(&c).iter().any(|l| l.starts_with(&prefix))
    };
    assert!(
        eventually(Duration::from_secs(30), || answered_by(first_pod)),
        "the first pod answers: {:?}",
        udp_answers(&c)
    );

    // The flow (client port 40000 → ClusterIP:53) is now in conntrack,
    // DNATed to the first pod; it is refreshed every 200 ms, so without
    // cleanup it would stay on the dead pod's address for good.
    let flows = || {
        let out = c
            .in_netns("conntrack")
            .args(["-L", "-p", "udp", "--orig-port-src", "40000"])
            .output()
            .expect("conntrack");
        stdout_of(&out)
    };
    assert!(flows().contains(&format!("src={first_ip} ")), "{}", flows());

    c.ok(&["delete", "pod", first_pod, "--wait=false"]);
    let mut second = BTreeMap::new();
    assert!(
        eventually(Duration::from_secs(30), || {
            second = c.pod_ips("app=echo");
            second.retain(|name, ip| name != first_pod && !ip.is_empty());
            !second.is_empty()
        }),
        "a replacement pod"
    );
    let (second_pod, second_ip) = second.iter().next().expect("replacement");
    assert!(
        eventually(Duration::from_secs(30), || answered_by(second_pod)),
        "the same client flow reaches the replacement {second_pod}: {:?}\nconntrack: {}\nk1s log:\n{}",
        udp_answers(&c),
        flows(),
        c.log()
    );
    assert!(
        eventually(Duration::from_secs(5), || {
            let f = flows();
            f.contains(&format!("src={second_ip} ")) && !f.contains(&format!("src={first_ip} "))
        }),
        "conntrack holds only the flow to the new pod: {}",
        flows()
    );
}

// ---------------------------------------------------------------------
// 7. k1s reset leaves nothing behind

/// `net:[INODE]` of every process's network namespace, by PID.
fn process_netns() -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(ns) = std::fs::read_link(e.path().join("ns/net")) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        out.push((pid, ns.to_string_lossy().into_owned(), cmd));
    }
    out
}

fn ns_inode(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| format!("net:[{}]", m.ino()))
}

#[test]
fn reset_after_traffic_leaves_no_namespace_link_table_or_process() {
    let mut c = Cluster::start_with_images();
    let (web, laptop) = web_on_node_port(&c);
    let mut answers = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            answers = laptop.curl_answers(&format!("http://{NODE_IP}:30080/"), 5);
            answers.iter().all(|a| web.contains_key(a))
        }),
        "{answers:?}"
    );

    // What exists now: pod namespaces (pinned under the data directory),
    // the node's namespace, the tables.
    let pod_netns: Vec<String> = std::fs::read_dir(c.data_dir().join("netns"))
        .map(|d| d.flatten().filter_map(|e| ns_inode(&e.path())).collect())
        .unwrap_or_default();
    assert_eq!(pod_netns.len(), 2, "one namespace per pod");
    let node_netns = ns_inode(Path::new(&format!("/run/netns/{}", c.netns))).expect("netns");
    let (_, tables) = nft(&c, &["list", "tables"]);
    assert!(
        tables.contains("table ip k1s\n") && tables.contains("table ip k1s-node"),
        "{tables}"
    );
    let uids: Vec<String> = c
        .jsonpath(&["pods"], "{.items[*].metadata.uid}")
        .split_whitespace()
        .map(String::from)
        .collect();

    let in_pods = |procs: Vec<(u32, String, String)>| -> usize {
        procs
            .iter()
            .filter(|(_, ns, _)| pod_netns.contains(ns))
            .count()
    };
    assert!(
        in_pods(process_netns()) >= 2,
        "nginx runs in the pod namespaces"
    );
    c.stop("TERM");
    // Containers outlive a stopped k1s (it adopts them when it starts
    // again); reset is what removes them.
    assert!(in_pods(process_netns()) >= 2, "pods outlive k1s");
    let printed = c.reset_ok();
    assert!(
        printed.contains("nftables table ip k1s: removed"),
        "{printed}"
    );

    let (_, tables) = nft(&c, &["list", "tables"]);
    assert_eq!(tables.trim(), "", "no nft table is left");
    let links = Command::new("ip")
        .args(["-n", &c.netns, "-o", "link", "show"])
        .output()
        .expect("ip link");
    let links: Vec<String> = stdout_of(&links)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect();
    assert_eq!(links, ["lo", "eth0"], "only the test's own links stay");
    let pins = c.pod_netns_pins();
    assert!(pins.is_empty(), "pod namespaces left pinned: {pins:?}");
    let mounts = c.data_dir_mounts();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let left: Vec<(u32, String, String)> = process_netns()
        .into_iter()
        .filter(|(_, ns, _)| *ns == node_netns || pod_netns.contains(ns))
        .collect();
    assert!(
        left.is_empty(),
        "processes left in the node's or a pod's namespace: {left:?}"
    );
    let cgroups = pod_cgroups(&uids);
    assert!(cgroups.is_empty(), "pod cgroups left: {cgroups:?}");
    drop(laptop);
}
