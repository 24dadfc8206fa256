//! The Services walkthrough with real pods, step by step as the tutorials
//! in ../shared/seeds/ run it (main one: 003), with the manifests in
//! manifests/ and the real kubectl: a Deployment of nginx behind a
//! ClusterIP Service reached from a `kubectl run tmp --rm -i` curl pod
//! (cluster DNS + nftables proxy) and balanced over its three pods; the
//! same Service as NodePort and LoadBalancer reached from a second
//! namespace playing the laptop; ExternalName and headless in the cluster
//! DNS; Endpoints and EndpointSlices following selectors and rollouts;
//! `kubectl proxy`; and the cleanup.
//!
//! kubectl output is compared with what a kubeadm cluster prints, after
//! `normalize` replaced what changes from run to run (ages, pod IPs,
//! allocated ClusterIPs, generated name suffixes).
//!
//! Offline images: the node has nginx:1.22/1.17/1.18 and
//! curlimages/curl:7.88.1 imported. An image without a tag (or `:latest`)
//! gets imagePullPolicy Always and would need a registry, so where a
//! manifest names `nginx`, `nginx:stable` or `nginx:1.16` the test applies
//! a copy with an imported tag instead (`offline_copy`); manifests/ stays as
//! the tutorial has it for the VM lab, which has internet.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;
use support::{
    eventually, manifest, manifests_dir, squeeze, stdout_of, Cluster, KubectlProxy, Laptop, NODE_IP,
};

const CURL: &str = "curlimages/curl:7.88.1";
const NGINX: &str = "nginx:1.22";

/// How many requests a balancing check sends: with three endpoints picked
/// at random, missing one in 30 tries happens about once in 60,000 runs.
const REQUESTS: usize = 30;

/// A copy of manifests/`name` in the test directory with `image: FROM`
/// replaced by `image: TO` (an image the offline node has).
fn offline_copy(c: &Cluster, name: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(manifest(name)).expect("reading manifest");
    let needle = format!("image: {from}\n");
    assert!(text.contains(&needle), "{name} names image {from}");
    c.file(name, &text.replace(&needle, &format!("image: {to}\n")))
}

// ---------------------------------------------------------------------
// Normalizing kubectl output

/// The characters of generated name parts (k8s.io/apimachinery's
/// rand.SafeEncodeString alphabet: no vowels, no 0/1/3).
const SAFE: &str = "bcdfghjklmnpqrstvwxz2456789";

fn all_safe(s: &str) -> bool {
    s.chars().all(|ch| SAFE.contains(ch))
}

/// generateName's random suffix (`web-<ID>`, `web-<HASH>-<ID>`).
fn is_generated_id(s: &str) -> bool {
    s.len() == 5 && all_safe(s)
}

/// A pod-template-hash (`web-<HASH>`).
fn is_template_hash(s: &str) -> bool {
    (6..=10).contains(&s.len()) && all_safe(s)
}

fn is_age(w: &str) -> bool {
    let mut rest = w;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let unit = rest[digits..].chars().next();
        if digits == 0 || !matches!(unit, Some('s' | 'm' | 'h' | 'd' | 'y')) {
            return false;
        }
        rest = &rest[digits + 1..];
        parts += 1;
    }
    parts > 0
}

/// Pod IPs (10.244.0.0/16) and allocated ClusterIPs (10.96.0.0/12 except
/// the fixed `kubernetes` and `kube-dns` addresses) become placeholders.
fn normalize_ip(run: &str) -> Option<&'static str> {
    let ip: Ipv4Addr = run.parse().ok()?;
    let [a, b, ..] = ip.octets();
    if a == 10 && b == 244 {
        Some("<POD-IP>")
    } else if a == 10 && (96..112).contains(&b) && !matches!(run, "10.96.0.1" | "10.96.0.10") {
        Some("<CLUSTER-IP>")
    } else {
        None
    }
}

