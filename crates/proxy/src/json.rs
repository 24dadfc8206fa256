//! The model in nft's JSON syntax (libnftables-json(5)), for `nft -j -f`.
//! Hand-built with serde_json: the `nftables` crate (0.6) has no verdict
//! maps (`"map": "verdict"`) nor table/chain comments, which this table
//! needs.

use serde_json::{json, Map as JsonMap, Value};

use crate::nft::{
    Addr, BaseChain, Cmp, ElemKey, Element, Map, MapType, Match, Rule, Set, SetKind, Stmt, Verdict,
    VmapKey,
};

fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

fn net(n: &ipnet::Ipv4Net) -> Value {
    if n.prefix_len() == 32 {
        json!(n.addr().to_string())
    } else {
        json!({"prefix": {"addr": n.addr().to_string(), "len": n.prefix_len()}})
    }
}

fn addr(a: &Addr) -> Value {
    match a {
        Addr::Ip(ip) => json!(ip.to_string()),
        Addr::Net(n) => net(n),
        Addr::Set(s) => json!(format!("@{s}")),
        Addr::Nets(ns) => json!({"set": ns.iter().map(net).collect::<Vec<_>>()}),
    }
}

fn matches(op: &str, left: Value, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

fn op(c: Cmp) -> &'static str {
    match c {
        Cmp::Eq => "==",
        Cmp::Ne => "!=",
    }
}

fn match_json(m: &Match) -> Value {
    match m {
        Match::CtStateNew => matches("in", json!({"ct": {"key": "state"}}), json!("new")),
        Match::Daddr(c, a) => matches(op(*c), payload("ip", "daddr"), addr(a)),
        Match::Saddr(c, a) => matches(op(*c), payload("ip", "saddr"), addr(a)),
        Match::L4proto(p) => matches("==", meta("l4proto"), json!(p.as_str())),
        Match::Dport(p, port) => matches("==", payload(p.as_str(), "dport"), json!(port)),
        Match::FibSaddrLocal => matches(
            "==",
            json!({"fib": {"result": "type", "flags": ["saddr"]}}),
            json!("local"),
        ),
        Match::MarkClear(m) => matches("==", json!({"&": [meta("mark"), m]}), json!(0)),
    }
}

/// A verdict statement or map value.
pub fn verdict(v: &Verdict) -> Value {
    match v {
        Verdict::Accept => json!({"accept": null}),
        Verdict::Drop => json!({"drop": null}),
        Verdict::Return => json!({"return": null}),
        Verdict::Jump(c) => json!({"jump": {"target": c}}),
        Verdict::Goto(c) => json!({"goto": {"target": c}}),
    }
}

