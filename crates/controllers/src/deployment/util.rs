//! Deployment arithmetic and bookkeeping (upstream's `deployment_util.go`):
//! maxSurge/maxUnavailable resolution, new ReplicaSet sizing, proportions
//! for scaling during a rollout, revisions and the annotations a
//! Deployment keeps on its ReplicaSets.

use serde_json::{json, Map, Value};
use std::cmp::Ordering;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Longest `revision-history` annotation kept.
const MAX_REV_HISTORY_CHARS: usize = 2000;

/// Annotations a Deployment does not copy to its ReplicaSets.
const SKIPPED_ANNOTATIONS: &[&str] = &[
    LAST_APPLIED,
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    ROLLBACK_TO,
];

/// `spec.replicas` (1 when unset, as defaulting would make it).
pub fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

pub fn status_count(obj: &Value, field: &str) -> i64 {
    obj["status"][field].as_i64().unwrap_or(0)
}

pub fn set_replicas(obj: &mut Value, n: i64) {
    obj["spec"]["replicas"] = json!(n);
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

/// Sets an annotation; returns whether it changed.
pub fn set_annotation(obj: &mut Value, key: &str, value: &str) -> bool {
    if annotation(obj, key) == Some(value) {
        return false;
    }
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    if let Some(m) = obj["metadata"]["annotations"].as_object_mut() {
        m.insert(key.to_string(), json!(value));
    }
    true
}

/// `intstr.GetScaledValueFromIntOrPercent`: an integer as is, `"N%"` of
/// `total` rounded up or down.
pub fn scaled_value(v: &Value, total: i64, round_up: bool) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("invalid value for IntOrString: invalid value {n}")),
        Value::String(s) => {
            let Some(pct) = s.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .into(),
                );
            };
            let pct: i64 = pct
                .parse()
                .map_err(|e| format!("invalid value for IntOrString: invalid value {s:?}: {e}"))?;
            let exact = pct as f64 * total as f64 / 100.0;
            Ok(if round_up {
                exact.ceil()
            } else {
                exact.floor()
            } as i64)
        }
        Value::Null => Err("nil value for IntOrString".into()),
        other => Err(format!("invalid value for IntOrString: {other}")),
    }
}

