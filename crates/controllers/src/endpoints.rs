//! The Endpoints controller, like kube-controller-manager's `endpoint`
//! controller: for every Service with a selector, an Endpoints object of
//! the same name lists the selected pods' addresses (ready ones under
//! `addresses`, others under `notReadyAddresses`) for each Service port,
//! repacked into the canonical subset layout and truncated to 1000
//! addresses. Services without a selector keep the Endpoints users write.

use crate::endpoint_controllers::Ctx;
use crate::endpointutil::*;
use crate::workqueue::SyncResult;
use k1s_api::k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use k1s_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k1s_api::k8s_openapi::jiff::Timestamp;
use k1s_apiserver::DeleteOptions;
use std::collections::{BTreeMap, HashMap};

/// What the controller writes for one Service.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointsWrite {
    Create(Endpoints),
    Update(Endpoints),
}

/// One address offering one port (or no port: headless without ports).
struct Entry {
    address: EndpointAddress,
    port: Option<EndpointPort>,
    ready: bool,
}

/// The address of `pod` in the Service's primary IP family.
fn pod_address(svc: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let ips = pod_ips(pod);
    let is_v6 = |ip: &str| parse_ip(ip).is_some_and(|a| a.is_ipv6());
    // Headless without families: the family of the pod's first IP.
    let want_v6 = primary_family_v6(svc).unwrap_or_else(|| ips.first().is_some_and(|ip| is_v6(ip)));
    let ip = ips.into_iter().find(|ip| is_v6(ip) == want_v6)?;
    let node = node_name(pod);
    Some(EndpointAddress {
        ip,
        node_name: (!node.is_empty()).then(|| node.to_string()),
        target_ref: Some(pod_ref(pod)),
        hostname: if should_set_hostname(pod, svc) {
            hostname(pod)
        } else {
            None
        },
    })
}

/// The subsets the selected `pods` give `svc`, in canonical form.
pub fn desired_subsets(svc: &Service, pods: &[Pod]) -> Vec<EndpointSubset> {
    let tolerate_unready = publish_not_ready(svc);
    let mut entries = Vec::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let Some(address) = pod_address(svc, pod) else {
            continue;
        };
        let ready = tolerate_unready || is_pod_ready(pod);
        let ports = service_ports(svc);
        if ports.is_empty() {
            // Only a headless Service may go without ports.
            if cluster_ip_none(svc) {
                entries.push(Entry {
                    address,
                    port: None,
                    ready,
                });
            }
            continue;
        }
        for sp in ports {
            let Some(port) = find_port(pod, sp) else {
                continue;
            };
            entries.push(Entry {
                address: address.clone(),
                port: Some(EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port,
                    protocol: Some(protocol(sp.protocol.as_deref()).to_string()),
                    app_protocol: sp.app_protocol.clone(),
                }),
                ready,
            });
        }
    }
    repack(entries)
}

/// `RepackSubsets`: one subset per distinct set of addresses, carrying all
/// the ports those addresses share; an address not ready for any port is
/// not ready. Addresses sort by IP then pod uid. (Upstream orders ports and
/// subsets by an md5 of their Go dump; here they sort by their fields.)
fn repack(entries: Vec<Entry>) -> Vec<EndpointSubset> {
    let mut addrs: Vec<EndpointAddress> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut by_port: Vec<(Option<EndpointPort>, BTreeMap<usize, bool>)> = Vec::new();
    for e in entries {
        let uid = e
            .address
            .target_ref
            .as_ref()
            .and_then(|r| r.uid.clone())
            .unwrap_or_default();
        let idx = *index.entry((e.address.ip.clone(), uid)).or_insert_with(|| {
            addrs.push(e.address.clone());
            addrs.len() - 1
        });
        let pos = match by_port.iter().position(|(p, _)| *p == e.port) {
            Some(pos) => pos,
            None => {
                by_port.push((e.port, BTreeMap::new()));
                by_port.len() - 1
            }
        };
        let set = &mut by_port[pos].1;
        // Not ready wins over ready.
        if set.get(&idx).copied().unwrap_or(true) {
            set.insert(idx, e.ready);
        }
    }
    let mut groups: BTreeMap<Vec<(usize, bool)>, Vec<EndpointPort>> = BTreeMap::new();
    for (port, set) in by_port {
        let ports = groups.entry(set.into_iter().collect()).or_default();
        ports.extend(port);
    }
    let mut subsets: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(set, mut ports)| {
            let pick = |ready: bool| {
                let mut v: Vec<EndpointAddress> = set
                    .iter()
                    .filter(|(_, r)| *r == ready)
                    .map(|(i, _)| addrs[*i].clone())
                    .collect();
                v.sort_by(|a, b| address_order(a).cmp(&address_order(b)));
                (!v.is_empty()).then_some(v)
            };
            ports.sort_by(|a, b| port_order(a).cmp(&port_order(b)));
            EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();
    subsets.sort_by_key(subset_order);
    subsets
}

fn address_order(a: &EndpointAddress) -> (&[u8], Option<&str>) {
    (
        a.ip.as_bytes(),
        a.target_ref.as_ref().and_then(|r| r.uid.as_deref()),
    )
}

fn port_order(p: &EndpointPort) -> (&str, i32, &str) {
    (
        p.name.as_deref().unwrap_or(""),
        p.port,
        p.protocol.as_deref().unwrap_or(""),
    )
}

/// Subsets sort by their ports, then their ready and not-ready IPs.
type SubsetOrder = (Vec<(String, i32, String)>, Vec<String>, Vec<String>);

fn subset_order(s: &EndpointSubset) -> SubsetOrder {
    let ips = |v: &Option<Vec<EndpointAddress>>| -> Vec<String> {
        v.iter().flatten().map(|a| a.ip.clone()).collect()
    };
    let ports = s
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let (n, port, proto) = port_order(p);
            (n.to_string(), port, proto.to_string())
        })
        .collect();
    (ports, ips(&s.addresses), ips(&s.not_ready_addresses))
}

