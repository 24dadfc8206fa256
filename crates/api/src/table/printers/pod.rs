//! Pods: READY, the kubelet-style STATUS reason, RESTARTS with the time of
//! the last restart, and the wide IP/node/gates cells.

use super::{age, name, since, Row};
use crate::table::access::{arr_at, at, bool_at, int_at, str_at, time_at};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub fn row(pod: &Value, now: DateTime<Utc>) -> Row {
    let s = status(pod);
    let restarts = match s.last_restart {
        Some(t) if s.restarts != 0 => format!("{} ({} ago)", s.restarts, since(Some(t), now)),
        _ => s.restarts.to_string(),
    };
    let phase = str_at(pod, &["status", "phase"]);
    let conditions = match phase {
        "Succeeded" => Some(completed(
            "Succeeded",
            "The pod has completed successfully.",
        )),
        "Failed" => Some(completed("Failed", "The pod failed.")),
        _ => None,
    };
    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    let ip = pod_ip(pod);
    Row {
        cells: vec![
            name(pod),
            format!("{}/{}", s.ready, s.total).into(),
            s.reason.into(),
            restarts.into(),
            age(pod, now),
            or_none(ip).into(),
            or_none(str_at(pod, &["spec", "nodeName"])).into(),
            or_none(str_at(pod, &["status", "nominatedNodeName"])).into(),
            readiness_gates(pod).into(),
        ],
        conditions,
    }
}

/// The first of `status.podIPs`; decoding fills that list from the legacy
/// `status.podIP` when it is empty.
pub(crate) fn pod_ip(pod: &Value) -> &str {
    match arr_at(pod, &["status", "podIPs"]).first() {
        Some(p) => str_at(p, &["ip"]),
        None => str_at(pod, &["status", "podIP"]),
    }
}

fn completed(reason: &str, message: &str) -> Value {
    json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}])
}

struct Status {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<DateTime<Utc>>,
}

/// A sidecar: an init container with `restartPolicy: Always`.
fn is_restartable(pod: &Value, container_name: &str) -> bool {
    arr_at(pod, &["spec", "initContainers"])
        .iter()
        .find(|c| str_at(c, &["name"]) == container_name)
        .is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
}

fn has_condition(pod: &Value, kind: &str) -> bool {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == kind && str_at(c, &["status"]) == "True")
}

