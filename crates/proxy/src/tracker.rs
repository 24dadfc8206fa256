//! The proxy's inputs kept current from Service and EndpointSlice watch
//! events (kube-proxy's change trackers): each event is converted once,
//! and only the Services whose inputs really changed are handed to the
//! next sync, with the time each change was made for the network
//! programming latency.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use crate::from_k8s;
use crate::model::{EndpointSliceInfo, ServiceInfo, ServiceInputs, ServiceKey};

/// Annotation the endpoints controllers put on EndpointSlices: when the
/// change that produced them happened (a pod turning ready, the Service's
/// creation). kube-proxy measures network programming latency from it.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// What changed since the previous `take_changes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// The changed Services' inputs; `None` when the proxy has nothing to
    /// program for one any more.
    pub services: BTreeMap<ServiceKey, Option<ServiceInputs>>,
    /// For each changed Service, when its earliest pending change was made.
    pub triggered: Vec<SystemTime>,
    /// (ready, not ready) endpoint addresses of each changed Service;
    /// `None` when it is gone.
    pub endpoint_counts: BTreeMap<ServiceKey, Option<(u64, u64)>>,
}

#[derive(Default)]
pub struct Tracker {
    node_name: String,
    services: HashMap<ServiceKey, Arc<ServiceInfo>>,
    /// (namespace, slice name) → the slice.
    slices: HashMap<ServiceKey, Arc<EndpointSliceInfo>>,
    /// Service → names of its slices, sorted (a vector: most have one).
    slices_of: HashMap<ServiceKey, Vec<String>>,
    /// Services changed by a Service event / by a slice event, with the
    /// earliest change time.
    pending_services: BTreeMap<ServiceKey, SystemTime>,
    pending_endpoints: BTreeMap<ServiceKey, SystemTime>,
    /// Service events seen (kube-proxy's service_changes_total).
    pub service_events: u64,
    /// EndpointSlice events seen (kube-proxy's endpoint_changes_total).
    pub slice_events: u64,
}

fn key(namespace: &str, name: &str) -> ServiceKey {
    (namespace.to_string(), name.to_string())
}

/// The trigger-time annotation as a time, if present and valid.
pub fn trigger_time(slice: &Value) -> Option<SystemTime> {
    let text = slice
        .get("metadata")?
        .get("annotations")?
        .get(LAST_CHANGE_TRIGGER_TIME)?
        .as_str()?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(SystemTime::from)
}

fn mark(pending: &mut BTreeMap<ServiceKey, SystemTime>, key: ServiceKey, at: SystemTime) {
    pending
        .entry(key)
        .and_modify(|t| *t = (*t).min(at))
        .or_insert(at);
}

impl Tracker {
    /// A tracker for the node `node_name` (its endpoints are local).
    pub fn new(node_name: &str) -> Tracker {
        Tracker {
            node_name: node_name.to_string(),
            ..Tracker::default()
        }
    }

    /// A Service was written (`Some`) or deleted (`None`) at about `seen`.
    pub fn service(&mut self, namespace: &str, name: &str, obj: Option<&Value>, seen: SystemTime) {
        self.service_events += 1;
        let k = key(namespace, name);
        let info = obj.and_then(from_k8s::service).map(Arc::new);
        let changed = match &info {
            Some(i) => self.services.insert(k.clone(), i.clone()).as_ref() != Some(i),
            None => self.services.remove(&k).is_some(),
        };
        if changed {
            mark(&mut self.pending_services, k, seen);
        }
    }

    /// An EndpointSlice was written or deleted; the change counts from its
    /// trigger-time annotation, else from `seen`.
    pub fn slice(&mut self, namespace: &str, name: &str, obj: Option<&Value>, seen: SystemTime) {
        self.slice_events += 1;
        let at = obj.and_then(trigger_time).unwrap_or(seen);
        let slice_key = key(namespace, name);
        let info = obj
            .and_then(|o| from_k8s::endpoint_slice(o, &self.node_name))
            .map(Arc::new);
        let old = self.slices.remove(&slice_key);
        if old == info {
            if let Some(i) = old {
                self.slices.insert(slice_key, i);
            }
            return;
        }
        if let Some(o) = &old {
            let owner = key(&o.namespace, &o.service_name);
            if let Some(names) = self.slices_of.get_mut(&owner) {
                names.retain(|n| n != name);
                if names.is_empty() {
                    self.slices_of.remove(&owner);
                }
            }
            mark(&mut self.pending_endpoints, owner, at);
        }
        if let Some(i) = info {
            let owner = key(&i.namespace, &i.service_name);
            let names = self.slices_of.entry(owner.clone()).or_default();
            if let Err(at) = names.binary_search_by(|n| n.as_str().cmp(name)) {
                names.insert(at, name.to_string());
            }
            self.slices.insert(slice_key, i);
            mark(&mut self.pending_endpoints, owner, at);
        }
    }

