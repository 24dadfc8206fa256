//! ClusterIP and NodePort allocation, persisted in the store's allocation
//! table in the same transaction as the Service (no leak or double
//! allocation after a crash).
//!
//! Like kube-apiserver, each range has a small lower band that dynamic
//! allocation avoids while the upper band has room, so explicitly chosen
//! values (10.96.0.10 for kube-dns, NodePort 30080) rarely collide.

use crate::api::{ClusterConfig, TxError};
use crate::objects;
use k1s_api::validation::service as errors;
use k1s_api::{ApiError, FieldError};
use k1s_store::WriteTx;
use rand::Rng;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};

const IP_PREFIX: &str = "clusterip/";
const PORT_PREFIX: &str = "nodeport/";

fn owner(obj: &Value) -> String {
    format!(
        "{}/{}",
        objects::meta_str(obj, "namespace"),
        objects::name(obj)
    )
}

fn ip_key(ip: Ipv4Addr) -> String {
    format!("{IP_PREFIX}{ip}")
}

fn port_key(port: u16) -> String {
    format!("{PORT_PREFIX}{port}")
}

/// Size of the band reserved for static allocation: min(max(16, size/div), max).
fn static_band(size: u64, div: u64, max: u64) -> u64 {
    (size / div).clamp(16, max).min(size)
}

/// Where the next dynamic search starts: random for the first allocation of
/// the process, then just past the previous one, so consecutive allocations
/// land next to each other in the allocation table (one B-tree page per
/// commit instead of one random page per Service).
struct Cursor(AtomicU64);

impl Cursor {
    const UNSET: u64 = u64::MAX;

    const fn new() -> Self {
        Cursor(AtomicU64::new(Self::UNSET))
    }

    fn start(&self, size: u64) -> u64 {
        match self.0.load(Ordering::Relaxed) {
            Self::UNSET => rand::rng().random_range(0..size.max(1)),
            next => next,
        }
    }

    /// Remembers that `offset` (in the upper band starting at `band`) was taken.
    fn taken(&self, offset: u64, band: u64) {
        self.0
            .store(offset.saturating_sub(band) + 1, Ordering::Relaxed);
    }
}

static IP_CURSOR: Cursor = Cursor::new();
static PORT_CURSOR: Cursor = Cursor::new();

/// Picks offsets to try in `0..size`: a random start in the upper band
/// walking up and wrapping, then the lower band.
fn candidates(size: u64, band: u64, start: u64) -> impl Iterator<Item = u64> {
    let upper = size.saturating_sub(band);
    let first = if upper > 0 { start % upper } else { 0 };
    (0..upper)
        .map(move |i| band + (first + i) % upper)
        .chain(0..band.min(size))
}

/// The allocatable ClusterIPs: every address but the network and broadcast ones.
fn ip_range(cluster: &ClusterConfig) -> (u32, u64) {
    let cidr = &cluster.service.service_cidr;
    let net = u32::from(cidr.network());
    let size = 1u64 << (32 - cidr.prefix_len() as u32);
    (net + 1, size.saturating_sub(2))
}

fn wants_cluster_ip(spec: &Value) -> bool {
    spec["type"].as_str() != Some("ExternalName") && spec["clusterIP"].as_str() != Some("None")
}

fn wants_node_ports(spec: &Value) -> bool {
    match spec["type"].as_str() {
        Some("NodePort") => true,
        Some("LoadBalancer") => spec["allocateLoadBalancerNodePorts"].as_bool() != Some(false),
        _ => false,
    }
}

fn invalid(obj: &Value, errors: Vec<FieldError>) -> TxError {
    TxError::Api(ApiError::invalid(
        "Service",
        "",
        objects::name(obj),
        &errors,
    ))
}

/// Allocates (or keeps) the ClusterIP and NodePorts of a Service being
/// written and releases what it no longer uses.
pub(crate) fn service_allocations(
    cluster: &ClusterConfig,
    tx: &mut WriteTx<'_, '_>,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), TxError> {
    let me = owner(obj);
    let old_spec = old.map(|o| o["spec"].clone()).unwrap_or(Value::Null);
    allocate_cluster_ip(cluster, tx, obj, &old_spec, &me)?;
    allocate_node_ports(cluster, tx, obj, &old_spec, &me)?;
    Ok(())
}

