//! A transaction: an ordered list of nft commands that `nft -f` applies
//! atomically. Built by `Transaction::full` (load a whole table) or by
//! `diff::diff` (the smallest change between two tables).

use std::fmt::Write;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::json;
use crate::nft::{BaseChain, ElemKey, Element, Map, Rule, Ruleset, Set};
use crate::render;

/// One nft command on the proxy's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    AddTable {
        comment: Option<String>,
    },
    DeleteTable,
    AddChain {
        name: String,
        base: Option<BaseChain>,
        comment: Option<String>,
    },
    FlushChain(String),
    DeleteChain(String),
    AddRule {
        chain: String,
        rule: Rule,
    },
    /// Declaration only; elements follow in `AddSetElements`.
    AddSet(Set),
    DeleteSet(String),
    /// Declaration only; elements follow in `AddMapElements`.
    AddMap(Map),
    AddSetElements {
        set: String,
        ips: Vec<Ipv4Addr>,
    },
    DeleteSetElements {
        set: String,
        ips: Vec<Ipv4Addr>,
    },
    AddMapElements {
        map: String,
        elems: Vec<(ElemKey, Element)>,
    },
    DeleteMapElements {
        map: String,
        keys: Vec<ElemKey>,
    },
}

/// Commands for one table, applied all-or-nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    pub table: String,
    pub ops: Vec<Op>,
}

