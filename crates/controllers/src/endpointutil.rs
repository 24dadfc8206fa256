//! What the Endpoints, EndpointSlice and mirroring controllers share: which
//! pods count and with which addresses and ports, a Service's selector and
//! address families, which Services a pod change concerns, and the
//! `endpoints.kubernetes.io/last-change-trigger-time` bookkeeping. Modeled
//! on k8s.io/endpointslice/util.

use k1s_api::k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k1s_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k1s_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k1s_api::k8s_openapi::jiff::Timestamp;
use k1s_api::k8s_openapi::serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const LABEL_SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
pub const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
pub const ANNOTATION_LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
pub const ANNOTATION_LEADER: &str = "control-plane.alpha.kubernetes.io/leader";

/// `managed-by` value of slices the EndpointSlice controller owns.
pub const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";
/// `managed-by` value of slices mirrored from user-written Endpoints.
pub const MIRRORING_CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";

/// kube-controller-manager's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// `--mirroring-max-endpoints-per-subset` default.
pub const MAX_ENDPOINTS_PER_SUBSET: usize = 1000;
/// Addresses an Endpoints object holds before it is truncated.
pub const MAX_ENDPOINTS_CAPACITY: usize = 1000;

/// Parses a cached object into its typed form.
pub fn typed<T: DeserializeOwned>(v: &Value) -> Option<T> {
    serde_json::from_value(v.clone()).ok()
}

/// The Service's selector; `None` for none or an empty one (an empty map
/// does not survive kube-apiserver's storage, so it means "no selector").
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
}

/// Whether `labels` has every key of `selector` with the same value.
pub fn selects(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

pub fn is_external_name(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName")
}

/// No ClusterIP: a headless Service (`!helper.IsServiceIPSet`).
pub fn is_headless(svc: &Service) -> bool {
    let ip = cluster_ip(svc);
    ip.is_empty() || ip == "None"
}

/// `clusterIP: None` exactly (headless Services may then have no ports).
pub fn cluster_ip_none(svc: &Service) -> bool {
    cluster_ip(svc) == "None"
}

fn cluster_ip(svc: &Service) -> &str {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap_or("")
}

pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

pub fn service_ports(svc: &Service) -> &[ServicePort] {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or(&[])
}

/// Whether the Service's first family is IPv6, the family the Endpoints
/// controller publishes (`None`: headless without families, decided per pod).
pub fn primary_family_v6(svc: &Service) -> Option<bool> {
    if let Some(first) = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
    {
        return Some(first == "IPv6");
    }
    if is_headless(svc) {
        return None;
    }
    Some(parse_ip(cluster_ip(svc)).is_some_and(|ip| ip.is_ipv6()))
}

/// The slice address types a Service gets (`getAddressTypesForService`).
pub fn address_types(svc: &Service) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for f in svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_deref())
        .unwrap_or(&[])
    {
        match f.as_str() {
            "IPv4" => out.insert("IPv4"),
            "IPv6" => out.insert("IPv6"),
            _ => false,
        };
    }
    if !out.is_empty() {
        return out;
    }
    if !is_headless(svc) {
        let v6 = parse_ip(cluster_ip(svc)).is_some_and(|ip| ip.is_ipv6());
        out.insert(if v6 { "IPv6" } else { "IPv4" });
        return out;
    }
    // A headless Service an old apiserver did not default: both families.
    out.insert("IPv4");
    out.insert("IPv6");
    out
}

/// `netutils.ParseIPSloppy`: also takes IPv4 octets with leading zeros.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

pub fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

pub fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("")
}

/// The pod's Ready condition is True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

fn ready_condition(pod: &Pod) -> Option<&k1s_api::k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The pod's IPs: `status.podIPs`, or `status.podIP` when that list is
/// empty (a status written by hand often sets only `podIP`).
pub fn pod_ips(pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let ips: Vec<String> = status
        .pod_ips
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|p| p.ip.clone())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    status
        .pod_ip
        .iter()
        .filter(|ip| !ip.is_empty())
        .cloned()
        .collect()
}

/// Whether the pod belongs in Endpoints/EndpointSlices at all: not
/// finished, has an IP, and (unless `include_terminating`) not terminating.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    if pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || !is_terminating(pod)
}

