//! Service defaulting (`SetDefaults_Service`) and the registry's preparation
//! of Service writes: clusterIP/clusterIPs syncing, keeping allocated values
//! a client omitted, IP-family initialization and dropping fields a type
//! change made meaningless.

use crate::field::{FieldError, Path};
use crate::validation::json::{
    child_mut, default_str, default_value, get, has, int_at, items_mut, remove, set, str_at,
};
use crate::validation::service::{
    matching_prefer_dual_stack, validate_cluster_ips_related_fields, ServiceConfig,
};
use crate::validation::svcfields::*;
use serde_json::{json, Value};

/// Default ClientIP affinity timeout (3 hours).
pub const DEFAULT_CLIENT_IP_TIMEOUT: i64 = 10800;

/// `SetDefaults_Service`: type, protocols, targetPorts, affinity, traffic
/// policies, allocateLoadBalancerNodePorts and LoadBalancer ingress ipMode.
pub fn default_service(obj: &mut Value) {
    let Some(spec) = child_mut(obj, "spec") else {
        return;
    };
    default_str(spec, "sessionAffinity", "None");
    match str_at(spec, "sessionAffinity") {
        "None" => remove(spec, "sessionAffinityConfig"),
        "ClientIP" => {
            let has_timeout = get(
                spec,
                &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
            )
            .is_some();
            if !has_timeout {
                set(
                    spec,
                    "sessionAffinityConfig",
                    json!({"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_TIMEOUT}}),
                );
            }
        }
        _ => {}
    }
    default_str(spec, "type", "ClusterIP");
    for port in items_mut(spec, "ports") {
        default_str(port, "protocol", "TCP");
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            let p = int_at(port, "port").unwrap_or(0);
            set(port, "targetPort", Value::from(p));
        }
    }
    let snapshot = json!({"spec": spec.clone()});
    if externally_accessible(&snapshot) {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    let ty = svc_type(&snapshot).to_string();
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_value(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default_value(spec, "allocateLoadBalancerNodePorts", json!(true));
        let ingress = obj
            .get_mut("status")
            .and_then(|s| s.get_mut("loadBalancer"));
        if let Some(lb) = ingress {
            for ing in items_mut(lb, "ingress") {
                if !str_at(ing, "ip").is_empty() && !has(ing, "ipMode") {
                    set(ing, "ipMode", json!("VIP"));
                }
            }
        }
    }
}

fn spec_mut(obj: &mut Value) -> Option<&mut Value> {
    child_mut(obj, "spec")
}

fn set_list(obj: &mut Value, key: &str, items: &[&str]) {
    if let Some(spec) = spec_mut(obj) {
        let v: Vec<Value> = items.iter().map(|s| Value::from(*s)).collect();
        set(spec, key, Value::Array(v));
    }
}

fn set_spec(obj: &mut Value, key: &str, value: Value) {
    if let Some(spec) = spec_mut(obj) {
        set(spec, key, value);
    }
}

fn remove_spec(obj: &mut Value, key: &str) {
    if let Some(spec) = spec_mut(obj) {
        remove(spec, key);
    }
}

fn owned(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_string).collect()
}

/// Keeps `clusterIP` and `clusterIPs` in sync for clients that set only one
/// (registry `normalizeClusterIPs`).
pub fn normalize_cluster_ips(new: &mut Value, old: Option<&Value>) {
    let cip = cluster_ip(new).to_string();
    let Some(old) = old else {
        if !cip.is_empty() && cluster_ips(new).is_empty() {
            set_list(new, "clusterIPs", &[&cip]);
        }
        return;
    };
    if !cluster_ips(old).is_empty() && cluster_ips(new).is_empty() && cluster_ip(old) == cip {
        let old_ips = owned(cluster_ips(old));
        let refs: Vec<&str> = old_ips.iter().map(String::as_str).collect();
        set_list(new, "clusterIPs", &refs);
    }
    if cluster_ip(old) != cip {
        let same_plural = cluster_ips(old) == cluster_ips(new);
        if !cluster_ip(old).is_empty() && cip.is_empty() {
            if same_plural {
                remove_spec(new, "clusterIPs");
            }
        } else if same_plural {
            set_list(new, "clusterIPs", &[&cip]);
        }
    }
}

/// Copies allocated values (clusterIPs, nodePorts, healthCheckNodePort) a
/// client left out of an update (registry `patchAllocatedValues`).
pub fn patch_allocated_values(new: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        if cluster_ip(new).is_empty() && !cluster_ip(old).is_empty() {
            set_spec(new, "clusterIP", Value::from(cluster_ip(old)));
        }
        if cluster_ips(new).is_empty() && !cluster_ips(old).is_empty() {
            let ips = owned(cluster_ips(old));
            let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
            set_list(new, "clusterIPs", &refs);
        }
    }
    if needs_node_port(old) && needs_node_port(new) {
        let new_used = node_ports(new);
        let used: Vec<i64> = node_ports(old)
            .into_iter()
            .filter(|p| new_used.contains(p))
            .collect();
        let by_name: Vec<(String, i64)> = ports(old)
            .iter()
            .map(|p| {
                (
                    str_at(p, "name").to_string(),
                    int_at(p, "nodePort").unwrap_or(0),
                )
            })
            .collect();
        if let Some(spec) = spec_mut(new) {
            for port in items_mut(spec, "ports") {
                if int_at(port, "nodePort").unwrap_or(0) != 0 {
                    continue;
                }
                // Like Go's map lookup: the last old port with that name wins.
                let old_val = by_name
                    .iter()
                    .rev()
                    .find(|(n, _)| n == str_at(port, "name"))
                    .map_or(0, |(_, v)| *v);
                if old_val != 0 && !used.contains(&old_val) {
                    set(port, "nodePort", Value::from(old_val));
                }
            }
        }
    }
    if needs_health_check(old) && needs_health_check(new) && health_check_node_port(new) == 0 {
        set_spec(
            new,
            "healthCheckNodePort",
            Value::from(health_check_node_port(old)),
        );
    }
}

