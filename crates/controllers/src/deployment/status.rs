//! Deployment status: the counts summed from its ReplicaSets and the
//! Available/Progressing conditions (upstream's `calculateStatus`,
//! `progress.go` and the condition helpers).

use super::util::{max_unavailable, replicas, status_count};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";

pub fn new_condition(type_: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": type_,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

pub fn conditions(status: &Value) -> &[Value] {
    status["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn get_condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions(status).iter().find(|c| c["type"] == type_)
}

fn store_conditions(status: &mut Value, list: Vec<Value>) {
    if let Some(m) = status.as_object_mut() {
        if list.is_empty() {
            m.remove("conditions");
        } else {
            m.insert("conditions".into(), Value::Array(list));
        }
    }
}

/// `SetDeploymentCondition`: no change when status and reason are the same;
/// the transition time survives when only the reason changes; the
/// condition moves to the end.
pub fn set_condition(status: &mut Value, mut cond: Value) {
    if let Some(cur) = get_condition(status, cond["type"].as_str().unwrap_or("")) {
        if cur["status"] == cond["status"] && cur["reason"] == cond["reason"] {
            return;
        }
        if cur["status"] == cond["status"] {
            cond["lastTransitionTime"] = cur["lastTransitionTime"].clone();
        }
    }
    let type_ = cond["type"].clone();
    let mut list: Vec<Value> = conditions(status)
        .iter()
        .filter(|c| c["type"] != type_)
        .cloned()
        .collect();
    list.push(cond);
    store_conditions(status, list);
}

pub fn remove_condition(status: &mut Value, type_: &str) {
    let list: Vec<Value> = conditions(status)
        .iter()
        .filter(|c| c["type"] != type_)
        .cloned()
        .collect();
    store_conditions(status, list);
}

fn sum(rss: &[&Value], field: &str) -> i64 {
    rss.iter().map(|rs| status_count(rs, field)).sum()
}

/// `calculateStatus`: counts from the ReplicaSets (zero counts omitted, as
/// Go's omitempty does), conditions carried over, Available re-evaluated.
pub fn calculate(all: &[&Value], new_rs: Option<&Value>, d: &Value, now: &str) -> Value {
    let available = sum(all, "availableReplicas");
    let total: i64 = all.iter().map(|rs| replicas(rs)).sum();
    let unavailable = (total - available).max(0);
    let mut status = Map::new();
    let mut put = |k: &str, n: i64| {
        if n != 0 {
            status.insert(k.to_string(), json!(n));
        }
    };
    put(
        "observedGeneration",
        d["metadata"]["generation"].as_i64().unwrap_or(0),
    );
    put("replicas", sum(all, "replicas"));
    put(
        "updatedReplicas",
        new_rs.map(|rs| status_count(rs, "replicas")).unwrap_or(0),
    );
    put("readyReplicas", sum(all, "readyReplicas"));
    put("availableReplicas", available);
    put("unavailableReplicas", unavailable);
    let mut status = Value::Object(status);
    store_conditions(&mut status, conditions(&d["status"]).to_vec());
    if let Some(c) = d["status"].get("collisionCount").filter(|c| !c.is_null()) {
        status["collisionCount"] = c.clone();
    }
    let cond = if available >= replicas(d) - max_unavailable(d) {
        new_condition(
            AVAILABLE,
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        )
    } else {
        new_condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        )
    };
    set_condition(&mut status, cond);
    status
}

fn observed_generation(status: &Value) -> i64 {
    status["observedGeneration"].as_i64().unwrap_or(0)
}

fn count(status: &Value, field: &str) -> i64 {
    status[field].as_i64().unwrap_or(0)
}

/// `DeploymentComplete`: every replica updated and available enough, and
/// the current generation observed.
pub fn complete(d: &Value, status: &Value) -> bool {
    let want = replicas(d);
    count(status, "updatedReplicas") == want
        && count(status, "replicas") == want
        && count(status, "availableReplicas") >= want - max_unavailable(d)
        && observed_generation(status) >= d["metadata"]["generation"].as_i64().unwrap_or(0)
}

/// `DeploymentProgressing`: more updated or available pods, or fewer old ones.
pub fn progressing(d: &Value, new_status: &Value) -> bool {
    let old = &d["status"];
    let old_old = count(old, "replicas") - count(old, "updatedReplicas");
    let new_old = count(new_status, "replicas") - count(new_status, "updatedReplicas");
    count(new_status, "updatedReplicas") > count(old, "updatedReplicas")
        || new_old < old_old
        || count(new_status, "availableReplicas") > count(old, "availableReplicas")
}

pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    crate::replicaset::pods::parse_time(v)
}

/// `DeploymentTimedOut`: no progress for progressDeadlineSeconds.
pub fn timed_out(deadline: Option<i64>, new_status: &Value, now: DateTime<Utc>) -> bool {
    let Some(deadline) = deadline else {
        return false;
    };
    let Some(cond) = get_condition(new_status, PROGRESSING) else {
        return false;
    };
    match cond["reason"].as_str().unwrap_or("") {
        NEW_RS_AVAILABLE => false,
        TIMED_OUT => true,
        _ => parse_time(&cond["lastUpdateTime"])
            .is_some_and(|t| t + chrono::Duration::seconds(deadline) < now),
    }
}