/// A pod with `hostname` whose `subdomain` names this Service gets a
/// hostname in its endpoint (headless DNS records).
pub fn should_set_hostname(pod: &Pod, svc: &Service) -> bool {
    let spec = pod.spec.as_ref();
    let hostname = spec.and_then(|s| s.hostname.as_deref()).unwrap_or("");
    let subdomain = spec.and_then(|s| s.subdomain.as_deref()).unwrap_or("");
    !hostname.is_empty()
        && subdomain == svc.metadata.name.as_deref().unwrap_or("")
        && svc.metadata.namespace.as_deref().unwrap_or("") == pod_namespace(pod)
}

pub fn hostname(pod: &Pod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.hostname.clone())
}

pub fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

/// The protocol of a port, defaulted like the apiserver does.
pub fn protocol(p: Option<&str>) -> &str {
    p.filter(|p| !p.is_empty()).unwrap_or("TCP")
}

/// The container port a Service port's targetPort selects in `pod`
/// (`FindPort`): a number as is, a name looked up in the containers' (and
/// sidecar init containers') ports with the same protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let name = match &port.target_port {
        Some(IntOrString::Int(n)) => return Some(*n),
        Some(IntOrString::String(name)) => name,
        // Defaulting always sets targetPort; without it the port is the target.
        None => return Some(port.port),
    };
    let want = protocol(port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.as_deref().unwrap_or(&[]))
        .find(|p| p.name.as_deref() == Some(name) && protocol(p.protocol.as_deref()) == want)
        .map(|p| p.container_port)
}

/// The `targetRef` of an endpoint for `pod`.
pub fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// Equal `targetRef`s, not minding the referenced object's resourceVersion.
pub fn same_ref(a: Option<&ObjectReference>, b: Option<&ObjectReference>) -> bool {
    let strip = |r: Option<&ObjectReference>| {
        r.map(|r| ObjectReference {
            resource_version: None,
            ..r.clone()
        })
    };
    strip(a) == strip(b)
}