fn reduced(new_len: usize, old_len: usize) -> bool {
    new_len != 0 && new_len < old_len
}

/// Defaults `ipFamilyPolicy`/`ipFamilies` from the cluster configuration and
/// rejects families the cluster does not serve (registry
/// `initIPFamilyFields`). Returns the errors kube-apiserver would return;
/// the object is left as far as it got.
pub fn init_ip_family_fields(
    svc: &mut Value,
    old: Option<&Value>,
    cfg: &ServiceConfig,
) -> Vec<FieldError> {
    if svc_type(svc) == "ExternalName" || matching_prefer_dual_stack(svc, old) {
        return Vec::new();
    }
    if ip_family_policy(svc).is_none() {
        let policy = match old.and_then(ip_family_policy) {
            Some(p) => p.to_string(),
            None if cluster_ip(svc) == CLUSTER_IP_NONE && selector_is_empty(svc) => {
                "RequireDualStack".to_string()
            }
            None => "SingleStack".to_string(),
        };
        set_spec(svc, "ipFamilyPolicy", Value::from(policy));
    }
    let errs = validate_cluster_ips_related_fields(svc);
    if !errs.is_empty() {
        return errs;
    }
    let policy_path = Path::new("spec").child("ipFamilyPolicy");
    let policy = ip_family_policy(svc).unwrap_or("").to_string();
    let mut el = Vec::new();
    if let Some(old) = old {
        if policy == "SingleStack" {
            let ips = owned(cluster_ips(svc));
            if same_cluster_ips(old, svc) && ips.len() > 1 {
                set_list(svc, "clusterIPs", &[&ips[0]]);
            }
            let fams = owned(ip_families(svc));
            if same_ip_families(old, svc) && fams.len() > 1 {
                set_list(svc, "ipFamilies", &[&fams[0]]);
            }
        } else {
            if reduced(cluster_ips(svc).len(), cluster_ips(old).len()) {
                el.push(FieldError::invalid(
                    &policy_path,
                    policy.as_str(),
                    "must be 'SingleStack' to release the secondary cluster IP",
                ));
            }
            if reduced(ip_families(svc).len(), ip_families(old).len()) {
                el.push(FieldError::invalid(
                    &policy_path,
                    policy.as_str(),
                    "must be 'SingleStack' to release the secondary IP family",
                ));
            }
        }
    }
    if policy == "SingleStack" {
        if cluster_ips(svc).len() == 2 {
            el.push(FieldError::invalid(
                &policy_path,
                policy.as_str(),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            ));
        }
        if ip_families(svc).len() == 2 {
            el.push(FieldError::invalid(
                &policy_path,
                policy.as_str(),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ));
        }
    }
    let ips = owned(cluster_ips(svc));
    let mut fams = owned(ip_families(svc));
    for (i, ip) in ips.iter().enumerate() {
        if ip == CLUSTER_IP_NONE {
            break;
        }
        let fam = family_of(ip);
        if i >= fams.len() {
            if cfg.families().contains(&fam) {
                fams.push(fam.to_string());
            } else {
                el.push(FieldError::invalid(
                    Path::new("spec").child("clusterIPs").index(i),
                    Value::Array(ips.iter().map(|s| Value::from(s.as_str())).collect()),
                    format!("{fam} is not configured on this cluster"),
                ));
            }
        }
    }
    if fams.len() != ip_families(svc).len() {
        let refs: Vec<&str> = fams.iter().map(String::as_str).collect();
        set_list(svc, "ipFamilies", &refs);
    }
    if !el.is_empty() {
        return el;
    }
    let default_family = cfg.families()[0];
    if cluster_ip(svc) == CLUSTER_IP_NONE && selector_is_empty(svc) {
        let mut fams = owned(ip_families(svc));
        if fams.is_empty() {
            fams.push(default_family.to_string());
        }
        if fams.len() < 2 && policy != "SingleStack" {
            let other = if fams[0] == "IPv4" { "IPv6" } else { "IPv4" };
            fams.push(other.to_string());
        }
        let refs: Vec<&str> = fams.iter().map(String::as_str).collect();
        set_list(svc, "ipFamilies", &refs);
        return Vec::new();
    }
    if policy == "RequireDualStack" && cfg.families().len() < 2 {
        el.push(FieldError::invalid(
            &policy_path,
            policy.as_str(),
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, fam) in ip_families(svc).iter().enumerate() {
        if !cfg.families().contains(fam) {
            el.push(FieldError::invalid(
                Path::new("spec").child("ipFamilies").index(i),
                *fam,
                "not configured on this cluster",
            ));
        }
    }
    if !el.is_empty() {
        return el;
    }
    if ip_families(svc).is_empty() {
        set_list(svc, "ipFamilies", &[default_family]);
    }
    Vec::new()
}

/// Clears fields the new type no longer uses when the client did not change
/// them (registry `dropTypeDependentFields`; updates only).
pub fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        if same_cluster_ips(old, new) {
            remove_spec(new, "clusterIP");
            remove_spec(new, "clusterIPs");
        }
        if same_ip_families(old, new) {
            remove_spec(new, "ipFamilies");
        }
        if ip_family_policy(old) == ip_family_policy(new) {
            remove_spec(new, "ipFamilyPolicy");
        }
    }
    let new_ports = node_ports(new);
    let old_ports = node_ports(old);
    if needs_node_port(old)
        && !needs_node_port(new)
        && new_ports.iter().all(|p| old_ports.contains(p))
    {
        if let Some(spec) = spec_mut(new) {
            for port in items_mut(spec, "ports") {
                remove(port, "nodePort");
            }
        }
    }
    if needs_health_check(old)
        && !needs_health_check(new)
        && health_check_node_port(old) == health_check_node_port(new)
    {
        remove_spec(new, "healthCheckNodePort");
    }
    let alloc =
        |s: &Value| get(s, &["spec", "allocateLoadBalancerNodePorts"]).and_then(Value::as_bool);
    if svc_type(old) == "LoadBalancer" && svc_type(new) != "LoadBalancer" {
        if let (Some(a), Some(b)) = (alloc(old), alloc(new)) {
            if a == b {
                remove_spec(new, "allocateLoadBalancerNodePorts");
            }
        }
    }
    let class = |s: &Value| get(s, &["spec", "loadBalancerClass"]).cloned();
    if svc_type(old) == "LoadBalancer"
        && svc_type(new) != "LoadBalancer"
        && class(old) == class(new)
    {
        remove_spec(new, "loadBalancerClass");
    }
    if externally_accessible(old)
        && !externally_accessible(new)
        && external_traffic_policy(old) == external_traffic_policy(new)
    {
        remove_spec(new, "externalTrafficPolicy");
    }
    if svc_type(new) != "LoadBalancer" {
        if let Some(status) = child_mut(new, "status") {
            set(status, "loadBalancer", json!({}));
        }
    }
}

