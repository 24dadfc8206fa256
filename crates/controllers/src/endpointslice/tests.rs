use super::*;
use serde_json::{json, Value};

fn svc(v: Value) -> Service {
    typed(&v).expect("service")
}

fn web2() -> Value {
    json!({
        "metadata": {"name": "web2", "namespace": "default", "uid": "svc-uid", "creationTimestamp": "2026-11-23T07:59:12Z", "labels": {"app": "web"}},
        "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.20", "ipFamilies": ["IPv4"],
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]},
    })
}

fn pod(name: &str, ip: &str, ready: bool) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": "node1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
    })
}

fn pods(vs: &[Value]) -> Vec<Pod> {
    vs.iter().map(|v| typed(v).expect("pod")).collect()
}

fn node1() -> BTreeMap<String, BTreeMap<String, String>> {
    [("node1".to_string(), BTreeMap::new())].into()
}

fn plan(s: &Service, ps: &[Pod], existing: &[EndpointSlice]) -> SlicePlan {
    plan_with(s, ps, existing, 100)
}

fn plan_with(s: &Service, ps: &[Pod], existing: &[EndpointSlice], max: usize) -> SlicePlan {
    let nodes = node1();
    reconcile_slices(&SliceInput {
        service: s,
        pods: ps,
        nodes: &nodes,
        existing,
        trigger_time: "2026-11-23T07:59:12Z".parse().ok(),
        max_per_slice: max,
    })
}

fn js(slices: &[EndpointSlice]) -> Vec<Value> {
    slices
        .iter()
        .map(|s| serde_json::to_value(s).expect("json"))
        .collect()
}

fn ep(name: &str, ip: &str, ready: bool, serving: bool, terminating: bool) -> Value {
    json!({
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": format!("uid-{name}")},
        "nodeName": "node1",
    })
}

fn meta() -> Value {
    json!({
        "generateName": "web2-",
        "namespace": "default",
        "labels": {"app": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "kubernetes.io/service-name": "web2"},
        "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-23T07:59:12Z"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web2", "uid": "svc-uid", "controller": true, "blockOwnerDeletion": true}],
    })
}

/// What the controller wrote, as it reads back from the store.
fn stored(mut s: EndpointSlice, name: &str) -> EndpointSlice {
    s.metadata.name = Some(name.into());
    s.metadata.resource_version = Some("10".into());
    s
}

#[test]
fn three_ready_pods_like_the_reference_cluster() {
    let p = plan(
        &svc(web2()),
        &pods(&[
            pod("web-c", "10.244.0.13", true),
            pod("web-a", "10.244.0.11", true),
            pod("web-b", "10.244.0.12", true),
        ]),
        &[],
    );
    assert!(p.skipped.is_empty());
    assert!(p.changes.update.is_empty() && p.changes.delete.is_empty());
    assert_eq!(
        js(&p.changes.create),
        vec![json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(),
            "addressType": "IPv4",
            "endpoints": [
                ep("web-a", "10.244.0.11", true, true, false),
                ep("web-b", "10.244.0.12", true, true, false),
                ep("web-c", "10.244.0.13", true, true, false),
            ],
            "ports": [{"name": "", "protocol": "TCP", "port": 80}],
        })]
    );
}

#[test]
fn no_pods_gives_one_placeholder_and_keeps_it() {
    let s = svc(web2());
    let p = plan(&s, &[], &[]);
    assert_eq!(
        js(&p.changes.create),
        vec![json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(), "addressType": "IPv4", "endpoints": [], "ports": [],
        })]
    );
    // Read back with `ports: null` (as Go stores it): still the placeholder.
    let mut placeholder = stored(p.changes.create[0].clone(), "web2-abcde");
    placeholder.ports = None;
    let again = plan(&s, &[], &[placeholder]);
    assert!(again.changes.is_empty(), "{:?}", again.changes);
}

#[test]
fn first_pod_reuses_the_placeholder() {
    let s = svc(web2());
    let placeholder = stored(plan(&s, &[], &[]).changes.create[0].clone(), "web2-abcde");
    let p = plan(
        &s,
        &pods(&[pod("web-a", "10.244.0.11", true)]),
        &[placeholder],
    );
    assert!(p.changes.create.is_empty() && p.changes.delete.is_empty());
    let mut want = meta();
    want["name"] = json!("web2-abcde");
    assert_eq!(
        js(&p.changes.update),
        vec![json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": want, "addressType": "IPv4",
            "endpoints": [ep("web-a", "10.244.0.11", true, true, false)],
            "ports": [{"name": "", "protocol": "TCP", "port": 80}],
        })]
    );
}