/// One run of name characters: an IP, or a name whose generated parts
/// become `<HASH>` / `<ID>`.
fn normalize_run(run: &str, after: &str) -> String {
    if let Some(placeholder) = normalize_ip(run) {
        return placeholder.to_string();
    }
    if after.ends_with("pod-template-hash=") && is_template_hash(run) {
        return "<HASH>".to_string();
    }
    let mut parts: Vec<&str> = run.split('-').collect();
    let n = parts.len();
    if n >= 2 && is_generated_id(parts[n - 1]) {
        parts[n - 1] = "<ID>";
        if n >= 3 && is_template_hash(parts[n - 2]) {
            parts[n - 2] = "<HASH>";
        }
    } else if n >= 2 && is_template_hash(parts[n - 1]) {
        parts[n - 1] = "<HASH>";
    }
    parts.join("-")
}

fn normalize_word(word: &str) -> String {
    if is_age(word) {
        return "<AGE>".to_string();
    }
    let is_name_char = |ch: char| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.';
    let mut out = String::new();
    let mut run = String::new();
    for ch in word.chars() {
        if is_name_char(ch) {
            run.push(ch);
        } else {
            let normalized = normalize_run(&run, &out);
            out.push_str(&normalized);
            run.clear();
            out.push(ch);
        }
    }
    let normalized = normalize_run(&run, &out);
    out.push_str(&normalized);
    out
}

