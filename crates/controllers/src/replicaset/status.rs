//! A ReplicaSet's status from the pods it owns (`calculateStatus`), in the
//! JSON form kube-controller-manager writes (zero counts omitted, except
//! `replicas`).

use super::pods::{is_available, is_ready};
use chrono::{DateTime, Utc};
use k1s_api::selector::{string_map, LabelSelector};
use serde_json::{json, Map, Value};

/// Why managing replicas failed, for the ReplicaFailure condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManageError {
    /// `FailedCreate` or `FailedDelete`.
    pub reason: &'static str,
    pub message: String,
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn min_ready_seconds(rs: &Value) -> i64 {
    rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0)
}

pub fn spec_replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// The status `rs` should have given its active, claimed `pods`.
pub fn calculate(
    rs: &Value,
    pods: &[&Value],
    manage_error: Option<&ManageError>,
    now: DateTime<Utc>,
    now_text: &str,
) -> Value {
    let template_labels =
        LabelSelector::from_set(&string_map(&rs["spec"]["template"]["metadata"]["labels"]));
    let min_ready = min_ready_seconds(rs);
    let fully_labeled = pods
        .iter()
        .filter(|p| template_labels.matches_object(p))
        .count();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let available = pods
        .iter()
        .filter(|p| is_available(p, min_ready, now))
        .count();
    let old = &rs["status"];
    let mut conditions: Vec<Value> = old["conditions"].as_array().cloned().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c["type"] == "ReplicaFailure");
    match manage_error {
        Some(e) if !has_failure => conditions.push(json!({
            "type": "ReplicaFailure",
            "status": "True",
            "lastTransitionTime": now_text,
            "reason": e.reason,
            "message": e.message,
        })),
        None if has_failure => conditions.retain(|c| c["type"] != "ReplicaFailure"),
        _ => {}
    }
    let mut status = Map::new();
    status.insert("replicas".into(), json!(count(pods.len())));
    let mut put = |k: &str, n: i64| {
        if n != 0 {
            status.insert(k.into(), json!(n));
        }
    };
    put("fullyLabeledReplicas", count(fully_labeled));
    put("readyReplicas", count(ready));
    put("availableReplicas", count(available));
    put(
        "observedGeneration",
        rs["metadata"]["generation"].as_i64().unwrap_or(0),
    );
    if !conditions.is_empty() {
        status.insert("conditions".into(), Value::Array(conditions));
    }
    Value::Object(status)
}

/// Whether `new` differs from the stored status in anything
/// `updateReplicaSetStatus` compares.
pub fn changed(old: &Value, new: &Value) -> bool {
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ]
    .iter()
    .any(|k| n(old, k) != n(new, k))
        || old.get("conditions").filter(|c| !c.is_null()) != new.get("conditions")
}

/// When to look again: pods that are ready but not yet available become
/// available after minReadySeconds, which no event announces.
pub fn recheck_after(rs: &Value, status: &Value) -> Option<std::time::Duration> {
    let min_ready = min_ready_seconds(rs);
    let replicas = spec_replicas(rs);
    let ready = status["readyReplicas"].as_i64().unwrap_or(0);
    let available = status["availableReplicas"].as_i64().unwrap_or(0);
    (min_ready > 0 && ready == replicas && available != replicas)
        .then(|| std::time::Duration::from_secs(u64::try_from(min_ready).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicaset::pods::parse_time;

    fn now() -> DateTime<Utc> {
        parse_time(&json!("2026-01-01T12:00:00Z")).unwrap_or_default()
    }

    fn rs(min_ready: i64) -> Value {
        json!({
            "metadata": {"name": "web-1", "generation": 3},
            "spec": {"replicas": 3, "minReadySeconds": min_ready, "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "1"}}}},
            "status": {"replicas": 0}
        })
    }

    fn pod(labels: Value, ready_at: Option<&str>) -> Value {
        let mut p = json!({"metadata": {"labels": labels}, "status": {"phase": "Running"}});
        if let Some(t) = ready_at {
            p["status"]["conditions"] =
                json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]);
        }
        p
    }

    #[test]
    fn counts_pods_like_calculate_status() {
        let full = json!({"app": "web", "pod-template-hash": "1"});
        let pods = [
            pod(full.clone(), Some("2026-01-01T11:00:00Z")),
            pod(full.clone(), Some("2026-01-01T11:59:58Z")),
            pod(json!({"app": "web"}), None),
        ];
        let refs: Vec<&Value> = pods.iter().collect();
        let s = calculate(&rs(10), &refs, None, now(), "t");
        assert_eq!(
            s,
            json!({"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1, "observedGeneration": 3})
        );
        assert!(changed(&json!({"replicas": 0}), &s));
        assert!(!changed(&s, &s.clone()));
    }

    #[test]
    fn empty_status_keeps_replicas_zero() {
        let s = calculate(&json!({"metadata": {}, "spec": {}}), &[], None, now(), "t");
        assert_eq!(s, json!({"replicas": 0}));
    }

    #[test]
    fn failure_condition_comes_and_goes() {
        let err = ManageError {
            reason: "FailedCreate",
            message: "pods \"x\" is forbidden".into(),
        };
        let mut r = rs(0);
        let s = calculate(&r, &[], Some(&err), now(), "2026-01-01T12:00:00Z");
        assert_eq!(
            s["conditions"],
            json!([{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": "2026-01-01T12:00:00Z", "reason": "FailedCreate", "message": "pods \"x\" is forbidden"}])
        );
        r["status"] = s;
        // Still failing: the condition is kept as it was.
        let again = calculate(&r, &[], Some(&err), now(), "later");
        assert_eq!(again["conditions"], r["status"]["conditions"]);
        let fixed = calculate(&r, &[], None, now(), "later");
        assert!(fixed.get("conditions").is_none());
    }

    #[test]
    fn rechecks_pods_waiting_for_min_ready_seconds() {
        let r = rs(10);
        let waiting = json!({"readyReplicas": 3, "availableReplicas": 1});
        assert_eq!(
            recheck_after(&r, &waiting),
            Some(std::time::Duration::from_secs(10))
        );
        assert_eq!(
            recheck_after(&r, &json!({"readyReplicas": 3, "availableReplicas": 3})),
            None
        );
        assert_eq!(recheck_after(&rs(0), &waiting), None);
    }
}
