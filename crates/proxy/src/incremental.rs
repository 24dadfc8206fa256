//! Changes at scale. Building and diffing the whole table costs time in
//! proportion to every Service on the node; a change to one Service should
//! cost in proportion to that Service. So only the changed Services are
//! built — as they were and as they are — and `diff` compares those two
//! small tables. Map elements and ClusterIPs are shared by all Services
//! (two may claim one destination; the first by namespace/name wins), so
//! they are settled against an index of claims instead. The transaction
//! equals what a full rebuild followed by `diff` would produce.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use crate::build::{ruleset, service_claims, ServiceClaims, CLUSTER_IPS};
use crate::diff::diff;
use crate::model::{Config, EndpointSliceInfo, ServiceInfo, ServiceInputs, ServiceKey};
use crate::nft::{ElemKey, Element, Ruleset, SetKind};
use crate::tx::{Op, Transaction};

/// Sizes of the programmed table, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Service ports with rules.
    pub service_ports: i64,
    /// Endpoints some rule DNATs to (one chain each).
    pub endpoints: i64,
    pub chains: i64,
    pub rules: i64,
    /// Elements of the proxy's static sets and verdict maps.
    pub elements: i64,
    /// Service ports whose internalTrafficPolicy Local finds endpoints,
    /// but none on this node (kube-proxy counts ports, too).
    pub no_local_internal: i64,
    /// The same for externalTrafficPolicy Local.
    pub no_local_external: i64,
}

impl Counts {
    fn of(rs: &Ruleset) -> Counts {
        Counts {
            service_ports: rs.services.len() as i64,
            endpoints: rs.services.values().map(|s| s.endpoints.len() as i64).sum(),
            chains: rs.chains.len() as i64,
            rules: rs.chains.iter().map(|c| c.rules.len() as i64).sum(),
            elements: rs
                .maps
                .iter()
                .map(|m| m.elements.len() as i64)
                .chain(
                    rs.sets
                        .iter()
                        .filter_map(|s| s.elements().map(|e| e.len() as i64)),
                )
                .sum(),
            no_local_internal: rs.services.values().filter(|s| s.no_local_internal).count() as i64,
            no_local_external: rs.services.values().filter(|s| s.no_local_external).count() as i64,
        }
    }

    fn add(&mut self, other: Counts, sign: i64) {
        self.service_ports += sign * other.service_ports;
        self.endpoints += sign * other.endpoints;
        self.chains += sign * other.chains;
        self.rules += sign * other.rules;
        self.elements += sign * other.elements;
        self.no_local_internal += sign * other.no_local_internal;
        self.no_local_external += sign * other.no_local_external;
    }
}

/// The table for `inputs` (any subset of the Services).
fn build<'a>(cfg: &Config, inputs: impl Iterator<Item = &'a ServiceInputs>) -> Ruleset {
    let mut services: Vec<ServiceInfo> = Vec::new();
    let mut slices: Vec<EndpointSliceInfo> = Vec::new();
    for i in inputs {
        services.push(ServiceInfo::clone(&i.service));
        slices.extend(i.slices.iter().map(|s| EndpointSliceInfo::clone(s)));
    }
    ruleset(cfg, &services, &slices)
}

fn claims_of(cfg: &Config, i: &ServiceInputs) -> ServiceClaims {
    let slices: Vec<&EndpointSliceInfo> = i.slices.iter().map(|s| &**s).collect();
    service_claims(cfg, &i.service, &slices)
}

/// Claimants of one destination, sorted by Service (nearly always one:
/// a vector, since a B-tree allocates room for eleven).
type Claimants<T> = Vec<(ServiceKey, T)>;

fn claim<T>(by: &mut Claimants<T>, svc: &ServiceKey, value: T) {
    match by.binary_search_by(|(k, _)| k.cmp(svc)) {
        Ok(i) => by[i].1 = value,
        Err(i) => by.insert(i, (svc.clone(), value)),
    }
}

