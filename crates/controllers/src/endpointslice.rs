//! The EndpointSlice controller, like kube-controller-manager's: every
//! Service with a selector gets EndpointSlices (at most 100 endpoints each,
//! one group per distinct set of resolved ports and per address type)
//! listing the selected pods with ready/serving/terminating conditions.
//! Existing slices are kept and filled before new ones are made (the
//! placement of staging/src/k8s.io/endpointslice/reconciler.go), and a
//! Service without endpoints keeps one empty placeholder slice.

use crate::endpoint_controllers::Ctx;
use crate::endpointutil::*;
use crate::workqueue::SyncResult;
use k1s_api::k8s_openapi::api::core::v1::{Pod, Service};
use k1s_api::k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use k1s_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k1s_api::k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Slices to create, update and delete, in that order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SliceChanges {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
}

impl SliceChanges {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    fn extend(&mut self, other: SliceChanges) {
        self.create.extend(other.create);
        self.update.extend(other.update);
        self.delete.extend(other.delete);
    }
}

/// Everything one reconcile of a Service looks at.
pub struct SliceInput<'a> {
    pub service: &'a Service,
    /// The pods the Service's selector matches.
    pub pods: &'a [Pod],
    /// Node name → the node's labels (zone, and whether the node exists).
    pub nodes: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// The slices labeled with the Service's name and managed by this
    /// controller, not being deleted.
    pub existing: &'a [EndpointSlice],
    pub trigger_time: Option<Timestamp>,
    pub max_per_slice: usize,
}

#[derive(Debug, Default)]
pub struct SlicePlan {
    pub changes: SliceChanges,
    /// Pods left out because their node is unknown; the Service is retried.
    pub skipped: Vec<String>,
}

/// Identity of an endpoint across syncs: sorted addresses, hostname and
/// the pod it points at (`endpointHash`). Conditions, node and zone may
/// change in place.
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

/// Whether two endpoints with the same key differ in what the key leaves
/// out (`EndpointsEqualBeyondHash`).
fn same_beyond_key(a: &Endpoint, b: &Endpoint) -> bool {
    let cond = |e: &Endpoint| {
        let c = e.conditions.clone().unwrap_or_default();
        (c.ready, c.serving, c.terminating)
    };
    a.node_name == b.node_name
        && a.zone == b.zone
        && cond(a) == cond(b)
        && same_ref(a.target_ref.as_ref(), b.target_ref.as_ref())
}

/// Slices with equal keys carry the same ports (order does not matter;
/// absent name/protocol read as their defaults).
pub fn port_key(ports: Option<&[EndpointPort]>) -> String {
    let mut parts: Vec<String> = ports
        .unwrap_or(&[])
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}/{}",
                p.name.as_deref().unwrap_or(""),
                p.port.unwrap_or(0),
                protocol(p.protocol.as_deref()),
                p.app_protocol.as_deref().unwrap_or("")
            )
        })
        .collect();
    parts.sort();
    parts.join(",")
}