fn allocate_cluster_ip(
    cluster: &ClusterConfig,
    tx: &mut WriteTx<'_, '_>,
    obj: &mut Value,
    old_spec: &Value,
    me: &str,
) -> Result<(), TxError> {
    let old_ip = old_spec["clusterIP"]
        .as_str()
        .and_then(|s| s.parse::<Ipv4Addr>().ok());
    let spec = &obj["spec"];
    if !wants_cluster_ip(spec) {
        if let Some(ip) = old_ip {
            tx.release(&ip_key(ip));
        }
        if spec["type"].as_str() == Some("ExternalName") {
            if let Some(s) = obj["spec"].as_object_mut() {
                s.remove("clusterIP");
                s.remove("clusterIPs");
            }
        }
        return Ok(());
    }
    let requested = spec["clusterIP"].as_str().unwrap_or("").to_string();
    let ip = if requested.is_empty() {
        match old_ip {
            // An update that left clusterIP out keeps the allocated one.
            Some(ip) => ip,
            None => dynamic_ip(cluster, tx, me)?,
        }
    } else {
        let Ok(ip) = requested.parse::<Ipv4Addr>() else {
            // Validation reports malformed addresses; nothing to allocate.
            return Ok(());
        };
        if Some(ip) != old_ip {
            let (first, size) = ip_range(cluster);
            let offset = u32::from(ip).wrapping_sub(first) as u64;
            if !cluster.service.service_cidr.contains(&ip) || offset >= size {
                let e = errors::cluster_ip_not_in_range(
                    &[&requested],
                    &requested,
                    &cluster.service.service_cidr,
                );
                return Err(invalid(obj, vec![e]));
            }
            if tx.allocation(&ip_key(ip))?.is_some_and(|o| o != me) {
                return Err(invalid(
                    obj,
                    vec![errors::cluster_ip_already_allocated(
                        &[&requested],
                        &requested,
                    )],
                ));
            }
            tx.allocate(&ip_key(ip), me);
        }
        ip
    };
    if let Some(old) = old_ip.filter(|o| *o != ip) {
        tx.release(&ip_key(old));
    }
    let s = &mut obj["spec"];
    s["clusterIP"] = Value::String(ip.to_string());
    s["clusterIPs"] = Value::Array(vec![Value::String(ip.to_string())]);
    Ok(())
}

fn dynamic_ip(
    cluster: &ClusterConfig,
    tx: &mut WriteTx<'_, '_>,
    me: &str,
) -> Result<Ipv4Addr, TxError> {
    let (first, size) = ip_range(cluster);
    let band = static_band(size, 16, 256);
    for offset in candidates(size, band, IP_CURSOR.start(size)) {
        let ip = Ipv4Addr::from(first + offset as u32);
        if tx.allocation(&ip_key(ip))?.is_none() {
            tx.allocate(&ip_key(ip), me);
            IP_CURSOR.taken(offset, band);
            return Ok(ip);
        }
    }
    Err(ApiError::internal(errors::cluster_ip_range_full()).into())
}