impl Transaction {
    pub fn new(table: &str) -> Transaction {
        Transaction {
            table: table.into(),
            ops: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Replaces whatever table of that name exists by `rs`, in one go.
    pub fn full(rs: &Ruleset) -> Transaction {
        let mut tx = Transaction::new(&rs.table);
        // "add" first so that "delete" cannot fail on a missing table.
        tx.ops.push(Op::AddTable { comment: None });
        tx.ops.push(Op::DeleteTable);
        tx.ops.push(Op::AddTable {
            comment: Some(rs.comment.clone()),
        });
        tx.ops.extend(rs.sets.iter().cloned().map(Op::AddSet));
        tx.ops.extend(rs.maps.iter().cloned().map(Op::AddMap));
        for c in &rs.chains {
            tx.ops.push(Op::AddChain {
                name: c.name.clone(),
                base: c.base,
                comment: c.comment.clone(),
            });
        }
        for c in &rs.chains {
            for r in &c.rules {
                tx.ops.push(Op::AddRule {
                    chain: c.name.clone(),
                    rule: r.clone(),
                });
            }
        }
        for s in &rs.sets {
            if let Some(e) = s.elements().filter(|e| !e.is_empty()) {
                tx.ops.push(Op::AddSetElements {
                    set: s.name.clone(),
                    ips: e.iter().copied().collect(),
                });
            }
        }
        for m in rs.maps.iter().filter(|m| !m.elements.is_empty()) {
            tx.ops.push(Op::AddMapElements {
                map: m.name.clone(),
                elems: m.elements.iter().map(|(k, e)| (*k, e.clone())).collect(),
            });
        }
        tx
    }

    /// Removes the `delete chain` commands and returns their chains. Kernels
    /// before 6.2 release a chain's last map reference asynchronously, so
    /// deleting it in the same transaction can fail with EBUSY; kube-proxy
    /// therefore only flushes stale chains and deletes them a bit later.
    pub fn defer_chain_deletes(&mut self) -> Vec<String> {
        let mut deferred = Vec::new();
        self.ops.retain(|op| match op {
            Op::DeleteChain(c) => {
                deferred.push(c.clone());
                false
            }
            _ => true,
        });
        deferred
    }

    /// `nft -f` input.
    pub fn to_nft(&self) -> String {
        let t = &self.table;
        let mut out = String::new();
        for op in &self.ops {
            match op {
                Op::AddTable { comment: None } => writeln!(out, "add table ip {t}"),
                Op::AddTable { comment: Some(c) } => {
                    writeln!(out, "add table ip {t} {{ comment {}; }}", render::quote(c))
                }
                Op::DeleteTable => writeln!(out, "delete table ip {t}"),
                Op::AddChain {
                    name,
                    base,
                    comment,
                } => {
                    let mut spec = Vec::new();
                    if let Some(b) = base {
                        spec.push(render::base_spec(b));
                    }
                    if let Some(c) = comment {
                        spec.push(format!("comment {};", render::quote(c)));
                    }
                    if spec.is_empty() {
                        writeln!(out, "add chain ip {t} {name}")
                    } else {
                        writeln!(out, "add chain ip {t} {name} {{ {} }}", spec.join(" "))
                    }
                }
                Op::FlushChain(c) => writeln!(out, "flush chain ip {t} {c}"),
                Op::DeleteChain(c) => writeln!(out, "delete chain ip {t} {c}"),
                Op::AddRule { chain, rule } => {
                    writeln!(out, "add rule ip {t} {chain} {}", render::rule(rule))
                }
                Op::AddSet(s) => writeln!(
                    out,
                    "add set ip {t} {} {{ {}; }}",
                    s.name,
                    render::set_props(s).join("; ")
                ),
                Op::DeleteSet(s) => writeln!(out, "delete set ip {t} {s}"),
                Op::AddMap(m) => writeln!(
                    out,
                    "add map ip {t} {} {{ {}; }}",
                    m.name,
                    render::map_props(m).join("; ")
                ),
                Op::AddSetElements { set, ips } | Op::DeleteSetElements { set, ips } => {
                    let verb = if matches!(op, Op::AddSetElements { .. }) {
                        "add"
                    } else {
                        "delete"
                    };
                    let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                    writeln!(out, "{verb} element ip {t} {set} {{ {} }}", list.join(", "))
                }
                Op::AddMapElements { map, elems } => {
                    let list: Vec<String> =
                        elems.iter().map(|(k, e)| render::map_elem(k, e)).collect();
                    writeln!(out, "add element ip {t} {map} {{ {} }}", list.join(", "))
                }
                Op::DeleteMapElements { map, keys } => {
                    let list: Vec<String> = keys.iter().map(render::elem_key).collect();
                    writeln!(out, "delete element ip {t} {map} {{ {} }}", list.join(", "))
                }
            }
            .ok();
        }
        out
    }

    /// `nft -j -f` input: `{"nftables": [commands...]}`.
    pub fn to_json(&self) -> Value {
        let t = self.table.as_str();
        let cmds: Vec<Value> = self
            .ops
            .iter()
            .map(|op| match op {
                Op::AddTable { comment } => json!({"add": json::table(t, comment.as_deref())}),
                Op::DeleteTable => json!({"delete": json::table(t, None)}),
                Op::AddChain {
                    name,
                    base,
                    comment,
                } => {
                    json!({"add": json::chain(t, name, base.as_ref(), comment.as_deref())})
                }
                Op::FlushChain(c) => json!({"flush": json::chain(t, c, None, None)}),
                Op::DeleteChain(c) => json!({"delete": json::chain(t, c, None, None)}),
                Op::AddRule { chain, rule } => json!({"add": json::rule(t, chain, rule)}),
                Op::AddSet(s) => json!({"add": json::set(t, s)}),
                Op::DeleteSet(s) => {
                    json!({"delete": {"set": {"family": "ip", "table": t, "name": s}}})
                }
                Op::AddMap(m) => json!({"add": json::map(t, m)}),
                Op::AddSetElements { set, ips } | Op::DeleteSetElements { set, ips } => {
                    let verb = if matches!(op, Op::AddSetElements { .. }) {
                        "add"
                    } else {
                        "delete"
                    };
                    let elems = ips.iter().map(|i| json!(i.to_string())).collect();
                    json!({ verb: json::element(t, set, elems) })
                }
                Op::AddMapElements { map, elems } => {
                    let elems = elems.iter().map(|(k, e)| json::map_elem(k, e)).collect();
                    json!({"add": json::element(t, map, elems)})
                }
                Op::DeleteMapElements { map, keys } => {
                    let elems = keys.iter().map(json::elem_key).collect();
                    json!({"delete": json::element(t, map, elems)})
                }
            })
            .collect();
        json!({ "nftables": cmds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use crate::nft::{ChainType, Hook, MapType, SetKind, Stmt, Verdict};
    use std::collections::BTreeMap;

    fn tx(ops: Vec<Op>) -> Transaction {
        Transaction {
            table: "k1s".into(),
            ops,
        }
    }

    #[test]
    fn commands_as_nft_text() {
        let key = ElemKey::AddrProtoPort(Ipv4Addr::new(10, 96, 0, 1), Protocol::Udp, 53);
        let elem = Element {
            verdict: Verdict::Goto("svc".into()),
            comment: Some("kube-system/kube-dns:dns ClusterIP".into()),
        };
        let cases: Vec<(Op, &str)> = vec![
            (Op::AddTable { comment: None }, "add table ip k1s"),
            (Op::AddTable { comment: Some("c".into()) }, "add table ip k1s { comment \"c\"; }"),
            (Op::DeleteTable, "delete table ip k1s"),
            (Op::AddChain { name: "x/y".into(), base: None, comment: None }, "add chain ip k1s x/y"),
            (
                Op::AddChain {
                    name: "nat-output".into(),
                    base: Some(BaseChain { kind: ChainType::Nat, hook: Hook::Output, priority: -100 }),
                    comment: Some("c".into()),
                },
                "add chain ip k1s nat-output { type nat hook output priority -100; policy accept; comment \"c\"; }",
            ),
            (Op::FlushChain("x".into()), "flush chain ip k1s x"),
            (Op::DeleteChain("x".into()), "delete chain ip k1s x"),
            (Op::AddRule { chain: "x".into(), rule: Rule::new(vec![], Stmt::Verdict(Verdict::Drop)) }, "add rule ip k1s x drop"),
            (
                Op::AddSet(Set { name: "a".into(), comment: None, kind: SetKind::Dynamic { timeout: 10800 } }),
                "add set ip k1s a { type ipv4_addr; flags dynamic,timeout; timeout 10800s; }",
            ),
            (Op::DeleteSet("a".into()), "delete set ip k1s a"),
            (
                Op::AddMap(Map { name: "m".into(), comment: Some("c".into()), kind: MapType::ProtoPort, elements: BTreeMap::new() }),
                "add map ip k1s m { type inet_proto . inet_service : verdict; comment \"c\"; }",
            ),
            (
                Op::AddSetElements { set: "s".into(), ips: vec![Ipv4Addr::new(10, 96, 0, 1), Ipv4Addr::new(10, 96, 0, 2)] },
                "add element ip k1s s { 10.96.0.1, 10.96.0.2 }",
            ),
            (Op::DeleteSetElements { set: "s".into(), ips: vec![Ipv4Addr::new(10, 96, 0, 1)] }, "delete element ip k1s s { 10.96.0.1 }"),
            (
                Op::AddMapElements { map: "m".into(), elems: vec![(key, elem)] },
                "add element ip k1s m { 10.96.0.1 . udp . 53 comment \"kube-system/kube-dns:dns ClusterIP\" : goto svc }",
            ),
            (
                Op::DeleteMapElements { map: "m".into(), keys: vec![key, ElemKey::ProtoPort(Protocol::Sctp, 30868)] },
                "delete element ip k1s m { 10.96.0.1 . udp . 53, sctp . 30868 }",
            ),
        ];
        for (op, want) in cases {
            assert_eq!(tx(vec![op]).to_nft(), format!("{want}\n"));
        }
    }

    #[test]
    fn commands_as_nft_json() {
        let key = ElemKey::ProtoPort(Protocol::Tcp, 30080);
        let elem = Element {
            verdict: Verdict::Goto("ext".into()),
            comment: Some("default/web NodePort".into()),
        };
        let t = tx(vec![
            Op::FlushChain("x".into()),
            Op::AddMapElements {
                map: "service-nodeports".into(),
                elems: vec![(key, elem)],
            },
            Op::DeleteMapElements {
                map: "service-nodeports".into(),
                keys: vec![key],
            },
        ]);
        assert_eq!(
            t.to_json(),
            json!({"nftables": [
                {"flush": {"chain": {"family": "ip", "table": "k1s", "name": "x"}}},
                {"add": {"element": {"family": "ip", "table": "k1s", "name": "service-nodeports", "elem": [
                    [{"elem": {"val": {"concat": ["tcp", 30080]}, "comment": "default/web NodePort"}},
                     {"goto": {"target": "ext"}}]
                ]}}},
                {"delete": {"element": {"family": "ip", "table": "k1s", "name": "service-nodeports",
                    "elem": [{"concat": ["tcp", 30080]}]}}}
            ]})
        );
    }

    #[test]
    fn deferring_keeps_everything_but_chain_deletes() {
        let mut t = tx(vec![
            Op::FlushChain("a".into()),
            Op::DeleteChain("a".into()),
            Op::DeleteSet("s".into()),
            Op::DeleteChain("b".into()),
        ]);
        assert_eq!(t.defer_chain_deletes(), ["a", "b"]);
        assert_eq!(
            t.ops,
            [Op::FlushChain("a".into()), Op::DeleteSet("s".into())]
        );
    }
}
