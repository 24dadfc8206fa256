//! The pod phase from its container statuses: the kubelet's `getPhase`
//! (v1.32), with sidecars (restartable init containers) handled apart from
//! regular init containers.
//!
//! Inputs are the pod and the API container statuses of its init and
//! regular containers together (`state.running|terminated|waiting`,
//! `lastState.terminated`, `started`); `pod_is_terminal` is the kubelet's
//! decision that the pod will not run again (e.g. it was deleted or
//! evicted), which turns "all stopped" into Succeeded/Failed whatever the
//! restart policy. (k1s has no static pods, which never get a terminal
//! phase here in the kubelet.)

use serde_json::Value;

use super::{items, text};

/// The phase names.
pub const PENDING: &str = "Pending";
pub const RUNNING: &str = "Running";
pub const SUCCEEDED: &str = "Succeeded";
pub const FAILED: &str = "Failed";

fn status_of<'a>(statuses: &'a [Value], name: &str) -> Option<&'a Value> {
    statuses.iter().find(|s| text(s, "name") == name)
}

fn is_restartable_init(container: &Value) -> bool {
    text(container, "restartPolicy") == "Always"
}

fn has(state: &Value, key: &str) -> bool {
    state[key].is_object()
}

fn exit_code(terminated: &Value) -> i64 {
    terminated["exitCode"].as_i64().unwrap_or(0)
}

/// `HasAnyRegularContainerStarted`.
fn any_regular_container_started(pod: &Value, statuses: &[Value]) -> bool {
    items(&pod["spec"], "containers").iter().any(|c| {
        status_of(statuses, text(c, "name"))
            .is_some_and(|s| has(&s["state"], "running") || has(&s["state"], "terminated"))
    })
}