fn allocate_node_ports(
    cluster: &ClusterConfig,
    tx: &mut WriteTx<'_, '_>,
    obj: &mut Value,
    old_spec: &Value,
    me: &str,
) -> Result<(), TxError> {
    let old_ports: Vec<(i64, String, i64)> = old_spec["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["port"].as_i64().unwrap_or(0),
                        p["protocol"].as_str().unwrap_or("TCP").to_string(),
                        p["nodePort"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut previously: BTreeSet<u16> = old_ports
        .iter()
        .filter_map(|(_, _, np)| u16::try_from(*np).ok())
        .filter(|p| *p != 0)
        .collect();
    if let Some(h) = old_spec["healthCheckNodePort"]
        .as_i64()
        .and_then(|p| u16::try_from(p).ok())
    {
        previously.insert(h);
    }
    let mut kept: BTreeSet<u16> = BTreeSet::new();
    let wants = wants_node_ports(&obj["spec"]);
    let mut problems = Vec::new();
    let port_count = obj["spec"]["ports"].as_array().map_or(0, Vec::len);
    for i in 0..port_count {
        let p = &obj["spec"]["ports"][i];
        let requested = p["nodePort"].as_i64().unwrap_or(0);
        if !wants {
            if requested != 0 {
                // Validation rejects nodePort on ClusterIP; a type change drops it.
                if let Some(m) = obj["spec"]["ports"][i].as_object_mut() {
                    m.remove("nodePort");
                }
            }
            continue;
        }
        let port = if requested == 0 {
            let (svc_port, proto) = (
                p["port"].as_i64().unwrap_or(0),
                p["protocol"].as_str().unwrap_or("TCP"),
            );
            let reuse = old_ports
                .iter()
                .find(|(sp, pr, np)| *sp == svc_port && pr == proto && *np != 0)
                .and_then(|(_, _, np)| u16::try_from(*np).ok());
            match reuse {
                Some(np) => np,
                None => dynamic_port(cluster, tx, me, &kept)?,
            }
        } else {
            let in_range = u16::try_from(requested)
                .ok()
                .filter(|p| cluster.service.node_port_range.contains(p));
            let Some(port) = in_range else {
                problems.push(errors::node_port_not_in_range(
                    i,
                    requested,
                    &cluster.service.node_port_range,
                ));
                continue;
            };
            if !previously.contains(&port)
                && !kept.contains(&port)
                && tx.allocation(&port_key(port))?.is_some_and(|o| o != me)
            {
                problems.push(errors::node_port_already_allocated(i, requested));
                continue;
            }
            port
        };
        tx.allocate(&port_key(port), me);
        kept.insert(port);
        obj["spec"]["ports"][i]["nodePort"] = Value::from(port);
    }
    health_check_node_port(cluster, tx, obj, old_spec, me, &mut kept)?;
    if !problems.is_empty() {
        return Err(invalid(obj, problems));
    }
    for gone in previously.difference(&kept) {
        tx.release(&port_key(*gone));
    }
    Ok(())
}

/// LoadBalancer Services with externalTrafficPolicy Local get a health-check NodePort.
fn health_check_node_port(
    cluster: &ClusterConfig,
    tx: &mut WriteTx<'_, '_>,
    obj: &mut Value,
    old_spec: &Value,
    me: &str,
    kept: &mut BTreeSet<u16>,
) -> Result<(), TxError> {
    let spec = &obj["spec"];
    let needs = spec["type"].as_str() == Some("LoadBalancer")
        && spec["externalTrafficPolicy"].as_str() == Some("Local");
    if !needs {
        if let Some(s) = obj["spec"].as_object_mut() {
            s.remove("healthCheckNodePort");
        }
        return Ok(());
    }
    let requested = spec["healthCheckNodePort"]
        .as_i64()
        .or_else(|| old_spec["healthCheckNodePort"].as_i64())
        .unwrap_or(0);
    let port = if requested == 0 {
        dynamic_port(cluster, tx, me, kept)?
    } else {
        // kube-apiserver reports these as internal errors of the allocator.
        let range = &cluster.service.node_port_range;
        let Some(port) = u16::try_from(requested).ok().filter(|p| range.contains(p)) else {
            let why = format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                range.start(),
                range.end()
            );
            return Err(
                ApiError::internal(errors::health_check_node_port_failed(requested, &why)).into(),
            );
        };
        if tx.allocation(&port_key(port))?.is_some_and(|o| o != me) && !kept.contains(&port) {
            let why = "provided port is already allocated";
            return Err(
                ApiError::internal(errors::health_check_node_port_failed(requested, why)).into(),
            );
        }
        port
    };
    tx.allocate(&port_key(port), me);
    kept.insert(port);
    obj["spec"]["healthCheckNodePort"] = Value::from(port);
    Ok(())
}

fn dynamic_port(
    cluster: &ClusterConfig,
    tx: &mut WriteTx<'_, '_>,
    me: &str,
    taken_here: &BTreeSet<u16>,
) -> Result<u16, TxError> {
    let range = &cluster.service.node_port_range;
    let first = *range.start() as u64;
    let size = (*range.end() as u64 + 1).saturating_sub(first);
    let band = static_band(size, 32, 128);
    for offset in candidates(size, band, PORT_CURSOR.start(size)) {
        let port = (first + offset) as u16;
        if !taken_here.contains(&port) && tx.allocation(&port_key(port))?.is_none() {
            tx.allocate(&port_key(port), me);
            PORT_CURSOR.taken(offset, band);
            return Ok(port);
        }
    }
    Err(ApiError::internal(errors::node_port_range_full()).into())
}

/// Releases everything a deleted Service held.
pub(crate) fn release_service(tx: &mut WriteTx<'_, '_>, old: &Value) -> Result<(), TxError> {
    let me = owner(old);
    let spec = &old["spec"];
    if let Some(ip) = spec["clusterIP"]
        .as_str()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
    {
        if tx.allocation(&ip_key(ip))?.as_deref() == Some(me.as_str()) {
            tx.release(&ip_key(ip));
        }
    }
    let mut ports: Vec<i64> = spec["ports"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["nodePort"].as_i64()).collect())
        .unwrap_or_default();
    ports.extend(spec["healthCheckNodePort"].as_i64());
    for p in ports {
        if let Ok(p) = u16::try_from(p) {
            if tx.allocation(&port_key(p))?.as_deref() == Some(me.as_str()) {
                tx.release(&port_key(p));
            }
        }
    }
    Ok(())
}

