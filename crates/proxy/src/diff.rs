//! The smallest transaction that turns table `old` into table `new`:
//! only chains whose rules changed are flushed and refilled, only map and
//! set elements that changed are deleted or added, and everything that went
//! away is unhooked before it is deleted.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::nft::{Chain, Ruleset, Set, SetKind};
use crate::tx::{Op, Transaction};

/// Whether the fixed skeleton (table, base chains, maps, static sets) is
/// the same, so that an incremental diff is possible.
fn same_skeleton(old: &Ruleset, new: &Ruleset) -> bool {
    let bases = |rs: &Ruleset| -> Vec<Chain> {
        rs.chains
            .iter()
            .filter(|c| c.base.is_some())
            .map(|c| Chain {
                rules: Vec::new(),
                ..c.clone()
            })
            .collect()
    };
    let static_sets = |rs: &Ruleset| -> Vec<(String, Option<String>)> {
        rs.sets
            .iter()
            .filter(|s| matches!(s.kind, SetKind::Static(_)))
            .map(|s| (s.name.clone(), s.comment.clone()))
            .collect()
    };
    old.table == new.table
        && old.comment == new.comment
        && bases(old) == bases(new)
        && static_sets(old) == static_sets(new)
        && old.maps.len() == new.maps.len()
        && old
            .maps
            .iter()
            .zip(&new.maps)
            .all(|(a, b)| a.same_declaration(b))
}

/// Computes the transaction from `old` (what the kernel holds) to `new`.
/// Falls back to a full reload when the skeleton itself differs.
pub fn diff(old: &Ruleset, new: &Ruleset) -> Transaction {
    if !same_skeleton(old, new) {
        return Transaction::full(new);
    }
    let mut tx = Transaction::new(&new.table);

    let old_chains: HashMap<&str, &Chain> =
        old.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    let new_chains: HashMap<&str, &Chain> =
        new.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    let old_sets: HashMap<&str, &Set> = old.sets.iter().map(|s| (s.name.as_str(), s)).collect();
    let new_sets: HashMap<&str, &Set> = new.sets.iter().map(|s| (s.name.as_str(), s)).collect();

    let added_sets: Vec<&Set> = new
        .sets
        .iter()
        .filter(|s| !old_sets.contains_key(s.name.as_str()))
        .collect();
    let removed_sets: Vec<&Set> = old
        .sets
        .iter()
        .filter(|s| !new_sets.contains_key(s.name.as_str()))
        .collect();
    // A dynamic set whose timeout changed must be recreated, which needs
    // every rule referring to it out of the way first.
    let replaced_sets: HashSet<&str> = new
        .sets
        .iter()
        .filter(|s| {
            old_sets
                .get(s.name.as_str())
                .is_some_and(|o| !o.same_declaration(s))
        })
        .map(|s| s.name.as_str())
        .collect();

    let added: Vec<&Chain> = new
        .chains
        .iter()
        .filter(|c| !old_chains.contains_key(c.name.as_str()))
        .collect();
    let removed: Vec<&Chain> = old
        .chains
        .iter()
        .filter(|c| !new_chains.contains_key(c.name.as_str()))
        .collect();
    let changed: Vec<&Chain> = new
        .chains
        .iter()
        .filter(|c| {
            old_chains.get(c.name.as_str()).is_some_and(|o| {
                o.rules != c.rules
                    || c.rules
                        .iter()
                        .any(|r| r.set_refs().iter().any(|s| replaced_sets.contains(s)))
            })
        })
        .collect();

    // 1. Declare what is new, so rules and elements below can refer to it.
    tx.ops
        .extend(added_sets.iter().map(|s| Op::AddSet((*s).clone())));
    for c in &added {
        tx.ops.push(Op::AddChain {
            name: c.name.clone(),
            base: c.base,
            comment: c.comment.clone(),
        });
    }
    // 2. Empty changed and departing chains.
    for c in changed.iter().chain(removed.iter()) {
        tx.ops.push(Op::FlushChain(c.name.clone()));
    }
    // 3. Recreate sets whose declaration changed (now unreferenced).
    for s in new
        .sets
        .iter()
        .filter(|s| replaced_sets.contains(s.name.as_str()))
    {
        tx.ops.push(Op::DeleteSet(s.name.clone()));
        tx.ops.push(Op::AddSet(s.clone()));
    }
    // 4. Fill new and changed chains, in table order.
    for c in new.chains.iter().filter(|c| {
        !old_chains.contains_key(c.name.as_str()) || changed.iter().any(|x| x.name == c.name)
    }) {
        for r in &c.rules {
            tx.ops.push(Op::AddRule {
                chain: c.name.clone(),
                rule: r.clone(),
            });
        }
    }
    // 5. Elements: deletions (incl. changed values) before additions.
    element_ops(old, new, &mut tx);
    // 6. Delete what is gone: nothing refers to it any more.
    tx.ops
        .extend(removed.iter().map(|c| Op::DeleteChain(c.name.clone())));
    tx.ops
        .extend(removed_sets.iter().map(|s| Op::DeleteSet(s.name.clone())));
    tx
}

fn element_ops(old: &Ruleset, new: &Ruleset, tx: &mut Transaction) {
    let mut deletes = Vec::new();
    let mut adds = Vec::new();
    for (o, n) in old.maps.iter().zip(&new.maps) {
        let gone: Vec<_> = o
            .elements
            .iter()
            .filter(|(k, e)| n.elements.get(*k) != Some(*e))
            .map(|(k, _)| *k)
            .collect();
        let fresh: Vec<_> = n
            .elements
            .iter()
            .filter(|(k, e)| o.elements.get(*k) != Some(*e))
            .map(|(k, e)| (*k, e.clone()))
            .collect();
        if !gone.is_empty() {
            deletes.push(Op::DeleteMapElements {
                map: n.name.clone(),
                keys: gone,
            });
        }
        if !fresh.is_empty() {
            adds.push(Op::AddMapElements {
                map: n.name.clone(),
                elems: fresh,
            });
        }
    }
    let empty = BTreeSet::new();
    for n in new
        .sets
        .iter()
        .filter(|s| matches!(s.kind, SetKind::Static(_)))
    {
        let new_e = n.elements().unwrap_or(&empty);
        let old_e = old.set(&n.name).and_then(Set::elements).unwrap_or(&empty);
        let gone: Vec<_> = old_e.difference(new_e).copied().collect();
        let fresh: Vec<_> = new_e.difference(old_e).copied().collect();
        if !gone.is_empty() {
            deletes.push(Op::DeleteSetElements {
                set: n.name.clone(),
                ips: gone,
            });
        }
        if !fresh.is_empty() {
            adds.push(Op::AddSetElements {
                set: n.name.clone(),
                ips: fresh,
            });
        }
    }
    tx.ops.extend(deletes);
    tx.ops.extend(adds);
}

impl Transaction {
    /// Chains this transaction creates, flushes, fills or deletes.
    pub fn touched_chains(&self) -> BTreeSet<String> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::AddChain { name, .. } | Op::FlushChain(name) | Op::DeleteChain(name) => {
                    Some(name.clone())
                }
                Op::AddRule { chain, .. } => Some(chain.clone()),
                _ => None,
            })
            .collect()
    }

    /// Sets and maps whose elements this transaction changes.
    pub fn touched_element_containers(&self) -> BTreeSet<String> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::AddSetElements { set, .. } | Op::DeleteSetElements { set, .. } => {
                    Some(set.clone())
                }
                Op::AddMapElements { map, .. } | Op::DeleteMapElements { map, .. } => {
                    Some(map.clone())
                }
                _ => None,
            })
            .collect()
    }
}
