//! Adapters from Services and EndpointSlices in Kubernetes JSON form (as
//! k1s stores them) to the proxy's own input types. Whatever the proxy
//! cannot program (headless, ExternalName, IPv6, unknown protocols) is left
//! out here, the way kube-proxy's change trackers leave it out.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::model::{
    EndpointInfo, EndpointSliceInfo, Protocol, ServiceInfo, ServicePortInfo, SlicePort,
    DEFAULT_AFFINITY_TIMEOUT,
};

/// Label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn array<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn ipv4(v: &Value) -> Option<Ipv4Addr> {
    v.as_str()?.parse().ok()
}

fn port_number(v: Option<&Value>) -> Option<u16> {
    let n = v?.as_u64()?;
    u16::try_from(n).ok().filter(|p| *p != 0)
}

fn protocol(v: Option<&Value>) -> Option<Protocol> {
    match v.and_then(Value::as_str) {
        None => Some(Protocol::Tcp),
        Some(p) => Protocol::from_k8s(p),
    }
}

/// Builds the proxy's view of a Service, or `None` when the proxy has
/// nothing to program for it (ExternalName, headless, no IPv4 ClusterIP).
pub fn service(obj: &Value) -> Option<ServiceInfo> {
    let namespace = str_at(obj, &["metadata", "namespace"]).unwrap_or("default");
    let name = str_at(obj, &["metadata", "name"])?;
    let spec = obj.get("spec")?;
    let svc_type = str_at(spec, &["type"]).unwrap_or("ClusterIP");
    if svc_type == "ExternalName" {
        return None;
    }
    let cluster_ip: Ipv4Addr = str_at(spec, &["clusterIP"])?.parse().ok()?;

    let mut info = ServiceInfo::new(namespace, name, cluster_ip);
    for p in array(spec, &["ports"]) {
        let (Some(port), Some(protocol)) =
            (port_number(p.get("port")), protocol(p.get("protocol")))
        else {
            continue;
        };
        info.ports.push(ServicePortInfo {
            name: str_at(p, &["name"]).unwrap_or("").to_string(),
            protocol,
            port,
            node_port: port_number(p.get("nodePort")),
        });
    }
    info.external_ips = array(spec, &["externalIPs"])
        .iter()
        .filter_map(ipv4)
        .collect();
    if svc_type == "LoadBalancer" {
        // Ingress in "Proxy" mode is delivered by the load balancer itself.
        info.load_balancer_ips = array(obj, &["status", "loadBalancer", "ingress"])
            .iter()
            .filter(|ing| str_at(ing, &["ipMode"]) != Some("Proxy"))
            .filter_map(|ing| ing.get("ip").and_then(ipv4))
            .collect();
        info.load_balancer_source_ranges = array(spec, &["loadBalancerSourceRanges"])
            .iter()
            .filter_map(|c| c.as_str()?.trim().parse::<Ipv4Net>().ok())
            .map(|n| n.trunc())
            .collect();
    }
    if str_at(spec, &["sessionAffinity"]) == Some("ClientIP") {
        let timeout = at(
            spec,
            &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
        )
        .and_then(Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_AFFINITY_TIMEOUT);
        info.affinity_timeout = Some(timeout);
    }
    info.external_policy_local = str_at(spec, &["externalTrafficPolicy"]) == Some("Local");
    info.internal_policy_local = str_at(spec, &["internalTrafficPolicy"]) == Some("Local");
    Some(info)
}