/// Removes `svc`'s claim; whether none is left.
fn unclaim<T>(by: &mut Claimants<T>, svc: &ServiceKey) -> bool {
    by.retain(|(k, _)| k != svc);
    by.is_empty()
}

/// Who claims which map element and ClusterIP.
#[derive(Default)]
struct Claims {
    elements: HashMap<(String, ElemKey), Claimants<Element>>,
    cluster_ips: HashMap<Ipv4Addr, Claimants<()>>,
}

impl Claims {
    fn insert(&mut self, svc: &ServiceKey, c: ServiceClaims) {
        for (map, key, elem) in c.elements {
            claim(self.elements.entry((map, key)).or_default(), svc, elem);
        }
        if let Some(ip) = c.cluster_ip {
            claim(self.cluster_ips.entry(ip).or_default(), svc, ());
        }
    }

    fn remove(&mut self, svc: &ServiceKey, c: &ServiceClaims) {
        for (map, key, _) in &c.elements {
            let k = (map.clone(), *key);
            if self.elements.get_mut(&k).is_some_and(|by| unclaim(by, svc)) {
                self.elements.remove(&k);
            }
        }
        if let Some(ip) = c.cluster_ip {
            if self
                .cluster_ips
                .get_mut(&ip)
                .is_some_and(|by| unclaim(by, svc))
            {
                self.cluster_ips.remove(&ip);
            }
        }
    }

    /// The element the table holds for `key`: the first claimant's.
    fn winner(&self, key: &(String, ElemKey)) -> Option<Element> {
        self.elements
            .get(key)
            .and_then(|by| by.first())
            .map(|(_, e)| e.clone())
    }

    /// Replaces the claims of the changed Services and returns the element
    /// commands that move the table from the old winners to the new ones
    /// (all deletions first, as `diff` orders them), plus the change in
    /// element count.
    fn replace(
        &mut self,
        old: &[(ServiceKey, ServiceClaims)],
        new: Vec<(ServiceKey, ServiceClaims)>,
    ) -> (Vec<Op>, i64) {
        let mut keys: BTreeSet<(String, ElemKey)> = BTreeSet::new();
        let mut ips: BTreeSet<Ipv4Addr> = BTreeSet::new();
        for (_, c) in old.iter().chain(&new) {
            keys.extend(c.elements.iter().map(|(m, k, _)| (m.clone(), *k)));
            ips.extend(c.cluster_ip);
        }
        let before: Vec<Option<Element>> = keys.iter().map(|k| self.winner(k)).collect();
        let ips_before: Vec<bool> = ips
            .iter()
            .map(|ip| self.cluster_ips.contains_key(ip))
            .collect();
        for (svc, c) in old {
            self.remove(svc, c);
        }
        for (svc, c) in new {
            self.insert(&svc, c);
        }

        let mut deletes: BTreeMap<String, Vec<ElemKey>> = BTreeMap::new();
        let mut adds: BTreeMap<String, Vec<(ElemKey, Element)>> = BTreeMap::new();
        let mut delta = 0;
        for (k, was) in keys.iter().zip(before) {
            let now = self.winner(k);
            if was == now {
                continue;
            }
            if was.is_some() {
                deletes.entry(k.0.clone()).or_default().push(k.1);
                delta -= 1;
            }
            if let Some(e) = now {
                adds.entry(k.0.clone()).or_default().push((k.1, e));
                delta += 1;
            }
        }
        let mut gone_ips = Vec::new();
        let mut new_ips = Vec::new();
        for (ip, was) in ips.iter().zip(ips_before) {
            match (was, self.cluster_ips.contains_key(ip)) {
                (true, false) => gone_ips.push(*ip),
                (false, true) => new_ips.push(*ip),
                _ => {}
            }
        }
        delta += new_ips.len() as i64 - gone_ips.len() as i64;

        let mut ops: Vec<Op> = deletes
            .into_iter()
            .map(|(map, keys)| Op::DeleteMapElements { map, keys })
            .collect();
        if !gone_ips.is_empty() {
            ops.push(Op::DeleteSetElements {
                set: CLUSTER_IPS.into(),
                ips: gone_ips,
            });
        }
        ops.extend(
            adds.into_iter()
                .map(|(map, elems)| Op::AddMapElements { map, elems }),
        );
        if !new_ips.is_empty() {
            ops.push(Op::AddSetElements {
                set: CLUSTER_IPS.into(),
                ips: new_ips,
            });
        }
        (ops, delta)
    }
}

