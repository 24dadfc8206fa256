//! Pod predicates and the order in which a ReplicaSet gives up pods
//! (`controller.ActivePodsWithRanks` with logarithmic scale-down), plus the
//! pod a ReplicaSet creates from its template.

use crate::owner::{controller_ref, is_deleting};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::HashMap;

const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("")
}

/// Not finished and not being deleted (`controller.IsPodActive`).
pub fn is_active(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !is_deleting(pod)
}

fn ready_condition(pod: &Value) -> Option<&Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

pub fn is_ready(pod: &Value) -> bool {
    ready_condition(pod).is_some_and(|c| c["status"] == "True")
}

pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Ready for at least `min_ready_seconds` (`podutil.IsPodAvailable`); a
/// Ready condition without a transition time only counts when no wait is asked.
pub fn is_available(pod: &Value, min_ready_seconds: i64, now: DateTime<Utc>) -> bool {
    let Some(c) = ready_condition(pod).filter(|c| c["status"] == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    parse_time(&c["lastTransitionTime"])
        .is_some_and(|t| t + chrono::Duration::seconds(min_ready_seconds) < now)
}

fn node_name(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap_or("")
}

fn phase_ordinal(pod: &Value) -> i32 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        // Phases outside the map count as 0 in Go's map lookup.
        _ => 0,
    }
}

fn deletion_cost(pod: &Value) -> i64 {
    pod["metadata"]["annotations"][DELETION_COST]
        .as_str()
        .and_then(|s| s.parse::<i32>().ok())
        .map(i64::from)
        .unwrap_or(0)
}

fn ready_time(pod: &Value) -> Option<DateTime<Utc>> {
    if !is_ready(pod) {
        return None;
    }
    ready_condition(pod).and_then(|c| parse_time(&c["lastTransitionTime"]))
}

fn max_restarts(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// log2 of the age in nanoseconds, -1 for no age: pods whose ages are within
/// the same power of two count as equally old (LogarithmicScaleDown).
fn log_rank(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let d = (now - t).num_nanoseconds().unwrap_or(i64::MAX);
    if d > 0 {
        (d as f64).log2() as i64
    } else {
        -1
    }
}

/// The age bucket of a time for the deletion order: newer first, and a
/// missing time first of all (upstream's `afterOrZero`).
fn age_bucket(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    t.map_or(i64::MIN, |t| log_rank(t, now))
}

/// Where a pod stands in the order a ReplicaSet deletes pods: smaller
/// first. The fields are `ActivePodsWithRanks.Less`'s rules in order.
///
/// Upstream compares pairs, and its pair rule for ready times is not
/// transitive (times in the same power-of-two bucket are decided by uid,
/// equal times fall through to the next rules), which Go's sort tolerates
/// and Rust's sort rejects with a panic. One key per pod is a total order
/// that keeps every rule; within an age bucket the later rules and then
/// the uid decide.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeleteKey<'a> {
    /// 1. Unassigned before assigned.
    assigned: bool,
    /// 2. Pending < Unknown < Running.
    phase: i32,
    /// 3. Not ready before ready.
    ready: bool,
    /// 4. Lower pod-deletion-cost first.
    cost: i64,
    /// 5. Doubled up (more related pods on its node) first.
    crowding: Reverse<usize>,
    /// 6. Ready for less time first (only ready pods have one).
    ready_age: i64,
    /// 7. More container restarts first.
    restarts: Reverse<i64>,
    /// 8. Newer first.
    age: i64,
    /// A stable, arbitrary order for the rest.
    uid: &'a str,
}

/// The deletion key of `pod` with `crowding` active related pods on its node.
pub fn delete_key(pod: &Value, crowding: usize, now: DateTime<Utc>) -> DeleteKey<'_> {
    let ready = is_ready(pod);
    DeleteKey {
        assigned: !node_name(pod).is_empty(),
        phase: phase_ordinal(pod),
        ready,
        cost: deletion_cost(pod),
        crowding: Reverse(crowding),
        ready_age: if ready {
            age_bucket(ready_time(pod), now)
        } else {
            0
        },
        restarts: Reverse(max_restarts(pod)),
        age: age_bucket(parse_time(&pod["metadata"]["creationTimestamp"]), now),
        uid: pod["metadata"]["uid"].as_str().unwrap_or(""),
    }
}

