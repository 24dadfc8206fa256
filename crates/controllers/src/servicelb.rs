//! The built-in service load balancer (like k3s's ServiceLB): LoadBalancer
//! Services get the node's addresses as `status.loadBalancer.ingress`, and
//! the proxy serves their ports there. A port already served by an older
//! LoadBalancer Service leaves the newer one `<pending>` with a Warning
//! Event saying why. Services with another `loadBalancerClass` are left to
//! their controller. It keeps the LoadBalancer Services it serves in a
//! cache fed by the Service watch and decides over those alone.

use crate::cache::{metadata_only, Informer};
use crate::events::{ObjectRef, Recorder};
use k1s_api::resource::lookup;
use k1s_apiserver::{objects, Api, WriteOptions};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// The class this controller implements when a Service names one.
pub const CLASS: &str = "k1s.io/servicelb";

/// What one LoadBalancer Service should show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve it on these addresses.
    Ingress(Vec<Ipv4Addr>),
    /// Leave it pending: `port/protocol` is served for `holder` (namespace/name).
    Conflict {
        port: i64,
        protocol: String,
        holder: String,
    },
}

fn is_ours(svc: &Value) -> bool {
    svc["spec"]["type"] == "LoadBalancer"
        && match svc["spec"]["loadBalancerClass"].as_str() {
            None => true,
            Some(class) => class == CLASS,
        }
}

fn key(svc: &Value) -> String {
    format!(
        "{}/{}",
        objects::meta_str(svc, "namespace"),
        objects::name(svc)
    )
}

/// Pure: decides every LoadBalancer Service's ingress. Older Services (by
/// creationTimestamp, then name) keep their ports; a later Service that
/// needs a taken `port/protocol` waits.
pub fn decide(services: &[Value], node_ips: &[Ipv4Addr]) -> BTreeMap<String, Decision> {
    // Services already served keep their ports (creation times have only
    // second precision); then the older one wins.
    let rank = |s: &Value| {
        (
            !has_ingress(s),
            objects::meta_str(s, "creationTimestamp").to_string(),
            key(s),
        )
    };
    let mut ours: Vec<&Value> = services.iter().filter(|s| is_ours(s)).collect();
    ours.sort_by_key(|s| rank(s));
    let mut taken: BTreeMap<(i64, String), String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for svc in ours {
        let ports: Vec<(i64, String)> = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["port"].as_i64().unwrap_or(0),
                    p["protocol"].as_str().unwrap_or("TCP").to_string(),
                )
            })
            .collect();
        let conflict = ports
            .iter()
            .find_map(|p| taken.get(p).map(|holder| (p.clone(), holder.clone())));
        let decision = match conflict {
            Some(((port, protocol), holder)) => Decision::Conflict {
                port,
                protocol,
                holder,
            },
            None => {
                for p in ports {
                    taken.insert(p, key(svc));
                }
                Decision::Ingress(node_ips.to_vec())
            }
        };
        out.insert(key(svc), decision);
    }
    out
}

/// `status.loadBalancer` for a decision.
pub fn status(decision: &Decision) -> Value {
    match decision {
        Decision::Ingress(ips) => {
            let ingress: Vec<Value> = ips
                .iter()
                .map(|ip| json!({"ip": ip.to_string(), "ipMode": "VIP"}))
                .collect();
            json!({"ingress": ingress})
        }
        Decision::Conflict { .. } => json!({}),
    }
}

/// The LoadBalancer Services this controller serves, by `namespace/name`:
/// the only ones a decision looks at (a node may hold thousands of others).
pub type Served = BTreeMap<String, Value>;

/// Pure: applies one Service change to `served` (`None`: deleted). A
/// Service that is not ours (any more) leaves, freeing its ports for a
/// pending one. Returns whether `served` changed.
pub fn update(served: &mut Served, key: &str, svc: Option<Value>) -> bool {
    match svc.filter(is_ours) {
        Some(svc) => {
            if served.get(key) == Some(&svc) {
                return false;
            }
            served.insert(key.to_string(), svc);
            true
        }
        None => served.remove(key).is_some(),
    }
}

fn has_ingress(svc: &Value) -> bool {
    svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .is_some_and(|i| !i.is_empty())
}

/// Pure: whether a Service we served and that changed to `now` must have
/// its ingress taken back, as the cloud service controller does when a
/// Service stops being type LoadBalancer. One of another class keeps what
/// its own controller wrote.
pub fn must_clear(served_before: &Value, now: &Value) -> bool {
    has_ingress(served_before) && now["spec"]["type"] != "LoadBalancer" && has_ingress(now)
}

