//! The records one Service puts in the zone (pure): its A/AAAA or CNAME,
//! SRV for its ports, endpoint names and the PTRs that point back.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, PTR, SRV};
use hickory_server::proto::rr::{Name, RData, Record};

use crate::names::{dashed_ip, reverse_name};
use crate::objects::{Port, ServiceInfo, ServiceKind, SliceInfo};
use crate::zone::{PortNode, ServiceNode};

pub(crate) fn name(s: &str) -> Option<Name> {
    Name::from_ascii(s).ok().filter(Name::is_fqdn)
}

pub(crate) fn address_record(owner: &Name, ip: IpAddr, ttl: u32) -> Record {
    let rdata = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), ttl, rdata)
}

pub(crate) fn address_records(owner: &Name, ips: &[IpAddr], ttl: u32) -> Vec<Record> {
    ips.iter()
        .map(|ip| address_record(owner, *ip, ttl))
        .collect()
}

pub(crate) fn split_families(records: Vec<Record>) -> (Vec<Record>, Vec<Record>) {
    records
        .into_iter()
        .partition(|r| matches!(r.data, RData::A(_)))
}

fn ptr(ip: IpAddr, target: &Name, ttl: u32) -> Option<Record> {
    Some(Record::from_rdata(
        name(&reverse_name(ip))?,
        ttl,
        RData::PTR(PTR(target.clone())),
    ))
}

/// SRV weights as CoreDNS computes them for records of equal priority:
/// 100 shared out, at least 1 each.
fn srv_records(owner: &Name, targets: &[(u16, Name)], ttl: u32) -> Vec<Record> {
    let mut set: HashSet<(u16, &Name)> = HashSet::with_capacity(targets.len());
    let mut seen: Vec<(u16, &Name)> = Vec::with_capacity(targets.len());
    for (port, target) in targets {
        if set.insert((*port, target)) {
            seen.push((*port, target));
        }
    }
    let weight = u16::try_from(100 / seen.len().max(1)).unwrap_or(1).max(1);
    seen.into_iter()
        .map(|(port, target)| {
            Record::from_rdata(
                owner.clone(),
                ttl,
                RData::SRV(SRV::new(0, weight, port, target.clone())),
            )
        })
        .collect()
}

fn push_unique(set: &mut Vec<Record>, rec: Record) {
    if !set.contains(&rec) {
        set.push(rec);
    }
}

/// (port, target) pairs that become SRV records.
type SrvTargets = Vec<(u16, Name)>;

/// One endpoint address that DNS publishes, with its host label.
struct Published<'a> {
    label: String,
    ip: IpAddr,
    ports: &'a [Port],
}

