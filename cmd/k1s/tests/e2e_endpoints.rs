//! Endpoints and EndpointSlices as the Service walkthrough shows them,
//! with the real kubectl.
//!
//! The first test uses real pods: node1's kubelet runs nginx, assigns the
//! pod IPs and reports readiness from a readiness probe on a file, which
//! the test removes and restores with `kubectl exec`; expected addresses
//! are read from the pods.
//!
//! The second wants fixed IPs in exact table output, so its pods live on
//! `node2`, a registered Node without a kubelet in this process: the
//! scheduler and node1's kubelet leave them alone, and the test plays
//! node2's kubelet, writing their IPs and readiness through the `status`
//! subresource as a remote kubelet would.

mod support;

use std::time::Duration;
use support::{eventually, squeeze, Cluster};

const WAIT: Duration = Duration::from_secs(15);
/// Real pods: image import, sandbox, container start and probes.
const POD_WAIT: Duration = Duration::from_secs(60);

/// `squeeze`d table output with the AGE column (last) replaced.
fn table(text: &str) -> String {
    squeeze(text)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                return l.to_string();
            }
            match l.rsplit_once(' ') {
                Some((rest, _age)) => format!("{rest} <AGE>"),
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn apply(c: &Cluster, yaml: &str) {
    let out = c.kubectl_stdin(&["apply", "-f", "-"], yaml);
    assert!(
        out.status.success(),
        "apply failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}

/// Waits until `kubectl args` prints (as a table) exactly `want`.
fn wait_for_table(c: &Cluster, args: &[&str], want: &str) {
    let mut last = String::new();
    let ok = eventually(WAIT, || {
        last = table(&c.ok(args));
        last == want
    });
    assert!(ok, "kubectl {args:?} printed\n{last}\ninstead of\n{want}");
}

/// Waits until `kubectl args` prints exactly `want`.
fn wait_for_output(c: &Cluster, args: &[&str], want: &str) {
    let mut last = String::new();
    let ok = eventually(WAIT, || {
        last = c.ok(args);
        last == want
    });
    assert!(ok, "kubectl {args:?} printed\n{last}\ninstead of\n{want}");
}

/// Waits until `kubectl args` says exactly `want` on stderr: how kubectl
/// tells that what it was asked for is gone.
fn wait_for_error(c: &Cluster, args: &[&str], want: &str) {
    let mut last = String::new();
    let ok = eventually(WAIT, || {
        let out = c.kubectl(args);
        last = String::from_utf8_lossy(&out.stderr).trim().to_string();
        last == want
    });
    assert!(ok, "kubectl {args:?} said\n{last}\ninstead of\n{want}");
}

/// `kubectl get endpointslices` of Service `svc`, as a `table`.
fn slices_table(c: &Cluster, svc: &str) -> String {
    table(&c.ok(&[
        "get",
        "endpointslices",
        "-l",
        &format!("kubernetes.io/service-name={svc}"),
    ]))
}

/// Waits until Service `svc` has no EndpointSlice left.
fn wait_for_no_slices(c: &Cluster, svc: &str) {
    let selector = format!("kubernetes.io/service-name={svc}");
    wait_for_error(
        c,
        &["get", "endpointslices", "-l", &selector],
        "No resources found in default namespace.",
    );
}

/// A real nginx pod, Ready while /tmp/ready exists (checked every second).
fn real_pod_yaml(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: nginx
    image: nginx:1.22
    command: ["sh", "-c", "touch /tmp/ready && exec nginx -g 'daemon off;'"]
    ports:
    - name: http
      containerPort: 80
    readinessProbe:
      exec:
        command: ["cat", "/tmp/ready"]
      periodSeconds: 1
      failureThreshold: 1
"#
    )
}

/// Waits until `kubectl get endpoints web` lists exactly `ips` on port
/// 80, ordered by IP as bytes as Endpoints are (upstream's RepackSubsets).
fn wait_for_web_endpoints(c: &Cluster, ips: &[&str]) {
    let mut by_ip = ips.to_vec();
    by_ip.sort();
    let addresses = by_ip
        .iter()
        .map(|ip| format!("{ip}:80"))
        .collect::<Vec<_>>()
        .join(",");
    wait_for_table(
        c,
        &["get", "endpoints", "web"],
        &format!("NAME ENDPOINTS AGE\nweb {addresses} <AGE>"),
    );
}

/// The one slice of Service `svc`, once its ENDPOINTS column lists
/// exactly `ips` (in any order: a slice keeps endpoints unordered): its
/// name and its other columns.
fn wait_for_slice(c: &Cluster, svc: &str, ips: &[String]) -> (String, String) {
    let mut want: Vec<String> = ips.to_vec();
    want.sort();
    let mut last = String::new();
    let mut found = None;
    let ok = eventually(WAIT, || {
        last = slices_table(c, svc);
        let lines: Vec<&str> = last.lines().collect();
        let [header, row] = lines[..] else {
            return false;
        };
        let cols: Vec<&str> = row.split(' ').collect();
        if header != "NAME ADDRESSTYPE PORTS ENDPOINTS AGE" || cols.len() != 5 {
            return false;
        }
        let mut have: Vec<String> = cols[3].split(',').map(String::from).collect();
        have.sort();
        found = Some((
            cols[0].to_string(),
            format!("{} {} {}", cols[1], cols[2], cols[4]),
        ));
        have == want
    });
    assert!(ok, "slices of {svc}:\n{last}\nwant one listing {want:?}");
    found.unwrap_or_default()
}

const WEB: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
";

#[test]
fn endpoints_follow_the_selected_pods() {
    let c = Cluster::start_with_images();
    for i in 0..3 {
        apply(&c, &real_pod_yaml(&format!("web-{i}")));
    }
    let ok = eventually(POD_WAIT, || {
        c.kubectl(&[
            "wait",
            "--for=condition=Ready",
            "pod/web-0",
            "pod/web-1",
            "pod/web-2",
            "--timeout=5s",
        ])
        .status
        .success()
    });
    assert!(
        ok,
        "pods not ready:\n{}\n{}",
        c.ok(&["get", "pods", "-o", "wide"]),
        c.log()
    );
    let ips: Vec<String> = (0..3).map(|i| c.pod_ip(&format!("web-{i}"))).collect();
    for ip in &ips {
        assert!(ip.starts_with("10.244.0."), "pod IPs {ips:?}");
    }
    let ip_refs: Vec<&str> = ips.iter().map(String::as_str).collect();

    apply(&c, WEB);
    wait_for_web_endpoints(&c, &ip_refs);

    // One slice, named from the Service, with the reference cluster's columns.
    let (name, columns) = wait_for_slice(&c, "web", &ips);
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    assert_eq!(columns, "IPv4 80 <AGE>");
    let labels = c.jsonpath(&["endpointslice", &name], "{.metadata.labels}");
    assert_eq!(
        labels,
        r#"{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"web"}"#
    );
    let owner = c.jsonpath(
        &["endpointslice", &name],
        "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} controller={.metadata.ownerReferences[0].controller} block={.metadata.ownerReferences[0].blockOwnerDeletion}",
    );
    assert_eq!(owner, "Service/web controller=true block=true");
    let endpoint_of = |pod: &str| {
        format!(
            "jsonpath={{range .endpoints[?(@.targetRef.name==\"{pod}\")]}}{{.addresses[0]}} {{.conditions}} {{.nodeName}} {{.targetRef.kind}}/{{.targetRef.name}}{{end}}"
        )
    };
    assert_eq!(
        c.ok(&["get", "endpointslice", &name, "-o", &endpoint_of("web-0")]),
        format!(
            r#"{} {{"ready":true,"serving":true,"terminating":false}} node1 Pod/web-0"#,
            ips[0]
        )
    );

    // A pod whose readiness probe starts failing drops out of the ready
    // addresses.
    c.ok(&["exec", "web-2", "--", "rm", "/tmp/ready"]);
    wait_for_web_endpoints(&c, &ip_refs[..2]);
    assert_eq!(
        c.jsonpath(
            &["endpoints", "web"],
            "{.subsets[0].notReadyAddresses[*].ip}"
        ),
        ips[2]
    );
    wait_for_output(
        &c,
        &["get", "endpointslice", &name, "-o", &endpoint_of("web-2")],
        &format!(
            r#"{} {{"ready":false,"serving":false,"terminating":false}} node1 Pod/web-2"#,
            ips[2]
        ),
    );
    let pod = c.json(&["pod", "web-2"]);
    assert_eq!(pod["status"]["phase"], "Running", "{pod}");

    // Ready again: back in the addresses.
    c.ok(&["exec", "web-2", "--", "touch", "/tmp/ready"]);
    wait_for_web_endpoints(&c, &ip_refs);
    wait_for_output(
        &c,
        &["get", "endpointslice", &name, "-o", &endpoint_of("web-2")],
        &format!(
            r#"{} {{"ready":true,"serving":true,"terminating":false}} node1 Pod/web-2"#,
            ips[2]
        ),
    );

    // Deleting the Service takes its Endpoints and slices with it.
    c.ok(&["delete", "service", "web"]);
    wait_for_no_slices(&c, "web");
    wait_for_error(
        &c,
        &["get", "endpoints", "web"],
        "Error from server (NotFound): endpoints \"web\" not found",
    );
}

/// node2 as its (remote) kubelet would register it, with its own pod range.
const NODE2: &str = "apiVersion: v1
kind: Node
metadata:
  name: node2
  labels:
    kubernetes.io/hostname: node2
    kubernetes.io/os: linux
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs:
  - 10.244.1.0/24
";

/// A pod bound to node2: nothing in this k1s runs it.
fn remote_pod_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: web
spec:
  nodeName: node2
  containers:
  - name: nginx
    image: nginx:1.22
    ports:
    - name: http
      containerPort: 8080
"
    )
}

