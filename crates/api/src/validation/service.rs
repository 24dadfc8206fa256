//! Service validation as kube-apiserver v1.32 does it, in its three stages:
//! IP-family initialization checks (registry `initIPFamilyFields`), the
//! allocator's range checks, then `ValidateService[Update]` (see
//! `servicespec`) plus the generic registry's ObjectMeta checks. Also the
//! allocator error constructors the API server's allocators use.

use super::ip::validate_ip;
use super::json::{arr_path, int_at, str_at};
use super::meta::{
    common_update_errors, generic_create_errors, validate_dns1123_subdomain,
    validate_object_meta_update,
};
use super::names::parse_ip;
use super::servicespec::{string_list, validate_service_spec, validate_service_spec_update};
use super::svcfields::*;
use crate::field::{FieldError, Path};
use ipnet::Ipv4Net;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;

pub use super::servicespec::validate_cluster_ips_related_fields;

/// The cluster settings Service validation depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub service_cidr: Ipv4Net,
    pub node_port_range: RangeInclusive<u16>,
}

impl Default for ServiceConfig {
    /// kubeadm's defaults: 10.96.0.0/12 and 30000-32767.
    fn default() -> Self {
        ServiceConfig {
            service_cidr: Ipv4Net::new(Ipv4Addr::new(10, 96, 0, 0), 12)
                .unwrap_or_else(|_| Ipv4Net::default()),
            node_port_range: 30000..=32767,
        }
    }
}

impl ServiceConfig {
    /// The node port range as kube-apiserver prints it (`30000-32767`).
    pub fn node_port_range_string(&self) -> String {
        format!(
            "{}-{}",
            self.node_port_range.start(),
            self.node_port_range.end()
        )
    }

    /// The IP families this cluster serves (k1s is single-stack IPv4).
    pub fn families(&self) -> &'static [&'static str] {
        &["IPv4"]
    }

    /// Whether the allocator would accept `ip`: inside the CIDR, but not its
    /// network or broadcast address.
    pub fn ip_in_range(&self, ip: Ipv4Addr) -> bool {
        let net = self.service_cidr.trunc();
        net.contains(&ip) && ip != net.network() && ip != net.broadcast()
    }

    pub fn node_port_in_range(&self, port: i64) -> bool {
        u16::try_from(port).is_ok_and(|p| self.node_port_range.contains(&p))
    }
}

// ---- allocator errors (kube-apiserver's ipallocator/portallocator text) ----

/// `spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate
/// IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid range. The
/// range of valid IPs is 10.96.0.0/12`
pub fn cluster_ip_not_in_range(cluster_ips: &[&str], ip: &str, cidr: &Ipv4Net) -> FieldError {
    FieldError::invalid(
        "spec.clusterIPs",
        string_list(cluster_ips),
        format!(
            "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
            cidr.trunc()
        ),
    )
}

/// `spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to
/// allocate IP 10.96.0.10: provided IP is already allocated`
pub fn cluster_ip_already_allocated(cluster_ips: &[&str], ip: &str) -> FieldError {
    FieldError::invalid(
        "spec.clusterIPs",
        string_list(cluster_ips),
        format!("failed to allocate IP {ip}: provided IP is already allocated"),
    )
}

/// `spec.ports[i].nodePort: Invalid value: 8080: provided port is not in the
/// valid range. The range of valid ports is 30000-32767`
pub fn node_port_not_in_range(
    port_index: usize,
    node_port: i64,
    range: &RangeInclusive<u16>,
) -> FieldError {
    FieldError::invalid(
        Path::new("spec")
            .child("ports")
            .index(port_index)
            .child("nodePort"),
        node_port,
        format!(
            "provided port is not in the valid range. The range of valid ports is {}-{}",
            range.start(),
            range.end()
        ),
    )
}

/// `spec.ports[i].nodePort: Invalid value: 30080: provided port is already allocated`
pub fn node_port_already_allocated(port_index: usize, node_port: i64) -> FieldError {
    FieldError::invalid(
        Path::new("spec")
            .child("ports")
            .index(port_index)
            .child("nodePort"),
        node_port,
        "provided port is already allocated",
    )
}

/// The InternalError message when no ClusterIP is left
/// (`ApiError::internal(cluster_ip_range_full())`).
pub fn cluster_ip_range_full() -> &'static str {
    "failed to allocate a serviceIP: range is full"
}

/// The InternalError message when no NodePort is left.
pub fn node_port_range_full() -> &'static str {
    "failed to allocate a nodePort: range is full"
}

/// The InternalError message when a requested healthCheckNodePort is taken
/// (`reason` is "provided port is already allocated" or the range text).
pub fn health_check_node_port_failed(port: i64, reason: &str) -> String {
    format!("failed to allocate requested HealthCheck NodePort {port}: {reason}")
}

// ---- stage 1: IP families (registry initIPFamilyFields) ----

