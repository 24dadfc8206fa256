//! ZoneBuilder: holds the current Services, EndpointSlices, Pods and
//! Namespaces, applies one change at a time, and publishes a new `Zone`.
//!
//! Incremental: a change marks the Services it touches; `build` rebuilds
//! only those Service nodes and patches the zone's indexes (services,
//! reverse, namespaces, pods) in place. The indexes are shared with older
//! zone versions through `Arc`, so patching copies a map of pointers at
//! most, never the records.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use hickory_server::proto::rr::rdata::{NS, SOA, TXT};
use hickory_server::proto::rr::{RData, Record};
use serde_json::Value;

use crate::objects::{self, PodInfo, ServiceInfo, ServiceKind, SliceInfo};
use crate::records::{address_records, build_service, name, split_families};
use crate::zone::{service_key, PodMode, ServiceNode, Zone, SCHEMA_VERSION, VERSION_TTL};

/// The object kinds the zone is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Service,
    EndpointSlice,
    Pod,
    Namespace,
}

impl Kind {
    /// The kind stored under a k1s storage prefix (`ResourceInfo::storage_prefix`).
    pub fn from_storage_prefix(prefix: &str) -> Option<Kind> {
        match prefix {
            "services" => Some(Kind::Service),
            "discovery.k8s.io/endpointslices" => Some(Kind::EndpointSlice),
            "pods" => Some(Kind::Pod),
            "namespaces" => Some(Kind::Namespace),
            _ => None,
        }
    }
}

/// Settings of the zone itself.
#[derive(Clone, Debug)]
pub struct ZoneConfig {
    /// The cluster domain, e.g. "cluster.local" (a trailing dot is fine).
    pub domain: String,
    /// TTL of every record except dns-version (CoreDNS default 5).
    pub ttl: u32,
    pub pod_mode: PodMode,
    /// (namespace, name) of the Service that fronts this DNS server; its
    /// ClusterIP is the zone's name server (kube-system/kube-dns).
    pub dns_service: (String, String),
}

impl Default for ZoneConfig {
    fn default() -> Self {
        ZoneConfig {
            domain: "cluster.local".into(),
            ttl: 5,
            pod_mode: PodMode::Insecure,
            dns_service: ("kube-system".into(), "kube-dns".into()),
        }
    }
}

type Key = (String, String);

/// Why a namespace exists as a DNS name: its object, or things in it.
#[derive(Default)]
struct NsRefs {
    object: bool,
    services: usize,
    pods: usize,
}

impl NsRefs {
    fn exists(&self) -> bool {
        self.object || self.services > 0 || self.pods > 0
    }
}

/// The current objects and the zone indexes derived from them.
pub struct ZoneBuilder {
    config: ZoneConfig,
    /// "cluster.local." lower case.
    origin: String,
    services: HashMap<Key, ServiceInfo>,
    slices: HashMap<Key, SliceInfo>,
    /// (namespace, service) → names of its slices.
    slices_by_service: HashMap<Key, BTreeSet<String>>,
    pods: HashMap<Key, PodInfo>,
    ns_refs: HashMap<String, NsRefs>,
    /// (ip, namespace) → how many pods have that IP there.
    pod_ips: HashMap<IpAddr, BTreeMap<String, usize>>,
    nodes: HashMap<Key, Arc<ServiceNode>>,
    dirty: HashSet<Key>,
    /// ip → PTR contributions per Service (sorted, for a stable answer order).
    ptr_sources: HashMap<IpAddr, BTreeMap<Key, Vec<(Record, bool)>>>,
    z_services: Arc<HashMap<Arc<[u8]>, Arc<ServiceNode>>>,
    z_reverse: Arc<HashMap<IpAddr, Arc<[Record]>>>,
    z_namespaces: Arc<HashSet<Arc<[u8]>>>,
    z_pods: Arc<HashMap<IpAddr, Vec<Arc<[u8]>>>>,
}

fn ns_key(ns: &str) -> Arc<[u8]> {
    Arc::from(ns.to_ascii_lowercase().as_bytes())
}

impl ZoneBuilder {
    pub fn new(config: ZoneConfig) -> Self {
        let mut origin = config.domain.trim_end_matches('.').to_ascii_lowercase();
        origin.push('.');
        ZoneBuilder {
            config,
            origin,
            services: HashMap::new(),
            slices: HashMap::new(),
            slices_by_service: HashMap::new(),
            pods: HashMap::new(),
            ns_refs: HashMap::new(),
            pod_ips: HashMap::new(),
            nodes: HashMap::new(),
            dirty: HashSet::new(),
            ptr_sources: HashMap::new(),
            z_services: Arc::default(),
            z_reverse: Arc::default(),
            z_namespaces: Arc::default(),
            z_pods: Arc::default(),
        }
    }

    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    /// Records one changed object (None = deleted). Returns whether the
    /// zone can have changed.
    pub fn apply(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        object: Option<&Value>,
    ) -> bool {
        match kind {
            Kind::Service => self.apply_service(namespace, name, object.map(objects::service)),
            Kind::EndpointSlice => {
                self.apply_slice(namespace, name, object.and_then(objects::endpoint_slice))
            }
            Kind::Pod => self.apply_pod(namespace, name, object.and_then(objects::pod)),
            Kind::Namespace => self.update_ns(name, |r| r.object = object.is_some()),
        }
    }

