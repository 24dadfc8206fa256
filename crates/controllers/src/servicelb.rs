//! The built-in service load balancer (like k3s's ServiceLB): LoadBalancer
//! Services get the node's addresses as `status.loadBalancer.ingress`, and
//! the proxy serves their ports there. A port already served by an older
//! LoadBalancer Service leaves the newer one `<pending>` with a Warning
//! Event saying why. Services with another `loadBalancerClass` are left to
//! their controller.

use crate::events::{ObjectRef, Recorder};
use crate::informer;
use k1s_api::resource::lookup;
use k1s_apiserver::{objects, Api, WriteOptions};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

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
        let served = s["status"]["loadBalancer"]["ingress"]
            .as_array()
            .is_some_and(|i| !i.is_empty());
        (
            !served,
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

pub async fn run(api: Api, node_ips: Vec<Ipv4Addr>) {
    let Some(services) = lookup("", "services") else {
        return;
    };
    let wake = informer::wake_on_changes(api.store(), &[services.storage_prefix()]);
    let recorder = Recorder::new(api.clone(), "service-lb-controller");
    let mut warned: HashSet<(String, String)> = HashSet::new();
    loop {
        wake.notified().await;
        let all = match informer::list_values(api.store(), &services.storage_prefix()) {
            Ok(all) => all,
            Err(e) => {
                tracing::error!("servicelb: listing Services: {e}");
                continue;
            }
        };
        let decisions = decide(&all, &node_ips);
        for svc in all.iter().filter(|s| is_ours(s)) {
            let Some(decision) = decisions.get(&key(svc)) else {
                continue;
            };
            let wanted = status(decision);
            if svc["status"]["loadBalancer"] != wanted {
                let mut body = objects::with_kind(services, svc.clone());
                body["status"]["loadBalancer"] = wanted;
                let opts = WriteOptions {
                    field_manager: "service-lb-controller".into(),
                    ..Default::default()
                };
                let ns = objects::meta_str(svc, "namespace").to_string();
                if let Err(e) = api
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
                    // A newer version will wake us again.
                    tracing::debug!("servicelb: status of {}: {}", key(svc), e.message);
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
