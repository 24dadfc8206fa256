//! A small model of how the kernel applies a transaction to the table,
//! with the reference checks nft enforces (no jump to a missing chain, no
//! deleting a chain or set that something still refers to, no duplicate
//! map keys). Tests use it to prove that a diff, applied to the old table,
//! yields exactly the new one and never trips over ordering.

use std::collections::BTreeMap;

use crate::nft::{Chain, Map, Ruleset, Set, SetKind};
use crate::tx::{Op, Transaction};

/// A table as the kernel would hold it; `None` when it does not exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kernel {
    pub table: Option<Table>,
}

/// Order-free view of a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub comment: Option<String>,
    pub chains: BTreeMap<String, Chain>,
    pub sets: BTreeMap<String, Set>,
    pub maps: BTreeMap<String, Map>,
}

impl Table {
    /// What the kernel holds after loading `rs` completely.
    pub fn of(rs: &Ruleset) -> Table {
        Table {
            comment: Some(rs.comment.clone()),
            chains: rs
                .chains
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            sets: rs
                .sets
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
            maps: rs
                .maps
                .iter()
                .map(|m| (m.name.clone(), m.clone()))
                .collect(),
        }
    }

    fn chain_referenced(&self, name: &str) -> Option<String> {
        for c in self.chains.values() {
            if c.rules.iter().any(|r| r.targets().contains(&name)) {
                return Some(format!("rule in {}", c.name));
            }
        }
        for m in self.maps.values() {
            if m.elements
                .values()
                .any(|e| e.verdict.target() == Some(name))
            {
                return Some(format!("element of {}", m.name));
            }
        }
        None
    }

    fn set_referenced(&self, name: &str) -> Option<String> {
        self.chains
            .values()
            .find(|c| c.rules.iter().any(|r| r.set_refs().contains(&name)))
            .map(|c| format!("rule in {}", c.name))
    }

    fn has_object(&self, name: &str) -> bool {
        self.sets.contains_key(name) || self.maps.contains_key(name)
    }
}

impl Kernel {
    pub fn with(rs: &Ruleset) -> Kernel {
        Kernel {
            table: Some(Table::of(rs)),
        }
    }

    /// Applies `tx` all-or-nothing; on error the kernel is unchanged.
    pub fn apply(&mut self, tx: &Transaction) -> Result<(), String> {
        let mut next = self.clone();
        for (i, op) in tx.ops.iter().enumerate() {
            next.op(op)
                .map_err(|e| format!("command {} ({op:?}): {e}", i + 1))?;
        }
        *self = next;
        Ok(())
    }

    fn op(&mut self, op: &Op) -> Result<(), String> {
        if let Op::AddTable { comment } = op {
            let t = self.table.get_or_insert_with(Table::default);
            if comment.is_some() {
                t.comment = comment.clone();
            }
            return Ok(());
        }
        if let Op::DeleteTable = op {
            return match self.table.take() {
                Some(_) => Ok(()),
                None => Err("no such table".into()),
            };
        }
        let t = self.table.as_mut().ok_or("no such table")?;
        match op {
            Op::AddTable { .. } | Op::DeleteTable => {}
            Op::AddChain {
                name,
                base,
                comment,
            } => match t.chains.get(name) {
                Some(c) if c.base != *base => return Err("chain exists with other hook".into()),
                Some(_) => {}
                None => {
                    t.chains.insert(
                        name.clone(),
                        Chain {
                            base: *base,
                            comment: comment.clone(),
                            ..Chain::regular(name.as_str())
                        },
                    );
                }
            },
            Op::FlushChain(name) => t.chains.get_mut(name).ok_or("no such chain")?.rules.clear(),
            Op::DeleteChain(name) => {
                if !t.chains.contains_key(name) {
                    return Err("no such chain".into());
                }
                // Deleting a chain drops its own rules, not references to it.
                let mut without = t.clone();
                without.chains.remove(name);
                if let Some(by) = without.chain_referenced(name) {
                    return Err(format!("chain in use by {by}"));
                }
                *t = without;
            }
            Op::AddRule { chain, rule } => {
                for target in rule.targets() {
                    if !t.chains.contains_key(target) {
                        return Err(format!("no such chain {target}"));
                    }
                }
                for set in rule.set_refs() {
                    if !t.has_object(set) {
                        return Err(format!("no such set {set}"));
                    }
                }
                t.chains
                    .get_mut(chain)
                    .ok_or("no such chain")?
                    .rules
                    .push(rule.clone());
            }
            Op::AddSet(s) => match t.sets.get(&s.name) {
                Some(old) if !old.same_declaration(s) => {
                    return Err("set exists with other flags".into())
                }
                Some(_) => {}
                None => {
                    let mut s = s.clone();
                    if let SetKind::Static(e) = &mut s.kind {
                        e.clear();
                    }
                    t.sets.insert(s.name.clone(), s);
                }
            },
            Op::DeleteSet(name) => {
                if let Some(by) = t.set_referenced(name) {
                    return Err(format!("set in use by {by}"));
                }
                t.sets.remove(name).ok_or("no such set")?;
            }
            Op::AddMap(m) => match t.maps.get(&m.name) {
                Some(old) if !old.same_declaration(m) => {
                    return Err("map exists with other type".into())
                }
                Some(_) => {}
                None => {
                    t.maps.insert(
                        m.name.clone(),
                        Map {
                            elements: BTreeMap::new(),
                            ..m.clone()
                        },
                    );
                }
            },
            Op::AddSetElements { set, ips } => {
                let s = t.sets.get_mut(set).ok_or("no such set")?;
                let SetKind::Static(e) = &mut s.kind else {
                    return Err("dynamic set".into());
                };
                e.extend(ips.iter().copied());
            }
            Op::DeleteSetElements { set, ips } => {
                let s = t.sets.get_mut(set).ok_or("no such set")?;
                let SetKind::Static(e) = &mut s.kind else {
                    return Err("dynamic set".into());
                };
                for ip in ips {
                    if !e.remove(ip) {
                        return Err(format!("no element {ip}"));
                    }
                }
            }
            Op::AddMapElements { map, elems } => {
                for (_, e) in elems {
                    if let Some(target) = e.verdict.target() {
                        if !t.chains.contains_key(target) {
                            return Err(format!("no such chain {target}"));
                        }
                    }
                }
                let m = t.maps.get_mut(map).ok_or("no such map")?;
                for (k, e) in elems {
                    match m.elements.get(k) {
                        Some(old) if old.verdict != e.verdict => {
                            return Err(format!("element {k:?} exists"))
                        }
                        _ => {
                            m.elements.insert(*k, e.clone());
                        }
                    }
                }
            }
            Op::DeleteMapElements { map, keys } => {
                let m = t.maps.get_mut(map).ok_or("no such map")?;
                for k in keys {
                    m.elements
                        .remove(k)
                        .ok_or_else(|| format!("no element {k:?}"))?;
                }
            }
        }
        Ok(())
    }
}
