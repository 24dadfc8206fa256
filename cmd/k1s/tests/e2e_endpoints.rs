//! Endpoints and EndpointSlices as the Service walkthrough shows them,
//! with the real kubectl. There is no pod runner yet, so pods get their IPs
//! and readiness the way the reference captures did: status written by
//! hand through the `status` subresource.

mod support;

use std::time::Duration;
use support::{eventually, squeeze, Cluster};

const WAIT: Duration = Duration::from_secs(15);

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

fn pod_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: web
spec:
  nodeName: node1
  containers:
  - name: nginx
    image: nginx
    ports:
    - name: http
      containerPort: 8080
"
    )
}

fn set_status(c: &Cluster, pod: &str, ip: &str, ready: bool) {
    let patch = format!(
        r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"{}"}}]}}}}"#,
        if ready { "True" } else { "False" }
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

fn start_with_pods() -> Cluster {
    let c = Cluster::start();
    for (i, ip) in ["10.244.0.5", "10.244.0.6", "10.244.0.7"]
        .iter()
        .enumerate()
    {
        let name = format!("web-{i}");
        apply(&c, &pod_yaml(&name));
        set_status(&c, &name, ip, true);
    }
    c
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
    let c = start_with_pods();
    apply(&c, WEB);
    wait_for_table(
        &c,
        &["get", "endpoints", "web"],
        "NAME ENDPOINTS AGE\nweb 10.244.0.5:80,10.244.0.6:80,10.244.0.7:80 <AGE>",
    );

    // One slice, named from the Service, with the reference cluster's columns.
    let slices = table(&c.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]));
    let mut lines = slices.lines();
    assert_eq!(lines.next(), Some("NAME ADDRESSTYPE PORTS ENDPOINTS AGE"));
    let row = lines.next().unwrap_or_default();
    let (name, rest) = row.split_once(' ').unwrap_or_default();
    assert!(name.starts_with("web-") && name.len() == 9, "{slices}");
    assert_eq!(
        rest, "IPv4 80 10.244.0.5,10.244.0.6,10.244.0.7 <AGE>",
        "{slices}"
    );
    assert_eq!(lines.next(), None, "{slices}");
    let labels = c.ok(&[
        "get",
        "endpointslice",
        name,
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert_eq!(
        labels,
        r#"{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"web"}"#
    );
    let owner = c.ok(&[
        "get",
        "endpointslice",
        name,
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} controller={.metadata.ownerReferences[0].controller} block={.metadata.ownerReferences[0].blockOwnerDeletion}",
    ]);
    assert_eq!(owner, "Service/web controller=true block=true");
    let first = c.ok(&[
        "get",
        "endpointslice",
        name,
        "-o",
        "jsonpath={.endpoints[0].conditions} {.endpoints[0].nodeName} {.endpoints[0].targetRef.kind}/{.endpoints[0].targetRef.name}",
    ]);
    assert_eq!(
        first,
        r#"{"ready":true,"serving":true,"terminating":false} node1 Pod/web-0"#
    );

    // A pod that stops being ready drops out of the ready addresses.
    set_status(&c, "web-2", "10.244.0.7", false);
    wait_for_table(
        &c,
        &["get", "endpoints", "web"],
        "NAME ENDPOINTS AGE\nweb 10.244.0.5:80,10.244.0.6:80 <AGE>",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].notReadyAddresses[*].ip}"
        ]),
        "10.244.0.7"
    );
    let cond = c.ok(&[
        "get",
        "endpointslice",
        name,
        "-o",
        "jsonpath={.endpoints[2].addresses[0]} {.endpoints[2].conditions}",
    ]);
    assert_eq!(
        cond,
        r#"10.244.0.7 {"ready":false,"serving":false,"terminating":false}"#
    );

    // Deleting the Service takes its Endpoints and slices with it.
    c.ok(&["delete", "service", "web"]);
    let ok = eventually(WAIT, || {
        let out = c.kubectl(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
        ]);
        String::from_utf8_lossy(&out.stderr).trim() == "No resources found in default namespace."
    });
    assert!(ok, "slices of web left behind");
    let ok = eventually(WAIT, || {
        let out = c.kubectl(&["get", "endpoints", "web"]);
        String::from_utf8_lossy(&out.stderr).trim()
            == "Error from server (NotFound): endpoints \"web\" not found"
    });
    assert!(ok, "endpoints web left behind");
}

#[test]
fn named_target_ports_and_the_selector_typo() {
    let c = start_with_pods();
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
        "NAME ENDPOINTS AGE\nweb-named 10.244.0.5:8080,10.244.0.6:8080,10.244.0.7:8080 <AGE>",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "endpoints",
            "web-named",
            "-o",
            "jsonpath={.subsets[0].ports}"
        ]),
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
    let slices = table(&c.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web-typo",
    ]));
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
        "NAME ENDPOINTS AGE\nweb-typo 10.244.0.5:80,10.244.0.6:80,10.244.0.7:80 <AGE>",
    );
    let fixed = table(&c.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web-typo",
    ]));
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
        mirrored = table(&c.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=ext",
        ]));
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
        c.ok(&[
            "get",
            "endpointslice",
            name,
            "-o",
            "jsonpath={.metadata.labels.endpointslice\\.kubernetes\\.io/managed-by} {.metadata.ownerReferences[0].kind}",
        ]),
        "endpointslicemirroring-controller.k8s.io Endpoints"
    );

    // The apiserver's own objects: one Endpoints, one slice, no mirror.
    wait_for_table(
        &c,
        &["get", "endpoints", "kubernetes"],
        "NAME ENDPOINTS AGE\nkubernetes 192.168.56.10:6443 <AGE>",
    );
    assert_eq!(
        table(&c.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=kubernetes"
        ])),
        "NAME ADDRESSTYPE PORTS ENDPOINTS AGE\nkubernetes IPv4 6443 192.168.56.10 <AGE>"
    );

    // Deleting the hand-written Endpoints removes the mirror.
    c.ok(&["delete", "endpoints", "ext"]);
    let ok = eventually(WAIT, || {
        let out = c.kubectl(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=ext",
        ]);
        String::from_utf8_lossy(&out.stderr).trim() == "No resources found in default namespace."
    });
    assert!(ok, "mirrored slice left behind");
}