fn count(subsets: &[EndpointSubset]) -> (usize, usize) {
    subsets.iter().fold((0, 0), |(r, n), s| {
        (
            r + s.addresses.as_ref().map_or(0, Vec::len),
            n + s.not_ready_addresses.as_ref().map_or(0, Vec::len),
        )
    })
}

/// Cuts the subsets to [`MAX_ENDPOINTS_CAPACITY`] addresses, keeping ready
/// ones first and spreading the cut over subsets in proportion to their
/// size (`truncateEndpoints`). Returns whether anything was cut.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let (ready, not_ready) = count(subsets);
    if ready + not_ready <= MAX_ENDPOINTS_CAPACITY {
        return false;
    }
    let cut_ready = ready > MAX_ENDPOINTS_CAPACITY;
    let (max, total) = if cut_ready {
        (MAX_ENDPOINTS_CAPACITY, ready)
    } else {
        (MAX_ENDPOINTS_CAPACITY - ready, not_ready)
    };
    let mut room = max;
    for s in subsets.iter_mut() {
        let list = if cut_ready {
            &mut s.addresses
        } else {
            &mut s.not_ready_addresses
        };
        let n = list.as_ref().map_or(0, Vec::len);
        // Same float arithmetic as upstream, so the same counts come out.
        let share = ((n as f64 / total as f64) * max as f64).ceil() as usize;
        let keep = share.min(room);
        if let Some(v) = list.as_mut() {
            v.truncate(keep);
        }
        room -= list.as_ref().map_or(0, Vec::len);
        if cut_ready {
            s.not_ready_addresses = None;
        }
    }
    true
}

/// Subsets as compared: without pod resourceVersions, empty lists as none.
fn comparable(subsets: Option<&Vec<EndpointSubset>>) -> Vec<EndpointSubset> {
    let addrs = |v: &Option<Vec<EndpointAddress>>| -> Option<Vec<EndpointAddress>> {
        let out: Vec<EndpointAddress> = v
            .iter()
            .flatten()
            .map(|a| {
                let mut a = a.clone();
                if let Some(r) = a.target_ref.as_mut() {
                    r.resource_version = None;
                }
                a
            })
            .collect();
        (!out.is_empty()).then_some(out)
    };
    subsets
        .into_iter()
        .flatten()
        .map(|s| EndpointSubset {
            addresses: addrs(&s.addresses),
            not_ready_addresses: addrs(&s.not_ready_addresses),
            ports: s.ports.clone().filter(|p| !p.is_empty()),
        })
        .collect()
}

/// The over-capacity annotation is there exactly when it should be.
fn capacity_annotation_ok(current: &Endpoints) -> bool {
    let (r, n) = count(current.subsets.as_deref().unwrap_or(&[]));
    if r + n > MAX_ENDPOINTS_CAPACITY {
        return false;
    }
    !current
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_OVER_CAPACITY))
}