/// kubectl output with blanks squeezed and volatile values replaced.
fn normalize(text: &str) -> String {
    squeeze(text)
        .lines()
        .map(|line| {
            line.split(' ')
                .map(normalize_word)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `kubectl ARGS` prints `expected` (normalized, line by line).
fn expect(c: &Cluster, args: &[&str], expected: &[&str]) {
    let out = c.ok(args);
    assert_eq!(
        normalize(&out),
        expected.join("\n"),
        "kubectl {}:\n{out}",
        args.join(" ")
    );
}

/// Like `expect`, for tables whose row order depends on generated names:
/// the header first, then the rows in any order.
fn expect_rows(c: &Cluster, args: &[&str], expected: &[&str]) {
    let out = c.ok(args);
    let sorted = |lines: Vec<String>| {
        let (head, rows) = lines
            .split_first()
            .map_or((None, &[][..]), |(h, r)| (Some(h.clone()), r));
        let mut rows = rows.to_vec();
        rows.sort();
        (head, rows)
    };
    let got = sorted(normalize(&out).lines().map(String::from).collect());
    let want = sorted(expected.iter().map(|s| s.to_string()).collect());
    assert_eq!(got, want, "kubectl {}:\n{out}", args.join(" "));
}

#[test]
fn normalize_replaces_only_volatile_values() {
    let table = "NAME                            READY   IP            NODE\n\
                 pod/web-df78689c9-ctfbs         1/1     10.244.0.3    node1\n\
                 replicaset.apps/web-df78689c9   3       app=web,pod-template-hash=df78689c9   2m5s\n\
                 web-headless-x6gjh   IPv4   80   10.244.0.2,10.244.0.3   7s\n\
                 web   10.103.51.171   10.96.0.1   10.96.0.10#53   192.168.56.10:6443   nginx:1.22   80:30080/TCP";
    assert_eq!(
        normalize(table),
        "NAME READY IP NODE\n\
         pod/web-<HASH>-<ID> 1/1 <POD-IP> node1\n\
         replicaset.apps/web-<HASH> 3 app=web,pod-template-hash=<HASH> <AGE>\n\
         web-headless-<ID> IPv4 80 <POD-IP>,<POD-IP> <AGE>\n\
         web <CLUSTER-IP> 10.96.0.1 10.96.0.10#53 192.168.56.10:6443 nginx:1.22 80:30080/TCP"
    );
    // Words of the walkthrough that only look generated stay.
    assert_eq!(
        normalize("nginx-deployment multi-port-service kube-system external-service 30080 10s"),
        "nginx-deployment multi-port-service kube-system external-service 30080 <AGE>"
    );
}

// ---------------------------------------------------------------------
// Pods, endpoints and traffic

/// How long the endpoints may take to follow the pods and selectors.
const ENDPOINTS_WAIT: Duration = Duration::from_secs(20);

fn values(map: &BTreeMap<String, String>) -> BTreeSet<String> {
    map.values().cloned().collect()
}

fn keys(map: &BTreeMap<String, String>) -> BTreeSet<String> {
    map.keys().cloned().collect()
}

/// Commands typed into `kubectl run tmp --rm -i --image=<curl> -- sh`
/// (the tutorial's `-it`, without a terminal); returns what they printed.
fn from_a_pod(c: &Cluster, script: &str) -> String {
    let out = c.run_rm_shell(CURL, script);
    let stdout = stdout_of(&out);
    assert!(
        out.status.success(),
        "kubectl run tmp: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
    // kubectl's own last line, after what the commands printed.
    stdout
        .strip_suffix("pod \"tmp\" deleted\n")
        .unwrap_or_else(|| panic!("kubectl run --rm deletes the pod:\n{stdout}"))
        .to_string()
}

/// Splits what a script printed into the parts that follow its
/// `echo "== NAME"` lines.
fn sections(out: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            current = name.to_string();
            map.entry(current.clone()).or_default();
        } else if !current.is_empty() {
            map.entry(current.clone())
                .or_default()
                .push(line.to_string());
        }
    }
    map
}

/// A script part that curls `url` REQUESTS times (one pod name per answer).
fn curl_part(name: &str, url: &str) -> String {
    format!("echo '== {name}'\nfor i in $(seq 1 {REQUESTS}); do curl -s --max-time 3 {url}; done\n")
}

/// Every answer came from one of `pods` and all of them answered.
fn assert_balanced(what: &str, answers: &[String], pods: &BTreeSet<String>) {
    assert_eq!(
        answers.len(),
        REQUESTS,
        "{what}: every request answers: {answers:?}"
    );
    let seen: BTreeSet<String> = answers.iter().cloned().collect();
    assert_eq!(&seen, pods, "{what}: answers spread over the pods");
}

/// `nslookup` (busybox, as in curlimages/curl) asked the cluster DNS and
/// got `name` → `addresses`.
fn assert_nslookup(lines: &[String], name: &str, addresses: &BTreeSet<String>) {
    let text = squeeze(&lines.join("\n"));
    assert!(text.contains("Server: 10.96.0.10"), "{text}");
    assert!(text.contains("Address: 10.96.0.10:53"), "{text}");
    assert!(text.contains(&format!("Name: {name}")), "{text}");
    let got: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Address: "))
        .filter(|a| !a.starts_with("10.96.0.10:"))
        .map(String::from)
        .collect();
    assert_eq!(&got, addresses, "nslookup {name}:\n{text}");
}

/// `dig +short @10.96.0.10 ARGS` in the cluster's namespace, sorted lines.
fn dig(c: &Cluster, args: &[&str]) -> Vec<String> {
    let mut all = vec!["+short"];
    all.extend_from_slice(args);
    let mut lines: Vec<String> = c.dig(&all).lines().map(String::from).collect();
    lines.sort();
    lines
}

fn rollout(c: &Cluster, deployment: &str) {
    let out = c.ok(&[
        "rollout",
        "status",
        &format!("deployment/{deployment}"),
        "--timeout=60s",
    ]);
    assert_eq!(
        out.lines().last(),
        Some(format!("deployment \"{deployment}\" successfully rolled out").as_str()),
        "{out}"
    );
}

/// Step 1 of every test: the `web` Deployment, rolled out; its pods.
fn web_deployment(c: &Cluster) -> BTreeMap<String, String> {
    let path = offline_copy(c, "01-web-deployment.yaml", "nginx", NGINX);
    assert_eq!(
        c.ok(&["apply", "-f", &path]).trim(),
        "deployment.apps/web created"
    );
    rollout(c, "web");
    let web = c.pod_ips("app=web");
    assert_eq!(web.len(), 3, "{web:?}");
    web
}

// ---------------------------------------------------------------------
// The walkthrough

#[test]
fn curl_web_by_name_is_balanced_over_three_pods() {
    let c = Cluster::start_with_images();
    c.ok(&[
        "create",
        "deployment",
        "web",
        &format!("--image={NGINX}"),
        "--replicas=3",
    ]);
    c.ok(&["expose", "deployment", "web", "--port=80"]);
    rollout(&c, "web");
    let web = c.pod_ips("app=web");
    assert_eq!(web.len(), 3);
    c.wait_endpoints("web", &values(&web), ENDPOINTS_WAIT);

    let script = format!(
        "{}echo '== nslookup'\nnslookup web.default.svc.cluster.local 2>&1\nexit\n",
        curl_part("web", "http://web")
    );
    let out = sections(&from_a_pod(&c, &script));
    assert_balanced("curl http://web", &out["web"], &keys(&web));
    let cluster_ip = c.cluster_ip("web");
    assert_nslookup(
        &out["nslookup"],
        "web.default.svc.cluster.local",
        &BTreeSet::from([cluster_ip]),
    );

    // NodePort from outside the node.
    c.ok(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}}"#,
    ]);
    let laptop = Laptop::join(&c);
    assert_balanced(
        "NodePort 30080 from the laptop",
        &laptop.curl_answers(&format!("http://{NODE_IP}:30080/"), REQUESTS),
        &keys(&web),
    );
}