/// The slice ports a pod resolves the Service's ports to.
fn endpoint_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    service_ports(svc)
        .iter()
        .filter_map(|sp| {
            let port = find_port(pod, sp)?;
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(protocol(sp.protocol.as_deref()).to_string()),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

fn pod_to_endpoint(
    pod: &Pod,
    node: Option<&BTreeMap<String, String>>,
    svc: &Service,
    address_type: &str,
) -> Endpoint {
    let serving = is_pod_ready(pod);
    let terminating = is_terminating(pod);
    // A terminating pod is never "ready" unless the Service says to publish anyway.
    let ready = publish_not_ready(svc) || (serving && !terminating);
    let want_v6 = address_type == "IPv6";
    let addresses = pod_ips(pod)
        .iter()
        .filter_map(|ip| parse_ip(ip))
        .filter(|ip| ip.is_ipv6() == want_v6)
        .map(|ip| ip.to_string())
        .collect();
    let node_name = node_name(pod);
    Endpoint {
        addresses,
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: if should_set_hostname(pod, svc) {
            hostname(pod)
        } else {
            None
        },
        target_ref: Some(pod_ref(pod)),
        node_name: (!node_name.is_empty()).then(|| node_name.to_string()),
        zone: node
            .and_then(|l| l.get(LABEL_ZONE))
            .filter(|z| !z.is_empty())
            .cloned(),
        ..Default::default()
    }
}

fn is_reserved(label: &str) -> bool {
    label == LABEL_SERVICE_NAME || label == LABEL_MANAGED_BY || label == LABEL_HEADLESS
}

/// A slice's labels: the Service's (minus reserved keys) plus the reserved
/// ones; and whether the Service's own labels differ from the slice's
/// (`setEndpointSliceLabels`).
fn slice_labels(
    current: Option<&BTreeMap<String, String>>,
    svc: &Service,
) -> (BTreeMap<String, String>, bool) {
    let strip = |m: Option<&BTreeMap<String, String>>| -> BTreeMap<String, String> {
        m.into_iter()
            .flatten()
            .filter(|(k, _)| !is_reserved(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut labels = strip(svc.metadata.labels.as_ref());
    let changed = strip(current) != labels;
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(
        LABEL_SERVICE_NAME.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_MANAGED_BY.into(), SLICE_CONTROLLER.into());
    (labels, changed)
}

fn new_slice(svc: &Service, ports: Vec<EndpointPort>, address_type: &str) -> EndpointSlice {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let uid = svc.metadata.uid.clone().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(slice_labels(None, svc).0),
            owner_references: Some(vec![controller_ref("Service", &name, &uid)]),
            ..Default::default()
        },
        address_type: address_type.into(),
        endpoints: Vec::new(),
        ports: Some(ports),
    }
}

pub fn owned_by(slice: &EndpointSlice, kind: &str, uid: Option<&str>) -> bool {
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid && o.kind == kind && o.api_version == "v1")
}

/// Whether an existing slice already is the placeholder (only namespace,
/// labels, address type and the empty lists count).
fn same_placeholder(a: &EndpointSlice, b: &EndpointSlice) -> bool {
    let labels = |s: &EndpointSlice| s.metadata.labels.clone().unwrap_or_default();
    a.metadata.namespace == b.metadata.namespace
        && labels(a) == labels(b)
        && a.address_type == b.address_type
        && a.endpoints.is_empty()
        && b.endpoints.is_empty()
        && a.ports.as_ref().is_none_or(Vec::is_empty)
        && b.ports.as_ref().is_none_or(Vec::is_empty)
}

fn name_of(s: &EndpointSlice) -> String {
    s.metadata.name.clone().unwrap_or_default()
}

/// The unchanged slice that comes closest to full when `n` endpoints are
/// added without going over `max` (`getSliceToFill`).
fn slice_to_fill(
    names: &BTreeSet<String>,
    slices: &BTreeMap<String, EndpointSlice>,
    n: usize,
    max: usize,
) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for name in names {
        let len = slices.get(name).map_or(0, |s| s.endpoints.len());
        let Some(diff) = max.checked_sub(n + len) else {
            continue;
        };
        if best.as_ref().is_none_or(|(d, _)| diff < *d) && diff < max {
            best = Some((diff, name.clone()));
            if diff == 0 {
                break;
            }
        }
    }
    best.map(|(_, name)| name)
}

fn pop_first(desired: &mut BTreeMap<EndpointKey, Endpoint>) -> Option<Endpoint> {
    desired.pop_first().map(|(_, ep)| ep)
}

/// One group of slices sharing ports (`reconcileByPortMapping`):
/// 1. drop endpoints no longer wanted and refresh changed ones in place;
/// 2. top up the slices already being updated, fullest first;
/// 3. fit what is left into an unchanged slice, or make new slices.
fn reconcile_ports(
    svc: &Service,
    existing: &[&EndpointSlice],
    mut desired: BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
    address_type: &str,
    max: usize,
) -> SliceChanges {
    let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut unchanged = BTreeSet::new();
    let mut to_update = BTreeSet::new();
    let mut to_delete = BTreeSet::new();
    for s in existing {
        let name = name_of(s);
        let mut kept = Vec::new();
        let mut refreshed = false;
        for ep in &s.endpoints {
            if let Some(want) = desired.remove(&endpoint_key(ep)) {
                refreshed |= !same_beyond_key(&want, ep);
                kept.push(want);
            }
        }
        let (labels, labels_changed) = slice_labels(s.metadata.labels.as_ref(), svc);
        let mut copy = (*s).clone();
        if refreshed || kept.len() != s.endpoints.len() {
            if kept.is_empty() {
                to_delete.insert(name.clone());
            } else {
                copy.endpoints = kept;
                copy.metadata.labels = Some(labels);
                to_update.insert(name.clone());
            }
        } else if labels_changed {
            copy.metadata.labels = Some(labels);
            to_update.insert(name.clone());
        } else {
            unchanged.insert(name.clone());
        }
        slices.insert(name, copy);
    }

    if !desired.is_empty() && !to_update.is_empty() {
        let mut order: Vec<&String> = to_update.iter().collect();
        order.sort_by_key(|n| std::cmp::Reverse(slices.get(*n).map_or(0, |s| s.endpoints.len())));
        let order: Vec<String> = order.into_iter().cloned().collect();
        for name in order {
            if let Some(s) = slices.get_mut(&name) {
                while s.endpoints.len() < max {
                    let Some(ep) = pop_first(&mut desired) else {
                        break;
                    };
                    s.endpoints.push(ep);
                }
            }
        }
    }

    let mut create = Vec::new();
    while !desired.is_empty() {
        let target = if desired.len() < max && !unchanged.is_empty() {
            slice_to_fill(&unchanged, &slices, desired.len(), max)
        } else {
            None
        };
        let mut slice = match target.as_ref().and_then(|n| slices.get(n)) {
            Some(s) => s.clone(),
            None => new_slice(svc, ports.to_vec(), address_type),
        };
        while slice.endpoints.len() < max {
            let Some(ep) = pop_first(&mut desired) else {
                break;
            };
            slice.endpoints.push(ep);
        }
        match target {
            Some(name) => {
                unchanged.remove(&name);
                to_update.insert(name.clone());
                slices.insert(name, slice);
            }
            None => create.push(slice),
        }
    }

    let pick = |names: &BTreeSet<String>| -> Vec<EndpointSlice> {
        names
            .iter()
            .filter_map(|n| slices.get(n).cloned())
            .collect()
    };
    SliceChanges {
        create,
        update: pick(&to_update),
        delete: existing
            .iter()
            .filter(|s| to_delete.contains(&name_of(s)))
            .map(|s| (*s).clone())
            .collect(),
    }
}

/// One address type (`reconcileByAddressType` and `finalize`).
fn reconcile_address_type(
    input: &SliceInput,
    address_type: &str,
    existing: &[&EndpointSlice],
    skipped: &mut Vec<String>,
) -> SliceChanges {
    let svc = input.service;
    let svc_uid = svc.metadata.uid.as_deref();
    let mut delete: Vec<EndpointSlice> = Vec::new();
    let mut by_ports: BTreeMap<String, Vec<&EndpointSlice>> = BTreeMap::new();
    for s in existing {
        if owned_by(s, "Service", svc_uid) {
            by_ports
                .entry(port_key(s.ports.as_deref()))
                .or_default()
                .push(s);
        } else {
            delete.push((*s).clone());
        }
    }

    let mut desired: BTreeMap<String, (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>)> =
        BTreeMap::new();
    for pod in input.pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(svc, pod);
        let group = desired
            .entry(port_key(Some(&ports)))
            .or_insert_with(|| (ports, BTreeMap::new()));
        let node = input.nodes.get(node_name(pod));
        if node.is_none() && !publish_not_ready(svc) {
            skipped.push(format!(
                "skipping Pod {} for Service {}/{}: Node {} Not Found",
                pod_name(pod),
                svc.metadata.namespace.as_deref().unwrap_or(""),
                svc.metadata.name.as_deref().unwrap_or(""),
                node_name(pod)
            ));
            continue;
        }
        let ep = pod_to_endpoint(pod, node, svc, address_type);
        if !ep.addresses.is_empty() {
            group.1.insert(endpoint_key(&ep), ep);
        }
    }

    let mut changes = SliceChanges::default();
    for (key, (ports, eps)) in desired.iter() {
        let current = by_ports.get(key).map(Vec::as_slice).unwrap_or(&[]);
        changes.extend(reconcile_ports(
            svc,
            current,
            eps.clone(),
            ports,
            address_type,
            input.max_per_slice,
        ));
    }
    delete.append(&mut changes.delete);
    for (key, slices) in &by_ports {
        if !desired.contains_key(key) {
            delete.extend(slices.iter().map(|s| (*s).clone()));
        }
    }

    // A Service without endpoints keeps exactly one empty slice.
    if existing.len() == delete.len() && changes.create.is_empty() {
        let placeholder = new_slice(svc, Vec::new(), address_type);
        if delete.len() == 1 && same_placeholder(&delete[0], &placeholder) {
            delete.clear();
        } else {
            changes.create.push(placeholder);
        }
    }

    // Reuse slices that would be deleted instead of creating new ones.
    let mut i = 0;
    while i < delete.len() {
        let Some(last) = changes.create.last() else {
            break;
        };
        if delete[i].address_type == last.address_type && owned_by(&delete[i], "Service", svc_uid) {
            if let Some(mut s) = changes.create.pop() {
                s.metadata.name = delete[i].metadata.name.clone();
                changes.update.push(s);
            }
            delete.remove(i);
        } else {
            i += 1;
        }
    }
    changes.delete = delete;
    changes
}