    /// After a (re)list of Services: applies every listed object and
    /// deletes the ones that are no longer there. Objects are taken one at
    /// a time, so a caller can parse a list as it goes instead of holding
    /// every parsed object at once.
    pub fn replace_services(
        &mut self,
        objs: impl IntoIterator<Item = (String, String, Value)>,
        seen: SystemTime,
    ) {
        self.replace(objs, seen, Tracker::service, |t, listed| {
            unlisted(&t.services, listed)
        });
    }

    /// After a (re)list of EndpointSlices, like `replace_services`.
    pub fn replace_slices(
        &mut self,
        objs: impl IntoIterator<Item = (String, String, Value)>,
        seen: SystemTime,
    ) {
        self.replace(objs, seen, Tracker::slice, |t, listed| {
            unlisted(&t.slices, listed)
        });
    }

    /// A relist through `apply` (`service` or `slice`): every listed object,
    /// then a deletion for each known key the list no longer has.
    fn replace(
        &mut self,
        objs: impl IntoIterator<Item = (String, String, Value)>,
        seen: SystemTime,
        apply: fn(&mut Tracker, &str, &str, Option<&Value>, SystemTime),
        gone: fn(&Tracker, &BTreeSet<ServiceKey>) -> Vec<ServiceKey>,
    ) {
        let mut listed: BTreeSet<ServiceKey> = BTreeSet::new();
        for (ns, n, o) in objs {
            apply(self, &ns, &n, Some(&o), seen);
            listed.insert(key(&ns, &n));
        }
        for (ns, n) in gone(self, &listed) {
            apply(self, &ns, &n, None, seen);
        }
    }

    /// Services with changes not yet taken: (by Service events, by slice events).
    pub fn pending(&self) -> (usize, usize) {
        (self.pending_services.len(), self.pending_endpoints.len())
    }

    /// The inputs of one Service, or `None` when the proxy programs nothing for it.
    pub fn inputs(&self, key: &ServiceKey) -> Option<ServiceInputs> {
        let service = self.services.get(key)?.clone();
        let slices = self
            .slices_of
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|name| self.slices.get(&(key.0.clone(), name.clone())))
            .cloned()
            .collect();
        Some(ServiceInputs { service, slices })
    }

    /// Endpoint addresses of a Service across its slices: (ready, not ready).
    fn endpoint_counts(&self, key: &ServiceKey) -> (u64, u64) {
        let mut ready: BTreeMap<std::net::Ipv4Addr, bool> = BTreeMap::new();
        for name in self.slices_of.get(key).into_iter().flatten() {
            if let Some(s) = self.slices.get(&(key.0.clone(), name.clone())) {
                for e in &s.endpoints {
                    *ready.entry(e.ip).or_default() |= e.ready;
                }
            }
        }
        let r = ready.values().filter(|r| **r).count() as u64;
        (r, ready.len() as u64 - r)
    }

    /// Hands over what changed and starts collecting anew.
    pub fn take_changes(&mut self) -> Changes {
        let mut at = std::mem::take(&mut self.pending_services);
        for (k, t) in std::mem::take(&mut self.pending_endpoints) {
            mark(&mut at, k, t);
        }
        let mut out = Changes::default();
        for (k, t) in at {
            let inputs = self.inputs(&k);
            let counts = inputs.as_ref().map(|_| self.endpoint_counts(&k));
            out.triggered.push(t);
            out.endpoint_counts.insert(k.clone(), counts);
            out.services.insert(k, inputs);
        }
        out
    }
}