/// `ResolveFenceposts`: maxSurge rounds up, maxUnavailable down; when both
/// come out zero, maxUnavailable becomes 1 so the rollout can move.
pub fn resolve_fenceposts(
    max_surge: &Value,
    max_unavailable: &Value,
    desired: i64,
) -> Result<(i64, i64), String> {
    let surge = scaled_value(max_surge, desired, true)?;
    let mut unavailable = scaled_value(max_unavailable, desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

pub fn is_rolling(d: &Value) -> bool {
    d["spec"]["strategy"]["type"]
        .as_str()
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

fn rolling_params(d: &Value) -> (&Value, &Value) {
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    (&ru["maxSurge"], &ru["maxUnavailable"])
}

/// `MaxSurge`: 0 unless rolling (validation catches bad values; they count as 0).
pub fn max_surge(d: &Value) -> i64 {
    if !is_rolling(d) {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(s, u, replicas(d))
        .map(|(s, _)| s)
        .unwrap_or(0)
}

/// `MaxUnavailable`: 0 unless rolling with replicas, never above replicas.
pub fn max_unavailable(d: &Value) -> i64 {
    let desired = replicas(d);
    if !is_rolling(d) || desired == 0 {
        return 0;
    }
    let (s, u) = rolling_params(d);
    let unavailable = resolve_fenceposts(s, u, desired)
        .map(|(_, u)| u)
        .unwrap_or(0);
    unavailable.min(desired)
}

/// `NewRSNewReplicas`: how big the new ReplicaSet may get now. Rolling:
/// up to replicas + maxSurge pods in all ReplicaSets together, never above
/// replicas; Recreate: replicas.
pub fn new_rs_new_replicas(d: &Value, all: &[&Value], new_rs: &Value) -> Result<i64, String> {
    if !is_rolling(d) {
        return Ok(replicas(d));
    }
    let (s, _) = rolling_params(d);
    let surge = scaled_value(s, replicas(d), true)?;
    let current: i64 = all.iter().map(|rs| replicas(rs)).sum();
    let max_total = replicas(d) + surge;
    if current >= max_total {
        return Ok(replicas(new_rs));
    }
    let up = (max_total - current).min(replicas(d) - replicas(new_rs));
    Ok(replicas(new_rs) + up)
}

fn int_annotation(rs: &Value, key: &str) -> Option<i64> {
    annotation(rs, key)?.parse().ok()
}

/// `IsSaturated`: the new ReplicaSet alone is the whole Deployment.
pub fn is_saturated(d: &Value, rs: Option<&Value>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let Some(desired) = int_annotation(rs, DESIRED_REPLICAS) else {
        return false;
    };
    replicas(rs) == replicas(d) && desired == replicas(d)
}

/// Go's `math.Round`: halves away from zero.
fn round(x: f64) -> i64 {
    x.round() as i64
}

/// `getReplicaSetFraction`: how many replicas `rs` gains (or loses) when
/// the Deployment's maximum size changes from the one it last recorded.
fn fraction(rs: &Value, d: &Value) -> i64 {
    if replicas(d) == 0 {
        return -replicas(rs);
    }
    let max_now = replicas(d) + max_surge(d);
    let before = match int_annotation(rs, MAX_REPLICAS) {
        Some(n) if n != 0 => n,
        _ => {
            let n = status_count(d, "replicas");
            if n == 0 {
                return 0;
            }
            n
        }
    };
    round((replicas(rs) * max_now) as f64 / before as f64) - replicas(rs)
}

/// `GetReplicaSetProportion`: `rs`'s share of `to_add`, of which `added`
/// is already handed out.
pub fn proportion(rs: &Value, d: &Value, to_add: i64, added: i64) -> i64 {
    if replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let f = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        f.min(allowed)
    } else {
        f.max(allowed)
    }
}

/// The revision annotation: 0 when absent, `None` when unparseable.
pub fn revision(rs: &Value) -> Option<i64> {
    match annotation(rs, REVISION) {
        None => Some(0),
        Some(s) => s.parse().ok(),
    }
}

/// `MaxRevision` over `rss` (unparseable revisions skipped).
pub fn max_revision(rss: &[&Value]) -> i64 {
    rss.iter()
        .filter_map(|rs| revision(rs))
        .max()
        .unwrap_or(0)
        .max(0)
}

/// `SetReplicasAnnotations`; returns whether anything changed.
pub fn set_replicas_annotations(rs: &mut Value, desired: i64, max: i64) -> bool {
    let a = set_annotation(rs, DESIRED_REPLICAS, &desired.to_string());
    let b = set_annotation(rs, MAX_REPLICAS, &max.to_string());
    a || b
}

pub fn replicas_annotations_need_update(rs: &Value, desired: i64, max: i64) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// Copies the Deployment's annotations (but the skipped ones) onto `rs`.
fn copy_annotations(d: &Value, rs: &mut Value) -> bool {
    let mut changed = false;
    if let Some(m) = d["metadata"]["annotations"].as_object() {
        for (k, v) in m {
            if SKIPPED_ANNOTATIONS.contains(&k.as_str()) {
                continue;
            }
            if let Some(v) = v.as_str() {
                changed |= set_annotation(rs, k, v);
            }
        }
    }
    changed
}

/// `SetNewReplicaSetAnnotations`: copies the Deployment's annotations,
/// raises the revision to `new_revision` (remembering the old one in
/// `revision-history` when a rollback re-uses a ReplicaSet) and, for a new
/// ReplicaSet, records desired and max replicas. Returns whether it changed.
pub fn set_new_rs_annotations(d: &Value, rs: &mut Value, new_revision: i64, exists: bool) -> bool {
    let mut changed = copy_annotations(d, rs);
    let old = annotation(rs, REVISION).map(String::from);
    let old_n = match &old {
        Some(s) => match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
        None => 0,
    };
    if old_n < new_revision {
        set_annotation(rs, REVISION, &new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotation(rs, REVISION_HISTORY).unwrap_or("").to_string();
            if history.is_empty() {
                set_annotation(rs, REVISION_HISTORY, &old);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_CHARS {
                    parts = parts.split_off(start);
                    parts.push(&old);
                    set_annotation(rs, REVISION_HISTORY, &parts.join(","));
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

/// Normalizes a pod template for semantic comparison: nulls, empty lists
/// and empty maps are the same as absent (apimachinery's Semantic.DeepEqual).
pub(crate) fn semantic(v: &Value) -> Value {
    const MAPS: &[&str] = &[
        "labels",
        "annotations",
        "nodeSelector",
        "limits",
        "requests",
    ];
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let n = semantic(v);
                let empty = match &n {
                    Value::Null => true,
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty() && MAPS.contains(&k.as_str()),
                    _ => false,
                };
                if !empty {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(semantic).collect()),
        other => other.clone(),
    }
}

fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    semantic(&t)
}

/// `EqualIgnoreHash`: the templates are equal apart from pod-template-hash.
pub fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    without_hash(a) == without_hash(b)
}

/// `ReplicaSetsByCreationTimestamp`: older first, then by name.
pub fn by_creation(a: &Value, b: &Value) -> Ordering {
    let ts = |v: &Value| crate::replicaset::pods::parse_time(&v["metadata"]["creationTimestamp"]);
    ts(a).cmp(&ts(b)).then_with(|| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    })
}

/// `ReplicaSetsByRevision`: lower revision first, then by creation.
pub fn by_revision(a: &Value, b: &Value) -> Ordering {
    let r = |v: &Value| revision(v).unwrap_or(0);
    r(a).cmp(&r(b)).then_with(|| by_creation(a, b))
}

pub fn progress_deadline(d: &Value) -> Option<i64> {
    d["spec"]["progressDeadlineSeconds"]
        .as_i64()
        .filter(|s| *s != i64::from(i32::MAX))
}

pub fn revision_history_limit(d: &Value) -> Option<i64> {
    d["spec"]["revisionHistoryLimit"]
        .as_i64()
        .filter(|s| *s != i64::from(i32::MAX))
}

pub fn min_ready_seconds(obj: &Value) -> i64 {
    obj["spec"]["minReadySeconds"].as_i64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i64, surge: Value, unavailable: Value) -> Value {
        json!({"spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}})
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        let cases = [
            // (replicas, maxSurge, maxUnavailable, want surge, want unavailable)
            (3, json!("25%"), json!("25%"), 1, 0),
            (4, json!("25%"), json!("25%"), 1, 1),
            (10, json!("25%"), json!("25%"), 3, 2),
            (1, json!("25%"), json!("25%"), 1, 0),
            (10, json!("0%"), json!("0%"), 0, 1),
            (3, json!(0), json!("10%"), 0, 1),
            (10, json!(2), json!(3), 2, 3),
            (5, json!("100%"), json!("100%"), 5, 5),
            (0, json!("25%"), json!("25%"), 0, 1),
            (7, json!("33%"), json!("33%"), 3, 2),
        ];
        for (replicas, s, u, ws, wu) in cases {
            assert_eq!(
                resolve_fenceposts(&s, &u, replicas),
                Ok((ws, wu)),
                "{replicas} {s} {u}"
            );
        }
    }

    #[test]
    fn bad_int_or_string_values() {
        assert_eq!(
            scaled_value(&json!("5"), 10, true),
            Err("invalid value for IntOrString: invalid type: string is not a percentage".into())
        );
        assert!(scaled_value(&json!("x%"), 10, true).is_err());
        assert_eq!(
            scaled_value(&Value::Null, 10, true),
            Err("nil value for IntOrString".into())
        );
    }

    #[test]
    fn surge_and_unavailable_of_deployments() {
        let d = deployment(3, json!("25%"), json!("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
        // Never more unavailable than replicas.
        let d = deployment(2, json!(0), json!(5));
        assert_eq!(max_unavailable(&d), 2);
        let d = deployment(0, json!(1), json!(1));
        assert_eq!(max_unavailable(&d), 0);
        let recreate = json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}});
        assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
    }

    fn rs(replicas: i64) -> Value {
        json!({"spec": {"replicas": replicas}})
    }

    #[test]
    fn new_replica_set_grows_within_the_surge() {
        let d = deployment(3, json!("25%"), json!("25%"));
        let (old, new) = (rs(3), rs(0));
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), Ok(1));
        let (old, new) = (rs(2), rs(1));
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), Ok(2));
        let (old, new) = (rs(3), rs(1));
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), Ok(1));
        // Fresh Deployment: straight to replicas.
        let new = rs(0);
        assert_eq!(new_rs_new_replicas(&d, &[&new], &new), Ok(3));
        let d = deployment(10, json!(3), json!(0));
        let (old, new) = (rs(10), rs(0));
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), Ok(3));
        let recreate = json!({"spec": {"replicas": 4, "strategy": {"type": "Recreate"}}});
        assert_eq!(new_rs_new_replicas(&recreate, &[], &new), Ok(4));
    }

    #[test]
    fn proportions_follow_the_recorded_maximum() {
        // Deployment was 10 (+3 surge = 13), now 20 (+5 = 25).
        let d = deployment(20, json!("25%"), json!("25%"));
        let mut a = rs(8);
        set_replicas_annotations(&mut a, 10, 13);
        let mut b = rs(5);
        set_replicas_annotations(&mut b, 10, 13);
        let to_add = 25 - 13;
        let pa = proportion(&a, &d, to_add, 0);
        assert_eq!(pa, 7); // round(8*25/13)=15 -> +7
        let pb = proportion(&b, &d, to_add, pa);
        assert_eq!(pb, 5); // round(5*25/13)=10 -> +5, allowed 5
                           // Scaling to zero takes everything.
        let zero = deployment(0, json!("25%"), json!("25%"));
        assert_eq!(proportion(&a, &zero, -8, 0), -8);
        // Nothing to add, or an empty ReplicaSet: nothing.
        assert_eq!(proportion(&a, &d, 0, 0), 0);
        assert_eq!(proportion(&rs(0), &d, 5, 0), 0);
    }

    #[test]
    fn saturation_needs_size_and_annotation() {
        let d = deployment(3, json!(1), json!(0));
        let mut r = rs(3);
        assert!(!is_saturated(&d, Some(&r)));
        set_replicas_annotations(&mut r, 3, 4);
        assert!(is_saturated(&d, Some(&r)));
        set_replicas(&mut r, 2);
        assert!(!is_saturated(&d, Some(&r)));
        assert!(!is_saturated(&d, None));
    }

    #[test]
    fn revisions_and_history() {
        let d = json!({"metadata": {"annotations": {
            "kubernetes.io/change-cause": "kubectl set image",
            REVISION: "9",
            LAST_APPLIED: "{}"
        }}, "spec": {"replicas": 3, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        let mut fresh = json!({"metadata": {}});
        assert!(set_new_rs_annotations(&d, &mut fresh, 1, false));
        assert_eq!(
            fresh["metadata"]["annotations"],
            json!({"kubernetes.io/change-cause": "kubectl set image", REVISION: "1", DESIRED_REPLICAS: "3", MAX_REPLICAS: "4"})
        );
        // Re-used by a rollback: revision moves up, the old one goes to history.
        assert!(set_new_rs_annotations(&d, &mut fresh, 3, true));
        assert_eq!(annotation(&fresh, REVISION), Some("3"));
        assert_eq!(annotation(&fresh, REVISION_HISTORY), Some("1"));
        assert!(set_new_rs_annotations(&d, &mut fresh, 5, true));
        assert_eq!(annotation(&fresh, REVISION_HISTORY), Some("1,3"));
        // Never lowered.
        assert!(!set_new_rs_annotations(&d, &mut fresh, 4, true));
        assert_eq!(annotation(&fresh, REVISION), Some("5"));
        let a = json!({"metadata": {"annotations": {REVISION: "2"}}});
        let b = json!({"metadata": {"annotations": {REVISION: "10"}}});
        let bad = json!({"metadata": {"annotations": {REVISION: "x"}}});
        assert_eq!(max_revision(&[&a, &b, &bad]), 10);
        assert_eq!(by_revision(&a, &b), Ordering::Less);
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let a = json!({"metadata": {"labels": {"app": "web", HASH_LABEL: "abc"}}, "spec": {"containers": [{"name": "c", "image": "nginx", "env": []}]}});
        let b = json!({"metadata": {"labels": {"app": "web"}, "annotations": {}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        assert!(equal_ignore_hash(&a, &b));
        let c = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.17"}]}});
        assert!(!equal_ignore_hash(&a, &c));
        // An empty struct is not an absent one.
        let d = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}], "securityContext": {}}});
        assert!(!equal_ignore_hash(&b, &d));
    }
}