fn set_trigger_time(slice: &mut EndpointSlice, t: Option<&Timestamp>) {
    let mut a = slice.metadata.annotations.take().unwrap_or_default();
    match t {
        Some(t) => a.insert(ANNOTATION_TRIGGER_TIME.into(), format_time(t)),
        None => a.remove(ANNOTATION_TRIGGER_TIME),
    };
    slice.metadata.annotations = non_empty(a);
}

/// Decides the slice writes for one Service with a selector.
pub fn reconcile_slices(input: &SliceInput) -> SlicePlan {
    let svc = input.service;
    let types = address_types(svc);
    let mut existing: Vec<&EndpointSlice> = input.existing.iter().collect();
    existing.sort_by_key(|s| name_of(s));
    let mut plan = SlicePlan::default();
    let mut unsupported = Vec::new();
    let mut by_type: BTreeMap<&str, Vec<&EndpointSlice>> = BTreeMap::new();
    for s in existing {
        if types.contains(s.address_type.as_str()) {
            by_type.entry(s.address_type.as_str()).or_default().push(s);
        } else {
            unsupported.push(s.clone());
        }
    }
    for t in &types {
        let current = by_type.get(t).map(Vec::as_slice).unwrap_or(&[]);
        let changes = reconcile_address_type(input, t, current, &mut plan.skipped);
        plan.changes.extend(changes);
    }
    plan.changes.delete.extend(unsupported);
    // No new slices for a Service being deleted.
    if svc.metadata.deletion_timestamp.is_some() {
        plan.changes.create.clear();
    }
    let t = input.trigger_time.as_ref();
    for s in plan
        .changes
        .create
        .iter_mut()
        .chain(plan.changes.update.iter_mut())
    {
        set_trigger_time(s, t);
    }
    plan
}

