//! Services, Endpoints and EndpointSlices.

use super::{age, name, Row};
use crate::selector::{format_labels, string_map};
use crate::table::access::{arr_at, at, int_at, opt_int_at, str_at};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

/// How many endpoints or ports a cell lists before `+ N more...`.
const MAX_LISTED: usize = 3;

pub fn service(obj: &Value, now: DateTime<Utc>) -> Row {
    // Decoding from storage defaults an unset type to ClusterIP.
    let svc_type = match str_at(obj, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = match arr_at(obj, &["spec", "clusterIPs"]).first() {
        Some(ip) => ip.as_str().unwrap_or(""),
        // Defaulting mirrors clusterIP into clusterIPs.
        None => match str_at(obj, &["spec", "clusterIP"]) {
            "" => "<none>",
            ip => ip,
        },
    };
    let mut ports = port_string(arr_at(obj, &["spec", "ports"]));
    if ports.is_empty() {
        ports = "<none>".to_string();
    }
    let selector = format_labels(&string_map(
        at(obj, &["spec", "selector"]).unwrap_or(&Value::Null),
    ));
    Row::cells(vec![
        name(obj),
        svc_type.into(),
        cluster_ip.into(),
        external_ip(obj, svc_type).into(),
        ports.into(),
        age(obj, now),
        selector.into(),
    ])
}

/// `getServiceExternalIP` (wide, so load-balancer addresses are not clipped).
fn external_ip(obj: &Value, svc_type: &str) -> String {
    let external: Vec<&str> = arr_at(obj, &["spec", "externalIPs"])
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let ingress: BTreeSet<&str> = arr_at(obj, &["status", "loadBalancer", "ingress"])
                .iter()
                .filter_map(|i| match (str_at(i, &["ip"]), str_at(i, &["hostname"])) {
                    ("", "") => None,
                    ("", host) => Some(host),
                    (ip, _) => Some(ip),
                })
                .collect();
            let mut all: Vec<&str> = ingress.into_iter().collect();
            if all.is_empty() && external.is_empty() {
                return "<pending>".to_string();
            }
            all.extend(external);
            all.join(",")
        }
        "ExternalName" => str_at(obj, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `makePortString`: `80/TCP`, `80:30080/TCP`, comma separated.
fn port_string(ports: &[Value]) -> String {
    let pieces: Vec<String> = ports
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let protocol = match str_at(p, &["protocol"]) {
                "" => "TCP",
                proto => proto,
            };
            match int_at(p, &["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    pieces.join(",")
}

pub fn endpoints(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![name(obj), format_endpoints(obj).into(), age(obj, now)])
}

/// `formatEndpoints` for all ports: up to three `ip:port`, then
/// `+ N more...` where N counts every address of every port.
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX_LISTED {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX_LISTED {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(port, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX_LISTED)
    } else {
        joined
    }
}

/// Go's `net.JoinHostPort`: IPv6 hosts get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub fn endpoint_slice(obj: &Value, now: DateTime<Utc>) -> Row {
    let ports = arr_at(obj, &["ports"]).iter().map(|p| {
        match (
            opt_int_at(p, &["port"]),
            at(p, &["name"]).and_then(Value::as_str),
        ) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        }
    });
    let addresses = arr_at(obj, &["endpoints"]).iter().flat_map(|e| {
        arr_at(e, &["addresses"])
            .iter()
            .map(|a| a.as_str().unwrap_or("").to_string())
    });
    Row::cells(vec![
        name(obj),
        str_at(obj, &["addressType"]).into(),
        list_with_more(ports).into(),
        list_with_more(addresses).into(),
        age(obj, now),
    ])
}

/// `listWithMoreString`: three items, `+ N more...`, `<unset>` when empty.
fn list_with_more(items: impl Iterator<Item = String>) -> String {
    let mut list = Vec::new();
    let mut count = 0;
    for item in items {
        if list.len() < MAX_LISTED {
            list.push(item);
        }
        count += 1;
    }
    let joined = list.join(",");
    if count > MAX_LISTED {
        format!("{joined} + {} more...", count - MAX_LISTED)
    } else if joined.is_empty() {
        "<unset>".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_external_ip_cases() {
        let cases = [
            (json!({"spec": {"type": "ClusterIP"}}), "<none>"),
            (
                json!({"spec": {"type": "ClusterIP", "externalIPs": ["1.2.3.4", "5.6.7.8"]}}),
                "1.2.3.4,5.6.7.8",
            ),
            (json!({"spec": {"type": "NodePort"}}), "<none>"),
            (json!({"spec": {"type": "LoadBalancer"}}), "<pending>"),
            (
                json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}}),
                "<pending>",
            ),
            (
                json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "192.168.56.10"}]}}}),
                "192.168.56.10",
            ),
            (
                json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"hostname": "lb.example.com"}, {"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}}}),
                "10.0.0.1,10.0.0.2,lb.example.com",
            ),
            (
                json!({"spec": {"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]}, "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}),
                "10.0.0.1,9.9.9.9",
            ),
            (
                json!({"spec": {"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]}}),
                "9.9.9.9",
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
                "db.example.com",
            ),
            (json!({"spec": {"type": "Weird"}}), "<unknown>"),
        ];
        for (svc, want) in cases {
            let t = str_at(&svc, &["spec", "type"]).to_string();
            assert_eq!(external_ip(&svc, &t), want, "{svc}");
        }
    }

    #[test]
    fn service_row_cells() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let svc = json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-11-23T07:55:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"],
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                     "selector": {"tier": "front", "app": "web"}}
        });
        assert_eq!(
            service(&svc, now).cells,
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.96.5.5"),
                json!("<none>"),
                json!("80:30080/TCP,443/TCP,53/UDP"),
                json!("5m"),
                json!("app=web,tier=front")
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {"clusterIP": "10.96.0.9"}});
        assert_eq!(
            service(&bare, now).cells,
            vec![
                json!("x"),
                json!("ClusterIP"),
                json!("10.96.0.9"),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<none>")
            ]
        );
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.1.1"], "ports": [{"port": 80, "nodePort": 31000}]}});
        assert_eq!(service(&lb, now).cells[3], json!("<pending>"));
        assert_eq!(service(&lb, now).cells[4], json!("80:31000/TCP"));
    }

    #[test]
    fn endpoints_cell() {
        let sub = |ips: &[&str], ports: &[i64]| {
            json!({
                "addresses": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
                "ports": ports.iter().map(|p| json!({"port": p})).collect::<Vec<_>>(),
            })
        };
        let cases = [
            (json!({}), "<none>"),
            (json!({"subsets": []}), "<none>"),
            (
                json!({"subsets": [sub(&["10.244.0.5"], &[80])]}),
                "10.244.0.5:80",
            ),
            (
                json!({"subsets": [sub(&["10.244.0.5", "10.244.0.6", "10.244.0.7"], &[80])]}),
                "10.244.0.5:80,10.244.0.6:80,10.244.0.7:80",
            ),
            (
                json!({"subsets": [sub(&["10.244.0.5", "10.244.0.6", "10.244.0.7", "10.244.0.8"], &[80])]}),
                "10.244.0.5:80,10.244.0.6:80,10.244.0.7:80 + 1 more...",
            ),
            // Every port counts all its addresses, listed or not.
            (
                json!({"subsets": [sub(&["10.244.0.5", "10.244.0.6"], &[80, 443])]}),
                "10.244.0.5:80,10.244.0.6:80,10.244.0.5:443 + 1 more...",
            ),
            (
                json!({"subsets": [sub(&["10.244.0.5", "10.244.0.6"], &[80]), sub(&["10.244.0.7", "10.244.0.8", "10.244.0.9"], &[8080])]}),
                "10.244.0.5:80,10.244.0.6:80,10.244.0.7:8080 + 2 more...",
            ),
            (
                json!({"subsets": [sub(&["10.244.0.5", "10.244.0.6"], &[])]}),
                "10.244.0.5,10.244.0.6",
            ),
            (
                json!({"subsets": [sub(&["fd00::1"], &[80])]}),
                "[fd00::1]:80",
            ),
            (
                json!({"subsets": [{"notReadyAddresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}]}),
                "",
            ),
        ];
        for (ep, want) in cases {
            assert_eq!(format_endpoints(&ep), want, "{ep}");
        }
    }

    #[test]
    fn endpoint_slice_cells() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let slice = json!({
            "metadata": {"name": "web-abc", "creationTimestamp": "2026-11-23T07:00:00Z"},
            "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "metrics"}, {}, {"port": 9000}],
            "endpoints": [
                {"addresses": ["10.244.0.5"]},
                {"addresses": ["10.244.0.6", "10.244.0.7"]},
                {"addresses": ["10.244.0.8"]}
            ]
        });
        assert_eq!(
            endpoint_slice(&slice, now).cells,
            vec![
                json!("web-abc"),
                json!("IPv4"),
                json!("80,metrics,* + 1 more..."),
                json!("10.244.0.5,10.244.0.6,10.244.0.7 + 1 more..."),
                json!("60m")
            ]
        );
        let empty =
            json!({"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [], "endpoints": []});
        assert_eq!(endpoint_slice(&empty, now).cells[2], json!("<unset>"));
        assert_eq!(endpoint_slice(&empty, now).cells[3], json!("<unset>"));
    }
}