/// The records of one Service; None when it publishes nothing (no address
/// yet, or headless without ready endpoints: NXDOMAIN per the spec).
pub(crate) fn build_service(
    origin: &str,
    ttl: u32,
    ns: &str,
    svc_name: &str,
    svc: &ServiceInfo,
    slices: &[&SliceInfo],
) -> Option<ServiceNode> {
    let base = name(&format!(
        "{}.{}.svc.{origin}",
        svc_name.to_ascii_lowercase(),
        ns.to_ascii_lowercase()
    ))?;
    let mut node = ServiceNode::default();

    if let ServiceKind::ExternalName(target) = &svc.kind {
        let mut t = target.trim().to_string();
        if !t.ends_with('.') {
            t.push('.');
        }
        let target = name(&t)?;
        node.cname = vec![Record::from_rdata(
            base,
            ttl,
            RData::CNAME(CNAME(target.clone())),
        )];
        node.cname_target = Some(target);
        return Some(node);
    }

    let mut published: Vec<Published<'_>> = Vec::new();
    for slice in slices {
        for ep in &slice.endpoints {
            if !(ep.ready || svc.publish_not_ready) {
                continue;
            }
            for ip in &ep.addresses {
                let label = match &ep.hostname {
                    Some(h) => h.to_ascii_lowercase(),
                    None => dashed_ip(*ip),
                };
                published.push(Published {
                    label,
                    ip: *ip,
                    ports: &slice.ports,
                });
            }
        }
    }

    // Endpoint names exist for every Service with endpoints (CoreDNS answers
    // them for ClusterIP Services too); the spec requires them for headless.
    let mut endpoint_targets: Vec<(Name, &Published<'_>)> = Vec::new();
    let mut ep_srv: HashMap<&str, (Name, SrvTargets)> = HashMap::new();
    for p in &published {
        let Some(host) = name(&format!("{}.{base}", p.label)) else {
            continue;
        };
        let entry = node.endpoints.entry(p.label.as_bytes().into()).or_default();
        let rec = address_record(&host, p.ip, ttl);
        match p.ip {
            IpAddr::V4(_) => push_unique(&mut entry.a, rec),
            IpAddr::V6(_) => push_unique(&mut entry.aaaa, rec),
        }
        if let Some(r) = ptr(p.ip, &host, ttl) {
            node.ptrs.push((p.ip, r, false));
        }
        let srv = ep_srv
            .entry(p.label.as_str())
            .or_insert_with(|| (host.clone(), Vec::new()));
        srv.1.extend(
            p.ports
                .iter()
                .filter_map(|port| Some((port.port?, host.clone()))),
        );
        endpoint_targets.push((host, p));
    }
    for (label, (host, targets)) in ep_srv {
        if let Some(entry) = node.endpoints.get_mut(label.as_bytes()) {
            entry.srv = srv_records(&host, &targets, ttl);
            entry.srv_extra = entry.a.iter().chain(entry.aaaa.iter()).cloned().collect();
        }
    }

    match &svc.kind {
        ServiceKind::ClusterIp(ips) => {
            let addrs = address_records(&base, ips, ttl);
            (node.a, node.aaaa) = split_families(addrs);
            let extra: Vec<Record> = node.a.iter().chain(node.aaaa.iter()).cloned().collect();
            let all: Vec<(u16, Name)> = svc
                .ports
                .iter()
                .filter_map(|p| Some((p.port?, base.clone())))
                .collect();
            node.srv = srv_records(&base, &all, ttl);
            node.srv_extra = extra.clone();
            for p in svc.ports.iter().filter(|p| !p.name.is_empty()) {
                let (Some(number), Some(owner)) = (
                    p.port,
                    name(&format!(
                        "_{}._{}.{base}",
                        p.name.to_ascii_lowercase(),
                        p.protocol
                    )),
                ) else {
                    continue;
                };
                node.ports.push(PortNode {
                    port: p.name.to_ascii_lowercase().into_bytes().into(),
                    proto: p.protocol.clone().into_bytes().into(),
                    srv: srv_records(&owner, &[(number, base.clone())], ttl),
                    extra: extra.clone(),
                });
            }
            for ip in ips {
                if let Some(r) = ptr(*ip, &base, ttl) {
                    node.ptrs.push((*ip, r, true));
                }
            }
        }
        ServiceKind::Headless => {
            if published.is_empty() {
                return None;
            }
            let mut seen_ip = HashSet::new();
            for p in published.iter().filter(|p| seen_ip.insert(p.ip)) {
                let rec = address_record(&base, p.ip, ttl);
                match p.ip {
                    IpAddr::V4(_) => node.a.push(rec),
                    IpAddr::V6(_) => node.aaaa.push(rec),
                }
            }
            let mut all = Vec::new();
            let mut extra = Vec::new();
            let mut seen_extra = HashSet::new();
            for (host, p) in &endpoint_targets {
                all.extend(
                    p.ports
                        .iter()
                        .filter_map(|port| Some((port.port?, host.clone()))),
                );
                if seen_extra.insert((p.label.as_str(), p.ip)) {
                    extra.push(address_record(host, p.ip, ttl));
                }
            }
            node.srv = srv_records(&base, &all, ttl);
            node.srv_extra = extra;
            // One _port._proto name per named port of the slices.
            let mut named: Vec<(&str, &str)> = Vec::new();
            for (_, p) in &endpoint_targets {
                for port in p.ports.iter().filter(|port| !port.name.is_empty()) {
                    if !named.contains(&(port.name.as_str(), port.protocol.as_str())) {
                        named.push((&port.name, &port.protocol));
                    }
                }
            }
            for (pname, proto) in named {
                let Some(owner) = name(&format!("_{}._{proto}.{base}", pname.to_ascii_lowercase()))
                else {
                    continue;
                };
                let mut targets = Vec::new();
                let mut extra = Vec::new();
                let mut seen_extra = HashSet::new();
                for (host, p) in &endpoint_targets {
                    for port in p
                        .ports
                        .iter()
                        .filter(|x| x.name == pname && x.protocol == proto)
                    {
                        if let Some(number) = port.port {
                            targets.push((number, host.clone()));
                            if seen_extra.insert((p.label.as_str(), p.ip)) {
                                extra.push(address_record(host, p.ip, ttl));
                            }
                        }
                    }
                }
                if targets.is_empty() {
                    continue;
                }
                node.ports.push(PortNode {
                    port: pname.to_ascii_lowercase().into_bytes().into(),
                    proto: proto.as_bytes().into(),
                    srv: srv_records(&owner, &targets, ttl),
                    extra,
                });
            }
        }
        ServiceKind::ExternalName(_) | ServiceKind::Unpublished => return None,
    }
    Some(node)
}