/// The ReplicaFailure conditions to surface: the new ReplicaSet's, else
/// the others' (`getReplicaFailures`).
pub fn replica_failures(all: &[&Value], new_rs: Option<&Value>) -> Vec<Value> {
    let of = |rs: &Value| -> Vec<Value> {
        conditions(&rs["status"])
            .iter()
            .filter(|c| c["type"] == REPLICA_FAILURE)
            .map(|c| {
                json!({
                    "type": REPLICA_FAILURE,
                    "status": c["status"],
                    "lastUpdateTime": c["lastTransitionTime"],
                    "lastTransitionTime": c["lastTransitionTime"],
                    "reason": c["reason"],
                    "message": c["message"],
                })
            })
            .collect()
    };
    if let Some(new) = new_rs {
        let own = of(new);
        if !own.is_empty() {
            return own;
        }
    }
    all.iter().flat_map(|rs| of(rs)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-01T12:00:00Z";

    fn rs(spec: i64, replicas: i64, ready: i64, available: i64) -> Value {
        json!({"spec": {"replicas": spec}, "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": available}})
    }

    fn deployment(replicas: i64) -> Value {
        json!({"metadata": {"generation": 2}, "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}, "status": {}})
    }

    #[test]
    fn counts_come_from_replica_sets() {
        let old = rs(2, 2, 2, 2);
        let new = rs(2, 2, 1, 1);
        let d = deployment(3);
        let s = calculate(&[&old, &new], Some(&new), &d, NOW);
        assert_eq!(
            s,
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3,
                   "availableReplicas": 3, "unavailableReplicas": 1,
                   "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": NOW, "lastTransitionTime": NOW,
                                   "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}]})
        );
        let empty = calculate(&[], None, &deployment(3), NOW);
        assert_eq!(empty["observedGeneration"], 2);
        assert!(empty.get("replicas").is_none());
        assert_eq!(
            get_condition(&empty, AVAILABLE).map(|c| c["status"].clone()),
            Some(json!("False"))
        );
    }

    #[test]
    fn conditions_keep_transition_times_and_move_last() {
        let mut s = json!({});
        set_condition(
            &mut s,
            new_condition(PROGRESSING, "True", NEW_RS_CREATED, "a", "t1"),
        );
        set_condition(&mut s, new_condition(AVAILABLE, "False", "x", "b", "t1"));
        // Same status and reason: untouched.
        set_condition(
            &mut s,
            new_condition(PROGRESSING, "True", NEW_RS_CREATED, "other", "t2"),
        );
        assert_eq!(
            get_condition(&s, PROGRESSING).map(|c| c["message"].clone()),
            Some(json!("a"))
        );
        // New reason, same status: transition time kept, moved to the end.
        set_condition(
            &mut s,
            new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, "c", "t3"),
        );
        assert_eq!(conditions(&s)[1]["type"], PROGRESSING);
        assert_eq!(conditions(&s)[1]["lastTransitionTime"], "t1");
        assert_eq!(conditions(&s)[1]["lastUpdateTime"], "t3");
        remove_condition(&mut s, PROGRESSING);
        remove_condition(&mut s, AVAILABLE);
        assert_eq!(s, json!({}));
    }

    #[test]
    fn completion_and_progress() {
        let d = deployment(3);
        let done = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3});
        assert!(complete(&d, &done));
        let old_generation = json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3});
        assert!(!complete(&d, &old_generation));
        let surging = json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3});
        assert!(!complete(&d, &surging));
        let mut before = d.clone();
        before["status"] = json!({"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3});
        assert!(progressing(
            &before,
            &json!({"replicas": 4, "updatedReplicas": 2, "availableReplicas": 3})
        ));
        assert!(progressing(
            &before,
            &json!({"replicas": 3, "updatedReplicas": 1, "availableReplicas": 3})
        ));
        assert!(!progressing(
            &before,
            &json!({"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3})
        ));
    }

    #[test]
    fn deadlines() {
        let now = parse_time(&json!(NOW)).unwrap_or_default();
        let with = |reason: &str, at: &str| json!({"conditions": [new_condition(PROGRESSING, "True", reason, "m", at)]});
        assert!(timed_out(
            Some(600),
            &with(RS_UPDATED, "2026-01-01T11:49:59Z"),
            now
        ));
        assert!(!timed_out(
            Some(600),
            &with(RS_UPDATED, "2026-01-01T11:50:01Z"),
            now
        ));
        assert!(!timed_out(
            Some(600),
            &with(NEW_RS_AVAILABLE, "2020-01-01T00:00:00Z"),
            now
        ));
        assert!(timed_out(Some(600), &with(TIMED_OUT, NOW), now));
        assert!(!timed_out(None, &with(TIMED_OUT, NOW), now));
        assert!(!timed_out(Some(600), &json!({}), now));
    }

    #[test]
    fn replica_failures_prefer_the_new_replica_set() {
        let failing = |msg: &str| json!({"status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": "t", "reason": "FailedCreate", "message": msg}]}});
        let (a, b) = (failing("old"), failing("new"));
        let got = replica_failures(&[&a, &b], Some(&b));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["message"], "new");
        assert_eq!(got[0]["lastUpdateTime"], "t");
        let ok = json!({"status": {}});
        assert_eq!(replica_failures(&[&a, &ok], Some(&ok))[0]["message"], "old");
        assert!(replica_failures(&[&ok], None).is_empty());
    }
}
