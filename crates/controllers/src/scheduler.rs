//! The one-node scheduler: a pod without `spec.nodeName` that asks for the
//! default scheduler is bound to this node when the node fits it (its
//! nodeSelector matches the node's labels and it tolerates the node's
//! NoSchedule/NoExecute taints); otherwise it stays Pending with
//! `PodScheduled=False/Unschedulable` and a FailedScheduling Event worded
//! like kube-scheduler's.

use crate::cache::{key_of, Informer, ObjKey};
use crate::events::{ObjectRef, Recorder};
use crate::workqueue::{process_concurrently, SyncResult, WorkQueue};
use k1s_api::resource::lookup;
use k1s_api::ResourceInfo;
use k1s_apiserver::{objects, Api, WriteOptions};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub const COMPONENT: &str = "default-scheduler";
/// Pods placed at once: kube-scheduler binds asynchronously, so a burst
/// of new pods is bound in a few shared commits, not one after another.
const BINDERS: usize = 16;

/// Why the node does not fit a pod, as kube-scheduler counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misfit {
    Selector,
    Taint { key: String, value: String },
    Unschedulable,
}

impl Misfit {
    fn reason(&self) -> String {
        match self {
            Misfit::Selector => "1 node(s) didn't match Pod's node affinity/selector".into(),
            Misfit::Taint { key, value } => {
                format!("1 node(s) had untolerated taint {{{key}: {value}}}")
            }
            Misfit::Unschedulable => "1 node(s) were unschedulable".into(),
        }
    }

    /// The FailedScheduling message for a one-node cluster.
    pub fn message(&self) -> String {
        format!(
            "0/1 nodes are available: {}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            self.reason()
        )
    }
}

/// Whether this scheduler should place `pod`.
pub fn wants_scheduling(pod: &Value) -> bool {
    let spec = &pod["spec"];
    spec["nodeName"].as_str().unwrap_or("").is_empty()
        && !objects::is_deleting(pod)
        && matches!(
            spec["schedulerName"].as_str(),
            None | Some("") | Some(COMPONENT)
        )
}

/// Pure: does `node` fit `pod`? `Ok(())` or the first reason it does not.
pub fn fits(pod: &Value, node: &Value) -> Result<(), Misfit> {
    if node["spec"]["unschedulable"].as_bool() == Some(true)
        && !tolerates(pod, "node.kubernetes.io/unschedulable", "", "NoSchedule")
    {
        return Err(Misfit::Unschedulable);
    }
    let labels = node["metadata"]["labels"].as_object();
    if let Some(selector) = pod["spec"]["nodeSelector"].as_object() {
        let matches = selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)).is_some_and(|have| have == v));
        if !matches {
            return Err(Misfit::Selector);
        }
    }
    for taint in node["spec"]["taints"].as_array().into_iter().flatten() {
        let effect = taint["effect"].as_str().unwrap_or("");
        if effect != "NoSchedule" && effect != "NoExecute" {
            continue;
        }
        let key = taint["key"].as_str().unwrap_or("");
        let value = taint["value"].as_str().unwrap_or("");
        if !tolerates(pod, key, value, effect) {
            return Err(Misfit::Taint {
                key: key.into(),
                value: value.into(),
            });
        }
    }
    Ok(())
}

/// The pod's tolerations against one taint (operator Equal/Exists, empty
/// key with Exists tolerates everything, empty effect matches all).
fn tolerates(pod: &Value, key: &str, value: &str, effect: &str) -> bool {
    pod["spec"]["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            let t_effect = t["effect"].as_str().unwrap_or("");
            if !t_effect.is_empty() && t_effect != effect {
                return false;
            }
            let t_key = t["key"].as_str().unwrap_or("");
            match t["operator"].as_str().unwrap_or("Equal") {
                "Exists" => t_key.is_empty() || t_key == key,
                _ => t_key == key && t["value"].as_str().unwrap_or("") == value,
            }
        })
}

fn pod_key(pod: &Value) -> String {
    format!(
        "{}/{}",
        objects::meta_str(pod, "namespace"),
        objects::name(pod)
    )
}

