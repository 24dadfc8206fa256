//! The EndpointSlice mirroring controller, like kube-controller-manager's:
//! Endpoints that users write for a Service without a selector are copied
//! into EndpointSlices (one per subset's port set and address type, at
//! most 1000 addresses per subset), so slice consumers see them too.
//! Endpoints labeled `endpointslice.kubernetes.io/skip-mirror: "true"` (the
//! apiserver's own `kubernetes` Endpoints) are not mirrored.

use crate::endpoint_controllers::Ctx;
use crate::endpointslice::{apply, port_key, SliceChanges};
use crate::endpointutil::*;
use crate::workqueue::SyncResult;
use k1s_api::k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k1s_api::k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use k1s_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// The outcome of mirroring one Endpoints object.
#[derive(Debug, Default)]
pub struct MirrorPlan {
    pub changes: SliceChanges,
    /// Addresses that are not IPs.
    pub invalid: usize,
    /// Addresses left out: invalid ones plus those over the per-subset limit.
    pub skipped: usize,
}

/// Whether `endpoints` is to be mirrored at all (`shouldMirror`).
pub fn should_mirror(endpoints: &Endpoints) -> bool {
    let skip = endpoints
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_SKIP_MIRROR))
        .is_some_and(|v| v == "true");
    let leader = endpoints
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_LEADER));
    !skip && !leader
}

/// Whether the Endpoints of `svc` belong to the mirroring controller: the
/// Service exists and has no selector.
pub fn service_wants_mirror(svc: Option<&Service>) -> bool {
    svc.is_some_and(|s| selector(s).is_none())
}

type EndpointKey = (Vec<String>, String, String, String);

fn endpoint_key(ep: &Endpoint) -> EndpointKey {
    let mut addrs = ep.addresses.clone();
    addrs.sort();
    let r = ep.target_ref.as_ref();
    (
        addrs,
        ep.hostname.clone().unwrap_or_default(),
        r.and_then(|r| r.namespace.clone()).unwrap_or_default(),
        r.and_then(|r| r.name.clone()).unwrap_or_default(),
    )
}

fn address_to_endpoint(addr: &EndpointAddress, ready: bool) -> Option<(Endpoint, &'static str)> {
    let ip = parse_ip(&addr.ip)?;
    let address_type = if ip.is_ipv6() { "IPv6" } else { "IPv4" };
    let ep = Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..Default::default()
        }),
        target_ref: addr.target_ref.clone(),
        node_name: addr.node_name.clone(),
        hostname: addr.hostname.clone().filter(|h| !h.is_empty()),
        ..Default::default()
    };
    Some((ep, address_type))
}

/// Endpoints minus the keys a mirrored slice does not copy.
fn mirrored_annotations(endpoints: &Endpoints) -> BTreeMap<String, String> {
    let mut a = endpoints.metadata.annotations.clone().unwrap_or_default();
    a.remove(ANNOTATION_TRIGGER_TIME);
    a.remove(ANNOTATION_LAST_APPLIED);
    a
}

fn new_slice(
    endpoints: &Endpoints,
    ports: &[EndpointPort],
    address_type: &str,
    name: Option<String>,
) -> EndpointSlice {
    let ep_name = endpoints.metadata.name.clone().unwrap_or_default();
    let uid = endpoints.metadata.uid.clone().unwrap_or_default();
    let mut labels = endpoints.metadata.labels.clone().unwrap_or_default();
    labels.insert(LABEL_SERVICE_NAME.into(), ep_name.clone());
    labels.insert(LABEL_MANAGED_BY.into(), MIRRORING_CONTROLLER.into());
    let generate_name = name.is_none().then(|| format!("{ep_name}-"));
    EndpointSlice {
        metadata: ObjectMeta {
            name,
            generate_name,
            namespace: endpoints.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: non_empty(mirrored_annotations(endpoints)),
            owner_references: Some(vec![controller_ref("Endpoints", &ep_name, &uid)]),
            ..Default::default()
        },
        address_type: address_type.into(),
        endpoints: Vec::new(),
        ports: Some(ports.to_vec()),
    }
}

struct Group {
    address_type: &'static str,
    ports: Vec<EndpointPort>,
    endpoints: BTreeMap<EndpointKey, Endpoint>,
}

fn group_key(address_type: &str, ports: &[EndpointPort]) -> String {
    format!("{address_type}|{}", port_key(Some(ports)))
}

/// Whether the first existing slice already mirrors `desired` and the
/// Endpoints' labels and annotations (`totalChanges` plus the label and
/// annotation checks).
fn up_to_date(
    endpoints: &Endpoints,
    slice: &EndpointSlice,
    desired: &BTreeMap<EndpointKey, Endpoint>,
) -> bool {
    let mut matched = 0;
    for ep in &slice.endpoints {
        match desired.get(&endpoint_key(ep)) {
            None => return false,
            Some(want) => {
                let same = want.node_name == ep.node_name
                    && want.zone == ep.zone
                    && want.conditions.clone().unwrap_or_default()
                        == ep.conditions.clone().unwrap_or_default()
                    && same_ref(want.target_ref.as_ref(), ep.target_ref.as_ref());
                if !same {
                    return false;
                }
                matched += 1;
            }
        }
    }
    let mut labels = slice.metadata.labels.clone().unwrap_or_default();
    labels.remove(LABEL_MANAGED_BY);
    labels.remove(LABEL_SERVICE_NAME);
    matched == desired.len()
        && labels == endpoints.metadata.labels.clone().unwrap_or_default()
        && mirrored_annotations(endpoints) == slice.metadata.annotations.clone().unwrap_or_default()
}

