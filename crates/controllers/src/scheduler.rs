//! The one-node scheduler: a pod without `spec.nodeName` that asks for the
//! default scheduler is bound to this node when the node fits it (its
//! nodeSelector matches the node's labels and it tolerates the node's
//! NoSchedule/NoExecute taints); otherwise it stays Pending with
//! `PodScheduled=False/Unschedulable` and a FailedScheduling Event worded
//! like kube-scheduler's.

use crate::events::{ObjectRef, Recorder};
use crate::informer;
use k1s_api::resource::lookup;
use k1s_apiserver::{objects, Api, WriteOptions};
use serde_json::{json, Value};
use std::collections::HashMap;

pub const COMPONENT: &str = "default-scheduler";

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

/// Runs forever: binds schedulable pods to `node_name`.
pub async fn run(api: Api, node_name: String) {
    let (Some(pods), Some(nodes)) = (lookup("", "pods"), lookup("", "nodes")) else {
        return;
    };
    let wake = informer::wake_on_changes(
        api.store(),
        &[pods.storage_prefix(), nodes.storage_prefix()],
    );
    let recorder = Recorder::new(api.clone(), COMPONENT);
    // The last FailedScheduling message per pod uid, so a retry that fails
    // the same way does not write again.
    let mut reported: HashMap<String, String> = HashMap::new();
    loop {
        wake.notified().await;
        let node = match api.get(nodes, None, &node_name) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("scheduler: node {node_name}: {}", e.message);
                continue;
            }
        };
        let all = match informer::list_values(api.store(), &pods.storage_prefix()) {
            Ok(all) => all,
            Err(e) => {
                tracing::error!("scheduler: listing pods: {e}");
                continue;
            }
        };
        let pending: Vec<&Value> = all.iter().filter(|p| wants_scheduling(p)).collect();
        reported.retain(|uid, _| pending.iter().any(|p| objects::meta_str(p, "uid") == uid));
        for pod in pending {
            let ns = objects::meta_str(pod, "namespace");
            let name = objects::name(pod);
            match fits(pod, &node) {
                Ok(()) => match api.bind_pod(ns, name, &node_name).await {
                    Ok(()) => recorder.normal(
                        ObjectRef::of(pods, pod),
                        "Scheduled",
                        format!("Successfully assigned {} to {node_name}", pod_key(pod)),
                    ),
                    Err(e) => tracing::debug!("scheduler: binding {}: {}", pod_key(pod), e.message),
                },
                Err(misfit) => {
                    let message = misfit.message();
                    let uid = objects::meta_str(pod, "uid").to_string();
                    if reported.get(&uid) == Some(&message) {
                        continue;
                    }
                    reported.insert(uid, message.clone());
                    mark_unschedulable(&api, pod, &message).await;
                    recorder.warning(ObjectRef::of(pods, pod), "FailedScheduling", message);
                }
            }
        }
    }
}

async fn mark_unschedulable(api: &Api, pod: &Value, message: &str) {
    let Some(pods) = lookup("", "pods") else {
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
    let ns = objects::meta_str(pod, "namespace").to_string();
    if let Err(e) = api
        .update(
            pods,
            Some(&ns),
            objects::name(pod),
            body,
            Some("status"),
            &opts,
        )
        .await
    {
        tracing::debug!("scheduler: status of {}: {}", pod_key(pod), e.message);
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