/// The finish time of a container's last termination, if it has one.
fn last_termination(c: &Value) -> Option<Option<DateTime<Utc>>> {
    at(c, &["lastState", "terminated"])
        .filter(|t| t.is_object())
        .map(|t| time_at(t, &["finishedAt"]))
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `Signal:9` / `ExitCode:1` for a termination without a reason.
fn exit_reason(terminated: &Value) -> String {
    match int_at(terminated, &["signal"]) {
        0 => format!("ExitCode:{}", int_at(terminated, &["exitCode"])),
        sig => format!("Signal:{sig}"),
    }
}

/// The status logic of upstream `printPod`, step by step.
fn status(pod: &Value) -> Status {
    let spec_inits = arr_at(pod, &["spec", "initContainers"]);
    let total = arr_at(pod, &["spec", "containers"]).len()
        + spec_inits
            .iter()
            .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
            .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart = None;
    let mut sidecar_last_restart = None;

    let phase = str_at(pod, &["status", "phase"]);
    let mut reason = match str_at(pod, &["status", "reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    for c in arr_at(pod, &["status", "conditions"]) {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let mut initializing = false;
    for (i, c) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let restartable = is_restartable(pod, str_at(c, &["name"]));
        restarts += int_at(c, &["restartCount"]);
        if let Some(finished) = last_termination(c) {
            last_restart = later(last_restart, finished);
            if restartable {
                sidecar_last_restart = later(sidecar_last_restart, finished);
            }
        }
        if restartable {
            sidecar_restarts += int_at(c, &["restartCount"]);
        }
        let terminated = at(c, &["state", "terminated"]).filter(|t| t.is_object());
        let waiting = str_at(c, &["state", "waiting", "reason"]);
        match terminated {
            Some(t) if int_at(t, &["exitCode"]) == 0 => continue,
            _ if restartable && bool_at(c, &["started"]) => {
                if bool_at(c, &["ready"]) {
                    ready += 1;
                }
                continue;
            }
            Some(t) => {
                reason = match str_at(t, &["reason"]) {
                    "" => format!("Init:{}", exit_reason(t)),
                    r => format!("Init:{r}"),
                };
            }
            None if !waiting.is_empty() && waiting != "PodInitializing" => {
                reason = format!("Init:{waiting}");
            }
            None => reason = format!("Init:{i}/{}", spec_inits.len()),
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for c in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(c, &["restartCount"]);
            if let Some(finished) = last_termination(c) {
                last_restart = later(last_restart, finished);
            }
            let waiting = str_at(c, &["state", "waiting", "reason"]);
            let terminated = at(c, &["state", "terminated"]).filter(|t| t.is_object());
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = match str_at(t, &["reason"]) {
                    "" => exit_reason(t),
                    r => r.to_string(),
                };
            } else if bool_at(c, &["ready"])
                && at(c, &["state", "running"]).is_some_and(Value::is_object)
            {
                has_running = true;
                ready += 1;
            }
        }
        // Back to Running while a container still runs after another completed.
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = at(pod, &["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null());
    if deleting && str_at(pod, &["status", "reason"]) == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }
    Status {
        ready,
        total,
        reason,
        restarts,
        last_restart,
    }
}

/// `trueConditions/gates`, or `<none>` without readiness gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let conditions = arr_at(pod, &["status", "conditions"]);
    let ready = gates
        .iter()
        .filter(|g| {
            let kind = str_at(g, &["conditionType"]);
            conditions
                .iter()
                .find(|c| str_at(c, &["type"]) == kind)
                .is_some_and(|c| str_at(c, &["status"]) == "True")
        })
        .count();
    format!("{ready}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn pod(spec: Value, status: Value) -> Value {
        json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-11-23T07:00:00Z"},
            "spec": spec,
            "status": status,
        })
    }

    fn one() -> Value {
        json!({"containers": [{"name": "c"}]})
    }

    fn running(ready: bool, restarts: i64) -> Value {
        json!({"name": "c", "ready": ready, "restartCount": restarts, "started": true, "state": {"running": {"startedAt": "2026-11-23T07:00:00Z"}}})
    }

    /// READY, STATUS and RESTARTS of a pod.
    fn summary(p: &Value) -> (String, String, String) {
        let cells = row(p, now()).cells;
        let s = |i: usize| cells[i].as_str().unwrap().to_string();
        (s(1), s(2), s(3))
    }

    #[test]
    fn status_reasons() {
        let waiting = |reason: &str| json!({"name": "c", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason}}});
        let terminated = |t: Value| json!({"name": "c", "ready": false, "restartCount": 0, "state": {"terminated": t}});
        let init = json!({"initContainers": [{"name": "init"}], "containers": [{"name": "c"}]});
        let init_status = |state: Value| json!({"name": "init", "ready": false, "restartCount": 0, "state": state});
        let cases: Vec<(&str, Value, (&str, &str, &str))> = vec![
            (
                "running",
                pod(
                    one(),
                    json!({"phase": "Running", "containerStatuses": [running(true, 0)]}),
                ),
                ("1/1", "Running", "0"),
            ),
            (
                "not ready",
                pod(
                    one(),
                    json!({"phase": "Running", "containerStatuses": [running(false, 0)]}),
                ),
                ("0/1", "Running", "0"),
            ),
            (
                "pending",
                pod(one(), json!({"phase": "Pending"})),
                ("0/1", "Pending", "0"),
            ),
            ("no status", pod(one(), json!({})), ("0/1", "", "0")),
            (
                "image pull",
                pod(
                    one(),
                    json!({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull")]}),
                ),
                ("0/1", "ErrImagePull", "0"),
            ),
            (
                "crash loop",
                pod(
                    one(),
                    json!({"phase": "Running", "containerStatuses": [waiting("CrashLoopBackOff")]}),
                ),
                ("0/1", "CrashLoopBackOff", "0"),
            ),
            (
                "completed",
                pod(
                    one(),
                    json!({"phase": "Succeeded", "containerStatuses": [terminated(json!({"exitCode": 0, "reason": "Completed"}))]}),
                ),
                ("0/1", "Completed", "0"),
            ),
            (
                "error",
                pod(
                    one(),
                    json!({"phase": "Failed", "containerStatuses": [terminated(json!({"exitCode": 1, "reason": "Error"}))]}),
                ),
                ("0/1", "Error", "0"),
            ),
            (
                "exit code",
                pod(
                    one(),
                    json!({"phase": "Failed", "containerStatuses": [terminated(json!({"exitCode": 137}))]}),
                ),
                ("0/1", "ExitCode:137", "0"),
            ),
            (
                "signal",
                pod(
                    one(),
                    json!({"phase": "Failed", "containerStatuses": [terminated(json!({"exitCode": 143, "signal": 15}))]}),
                ),
                ("0/1", "Signal:15", "0"),
            ),
            (
                "evicted",
                pod(one(), json!({"phase": "Failed", "reason": "Evicted"})),
                ("0/1", "Evicted", "0"),
            ),
            (
                "gated",
                pod(
                    one(),
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                ("0/1", "SchedulingGated", "0"),
            ),
            (
                "init running",
                pod(
                    init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [init_status(json!({"running": {}}))]}),
                ),
                ("0/1", "Init:0/1", "0"),
            ),
            (
                "init initializing",
                pod(
                    init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [init_status(json!({"waiting": {"reason": "PodInitializing"}}))]}),
                ),
                ("0/1", "Init:0/1", "0"),
            ),
            (
                "init pull",
                pod(
                    init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [init_status(json!({"waiting": {"reason": "ImagePullBackOff"}}))]}),
                ),
                ("0/1", "Init:ImagePullBackOff", "0"),
            ),
            (
                "init error",
                pod(
                    init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [init_status(json!({"terminated": {"exitCode": 1, "reason": "Error"}}))]}),
                ),
                ("0/1", "Init:Error", "0"),
            ),
            (
                "init exit",
                pod(
                    init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [init_status(json!({"terminated": {"exitCode": 2}}))]}),
                ),
                ("0/1", "Init:ExitCode:2", "0"),
            ),
            (
                "init signal",
                pod(
                    init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [init_status(json!({"terminated": {"exitCode": 2, "signal": 9}}))]}),
                ),
                ("0/1", "Init:Signal:9", "0"),
            ),
            (
                "init done",
                pod(
                    init.clone(),
                    json!({"phase": "Running", "initContainerStatuses": [init_status(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))], "containerStatuses": [running(true, 0)]}),
                ),
                ("1/1", "Running", "0"),
            ),
            (
                "second init",
                pod(
                    json!({"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "c"}]}),
                    json!({"phase": "Pending", "initContainerStatuses": [
                        {"name": "a", "state": {"terminated": {"exitCode": 0}}},
                        {"name": "b", "state": {"running": {}}}
                    ]}),
                ),
                ("0/1", "Init:1/2", "0"),
            ),
            (
                "terminating",
                json!({"metadata": {"name": "p", "deletionTimestamp": "2026-11-23T07:59:00Z"}, "spec": one(), "status": {"phase": "Running", "containerStatuses": [running(true, 0)]}}),
                ("1/1", "Terminating", "0"),
            ),
            (
                "finished while deleting",
                json!({"metadata": {"name": "p", "deletionTimestamp": "2026-11-23T07:59:00Z"}, "spec": one(), "status": {"phase": "Succeeded", "containerStatuses": [terminated(json!({"exitCode": 0, "reason": "Completed"}))]}}),
                ("0/1", "Completed", "0"),
            ),
            (
                "node lost",
                json!({"metadata": {"name": "p", "deletionTimestamp": "2026-11-23T07:59:00Z"}, "spec": one(), "status": {"phase": "Running", "reason": "NodeLost"}}),
                ("0/1", "Unknown", "0"),
            ),
        ];
        for (what, p, (ready, status, restarts)) in cases {
            assert_eq!(
                summary(&p),
                (ready.to_string(), status.to_string(), restarts.to_string()),
                "{what}"
            );
        }
    }

    #[test]
    fn completed_container_next_to_a_running_one() {
        let two = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let statuses = json!([
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]);
        let ready = pod(
            two.clone(),
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": statuses}),
        );
        assert_eq!(
            summary(&ready),
            ("1/2".into(), "Running".into(), "0".into())
        );
        let not_ready = pod(
            two,
            json!({"phase": "Running", "containerStatuses": statuses}),
        );
        assert_eq!(
            summary(&not_ready),
            ("1/2".into(), "NotReady".into(), "0".into())
        );
    }

    #[test]
    fn restarts_show_when_the_last_one_happened() {
        let crash = |finished: Option<&str>| {
            let mut c = json!({"name": "c", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}});
            if let Some(f) = finished {
                c["lastState"] =
                    json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": f}});
            }
            pod(one(), json!({"phase": "Running", "containerStatuses": [c]}))
        };
        assert_eq!(
            summary(&crash(Some("2026-11-23T07:58:00Z"))).2,
            "3 (2m ago)"
        );
        assert_eq!(
            summary(&crash(Some("2026-11-23T07:59:55Z"))).2,
            "3 (5s ago)"
        );
        assert_eq!(summary(&crash(None)).2, "3");
        let fresh = pod(
            one(),
            json!({"phase": "Running", "containerStatuses": [{
                "name": "c", "ready": true, "restartCount": 0, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 0, "finishedAt": "2026-11-23T07:00:00Z"}}
            }]}),
        );
        assert_eq!(summary(&fresh).2, "0");
    }

    #[test]
    fn sidecars_count_as_containers() {
        let spec = json!({"initContainers": [{"name": "init"}, {"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "c"}]});
        let status = json!({
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [
                {"name": "init", "restartCount": 1, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-23T07:10:00Z"}}},
                {"name": "proxy", "ready": true, "started": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-23T07:50:00Z"}}}
            ],
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 1, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-23T07:40:00Z"}}}]
        });
        // Regular init containers' restarts stop counting once the pod runs.
        assert_eq!(
            summary(&pod(spec, status)),
            ("2/2".into(), "Running".into(), "3 (10m ago)".into())
        );
    }

    #[test]
    fn wide_cells_and_conditions() {
        let p = json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-11-23T07:00:00Z"},
            "spec": {"nodeName": "node1", "containers": [{"name": "c"}], "readinessGates": [{"conditionType": "x"}, {"conditionType": "y"}, {"conditionType": "z"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.9", "nominatedNodeName": "node2",
                       "conditions": [{"type": "x", "status": "True"}, {"type": "y", "status": "False"}],
                       "containerStatuses": [running(true, 0)]}
        });
        let r = row(&p, now());
        assert_eq!(
            r.cells,
            vec![
                json!("p"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("60m"),
                json!("10.244.0.9"),
                json!("node1"),
                json!("node2"),
                json!("1/3")
            ]
        );
        assert!(r.conditions.is_none());
        let done = row(&pod(one(), json!({"phase": "Succeeded"})), now());
        assert_eq!(
            done.conditions,
            Some(
                json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
            )
        );
        let failed = row(&pod(one(), json!({"phase": "Failed"})), now());
        assert_eq!(failed.conditions.unwrap()[0]["message"], "The pod failed.");
        let ips = pod(
            one(),
            json!({"podIP": "10.0.0.1", "podIPs": [{"ip": "10.244.0.7"}, {"ip": "fd00::7"}]}),
        );
        assert_eq!(row(&ips, now()).cells[5], json!("10.244.0.7"));
    }
}
