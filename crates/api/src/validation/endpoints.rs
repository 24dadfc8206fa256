//! Endpoints (core/v1) and EndpointSlice (discovery/v1) validation.

use super::ip::{validate_ip, validate_non_special_ip};
use super::json::{arr_at, get, int_at, str_at};
use super::meta::{
    immutable, name_is_dns_subdomain, validate_dns1123_label, validate_labels,
    validate_object_meta, validate_object_meta_update, validate_qualified_name,
};
use super::names::PROTOCOLS;
use super::names::{is_dns1123_label, is_dns1123_subdomain, is_valid_port_num, parse_ip};
use crate::field::{ErrorType, FieldError, Path};
use serde_json::Value;

fn validate_endpoint_address(addr: &Value, path: &Path) -> Vec<FieldError> {
    let ip = str_at(addr, "ip");
    let mut errs = validate_ip(ip, &path.child("ip"));
    let host = str_at(addr, "hostname");
    if !host.is_empty() {
        errs.extend(validate_dns1123_label(host, &path.child("hostname")));
    }
    if let Some(node) = addr.get("nodeName").and_then(Value::as_str) {
        for msg in is_dns1123_subdomain(node) {
            errs.push(FieldError::invalid(path.child("nodeName"), node, msg));
        }
    }
    errs.extend(validate_non_special_ip(ip, &path.child("ip")));
    errs
}

fn validate_port(port: &Value, require_name: bool, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(port, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(validate_dns1123_label(name, &path.child("name")));
    }
    let n = int_at(port, "port").unwrap_or(0);
    for msg in is_valid_port_num(n) {
        errs.push(FieldError::invalid(path.child("port"), n, msg));
    }
    let proto = str_at(port, "protocol");
    if proto.is_empty() {
        errs.push(FieldError::required(path.child("protocol"), ""));
    } else if !PROTOCOLS.contains(&proto) {
        errs.push(FieldError::not_supported(
            path.child("protocol"),
            proto,
            PROTOCOLS,
        ));
    }
    if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
        errs.extend(validate_qualified_name(ap, &path.child("appProtocol")));
    }
    errs
}

/// `ValidateEndpoints` (create and, after the metadata rules, update).
pub fn validate_endpoints(ep: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ep, true, name_is_dns_subdomain);
    let path = Path::new("subsets");
    for (i, ss) in arr_at(ep, "subsets").iter().enumerate() {
        let p = path.index(i);
        let (ready, not_ready) = (arr_at(ss, "addresses"), arr_at(ss, "notReadyAddresses"));
        if ready.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(
                &p,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (j, a) in ready.iter().enumerate() {
            errs.extend(validate_endpoint_address(a, &p.child("addresses").index(j)));
        }
        for (j, a) in not_ready.iter().enumerate() {
            errs.extend(validate_endpoint_address(
                a,
                &p.child("notReadyAddresses").index(j),
            ));
        }
        let ports = arr_at(ss, "ports");
        for (j, port) in ports.iter().enumerate() {
            errs.extend(validate_port(
                port,
                ports.len() > 1,
                &p.child("ports").index(j),
            ));
        }
    }
    errs
}

/// `ValidateEndpointsUpdate`.
pub fn validate_endpoints_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_endpoints(new));
    errs
}

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];

fn too_many(path: &Path, n: usize, max: usize) -> FieldError {
    FieldError::new(
        ErrorType::TooMany,
        path,
        Some(Value::from(n)),
        format!("must have at most {max} items"),
    )
}

/// `IsFullyQualifiedDomainName`.
fn validate_fqdn(name: &str, path: &Path) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let errs = is_dns1123_subdomain(name);
    if !errs.is_empty() {
        return vec![FieldError::invalid(path, name, errs.join(","))];
    }
    if name.split('.').count() < 2 {
        return vec![FieldError::invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in name.split('.') {
        let errs = is_dns1123_label(label);
        if !errs.is_empty() {
            return vec![FieldError::invalid(path, label, errs.join(","))];
        }
    }
    Vec::new()
}

fn validate_slice_endpoints(slice: &Value, addr_type: &str) -> Vec<FieldError> {
    let path = Path::new("endpoints");
    let endpoints = arr_at(slice, "endpoints");
    if endpoints.len() > 1000 {
        return vec![too_many(&path, endpoints.len(), 1000)];
    }
    let mut errs = Vec::new();
    for (i, ep) in endpoints.iter().enumerate() {
        let p = path.index(i);
        let ap = p.child("addresses");
        let addrs = arr_at(ep, "addresses");
        if addrs.is_empty() {
            errs.push(FieldError::required(&ap, "must contain at least 1 address"));
        } else if addrs.len() > 100 {
            errs.push(too_many(&ap, addrs.len(), 100));
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let aj = ap.index(j);
            match addr_type {
                "IPv4" | "IPv6" => {
                    let ok = parse_ip(a).is_some_and(|ip| ip.is_ipv4() == (addr_type == "IPv4"));
                    if !ok {
                        let msg = format!("must be a valid {addr_type} address");
                        errs.push(FieldError::invalid(&aj, a, msg));
                    }
                    errs.extend(validate_non_special_ip(a, &aj));
                }
                "FQDN" => errs.extend(validate_fqdn(a, &aj)),
                _ => {}
            }
        }
        if let Some(node) = ep.get("nodeName").and_then(Value::as_str) {
            for msg in is_dns1123_subdomain(node) {
                errs.push(FieldError::invalid(p.child("nodeName"), node, msg));
            }
        }
        errs.extend(validate_labels(
            ep.get("deprecatedTopology"),
            &p.child("deprecatedTopology"),
        ));
        if let Some(h) = ep.get("hostname").and_then(Value::as_str) {
            errs.extend(validate_dns1123_label(h, &p.child("hostname")));
        }
    }
    errs
}

fn validate_slice_ports(slice: &Value) -> Vec<FieldError> {
    let path = Path::new("ports");
    let ports = arr_at(slice, "ports");
    if ports.len() > 20000 {
        return vec![too_many(&path, ports.len(), 20000)];
    }
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = str_at(port, "name");
        if !name.is_empty() {
            errs.extend(validate_dns1123_label(name, &p.child("name")));
        }
        if names.contains(&name) {
            errs.push(FieldError::duplicate(p.child("name"), name));
        } else {
            names.push(name);
        }
        match get(port, &["protocol"]).and_then(Value::as_str) {
            None => errs.push(FieldError::required(p.child("protocol"), "")),
            Some(proto) if !PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
                p.child("protocol"),
                proto,
                PROTOCOLS,
            )),
            Some(_) => {}
        }
        if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
            errs.extend(validate_qualified_name(ap, &p.child("appProtocol")));
        }
    }
    errs
}