/// Leaves only chains and sets: elements are the claims index's business.
fn without_elements(mut rs: Ruleset) -> Ruleset {
    for m in &mut rs.maps {
        m.elements.clear();
    }
    for s in &mut rs.sets {
        if let SetKind::Static(e) = &mut s.kind {
            if s.name == CLUSTER_IPS {
                e.clear();
            }
        }
    }
    rs
}

/// One incremental step.
#[derive(Debug)]
pub struct Step {
    pub tx: Transaction,
    /// The changed Services' part of the table before and after (their
    /// chains and summaries; no map elements), e.g. for conntrack clean-up.
    pub old: Ruleset,
    pub new: Ruleset,
    /// Services whose inputs really changed.
    pub changed: usize,
}

/// What the table holds, Service by Service.
#[derive(Default)]
pub struct Programmed {
    services: BTreeMap<ServiceKey, ServiceInputs>,
    claims: Claims,
    counts: Counts,
}

impl Programmed {
    /// The state of a table loaded completely from `services`, and that table.
    pub fn load(
        cfg: &Config,
        services: BTreeMap<ServiceKey, ServiceInputs>,
    ) -> (Programmed, Ruleset) {
        let rs = build(cfg, services.values());
        let mut claims = Claims::default();
        for (key, i) in &services {
            claims.insert(key, claims_of(cfg, i));
        }
        let counts = Counts::of(&rs);
        (
            Programmed {
                services,
                claims,
                counts,
            },
            rs,
        )
    }

    pub fn services(&self) -> &BTreeMap<ServiceKey, ServiceInputs> {
        &self.services
    }