/// What the scheduler keeps of a pod: what [`fits`] and
/// [`wants_scheduling`] read, and what names it in an Event.
pub fn scheduling_view(pod: Value) -> Value {
    let pick = |from: &Value, fields: &[&str]| -> Value {
        let mut out = Map::new();
        for f in fields {
            if let Some(v) = from.get(*f) {
                out.insert((*f).into(), v.clone());
            }
        }
        Value::Object(out)
    };
    json!({
        "metadata": pick(&pod["metadata"], &["name", "namespace", "uid", "resourceVersion", "deletionTimestamp"]),
        "spec": pick(&pod["spec"], &["nodeName", "schedulerName", "nodeSelector", "tolerations"]),
    })
}

struct Scheduler {
    api: Api,
    pod_r: &'static ResourceInfo,
    node_name: String,
    pods: Arc<Informer>,
    nodes: Arc<Informer>,
    recorder: Recorder,
    /// The last FailedScheduling message per pod uid, so a retry that
    /// fails the same way does not write again.
    reported: Arc<Mutex<HashMap<String, String>>>,
}

fn lock(m: &Mutex<HashMap<String, String>>) -> MutexGuard<'_, HashMap<String, String>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs forever: binds schedulable pods to `node_name`. A pod waiting
/// for a node is queued whenever it changes, and every waiting pod when
/// the node changes (whether a pod fits depends on nothing else).
pub async fn run(api: Api, node_name: String) {
    let (Some(pod_r), Some(node_r)) = (lookup("", "pods"), lookup("", "nodes")) else {
        return;
    };
    let pods = Informer::new(pod_r, Some(scheduling_view));
    let nodes = Informer::new(node_r, None);
    let queue: WorkQueue<ObjKey> = WorkQueue::new();
    let reported: Arc<Mutex<HashMap<String, String>>> = Default::default();
    {
        let (queue, reported) = (queue.clone(), reported.clone());
        pods.on_change(Box::new(move |old, new| match new {
            Some(pod) if wants_scheduling(pod) => queue.add(key_of(pod)),
            // Bound, deleted or not ours: its report is history.
            _ => {
                if let Some(pod) = new.or(old) {
                    lock(&reported).remove(objects::meta_str(pod, "uid"));
                }
            }
        }));
    }
    {
        let (queue, pods, node_name) = (queue.clone(), pods.clone(), node_name.clone());
        nodes.on_change(Box::new(move |old, new| {
            if new.or(old).is_some_and(|n| objects::name(n) == node_name) {
                for pod in pods.list(None).iter().filter(|p| wants_scheduling(p)) {
                    queue.add(key_of(pod));
                }
            }
        }));
    }
    Informer::start_all(api.store(), &[&pods, &nodes]).await;
    let scheduler = Arc::new(Scheduler {
        recorder: Recorder::new(api.clone(), COMPONENT),
        api,
        pod_r,
        node_name,
        pods,
        nodes,
        reported,
    });
    process_concurrently(queue, COMPONENT, BINDERS, move |key| {
        let s = scheduler.clone();
        async move { s.schedule(key).await }
    })
    .await;
}

impl Scheduler {
    async fn schedule(&self, (ns, name): ObjKey) -> SyncResult {
        let Some(pod) = self.pods.get(&ns, &name).filter(|p| wants_scheduling(p)) else {
            return Ok(None);
        };
        // No node yet: its registration queues the pod again.
        let Some(node) = self.nodes.get("", &self.node_name) else {
            return Ok(None);
        };
        match fits(&pod, &node) {
            Ok(()) => match self.api.bind_pod(&ns, &name, &self.node_name).await {
                Ok(()) => {
                    self.recorder.normal(
                        ObjectRef::of(self.pod_r, &pod),
                        "Scheduled",
                        format!(
                            "Successfully assigned {} to {}",
                            pod_key(&pod),
                            self.node_name
                        ),
                    );
                    Ok(None)
                }
                // Gone or bound meanwhile: its watch event tells the rest.
                Err(e) if e.code == 404 || e.code == 409 => Ok(None),
                Err(e) => Err(format!("binding {}: {}", pod_key(&pod), e.message)),
            },
            Err(misfit) => {
                let message = misfit.message();
                let uid = objects::meta_str(&pod, "uid").to_string();
                if lock(&self.reported).insert(uid, message.clone()).as_ref() == Some(&message) {
                    return Ok(None);
                }
                mark_unschedulable(&self.api, &ns, &name, &message).await;
                self.recorder
                    .warning(ObjectRef::of(self.pod_r, &pod), "FailedScheduling", message);
                Ok(None)
            }
        }
    }
}