/// `ValidateEndpointSlice`.
pub fn validate_endpoint_slice(slice: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(slice, true, name_is_dns_subdomain);
    let addr_type = str_at(slice, "addressType");
    if addr_type.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !ADDRESS_TYPES.contains(&addr_type) {
        errs.push(FieldError::not_supported(
            "addressType",
            addr_type,
            ADDRESS_TYPES,
        ));
    }
    errs.extend(validate_slice_endpoints(slice, addr_type));
    errs.extend(validate_slice_ports(slice));
    errs
}

/// `ValidateEndpointSliceUpdate`: addressType is immutable.
pub fn validate_endpoint_slice_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_endpoint_slice(new));
    errs.extend(immutable(
        new.get("addressType"),
        old.get("addressType"),
        &Path::new("addressType"),
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(e: Vec<FieldError>) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    fn meta() -> Value {
        json!({"name": "web", "namespace": "default", "resourceVersion": "1"})
    }

    #[test]
    fn endpoints() {
        let cases = vec![
            (json!({"metadata": meta(), "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}), vec![]),
            (
                json!({"metadata": meta(), "subsets": [{"ports": [{"port": 80, "protocol": "TCP"}]}]}),
                vec!["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`".to_string()],
            ),
            (
                json!({"metadata": meta(), "subsets": [{"addresses": [{"ip": "127.0.0.1"}]}]}),
                vec!["subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)".to_string()],
            ),
            (
                json!({"metadata": meta(), "subsets": [{"addresses": [{"ip": "nope"}]}]}),
                vec![
                    "subsets[0].addresses[0].ip: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string(),
                    "subsets[0].addresses[0].ip: Invalid value: \"nope\": must be a valid IP address".to_string(),
                ],
            ),
            (
                json!({"metadata": meta(), "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}]}]}),
                vec!["subsets[0].ports[0].name: Required value".to_string(), "subsets[0].ports[1].name: Required value".to_string()],
            ),
        ];
        for (ep, want) in cases {
            assert_eq!(texts(validate_endpoints(&ep)), want);
        }
    }

    #[test]
    fn endpoint_slices() {
        let cases = vec![
            (json!({"metadata": meta(), "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"]}], "ports": [{"name": "", "protocol": "TCP", "port": 80}]}), vec![]),
            (json!({"metadata": meta()}), vec!["addressType: Required value".to_string()]),
            (
                json!({"metadata": meta(), "addressType": "IPv5"}),
                vec!["addressType: Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"".to_string()],
            ),
            (
                json!({"metadata": meta(), "addressType": "IPv4", "endpoints": [{"addresses": []}]}),
                vec!["endpoints[0].addresses: Required value: must contain at least 1 address".to_string()],
            ),
            (
                json!({"metadata": meta(), "addressType": "IPv4", "endpoints": [{"addresses": ["fd00::1"]}]}),
                vec!["endpoints[0].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address".to_string()],
            ),
            (
                json!({"metadata": meta(), "addressType": "IPv4", "ports": [{"name": "http", "protocol": "TCP"}, {"name": "http", "protocol": "TCP"}]}),
                vec!["ports[1].name: Duplicate value: \"http\"".to_string()],
            ),
        ];
        for (s, want) in cases {
            assert_eq!(texts(validate_endpoint_slice(&s)), want);
        }
        let old = json!({"metadata": meta(), "addressType": "IPv4"});
        let new = json!({"metadata": meta(), "addressType": "IPv6"});
        assert_eq!(
            texts(validate_endpoint_slice_update(&new, &old)),
            vec!["addressType: Invalid value: \"IPv6\": field is immutable"]
        );
    }
}