    fn apply_service(&mut self, ns: &str, name: &str, new: Option<ServiceInfo>) -> bool {
        let key = (ns.to_string(), name.to_string());
        let old = match &new {
            Some(info) => self.services.insert(key.clone(), info.clone()),
            None => self.services.remove(&key),
        };
        if old == new {
            return false;
        }
        match (old.is_some(), new.is_some()) {
            (false, true) => {
                self.update_ns(ns, |r| r.services += 1);
            }
            (true, false) => {
                self.update_ns(ns, |r| r.services = r.services.saturating_sub(1));
            }
            _ => {}
        }
        self.dirty.insert(key);
        true
    }

    fn apply_slice(&mut self, ns: &str, name: &str, new: Option<SliceInfo>) -> bool {
        let key = (ns.to_string(), name.to_string());
        let old = match &new {
            Some(info) => self.slices.insert(key, info.clone()),
            None => self.slices.remove(&key),
        };
        if old == new {
            return false;
        }
        if let Some(old) = old {
            let svc = (ns.to_string(), old.service);
            if let Some(set) = self.slices_by_service.get_mut(&svc) {
                set.remove(name);
                if set.is_empty() {
                    self.slices_by_service.remove(&svc);
                }
            }
            self.dirty.insert(svc);
        }
        if let Some(new) = new {
            let svc = (ns.to_string(), new.service);
            self.slices_by_service
                .entry(svc.clone())
                .or_default()
                .insert(name.to_string());
            self.dirty.insert(svc);
        }
        true
    }