/// Steps 1-4: Deployment, ClusterIP (from a pod by name, FQDN and IP, with
/// nslookup), NodePort and LoadBalancer (from the laptop).
#[test]
fn clusterip_nodeport_and_loadbalancer_step_by_step() {
    let c = Cluster::start_with_images();
    let web = web_deployment(&c);
    expect(
        &c,
        &["get", "deploy,rs,pods", "-o", "wide"],
        &[
            "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR",
            "deployment.apps/web 3/3 3 3 <AGE> nginx nginx:1.22 app=web",
            "",
            "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR",
            "replicaset.apps/web-<HASH> 3 3 3 <AGE> nginx nginx:1.22 app=web,pod-template-hash=<HASH>",
            "",
            "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES",
            "pod/web-<HASH>-<ID> 1/1 Running 0 <AGE> <POD-IP> node1 <none> <none>",
            "pod/web-<HASH>-<ID> 1/1 Running 0 <AGE> <POD-IP> node1 <none> <none>",
            "pod/web-<HASH>-<ID> 1/1 Running 0 <AGE> <POD-IP> node1 <none> <none>",
        ],
    );

    // Step 2: ClusterIP.
    assert_eq!(
        c.ok(&["apply", "-f", &manifest("02-web-svc-clusterip.yaml")])
            .trim(),
        "service/web created"
    );
    expect(
        &c,
        &["get", "svc"],
        &[
            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE",
            "kubernetes ClusterIP 10.96.0.1 <none> 443/TCP <AGE>",
            "web ClusterIP <CLUSTER-IP> <none> 80/TCP <AGE>",
        ],
    );
    let cluster_ip = c.cluster_ip("web");
    let ip: Ipv4Addr = cluster_ip.parse().expect("ClusterIP");
    assert!(
        ip.octets()[0] == 10 && (96..112).contains(&ip.octets()[1]),
        "ClusterIP {ip} in 10.96.0.0/12"
    );
    c.wait_endpoints("web", &values(&web), ENDPOINTS_WAIT);
    expect(
        &c,
        &["get", "endpoints", "web"],
        &[
            "NAME ENDPOINTS AGE",
            "web <POD-IP>:80,<POD-IP>:80,<POD-IP>:80 <AGE>",
        ],
    );
    expect(
        &c,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ],
        &[
            "NAME ADDRESSTYPE PORTS ENDPOINTS AGE",
            "web-<ID> IPv4 80 <POD-IP>,<POD-IP>,<POD-IP> <AGE>",
        ],
    );
    expect(
        &c,
        &["describe", "svc", "web"],
        &[
            "Name: web",
            "Namespace: default",
            "Labels: <none>",
            "Annotations: <none>",
            "Selector: app=web",
            "Type: ClusterIP",
            "IP Family Policy: SingleStack",
            "IP Families: IPv4",
            "IP: <CLUSTER-IP>",
            "IPs: <CLUSTER-IP>",
            "Port: <unset> 80/TCP",
            "TargetPort: 80/TCP",
            "Endpoints: <POD-IP>:80,<POD-IP>:80,<POD-IP>:80",
            "Session Affinity: None",
            "Internal Traffic Policy: Cluster",
            "Events: <none>",
        ],
    );

    // From a pod: the three ways to name the Service, and its DNS.
    let script = format!(
        "{}{}{}echo '== nslookup web'\nnslookup web 2>/dev/null\n\
         echo '== nslookup kubernetes'\nnslookup kubernetes.default.svc.cluster.local 2>/dev/null\n\
         echo '== resolv.conf'\ncat /etc/resolv.conf\nexit\n",
        curl_part("short", "http://web"),
        curl_part("fqdn", "http://web.default.svc.cluster.local"),
        curl_part("ip", &format!("http://{cluster_ip}")),
    );
    let out = sections(&from_a_pod(&c, &script));
    for (part, what) in [
        ("short", "curl http://web"),
        ("fqdn", "curl http://web.default.svc.cluster.local"),
        ("ip", "curl http://<ClusterIP>"),
    ] {
        assert_balanced(what, &out[part], &keys(&web));
    }
    assert_nslookup(
        &out["nslookup web"],
        "web.default.svc.cluster.local",
        &BTreeSet::from([cluster_ip.clone()]),
    );
    assert_nslookup(
        &out["nslookup kubernetes"],
        "kubernetes.default.svc.cluster.local",
        &BTreeSet::from(["10.96.0.1".to_string()]),
    );
    assert_eq!(
        out["resolv.conf"],
        [
            "search default.svc.cluster.local svc.cluster.local cluster.local",
            "nameserver 10.96.0.10",
            "options ndots:5",
        ]
    );

    // Step 3: NodePort, from the laptop.
    assert_eq!(
        c.ok(&["apply", "-f", &manifest("03-web-svc-nodeport.yaml")])
            .trim(),
        "service/web configured"
    );
    expect(
        &c,
        &["get", "svc", "web"],
        &[
            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE",
            "web NodePort <CLUSTER-IP> <none> 80:30080/TCP <AGE>",
        ],
    );
    assert_eq!(
        c.cluster_ip("web"),
        cluster_ip,
        "the ClusterIP survives the type change"
    );
    let laptop = Laptop::join(&c);
    assert_balanced(
        "curl http://192.168.56.10:30080 from the laptop",
        &laptop.curl_answers(&format!("http://{NODE_IP}:30080"), REQUESTS),
        &keys(&web),
    );

    // Step 4: LoadBalancer; the built-in service LB answers on the node address.
    assert_eq!(
        c.ok(&["apply", "-f", &manifest("04-web-svc-loadbalancer.yaml")])
            .trim(),
        "service/web configured"
    );
    let lb_row = || normalize(&c.ok(&["get", "svc", "web", "--no-headers"]));
    assert!(
        eventually(Duration::from_secs(15), || lb_row()
            == "web LoadBalancer <CLUSTER-IP> 192.168.56.10 80:30080/TCP <AGE>"),
        "EXTERNAL-IP becomes the node address: {}",
        lb_row()
    );
    assert_balanced(
        "curl http://192.168.56.10 (LoadBalancer) from the laptop",
        &laptop.curl_answers(&format!("http://{NODE_IP}"), REQUESTS),
        &keys(&web),
    );
}