/// Applies slice changes through the API, keeping the slice cache current.
pub(crate) async fn apply(ctx: &Ctx, ns: &str, changes: SliceChanges) -> Result<(), String> {
    let r = ctx.slices.resource;
    for s in changes.create {
        let body = serde_json::to_value(s).map_err(|e| e.to_string())?;
        match ctx
            .api
            .create(r, Some(ns), body, &ctx.write_options())
            .await
        {
            Ok(w) => ctx.slices.observe(&w.object),
            // The namespace is terminating: creates keep failing, stop here.
            Err(e) if e.reason == "Forbidden" => return Ok(()),
            Err(e) => return Err(format!("creating EndpointSlice in {ns}: {}", e.message)),
        }
    }
    for s in changes.update {
        let name = name_of(&s);
        let body = serde_json::to_value(s).map_err(|e| e.to_string())?;
        match ctx
            .api
            .update(r, Some(ns), &name, body, None, &ctx.write_options())
            .await
        {
            Ok(w) => ctx.slices.observe(&w.object),
            Err(e) => return Err(format!("updating EndpointSlice {ns}/{name}: {}", e.message)),
        }
    }
    for s in changes.delete {
        ctx.delete_slice(ns, &name_of(&s)).await?;
    }
    Ok(())
}

/// One pass over a Service key.
pub(crate) async fn sync(ctx: &Ctx, key: &(String, String)) -> SyncResult {
    let (ns, name) = key;
    let Some(svc) = ctx.services.get(ns, name) else {
        ctx.forget_slice_trigger(ns, name);
        // Upstream leaves this to the garbage collector (the slices are
        // owned by the Service); k1s has none yet, so delete them here.
        for s in ctx.slices_of(ns, name, SLICE_CONTROLLER) {
            ctx.delete_slice(ns, &name_of(&s)).await?;
        }
        return Ok(None);
    };
    let Some(svc) = typed::<Service>(&svc) else {
        return Ok(None);
    };
    if is_external_name(&svc) {
        return Ok(None);
    }
    let Some(sel) = selector(&svc) else {
        return Ok(None);
    };
    let pods = ctx.selected_pods(ns, sel);
    let existing: Vec<EndpointSlice> = ctx
        .slices_of(ns, name, SLICE_CONTROLLER)
        .into_iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .collect();
    let nodes = ctx.node_labels();
    let trigger_time = ctx.slice_trigger(&svc, &pods);
    let plan = reconcile_slices(&SliceInput {
        service: &svc,
        pods: &pods,
        nodes: &nodes,
        existing: &existing,
        trigger_time,
        max_per_slice: MAX_ENDPOINTS_PER_SLICE,
    });
    apply(ctx, ns, plan.changes).await?;
    if !plan.skipped.is_empty() {
        return Err(plan.skipped.join("; "));
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
