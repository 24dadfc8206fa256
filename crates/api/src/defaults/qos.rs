//! A Pod's QoS class (`qos.ComputePodQOS`) and the resource-quantity
//! arithmetic it needs.

use crate::quantity::Quantity;
use crate::validation::json::{arr_path, get};
use serde_json::Value;

/// A quantity in nano-units (exact for every suffix Kubernetes accepts,
/// down to 1n; finer values round up as `resource.Quantity` does). None for
/// malformed or absurdly large input.
pub fn parse_quantity(s: &str) -> Option<i128> {
    Quantity::parse(s.trim()).ok()?.nanos()
}

fn quantity(v: &Value) -> Option<i128> {
    match v {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => n.as_i64().map(|n| i128::from(n) * 1_000_000_000),
        _ => None,
    }
}

const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// "Guaranteed", "Burstable" or "BestEffort" for a Pod (or any object with
/// a pod `spec`), from its containers' and init containers' resources.
pub fn pod_qos_class(pod: &Value) -> &'static str {
    let mut requests: Vec<(&str, i128)> = Vec::new();
    let mut limits: Vec<(&str, i128)> = Vec::new();
    let mut guaranteed = true;
    let containers = arr_path(pod, &["spec", "containers"])
        .iter()
        .chain(arr_path(pod, &["spec", "initContainers"]));
    let add = |acc: &mut Vec<(&str, i128)>, name: &'static str, q: i128| match acc
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some((_, total)) => *total += q,
        None => acc.push((name, q)),
    };
    for c in containers {
        for name in QOS_RESOURCES {
            let req = get(c, &["resources", "requests", name]).and_then(quantity);
            if let Some(q) = req.filter(|q| *q > 0) {
                add(&mut requests, name, q);
            }
        }
        let mut found = 0;
        for name in QOS_RESOURCES {
            let lim = get(c, &["resources", "limits", name]).and_then(quantity);
            if let Some(q) = lim.filter(|q| *q > 0) {
                found += 1;
                add(&mut limits, name, q);
            }
        }
        if found < QOS_RESOURCES.len() {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &requests {
            let lim = limits.iter().find(|(n, _)| n == name).map(|(_, q)| *q);
            if lim != Some(*req) {
                guaranteed = false;
                break;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_quantities() {
        let cases = [
            ("1", Some(1_000_000_000)),
            ("100m", Some(100_000_000)),
            ("0.1", Some(100_000_000)),
            ("1Ki", Some(1_024_000_000_000)),
            ("1Gi", Some(1_073_741_824_000_000_000)),
            ("1e3", Some(1_000_000_000_000)),
            ("2k", Some(2_000_000_000_000)),
            ("1x", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_quantity(s), want, "{s}");
        }
        assert_eq!(parse_quantity("1Gi"), parse_quantity("1073741824"));
    }

    #[test]
    fn classifies_pods() {
        let pod = |res: Value| json!({"spec": {"containers": [{"name": "a", "resources": res}]}});
        let cases = [
            (json!({}), "BestEffort"),
            (json!({"requests": {"cpu": "100m"}}), "Burstable"),
            (
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}),
                "Guaranteed",
            ),
            (
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}),
                "Burstable",
            ),
            (
                json!({"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}),
                "Burstable",
            ),
            (
                json!({"requests": {"ephemeral-storage": "1Gi"}}),
                "BestEffort",
            ),
        ];
        for (res, want) in cases {
            assert_eq!(pod_qos_class(&pod(res.clone())), want, "{res}");
        }
    }
}