/// Decides the write for one Service (`syncService`): `None` when the
/// controller leaves it alone (ExternalName, no selector) or `current`
/// already says what the pods say.
pub fn plan_endpoints(
    svc: &Service,
    pods: &[Pod],
    current: Option<&Endpoints>,
    trigger_time: Option<&Timestamp>,
) -> Option<EndpointsWrite> {
    if is_external_name(svc) || selector(svc).is_none() {
        return None;
    }
    let mut subsets = desired_subsets(svc, pods);
    let svc_labels = svc.metadata.labels.clone().unwrap_or_default();
    if let Some(cur) = current {
        let mut labels = cur.metadata.labels.clone().unwrap_or_default();
        labels.remove(LABEL_HEADLESS);
        if comparable(cur.subsets.as_ref()) == subsets
            && labels == svc_labels
            && capacity_annotation_ok(cur)
        {
            return None;
        }
    }
    let mut new = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            ..Default::default()
        },
        subsets: None,
    });
    let mut annotations = new.metadata.annotations.take().unwrap_or_default();
    match trigger_time {
        Some(t) => annotations.insert(ANNOTATION_TRIGGER_TIME.into(), format_time(t)),
        None => annotations.remove(ANNOTATION_TRIGGER_TIME),
    };
    if truncate(&mut subsets) {
        annotations.insert(ANNOTATION_OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(ANNOTATION_OVER_CAPACITY);
    }
    let mut labels = svc_labels;
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    } else {
        labels.remove(LABEL_HEADLESS);
    }
    new.metadata.labels = non_empty(labels);
    new.metadata.annotations = non_empty(annotations);
    new.subsets = (!subsets.is_empty()).then_some(subsets);
    Some(match current {
        Some(_) => EndpointsWrite::Update(new),
        None => EndpointsWrite::Create(new),
    })
}