/// Builds the proxy's view of an EndpointSlice, or `None` for slices it
/// cannot use (no service-name label, not IPv4). Endpoints whose
/// `nodeName` is `node_name` are marked local.
pub fn endpoint_slice(obj: &Value, node_name: &str) -> Option<EndpointSliceInfo> {
    let namespace = str_at(obj, &["metadata", "namespace"]).unwrap_or("default");
    let service_name = str_at(obj, &["metadata", "labels", SERVICE_NAME_LABEL])?;
    if str_at(obj, &["addressType"]) != Some("IPv4") {
        return None;
    }
    let ports = array(obj, &["ports"])
        .iter()
        .filter_map(|p| {
            Some(SlicePort {
                name: str_at(p, &["name"]).unwrap_or("").to_string(),
                protocol: protocol(p.get("protocol"))?,
                port: port_number(p.get("port"))?,
            })
        })
        .collect();
    let endpoints = array(obj, &["endpoints"])
        .iter()
        .filter_map(|ep| {
            // Only the first address is used, as kube-proxy does.
            let ip = ep.get("addresses")?.as_array()?.first().and_then(ipv4)?;
            let cond = |k: &str| at(ep, &["conditions", k]).and_then(Value::as_bool);
            // Unknown readiness counts as ready; unknown serving follows ready.
            let ready = cond("ready").unwrap_or(true);
            Some(EndpointInfo {
                ip,
                ready,
                serving: cond("serving").unwrap_or(ready),
                terminating: cond("terminating").unwrap_or(false),
                local: !node_name.is_empty() && str_at(ep, &["nodeName"]) == Some(node_name),
            })
        })
        .collect();
    Some(EndpointSliceInfo {
        namespace: namespace.to_string(),
        service_name: service_name.to_string(),
        ports,
        endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clusterip_service_defaults() {
        let svc = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80, "targetPort": 8080}]}
        });
        let info = service(&svc).expect("service");
        assert_eq!(info.cluster_ip, Ipv4Addr::new(10, 96, 0, 20));
        assert_eq!(
            info.ports,
            vec![ServicePortInfo {
                name: String::new(),
                protocol: Protocol::Tcp,
                port: 80,
                node_port: None
            }]
        );
        assert_eq!(info.affinity_timeout, None);
        assert!(!info.external_policy_local && !info.internal_policy_local);
    }

    #[test]
    fn headless_externalname_and_ipv6_are_skipped() {
        for spec in [
            json!({"clusterIP": "None", "ports": [{"port": 80}]}),
            json!({"type": "ExternalName", "externalName": "example.com"}),
            json!({"clusterIP": "fd00::1", "ports": [{"port": 80}]}),
            json!({"ports": [{"port": 80}]}),
        ] {
            let svc = json!({"metadata": {"name": "x", "namespace": "ns"}, "spec": spec});
            assert_eq!(service(&svc), None, "{svc}");
        }
    }

    #[test]
    fn loadbalancer_fields() {
        let svc = json!({
            "metadata": {"name": "lb", "namespace": "prod"},
            "spec": {
                "type": "LoadBalancer", "clusterIP": "10.96.5.5",
                "ports": [{"name": "http", "port": 80, "nodePort": 31000, "protocol": "TCP"},
                          {"name": "dns", "port": 53, "nodePort": 31001, "protocol": "UDP"},
                          {"name": "bad", "port": 54, "protocol": "ICMP"}],
                "externalIPs": ["203.0.113.7", "not-an-ip"],
                "loadBalancerSourceRanges": ["192.168.56.0/24", " 10.1.2.3/8 "],
                "externalTrafficPolicy": "Local",
                "internalTrafficPolicy": "Local",
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}
            },
            "status": {"loadBalancer": {"ingress": [
                {"ip": "192.168.56.10"}, {"ip": "198.51.100.1", "ipMode": "Proxy"}, {"hostname": "lb.example"}
            ]}}
        });
        let info = service(&svc).expect("service");
        assert_eq!(info.ports.len(), 2);
        assert_eq!(info.ports[1].protocol, Protocol::Udp);
        assert_eq!(info.ports[1].node_port, Some(31001));
        assert_eq!(info.external_ips, vec![Ipv4Addr::new(203, 0, 113, 7)]);
        assert_eq!(
            info.load_balancer_ips,
            vec![Ipv4Addr::new(192, 168, 56, 10)]
        );
        assert_eq!(
            info.load_balancer_source_ranges
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
            ["192.168.56.0/24", "10.0.0.0/8"]
        );
        assert_eq!(info.affinity_timeout, Some(60));
        assert!(info.external_policy_local && info.internal_policy_local);
    }

    #[test]
    fn ingress_of_non_loadbalancer_is_ignored_and_affinity_defaults() {
        let svc = json!({
            "metadata": {"name": "np", "namespace": "default"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.5.6", "sessionAffinity": "ClientIP",
                     "ports": [{"port": 80, "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.56.10"}]}}
        });
        let info = service(&svc).expect("service");
        assert!(info.load_balancer_ips.is_empty());
        assert_eq!(info.affinity_timeout, Some(DEFAULT_AFFINITY_TIMEOUT));
        assert_eq!(info.ports[0].node_port, Some(30080));
    }

    #[test]
    fn slice_conditions_and_locality() {
        let slice = json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "noport"}],
            "endpoints": [
                {"addresses": ["10.244.0.11"], "nodeName": "node1"},
                {"addresses": ["10.244.0.12"], "nodeName": "node2",
                 "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["10.244.0.13"], "conditions": {"ready": false}},
                {"addresses": []}
            ]
        });
        let info = endpoint_slice(&slice, "node1").expect("slice");
        assert_eq!(info.service_name, "web");
        assert_eq!(
            info.ports,
            vec![SlicePort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 8080
            }]
        );
        let e = &info.endpoints;
        assert_eq!(e.len(), 3);
        assert!(e[0].ready && e[0].serving && !e[0].terminating && e[0].local);
        assert!(!e[1].ready && e[1].serving && e[1].terminating && !e[1].local);
        assert!(!e[2].ready && !e[2].serving && !e[2].local);
    }

    #[test]
    fn unusable_slices() {
        let no_label = json!({"metadata": {"name": "x", "namespace": "d"}, "addressType": "IPv4"});
        assert_eq!(endpoint_slice(&no_label, "n"), None);
        let v6 = json!({"metadata": {"name": "x", "namespace": "d",
            "labels": {"kubernetes.io/service-name": "s"}}, "addressType": "IPv6"});
        assert_eq!(endpoint_slice(&v6, "n"), None);
    }
}
