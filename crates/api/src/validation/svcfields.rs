//! Read-only views of Service fields shared by Service defaulting and
//! validation (`pkg/api/service` helpers and the registry's `needs*`).

use super::json::{arr_path, get, str_path};
use super::names::parse_ip;
use serde_json::Value;

pub const CLUSTER_IP_NONE: &str = "None";

pub fn svc_type(s: &Value) -> &str {
    str_path(s, &["spec", "type"])
}

pub fn cluster_ip(s: &Value) -> &str {
    str_path(s, &["spec", "clusterIP"])
}

pub fn cluster_ips(s: &Value) -> Vec<&str> {
    arr_path(s, &["spec", "clusterIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

pub fn ip_families(s: &Value) -> Vec<&str> {
    arr_path(s, &["spec", "ipFamilies"])
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// `spec.ipFamilyPolicy`, None when unset.
pub fn ip_family_policy(s: &Value) -> Option<&str> {
    get(s, &["spec", "ipFamilyPolicy"]).and_then(Value::as_str)
}

pub fn selector_is_empty(s: &Value) -> bool {
    get(s, &["spec", "selector"])
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty())
}

/// Headless: exactly one clusterIPs entry, "None".
pub fn is_headless(s: &Value) -> bool {
    cluster_ips(s) == [CLUSTER_IP_NONE]
}

pub fn needs_cluster_ip(s: &Value) -> bool {
    svc_type(s) != "ExternalName"
}

pub fn needs_node_port(s: &Value) -> bool {
    matches!(svc_type(s), "NodePort" | "LoadBalancer")
}

pub fn external_traffic_policy(s: &Value) -> &str {
    str_path(s, &["spec", "externalTrafficPolicy"])
}

/// LoadBalancer with externalTrafficPolicy Local needs a health-check port.
pub fn needs_health_check(s: &Value) -> bool {
    svc_type(s) == "LoadBalancer" && external_traffic_policy(s) == "Local"
}

/// `apiservice.ExternallyAccessible`.
pub fn externally_accessible(s: &Value) -> bool {
    match svc_type(s) {
        "LoadBalancer" | "NodePort" => true,
        "ClusterIP" => !arr_path(s, &["spec", "externalIPs"]).is_empty(),
        _ => false,
    }
}

pub fn ports(s: &Value) -> &[Value] {
    arr_path(s, &["spec", "ports"])
}

/// Non-zero nodePorts of all ports.
pub fn node_ports(s: &Value) -> Vec<i64> {
    ports(s)
        .iter()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
        .filter(|n| *n != 0)
        .collect()
}

pub fn health_check_node_port(s: &Value) -> i64 {
    get(s, &["spec", "healthCheckNodePort"])
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

pub fn same_cluster_ips(a: &Value, b: &Value) -> bool {
    cluster_ip(a) == cluster_ip(b) && cluster_ips(a) == cluster_ips(b)
}

pub fn same_ip_families(a: &Value, b: &Value) -> bool {
    ip_families(a) == ip_families(b)
}

/// "IPv6" for IPv6 addresses, else "IPv4" (upstream's `familyOf`).
pub fn family_of(ip: &str) -> &'static str {
    match parse_ip(ip) {
        Some(a) if a.is_ipv6() => "IPv6",
        _ => "IPv4",
    }
}

pub fn is_ipv6_string(ip: &str) -> bool {
    parse_ip(ip).is_some_and(|a| a.is_ipv6())
}