    fn apply_pod(&mut self, ns: &str, name: &str, new: Option<PodInfo>) -> bool {
        let key = (ns.to_string(), name.to_string());
        let old = match &new {
            Some(info) => self.pods.insert(key, info.clone()),
            None => self.pods.remove(&key),
        };
        if old == new {
            return false;
        }
        match (old.is_some(), new.is_some()) {
            (false, true) => {
                self.update_ns(ns, |r| r.pods += 1);
            }
            (true, false) => {
                self.update_ns(ns, |r| r.pods = r.pods.saturating_sub(1));
            }
            _ => {}
        }
        let mut touched = Vec::new();
        for ip in old.iter().flat_map(|p| p.ips.iter()) {
            if let Some(owners) = self.pod_ips.get_mut(ip) {
                if let Some(n) = owners.get_mut(ns) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        owners.remove(ns);
                    }
                }
            }
            touched.push(*ip);
        }
        for ip in new.iter().flat_map(|p| p.ips.iter()) {
            *self
                .pod_ips
                .entry(*ip)
                .or_default()
                .entry(ns.to_string())
                .or_default() += 1;
            touched.push(*ip);
        }
        let pods = Arc::make_mut(&mut self.z_pods);
        for ip in touched {
            match self.pod_ips.get(&ip) {
                Some(owners) if !owners.is_empty() => {
                    pods.insert(ip, owners.keys().map(|n| ns_key(n)).collect());
                }
                _ => {
                    self.pod_ips.remove(&ip);
                    pods.remove(&ip);
                }
            }
        }
        true
    }

    /// Changes why a namespace exists; updates the zone's set when that
    /// flips. Returns whether the set changed.
    fn update_ns(&mut self, ns: &str, f: impl FnOnce(&mut NsRefs)) -> bool {
        let refs = self.ns_refs.entry(ns.to_string()).or_default();
        let before = refs.exists();
        f(refs);
        let after = refs.exists();
        if !after {
            self.ns_refs.remove(ns);
        }
        if before == after {
            return false;
        }
        let set = Arc::make_mut(&mut self.z_namespaces);
        if after {
            set.insert(ns_key(ns));
        } else {
            set.remove(ns.to_ascii_lowercase().as_bytes());
        }
        true
    }

    /// Publishes the zone; `serial` goes into the SOA (CoreDNS uses the
    /// time of the last change).
    pub fn build(&mut self, serial: u32) -> Zone {
        let mut touched_ips: HashSet<IpAddr> = HashSet::new();
        for key in std::mem::take(&mut self.dirty) {
            let node = self.services.get(&key).and_then(|svc| {
                let slices: Vec<&SliceInfo> = self
                    .slices_by_service
                    .get(&key)
                    .map(|names| {
                        names
                            .iter()
                            .filter_map(|n| self.slices.get(&(key.0.clone(), n.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                build_service(&self.origin, self.config.ttl, &key.0, &key.1, svc, &slices)
            });
            let mut buf = [0u8; 128];
            let zkey: Option<Arc<[u8]>> =
                service_key(&mut buf, key.1.as_bytes(), key.0.as_bytes()).map(Arc::from);
            let old = self.nodes.remove(&key);
            for (ip, _, _) in old.iter().flat_map(|n| n.ptrs.iter()) {
                if let Some(src) = self.ptr_sources.get_mut(ip) {
                    src.remove(&key);
                }
                touched_ips.insert(*ip);
            }
            let services = Arc::make_mut(&mut self.z_services);
            match (node, zkey) {
                (Some(node), Some(zkey)) => {
                    let node = Arc::new(node);
                    for (ip, rec, is_cluster) in &node.ptrs {
                        self.ptr_sources
                            .entry(*ip)
                            .or_default()
                            .entry(key.clone())
                            .or_default()
                            .push((rec.clone(), *is_cluster));
                        touched_ips.insert(*ip);
                    }
                    services.insert(zkey, node.clone());
                    self.nodes.insert(key, node);
                }
                (_, Some(zkey)) => {
                    services.remove(&zkey);
                }
                _ => {}
            }
        }
        if !touched_ips.is_empty() {
            let reverse = Arc::make_mut(&mut self.z_reverse);
            for ip in touched_ips {
                match self.ptr_sources.get(&ip).and_then(reverse_records) {
                    Some(records) => {
                        reverse.insert(ip, records);
                    }
                    None => {
                        self.ptr_sources.remove(&ip);
                        reverse.remove(&ip);
                    }
                }
            }
        }
        self.publish(serial)
    }

    /// A new Zone: the shared indexes plus the few apex records.
    fn publish(&self, serial: u32) -> Zone {
        let ttl = self.config.ttl;
        let origin = &self.origin;
        let origin_name = name(origin);
        let soa = |zone: &str| -> Vec<Record> {
            match (
                name(zone),
                name(&format!("ns.dns.{zone}")),
                name(&format!("hostmaster.{zone}")),
            ) {
                (Some(z), Some(mname), Some(rname)) => vec![Record::from_rdata(
                    z,
                    ttl.min(300),
                    RData::SOA(SOA::new(mname, rname, serial, 7200, 1800, 86400, ttl)),
                )],
                _ => Vec::new(),
            }
        };

        // The zone's name server: the DNS Service's ClusterIP when it exists.
        let (dns_ns, dns_name) = &self.config.dns_service;
        let dns_ips: Vec<IpAddr> = match self.services.get(&(dns_ns.clone(), dns_name.clone())) {
            Some(ServiceInfo {
                kind: ServiceKind::ClusterIp(ips),
                ..
            }) => ips.clone(),
            _ => Vec::new(),
        };
        let ns_dns = name(&format!("ns.dns.{origin}"));
        let dns_svc = name(&format!(
            "{}.{}.svc.{origin}",
            dns_name.to_ascii_lowercase(),
            dns_ns.to_ascii_lowercase()
        ));
        let (apex_ns, apex_ns_extra) = match (&origin_name, &dns_svc, &ns_dns) {
            (Some(o), Some(host), _) if !dns_ips.is_empty() => (
                vec![Record::from_rdata(
                    o.clone(),
                    ttl,
                    RData::NS(NS(host.clone())),
                )],
                address_records(host, &dns_ips, ttl),
            ),
            (Some(o), _, Some(host)) => (
                vec![Record::from_rdata(
                    o.clone(),
                    ttl,
                    RData::NS(NS(host.clone())),
                )],
                Vec::new(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let (ns_dns_a, ns_dns_aaaa) = match &ns_dns {
            Some(n) => split_families(address_records(n, &dns_ips, ttl)),
            None => (Vec::new(), Vec::new()),
        };
        let version = name(&format!("dns-version.{origin}"))
            .map(|n| {
                vec![Record::from_rdata(
                    n,
                    VERSION_TTL,
                    RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])),
                )]
            })
            .unwrap_or_default();

        Zone {
            origin_labels: origin_name
                .as_ref()
                .map(|n| {
                    n.iter()
                        .map(|l| l.to_ascii_lowercase().into_boxed_slice())
                        .collect()
                })
                .unwrap_or_default(),
            pod_mode: self.config.pod_mode,
            soa: soa(origin),
            soa_v4: soa("in-addr.arpa."),
            soa_v6: soa("ip6.arpa."),
            apex_ns,
            apex_ns_extra,
            ns_dns_a,
            ns_dns_aaaa,
            version,
            ttl,
            namespaces: self.z_namespaces.clone(),
            services: self.z_services.clone(),
            pods: self.z_pods.clone(),
            reverse: self.z_reverse.clone(),
        }
    }
}

/// The PTR set of one IP: ClusterIP names hide endpoint names for the same
/// IP (as in CoreDNS); duplicates removed; None when nothing is left.
fn reverse_records(sources: &BTreeMap<Key, Vec<(Record, bool)>>) -> Option<Arc<[Record]>> {
    let any_cluster = sources.values().flatten().any(|(_, c)| *c);
    let mut out: Vec<Record> = Vec::new();
    for (rec, is_cluster) in sources.values().flatten() {
        if *is_cluster == any_cluster && !out.contains(rec) {
            out.push(rec.clone());
        }
    }
    (!out.is_empty()).then(|| Arc::from(out))
}