/// Decides the mirrored slices for `endpoints` given the slices this
/// controller already made for it.
pub fn reconcile_mirror(
    endpoints: &Endpoints,
    existing: &[EndpointSlice],
    max_per_subset: usize,
) -> MirrorPlan {
    let mut plan = MirrorPlan::default();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for subset in endpoints.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                protocol: Some(protocol(p.protocol.as_deref()).to_string()),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        for t in ["IPv4", "IPv6"] {
            let g = groups.entry(group_key(t, &ports)).or_insert_with(|| Group {
                address_type: t,
                ports: ports.clone(),
                endpoints: BTreeMap::new(),
            });
            g.ports = ports.clone();
        }
        let total = subset.addresses.as_ref().map_or(0, Vec::len)
            + subset.not_ready_addresses.as_ref().map_or(0, Vec::len);
        let mut added = 0;
        let all = subset.addresses.iter().flatten().map(|a| (a, true)).chain(
            subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, false)),
        );
        for (addr, ready) in all {
            if added >= max_per_subset {
                break;
            }
            match address_to_endpoint(addr, ready) {
                Some((ep, t)) => {
                    if let Some(g) = groups.get_mut(&group_key(t, &ports)) {
                        g.endpoints.insert(endpoint_key(&ep), ep);
                    }
                    added += 1;
                }
                None => plan.invalid += 1,
            }
        }
        plan.skipped += total - added;
    }

    let mut sorted: Vec<&EndpointSlice> = existing.iter().collect();
    sorted.sort_by_key(|s| s.metadata.name.clone().unwrap_or_default());
    let mut by_key: BTreeMap<String, Vec<&EndpointSlice>> = BTreeMap::new();
    for s in sorted {
        by_key
            .entry(group_key(
                &s.address_type,
                s.ports.as_deref().unwrap_or(&[]),
            ))
            .or_default()
            .push(s);
    }

    let changes = &mut plan.changes;
    for (key, g) in groups.iter_mut() {
        let current = by_key.get(key).map(Vec::as_slice).unwrap_or(&[]);
        if g.endpoints.is_empty() {
            changes.delete.extend(current.iter().map(|s| (*s).clone()));
            continue;
        }
        if let Some((first, rest)) = current.split_first() {
            changes.delete.extend(rest.iter().map(|s| (*s).clone()));
            if up_to_date(endpoints, first, &g.endpoints) {
                continue;
            }
        }
        let name = current.first().and_then(|s| s.metadata.name.clone());
        let mut slice = new_slice(endpoints, &g.ports, g.address_type, name);
        while slice.endpoints.len() < max_per_subset {
            let Some((_, ep)) = g.endpoints.pop_first() else {
                break;
            };
            slice.endpoints.push(ep);
        }
        if slice.metadata.name.is_some() {
            changes.update.push(slice);
        } else {
            changes.create.push(slice);
        }
    }
    for (key, slices) in &by_key {
        if !groups.contains_key(key) {
            changes.delete.extend(slices.iter().map(|s| (*s).clone()));
        }
    }

    recycle(changes);
    if endpoints.metadata.deletion_timestamp.is_some() {
        changes.create.clear();
    }
    plan
}

/// Turns create+delete pairs of the same address type into updates of the
/// slice that would have been deleted (`recycleSlices`).
fn recycle(changes: &mut SliceChanges) {
    for t in ["IPv4", "IPv6"] {
        loop {
            let c = changes.create.iter().position(|s| s.address_type == t);
            let d = changes.delete.iter().position(|s| s.address_type == t);
            let (Some(c), Some(d)) = (c, d) else {
                break;
            };
            let mut slice = changes.create.remove(c);
            let old = changes.delete.remove(d);
            slice.metadata.name = old.metadata.name;
            slice.metadata.generate_name = None;
            changes.update.push(slice);
        }
    }
}

/// One pass over an Endpoints key.
pub(crate) async fn sync(ctx: &Ctx, key: &(String, String)) -> SyncResult {
    let (ns, name) = key;
    let endpoints = ctx
        .endpoints
        .get(ns, name)
        .and_then(|v| typed::<Endpoints>(&v));
    let svc = ctx
        .services
        .get(ns, name)
        .and_then(|v| typed::<Service>(&v));
    let mirror = match &endpoints {
        Some(ep) => should_mirror(ep) && service_wants_mirror(svc.as_ref()),
        None => false,
    };
    let existing = ctx.slices_of(ns, name, MIRRORING_CONTROLLER);
    let Some(endpoints) = endpoints.filter(|_| mirror) else {
        for s in existing {
            ctx.delete_slice(ns, s.metadata.name.as_deref().unwrap_or(""))
                .await?;
        }
        return Ok(None);
    };
    let plan = reconcile_mirror(&endpoints, &existing, MAX_ENDPOINTS_PER_SUBSET);
    if plan.skipped > 0 {
        tracing::warn!(
            namespace = %ns, endpoints = %name,
            "{} addresses not mirrored to EndpointSlices ({} not valid IPs)",
            plan.skipped, plan.invalid
        );
    }
    apply(ctx, ns, plan.changes).await?;
    Ok(None)
}

#[cfg(test)]
mod tests;
