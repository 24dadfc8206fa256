//! `ValidateService` / `ValidateServiceUpdate`: the Service rules proper
//! (ports, types, clusterIPs and families, affinity, traffic policies).

use super::gorepr;
use super::ip::{validate_ip, validate_non_special_ip};
use super::json::{arr_path, get, has, int_at, str_at, str_path};
use super::meta::{
    name_is_dns1035_label, validate_dns1123_label, validate_dns1123_subdomain, validate_labels,
    validate_object_meta, validate_object_meta_update, validate_qualified_name,
};
use super::names::{is_iana_svc_name, is_valid_port_num, parse_cidr, PROTOCOLS};
use super::svcfields::*;
use crate::field::{ErrorType, FieldError, Path};
use serde_json::Value;

pub(crate) fn string_list(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(*s)).collect())
}

/// A string list as Go prints it, `[]string(nil)` when empty.
fn list_err(path: impl Into<String>, items: &[&str], detail: &str) -> FieldError {
    if items.is_empty() {
        gorepr::invalid(path, "[]string(nil)", detail)
    } else {
        FieldError::invalid(path, string_list(items), detail)
    }
}

fn policy_value(s: &Value) -> Value {
    ip_family_policy(s).map_or(Value::Null, Value::from)
}

// ---- stage 3: ValidateService ----

fn validate_client_ip_affinity(svc: &Value, path: &Path) -> Vec<FieldError> {
    let why = "when session affinity type is ClientIP";
    let Some(cfg) = get(svc, &["spec", "sessionAffinityConfig"]) else {
        return vec![FieldError::required(path, why)];
    };
    let Some(client_ip) = get(cfg, &["clientIP"]) else {
        return vec![FieldError::required(path.child("clientIP"), why)];
    };
    let tpath = path.child("clientIP").child("timeoutSeconds");
    match int_at(client_ip, "timeoutSeconds") {
        None => vec![FieldError::required(tpath, why)],
        Some(t) if t <= 0 || t > 86400 => vec![FieldError::invalid(
            tpath,
            t,
            "must be greater than 0 and less than 86400",
        )],
        Some(_) => Vec::new(),
    }
}

fn validate_port_num_or_name(v: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match v {
        Some(Value::String(s)) => is_iana_svc_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s.as_str(), m))
            .collect(),
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            is_valid_port_num(n)
                .into_iter()
                .map(|m| FieldError::invalid(path, n, m))
                .collect()
        }
    }
}

fn validate_service_port(
    sp: &Value,
    require_name: bool,
    names: &mut Vec<String>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(sp, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(validate_dns1123_label(name, &path.child("name")));
        if names.iter().any(|n| n == name) {
            errs.push(FieldError::duplicate(path.child("name"), name));
        } else {
            names.push(name.to_string());
        }
    }
    let port = int_at(sp, "port").unwrap_or(0);
    for msg in is_valid_port_num(port) {
        errs.push(FieldError::invalid(path.child("port"), port, msg));
    }
    let proto = str_at(sp, "protocol");
    if proto.is_empty() {
        errs.push(FieldError::required(path.child("protocol"), ""));
    } else if !PROTOCOLS.contains(&proto) {
        errs.push(FieldError::not_supported(
            path.child("protocol"),
            proto,
            PROTOCOLS,
        ));
    }
    errs.extend(validate_port_num_or_name(
        sp.get("targetPort"),
        &path.child("targetPort"),
    ));
    if let Some(ap) = sp.get("appProtocol").and_then(Value::as_str) {
        errs.extend(validate_qualified_name(ap, &path.child("appProtocol")));
    }
    errs
}

