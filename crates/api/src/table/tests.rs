//! Whole Tables checked against kube-apiserver v1.32 captures
//! (testdata/ holds copies of /work/shared/reference/api). AGE cells depend
//! on the clock, so `now` is the capture's Date header plus half a second.

use super::*;
use crate::resource::lookup;
use serde_json::json;

fn load(name: &str) -> Value {
    let text = match name {
        "table-services" => include_str!("testdata/table-services.json"),
        "table-pods" => include_str!("testdata/table-pods.json"),
        "table-endpoints" => include_str!("testdata/table-endpoints.json"),
        "table-endpointslices" => include_str!("testdata/table-endpointslices.json"),
        "table-deployments" => include_str!("testdata/table-deployments.json"),
        "table-service-web" => include_str!("testdata/table-service-web-includeObject-Object.json"),
        "list-services" => include_str!("testdata/list-services.json"),
        "list-endpoints" => include_str!("testdata/list-endpoints.json"),
        "list-endpointslices" => include_str!("testdata/list-endpointslices.json"),
        "list-namespaces" => include_str!("testdata/list-namespaces.json"),
        "list-nodes" => include_str!("testdata/list-nodes.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().unwrap().clone()
}

/// Our Table with the capture's resourceVersion filled in, as the caller does.
fn ours(
    resource: &ResourceInfo,
    objects: &[Value],
    now: &str,
    rv: &str,
    include: IncludeObject,
) -> Value {
    let mut t = table(resource, objects, time(now), include);
    t["metadata"]["resourceVersion"] = rv.into();
    t
}

fn assert_same_table(got: &Value, want: &Value) {
    assert_eq!(got["columnDefinitions"], want["columnDefinitions"]);
    let (g, w) = (
        got["rows"].as_array().unwrap(),
        want["rows"].as_array().unwrap(),
    );
    assert_eq!(g.len(), w.len());
    for (g, w) in g.iter().zip(w) {
        assert_eq!(g["cells"], w["cells"], "cells of {}", w["cells"][0]);
    }
    assert_eq!(got, want);
    // Field order matters to byte-for-byte clients too.
    assert_eq!(got.to_string(), want.to_string());
}

#[test]
fn services_match_the_capture() {
    let svc = lookup("", "services").unwrap();
    let got = ours(
        svc,
        &items(&load("list-services")),
        "2026-11-23T07:59:42.5Z",
        "589",
        IncludeObject::Metadata,
    );
    assert_same_table(&got, &load("table-services"));
}

#[test]
fn service_with_include_object_matches_the_capture() {
    let svc = lookup("", "services").unwrap();
    let web2: Vec<Value> = items(&load("list-services"))
        .into_iter()
        .filter(|s| s["metadata"]["name"] == "web2")
        .collect();
    let got = ours(
        svc,
        &web2,
        "2026-11-23T07:59:43.5Z",
        "329",
        IncludeObject::Object,
    );
    assert_same_table(&got, &load("table-service-web"));
}

#[test]
fn endpoints_match_the_capture() {
    let ep = lookup("", "endpoints").unwrap();
    let got = ours(
        ep,
        &items(&load("list-endpoints")),
        "2026-11-23T07:59:43.5Z",
        "589",
        IncludeObject::Metadata,
    );
    assert_same_table(&got, &load("table-endpoints"));
}

#[test]
fn endpoint_slices_match_the_capture() {
    let es = lookup("discovery.k8s.io", "endpointslices").unwrap();
    let got = ours(
        es,
        &items(&load("list-endpointslices")),
        "2026-11-23T07:59:43.5Z",
        "589",
        IncludeObject::Metadata,
    );
    assert_same_table(&got, &load("table-endpointslices"));
}

/// The capture holds only metadata for pods; give each the spec and status
/// that produce its captured cells (no kubelet ran: status was set by hand).
fn pod_from(row: &Value) -> Value {
    let meta = row["object"]["metadata"].clone();
    let cells = &row["cells"];
    if cells[2] == "Pending" {
        return json!({
            "metadata": meta,
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort"}
        });
    }
    json!({
        "metadata": meta,
        "spec": {"nodeName": "node1", "containers": [{"name": "nginx", "image": "nginx:1.26"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "podIP": cells[5],
            "podIPs": [{"ip": cells[5]}],
            "containerStatuses": [{
                "name": "nginx", "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": "2026-11-23T07:59:00Z"}}
            }]
        }
    })
}

#[test]
fn pods_match_the_capture() {
    let want = load("table-pods");
    let pods: Vec<Value> = want["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(pod_from)
        .collect();
    let got = ours(
        lookup("", "pods").unwrap(),
        &pods,
        "2026-11-23T07:59:43.5Z",
        "589",
        IncludeObject::Metadata,
    );
    assert_same_table(&got, &want);
}

#[test]
fn deployments_match_the_capture() {
    let want = load("table-deployments");
    let deploy = json!({
        "metadata": want["rows"][0]["object"]["metadata"],
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]}}
        },
        "status": {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3, "unavailableReplicas": 1}
    });
    let got = ours(
        lookup("apps", "deployments").unwrap(),
        &[deploy],
        "2026-11-23T07:59:43.5Z",
        "589",
        IncludeObject::Metadata,
    );
    assert_same_table(&got, &want);
}