/// Rebuilds the allocation table from the stored Services (run at start):
/// drops allocations no Service holds and adds the ones missing.
pub(crate) fn repair(
    tx: &mut WriteTx<'_, '_>,
    services_prefix: &str,
) -> Result<(usize, usize), TxError> {
    let mut wanted = std::collections::BTreeMap::new();
    for svc in tx.list(services_prefix, None)? {
        let me = owner(&svc);
        let spec = &svc["spec"];
        if let Some(ip) = spec["clusterIP"]
            .as_str()
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
        {
            wanted.insert(ip_key(ip), me.clone());
        }
        for p in spec["ports"].as_array().into_iter().flatten() {
            if let Some(np) = p["nodePort"].as_i64().and_then(|n| u16::try_from(n).ok()) {
                wanted.insert(port_key(np), me.clone());
            }
        }
        if let Some(h) = spec["healthCheckNodePort"]
            .as_i64()
            .and_then(|n| u16::try_from(n).ok())
        {
            wanted.insert(port_key(h), me.clone());
        }
    }
    let mut existing = tx.allocations(IP_PREFIX)?;
    existing.extend(tx.allocations(PORT_PREFIX)?);
    let mut removed = 0;
    for k in existing.keys() {
        if !wanted.contains_key(k) {
            tx.release(k);
            removed += 1;
        }
    }
    let mut added = 0;
    for (k, o) in &wanted {
        if existing.get(k) != Some(o) {
            tx.allocate(k, o);
            added += 1;
        }
    }
    Ok((removed, added))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_band_matches_upstream_sizes() {
        // 10.96.0.0/12 has 2^20-2 usable addresses: the band is capped at 256.
        assert_eq!(static_band((1 << 20) - 2, 16, 256), 256);
        // A /28 (14 addresses) gets a band of at most its size.
        assert_eq!(static_band(14, 16, 256), 14);
        // 30000-32767: 2768 ports / 32 = 86.
        assert_eq!(static_band(2768, 32, 128), 86);
    }

    #[test]
    fn candidates_visit_upper_band_first_then_everything_once() {
        let order: Vec<u64> = candidates(10, 3, 5).collect();
        assert_eq!(order, vec![8, 9, 3, 4, 5, 6, 7, 0, 1, 2]);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        // A range no bigger than the band still yields every offset.
        assert_eq!(candidates(3, 3, 0).collect::<Vec<_>>(), vec![0, 1, 2]);
    }
}
