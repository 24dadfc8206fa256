//! The netlink encoder against the kernel, inside network namespaces the
//! test creates: every scenario-to-scenario diff that `netlink::encode`
//! takes is applied as a batch, and `nft -j list` must then show exactly
//! the table that `nft -f` builds from the target scenario — same rules,
//! same comments, same elements. Needs root, iproute2 and nftables.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{scenario, SCENARIOS};
use k1s_proxy::{diff, Applier, Transaction};
use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("k1s-netlink-test-{}-{n}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name}");
        Netns(name)
    }

    fn applier(&self) -> Applier {
        let mut a = Applier::in_netns(&self.0);
        a.netlink = false;
        a
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Drops handles and sorts what the kernel keeps in no fixed order.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "handle")
                .map(|(k, v)| {
                    let mut v = normalize(v);
                    if k == "elem" {
                        if let Value::Array(a) = &mut v {
                            a.sort_by_key(|e| e.to_string());
                        }
                    }
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// The table as nft lists it: chains with their rules in order, sets and
/// maps with their elements, keyed by name.
fn listing(a: &Applier) -> BTreeMap<String, Value> {
    let json = a.list_json("k1s").expect("list").expect("table exists");
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for o in json["nftables"].as_array().expect("array") {
        let o = normalize(o);
        let (kind, body) = match o.as_object().and_then(|m| m.iter().next()) {
            Some((k, b)) => (k.clone(), b.clone()),
            None => continue,
        };
        let key = match kind.as_str() {
            "chain" | "set" | "map" => format!("{kind} {}", body["name"].as_str().unwrap_or("")),
            "rule" => format!("chain {} rules", body["chain"].as_str().unwrap_or("")),
            _ => continue,
        };
        match out.get_mut(&key) {
            Some(Value::Array(rules)) => rules.push(body),
            _ if kind == "rule" => {
                out.insert(key, Value::Array(vec![body]));
            }
            _ => {
                out.insert(key, body);
            }
        }
    }
    out
}

fn load(a: &Applier, name: &str) {
    a.apply(&Transaction::full(&scenario(name)))
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
}

#[test]
fn netlink_batches_build_the_same_table_as_nft() {
    let mut encoded = 0;
    for from in SCENARIOS {
        let ns = Netns::new();
        let a = ns.applier();
        for to in SCENARIOS {
            if from == to {
                continue;
            }
            let tx = diff(&scenario(from), &scenario(to));
            load(&a, to);
            let want = listing(&a);
            load(&a, from);
            match a.apply_netlink(&tx) {
                Ok(true) => encoded += 1,
                Ok(false) => continue,
                Err(e) => panic!("{from} -> {to}: {e}\n{}", tx.to_nft()),
            }
            let have = listing(&a);
            for (k, v) in &want {
                assert_eq!(have.get(k), Some(v), "{from} -> {to}: {k}\n{}", tx.to_nft());
            }
            assert_eq!(
                have.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{from} -> {to}"
            );
        }
    }
    // Only diffs that add a firewall chain (loadbalancer) are left to nft.
    let pairs = SCENARIOS.len() * (SCENARIOS.len() - 1);
    assert!(
        encoded + 2 * SCENARIOS.len() >= pairs,
        "{encoded} of {pairs} encoded"
    );
}
