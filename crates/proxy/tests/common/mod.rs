//! Scenario loading shared by the integration tests: each
//! `tests/golden/<name>.yaml` holds Services and EndpointSlices in
//! Kubernetes form; `<name>.nft` holds the expected table.

#![allow(dead_code)] // Each test binary uses a different part.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use k1s_proxy::{from_k8s, Config, EndpointSliceInfo, Ruleset, ServiceInfo};
use serde_json::Value;

pub const NODE: &str = "k1s-node";
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 10);

pub const SCENARIOS: &[&str] = &[
    "clusterip",
    "nodeport",
    "loadbalancer",
    "external-ips",
    "no-endpoints",
    "affinity",
    "etp-local",
    "itp-local",
    "multiport",
    "udp",
    "sctp",
    "terminating",
    "headless-externalname",
];

pub fn config() -> Config {
    Config {
        node_name: NODE.into(),
        node_ips: vec![NODE_IP],
        ..Config::default()
    }
}

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The Kubernetes objects of a scenario, in file order.
pub fn objects(name: &str) -> Vec<Value> {
    let path = golden_dir().join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if !v.is_null() {
            out.push(v);
        }
    }
    out
}

/// Splits objects into the proxy's Service and slice inputs.
pub fn inputs(objs: &[Value]) -> (Vec<ServiceInfo>, Vec<EndpointSliceInfo>) {
    let kind = |o: &Value| {
        o.get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let services = objs
        .iter()
        .filter(|o| kind(o) == "Service")
        .filter_map(from_k8s::service)
        .collect();
    let slices = objs
        .iter()
        .filter(|o| kind(o) == "EndpointSlice")
        .filter_map(|o| from_k8s::endpoint_slice(o, NODE))
        .collect();
    (services, slices)
}

pub fn scenario(name: &str) -> Ruleset {
    let (services, slices) = inputs(&objects(name));
    k1s_proxy::ruleset(&config(), &services, &slices)
}