/// One pass over a Service key: reads the caches, plans, writes.
pub(crate) async fn sync(ctx: &Ctx, key: &(String, String)) -> SyncResult {
    let (ns, name) = key;
    let Some(svc) = ctx.services.get(ns, name) else {
        // The Service is gone: so are its Endpoints.
        ctx.forget_endpoints_trigger(ns, name);
        return match ctx
            .api
            .delete(
                ctx.endpoints.resource,
                Some(ns),
                name,
                &DeleteOptions::default(),
            )
            .await
        {
            Ok((obj, _)) => {
                ctx.endpoints.observe_deleted(&obj);
                Ok(None)
            }
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(format!("deleting Endpoints {ns}/{name}: {}", e.message)),
        };
    };
    let Some(svc) = typed::<Service>(&svc) else {
        return Ok(None);
    };
    if is_external_name(&svc) {
        return Ok(None);
    }
    let Some(sel) = selector(&svc) else {
        return Ok(None);
    };
    let pods = ctx.selected_pods(ns, sel);
    let trigger = ctx.endpoints_trigger(&svc, &pods);
    let current = ctx
        .endpoints
        .get(ns, name)
        .and_then(|v| typed::<Endpoints>(&v));
    let r = ctx.endpoints.resource;
    match plan_endpoints(&svc, &pods, current.as_ref(), trigger.as_ref()) {
        None => Ok(None),
        Some(EndpointsWrite::Create(obj)) => {
            let body = serde_json::to_value(obj).map_err(|e| e.to_string())?;
            match ctx
                .api
                .create(r, Some(ns), body, &ctx.write_options())
                .await
            {
                Ok(w) => {
                    ctx.endpoints.observe(&w.object);
                    Ok(None)
                }
                // The namespace is terminating: nothing to publish.
                Err(e) if e.reason == "Forbidden" => Ok(None),
                Err(e) => Err(format!("creating Endpoints {ns}/{name}: {}", e.message)),
            }
        }
        Some(EndpointsWrite::Update(obj)) => {
            let body = serde_json::to_value(obj).map_err(|e| e.to_string())?;
            match ctx
                .api
                .update(r, Some(ns), name, body, None, &ctx.write_options())
                .await
            {
                Ok(w) => {
                    ctx.endpoints.observe(&w.object);
                    Ok(None)
                }
                // A 409 means the cache was behind: the retry reads again.
                Err(e) => Err(format!("updating Endpoints {ns}/{name}: {}", e.message)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn svc(v: Value) -> Service {
        typed(&v).expect("service")
    }

    fn pod(name: &str, ip: &str, ready: bool) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "node1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}, "lastTransitionTime": "2026-11-23T07:59:00Z"}]},
        })
    }

    fn pods(vs: &[Value]) -> Vec<Pod> {
        vs.iter().map(|v| typed(v).expect("pod")).collect()
    }

    fn web() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "creationTimestamp": "2026-11-23T07:59:12Z", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.20", "ipFamilies": ["IPv4"],
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]},
        })
    }

    fn to_json(w: &EndpointsWrite) -> Value {
        match w {
            EndpointsWrite::Create(e) | EndpointsWrite::Update(e) => {
                serde_json::to_value(e).expect("json")
            }
        }
    }

    fn addr(name: &str, ip: &str) -> Value {
        json!({"ip": ip, "nodeName": "node1", "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": format!("uid-{name}")}})
    }

    #[test]
    fn three_ready_pods_like_the_reference_cluster() {
        let ps = pods(&[
            pod("web-c", "10.244.0.13", true),
            pod("web-a", "10.244.0.11", true),
            pod("web-b", "10.244.0.12", true),
        ]);
        let t: Timestamp = "2026-11-23T07:59:12Z".parse().expect("time");
        let w = plan_endpoints(&svc(web()), &ps, None, Some(&t)).expect("write");
        assert!(matches!(w, EndpointsWrite::Create(_)));
        assert_eq!(
            to_json(&w),
            json!({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                    "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-23T07:59:12Z"}},
                "subsets": [{
                    "addresses": [addr("web-a", "10.244.0.11"), addr("web-b", "10.244.0.12"), addr("web-c", "10.244.0.13")],
                    "ports": [{"port": 80, "protocol": "TCP"}],
                }],
            })
        );
    }

    #[test]
    fn no_matching_pods_gives_no_subsets() {
        let w = plan_endpoints(&svc(web()), &[], None, None).expect("write");
        assert_eq!(
            to_json(&w),
            json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}}})
        );
    }

    #[test]
    fn leaves_selectorless_and_external_name_services_alone() {
        let mut manual = web();
        manual["spec"].as_object_mut().map(|s| s.remove("selector"));
        assert_eq!(plan_endpoints(&svc(manual), &[], None, None), None);
        let mut ext = web();
        ext["spec"]["type"] = json!("ExternalName");
        assert_eq!(plan_endpoints(&svc(ext), &[], None, None), None);
    }

    #[test]
    fn not_ready_and_named_ports_and_headless() {
        let s = svc(json!({
            "metadata": {"name": "web-headless", "namespace": "default", "uid": "u"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "None", "ipFamilies": ["IPv4"],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]},
        }));
        let mut with_host = pod("web-h", "10.244.0.9", true);
        with_host["spec"]["hostname"] = json!("web-h");
        with_host["spec"]["subdomain"] = json!("web-headless");
        let ps = pods(&[pod("web-a", "10.244.0.11", false), with_host]);
        let w = plan_endpoints(&s, &ps, None, None).expect("write");
        let mut host_addr = addr("web-h", "10.244.0.9");
        host_addr["hostname"] = json!("web-h");
        assert_eq!(
            to_json(&w),
            json!({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "web-headless", "namespace": "default", "labels": {"service.kubernetes.io/headless": ""}},
                "subsets": [{
                    "addresses": [host_addr],
                    "notReadyAddresses": [addr("web-a", "10.244.0.11")],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                }],
            })
        );
    }

    #[test]
    fn publish_not_ready_and_terminating() {
        let mut s = web();
        let mut gone = pod("web-t", "10.244.0.14", true);
        gone["metadata"]["deletionTimestamp"] = json!("2026-11-23T08:00:00Z");
        let ps = pods(&[pod("web-a", "10.244.0.11", false), gone]);
        // By default a not-ready pod is listed as not ready, a terminating one not at all.
        let w = plan_endpoints(&svc(s.clone()), &ps, None, None).expect("write");
        assert_eq!(
            to_json(&w)["subsets"],
            json!([{"notReadyAddresses": [addr("web-a", "10.244.0.11")], "ports": [{"port": 80, "protocol": "TCP"}]}])
        );
        s["spec"]["publishNotReadyAddresses"] = json!(true);
        let w = plan_endpoints(&svc(s), &ps, None, None).expect("write");
        assert_eq!(
            to_json(&w)["subsets"],
            json!([{"addresses": [addr("web-a", "10.244.0.11"), addr("web-t", "10.244.0.14")], "ports": [{"port": 80, "protocol": "TCP"}]}])
        );
    }

    #[test]
    fn pods_with_different_port_numbers_split_into_subsets() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.20",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
                          {"name": "raw", "port": 81, "protocol": "TCP", "targetPort": 9000}]},
        }));
        let mut other = pod("web-b", "10.244.0.12", true);
        other["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8081);
        let ps = pods(&[pod("web-a", "10.244.0.11", true), other]);
        let w = plan_endpoints(&s, &ps, None, None).expect("write");
        assert_eq!(
            to_json(&w)["subsets"],
            json!([
                {"addresses": [addr("web-a", "10.244.0.11")], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
                {"addresses": [addr("web-b", "10.244.0.12")], "ports": [{"name": "http", "port": 8081, "protocol": "TCP"}]},
                {"addresses": [addr("web-a", "10.244.0.11"), addr("web-b", "10.244.0.12")], "ports": [{"name": "raw", "port": 9000, "protocol": "TCP"}]},
            ])
        );
    }

    #[test]
    fn pods_without_the_named_port_or_ip_are_left_out() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.20",
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": "nope"}]},
        }));
        let mut no_ip = pod("web-b", "", true);
        no_ip["status"] = json!({"phase": "Pending"});
        let ps = pods(&[pod("web-a", "10.244.0.11", true), no_ip]);
        let w = plan_endpoints(&s, &ps, None, None).expect("write");
        assert_eq!(to_json(&w).get("subsets"), None);
    }

    #[test]
    fn unchanged_endpoints_are_not_rewritten() {
        let ps = pods(&[pod("web-a", "10.244.0.11", true)]);
        let s = svc(web());
        let Some(EndpointsWrite::Create(mut created)) = plan_endpoints(&s, &ps, None, None) else {
            panic!("expected a create");
        };
        created.metadata.resource_version = Some("7".into());
        // Stored form carries the pod's resourceVersion in targetRef: ignored.
        if let Some(a) = created
            .subsets
            .as_mut()
            .and_then(|s| s[0].addresses.as_mut())
        {
            if let Some(r) = a[0].target_ref.as_mut() {
                r.resource_version = Some("3".into());
            }
        }
        assert_eq!(plan_endpoints(&s, &ps, Some(&created), None), None);
        // A label change on the Service is copied over.
        let mut relabeled = web();
        relabeled["metadata"]["labels"]["tier"] = json!("front");
        let Some(EndpointsWrite::Update(u)) =
            plan_endpoints(&svc(relabeled), &ps, Some(&created), None)
        else {
            panic!("expected an update");
        };
        assert_eq!(u.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(
            u.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("tier"))
                .map(String::as_str),
            Some("front")
        );
        // A pod going away updates, and drops the trigger time when there is none.
        let Some(EndpointsWrite::Update(u)) = plan_endpoints(&s, &[], Some(&created), None) else {
            panic!("expected an update");
        };
        assert_eq!(u.subsets, None);
        assert_eq!(u.metadata.annotations, None);
    }

    fn many(n: usize, ready: bool, base: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                let k = base + i;
                pod(
                    &format!("p{k:05}"),
                    &format!("10.{}.{}.{}", k / 65536, (k / 256) % 256, k % 256),
                    ready,
                )
            })
            .collect()
    }

    #[test]
    fn truncates_at_1000_with_the_annotation() {
        let mut vs = many(900, true, 0);
        vs.extend(many(300, false, 900));
        let ps = pods(&vs);
        let w = plan_endpoints(&svc(web()), &ps, None, None).expect("write");
        let EndpointsWrite::Create(e) = &w else {
            panic!("expected a create");
        };
        let (r, n) = count(e.subsets.as_deref().unwrap_or(&[]));
        assert_eq!((r, n), (900, 100));
        assert_eq!(
            e.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_OVER_CAPACITY))
                .map(String::as_str),
            Some("truncated")
        );
        // Like upstream, a truncated object never counts as settled.
        assert!(!capacity_annotation_ok(e));
        let ps = pods(&many(1200, true, 0));
        let Some(EndpointsWrite::Create(e)) = plan_endpoints(&svc(web()), &ps, None, None) else {
            panic!("expected a create");
        };
        assert_eq!(count(e.subsets.as_deref().unwrap_or(&[])), (1000, 0));
    }

    #[test]
    fn truncation_spreads_over_subsets() {
        let sub = |ready: usize, not_ready: usize| EndpointSubset {
            addresses: Some(vec![EndpointAddress::default(); ready]),
            not_ready_addresses: Some(vec![EndpointAddress::default(); not_ready]),
            ports: None,
        };
        let mut s = vec![sub(600, 10), sub(600, 10)];
        assert!(truncate(&mut s));
        assert_eq!(count(&s), (1000, 0));
        assert_eq!(s[0].addresses.as_ref().map(Vec::len), Some(500));
        let mut s = vec![sub(400, 300), sub(400, 100)];
        assert!(truncate(&mut s));
        // 200 not-ready slots split 3:1, rounding up.
        assert_eq!(s[0].not_ready_addresses.as_ref().map(Vec::len), Some(150));
        assert_eq!(s[1].not_ready_addresses.as_ref().map(Vec::len), Some(50));
        let mut s = vec![sub(10, 10)];
        assert!(!truncate(&mut s));
    }
}
