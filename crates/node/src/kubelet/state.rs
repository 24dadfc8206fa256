//! What the kubelet knows about one pod's containers, in the shape of the
//! API's ContainerStatus, and the pure function that turns it into the
//! pod's `status` (conditions, phase, containerStatuses) like the kubelet's
//! generateAPIPodStatus.

use serde_json::{json, Map, Value};

/// A finished container instance (`state.terminated` / `lastState.terminated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: String,
    pub container_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        id: String,
        started_at: String,
    },
    Terminated(Terminated),
}

/// One container of the pod as the kubelet tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub name: String,
    /// The image as the pod spec names it.
    pub image: String,
    /// The resolved image (`docker.io/library/nginx@sha256:…`) once known.
    pub image_id: Option<String>,
    pub restart_count: u32,
    pub state: Phase,
    pub last: Option<Terminated>,
    pub ready: bool,
    /// Whether the startup probe (if any) has passed.
    pub started: bool,
}

impl ContainerRecord {
    pub fn new(name: &str, image: &str) -> ContainerRecord {
        ContainerRecord {
            name: name.to_string(),
            image: image.to_string(),
            image_id: None,
            restart_count: 0,
            state: Phase::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last: None,
            ready: false,
            started: false,
        }
    }

    pub fn running_id(&self) -> Option<&str> {
        match &self.state {
            Phase::Running { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, Phase::Running { .. })
    }

    pub fn succeeded(&self) -> bool {
        matches!(&self.state, Phase::Terminated(t) if t.exit_code == 0)
    }

    pub fn terminated(&self) -> Option<&Terminated> {
        match &self.state {
            Phase::Terminated(t) => Some(t),
            _ => None,
        }
    }
}

/// Everything the status is computed from.
#[derive(Debug, Clone, Default)]
pub struct PodView {
    pub host_ip: String,
    pub pod_ip: Option<String>,
    pub start_time: Option<String>,
    /// The sandbox (netns, IP, files) is in place.
    pub sandbox_ready: bool,
    pub init: Vec<ContainerRecord>,
    pub containers: Vec<ContainerRecord>,
    /// A terminal phase the kubelet decided (e.g. all containers done).
    pub terminal: Option<String>,
}

/// The pod's phase: the kubelet's getPhase over the container statuses
/// (crate::pod::phase); a terminal decision of the worker is final.
pub fn phase(pod: &Value, view: &PodView) -> &'static str {
    let statuses: Vec<Value> = view
        .init
        .iter()
        .chain(view.containers.iter())
        .map(container_status)
        .collect();
    match view.terminal.as_deref() {
        Some("Succeeded") => "Succeeded",
        Some(_) => "Failed",
        None => crate::pod::phase::pod_phase(pod, &statuses, false),
    }
}

fn terminated_json(t: &Terminated) -> Value {
    let mut v = json!({"exitCode": t.exit_code, "reason": t.reason});
    if let Some(s) = t.signal {
        v["signal"] = json!(s);
    }
    if let Some(m) = &t.message {
        v["message"] = json!(m);
    }
    v["startedAt"] = json!(t.started_at);
    v["finishedAt"] = json!(t.finished_at);
    if let Some(id) = &t.container_id {
        v["containerID"] = json!(format!("{}{id}", CONTAINER_ID_PREFIX));
    }
    v
}

/// containerStatuses[].containerID is `<runtime>://<id>`.
pub const CONTAINER_ID_PREFIX: &str = "k1s://";

pub fn container_status(c: &ContainerRecord) -> Value {
    let state = match &c.state {
        Phase::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        Phase::Running { started_at, .. } => json!({"running": {"startedAt": started_at}}),
        Phase::Terminated(t) => json!({"terminated": terminated_json(t)}),
    };
    let last = match &c.last {
        Some(t) => json!({"terminated": terminated_json(t)}),
        None => json!({}),
    };
    let mut v = json!({
        "name": c.name,
        "state": state,
        "lastState": last,
        "ready": c.ready,
        "restartCount": c.restart_count,
        "image": c.image,
        "imageID": c.image_id.clone().unwrap_or_default(),
        "started": c.is_running() && c.started,
    });
    let id = match &c.state {
        Phase::Running { id, .. } => Some(id.clone()),
        Phase::Terminated(t) => t.container_id.clone(),
        Phase::Waiting { .. } => None,
    };
    if let Some(id) = id {
        v["containerID"] = json!(format!("{CONTAINER_ID_PREFIX}{id}"));
    }
    v
}