#[test]
fn last_pod_gone_turns_the_slice_back_into_the_placeholder() {
    let s = svc(web2());
    let first = plan(&s, &pods(&[pod("web-a", "10.244.0.11", true)]), &[]);
    let slice = stored(first.changes.create[0].clone(), "web2-abcde");
    let p = plan(&s, &[], &[slice]);
    assert!(p.changes.create.is_empty() && p.changes.delete.is_empty());
    assert_eq!(p.changes.update.len(), 1);
    assert_eq!(
        p.changes.update[0].metadata.name.as_deref(),
        Some("web2-abcde")
    );
    assert!(p.changes.update[0].endpoints.is_empty());
    assert_eq!(p.changes.update[0].ports, Some(vec![]));
}

#[test]
fn conditions_follow_readiness_and_termination() {
    let mut terminating = pod("web-t", "10.244.0.14", true);
    terminating["metadata"]["deletionTimestamp"] = json!("2026-11-23T08:00:00Z");
    let mut done = pod("web-d", "10.244.0.15", false);
    done["status"]["phase"] = json!("Succeeded");
    let ps = pods(&[pod("web-n", "10.244.0.13", false), terminating, done]);
    let p = plan(&svc(web2()), &ps, &[]);
    assert_eq!(
        js(&p.changes.create)[0]["endpoints"],
        json!([
            ep("web-n", "10.244.0.13", false, false, false),
            ep("web-t", "10.244.0.14", false, true, true),
        ])
    );
    // publishNotReadyAddresses: everything listed is ready.
    let mut s = web2();
    s["spec"]["publishNotReadyAddresses"] = json!(true);
    let p = plan(&svc(s), &ps, &[]);
    assert_eq!(
        js(&p.changes.create)[0]["endpoints"],
        json!([
            ep("web-n", "10.244.0.13", true, false, false),
            ep("web-t", "10.244.0.14", true, true, true),
        ])
    );
}

#[test]
fn readiness_change_updates_in_place() {
    let s = svc(web2());
    let ps = pods(&[
        pod("web-a", "10.244.0.11", true),
        pod("web-b", "10.244.0.12", true),
    ]);
    let slice = stored(plan(&s, &ps, &[]).changes.create[0].clone(), "web2-abcde");
    assert!(plan(&s, &ps, std::slice::from_ref(&slice))
        .changes
        .is_empty());
    let ps = pods(&[
        pod("web-a", "10.244.0.11", true),
        pod("web-b", "10.244.0.12", false),
    ]);
    let p = plan(&s, &ps, &[slice]);
    assert_eq!(
        js(&p.changes.update)[0]["endpoints"],
        json!([
            ep("web-a", "10.244.0.11", true, true, false),
            ep("web-b", "10.244.0.12", false, false, false),
        ])
    );
    assert_eq!(
        p.changes.update[0].metadata.resource_version.as_deref(),
        Some("10")
    );
}

fn many(n: usize, base: usize) -> Vec<Value> {
    (base..base + n)
        // Three-digit octets: address order is pod order.
        .map(|k| {
            pod(
                &format!("p{k:04}"),
                &format!("10.{}.{}.1", k / 100 + 100, k % 100 + 100),
                true,
            )
        })
        .collect()
}

fn sizes(slices: &[EndpointSlice]) -> Vec<usize> {
    slices.iter().map(|s| s.endpoints.len()).collect()
}

#[test]
fn at_most_100_endpoints_per_slice() {
    let p = plan(&svc(web2()), &pods(&many(250, 0)), &[]);
    assert_eq!(sizes(&p.changes.create), vec![100, 100, 50]);
}