    pub fn into_services(self) -> BTreeMap<ServiceKey, ServiceInputs> {
        self.services
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Records `changes` (`None`: the Service is gone) without computing
    /// anything, for a full load that follows.
    pub fn merge(&mut self, changes: BTreeMap<ServiceKey, Option<ServiceInputs>>) {
        for (key, new) in changes {
            match new {
                Some(n) => self.services.insert(key, n),
                None => self.services.remove(&key),
            };
        }
    }

    /// Takes `changes` in and returns the transaction that applies them to
    /// a kernel holding the table of the previous state.
    pub fn update(
        &mut self,
        cfg: &Config,
        changes: BTreeMap<ServiceKey, Option<ServiceInputs>>,
    ) -> Step {
        let mut before: Vec<ServiceInputs> = Vec::new();
        let mut after: Vec<ServiceInputs> = Vec::new();
        let mut old_claims = Vec::new();
        let mut new_claims = Vec::new();
        for (key, new) in changes {
            let old = match &new {
                Some(n) => self.services.insert(key.clone(), n.clone()),
                None => self.services.remove(&key),
            };
            if old == new {
                continue;
            }
            if let Some(o) = old {
                old_claims.push((key.clone(), claims_of(cfg, &o)));
                before.push(o);
            }
            if let Some(n) = new {
                new_claims.push((key, claims_of(cfg, &n)));
                after.push(n);
            }
        }
        let changed = before.len().max(after.len());
        let old = build(cfg, before.iter());
        let new = build(cfg, after.iter());
        // Elements are counted from the claims below: a sub-table's own
        // winners may not be the table's.
        let mut delta = Counts::of(&new);
        delta.add(Counts::of(&old), -1);
        delta.elements = 0;
        self.counts.add(delta, 1);
        let old = without_elements(old);
        let new = without_elements(new);

        let mut tx = diff(&old, &new);
        let (element_ops, delta) = self.claims.replace(&old_claims, new_claims);
        self.counts.elements += delta;
        // Elements go after the chains they point to exist and before
        // the chains and sets that went away are deleted.
        let trailing_deletes = tx
            .ops
            .iter()
            .rev()
            .take_while(|op| matches!(op, Op::DeleteChain(_) | Op::DeleteSet(_)))
            .count();
        let at = tx.ops.len() - trailing_deletes;
        tx.ops.splice(at..at, element_ops);
        Step {
            tx,
            old,
            new,
            changed,
        }
    }

    /// The whole table (costly at scale: for drift checks and tests).
    pub fn ruleset(&self, cfg: &Config) -> Ruleset {
        build(cfg, self.services.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointInfo, Protocol, ServicePortInfo, SlicePort};
    use crate::sim::{Kernel, Table};
    use std::sync::Arc;

    fn cfg() -> Config {
        Config {
            node_name: "node".into(),
            node_ips: vec![Ipv4Addr::new(192, 168, 56, 10)],
            ..Config::default()
        }
    }

    fn svc(ns: &str, name: &str, ip: u8, endpoints: &[u8]) -> ServiceInputs {
        let mut s = ServiceInfo::new(ns, name, Ipv4Addr::new(10, 96, 0, ip));
        s.ports.push(ServicePortInfo {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port: 80,
            node_port: None,
        });
        ServiceInputs {
            service: Arc::new(s),
            slices: vec![Arc::new(EndpointSliceInfo {
                namespace: ns.into(),
                service_name: name.into(),
                ports: vec![SlicePort {
                    name: "http".into(),
                    protocol: Protocol::Tcp,
                    port: 8080,
                }],
                endpoints: endpoints
                    .iter()
                    .map(|l| EndpointInfo::ready(Ipv4Addr::new(10, 244, 0, *l)))
                    .collect(),
            })],
        }
    }

    fn keyed(list: &[ServiceInputs]) -> BTreeMap<ServiceKey, ServiceInputs> {
        list.iter().map(|i| (i.key(), i.clone())).collect()
    }

    /// Applies each state in turn incrementally and checks, every time,
    /// that the kernel model ends up with exactly the full rebuild and
    /// that the counts match it.
    fn walk(states: &[Vec<ServiceInputs>]) {
        let c = cfg();
        let (mut p, rs) = Programmed::load(&c, keyed(&states[0]));
        let mut kernel = Kernel::with(&rs);
        for (i, state) in states.iter().enumerate().skip(1) {
            let want = keyed(state);
            let mut changes: BTreeMap<ServiceKey, Option<ServiceInputs>> = BTreeMap::new();
            for k in p.services().keys().chain(want.keys()) {
                changes.insert(k.clone(), want.get(k).cloned());
            }
            let step = p.update(&c, changes);
            if let Err(e) = kernel.apply(&step.tx) {
                panic!("step {i}: {e}\n{}", step.tx.to_nft());
            }
            let full = ruleset_of(&c, state);
            assert!(
                kernel.table == Some(Table::of(&full)),
                "step {i}: kernel differs from a full rebuild\n{}",
                step.tx.to_nft()
            );
            assert_eq!(p.counts(), Counts::of(&full), "step {i}: counts");
            assert_eq!(p.ruleset(&c), full, "step {i}: ruleset");
        }
    }

    fn ruleset_of(c: &Config, state: &[ServiceInputs]) -> Ruleset {
        build(c, keyed(state).values())
    }

    #[test]
    fn incremental_steps_equal_full_rebuilds() {
        let a = svc("default", "a", 1, &[1, 2]);
        let b = svc("default", "b", 2, &[3]);
        let mut b_more = b.clone();
        Arc::make_mut(&mut b_more.slices[0])
            .endpoints
            .push(EndpointInfo::ready(Ipv4Addr::new(10, 244, 0, 4)));
        let mut b_affinity = b_more.clone();
        Arc::make_mut(&mut b_affinity.service).affinity_timeout = Some(60);
        let mut b_affinity_longer = b_affinity.clone();
        Arc::make_mut(&mut b_affinity_longer.service).affinity_timeout = Some(120);
        let mut b_no_endpoints = b.clone();
        b_no_endpoints.slices.clear();
        walk(&[
            vec![],
            vec![a.clone()],
            vec![a.clone(), b.clone()],
            vec![a.clone(), b_more.clone()],
            vec![a.clone(), b_affinity],
            vec![a.clone(), b_affinity_longer],
            vec![a.clone(), b_no_endpoints],
            vec![b_more],
            vec![],
        ]);
    }

    #[test]
    fn no_local_endpoint_counts_follow_incremental_steps() {
        let remote = |i: &ServiceInputs| {
            let mut i = i.clone();
            for e in &mut Arc::make_mut(&mut i.slices[0]).endpoints {
                e.local = false;
            }
            i
        };
        let mut internal = svc("default", "int", 1, &[1]);
        Arc::make_mut(&mut internal.service).internal_policy_local = true;
        let mut external = svc("default", "ext", 2, &[2]);
        {
            let s = Arc::make_mut(&mut external.service);
            s.external_policy_local = true;
            s.ports[0].node_port = Some(30080);
        }
        // Both policies Local, endpoints elsewhere: counted under each.
        let mut both = remote(&external);
        Arc::make_mut(&mut both.service).internal_policy_local = true;
        // `walk` checks each step's counts against a full rebuild's.
        walk(&[
            vec![internal.clone(), external.clone()],
            vec![remote(&internal), external.clone()],
            vec![remote(&internal), remote(&external)],
            vec![remote(&internal), both.clone()],
            vec![internal.clone(), both.clone()],
            vec![internal.clone()],
            vec![],
        ]);
        let c = cfg();
        let (mut p, _) = Programmed::load(&c, BTreeMap::new());
        let changes = [remote(&internal), both]
            .into_iter()
            .map(|i| (i.key(), Some(i)))
            .collect();
        p.update(&c, changes);
        let counts = p.counts();
        assert_eq!((counts.no_local_internal, counts.no_local_external), (2, 1));
    }

    #[test]
    fn a_clash_hands_the_destination_to_the_next_claimant() {
        // z claims a's ClusterIP:port as an external IP; a wins while it exists.
        let a = svc("a", "web", 1, &[1]);
        let mut z = svc("z", "web", 9, &[2]);
        Arc::make_mut(&mut z.service).external_ips = vec![Ipv4Addr::new(10, 96, 0, 1)];
        walk(&[
            vec![a.clone(), z.clone()],
            vec![z.clone()],
            vec![a.clone(), z.clone()],
            vec![a],
        ]);
    }

    #[test]
    fn unchanged_inputs_give_an_empty_transaction() {
        let c = cfg();
        let a = svc("default", "a", 1, &[1]);
        let (mut p, _) = Programmed::load(&c, keyed(std::slice::from_ref(&a)));
        let step = p.update(&c, BTreeMap::from([(a.key(), Some(a))]));
        assert!(step.tx.is_empty());
        assert_eq!(step.changed, 0);
    }

    #[test]
    fn an_endpoint_change_touches_one_service() {
        let c = cfg();
        let many: Vec<ServiceInputs> = (1..=50)
            .map(|i| svc("default", &format!("s{i}"), i, &[i]))
            .collect();
        let (mut p, _) = Programmed::load(&c, keyed(&many));
        let changed = svc("default", "s7", 7, &[7, 99]);
        let step = p.update(&c, BTreeMap::from([(changed.key(), Some(changed))]));
        let chains = step.tx.touched_chains();
        assert!(
            chains.iter().all(|c| c.contains("default/s7/")),
            "{chains:?}"
        );
        assert!(step.tx.touched_element_containers().is_empty());
    }
}