fn cells(t: &Value) -> Vec<Value> {
    t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"].clone())
        .collect()
}

#[test]
fn namespaces_and_nodes_from_the_captured_lists() {
    let now = time("2026-11-23T07:59:42.5Z");
    let ns = table(
        lookup("", "namespaces").unwrap(),
        &items(&load("list-namespaces")),
        now,
        IncludeObject::Metadata,
    );
    let names: Vec<&str> = ns["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Status", "Age"]);
    assert_eq!(
        cells(&ns),
        vec![
            json!(["default", "Active", "85s"]),
            json!(["kube-node-lease", "Active", "85s"]),
            json!(["kube-public", "Active", "85s"]),
            json!(["kube-system", "Active", "85s"]),
        ]
    );
    let nodes = table(
        lookup("", "nodes").unwrap(),
        &items(&load("list-nodes")),
        now,
        IncludeObject::Metadata,
    );
    let defs: Vec<(String, i64)> = nodes["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["priority"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = [
        ("Name", 0),
        ("Status", 0),
        ("Roles", 0),
        ("Age", 0),
        ("Version", 0),
        ("Internal-IP", 1),
        ("External-IP", 1),
        ("OS-Image", 1),
        ("Kernel-Version", 1),
        ("Container-Runtime", 1),
    ]
    .iter()
    .map(|(n, p)| (n.to_string(), *p))
    .collect();
    assert_eq!(defs, want);
    assert_eq!(
        cells(&nodes),
        vec![json!([
            "node1",
            "Ready",
            "control-plane",
            "62s",
            "v1.32.13",
            "192.168.56.10",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0",
            "containerd://1.7.24"
        ])]
    );
}

#[test]
fn include_object_variants() {
    let svc = lookup("", "services").unwrap();
    let obj =
        json!({"metadata": {"name": "a", "namespace": "default"}, "spec": {"type": "ClusterIP"}});
    let now = time("2026-11-23T08:00:00Z");
    let none = table(svc, std::slice::from_ref(&obj), now, IncludeObject::None);
    assert_eq!(none["rows"][0]["object"], Value::Null);
    assert_eq!(
        none["rows"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["cells", "object"]
    );
    let meta = table(
        svc,
        std::slice::from_ref(&obj),
        now,
        IncludeObject::Metadata,
    );
    assert_eq!(
        meta["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a", "namespace": "default"}})
    );
    let full = table(
        lookup("apps", "deployments").unwrap(),
        &[obj],
        now,
        IncludeObject::Object,
    );
    assert_eq!(
        full["rows"][0]["object"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["kind", "apiVersion", "metadata", "spec"]
    );
    assert_eq!(full["rows"][0]["object"]["apiVersion"], "apps/v1");

    assert_eq!(IncludeObject::parse(""), Ok(IncludeObject::Metadata));
    assert_eq!(
        IncludeObject::parse("Metadata"),
        Ok(IncludeObject::Metadata)
    );
    assert_eq!(IncludeObject::parse("None"), Ok(IncludeObject::None));
    assert_eq!(IncludeObject::parse("Object"), Ok(IncludeObject::Object));
    assert_eq!(
        IncludeObject::parse("metadata").err().as_deref(),
        Some("Unable to convert to Table as requested: includeObject: Invalid value: \"metadata\": must be 'Metadata', 'Object', 'None', or empty")
    );
}