/// Steps 5-8: ExternalName (a CNAME), headless (A records of the pods),
/// several ports, a named targetPort; the Endpoints and EndpointSlices.
#[test]
fn externalname_headless_multiport_and_named_target_port() {
    let c = Cluster::start_with_images();
    let web = web_deployment(&c);
    for step in [
        "05-externalname.yaml",
        "06-headless.yaml",
        "07-multiport.yaml",
    ] {
        c.ok(&["apply", "-f", &manifest(step)]);
    }
    let step8 = offline_copy(&c, "08-named-targetport.yaml", "nginx:stable", NGINX);
    assert_eq!(
        c.ok(&["apply", "-f", &step8]).trim(),
        "pod/nginx created\nservice/first-service created"
    );
    c.wait_pod_ready("nginx");
    let nginx_ip = c.pod_ip("nginx");
    c.wait_endpoints(
        "first-service",
        &BTreeSet::from([nginx_ip.clone()]),
        ENDPOINTS_WAIT,
    );
    c.wait_endpoints("web-headless", &values(&web), ENDPOINTS_WAIT);

    expect(
        &c,
        &["get", "svc"],
        &[
            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE",
            "external-service ExternalName <none> endpoint.database.site.com <none> <AGE>",
            "first-service ClusterIP <CLUSTER-IP> <none> 80/TCP <AGE>",
            "kubernetes ClusterIP 10.96.0.1 <none> 443/TCP <AGE>",
            "multi-port-service ClusterIP <CLUSTER-IP> <none> 80/TCP,443/TCP <AGE>",
            "web-headless ClusterIP None <none> 80/TCP <AGE>",
        ],
    );
    expect(
        &c,
        &["get", "endpoints"],
        &[
            "NAME ENDPOINTS AGE",
            "first-service <POD-IP>:80 <AGE>",
            "kubernetes 192.168.56.10:6443 <AGE>",
            "multi-port-service <none> <AGE>",
            "web-headless <POD-IP>:80,<POD-IP>:80,<POD-IP>:80 <AGE>",
        ],
    );
    expect(
        &c,
        &["get", "endpointslices"],
        &[
            "NAME ADDRESSTYPE PORTS ENDPOINTS AGE",
            "first-service-<ID> IPv4 80 <POD-IP> <AGE>",
            "kubernetes IPv4 6443 192.168.56.10 <AGE>",
            "multi-port-service-<ID> IPv4 <unset> <unset> <AGE>",
            "web-headless-<ID> IPv4 80 <POD-IP>,<POD-IP>,<POD-IP> <AGE>",
        ],
    );
    expect(
        &c,
        &["describe", "svc", "first-service"],
        &[
            "Name: first-service",
            "Namespace: default",
            "Labels: <none>",
            "Annotations: <none>",
            "Selector: app=web-server",
            "Type: ClusterIP",
            "IP Family Policy: SingleStack",
            "IP Families: IPv4",
            "IP: <CLUSTER-IP>",
            "IPs: <CLUSTER-IP>",
            "Port: service-port 80/TCP",
            "TargetPort: pod-port/TCP",
            "Endpoints: <POD-IP>:80",
            "Session Affinity: None",
            "Internal Traffic Policy: Cluster",
            "Events: <none>",
        ],
    );

    // The cluster DNS, asked from the node's namespace.
    assert_eq!(
        dig(&c, &["external-service.default.svc.cluster.local", "CNAME"]),
        ["endpoint.database.site.com."]
    );
    assert_eq!(
        dig(&c, &["web-headless.default.svc.cluster.local", "A"]),
        values(&web).into_iter().collect::<Vec<_>>(),
        "headless: one A record per ready pod"
    );

    // ... and from a pod, with the traffic.
    let script = "echo '== headless'\nnslookup web-headless 2>/dev/null\n\
                  echo '== external'\nnslookup -type=cname external-service.default.svc.cluster.local 2>/dev/null\n\
                  echo '== first-service'\ncurl -s --max-time 3 http://first-service\n\
                  echo '== multi-port-service'\ncurl -s --max-time 3 http://multi-port-service; echo \"exit=$?\"\n\
                  exit\n";
    let out = sections(&from_a_pod(&c, script));
    assert_nslookup(
        &out["headless"],
        "web-headless.default.svc.cluster.local",
        &values(&web),
    );
    assert!(
        squeeze(&out["external"].join("\n"))
            .contains("external-service.default.svc.cluster.local canonical name = endpoint.database.site.com"),
        "{:?}",
        out["external"]
    );
    assert_eq!(
        out["first-service"],
        ["nginx"],
        "targetPort pod-port reaches the pod"
    );
    // No endpoints: the proxy rejects at once (curl's "Couldn't connect", 7).
    assert_eq!(out["multi-port-service"], ["exit=7"]);
}