/// The keys of `known` that a relist did not show.
fn unlisted<V>(known: &HashMap<ServiceKey, V>, listed: &BTreeSet<ServiceKey>) -> Vec<ServiceKey> {
    known
        .keys()
        .filter(|k| !listed.contains(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn service(name: &str, ip: &str) -> Value {
        json!({"metadata": {"namespace": "default", "name": name},
               "spec": {"clusterIP": ip, "ports": [{"port": 80, "protocol": "TCP"}]}})
    }

    fn slice(service: &str, ips: &[(&str, bool)], trigger: Option<&str>) -> Value {
        let mut meta = json!({"namespace": "default", "name": format!("{service}-abc"),
                              "labels": {"kubernetes.io/service-name": service}});
        if let Some(tt) = trigger {
            meta["annotations"] = json!({LAST_CHANGE_TRIGGER_TIME: tt});
        }
        json!({"metadata": meta, "addressType": "IPv4",
               "ports": [{"port": 8080, "protocol": "TCP"}],
               "endpoints": ips.iter().map(|(ip, ready)| json!({
                   "addresses": [ip], "conditions": {"ready": ready}})).collect::<Vec<_>>()})
    }

    fn web() -> ServiceKey {
        key("default", "web")
    }

    #[test]
    fn a_service_and_its_slice_become_one_change() {
        let mut tr = Tracker::new("node");
        tr.service("default", "web", Some(&service("web", "10.96.0.5")), t(10));
        tr.slice(
            "default",
            "web-abc",
            Some(&slice(
                "web",
                &[("10.244.0.2", true), ("10.244.0.3", false)],
                None,
            )),
            t(12),
        );
        assert_eq!(tr.pending(), (1, 1));
        let c = tr.take_changes();
        let inputs = c.services[&web()].as_ref().expect("inputs");
        assert_eq!(inputs.service.cluster_ip.to_string(), "10.96.0.5");
        assert_eq!(inputs.slices.len(), 1);
        assert_eq!(c.triggered, [t(10)], "the earliest change counts");
        assert_eq!(c.endpoint_counts[&web()], Some((1, 1)));
        assert_eq!((tr.service_events, tr.slice_events), (1, 1));
        assert_eq!(tr.take_changes(), Changes::default());
    }

    #[test]
    fn unchanged_objects_are_counted_but_not_synced() {
        let mut tr = Tracker::new("node");
        let s = service("web", "10.96.0.5");
        tr.service("default", "web", Some(&s), t(1));
        tr.take_changes();
        tr.service("default", "web", Some(&s), t(2));
        assert_eq!(tr.pending(), (0, 0));
        assert_eq!(tr.service_events, 2);
    }

    #[test]
    fn trigger_time_annotation_wins_over_the_event_time() {
        let mut tr = Tracker::new("node");
        tr.slice(
            "default",
            "web-abc",
            Some(&slice(
                "web",
                &[("10.244.0.2", true)],
                Some("1970-01-01T00:00:00.5Z"),
            )),
            t(9000),
        );
        let c = tr.take_changes();
        assert_eq!(c.triggered, [t(500)]);
        // No Service (yet): nothing to program, nothing to count.
        assert_eq!(c.services[&web()], None);
        assert_eq!(c.endpoint_counts[&web()], None);
        assert_eq!(
            trigger_time(&json!({"metadata": {"annotations": {LAST_CHANGE_TRIGGER_TIME: "bad"}}})),
            None
        );
    }

    #[test]
    fn deletions_and_relists() {
        let mut tr = Tracker::new("node");
        tr.service("default", "web", Some(&service("web", "10.96.0.5")), t(1));
        tr.service("default", "db", Some(&service("db", "10.96.0.6")), t(1));
        tr.slice(
            "default",
            "web-abc",
            Some(&slice("web", &[("10.244.0.2", true)], None)),
            t(1),
        );
        tr.take_changes();

        // A re-list without db and without web's slice.
        let listed = vec![(
            "default".to_string(),
            "web".to_string(),
            service("web", "10.96.0.5"),
        )];
        tr.replace_services(listed, t(5));
        tr.replace_slices(Vec::new(), t(5));
        let c = tr.take_changes();
        assert_eq!(c.services[&key("default", "db")], None);
        let web_inputs = c.services[&web()].as_ref().expect("web stays");
        assert!(web_inputs.slices.is_empty());
        assert_eq!(c.endpoint_counts[&web()], Some((0, 0)));
    }

    #[test]
    fn a_slice_moving_to_another_service_changes_both() {
        let mut tr = Tracker::new("node");
        for (n, ip) in [("web", "10.96.0.5"), ("api", "10.96.0.6")] {
            tr.service("default", n, Some(&service(n, ip)), t(1));
        }
        tr.slice(
            "default",
            "x",
            Some(&slice("web", &[("10.244.0.2", true)], None)),
            t(1),
        );
        tr.take_changes();
        tr.slice(
            "default",
            "x",
            Some(&slice("api", &[("10.244.0.2", true)], None)),
            t(2),
        );
        let c = tr.take_changes();
        assert!(c.services[&web()].as_ref().expect("web").slices.is_empty());
        assert_eq!(
            c.services[&key("default", "api")]
                .as_ref()
                .expect("api")
                .slices
                .len(),
            1
        );
    }
}