#[test]
fn updates_keep_existing_slices_and_fill_them() {
    let s = svc(web2());
    let all = many(250, 0);
    let created = plan(&s, &pods(&all), &[]).changes.create;
    let existing: Vec<EndpointSlice> = created
        .into_iter()
        .enumerate()
        .map(|(i, c)| stored(c, &format!("web2-{i}")))
        .collect();
    // 10 pods of the first slice go, 5 new ones come.
    let mut next: Vec<Value> = all[10..].to_vec();
    next.extend(many(5, 1000));
    let p = plan(&s, &pods(&next), &existing);
    assert!(p.changes.create.is_empty() && p.changes.delete.is_empty());
    assert_eq!(p.changes.update.len(), 1);
    assert_eq!(p.changes.update[0].metadata.name.as_deref(), Some("web2-0"));
    assert_eq!(p.changes.update[0].endpoints.len(), 95);

    // New endpoints that fit into an unchanged slice go there.
    let mut more = all.clone();
    more.extend(many(30, 1000));
    let p = plan(&s, &pods(&more), &existing);
    assert!(p.changes.create.is_empty() && p.changes.delete.is_empty());
    assert_eq!(sizes(&p.changes.update), vec![80]);
    assert_eq!(p.changes.update[0].metadata.name.as_deref(), Some("web2-2"));

    // More than fits: a new slice.
    let mut lots = all;
    lots.extend(many(120, 1000));
    let p = plan(&s, &pods(&lots), &existing);
    assert_eq!(sizes(&p.changes.create), vec![100]);
    assert_eq!(sizes(&p.changes.update), vec![70]);
}

#[test]
fn a_slice_whose_endpoints_all_left_is_deleted() {
    let s = svc(web2());
    let all = many(150, 0);
    let existing: Vec<EndpointSlice> = plan(&s, &pods(&all), &[])
        .changes
        .create
        .into_iter()
        .enumerate()
        .map(|(i, c)| stored(c, &format!("web2-{i}")))
        .collect();
    let p = plan(&s, &pods(&all[100..]), &existing);
    assert!(p.changes.create.is_empty() && p.changes.update.is_empty());
    assert_eq!(
        p.changes.delete.iter().map(name_of).collect::<Vec<_>>(),
        vec!["web2-0"]
    );
}