fn condition(kind: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> Value {
    let mut c =
        json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null});
    if !ok {
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
    }
    c
}

fn names(list: &[&ContainerRecord]) -> String {
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    format!("[{}]", names.join(" "))
}

/// The pod's `status` for `view`, keeping `lastTransitionTime` of
/// conditions that did not change from `old_status`.
pub fn pod_status(pod: &Value, view: &PodView, old_status: &Value, now: &str) -> Value {
    let phase = phase(pod, view);
    let initialized = view.init.iter().all(ContainerRecord::succeeded);
    let unready: Vec<&ContainerRecord> = view.containers.iter().filter(|c| !c.ready).collect();
    let incomplete: Vec<&ContainerRecord> = view.init.iter().filter(|c| !c.succeeded()).collect();
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let containers_ready = unready.is_empty() && !terminal;
    let (ready_reason, ready_message) = if terminal {
        ("PodCompleted", None)
    } else if !initialized {
        (
            "ContainersNotInitialized",
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
        )
    } else {
        (
            "ContainersNotReady",
            Some(format!(
                "containers with unready status: {}",
                names(&unready)
            )),
        )
    };
    let init_cond = if terminal && initialized {
        condition("Initialized", true, None, None)
    } else {
        condition(
            "Initialized",
            initialized,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
        )
    };
    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            view.sandbox_ready && !terminal,
            None,
            None,
        ),
        init_cond,
        condition(
            "Ready",
            containers_ready,
            Some(ready_reason),
            ready_message.clone(),
        ),
        condition(
            "ContainersReady",
            containers_ready,
            Some(ready_reason),
            ready_message,
        ),
        condition("PodScheduled", true, None, None),
    ];
    let old_conditions = old_status["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &mut conditions {
        let previous = old_conditions
            .iter()
            .find(|o| o["type"] == c["type"] && o["status"] == c["status"]);
        let since = previous
            .and_then(|o| o["lastTransitionTime"].as_str())
            .unwrap_or(now);
        c["lastTransitionTime"] = json!(since);
    }
    let mut status = Map::new();
    status.insert("phase".into(), json!(phase));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("hostIP".into(), json!(view.host_ip));
    status.insert("hostIPs".into(), json!([{"ip": view.host_ip}]));
    if let Some(ip) = &view.pod_ip {
        status.insert("podIP".into(), json!(ip));
        status.insert("podIPs".into(), json!([{"ip": ip}]));
    }
    if let Some(t) = &view.start_time {
        status.insert("startTime".into(), json!(t));
    }
    if !view.init.is_empty() {
        status.insert(
            "initContainerStatuses".into(),
            Value::Array(view.init.iter().map(container_status).collect()),
        );
    }
    status.insert(
        "containerStatuses".into(),
        Value::Array(view.containers.iter().map(container_status).collect()),
    );
    if let Some(q) = old_status.get("qosClass") {
        status.insert("qosClass".into(), q.clone());
    }
    Value::Object(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(name: &str) -> ContainerRecord {
        ContainerRecord {
            state: Phase::Running {
                id: "abc".into(),
                started_at: "2026-11-23T10:00:00Z".into(),
            },
            ready: true,
            started: true,
            ..ContainerRecord::new(name, "nginx")
        }
    }

    fn exited(name: &str, code: i32) -> ContainerRecord {
        ContainerRecord {
            state: Phase::Terminated(Terminated {
                exit_code: code,
                signal: None,
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                message: None,
                started_at: Some("2026-11-23T10:00:00Z".into()),
                finished_at: "2026-11-23T10:00:01Z".into(),
                container_id: Some("abc".into()),
            }),
            ..ContainerRecord::new(name, "busybox")
        }
    }

    fn view(init: Vec<ContainerRecord>, containers: Vec<ContainerRecord>) -> PodView {
        PodView {
            host_ip: "192.168.56.10".into(),
            pod_ip: Some("10.244.0.5".into()),
            start_time: Some("2026-11-23T10:00:00Z".into()),
            sandbox_ready: true,
            init,
            containers,
            terminal: None,
        }
    }

    fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Value {
        let named =
            |names: &[&str]| -> Vec<Value> { names.iter().map(|n| json!({"name": n})).collect() };
        json!({"spec": {"restartPolicy": policy, "initContainers": named(init), "containers": named(containers)}})
    }

    #[test]
    fn phase_follows_the_kubelet_table() {
        let v = |c| view(vec![], c);
        let one = |policy| pod(policy, &[], &["a"]);
        assert_eq!(
            phase(&one("Always"), &v(vec![ContainerRecord::new("a", "x")])),
            "Pending"
        );
        assert_eq!(phase(&one("Always"), &v(vec![running("a")])), "Running");
        assert_eq!(phase(&one("Never"), &v(vec![exited("a", 0)])), "Succeeded");
        assert_eq!(phase(&one("Never"), &v(vec![exited("a", 1)])), "Failed");
        assert_eq!(
            phase(&one("OnFailure"), &v(vec![exited("a", 1)])),
            "Running"
        );
        assert_eq!(
            phase(&one("OnFailure"), &v(vec![exited("a", 0)])),
            "Succeeded"
        );
        assert_eq!(phase(&one("Always"), &v(vec![exited("a", 0)])), "Running");
        assert_eq!(
            phase(
                &pod("Never", &[], &["a", "b"]),
                &v(vec![exited("a", 0), running("b")])
            ),
            "Running"
        );
        assert_eq!(
            phase(
                &pod("Always", &["i"], &["a"]),
                &view(
                    vec![ContainerRecord::new("i", "x")],
                    vec![ContainerRecord::new("a", "x")]
                )
            ),
            "Pending"
        );
        assert_eq!(
            phase(
                &pod("Never", &["i"], &["a"]),
                &view(vec![exited("i", 2)], vec![ContainerRecord::new("a", "x")])
            ),
            "Failed"
        );
    }

    #[test]
    fn running_ready_pod_status() {
        let pod = pod("Always", &[], &["web"]);
        let s = pod_status(
            &pod,
            &view(vec![], vec![running("web")]),
            &json!({"qosClass": "BestEffort"}),
            "T1",
        );
        assert_eq!(s["phase"], "Running");
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        assert!(s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "True"));
        assert_eq!(s["podIP"], "10.244.0.5");
        assert_eq!(s["qosClass"], "BestEffort");
        assert_eq!(
            s["containerStatuses"][0],
            json!({"name": "web", "state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}},
                   "lastState": {}, "ready": true, "restartCount": 0, "image": "nginx", "imageID": "",
                   "started": true, "containerID": "k1s://abc"})
        );
    }

    #[test]
    fn unready_containers_are_named_and_transition_times_kept() {
        let pod = pod("Always", &[], &["web"]);
        let mut c = running("web");
        c.ready = false;
        let old = json!({"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "T0"}]});
        let s = pod_status(&pod, &view(vec![], vec![c]), &old, "T1");
        let ready = &s["conditions"][2];
        assert_eq!(ready["reason"], "ContainersNotReady");
        assert_eq!(ready["message"], "containers with unready status: [web]");
        assert_eq!(ready["lastTransitionTime"], "T0");
        assert_eq!(s["conditions"][0]["lastTransitionTime"], "T1");
    }

    #[test]
    fn crash_loop_shows_waiting_and_last_state() {
        let mut c = ContainerRecord::new("app", "busybox");
        c.restart_count = 2;
        c.state = Phase::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some("back-off 20s restarting failed container=app pod=p_default(u)".into()),
        };
        c.last = exited("app", 1).terminated().cloned();
        let s = container_status(&c);
        assert_eq!(s["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(s["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(s["lastState"]["terminated"]["containerID"], "k1s://abc");
        assert_eq!(s["started"], false);
        assert_eq!(
            phase(&pod("Always", &[], &["app"]), &view(vec![], vec![c])),
            "Running"
        );
    }
}