/// Prepares a Service create: clears status, syncs clusterIPs and
/// initializes IP families. Non-empty errors mean "422 Invalid" before any
/// allocation.
pub fn prepare_service_create(obj: &mut Value, cfg: &ServiceConfig) -> Vec<FieldError> {
    set(obj, "status", json!({"loadBalancer": {}}));
    normalize_cluster_ips(obj, None);
    drop_external_name_traffic_policy(obj);
    init_ip_family_fields(obj, None, cfg)
}

/// kube-apiserver hides internalTrafficPolicy on ExternalName Services
/// (`defaultOnReadInternalTrafficPolicy`); k1s simply does not store it.
fn drop_external_name_traffic_policy(obj: &mut Value) {
    if svc_type(obj) == "ExternalName" {
        remove_spec(obj, "internalTrafficPolicy");
    }
}

/// Prepares a Service update against the stored object: keeps allocated
/// values, syncs clusterIPs, initializes IP families, keeps status and drops
/// type-dependent fields. Non-empty errors mean "422 Invalid".
pub fn prepare_service_update(
    new: &mut Value,
    old: &Value,
    cfg: &ServiceConfig,
) -> Vec<FieldError> {
    patch_allocated_values(new, old);
    normalize_cluster_ips(new, Some(old));
    let errs = init_ip_family_fields(new, Some(old), cfg);
    crate::strategy::copy_field(new, old, "status");
    drop_type_dependent_fields(new, old);
    drop_external_name_traffic_policy(new);
    errs
}