/// `getPhase`.
pub fn pod_phase(pod: &Value, statuses: &[Value], pod_is_terminal: bool) -> &'static str {
    let spec = &pod["spec"];
    let restart_policy = match text(spec, "restartPolicy") {
        "" => "Always",
        p => p,
    };
    let mut pending_regular_init = 0;
    let mut pending_sidecars = 0;
    let mut failed_initialization = 0;
    for c in items(spec, "initContainers")
        .iter()
        .filter(|c| !is_restartable_init(c))
    {
        let Some(s) = status_of(statuses, text(c, "name")) else {
            pending_regular_init += 1;
            continue;
        };
        let state = &s["state"];
        if has(state, "running") {
            pending_regular_init += 1;
        } else if has(state, "terminated") {
            if exit_code(&state["terminated"]) != 0 {
                failed_initialization += 1;
            }
        } else if has(state, "waiting") {
            if has(&s["lastState"], "terminated") {
                if exit_code(&s["lastState"]["terminated"]) != 0 {
                    failed_initialization += 1;
                }
            } else {
                pending_regular_init += 1;
            }
        } else {
            pending_regular_init += 1;
        }
    }

    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in items(spec, "initContainers")
        .iter()
        .filter(|c| is_restartable_init(c))
    {
        let Some(s) = status_of(statuses, text(c, "name")) else {
            unknown += 1;
            continue;
        };
        let state = &s["state"];
        if has(state, "running") {
            if !s["started"].as_bool().unwrap_or(false) {
                pending_sidecars += 1;
            }
            running += 1;
        } else if has(state, "terminated") {
            // A stopped sidecar does not count.
        } else if has(state, "waiting") {
            if !has(&s["lastState"], "terminated") {
                pending_sidecars += 1;
            }
        } else {
            pending_sidecars += 1;
            unknown += 1;
        }
    }
    for c in items(spec, "containers") {
        let Some(s) = status_of(statuses, text(c, "name")) else {
            unknown += 1;
            continue;
        };
        let state = &s["state"];
        if has(state, "running") {
            running += 1;
        } else if has(state, "terminated") {
            stopped += 1;
            if exit_code(&state["terminated"]) == 0 {
                succeeded += 1;
            }
        } else if has(state, "waiting") {
            if has(&s["lastState"], "terminated") {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }

    if failed_initialization > 0 && restart_policy == "Never" {
        return FAILED;
    }
    let initializing = pending_regular_init > 0
        || (pending_sidecars > 0 && !any_regular_container_started(pod, statuses));
    if initializing || waiting > 0 {
        return PENDING;
    }
    if running > 0 && unknown == 0 {
        return RUNNING;
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if pod_is_terminal {
            return if stopped == succeeded {
                SUCCEEDED
            } else {
                FAILED
            };
        }
        if restart_policy == "Always" {
            return RUNNING;
        }
        if stopped == succeeded {
            return SUCCEEDED;
        }
        if restart_policy == "Never" {
            return FAILED;
        }
        return RUNNING;
    }
    PENDING
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn running(name: &str) -> Value {
        json!({"name": name, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, "started": true})
    }
    fn running_unstarted(name: &str) -> Value {
        json!({"name": name, "state": {"running": {}}, "started": false})
    }
    fn terminated(name: &str, code: i64) -> Value {
        json!({"name": name, "state": {"terminated": {"exitCode": code}}})
    }
    fn waiting(name: &str) -> Value {
        json!({"name": name, "state": {"waiting": {"reason": "ContainerCreating"}}})
    }
    fn crashloop(name: &str, last_code: i64) -> Value {
        json!({"name": name, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"exitCode": last_code}}})
    }
    fn no_state(name: &str) -> Value {
        json!({"name": name, "state": {}})
    }

    fn pod(policy: &str, init: &[&str], sidecars: &[&str], containers: &[&str]) -> Value {
        let mut inits: Vec<Value> = init.iter().map(|n| json!({"name": n})).collect();
        inits.extend(
            sidecars
                .iter()
                .map(|n| json!({"name": n, "restartPolicy": "Always"})),
        );
        json!({"spec": {"restartPolicy": policy, "initContainers": inits,
               "containers": containers.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}})
    }

    /// The regular-container table of the kubelet's TestPodPhase.
    #[test]
    fn regular_containers() {
        let always = pod("Always", &[], &[], &["a", "b"]);
        let cases: Vec<(Vec<Value>, &str)> = vec![
            (vec![running("a"), running("b")], RUNNING),
            (vec![terminated("a", 0), terminated("b", 0)], RUNNING),
            (vec![terminated("a", 1), terminated("b", 1)], RUNNING),
            (vec![running("a"), terminated("b", 0)], RUNNING),
            (vec![running("a")], PENDING),
            (vec![running("a"), waiting("b")], PENDING),
            (vec![running("a"), crashloop("b", 1)], RUNNING),
            (vec![crashloop("a", 1), crashloop("b", 2)], RUNNING),
            (vec![running("a"), no_state("b")], PENDING),
            (vec![], PENDING),
        ];
        for (statuses, want) in cases {
            assert_eq!(pod_phase(&always, &statuses, false), want, "{statuses:?}");
        }
        let never = pod("Never", &[], &[], &["a", "b"]);
        assert_eq!(
            pod_phase(&never, &[terminated("a", 0), terminated("b", 0)], false),
            SUCCEEDED
        );
        assert_eq!(
            pod_phase(&never, &[terminated("a", 0), terminated("b", 1)], false),
            FAILED
        );
        assert_eq!(
            pod_phase(&never, &[running("a"), terminated("b", 1)], false),
            RUNNING
        );
        let on_failure = pod("OnFailure", &[], &[], &["a", "b"]);
        assert_eq!(
            pod_phase(
                &on_failure,
                &[terminated("a", 0), terminated("b", 0)],
                false
            ),
            SUCCEEDED
        );
        assert_eq!(
            pod_phase(&on_failure, &[terminated("a", 0), crashloop("b", 1)], false),
            RUNNING
        );
        // A terminal pod ends whatever the policy.
        assert_eq!(
            pod_phase(&always, &[terminated("a", 0), terminated("b", 0)], true),
            SUCCEEDED
        );
        assert_eq!(
            pod_phase(&always, &[terminated("a", 0), terminated("b", 137)], true),
            FAILED
        );
        // A missing policy is Always.
        let default = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(pod_phase(&default, &[terminated("a", 0)], false), RUNNING);
    }

    #[test]
    fn init_containers() {
        let p = pod("Always", &["init"], &[], &["a"]);
        assert_eq!(
            pod_phase(&p, &[running("init"), waiting("a")], false),
            PENDING
        );
        assert_eq!(
            pod_phase(&p, &[terminated("init", 0), running("a")], false),
            RUNNING
        );
        assert_eq!(
            pod_phase(&p, &[terminated("init", 1), waiting("a")], false),
            PENDING
        );
        assert_eq!(
            pod_phase(&p, &[crashloop("init", 1), waiting("a")], false),
            PENDING
        );
        assert_eq!(
            pod_phase(&p, &[waiting("init"), waiting("a")], false),
            PENDING
        );
        assert_eq!(pod_phase(&p, &[waiting("a")], false), PENDING);
        let never = pod("Never", &["init"], &[], &["a"]);
        assert_eq!(
            pod_phase(&never, &[terminated("init", 1), waiting("a")], false),
            FAILED
        );
        assert_eq!(
            pod_phase(&never, &[crashloop("init", 2), waiting("a")], false),
            FAILED
        );
        assert_eq!(
            pod_phase(&never, &[terminated("init", 0), terminated("a", 0)], false),
            SUCCEEDED
        );
        let on_failure = pod("OnFailure", &["init"], &[], &["a"]);
        assert_eq!(
            pod_phase(&on_failure, &[crashloop("init", 1), waiting("a")], false),
            PENDING
        );
    }

    #[test]
    fn sidecars() {
        let p = pod("Always", &[], &["side"], &["a"]);
        assert_eq!(
            pod_phase(&p, &[running_unstarted("side"), waiting("a")], false),
            PENDING
        );
        assert_eq!(
            pod_phase(&p, &[running("side"), running("a")], false),
            RUNNING
        );
        // A sidecar restarting after the pod initialized keeps it Running.
        assert_eq!(
            pod_phase(&p, &[running_unstarted("side"), running("a")], false),
            RUNNING
        );
        assert_eq!(
            pod_phase(&p, &[crashloop("side", 1), running("a")], false),
            RUNNING
        );
        assert_eq!(
            pod_phase(&p, &[no_state("side"), waiting("a")], false),
            PENDING
        );
        // Stopped sidecars do not hold back completion.
        let never = pod("Never", &[], &["side"], &["a"]);
        assert_eq!(
            pod_phase(
                &never,
                &[terminated("side", 137), terminated("a", 0)],
                false
            ),
            SUCCEEDED
        );
        assert_eq!(
            pod_phase(&never, &[running("side"), terminated("a", 0)], false),
            RUNNING
        );
        assert_eq!(pod_phase(&never, &[terminated("a", 0)], false), PENDING);
    }
}