/// Step 9 (the selector typo), step 10 (`kubectl set image` moves the
/// endpoints), `kubectl proxy` to a Service, and the cleanup.
#[test]
fn selector_typo_rollout_proxy_and_cleanup() {
    let c = Cluster::start_with_images();
    let web = web_deployment(&c);
    c.ok(&["apply", "-f", &manifest("02-web-svc-clusterip.yaml")]);
    c.wait_endpoints("web", &values(&web), ENDPOINTS_WAIT);

    // Step 9: one wrong character in the selector empties the endpoints.
    assert_eq!(
        c.ok(&["apply", "-f", &manifest("09-selector-typo.yaml")])
            .trim(),
        "service/web configured"
    );
    c.wait_endpoints("web", &BTreeSet::new(), ENDPOINTS_WAIT);
    expect(
        &c,
        &["get", "endpoints", "web"],
        &["NAME ENDPOINTS AGE", "web <none> <AGE>"],
    );
    expect(
        &c,
        &["get", "svc", "web", "-o", "wide"],
        &[
            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR",
            "web ClusterIP <CLUSTER-IP> <none> 80/TCP <AGE> app=webb",
        ],
    );
    expect(
        &c,
        &["get", "pods", "--show-labels"],
        &[
            "NAME READY STATUS RESTARTS AGE LABELS",
            "web-<HASH>-<ID> 1/1 Running 0 <AGE> app=web,pod-template-hash=<HASH>",
            "web-<HASH>-<ID> 1/1 Running 0 <AGE> app=web,pod-template-hash=<HASH>",
            "web-<HASH>-<ID> 1/1 Running 0 <AGE> app=web,pod-template-hash=<HASH>",
        ],
    );
    let out = sections(&from_a_pod(
        &c,
        "echo '== curl'\ncurl -sS --max-time 3 http://web 2>&1; echo \"exit=$?\"\nexit\n",
    ));
    let refused = &out["curl"];
    assert_eq!(refused.len(), 2, "{refused:?}");
    let ms = refused[0]
        .strip_prefix("curl: (7) Failed to connect to web port 80 after ")
        .and_then(|rest| rest.strip_suffix(" ms: Couldn't connect to server"))
        .and_then(|ms| ms.parse::<u32>().ok());
    assert!(
        ms.is_some_and(|ms| ms < 1000),
        "refused at once, not a timeout: {refused:?}"
    );
    assert_eq!(refused[1], "exit=7");
    // Fixing the selector brings them back.
    c.ok(&["apply", "-f", &manifest("02-web-svc-clusterip.yaml")]);
    c.wait_endpoints("web", &values(&web), ENDPOINTS_WAIT);

    // Step 10: the endpoints follow a rollout to new pods.
    let step10 = offline_copy(
        &c,
        "10-nginx-deployment-and-service.yaml",
        "nginx:1.16",
        "nginx:1.18",
    );
    assert_eq!(
        c.ok(&["apply", "-f", &step10]).trim(),
        "deployment.apps/nginx-deployment created\nservice/nginx-service created"
    );
    rollout(&c, "nginx-deployment");
    let before = values(&c.pod_ips("app=nginx"));
    assert_eq!(before.len(), 3);
    c.wait_endpoints("nginx-service", &before, ENDPOINTS_WAIT);
    assert_eq!(
        c.ok(&[
            "set",
            "image",
            "deployment",
            "nginx-deployment",
            "nginx=nginx:1.17"
        ])
        .trim(),
        "deployment.apps/nginx-deployment image updated"
    );
    rollout(&c, "nginx-deployment");
    let new_pod_ips = || -> BTreeSet<String> {
        c.jsonpath(
            &["pods", "-l", "app=nginx"],
            r#"{range .items[?(@.spec.containers[0].image=="nginx:1.17")]}{.status.podIP} {end}"#,
        )
        .split_whitespace()
        .map(String::from)
        .collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || new_pod_ips().len() == 3),
        "three nginx:1.17 pods with IPs: {:?}",
        new_pod_ips()
    );
    let after = new_pod_ips();
    assert!(
        after.is_disjoint(&before),
        "new pods, new IPs: {before:?} → {after:?}"
    );
    c.wait_endpoints("nginx-service", &after, ENDPOINTS_WAIT);
    expect_rows(
        &c,
        &["get", "rs", "-l", "app=nginx", "-o", "wide"],
        &[
            "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR",
            "nginx-deployment-<HASH> 0 0 0 <AGE> nginx nginx:1.18 app=nginx,pod-template-hash=<HASH>",
            "nginx-deployment-<HASH> 3 3 3 <AGE> nginx nginx:1.17 app=nginx,pod-template-hash=<HASH>",
        ],
    );

    // `kubectl proxy` + curl …/services/nginx/proxy (seed 001's commands).
    assert_eq!(
        c.ok(&[
            "run",
            "nginx",
            &format!("--image={NGINX}"),
            "--restart=Never",
            "--port=80",
            "--expose",
        ])
        .trim(),
        "service/nginx created\npod/nginx created"
    );
    c.wait_pod_ready("nginx");
    let nginx_ip = c.pod_ip("nginx");
    c.wait_endpoints("nginx", &BTreeSet::from([nginx_ip]), ENDPOINTS_WAIT);
    let proxy = KubectlProxy::start(&c, 9999);
    let via_proxy = |svc: &str| {
        let out = c
            .in_netns("curl")
            .args(["-s", "-L", "--max-time", "5"])
            .arg(format!(
                "localhost:9999/api/v1/namespaces/default/services/{svc}/proxy"
            ))
            .output()
            .expect("curl");
        stdout_of(&out).trim().to_string()
    };
    assert_eq!(via_proxy("nginx"), "nginx");
    assert!(
        keys(&web).contains(&via_proxy("web")),
        "{}",
        via_proxy("web")
    );
    drop(proxy);

    // Cleanup: everything the walkthrough made goes, `kubernetes` stays.
    let deleted = c.ok(&["delete", "-f", &manifests_dir(), "--ignore-not-found"]);
    assert_eq!(
        deleted.trim(),
        "deployment.apps \"web\" deleted\nservice \"web\" deleted\npod \"nginx\" deleted\n\
         deployment.apps \"nginx-deployment\" deleted\nservice \"nginx-service\" deleted"
    );
    assert_eq!(
        c.ok(&["delete", "svc", "nginx"]).trim(),
        "service \"nginx\" deleted"
    );
    expect(
        &c,
        &["get", "svc"],
        &[
            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE",
            "kubernetes ClusterIP 10.96.0.1 <none> 443/TCP <AGE>",
        ],
    );
    let leftovers = || {
        let out = c.kubectl(&[
            "get",
            "deploy,rs,pods,endpoints,endpointslices",
            "--no-headers",
        ]);
        normalize(&stdout_of(&out))
    };
    assert!(
        eventually(Duration::from_secs(30), || {
            leftovers()
                == "endpoints/kubernetes 192.168.56.10:6443 <AGE>\n\
                endpointslice.discovery.k8s.io/kubernetes IPv4 6443 192.168.56.10 <AGE>"
        }),
        "only the kubernetes Service's endpoints stay:\n{}",
        leftovers()
    );
}