/// What the Service informer keeps: ours whole, the others as bare
/// metadata (only their identity is needed, to notice they went away).
fn lb_view(svc: Value) -> Value {
    if is_ours(&svc) {
        svc
    } else {
        metadata_only(svc)
    }
}

fn lock(served: &Mutex<Served>) -> MutexGuard<'_, Served> {
    served.lock().unwrap_or_else(|p| p.into_inner())
}

pub async fn run(api: Api, node_ips: Vec<Ipv4Addr>) {
    let Some(services) = lookup("", "services") else {
        return;
    };
    let informer = Informer::new(services, Some(lb_view));
    let served: Arc<Mutex<Served>> = Default::default();
    // Services we served that are no longer type LoadBalancer.
    let left: Arc<Mutex<Served>> = Default::default();
    let wake = Arc::new(Notify::new());
    {
        let (served, left, wake) = (served.clone(), left.clone(), wake.clone());
        informer.on_change(Box::new(move |old, new| {
            let Some(svc) = new.or(old) else {
                return;
            };
            let k = key(svc);
            let before = lock(&served).get(&k).cloned();
            if update(&mut lock(&served), &k, new.cloned()) {
                if let Some(before) = before.filter(|_| new.is_some_and(|n| !is_ours(n))) {
                    lock(&left).insert(k, before);
                }
                wake.notify_one();
            }
        }));
    }
    Informer::start_all(api.store(), &[&informer]).await;
    let recorder = Recorder::new(api.clone(), "service-lb-controller");
    let mut warned: HashSet<(String, String)> = HashSet::new();
    let opts = WriteOptions {
        field_manager: "service-lb-controller".into(),
        ..Default::default()
    };
    loop {
        wake.notified().await;
        let gone_from_lb = std::mem::take(&mut *lock(&left));
        for (k, before) in gone_from_lb {
            let ns = objects::meta_str(&before, "namespace");
            let Ok(now) = api.get(services, Some(ns), objects::name(&before)) else {
                continue;
            };
            if must_clear(&before, &now) {
                let mut body = objects::with_kind(services, now);
                body["status"]["loadBalancer"] = json!({});
                if let Err(e) = api
                    .update(
                        services,
                        Some(ns),
                        objects::name(&before),
                        body,
                        Some("status"),
                        &opts,
                    )
                    .await
                {
                    tracing::debug!("servicelb: clearing the ingress of {k}: {}", e.message);
                }
            }
        }
        let ours: Vec<Value> = lock(&served).values().cloned().collect();
        let decisions = decide(&ours, &node_ips);
        // A Service that left may come back as a new one: warn it afresh.
        warned.retain(|(k, _)| decisions.contains_key(k));
        for svc in &ours {
            let Some(decision) = decisions.get(&key(svc)) else {
                continue;
            };
            let wanted = status(decision);
            if svc["status"]["loadBalancer"] != wanted {
                let mut body = objects::with_kind(services, svc.clone());
                body["status"]["loadBalancer"] = wanted;
                let ns = objects::meta_str(svc, "namespace").to_string();
                match api
                    .update(
                        services,
                        Some(&ns),
                        objects::name(svc),
                        body,
                        Some("status"),
                        &opts,
                    )
                    .await
                {
                    // Seen at once, so the next pass does not write it again.
                    Ok(written) => informer.observe(&written.object),
                    // A newer version will wake us again.
                    Err(e) => {
                        tracing::debug!("servicelb: status of {}: {}", key(svc), e.message)
                    }
                }
            }
            if let Decision::Conflict {
                port,
                protocol,
                holder,
            } = decision
            {
                let why = format!("{port}/{protocol} is already served on the node by LoadBalancer Service {holder}");
                if warned.insert((key(svc), why.clone())) {
                    recorder.warning(
                        ObjectRef::of(services, svc),
                        "PortInUse",
                        format!("Service stays pending: {why}"),
                    );
                }
            } else {
                warned.retain(|(k, _)| *k != key(svc));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, created: &str, ports: &[(i64, &str)], class: Option<&str>) -> Value {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(p, proto)| json!({"port": p, "protocol": proto}))
            .collect();
        let mut s = json!({"metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
            "spec": {"type": "LoadBalancer", "ports": ports}});
        if let Some(c) = class {
            s["spec"]["loadBalancerClass"] = json!(c);
        }
        s
    }

    const NODE: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 10);

    #[test]
    fn older_service_keeps_the_port() {
        let services = [
            svc("second", "2026-01-01T00:00:02Z", &[(80, "TCP")], None),
            svc(
                "first",
                "2026-01-01T00:00:01Z",
                &[(80, "TCP"), (443, "TCP")],
                None,
            ),
            svc("udp", "2026-01-01T00:00:03Z", &[(80, "UDP")], None),
        ];
        let d = decide(&services, &[NODE]);
        assert_eq!(d["default/first"], Decision::Ingress(vec![NODE]));
        assert_eq!(
            d["default/second"],
            Decision::Conflict {
                port: 80,
                protocol: "TCP".into(),
                holder: "default/first".into()
            }
        );
        assert_eq!(
            d["default/udp"],
            Decision::Ingress(vec![NODE]),
            "another protocol is another port"
        );
    }

    #[test]
    fn a_served_service_keeps_its_port_against_an_equally_old_one() {
        let mut served = svc("zz-served", "2026-01-01T00:00:01Z", &[(80, "TCP")], None);
        served["status"]["loadBalancer"] = json!({"ingress": [{"ip": "192.168.56.10"}]});
        let services = [
            svc("aa-new", "2026-01-01T00:00:01Z", &[(80, "TCP")], None),
            served,
        ];
        let d = decide(&services, &[NODE]);
        assert_eq!(d["default/zz-served"], Decision::Ingress(vec![NODE]));
        assert!(matches!(d["default/aa-new"], Decision::Conflict { .. }));
    }

    #[test]
    fn other_classes_and_types_are_left_alone() {
        let mut cluster_ip = svc("plain", "2026-01-01T00:00:01Z", &[(80, "TCP")], None);
        cluster_ip["spec"]["type"] = json!("ClusterIP");
        let services = [
            cluster_ip,
            svc(
                "metal",
                "2026-01-01T00:00:01Z",
                &[(80, "TCP")],
                Some("metallb.io/l2"),
            ),
            svc("ours", "2026-01-01T00:00:02Z", &[(80, "TCP")], Some(CLASS)),
        ];
        let d = decide(&services, &[NODE]);
        assert_eq!(d.keys().collect::<Vec<_>>(), ["default/ours"]);
        assert_eq!(d["default/ours"], Decision::Ingress(vec![NODE]));
    }

    fn served(services: &[Value]) -> Served {
        let mut cache = Served::new();
        for s in services {
            assert!(update(&mut cache, &key(s), Some(s.clone())));
        }
        cache
    }

    fn decide_served(cache: &Served) -> BTreeMap<String, Decision> {
        decide(&cache.values().cloned().collect::<Vec<_>>(), &[NODE])
    }

    #[test]
    fn a_service_that_stops_being_a_load_balancer_frees_its_port() {
        let first = svc("first", "2026-01-01T00:00:01Z", &[(80, "TCP")], None);
        let second = svc("second", "2026-01-01T00:00:02Z", &[(80, "TCP")], None);
        let mut cache = served(&[first.clone(), second]);
        assert!(matches!(
            decide_served(&cache)["default/second"],
            Decision::Conflict { .. }
        ));
        let mut plain = first;
        plain["spec"]["type"] = json!("ClusterIP");
        assert!(update(&mut cache, "default/first", Some(plain.clone())));
        assert_eq!(cache.keys().collect::<Vec<_>>(), ["default/second"]);
        assert_eq!(
            decide_served(&cache)["default/second"],
            Decision::Ingress(vec![NODE])
        );
        // Further changes to a Service that is not ours change nothing.
        plain["metadata"]["labels"] = json!({"x": "y"});
        assert!(!update(&mut cache, "default/first", Some(plain)));
    }

    #[test]
    fn deletion_and_another_class_free_the_port_too() {
        let first = svc("first", "2026-01-01T00:00:01Z", &[(80, "TCP")], None);
        let second = svc("second", "2026-01-01T00:00:02Z", &[(80, "TCP")], None);
        let third = svc("third", "2026-01-01T00:00:03Z", &[(80, "TCP")], None);
        let mut cache = served(&[first, second.clone(), third]);
        assert!(update(&mut cache, "default/first", None));
        assert!(!update(&mut cache, "default/first", None), "already gone");
        let d = decide_served(&cache);
        assert_eq!(d["default/second"], Decision::Ingress(vec![NODE]));
        assert!(matches!(d["default/third"], Decision::Conflict { .. }));
        let mut metal = second;
        metal["spec"]["loadBalancerClass"] = json!("metallb.io/l2");
        assert!(update(&mut cache, "default/second", Some(metal)));
        assert_eq!(
            decide_served(&cache)["default/third"],
            Decision::Ingress(vec![NODE])
        );
    }

    #[test]
    fn only_real_changes_of_our_services_count() {
        let web = svc("web", "2026-01-01T00:00:01Z", &[(80, "TCP")], None);
        let mut cache = served(std::slice::from_ref(&web));
        assert!(!update(&mut cache, "default/web", Some(web.clone())));
        let mut more = web;
        more["spec"]["ports"] =
            json!([{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]);
        assert!(update(&mut cache, "default/web", Some(more.clone())));
        assert_eq!(cache["default/web"], more);
        let mut plain = svc("plain", "2026-01-01T00:00:01Z", &[(80, "TCP")], None);
        plain["spec"]["type"] = json!("NodePort");
        assert!(!update(&mut cache, "default/plain", Some(plain)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_informer_keeps_other_services_as_bare_metadata() {
        let ours = svc("web", "2026-01-01T00:00:01Z", &[(80, "TCP")], None);
        assert_eq!(lb_view(ours.clone()), ours);
        let mut plain = ours;
        plain["spec"]["type"] = json!("ClusterIP");
        let kept = lb_view(plain);
        assert!(kept.get("spec").is_none(), "{kept}");
        assert_eq!(kept["metadata"]["name"], "web");
    }

    #[test]
    fn only_a_former_load_balancer_loses_its_ingress() {
        let served = |s: Value| {
            let mut s = s;
            s["status"]["loadBalancer"] = json!({"ingress": [{"ip": "192.168.56.10"}]});
            s
        };
        let before = served(svc("a", "t1", &[(80, "TCP")], None));
        let mut cluster_ip = before.clone();
        cluster_ip["spec"]["type"] = json!("ClusterIP");
        assert!(must_clear(&before, &cluster_ip));
        let mut cleared = cluster_ip.clone();
        cleared["status"]["loadBalancer"] = json!({});
        assert!(!must_clear(&before, &cleared), "nothing left to clear");
        let other_class = served(svc("a", "t1", &[(80, "TCP")], Some("example.com/lb")));
        assert!(
            !must_clear(&before, &other_class),
            "another controller's ingress stays"
        );
        let pending = svc("a", "t1", &[(80, "TCP")], None);
        assert!(!must_clear(&pending, &cluster_ip), "we never served it");
    }

    #[test]
    fn status_shows_ingress_or_nothing() {
        assert_eq!(
            status(&Decision::Ingress(vec![NODE])),
            json!({"ingress": [{"ip": "192.168.56.10", "ipMode": "VIP"}]})
        );
        assert_eq!(
            status(&Decision::Conflict {
                port: 80,
                protocol: "TCP".into(),
                holder: "x".into()
            }),
            json!({})
        );
    }
}

#[cfg(test)]
mod watch_tests {
    use super::*;
    use std::time::Duration;

    const NODE: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 10);

    fn ingress(api: &Api, name: &str) -> Value {
        let services = lookup("", "services").expect("services");
        api.get(services, Some("default"), name)
            .map(|s| {
                s["status"]["loadBalancer"]["ingress"]
                    .as_array()
                    .map_or(json!([]), |i| json!(i))
            })
            .unwrap_or(Value::Null)
    }

    async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_pending_service_gets_the_port_when_the_holder_changes_type() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(k1s_store::Store::open(&dir.path().join("db")).expect("store"));
        let api = Api::new(store, Default::default());
        let opts = WriteOptions::default();
        let ns = lookup("", "namespaces").expect("namespaces");
        api.create(ns, None, json!({"metadata": {"name": "default"}}), &opts)
            .await
            .expect("namespace");
        let services = lookup("", "services").expect("services");
        let lb = |name: &str| {
            json!({"metadata": {"name": name},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}})
        };
        api.create(services, Some("default"), lb("first"), &opts)
            .await
            .expect("first");
        tokio::spawn(run(api.clone(), vec![NODE]));
        eventually("first is not served", || {
            ingress(&api, "first")[0]["ip"] == "192.168.56.10"
        })
        .await;
        api.create(services, Some("default"), lb("second"), &opts)
            .await
            .expect("second");
        let events = lookup("", "events").expect("events");
        eventually("no PortInUse event for second", || {
            crate::informer::list_values(api.store(), &events.storage_prefix())
                .unwrap_or_default()
                .iter()
                .any(|e| e["reason"] == "PortInUse" && e["involvedObject"]["name"] == "second")
        })
        .await;
        assert_eq!(ingress(&api, "second"), json!([]));

        let mut first = api.get(services, Some("default"), "first").expect("first");
        first["spec"]["type"] = json!("ClusterIP");
        api.update(services, Some("default"), "first", first, None, &opts)
            .await
            .expect("first becomes a ClusterIP Service");
        eventually("second is not served after first left", || {
            ingress(&api, "second")[0]["ip"] == "192.168.56.10"
        })
        .await;
        eventually("first still shows the node's address", || {
            ingress(&api, "first") == json!([])
        })
        .await;
    }
}