#[test]
fn empty_lists_and_no_headers() {
    let svc = lookup("", "services").unwrap();
    let now = time("2026-11-23T08:00:00Z");
    let t = table(svc, &[], now, IncludeObject::Metadata);
    assert_eq!(t["rows"], json!([]));
    assert_eq!(
        t.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "kind",
            "apiVersion",
            "metadata",
            "columnDefinitions",
            "rows"
        ]
    );
    let opts = TableOptions {
        include_object: IncludeObject::None,
        no_headers: true,
    };
    let t = table_with(svc, &[], now, &opts);
    assert_eq!(t["columnDefinitions"], Value::Null);
}

#[test]
fn column_sets_per_kind() {
    let names = |group: &str, plural: &str| -> Vec<(&'static str, u8)> {
        columns(lookup(group, plural).unwrap())
            .iter()
            .map(|c| (c.name, c.priority))
            .collect()
    };
    assert_eq!(
        names("", "configmaps"),
        [("Name", 0), ("Data", 0), ("Age", 0)]
    );
    assert_eq!(
        names("", "secrets"),
        [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]
    );
    assert_eq!(
        names("", "serviceaccounts"),
        [("Name", 0), ("Secrets", 0), ("Age", 0)]
    );
    assert_eq!(
        names("coordination.k8s.io", "leases"),
        [("Name", 0), ("Holder", 0), ("Age", 0)]
    );
    assert_eq!(
        names("apps", "replicasets"),
        [
            ("Name", 0),
            ("Desired", 0),
            ("Current", 0),
            ("Ready", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
    let events = [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("Name", 1),
    ];
    assert_eq!(names("", "events"), events);
    assert_eq!(names("events.k8s.io", "events"), events);
    assert_eq!(names("", "bindings"), [("Name", 0), ("Created At", 0)]);
    let rs = columns(lookup("apps", "replicasets").unwrap());
    assert_eq!(rs[1].kind, "integer");
    assert_eq!(rs[1].description, "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller");
    let ev = columns(lookup("", "events").unwrap());
    assert!(ev[4]
        .description
        .contains("desiredState.manifest.containers[2]"));
    assert_eq!(ev[9].format, "name");
    assert_eq!(columns(lookup("", "bindings").unwrap())[1].kind, "date");
}

#[test]
fn simple_kinds_cells() {
    let now = time("2026-11-23T08:00:00Z");
    let created = "2026-11-23T07:00:00Z";
    let row = |group: &str, plural: &str, obj: Value| {
        cells(&table(
            lookup(group, plural).unwrap(),
            &[obj],
            now,
            IncludeObject::None,
        ))[0]
            .clone()
    };
    assert_eq!(
        row(
            "",
            "configmaps",
            json!({"metadata": {"name": "cfg", "creationTimestamp": created}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}})
        ),
        json!(["cfg", 3, "60m"])
    );
    assert_eq!(
        row(
            "",
            "secrets",
            json!({"metadata": {"name": "s", "creationTimestamp": created}, "type": "Opaque", "data": {"a": "MQ=="}})
        ),
        json!(["s", "Opaque", 1, "60m"])
    );
    assert_eq!(
        row(
            "",
            "serviceaccounts",
            json!({"metadata": {"name": "default", "creationTimestamp": created}})
        ),
        json!(["default", 0, "60m"])
    );
    assert_eq!(
        row(
            "coordination.k8s.io",
            "leases",
            json!({"metadata": {"name": "node1", "creationTimestamp": created}, "spec": {"holderIdentity": "node1"}})
        ),
        json!(["node1", "node1", "60m"])
    );
    assert_eq!(
        row(
            "coordination.k8s.io",
            "leases",
            json!({"metadata": {"name": "x", "creationTimestamp": created}, "spec": {}})
        ),
        json!(["x", "", "60m"])
    );
    assert_eq!(
        row(
            "",
            "bindings",
            json!({"metadata": {"name": "b", "creationTimestamp": created}})
        ),
        json!(["b", "2026-11-23T07:00:00Z"])
    );
    assert_eq!(
        row("", "bindings", json!({"metadata": {"name": "b"}})),
        json!(["b", "0001-01-01T00:00:00Z"])
    );
}