/// The `diff` pods to delete from `pods`, preferring those upstream would:
/// unscheduled, pending, not ready, cheap, doubled up, briefly ready, often
/// restarted, new. `related` are the active pods of every ReplicaSet with the
/// same controller (for the doubled-up rank).
pub fn pods_to_delete<'a>(
    pods: &[&'a Value],
    related: &[&Value],
    diff: usize,
    now: DateTime<Utc>,
) -> Vec<&'a Value> {
    if diff >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| is_active(p)) {
        *on_node.entry(node_name(p)).or_default() += 1;
    }
    let mut keyed: Vec<(DeleteKey<'a>, &'a Value)> = pods
        .iter()
        .map(|p| {
            let crowding = on_node.get(node_name(p)).copied().unwrap_or(0);
            (delete_key(p, crowding, now), *p)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().take(diff).map(|(_, p)| p).collect()
}

/// The batch sizes in which `count` pods are created (`slowStartBatch`):
/// `initial` first, then twice the last, the rest in the final batch. A
/// template that cannot work fails once, not `count` times.
pub fn slow_start_batches(count: usize, initial: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = count;
    let mut size = initial.max(1).min(left);
    while size > 0 {
        sizes.push(size);
        left -= size;
        size = (2 * size).min(left);
    }
    sizes
}

/// The pod a ReplicaSet creates (`GetPodFromTemplate`): the template's
/// labels, annotations, finalizers and spec, `generateName` from the
/// ReplicaSet's name and a controller reference to it.
pub fn pod_from_template(rs: &Value) -> Value {
    let template = &rs["spec"]["template"];
    let tm = &template["metadata"];
    let mut meta = json!({
        "generateName": format!("{}-", rs["metadata"]["name"].as_str().unwrap_or("")),
        "namespace": rs["metadata"]["namespace"],
    });
    for f in ["labels", "annotations", "finalizers"] {
        if let Some(v) = tm.get(f).filter(|v| !v.is_null()) {
            meta[f] = v.clone();
        }
    }
    meta["ownerReferences"] = json!([controller_ref(rs, "apps/v1", "ReplicaSet")]);
    json!({"metadata": meta, "spec": template["spec"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time(&json!("2026-01-01T12:00:00Z")).unwrap_or_default()
    }

    struct P {
        name: &'static str,
        node: &'static str,
        phase: &'static str,
        ready: Option<&'static str>,
        created: &'static str,
        restarts: i64,
        cost: Option<&'static str>,
    }

    fn p(name: &'static str) -> P {
        P {
            name,
            node: "node1",
            phase: "Running",
            ready: Some("2026-01-01T10:00:00Z"),
            created: "2026-01-01T09:00:00Z",
            restarts: 0,
            cost: None,
        }
    }

    fn pod(p: &P) -> Value {
        let mut v = json!({
            "metadata": {"name": p.name, "uid": format!("uid-{}", p.name), "creationTimestamp": p.created},
            "spec": {"nodeName": p.node},
            "status": {"phase": p.phase, "containerStatuses": [{"restartCount": p.restarts}]}
        });
        if let Some(t) = p.ready {
            v["status"]["conditions"] =
                json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]);
        }
        if let Some(c) = p.cost {
            v["metadata"]["annotations"] = json!({DELETION_COST: c});
        }
        v
    }

    fn order(specs: Vec<P>) -> Vec<String> {
        let pods: Vec<Value> = specs.iter().map(pod).collect();
        let refs: Vec<&Value> = pods.iter().collect();
        let n = refs.len();
        // Ask for all but one so the ranking runs, then append the survivor.
        let mut out: Vec<String> = pods_to_delete(&refs, &refs, n - 1, now())
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect();
        for p in &pods {
            let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    #[test]
    fn unscheduled_then_pending_then_not_ready_go_first() {
        let got = order(vec![
            p("running-ready"),
            P {
                ready: None,
                ..p("running-not-ready")
            },
            P {
                phase: "Pending",
                ready: None,
                ..p("pending")
            },
            P {
                node: "",
                phase: "Pending",
                ready: None,
                ..p("unscheduled")
            },
            P {
                phase: "Unknown",
                ready: None,
                ..p("unknown")
            },
        ]);
        assert_eq!(
            got,
            vec![
                "unscheduled",
                "pending",
                "unknown",
                "running-not-ready",
                "running-ready"
            ]
        );
    }

    #[test]
    fn deletion_cost_then_ready_time_then_restarts_then_age() {
        let got = order(vec![
            P {
                cost: Some("10"),
                ..p("expensive")
            },
            // Ready for ~2h vs ~1m: the briefly ready one goes first.
            P {
                ready: Some("2026-01-01T11:59:00Z"),
                ..p("just-ready")
            },
            P {
                restarts: 5,
                ..p("crashy")
            },
            P {
                created: "2026-01-01T11:59:50Z",
                ..p("young")
            },
            p("steady"),
        ]);
        assert_eq!(
            got,
            vec!["just-ready", "crashy", "young", "steady", "expensive"]
        );
    }

    #[test]
    fn same_power_of_two_age_falls_back_to_uid() {
        // 10 s and 12 s old: same log2 bucket, so the uid decides.
        let got = order(vec![
            P {
                ready: None,
                created: "2026-01-01T11:59:50Z",
                ..p("b")
            },
            P {
                ready: None,
                created: "2026-01-01T11:59:48Z",
                ..p("a")
            },
        ]);
        assert_eq!(got, vec!["a", "b"]);
        // 10 s vs 1 h: clearly newer first.
        let got = order(vec![
            P {
                ready: None,
                created: "2026-01-01T11:00:00Z",
                ..p("a")
            },
            P {
                ready: None,
                created: "2026-01-01T11:59:50Z",
                ..p("b")
            },
        ]);
        assert_eq!(got, vec!["b", "a"]);
    }

    #[test]
    fn many_pods_ready_in_the_same_seconds_sort_in_one_order() {
        // A rollout's pods: ready and created within a few seconds of each
        // other, so their ages share buckets and often equal times. The pair
        // rule upstream uses is not transitive here; the order must be one
        // order whatever the input order (and must not panic).
        let ready = [
            "2026-01-01T11:59:58Z",
            "2026-01-01T11:59:57Z",
            "2026-01-01T11:59:59Z",
        ];
        let created = ["2026-01-01T11:59:56Z", "2026-01-01T11:59:55Z"];
        let pods: Vec<Value> = (0..63u64)
            .map(|i| {
                let mut v = pod(&P {
                    ready: Some(ready[(i % 3) as usize]),
                    created: created[(i % 2) as usize],
                    ..p("x")
                });
                // Uids in an order unrelated to the times.
                v["metadata"]["uid"] =
                    json!(format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
                v["metadata"]["name"] = json!(format!("p{i}"));
                v
            })
            .collect();
        let forward: Vec<&Value> = pods.iter().collect();
        let backward: Vec<&Value> = pods.iter().rev().collect();
        let names = |v: Vec<&Value>| -> Vec<String> {
            v.iter()
                .map(|p| p["metadata"]["name"].to_string())
                .collect()
        };
        for diff in [1, 13, 25, 38, 62] {
            let a = names(pods_to_delete(&forward, &forward, diff, now()));
            let b = names(pods_to_delete(&backward, &backward, diff, now()));
            assert_eq!(a, b, "diff {diff}");
            assert_eq!(a.len(), diff);
        }
        // The most recently ready bucket goes first: 1-2 s (bucket 30) before 3 s (31).
        let first = pods_to_delete(&forward, &forward, 1, now())[0];
        assert_ne!(
            first["status"]["conditions"][0]["lastTransitionTime"],
            "2026-01-01T11:59:57Z"
        );
    }

    #[test]
    fn creates_start_slow_and_double() {
        assert_eq!(slow_start_batches(50, 1), [1, 2, 4, 8, 16, 19]);
        assert_eq!(slow_start_batches(3, 1), [1, 2]);
        assert_eq!(slow_start_batches(1, 1), [1]);
        assert_eq!(slow_start_batches(10, 4), [4, 6]);
        assert!(slow_start_batches(0, 1).is_empty());
        assert_eq!(slow_start_batches(500, 1).iter().sum::<usize>(), 500);
    }

    #[test]
    fn doubled_up_pods_go_first() {
        let pods = [
            pod(&P {
                node: "n1",
                ..p("alone")
            }),
            pod(&P {
                node: "n2",
                ..p("crowded")
            }),
        ];
        let extra = pod(&P {
            node: "n2",
            ..p("other-rs-pod")
        });
        let refs: Vec<&Value> = pods.iter().collect();
        let related: Vec<&Value> = vec![&pods[0], &pods[1], &extra];
        let got = pods_to_delete(&refs, &related, 1, now());
        assert_eq!(got[0]["metadata"]["name"], "crowded");
    }

    #[test]
    fn availability_waits_min_ready_seconds() {
        let ready_at = |t: &str| json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": t}]}});
        assert!(is_available(&ready_at("2026-01-01T11:59:59Z"), 0, now()));
        assert!(!is_available(&ready_at("2026-01-01T11:59:59Z"), 5, now()));
        assert!(is_available(&ready_at("2026-01-01T11:59:50Z"), 5, now()));
        // No transition time: only available without minReadySeconds.
        let bare = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(is_available(&bare, 0, now()));
        assert!(!is_available(&bare, 5, now()));
        assert!(!is_available(&json!({"status": {}}), 0, now()));
    }

    #[test]
    fn activity() {
        assert!(is_active(&json!({"status": {"phase": "Pending"}})));
        assert!(!is_active(&json!({"status": {"phase": "Succeeded"}})));
        assert!(!is_active(&json!({"status": {"phase": "Failed"}})));
        assert!(!is_active(
            &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}})
        ));
    }

    #[test]
    fn pods_come_from_the_template() {
        let rs = json!({
            "metadata": {"name": "web-7d9c8b6f5", "namespace": "default", "uid": "rs-uid", "labels": {"rs": "label"}},
            "spec": {"template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": "7d9c8b6f5"}, "annotations": {"a": "b"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
            }}
        });
        assert_eq!(
            pod_from_template(&rs),
            json!({
                "metadata": {
                    "generateName": "web-7d9c8b6f5-",
                    "namespace": "default",
                    "labels": {"app": "web", "pod-template-hash": "7d9c8b6f5"},
                    "annotations": {"a": "b"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c8b6f5", "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true}]
                },
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
            })
        );
    }
}