/// `ValidateServiceClusterIPsRelatedFields`.
pub fn validate_cluster_ips_related_fields(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if svc_type(svc) == "ExternalName" {
        return errs;
    }
    let spec = Path::new("spec");
    let ips_path = spec.child("clusterIPs");
    let ips = cluster_ips(svc);
    let cip = cluster_ip(svc);
    if !cip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != cip {
            errs.push(list_err(
                &ips_path,
                &ips,
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(list_err(
            &ips_path,
            &ips,
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let fams = ip_families(svc);
    let mut seen: Vec<&str> = Vec::new();
    for (i, f) in fams.iter().enumerate() {
        let p = spec.child("ipFamilies").index(i);
        if *f != "IPv4" && *f != "IPv6" {
            errs.push(FieldError::not_supported(&p, *f, &["IPv4", "IPv6"]));
        }
        if seen.contains(f) {
            errs.push(FieldError::duplicate(&p, *f));
        }
        seen.push(f);
    }
    if let Some(pol) = ip_family_policy(svc) {
        if !["PreferDualStack", "RequireDualStack", "SingleStack"].contains(&pol) {
            errs.push(FieldError::not_supported(
                spec.child("ipFamilyPolicy"),
                pol,
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }
    let mut has_invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && *ip == CLUSTER_IP_NONE {
            if ips.len() > 1 {
                has_invalid = true;
                errs.push(list_err(
                    &ips_path,
                    &ips,
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let e = validate_ip(ip, &ips_path.index(i));
        has_invalid |= !e.is_empty();
        errs.extend(e);
    }
    if ips.len() > 2 {
        errs.push(list_err(&ips_path, &ips, "may only hold up to 2 values"));
    }
    if has_invalid {
        return errs;
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|ip| is_ipv6_string(ip)).count();
        let dual = ips.len() == 2 && v6 == 1;
        if !dual {
            errs.push(list_err(
                &ips_path,
                &ips,
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !is_headless(svc) {
        for (i, ip) in ips.iter().enumerate().take(fams.len()) {
            if fams[i] == "IPv4" && is_ipv6_string(ip) {
                errs.push(FieldError::invalid(
                    ips_path.index(i),
                    *ip,
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if fams[i] == "IPv6" && !is_ipv6_string(ip) {
                errs.push(FieldError::invalid(
                    ips_path.index(i),
                    *ip,
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

fn validate_external_traffic_policy(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = Path::new("spec");
    let etp = external_traffic_policy(svc);
    if !externally_accessible(svc) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                spec.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required(
            spec.child("externalTrafficPolicy"),
            "",
        ));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(FieldError::not_supported(
            spec.child("externalTrafficPolicy"),
            etp,
            &["Cluster", "Local"],
        ));
    }
    let hc = health_check_node_port(svc);
    let hc_path = spec.child("healthCheckNodePort");
    if !needs_health_check(svc) {
        if hc != 0 {
            errs.push(FieldError::invalid(
                hc_path,
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc == 0 {
        errs.push(FieldError::required(hc_path, ""));
    } else {
        for msg in is_valid_port_num(hc) {
            errs.push(FieldError::invalid(&hc_path, hc, msg));
        }
    }
    errs
}

fn validate_load_balancer_class(new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let path = Path::new("spec").child("loadBalancerClass");
    fn class(s: &Value) -> Option<&str> {
        get(s, &["spec", "loadBalancerClass"]).and_then(Value::as_str)
    }
    let is_lb = |s: &Value| svc_type(s) == "LoadBalancer";
    if let Some(old) = old {
        if is_lb(old) && is_lb(new) && class(old) != class(new) {
            errs.push(FieldError::invalid(
                &path,
                class(new).map_or(Value::Null, Value::from),
                "may not change once set",
            ));
        }
    }
    match (is_lb(new), class(new)) {
        (true, Some(c)) => errs.extend(validate_qualified_name(c, &path)),
        (false, Some(_)) => errs.push(FieldError::forbidden(
            &path,
            "may only be used when `type` is 'LoadBalancer'",
        )),
        _ => {}
    }
    errs
}

fn validate_source_ranges(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ranges = arr_path(svc, &["spec", "loadBalancerSourceRanges"]);
    let is_lb = svc_type(svc) == "LoadBalancer";
    let cidr_err = |path: &Path, v: &str| {
        FieldError::invalid(
            path,
            v,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        )
    };
    if !ranges.is_empty() {
        // Upstream spells this path with a capital L.
        let path = Path::new("spec").child("LoadBalancerSourceRanges");
        if !is_lb {
            errs.push(FieldError::forbidden(
                &path,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            let v = r.as_str().unwrap_or("").trim();
            if parse_cidr(v).is_none() {
                errs.push(cidr_err(&path.index(i), v));
            }
        }
        return errs;
    }
    let key = "service.beta.kubernetes.io/load-balancer-source-ranges";
    if let Some(val) = get(svc, &["metadata", "annotations", key]).and_then(Value::as_str) {
        let path = Path::new("metadata").child("annotations").key(key);
        if !is_lb {
            errs.push(FieldError::forbidden(
                &path,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        let val = val.trim();
        if !val.is_empty() {
            for v in val.split(',').map(str::trim) {
                if parse_cidr(v).is_none() {
                    errs.push(cidr_err(&path, v));
                }
            }
        }
    }
    errs
}

/// `ValidateService`: the create-time (and part of update-time) rules.
pub fn validate_service_spec(svc: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(svc, true, name_is_dns1035_label);
    let spec = Path::new("spec");
    let ann = |k: &str| get(svc, &["metadata", "annotations", k]).and_then(Value::as_str);
    let (hints, mode) = (
        ann("service.kubernetes.io/topology-aware-hints"),
        ann("service.kubernetes.io/topology-mode"),
    );
    if let (Some(h), Some(m)) = (hints, mode) {
        if h != m {
            errs.push(FieldError::invalid(
                Path::new("metadata").child("annotations").key("service.kubernetes.io/topology-mode"),
                m,
                "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified",
            ));
        }
    }
    let ty = svc_type(svc);
    let headless = is_headless(svc);
    let ports = ports(svc);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required(spec.child("ports"), ""));
    }
    match ty {
        "LoadBalancer" => {
            for (i, p) in ports.iter().enumerate() {
                if int_at(p, "port") == Some(10250) {
                    errs.push(FieldError::invalid(
                        spec.child("ports").index(i),
                        10250,
                        "may not expose port 10250 externally since it is used by kubelet",
                    ));
                }
            }
            if headless {
                errs.push(FieldError::invalid(
                    spec.child("clusterIPs").index(0),
                    CLUSTER_IP_NONE,
                    "may not be set to 'None' for LoadBalancer services",
                ));
            }
        }
        "NodePort" if headless => errs.push(FieldError::invalid(
            spec.child("clusterIPs").index(0),
            CLUSTER_IP_NONE,
            "may not be set to 'None' for NodePort services",
        )),
        "ExternalName" => {
            let why = "may not be set for ExternalName services";
            if !cluster_ips(svc).is_empty() {
                errs.push(FieldError::forbidden(spec.child("clusterIPs"), why));
            }
            if !ip_families(svc).is_empty() {
                errs.push(FieldError::forbidden(spec.child("ipFamilies"), why));
            }
            if ip_family_policy(svc).is_some() {
                errs.push(FieldError::forbidden(spec.child("ipFamilyPolicy"), why));
            }
            let name = str_path(svc, &["spec", "externalName"]);
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(FieldError::required(spec.child("externalName"), ""));
            } else {
                errs.extend(validate_dns1123_subdomain(
                    cname,
                    &spec.child("externalName"),
                ));
            }
        }
        _ => {}
    }
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        errs.extend(validate_service_port(
            p,
            ports.len() > 1,
            &mut names,
            &spec.child("ports").index(i),
        ));
    }
    errs.extend(validate_labels(
        get(svc, &["spec", "selector"]),
        &spec.child("selector"),
    ));
    let affinity = str_path(svc, &["spec", "sessionAffinity"]);
    match affinity {
        "" => errs.push(FieldError::required(spec.child("sessionAffinity"), "")),
        "ClientIP" | "None" => {}
        other => errs.push(FieldError::not_supported(
            spec.child("sessionAffinity"),
            other,
            &["ClientIP", "None"],
        )),
    }
    if affinity == "ClientIP" {
        errs.extend(validate_client_ip_affinity(
            svc,
            &spec.child("sessionAffinityConfig"),
        ));
    } else if affinity == "None" && get(svc, &["spec", "sessionAffinityConfig"]).is_some() {
        errs.push(FieldError::forbidden(
            spec.child("sessionAffinityConfig"),
            "must not be set when session affinity is None",
        ));
    }
    errs.extend(validate_cluster_ips_related_fields(svc));
    for (i, ip) in arr_path(svc, &["spec", "externalIPs"]).iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        let p = spec.child("externalIPs").index(i);
        let e = validate_ip(ip, &p);
        if e.is_empty() {
            errs.extend(validate_non_special_ip(ip, &p));
        } else {
            errs.extend(e);
        }
    }
    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if ty.is_empty() {
        errs.push(FieldError::required(spec.child("type"), ""));
    } else if !TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(spec.child("type"), ty, TYPES));
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if int_at(p, "nodePort").unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    spec.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut seen_np: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int_at(p, "nodePort").unwrap_or(0);
        if np == 0 {
            continue;
        }
        let key = (str_at(p, "protocol"), np);
        if seen_np.contains(&key) {
            errs.push(FieldError::duplicate(
                spec.child("ports").index(i).child("nodePort"),
                np,
            ));
        }
        seen_np.push(key);
    }
    let mut seen: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let key = (str_at(p, "protocol"), int_at(p, "port").unwrap_or(0));
        if seen.contains(&key) {
            errs.push(gorepr::with_repr(
                ErrorType::Duplicate,
                spec.child("ports").index(i),
                &gorepr::service_port_key(key.0, key.1),
                "",
            ));
        }
        seen.push(key);
    }
    errs.extend(validate_source_ranges(svc));
    let alloc_lb = has(
        svc.get("spec").unwrap_or(&Value::Null),
        "allocateLoadBalancerNodePorts",
    );
    if alloc_lb && ty != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            spec.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if ty == "LoadBalancer" && !alloc_lb {
        // Upstream omits the "spec." prefix here.
        errs.push(FieldError::required("allocateLoadBalancerNodePorts", ""));
    }
    errs.extend(validate_load_balancer_class(svc, None));
    errs.extend(validate_external_traffic_policy(svc));
    match get(svc, &["spec", "internalTrafficPolicy"]).and_then(Value::as_str) {
        None if matches!(ty, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required(
                spec.child("internalTrafficPolicy"),
                "",
            ));
        }
        Some(itp) if itp != "Cluster" && itp != "Local" => errs.push(FieldError::not_supported(
            spec.child("internalTrafficPolicy"),
            itp,
            &["Cluster", "Local"],
        )),
        _ => {}
    }
    if let Some(td) = get(svc, &["spec", "trafficDistribution"]).and_then(Value::as_str) {
        if td != "PreferClose" {
            errs.push(FieldError::not_supported(
                spec.child("trafficDistribution"),
                td,
                &["PreferClose"],
            ));
        }
    }
    errs
}

fn validate_upgrade_downgrade_cluster_ips(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if svc_type(new) == "ExternalName" || svc_type(old) == "ExternalName" {
        return errs;
    }
    if is_headless(old) && is_headless(new) {
        return errs;
    }
    let (o, n) = (cluster_ips(old), cluster_ips(new));
    let p = Path::new("spec").child("clusterIPs");
    let changed = "may not change once set";
    if o.len() == n.len() {
        for (i, ip) in o.iter().enumerate() {
            if *ip != n[i] {
                errs.push(list_err(p.index(i), &n, changed));
            }
        }
    } else if o.len() > n.len() {
        if n.is_empty() {
            errs.push(list_err(
                p.index(0),
                &n,
                "primary clusterIP can not be unset",
            ));
        }
        if !o.is_empty() && !n.is_empty() && n[0] != o[0] {
            errs.push(list_err(p.index(0), &n, changed));
        }
        if n.len() == 1 && ip_family_policy(new) != Some("SingleStack") {
            errs.push(FieldError::invalid(
                Path::new("spec").child("ipFamilyPolicy"),
                policy_value(new),
                "must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if !o.is_empty() && n[0] != o[0] {
        errs.push(list_err(p.index(0), &n, changed));
    }
    errs
}

fn validate_upgrade_downgrade_ip_families(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if svc_type(new) == "ExternalName" || svc_type(old) == "ExternalName" {
        return errs;
    }
    if is_headless(old) != is_headless(new) || is_headless(new) {
        return errs;
    }
    let (o, n) = (ip_families(old), ip_families(new));
    let p = Path::new("spec").child("ipFamilies").index(0);
    let fams = gorepr::typed_string_slice("core.IPFamily", &n);
    let ips = cluster_ips(new);
    let changed = "may not change once set";
    if o.len() == n.len() {
        for (i, f) in o.iter().enumerate() {
            if *f != n[i] {
                errs.push(gorepr::invalid(&p, &fams, changed));
            }
        }
    } else if o.len() > n.len() {
        if ips.is_empty() {
            errs.push(gorepr::invalid(
                &p,
                &fams,
                "primary ipFamily can not be unset",
            ));
        }
        if !n.is_empty() && n[0] != o[0] {
            errs.push(list_err(&p, &ips, changed));
        }
        if n.len() == 1 && ip_family_policy(new) != Some("SingleStack") {
            errs.push(FieldError::invalid(
                Path::new("spec").child("ipFamilyPolicy"),
                policy_value(new),
                "must be set to 'SingleStack' when releasing the secondary ipFamily",
            ));
        }
    } else if !o.is_empty() && !n.is_empty() && n[0] != o[0] {
        errs.push(list_err(&p, &ips, changed));
    }
    errs
}

/// `ValidateServiceUpdate`.
pub fn validate_service_spec_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_upgrade_downgrade_cluster_ips(old, new));
    errs.extend(validate_upgrade_downgrade_ip_families(old, new));
    errs.extend(validate_load_balancer_class(new, Some(old)));
    if needs_health_check(old)
        && needs_health_check(new)
        && health_check_node_port(new) != health_check_node_port(old)
    {
        errs.push(FieldError::forbidden(
            Path::new("spec").child("healthCheckNodePort"),
            "field is immutable",
        ));
    }
    errs.extend(validate_service_spec(new));
    errs
}