/// Plays node2's kubelet: reports the pod Running and Ready with `ip`.
fn set_ready(c: &Cluster, pod: &str, ip: &str) {
    let patch = format!(
        r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
    );
    c.ok(&[
        "patch",
        "pod",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

fn start_with_remote_pods() -> Cluster {
    let c = Cluster::start();
    apply(&c, NODE2);
    for (i, ip) in ["10.244.1.5", "10.244.1.6", "10.244.1.7"]
        .iter()
        .enumerate()
    {
        let name = format!("web-{i}");
        apply(&c, &remote_pod_yaml(&name));
        set_ready(&c, &name, ip);
    }
    c
}

#[test]
fn named_target_ports_and_the_selector_typo() {
    let c = start_with_remote_pods();
    apply(
        &c,
        "apiVersion: v1
kind: Service
metadata:
  name: web-named
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
",
    );
    wait_for_table(
        &c,
        &["get", "endpoints", "web-named"],
        "NAME ENDPOINTS AGE\nweb-named 10.244.1.5:8080,10.244.1.6:8080,10.244.1.7:8080 <AGE>",
    );
    assert_eq!(
        c.jsonpath(&["endpoints", "web-named"], "{.subsets[0].ports}"),
        r#"[{"name":"http","port":8080,"protocol":"TCP"}]"#
    );

    // The classic mistake: a selector that matches nothing.
    apply(
        &c,
        "apiVersion: v1
kind: Service
metadata:
  name: web-typo
spec:
  selector:
    app: wbe
  ports:
  - port: 80
",
    );
    wait_for_table(
        &c,
        &["get", "endpoints", "web-typo"],
        "NAME ENDPOINTS AGE\nweb-typo <none> <AGE>",
    );
    let slices = slices_table(&c, "web-typo");
    let row = slices.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("web-typo-"), "{slices}");
    assert!(row.ends_with(" IPv4 <unset> <unset> <AGE>"), "{slices}");
    let described = squeeze(&c.ok(&["describe", "service", "web-typo"]));
    // kubectl >= 1.31 describes from EndpointSlices: the empty placeholder
    // slice prints as an empty value (`<none>` would mean no slice at all).
    assert!(described.contains("\nEndpoints:\n"), "{described}");

    // Fixing the selector fills the same slice.
    c.ok(&[
        "patch",
        "service",
        "web-typo",
        "-p",
        r#"{"spec":{"selector":{"app":"web"}}}"#,
    ]);
    wait_for_table(
        &c,
        &["get", "endpoints", "web-typo"],
        "NAME ENDPOINTS AGE\nweb-typo 10.244.1.5:80,10.244.1.6:80,10.244.1.7:80 <AGE>",
    );
    let fixed = slices_table(&c, "web-typo");
    assert_eq!(
        fixed.lines().nth(1).unwrap_or_default().split(' ').next(),
        row.split(' ').next(),
        "{fixed}"
    );
}

#[test]
fn selectorless_services_keep_hand_written_endpoints() {
    let c = Cluster::start();
    apply(
        &c,
        "apiVersion: v1
kind: Service
metadata:
  name: ext
spec:
  ports:
  - port: 80
    targetPort: 9376
---
apiVersion: v1
kind: Endpoints
metadata:
  name: ext
subsets:
- addresses:
  - ip: 192.0.2.42
  ports:
  - port: 9376
",
    );
    wait_for_table(
        &c,
        &["get", "endpoints", "ext"],
        "NAME ENDPOINTS AGE\next 192.0.2.42:9376 <AGE>",
    );
    let mut mirrored = String::new();
    let ok = eventually(WAIT, || {
        mirrored = slices_table(&c, "ext");
        mirrored.lines().count() == 2
    });
    assert!(ok, "no mirrored slice:\n{mirrored}");
    let row = mirrored.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("ext-") && row.ends_with(" IPv4 9376 192.0.2.42 <AGE>"),
        "{mirrored}"
    );
    let name = row.split(' ').next().unwrap_or_default();
    assert_eq!(
        c.jsonpath(
            &["endpointslice", name],
            "{.metadata.labels.endpointslice\\.kubernetes\\.io/managed-by} {.metadata.ownerReferences[0].kind}",
        ),
        "endpointslicemirroring-controller.k8s.io Endpoints"
    );

    // The apiserver's own objects: one Endpoints, one slice, no mirror.
    wait_for_table(
        &c,
        &["get", "endpoints", "kubernetes"],
        "NAME ENDPOINTS AGE\nkubernetes 192.168.56.10:6443 <AGE>",
    );
    assert_eq!(
        slices_table(&c, "kubernetes"),
        "NAME ADDRESSTYPE PORTS ENDPOINTS AGE\nkubernetes IPv4 6443 192.168.56.10 <AGE>"
    );

    // Deleting the hand-written Endpoints removes the mirror.
    c.ok(&["delete", "endpoints", "ext"]);
    wait_for_no_slices(&c, "ext");
}
