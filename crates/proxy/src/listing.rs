//! Drift detection: a fingerprint of a table — rule count per chain and
//! the elements of every set and map we own — taken either from the model
//! or from `nft -j list table ip NAME`. If someone flushed or edited the
//! table, the two differ and the proxy reloads it completely.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::nft::Ruleset;
use crate::render;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// Chain name → number of rules.
    pub chains: BTreeMap<String, usize>,
    /// Set name → elements (`None` for dynamic sets, which the packet
    /// path fills).
    pub sets: BTreeMap<String, Option<BTreeSet<String>>>,
    /// Map name → `key : verdict` lines.
    pub maps: BTreeMap<String, BTreeSet<String>>,
}

impl Fingerprint {
    /// What the kernel should hold for `rs`, plus `empty_chains` (flushed,
    /// deletion pending).
    pub fn of_ruleset(rs: &Ruleset, empty_chains: &[String]) -> Fingerprint {
        let mut f = Fingerprint::default();
        for c in &rs.chains {
            f.chains.insert(c.name.clone(), c.rules.len());
        }
        for c in empty_chains {
            f.chains.entry(c.clone()).or_insert(0);
        }
        for s in &rs.sets {
            let elems = s
                .elements()
                .map(|e| e.iter().map(|ip| ip.to_string()).collect());
            f.sets.insert(s.name.clone(), elems);
        }
        for m in &rs.maps {
            let elems = m
                .elements
                .iter()
                .map(|(k, e)| format!("{} : {}", render::elem_key(k), render::verdict(&e.verdict)))
                .collect();
            f.maps.insert(m.name.clone(), elems);
        }
        f
    }

    /// Reads the output of `nft -j list table ip NAME`.
    pub fn of_listing(listing: &Value) -> Result<Fingerprint, String> {
        let objects = listing
            .get("nftables")
            .and_then(Value::as_array)
            .ok_or("no \"nftables\" array")?;
        let mut f = Fingerprint::default();
        for o in objects {
            if let Some(c) = o.get("chain") {
                f.chains.entry(name(c)?).or_insert(0);
            } else if let Some(r) = o.get("rule") {
                let chain = r
                    .get("chain")
                    .and_then(Value::as_str)
                    .ok_or("rule without chain")?;
                *f.chains.entry(chain.to_string()).or_insert(0) += 1;
            } else if let Some(s) = o.get("set") {
                let dynamic = s
                    .get("flags")
                    .map(|fl| fl.to_string())
                    .is_some_and(|fl| fl.contains("timeout") || fl.contains("dynamic"));
                let elems = if dynamic {
                    None
                } else {
                    Some(elements(s).iter().map(key).collect::<Result<_, _>>()?)
                };
                f.sets.insert(name(s)?, elems);
            } else if let Some(m) = o.get("map") {
                let mut lines = BTreeSet::new();
                for e in elements(m) {
                    let pair = e
                        .as_array()
                        .filter(|p| p.len() == 2)
                        .ok_or("map element is not a pair")?;
                    lines.insert(format!("{} : {}", key(&pair[0])?, verdict(&pair[1])?));
                }
                f.maps.insert(name(m)?, lines);
            }
        }
        Ok(f)
    }
}

fn name(o: &Value) -> Result<String, String> {
    o.get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "object without name".to_string())
}

fn elements(o: &Value) -> &[Value] {
    o.get("elem")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("unexpected element part {other}")),
    }
}

/// An element key: a scalar, a concatenation, or either wrapped in
/// `{"elem": {"val": ..., "comment": ...}}`.
fn key(v: &Value) -> Result<String, String> {
    if let Some(inner) = v.get("elem").and_then(|e| e.get("val")) {
        return key(inner);
    }
    if let Some(parts) = v.get("concat").and_then(Value::as_array) {
        return Ok(parts
            .iter()
            .map(scalar)
            .collect::<Result<Vec<_>, _>>()?
            .join(" . "));
    }
    scalar(v)
}

fn verdict(v: &Value) -> Result<String, String> {
    let obj = v
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("bad verdict {v}"))?;
    let (kind, arg) = obj.iter().next().ok_or("empty verdict")?;
    match kind.as_str() {
        "jump" | "goto" => {
            let target = arg
                .get("target")
                .and_then(Value::as_str)
                .ok_or("verdict without target")?;
            Ok(format!("{kind} {target}"))
        }
        _ => Ok(kind.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped like the output of nft 1.0.6 (`nft -j list table ip k1s`).
    #[test]
    fn reads_nft_json_listing() {
        let listing = json!({"nftables": [
            {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "ip", "name": "k1s", "handle": 2}},
            {"set": {"family": "ip", "name": "cluster-ips", "table": "k1s", "type": "ipv4_addr",
                     "elem": ["10.96.0.1", "10.96.0.10"]}},
            {"set": {"family": "ip", "name": "affinity-x", "table": "k1s", "type": "ipv4_addr",
                     "size": 65535, "flags": ["timeout"], "timeout": 10800}},
            {"map": {"family": "ip", "name": "service-ips", "table": "k1s",
                     "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "verdict",
                     "elem": [[{"elem": {"val": {"concat": ["10.96.0.1", "tcp", 443]}, "comment": "c"}},
                               {"goto": {"target": "service-A"}}],
                              [{"concat": ["10.96.0.2", "udp", 53]}, {"drop": null}]]}},
            {"chain": {"family": "ip", "table": "k1s", "name": "services", "handle": 1}},
            {"chain": {"family": "ip", "table": "k1s", "name": "empty", "handle": 3}},
            {"rule": {"family": "ip", "table": "k1s", "chain": "services", "handle": 4, "expr": []}},
            {"rule": {"family": "ip", "table": "k1s", "chain": "services", "handle": 5, "expr": []}}
        ]});
        let f = Fingerprint::of_listing(&listing).expect("parses");
        assert_eq!(
            f.chains,
            BTreeMap::from([("empty".to_string(), 0), ("services".to_string(), 2)])
        );
        assert_eq!(f.sets["affinity-x"], None);
        assert_eq!(
            f.sets["cluster-ips"],
            Some(BTreeSet::from([
                "10.96.0.1".to_string(),
                "10.96.0.10".to_string()
            ]))
        );
        assert_eq!(
            f.maps["service-ips"],
            BTreeSet::from([
                "10.96.0.1 . tcp . 443 : goto service-A".to_string(),
                "10.96.0.2 . udp . 53 : drop".to_string()
            ])
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(Fingerprint::of_listing(&json!({"x": 1})).is_err());
        let bad = json!({"nftables": [{"map": {"name": "m", "elem": [["k"]]}}]});
        assert!(Fingerprint::of_listing(&bad).is_err());
    }
}