#[test]
fn named_target_ports_resolve_per_pod() {
    let s = svc(json!({
        "metadata": {"name": "web2", "namespace": "default", "uid": "svc-uid"},
        "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.20", "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]},
    }));
    let mut other = pod("web-b", "10.244.0.12", true);
    other["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(9090);
    let mut none = pod("web-c", "10.244.0.13", true);
    none["spec"]["containers"][0]["ports"] = json!([]);
    let p = plan(
        &s,
        &pods(&[pod("web-a", "10.244.0.11", true), other, none]),
        &[],
    );
    let got: Vec<(Value, Vec<String>)> = p
        .changes
        .create
        .iter()
        .map(|s| {
            (
                serde_json::to_value(&s.ports).expect("json"),
                s.endpoints
                    .iter()
                    .flat_map(|e| e.addresses.clone())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            // A pod without the port still gets an endpoint, with no ports.
            (json!([]), vec!["10.244.0.13".to_string()]),
            (
                json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
                vec!["10.244.0.11".to_string()]
            ),
            (
                json!([{"name": "http", "port": 9090, "protocol": "TCP"}]),
                vec!["10.244.0.12".to_string()]
            ),
        ]
    );
}

#[test]
fn headless_services_label_slices_and_set_hostnames() {
    let s = svc(json!({
        "metadata": {"name": "web-headless", "namespace": "default", "uid": "u"},
        "spec": {"selector": {"app": "web"}, "clusterIP": "None", "ipFamilies": ["IPv4"],
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]},
    }));
    let mut p1 = pod("web-a", "10.244.0.11", true);
    p1["spec"]["hostname"] = json!("web-a");
    p1["spec"]["subdomain"] = json!("web-headless");
    let p = plan(&s, &pods(&[p1]), &[]);
    let got = &js(&p.changes.create)[0];
    assert_eq!(
        got["metadata"]["labels"],
        json!({"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
               "kubernetes.io/service-name": "web-headless", "service.kubernetes.io/headless": ""})
    );
    assert_eq!(got["endpoints"][0]["hostname"], json!("web-a"));
}

#[test]
fn headless_without_ports_or_families() {
    let s = svc(json!({
        "metadata": {"name": "h", "namespace": "default", "uid": "u"},
        "spec": {"selector": {"app": "web"}, "clusterIP": "None"},
    }));
    let p = plan(&s, &pods(&[pod("web-a", "10.244.0.11", true)]), &[]);
    // One slice per family; the IPv6 one is a placeholder.
    let got: Vec<(String, usize, Value)> = p
        .changes
        .create
        .iter()
        .map(|s| {
            (
                s.address_type.clone(),
                s.endpoints.len(),
                serde_json::to_value(&s.ports).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("IPv4".to_string(), 1, json!([])),
            ("IPv6".to_string(), 0, json!([]))
        ]
    );
}

#[test]
fn unknown_nodes_skip_pods_and_zones_are_copied() {
    let s = svc(web2());
    let mut lost = pod("web-x", "10.244.0.20", true);
    lost["spec"]["nodeName"] = json!("ghost");
    let mut nodes = node1();
    nodes.insert(
        "node1".into(),
        [(LABEL_ZONE.to_string(), "zone-a".to_string())].into(),
    );
    let ps = pods(&[pod("web-a", "10.244.0.11", true), lost]);
    let p = reconcile_slices(&SliceInput {
        service: &s,
        pods: &ps,
        nodes: &nodes,
        existing: &[],
        trigger_time: None,
        max_per_slice: 100,
    });
    assert_eq!(
        p.skipped,
        vec!["skipping Pod web-x for Service default/web2: Node ghost Not Found"]
    );
    let got = &js(&p.changes.create)[0];
    assert_eq!(got["endpoints"].as_array().map(Vec::len), Some(1));
    assert_eq!(got["endpoints"][0]["zone"], json!("zone-a"));
    // Without a trigger time there is no annotation.
    assert_eq!(got["metadata"].get("annotations"), None);
}

#[test]
fn service_label_changes_reach_the_slices() {
    let s = svc(web2());
    let ps = pods(&[pod("web-a", "10.244.0.11", true)]);
    let slice = stored(plan(&s, &ps, &[]).changes.create[0].clone(), "web2-abcde");
    let mut relabeled = web2();
    relabeled["metadata"]["labels"] = json!({"tier": "front"});
    let p = plan(&svc(relabeled), &ps, &[slice]);
    assert_eq!(
        js(&p.changes.update)[0]["metadata"]["labels"],
        json!({"tier": "front", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "kubernetes.io/service-name": "web2"})
    );
}

#[test]
fn slices_of_an_older_service_are_replaced_not_reused() {
    let s = svc(web2());
    let ps = pods(&[pod("web-a", "10.244.0.11", true)]);
    let mut old = stored(plan(&s, &ps, &[]).changes.create[0].clone(), "web2-old");
    old.metadata.owner_references = Some(vec![controller_ref("Service", "web2", "previous-uid")]);
    let p = plan(&s, &ps, &[old]);
    assert_eq!(p.changes.create.len(), 1);
    assert!(p.changes.update.is_empty());
    assert_eq!(
        p.changes.delete.iter().map(name_of).collect::<Vec<_>>(),
        vec!["web2-old"]
    );
}

#[test]
fn a_deleting_service_gets_no_new_slices() {
    let mut s = web2();
    s["metadata"]["deletionTimestamp"] = json!("2026-11-23T08:00:00Z");
    let p = plan(&svc(s), &pods(&[pod("web-a", "10.244.0.11", true)]), &[]);
    assert!(p.changes.is_empty());
}

#[test]
fn slice_to_fill_picks_the_closest_fit() {
    let mut slices = BTreeMap::new();
    for (name, n) in [("a", 50), ("b", 90), ("c", 97)] {
        let s = EndpointSlice {
            endpoints: vec![Endpoint::default(); n],
            ..Default::default()
        };
        slices.insert(name.to_string(), s);
    }
    let names: BTreeSet<String> = slices.keys().cloned().collect();
    assert_eq!(slice_to_fill(&names, &slices, 5, 100), Some("b".into()));
    assert_eq!(slice_to_fill(&names, &slices, 3, 100), Some("c".into()));
    assert_eq!(slice_to_fill(&names, &slices, 40, 100), Some("a".into()));
    assert_eq!(slice_to_fill(&names, &slices, 60, 100), None);
}

#[test]
fn port_keys_ignore_order_and_defaults() {
    let a = vec![
        EndpointPort {
            name: Some("a".into()),
            port: Some(1),
            protocol: Some("TCP".into()),
            app_protocol: None,
        },
        EndpointPort {
            name: Some("b".into()),
            port: Some(2),
            protocol: None,
            app_protocol: None,
        },
    ];
    let b: Vec<EndpointPort> = a.iter().rev().cloned().collect();
    assert_eq!(port_key(Some(&a)), port_key(Some(&b)));
    assert_eq!(port_key(Some(&a)), "a/1/TCP/,b/2/TCP/");
    assert_eq!(port_key(None), port_key(Some(&[])));
}
