//! The few fields of Services, EndpointSlices and Pods that DNS needs, read
//! from their Kubernetes JSON. Anything malformed is skipped, never a panic.

use std::net::IpAddr;

use serde_json::Value;

/// What a Service publishes in DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// A virtual IP per family (spec.clusterIPs).
    ClusterIp(Vec<IpAddr>),
    /// clusterIP "None": the endpoints are published instead.
    Headless,
    /// type ExternalName: a CNAME to this name.
    ExternalName(String),
    /// No usable address yet (e.g. clusterIP not allocated): no records.
    Unpublished,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// "" for an unnamed port.
    pub name: String,
    /// Lower case ("tcp", "udp", "sctp").
    pub protocol: String,
    /// None when an EndpointSlice port has no number.
    pub port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    pub kind: ServiceKind,
    pub ports: Vec<Port>,
    /// spec.publishNotReadyAddresses, or the old tolerate-unready annotation.
    pub publish_not_ready: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addresses: Vec<IpAddr>,
    pub hostname: Option<String>,
    pub ready: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceInfo {
    /// The kubernetes.io/service-name label.
    pub service: String,
    pub ports: Vec<Port>,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub ips: Vec<IpAddr>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn protocol_of(p: &Value) -> String {
    p.get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP")
        .to_ascii_lowercase()
}

fn port_number(p: &Value) -> Option<u16> {
    p.get("port")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
}

fn ports_of(list: Option<&Value>) -> Vec<Port> {
    list.and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| Port {
                    name: p
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    protocol: protocol_of(p),
                    port: port_number(p),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a Service object.
pub fn service(obj: &Value) -> ServiceInfo {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let kind = if svc_type == "ExternalName" {
        match spec.get("externalName").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => ServiceKind::ExternalName(n.to_string()),
            _ => ServiceKind::Unpublished,
        }
    } else {
        let primary = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
        if primary == "None" {
            ServiceKind::Headless
        } else {
            let mut ips: Vec<IpAddr> = spec
                .get("clusterIPs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|s| s.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            if ips.is_empty() {
                if let Ok(ip) = primary.parse() {
                    ips.push(ip);
                }
            }
            if ips.is_empty() {
                ServiceKind::Unpublished
            } else {
                ServiceKind::ClusterIp(ips)
            }
        }
    };
    let tolerate = str_at(
        obj,
        &[
            "metadata",
            "annotations",
            "service.alpha.kubernetes.io/tolerate-unready-endpoints",
        ],
    ) == Some("true");
    ServiceInfo {
        kind,
        ports: ports_of(spec.get("ports")),
        publish_not_ready: tolerate
            || spec
                .get("publishNotReadyAddresses")
                .and_then(Value::as_bool)
                .unwrap_or(false),
    }
}

/// Reads an EndpointSlice; None for slices DNS ignores (FQDN address type,
/// no service-name label).
pub fn endpoint_slice(obj: &Value) -> Option<SliceInfo> {
    let service = str_at(obj, &["metadata", "labels", "kubernetes.io/service-name"])?;
    let address_type = obj.get("addressType").and_then(Value::as_str)?;
    if address_type != "IPv4" && address_type != "IPv6" {
        return None;
    }
    let endpoints = obj
        .get("endpoints")
        .and_then(Value::as_array)
        .map(|eps| {
            eps.iter()
                .map(|ep| Endpoint {
                    addresses: ep
                        .get("addresses")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .filter_map(|s| s.parse().ok())
                                .collect()
                        })
                        .unwrap_or_default(),
                    hostname: ep
                        .get("hostname")
                        .and_then(Value::as_str)
                        .filter(|h| !h.is_empty())
                        .map(str::to_string),
                    // The API says a missing ready condition means "ready".
                    ready: ep
                        .get("conditions")
                        .and_then(|c| c.get("ready"))
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(SliceInfo {
        service: service.to_string(),
        ports: ports_of(obj.get("ports")),
        endpoints,
    })
}

/// Reads a Pod; None while it has no IP or is being deleted (CoreDNS drops
/// terminating pods too).
pub fn pod(obj: &Value) -> Option<PodInfo> {
    if obj
        .get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|t| !t.is_null())
    {
        return None;
    }
    let status = obj.get("status")?;
    let mut ips: Vec<IpAddr> = status
        .get("podIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("ip").and_then(Value::as_str))
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if let Some(ip) = status
        .get("podIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
    {
        if !ips.contains(&ip) {
            ips.insert(0, ip);
        }
    }
    if ips.is_empty() {
        None
    } else {
        Some(PodInfo { ips })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_services() {
        let cases = [
            (
                json!({"spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
                ServiceKind::ClusterIp(vec!["10.96.0.1".parse().unwrap()]),
                1,
                false,
            ),
            (
                json!({"spec": {"clusterIP": "10.96.0.2", "ports": [{"port": 53, "protocol": "UDP"}]}}),
                ServiceKind::ClusterIp(vec!["10.96.0.2".parse().unwrap()]),
                1,
                false,
            ),
            (
                json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"], "publishNotReadyAddresses": true}}),
                ServiceKind::Headless,
                0,
                true,
            ),
            (
                json!({"metadata": {"annotations": {"service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"}}, "spec": {"clusterIP": "None"}}),
                ServiceKind::Headless,
                0,
                true,
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
                ServiceKind::ExternalName("db.example.com".into()),
                0,
                false,
            ),
            (
                json!({"spec": {"type": "ClusterIP"}}),
                ServiceKind::Unpublished,
                0,
                false,
            ),
            (json!("garbage"), ServiceKind::Unpublished, 0, false),
        ];
        for (obj, kind, nports, pnr) in cases {
            let s = service(&obj);
            assert_eq!(s.kind, kind, "{obj}");
            assert_eq!(s.ports.len(), nports, "{obj}");
            assert_eq!(s.publish_not_ready, pnr, "{obj}");
        }
        let s = service(
            &json!({"spec": {"clusterIP": "10.96.0.2", "ports": [{"port": 53, "protocol": "UDP"}]}}),
        );
        assert_eq!(
            s.ports,
            vec![Port {
                name: String::new(),
                protocol: "udp".into(),
                port: Some(53)
            }]
        );
    }

    #[test]
    fn reads_slices() {
        let s = endpoint_slice(&json!({
            "metadata": {"labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "x"}],
            "endpoints": [
                {"addresses": ["10.244.0.5"], "conditions": {"ready": true}, "hostname": "web-0"},
                {"addresses": ["10.244.0.6", "bogus"], "conditions": {"ready": false}},
                {"addresses": ["10.244.0.7"]}
            ]
        }))
        .unwrap();
        assert_eq!(s.service, "web");
        assert_eq!(s.ports[1].port, None);
        assert_eq!(s.endpoints[0].hostname.as_deref(), Some("web-0"));
        assert!(!s.endpoints[1].ready);
        assert_eq!(s.endpoints[1].addresses.len(), 1);
        assert!(s.endpoints[2].ready);
        assert!(endpoint_slice(&json!({"metadata": {"labels": {"kubernetes.io/service-name": "web"}}, "addressType": "FQDN"})).is_none());
        assert!(endpoint_slice(&json!({"addressType": "IPv4"})).is_none());
    }

    #[test]
    fn reads_pods() {
        let p = pod(&json!({"status": {"podIP": "10.244.0.9", "podIPs": [{"ip": "10.244.0.9"}, {"ip": "fd00::9"}]}})).unwrap();
        assert_eq!(p.ips.len(), 2);
        assert!(pod(&json!({"status": {}})).is_none());
        assert!(pod(&json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "status": {"podIP": "10.244.0.9"}})).is_none());
    }
}