fn stmt_json(s: &Stmt) -> Value {
    match s {
        Stmt::Verdict(v) => verdict(v),
        Stmt::Reject => json!({"reject": null}),
        Stmt::RejectTcpReset => json!({"reject": {"type": "tcp reset"}}),
        Stmt::Vmap { key, map } => {
            let key = match key {
                VmapKey::DaddrProtoPort => {
                    json!({"concat": [payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")]})
                }
                VmapKey::ProtoPort => json!({"concat": [meta("l4proto"), payload("th", "dport")]}),
            };
            json!({"vmap": {"key": key, "data": format!("@{map}")}})
        }
        Stmt::NumgenVmap(targets) => {
            let elems: Vec<Value> = targets
                .iter()
                .enumerate()
                .map(|(i, t)| json!([i, {"goto": {"target": t}}]))
                .collect();
            json!({"vmap": {
                "key": {"numgen": {"mode": "random", "mod": targets.len(), "offset": 0}},
                "data": {"set": elems}
            }})
        }
        Stmt::MarkOr(m) => {
            json!({"mangle": {"key": meta("mark"), "value": {"|": [meta("mark"), m]}}})
        }
        Stmt::MarkXor(m) => {
            json!({"mangle": {"key": meta("mark"), "value": {"^": [meta("mark"), m]}}})
        }
        Stmt::Masquerade => json!({"masquerade": {"flags": "fully-random"}}),
        Stmt::Dnat(a) => json!({"dnat": {"addr": a.ip().to_string(), "port": a.port()}}),
        Stmt::UpdateSaddr(set) => json!({"set": {
            "op": "update", "elem": payload("ip", "saddr"), "set": format!("@{set}")
        }}),
    }
}

fn object(table: &str, name_key: &str, name: &str) -> JsonMap<String, Value> {
    let mut o = JsonMap::new();
    o.insert("family".into(), json!("ip"));
    o.insert("table".into(), json!(table));
    o.insert(name_key.into(), json!(name));
    o
}

/// `{"table": {...}}`
pub fn table(name: &str, comment: Option<&str>) -> Value {
    let mut o = JsonMap::new();
    o.insert("family".into(), json!("ip"));
    o.insert("name".into(), json!(name));
    if let Some(c) = comment {
        o.insert("comment".into(), json!(c));
    }
    json!({ "table": o })
}

/// `{"chain": {...}}`, with hook properties for base chains.
pub fn chain(table: &str, name: &str, base: Option<&BaseChain>, comment: Option<&str>) -> Value {
    let mut o = object(table, "name", name);
    if let Some(b) = base {
        o.insert("type".into(), json!(b.kind.as_str()));
        o.insert("hook".into(), json!(b.hook.as_str()));
        o.insert("prio".into(), json!(b.priority));
        o.insert("policy".into(), json!("accept"));
    }
    if let Some(c) = comment {
        o.insert("comment".into(), json!(c));
    }
    json!({ "chain": o })
}

/// `{"rule": {...}}`
pub fn rule(table: &str, chain: &str, r: &Rule) -> Value {
    let mut o = object(table, "chain", chain);
    let mut expr: Vec<Value> = r.matches.iter().map(match_json).collect();
    expr.push(stmt_json(&r.stmt));
    o.insert("expr".into(), Value::Array(expr));
    if let Some(c) = &r.comment {
        o.insert("comment".into(), json!(c));
    }
    json!({ "rule": o })
}

/// `{"set": {...}}` (declaration only).
pub fn set(table: &str, s: &Set) -> Value {
    let mut o = object(table, "name", &s.name);
    o.insert("type".into(), json!("ipv4_addr"));
    if let SetKind::Dynamic { timeout } = s.kind {
        // nft 1.0.6's JSON parser knows no "dynamic" flag; the kernel adds
        // it itself once a rule `update`s the set.
        o.insert("flags".into(), json!(["timeout"]));
        o.insert("timeout".into(), json!(timeout));
    }
    if let Some(c) = &s.comment {
        o.insert("comment".into(), json!(c));
    }
    json!({ "set": o })
}

/// `{"map": {...}}` (declaration only).
pub fn map(table: &str, m: &Map) -> Value {
    let mut o = object(table, "name", &m.name);
    let key = match m.kind {
        MapType::AddrProtoPort => json!(["ipv4_addr", "inet_proto", "inet_service"]),
        MapType::ProtoPort => json!(["inet_proto", "inet_service"]),
    };
    o.insert("type".into(), key);
    o.insert("map".into(), json!("verdict"));
    if let Some(c) = &m.comment {
        o.insert("comment".into(), json!(c));
    }
    json!({ "map": o })
}

/// A map key as a JSON expression.
pub fn elem_key(k: &ElemKey) -> Value {
    match k {
        ElemKey::AddrProtoPort(ip, p, port) => {
            json!({"concat": [ip.to_string(), p.as_str(), port]})
        }
        ElemKey::ProtoPort(p, port) => json!({"concat": [p.as_str(), port]}),
    }
}

/// `[key (with comment), verdict]`
pub fn map_elem(k: &ElemKey, e: &Element) -> Value {
    let key = match &e.comment {
        Some(c) => json!({"elem": {"val": elem_key(k), "comment": c}}),
        None => elem_key(k),
    };
    json!([key, verdict(&e.verdict)])
}

/// `{"element": {...}}` for a set or map.
pub fn element(table: &str, name: &str, elems: Vec<Value>) -> Value {
    let mut o = object(table, "name", name);
    o.insert("elem".into(), Value::Array(elems));
    json!({ "element": o })
}