/// `isMatchingPreferDualStackClusterIPFields`: an unchanged PreferDualStack
/// service is left alone.
pub(crate) fn matching_prefer_dual_stack(new: &Value, old: Option<&Value>) -> bool {
    let Some(old) = old else { return false };
    ip_family_policy(new) == Some("PreferDualStack")
        && ip_family_policy(old) == Some("PreferDualStack")
        && svc_type(old) == svc_type(new)
        && matches!(svc_type(new), "ClusterIP" | "NodePort" | "LoadBalancer")
        && same_cluster_ips(old, new)
        && same_ip_families(old, new)
}

/// The errors `initIPFamilyFields` returns for an already-initialized
/// Service (the same checks; `defaults::service` does the mutation).
pub fn ip_family_errors(svc: &Value, old: Option<&Value>, cfg: &ServiceConfig) -> Vec<FieldError> {
    let mut copy = svc.clone();
    crate::defaults::service::init_ip_family_fields(&mut copy, old, cfg)
}

// ---- stage 2: what the allocators reject ----

/// Range checks the allocators make for values being newly allocated.
pub fn allocation_errors(svc: &Value, old: Option<&Value>, cfg: &ServiceConfig) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ips = cluster_ips(svc);
    let new_ips = match old {
        None => true,
        Some(o) => !needs_cluster_ip(o) || cluster_ips(o).is_empty(),
    };
    if needs_cluster_ip(svc) && new_ips && ips.first() != Some(&CLUSTER_IP_NONE) {
        for ip in ips.iter().filter(|ip| !ip.is_empty()) {
            if let Some(IpAddr::V4(v4)) = parse_ip(ip) {
                if !cfg.ip_in_range(v4) {
                    errs.push(cluster_ip_not_in_range(&ips, ip, &cfg.service_cidr));
                    return errs;
                }
            }
        }
    }
    if needs_node_port(svc) {
        let old_ports = old.map(node_ports).unwrap_or_default();
        for (i, p) in ports(svc).iter().enumerate() {
            let np = int_at(p, "nodePort").unwrap_or(0);
            if np != 0 && !old_ports.contains(&np) && !cfg.node_port_in_range(np) {
                errs.push(node_port_not_in_range(i, np, &cfg.node_port_range));
                return errs;
            }
        }
    }
    errs
}

/// Everything kube-apiserver reports for a Service write, in its order: IP
/// family errors, then allocator range errors, then the generic and Service
/// rules. Call after `default_service` and `prepare_service_*`; only the
/// "already allocated" checks (which need allocator state) are left to the
/// caller (see `cluster_ip_already_allocated`/`node_port_already_allocated`).
pub fn validate_service(new: &Value, old: Option<&Value>, cfg: &ServiceConfig) -> Vec<FieldError> {
    let errs = ip_family_errors(new, old, cfg);
    if !errs.is_empty() {
        return errs;
    }
    let errs = allocation_errors(new, old, cfg);
    if !errs.is_empty() {
        return errs;
    }
    match old {
        None => {
            let errs = validate_service_spec(new);
            if errs.is_empty() {
                generic_create_errors(new, true)
            } else {
                errs
            }
        }
        Some(old) => {
            let mut errs = common_update_errors(new, old, true);
            errs.extend(validate_service_spec_update(new, old));
            errs
        }
    }
}

/// The status-subresource check (`ValidateServiceStatusUpdate`).
pub fn validate_service_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let path = Path::new("status").child("loadBalancer").child("ingress");
    let ingress = arr_path(new, &["status", "loadBalancer", "ingress"]);
    if svc_type(new) != "LoadBalancer" && !ingress.is_empty() {
        errs.push(FieldError::forbidden(
            &path,
            "may only be used when `spec.type` is 'LoadBalancer'",
        ));
        return errs;
    }
    for (i, ing) in ingress.iter().enumerate() {
        let p = path.index(i);
        let ip = str_at(ing, "ip");
        if !ip.is_empty() {
            errs.extend(validate_ip(ip, &p.child("ip")));
        }
        match ing.get("ipMode").and_then(Value::as_str) {
            None if !ip.is_empty() => errs.push(FieldError::required(
                p.child("ipMode"),
                "must be specified when `ip` is set",
            )),
            None => {}
            Some(_) if ip.is_empty() => errs.push(FieldError::forbidden(
                p.child("ipMode"),
                "may not be specified when `ip` is not set",
            )),
            Some(mode) if mode != "VIP" && mode != "Proxy" => errs.push(FieldError::not_supported(
                p.child("ipMode"),
                mode,
                &["Proxy", "VIP"],
            )),
            Some(_) => {}
        }
        let host = str_at(ing, "hostname");
        if !host.is_empty() {
            errs.extend(validate_dns1123_subdomain(host, &p.child("hostname")));
            if parse_ip(host).is_some() {
                errs.push(FieldError::invalid(
                    p.child("hostname"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
        }
    }
    errs
}