/// Sets `PodScheduled=False/Unschedulable` on the pod as it is now (the
/// status is written whole, so it is read fresh, not from the cache).
async fn mark_unschedulable(api: &Api, ns: &str, name: &str, message: &str) {
    let Some(pods) = lookup("", "pods") else {
        return;
    };
    let Ok(pod) = api.get(pods, Some(ns), name) else {
        return;
    };
    let mut body = objects::with_kind(pods, pod.clone());
    let condition = json!({
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": null,
        "lastTransitionTime": objects::now_rfc3339(),
        "reason": "Unschedulable",
        "message": message,
    });
    let mut conditions: Vec<Value> = body["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conditions.push(condition);
    body["status"]["conditions"] = Value::Array(conditions);
    if body["status"]["phase"].is_null() {
        body["status"]["phase"] = json!("Pending");
    }
    let opts = WriteOptions {
        field_manager: COMPONENT.into(),
        ..Default::default()
    };
    if let Err(e) = api
        .update(pods, Some(ns), name, body, Some("status"), &opts)
        .await
    {
        tracing::debug!("scheduler: status of {}: {}", pod_key(&pod), e.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": "node1", "labels": labels}, "spec": {"taints": taints}})
    }

    #[test]
    fn plain_pod_fits_untainted_node() {
        let pod = json!({"spec": {"containers": []}});
        assert_eq!(fits(&pod, &node(json!({"a": "b"}), json!(null))), Ok(()));
    }

    #[test]
    fn node_selector_must_match_labels() {
        let pod = json!({"spec": {"nodeSelector": {"disk": "ssd"}}});
        let err = fits(&pod, &node(json!({"disk": "hdd"}), json!(null))).unwrap_err();
        assert_eq!(err, Misfit::Selector);
        assert_eq!(
            err.message(),
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
        assert_eq!(
            fits(&pod, &node(json!({"disk": "ssd"}), json!(null))),
            Ok(())
        );
    }

    #[test]
    fn taints_need_tolerations() {
        let taints = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"},
                            {"key": "soft", "effect": "PreferNoSchedule"}]);
        let pod = json!({"spec": {}});
        assert_eq!(
            fits(&pod, &node(json!({}), taints.clone())).unwrap_err().message(),
            "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
        let equal = json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}});
        assert_eq!(fits(&equal, &node(json!({}), taints.clone())), Ok(()));
        let exists_all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        assert_eq!(fits(&exists_all, &node(json!({}), taints.clone())), Ok(()));
        let wrong_value = json!({"spec": {"tolerations": [{"key": "dedicated", "value": "web"}]}});
        assert!(fits(&wrong_value, &node(json!({}), taints)).is_err());
    }

    #[test]
    fn cordoned_node_is_unschedulable() {
        let mut n = node(json!({}), json!(null));
        n["spec"]["unschedulable"] = json!(true);
        assert_eq!(fits(&json!({"spec": {}}), &n), Err(Misfit::Unschedulable));
    }

    #[test]
    fn the_cached_view_keeps_what_scheduling_reads() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u", "resourceVersion": "7",
                         "labels": {"a": "b"}, "managedFields": [{}]},
            "spec": {"nodeSelector": {"disk": "ssd"}, "tolerations": [{"operator": "Exists"}],
                     "schedulerName": "default-scheduler", "containers": [{"name": "c"}]},
            "status": {"phase": "Pending"}
        });
        let view = scheduling_view(pod.clone());
        assert_eq!(
            view,
            json!({
                "metadata": {"name": "p", "namespace": "n", "uid": "u", "resourceVersion": "7"},
                "spec": {"schedulerName": "default-scheduler", "nodeSelector": {"disk": "ssd"},
                         "tolerations": [{"operator": "Exists"}]}
            })
        );
        let n = node(json!({"disk": "hdd"}), json!(null));
        assert_eq!(fits(&view, &n), fits(&pod, &n));
        assert_eq!(wants_scheduling(&view), wants_scheduling(&pod));
    }

    #[test]
    fn only_unbound_default_scheduler_pods_are_ours() {
        assert!(wants_scheduling(&json!({"metadata": {}, "spec": {}})));
        assert!(!wants_scheduling(
            &json!({"metadata": {}, "spec": {"nodeName": "n"}})
        ));
        assert!(!wants_scheduling(
            &json!({"metadata": {}, "spec": {"schedulerName": "other"}})
        ));
        assert!(!wants_scheduling(
            &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}})
        ));
    }
}
