use super::*;
use serde_json::{json, Value};

fn endpoints(v: Value) -> Endpoints {
    typed(&v).expect("endpoints")
}

fn ext(subsets: Value) -> Endpoints {
    endpoints(json!({
        "metadata": {"name": "ext", "namespace": "default", "uid": "ep-uid",
            "labels": {"team": "a"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "x",
                "endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T00:00:00Z"}},
        "subsets": subsets,
    }))
}

fn js(slices: &[EndpointSlice]) -> Vec<Value> {
    slices
        .iter()
        .map(|s| serde_json::to_value(s).expect("json"))
        .collect()
}

fn stored(mut s: EndpointSlice, name: &str) -> EndpointSlice {
    s.metadata.name = Some(name.into());
    s.metadata.generate_name = Some("ext-".into());
    s.metadata.resource_version = Some("5".into());
    s
}

fn one_subset() -> Value {
    json!([{
        "addresses": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11", "nodeName": "node1", "hostname": "b"}],
        "notReadyAddresses": [{"ip": "192.0.2.12", "targetRef": {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u"}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }])
}

#[test]
fn mirrors_a_hand_written_endpoints() {
    let p = reconcile_mirror(&ext(one_subset()), &[], 1000);
    assert!(p.changes.update.is_empty() && p.changes.delete.is_empty());
    assert_eq!((p.invalid, p.skipped), (0, 0));
    assert_eq!(
        js(&p.changes.create),
        vec![json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {
                "generateName": "ext-", "namespace": "default",
                "labels": {"team": "a", "kubernetes.io/service-name": "ext",
                    "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io"},
                "annotations": {"note": "x"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Endpoints", "name": "ext", "uid": "ep-uid", "controller": true, "blockOwnerDeletion": true}],
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["192.0.2.10"], "conditions": {"ready": true}},
                {"addresses": ["192.0.2.11"], "conditions": {"ready": true}, "hostname": "b", "nodeName": "node1"},
                {"addresses": ["192.0.2.12"], "conditions": {"ready": false},
                    "targetRef": {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u"}},
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        })]
    );
}

#[test]
fn unchanged_mirror_is_left_alone_and_changes_update_it() {
    let e = ext(one_subset());
    let slice = stored(
        reconcile_mirror(&e, &[], 1000).changes.create[0].clone(),
        "ext-abcde",
    );
    let again = reconcile_mirror(&e, std::slice::from_ref(&slice), 1000);
    assert!(again.changes.is_empty(), "{:?}", again.changes);

    let moved = ext(json!([{
        "addresses": [{"ip": "192.0.2.20"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }]));
    let p = reconcile_mirror(&moved, std::slice::from_ref(&slice), 1000);
    assert!(p.changes.create.is_empty() && p.changes.delete.is_empty());
    assert_eq!(
        p.changes.update[0].metadata.name.as_deref(),
        Some("ext-abcde")
    );
    assert_eq!(
        p.changes.update[0].endpoints[0].addresses,
        vec!["192.0.2.20"]
    );

    // A label change on the Endpoints is mirrored too.
    let mut relabeled = e.clone();
    relabeled.metadata.labels = Some([("team".to_string(), "b".to_string())].into());
    let p = reconcile_mirror(&relabeled, &[slice], 1000);
    assert_eq!(p.changes.update.len(), 1);
}

#[test]
fn new_ports_reuse_the_old_slice() {
    let e = ext(one_subset());
    let slice = stored(
        reconcile_mirror(&e, &[], 1000).changes.create[0].clone(),
        "ext-abcde",
    );
    let other_port = ext(json!([{
        "addresses": [{"ip": "192.0.2.10"}],
        "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],
    }]));
    let p = reconcile_mirror(&other_port, &[slice], 1000);
    assert!(p.changes.create.is_empty() && p.changes.delete.is_empty());
    assert_eq!(
        p.changes.update[0].metadata.name.as_deref(),
        Some("ext-abcde")
    );
    assert_eq!(
        serde_json::to_value(&p.changes.update[0].ports).expect("json"),
        json!([{"name": "http", "port": 9090, "protocol": "TCP"}])
    );
}

#[test]
fn families_and_port_sets_get_their_own_slices() {
    let e = ext(json!([
        {"addresses": [{"ip": "192.0.2.10"}, {"ip": "2001:db8::0:1"}], "ports": [{"port": 80, "protocol": "TCP"}]},
        {"addresses": [{"ip": "192.0.2.11"}], "ports": [{"port": 53, "protocol": "UDP"}]},
    ]));
    let p = reconcile_mirror(&e, &[], 1000);
    let got: Vec<(String, Vec<String>, Value)> = p
        .changes
        .create
        .iter()
        .map(|s| {
            (
                s.address_type.clone(),
                s.endpoints
                    .iter()
                    .flat_map(|e| e.addresses.clone())
                    .collect(),
                serde_json::to_value(&s.ports).expect("json"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "IPv4".into(),
                vec!["192.0.2.11".into()],
                json!([{"name": "", "port": 53, "protocol": "UDP"}])
            ),
            (
                "IPv4".into(),
                vec!["192.0.2.10".into()],
                json!([{"name": "", "port": 80, "protocol": "TCP"}])
            ),
            (
                "IPv6".into(),
                vec!["2001:db8::1".into()],
                json!([{"name": "", "port": 80, "protocol": "TCP"}])
            ),
        ]
    );
}

#[test]
fn emptied_endpoints_delete_their_slices() {
    let e = ext(one_subset());
    let slice = stored(
        reconcile_mirror(&e, &[], 1000).changes.create[0].clone(),
        "ext-abcde",
    );
    let p = reconcile_mirror(&ext(json!(null)), std::slice::from_ref(&slice), 1000);
    assert_eq!(p.changes.delete.len(), 1);
    assert!(p.changes.create.is_empty() && p.changes.update.is_empty());
    let p = reconcile_mirror(
        &ext(json!([{"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}])),
        &[slice],
        1000,
    );
    assert_eq!(p.changes.delete.len(), 1);
}

#[test]
fn invalid_and_excess_addresses_are_skipped() {
    let e = ext(json!([{
        "addresses": [{"ip": "not-an-ip"}, {"ip": "192.0.2.1"}, {"ip": "192.0.2.2"}, {"ip": "192.0.2.3"}],
        "ports": [{"port": 80, "protocol": "TCP"}],
    }]));
    let p = reconcile_mirror(&e, &[], 2);
    assert_eq!((p.invalid, p.skipped), (1, 2));
    assert_eq!(p.changes.create[0].endpoints.len(), 2);
}

#[test]
fn which_endpoints_are_mirrored() {
    assert!(should_mirror(&ext(json!(null))));
    let skip = endpoints(
        json!({"metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}}),
    );
    assert!(!should_mirror(&skip));
    let leader = endpoints(
        json!({"metadata": {"name": "x", "annotations": {"control-plane.alpha.kubernetes.io/leader": "{}"}}}),
    );
    assert!(!should_mirror(&leader));
    let with_selector: Service = typed(&json!({"spec": {"selector": {"app": "x"}}})).expect("svc");
    let without: Service = typed(&json!({"spec": {"ports": [{"port": 80}]}})).expect("svc");
    assert!(!service_wants_mirror(Some(&with_selector)));
    assert!(service_wants_mirror(Some(&without)));
    assert!(!service_wants_mirror(None));
}

#[test]
fn a_deleting_endpoints_gets_no_new_slices() {
    let mut e = ext(one_subset());
    e.metadata.deletion_timestamp = typed(&json!("2026-01-01T00:00:00Z"));
    assert!(reconcile_mirror(&e, &[], 1000).changes.is_empty());
}