/// A controller ownerReference (`metav1.NewControllerRef`).
pub fn controller_ref(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A map that is empty is left out, as Go's `omitempty` does.
pub fn non_empty(m: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

/// A timestamp in Go's RFC3339Nano form (fraction without trailing zeros).
pub fn format_time(t: &Timestamp) -> String {
    let secs = t.as_second();
    let nanos = t.subsec_nanosecond();
    let whole = Timestamp::from_second(secs).unwrap_or(*t);
    let base = whole.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos <= 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Computes the last-change-trigger-time annotation (`TriggerTimeTracker`):
/// a Service seen for the first time gets its creation time; later syncs
/// get the earliest Ready-transition (or Service creation) time that
/// changed since the previous sync, or none.
#[derive(Debug, Default)]
pub struct TriggerTimeTracker {
    states: HashMap<(String, String), TriggerState>,
}

#[derive(Debug, Default, Clone)]
struct TriggerState {
    service: Option<Timestamp>,
    pods: HashMap<String, Timestamp>,
}

impl TriggerTimeTracker {
    pub fn compute(&mut self, svc: &Service, pods: &[Pod]) -> Option<Timestamp> {
        let key = (
            svc.metadata.namespace.clone().unwrap_or_default(),
            svc.metadata.name.clone().unwrap_or_default(),
        );
        let known = self.states.get(&key);
        let mut earliest: Option<Timestamp> = None;
        let mut pod_times = HashMap::new();
        for pod in pods {
            let Some(t) = ready_condition(pod).and_then(|c| c.last_transition_time.as_ref()) else {
                continue;
            };
            let name = pod_name(pod).to_string();
            let before = known.and_then(|s| s.pods.get(&name));
            if before.is_none_or(|b| t.0 > *b) {
                earliest = Some(earliest.map_or(t.0, |e| e.min(t.0)));
            }
            pod_times.insert(name, t.0);
        }
        let created = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if let Some(c) = created {
            if known.and_then(|s| s.service).is_none_or(|b| c > b) {
                earliest = Some(earliest.map_or(c, |e| e.min(c)));
            }
        }
        let first = known.is_none();
        self.states.insert(
            key,
            TriggerState {
                service: created,
                pods: pod_times,
            },
        );
        if first {
            created
        } else {
            earliest
        }
    }

    pub fn forget(&mut self, namespace: &str, name: &str) {
        self.states
            .remove(&(namespace.to_string(), name.to_string()));
    }
}

// ---- Pod changes → Services (on cached JSON, in the informer handlers) ----

fn str_map(v: &Value) -> BTreeMap<String, String> {
    k1s_api::selector::string_map(v)
}

fn json_selects(svc: &Value, labels: &BTreeMap<String, String>) -> bool {
    let sel = str_map(&svc["spec"]["selector"]);
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn json_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .is_some_and(|c| c["status"] == "True")
}

fn json_ips(pod: &Value) -> Vec<&str> {
    let ips: Vec<&str> = pod["status"]["podIPs"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["ip"].as_str()).collect())
        .unwrap_or_default();
    if ips.is_empty() {
        pod["status"]["podIP"].as_str().into_iter().collect()
    } else {
        ips
    }
}

/// (pod changed in a way its endpoints show, labels or hostname changed)
/// — `podEndpointsChanged`.
pub fn pod_endpoints_changed(old: &Value, new: &Value) -> (bool, bool) {
    let labels_changed = old["metadata"]["labels"] != new["metadata"]["labels"]
        || old["spec"]["hostname"] != new["spec"]["hostname"]
        || old["spec"]["subdomain"] != new["spec"]["subdomain"];
    let changed = old["metadata"]["deletionTimestamp"] != new["metadata"]["deletionTimestamp"]
        || json_ready(old) != json_ready(new)
        || json_ips(old) != json_ips(new);
    (changed, labels_changed)
}

/// Names of the Services (from `services`, the pod's namespace) whose
/// endpoints a pod change from `old` to `new` may alter
/// (`GetServicesToUpdateOnPodChange`).
pub fn services_for_pod_change(
    services: &[std::sync::Arc<Value>],
    old: Option<&Value>,
    new: Option<&Value>,
) -> BTreeSet<String> {
    let matching = |pod: &Value| -> BTreeSet<String> {
        let labels = str_map(&pod["metadata"]["labels"]);
        services
            .iter()
            .filter(|s| json_selects(s, &labels))
            .filter_map(|s| s["metadata"]["name"].as_str().map(String::from))
            .collect()
    };
    match (old, new) {
        (None, None) => BTreeSet::new(),
        (None, Some(p)) | (Some(p), None) => matching(p),
        (Some(old), Some(new)) => {
            if old["metadata"]["resourceVersion"] == new["metadata"]["resourceVersion"] {
                return BTreeSet::new();
            }
            let (changed, labels_changed) = pod_endpoints_changed(old, new);
            match (changed, labels_changed) {
                (false, false) => BTreeSet::new(),
                (true, false) => matching(new),
                (changed, true) => {
                    let (before, after) = (matching(old), matching(new));
                    if changed {
                        before.union(&after).cloned().collect()
                    } else {
                        before.symmetric_difference(&after).cloned().collect()
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn pod(v: Value) -> Pod {
        typed(&v).expect("pod")
    }

    fn svc(v: Value) -> Service {
        typed(&v).expect("service")
    }

    #[test]
    fn selector_empty_means_none() {
        assert!(selector(&svc(json!({"spec": {"selector": {}}}))).is_none());
        assert!(selector(&svc(json!({"spec": {}}))).is_none());
        let s = svc(json!({"spec": {"selector": {"app": "web"}}}));
        let sel = selector(&s).expect("selector");
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("x".into(), "y".into()),
        ]
        .into();
        assert!(selects(sel, Some(&labels)));
        assert!(!selects(sel, None));
        let other: BTreeMap<String, String> = [("app".to_string(), "web2".to_string())].into();
        assert!(!selects(sel, Some(&other)));
    }

    #[test]
    fn headless_and_families() {
        let headless = svc(json!({"spec": {"clusterIP": "None"}}));
        assert!(is_headless(&headless));
        assert_eq!(primary_family_v6(&headless), None);
        assert_eq!(
            address_types(&headless).into_iter().collect::<Vec<_>>(),
            vec!["IPv4", "IPv6"]
        );
        let v4 = svc(json!({"spec": {"clusterIP": "10.96.0.5", "ipFamilies": ["IPv4"]}}));
        assert!(!is_headless(&v4));
        assert_eq!(primary_family_v6(&v4), Some(false));
        assert_eq!(
            address_types(&v4).into_iter().collect::<Vec<_>>(),
            vec!["IPv4"]
        );
        let old = svc(json!({"spec": {"clusterIP": "fd00::5"}}));
        assert_eq!(primary_family_v6(&old), Some(true));
        assert_eq!(
            address_types(&old).into_iter().collect::<Vec<_>>(),
            vec!["IPv6"]
        );
    }

    #[test]
    fn sloppy_ips() {
        assert_eq!(
            parse_ip("10.244.0.5").map(|i| i.to_string()),
            Some("10.244.0.5".into())
        );
        assert_eq!(
            parse_ip("010.244.000.005").map(|i| i.to_string()),
            Some("10.244.0.5".into())
        );
        assert_eq!(
            parse_ip("fd00::0:1").map(|i| i.to_string()),
            Some("fd00::1".into())
        );
        assert_eq!(parse_ip("nope"), None);
        assert_eq!(parse_ip("1.2.3"), None);
        assert_eq!(parse_ip("1.2.3.256"), None);
    }

    #[test]
    fn pod_membership_rules() {
        let running = json!({"metadata": {"name": "a"}, "status": {"phase": "Running", "podIP": "10.244.0.5"}});
        assert!(should_be_in_endpoints(&pod(running.clone()), false));
        assert_eq!(pod_ips(&pod(running)), vec!["10.244.0.5"]);
        let no_ip = json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}});
        assert!(!should_be_in_endpoints(&pod(no_ip), true));
        let done = json!({"metadata": {"name": "a"}, "status": {"phase": "Succeeded", "podIP": "10.244.0.5"}});
        assert!(!should_be_in_endpoints(&pod(done), true));
        let deleting = json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"podIPs": [{"ip": "10.244.0.6"}], "podIP": "10.244.0.6"}});
        assert!(!should_be_in_endpoints(&pod(deleting.clone()), false));
        assert!(should_be_in_endpoints(&pod(deleting.clone()), true));
        assert!(is_terminating(&pod(deleting)));
        let ready = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}]}});
        assert!(is_pod_ready(&pod(ready)));
        let unready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(!is_pod_ready(&pod(unready)));
    }

    #[test]
    fn hostname_only_for_matching_subdomain() {
        let s = svc(json!({"metadata": {"name": "web-headless", "namespace": "default"}}));
        let p = pod(
            json!({"metadata": {"name": "a", "namespace": "default"}, "spec": {"containers": [], "hostname": "h", "subdomain": "web-headless"}}),
        );
        assert!(should_set_hostname(&p, &s));
        let elsewhere = pod(
            json!({"metadata": {"name": "a", "namespace": "other"}, "spec": {"containers": [], "hostname": "h", "subdomain": "web-headless"}}),
        );
        assert!(!should_set_hostname(&elsewhere, &s));
        let no_host = pod(
            json!({"metadata": {"name": "a", "namespace": "default"}, "spec": {"containers": [], "subdomain": "web-headless"}}),
        );
        assert!(!should_set_hostname(&no_host, &s));
    }

    #[test]
    fn finds_named_ports_by_name_and_protocol() {
        let p = pod(json!({"spec": {
            "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
            ]}],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "ports": [{"name": "metrics", "containerPort": 9090}]},
                {"name": "init", "ports": [{"name": "setup", "containerPort": 7070}]},
            ],
        }}));
        let port = |v: Value| -> ServicePort { typed(&v).expect("port") };
        let cases = [
            (json!({"port": 80, "targetPort": 8080}), Some(8080)),
            (json!({"port": 80, "targetPort": "http"}), Some(8080)),
            (
                json!({"port": 80, "targetPort": "http", "protocol": "UDP"}),
                None,
            ),
            (
                json!({"port": 53, "targetPort": "dns", "protocol": "UDP"}),
                Some(5353),
            ),
            (json!({"port": 53, "targetPort": "dns"}), None),
            (json!({"port": 1, "targetPort": "metrics"}), Some(9090)),
            (json!({"port": 1, "targetPort": "setup"}), None),
            (json!({"port": 81}), Some(81)),
        ];
        for (sp, want) in cases {
            assert_eq!(find_port(&p, &port(sp.clone())), want, "{sp}");
        }
    }

    #[test]
    fn formats_times_like_rfc3339nano() {
        let t: Timestamp = "2026-11-23T07:59:06Z".parse().expect("time");
        assert_eq!(format_time(&t), "2026-11-23T07:59:06Z");
        let t: Timestamp = "2026-11-23T07:59:06.120Z".parse().expect("time");
        assert_eq!(format_time(&t), "2026-11-23T07:59:06.12Z");
    }

    fn with_ready(name: &str, at: &str) -> Pod {
        pod(
            json!({"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": at}]}}),
        )
    }

    #[test]
    fn trigger_time_tracks_changes_since_last_sync() {
        let s = svc(
            json!({"metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:10Z"}}),
        );
        let mut t = TriggerTimeTracker::default();
        let fmt = |o: Option<Timestamp>| o.map(|t| format_time(&t));
        // First sight: the Service's creation time.
        let a = with_ready("a", "2026-01-01T00:00:05Z");
        assert_eq!(
            fmt(t.compute(&s, std::slice::from_ref(&a))),
            Some("2026-01-01T00:00:10Z".into())
        );
        // Nothing changed: no trigger time.
        assert_eq!(fmt(t.compute(&s, std::slice::from_ref(&a))), None);
        // Two pods turned ready: the earlier time.
        let b = with_ready("b", "2026-01-01T00:01:00Z");
        let c = with_ready("c", "2026-01-01T00:00:30Z");
        assert_eq!(
            fmt(t.compute(&s, &[a.clone(), b.clone(), c.clone()])),
            Some("2026-01-01T00:00:30Z".into())
        );
        // A pod gone: nothing newer.
        assert_eq!(fmt(t.compute(&s, &[a, b])), None);
        t.forget("default", "web");
        assert_eq!(fmt(t.compute(&s, &[])), Some("2026-01-01T00:00:10Z".into()));
    }

    fn services() -> Vec<Arc<Value>> {
        vec![
            Arc::new(json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}})),
            Arc::new(json!({"metadata": {"name": "db"}, "spec": {"selector": {"app": "db"}}})),
            Arc::new(
                json!({"metadata": {"name": "all-web"}, "spec": {"selector": {"tier": "front"}}}),
            ),
            Arc::new(json!({"metadata": {"name": "manual"}, "spec": {}})),
        ]
    }

    fn jpod(rv: &str, labels: Value, ready: bool, ip: &str) -> Value {
        json!({
            "metadata": {"name": "p", "resourceVersion": rv, "labels": labels},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        })
    }

    #[test]
    fn pod_changes_map_to_services() {
        let svcs = services();
        let names = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
        let web = json!({"app": "web", "tier": "front"});
        let p1 = jpod("1", web.clone(), false, "");
        assert_eq!(
            names(services_for_pod_change(&svcs, None, Some(&p1))),
            vec!["all-web", "web"]
        );
        assert_eq!(
            names(services_for_pod_change(&svcs, Some(&p1), None)),
            vec!["all-web", "web"]
        );
        // Same resourceVersion (a resync): nothing.
        assert!(services_for_pod_change(&svcs, Some(&p1), Some(&p1)).is_empty());
        // Irrelevant change: nothing.
        let mut p2 = p1.clone();
        p2["metadata"]["resourceVersion"] = json!("2");
        p2["metadata"]["annotations"] = json!({"x": "y"});
        assert!(services_for_pod_change(&svcs, Some(&p1), Some(&p2)).is_empty());
        // Became ready: its Services.
        let p3 = jpod("3", web.clone(), true, "10.244.0.5");
        assert_eq!(
            names(services_for_pod_change(&svcs, Some(&p1), Some(&p3))),
            vec!["all-web", "web"]
        );
        // Only labels changed: Services it left or joined.
        let p4 = jpod(
            "4",
            json!({"app": "db", "tier": "front"}),
            true,
            "10.244.0.5",
        );
        assert_eq!(
            names(services_for_pod_change(&svcs, Some(&p3), Some(&p4))),
            vec!["db", "web"]
        );
        // Labels and readiness changed: all of them.
        let p5 = jpod(
            "5",
            json!({"app": "web", "tier": "front"}),
            false,
            "10.244.0.5",
        );
        assert_eq!(
            names(services_for_pod_change(&svcs, Some(&p4), Some(&p5))),
            vec!["all-web", "db", "web"]
        );
    }
}
