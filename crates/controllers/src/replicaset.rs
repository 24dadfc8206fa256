//! The ReplicaSet controller: keeps `spec.replicas` pods per ReplicaSet,
//! adopts matching orphans and releases pods that stopped matching, and
//! writes the status counts. Decisions are in [`pods`] and [`status`];
//! this file wires caches and queue and performs the writes.

pub mod pods;
pub mod status;

use crate::cache::{Informer, ObjKey};
use crate::events::{ObjectRef, Recorder};
use crate::owner::{self, claim, controller_of, Claim};
use crate::workload;
use crate::workqueue::{process_concurrently, SyncResult, WorkQueue};
use k1s_api::resource::lookup;
use k1s_api::selector::LabelSelector;
use k1s_api::{ApiError, ResourceInfo};
use k1s_apiserver::{Api, DeleteOptions, WriteOptions};
use serde_json::{Map, Value};
use status::ManageError;
use std::sync::Arc;

/// Conflicting writes an adoption retries before it goes back to the queue.
const ADOPT_ATTEMPTS: usize = 5;

/// Most pods created or deleted in one pass (upstream's burstReplicas).
const BURST: usize = 500;
/// The first batch of pod creates in a pass (upstream's SlowStartInitialBatchSize).
const SLOW_START_INITIAL_BATCH: usize = 1;
const COMPONENT: &str = "replicaset-controller";
/// ReplicaSets synced at once (`--concurrent-replicaset-syncs`).
const WORKERS: usize = 5;

pub(crate) fn write_options() -> WriteOptions {
    WriteOptions {
        field_manager: "kube-controller-manager".into(),
        ..Default::default()
    }
}

/// What the ReplicaSet controller keeps of a pod: enough to claim, rank
/// and count it.
pub fn slim_pod(pod: Value) -> Value {
    let mut out = Map::new();
    if let Some(m) = pod["metadata"].as_object() {
        let mut meta = m.clone();
        meta.remove("managedFields");
        // Only the deletion cost matters among annotations (and they can be large).
        let cost = m
            .get("annotations")
            .and_then(|a| a.get("controller.kubernetes.io/pod-deletion-cost"))
            .cloned();
        meta.remove("annotations");
        if let Some(c) = cost {
            meta.insert(
                "annotations".into(),
                serde_json::json!({"controller.kubernetes.io/pod-deletion-cost": c}),
            );
        }
        out.insert("metadata".into(), Value::Object(meta));
    }
    let node = pod["spec"]["nodeName"].clone();
    if !node.is_null() {
        out.insert("spec".into(), serde_json::json!({"nodeName": node}));
    }
    let st = &pod["status"];
    let mut status = Map::new();
    for f in ["phase", "conditions"] {
        if let Some(v) = st.get(f) {
            status.insert(f.into(), v.clone());
        }
    }
    if let Some(cs) = st["containerStatuses"].as_array() {
        let restarts: Vec<Value> = cs
            .iter()
            .map(|c| serde_json::json!({"restartCount": c["restartCount"]}))
            .collect();
        status.insert("containerStatuses".into(), Value::Array(restarts));
    }
    out.insert("status".into(), Value::Object(status));
    Value::Object(out)
}

struct Controller {
    api: Api,
    rs_r: &'static ResourceInfo,
    pod_r: &'static ResourceInfo,
    rss: Arc<Informer>,
    pods: Arc<Informer>,
    recorder: Recorder,
}

/// Runs the controller until the store closes.
pub async fn run(api: Api) {
    let (Some(rs_r), Some(pod_r)) = (lookup("apps", "replicasets"), lookup("", "pods")) else {
        return;
    };
    let rss = Informer::new(rs_r, None);
    let pods = Informer::new(pod_r, Some(slim_pod));
    let queue: WorkQueue<ObjKey> = WorkQueue::new();
    workload::queue_changes(&queue, &rss, &pods, "ReplicaSet");
    Informer::start_all(api.store(), &[&rss, &pods]).await;
    let ctl = Arc::new(Controller {
        recorder: Recorder::new(api.clone(), COMPONENT),
        api,
        rs_r,
        pod_r,
        rss,
        pods,
    });
    process_concurrently(queue, COMPONENT, WORKERS, move |key| {
        let ctl = ctl.clone();
        async move { ctl.sync(key).await }
    })
    .await;
}

fn is_conflict(e: &ApiError) -> bool {
    e.code == 409
}

/// A create refused because the namespace is being deleted (the
/// `NamespaceTerminating` status cause): nothing to report, it will go.
pub(crate) fn namespace_terminating(e: &ApiError) -> bool {
    e.details
        .as_ref()
        .and_then(|d| d["causes"].as_array())
        .is_some_and(|c| c.iter().any(|c| c["reason"] == "NamespaceTerminating"))
}

impl Controller {
    fn rs_ref(&self, rs: &Value) -> ObjectRef {
        ObjectRef::of(self.rs_r, rs)
    }

    async fn sync(&self, (ns, name): ObjKey) -> SyncResult {
        let Some(rs) = self.rss.get(&ns, &name) else {
            return Ok(None);
        };
        let selector = match LabelSelector::from_json(&rs["spec"]["selector"]) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(namespace = %ns, replicaset = %name, "invalid selector: {e}");
                return Ok(None);
            }
        };
        let now = chrono::Utc::now();
        let now_text = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let deleting = owner::is_deleting(&rs);
        let mut owned: Vec<Arc<Value>> = Vec::new();
        let mut adoptable: Option<bool> = None;
        for pod in self.pods.list(Some(&ns)) {
            if !pods::is_active(&pod) {
                continue;
            }
            match claim(owner::uid(&rs), deleting, &selector, &pod) {
                Claim::Own => owned.push(pod),
                Claim::Adopt => {
                    if adoptable.is_none() {
                        adoptable = Some(workload::can_adopt(&self.api, self.rs_r, &rs));
                    }
                    if adoptable == Some(true) {
                        if let Some(p) = self.adopt(&rs, &pod).await? {
                            owned.push(p);
                        }
                    }
                }
                Claim::Release => self.release(&rs, &pod).await?,
                Claim::Ignore => {}
            }
        }
        let manage_error = if deleting {
            None
        } else {
            self.manage(&rs, &owned, now).await
        };
        let refs: Vec<&Value> = owned.iter().map(|p| p.as_ref()).collect();
        let new_status = status::calculate(&rs, &refs, manage_error.as_ref(), now, &now_text);
        if status::changed(&rs["status"], &new_status) {
            self.write_status(&rs, new_status.clone()).await?;
        }
        if let Some(e) = manage_error {
            return Err(e.message);
        }
        Ok(status::recheck_after(&rs, &new_status))
    }

    async fn adopt(&self, rs: &Value, pod: &Value) -> Result<Option<Arc<Value>>, String> {
        let ns = owner::namespace(pod);
        // The kubelet and the scheduler write pods all the time, and their
        // writes do not bring the ReplicaSet back: on a conflict, read the
        // pod again and retry here (upstream patches without a version).
        for _ in 0..ADOPT_ATTEMPTS {
            let Ok(fresh) = self.api.get(self.pod_r, Some(ns), owner::name(pod)) else {
                return Ok(None);
            };
            if controller_of(&fresh).is_some() || owner::uid(&fresh) != owner::uid(pod) {
                return Ok(None);
            }
            let adopted =
                owner::with_owner(&fresh, owner::controller_ref(rs, "apps/v1", "ReplicaSet"));
            match self.write_owners(adopted).await {
                Ok(()) => return Ok(self.pods.get(ns, owner::name(pod))),
                Err(e) if is_conflict(&e) => continue,
                Err(e) if e.code == 404 => return Ok(None),
                Err(e) => return Err(e.message),
            }
        }
        Err(format!(
            "adopting pod {}: it kept changing ({ADOPT_ATTEMPTS} conflicts)",
            owner::name(pod)
        ))
    }

    async fn release(&self, rs: &Value, pod: &Value) -> Result<(), String> {
        let ns = owner::namespace(pod);
        let Ok(fresh) = self.api.get(self.pod_r, Some(ns), owner::name(pod)) else {
            return Ok(());
        };
        if owner::controller_uid(&fresh) != Some(owner::uid(rs)) {
            return Ok(());
        }
        let released = owner::without_owners(&fresh, &[owner::uid(rs)]);
        match self.write_owners(released).await {
            Ok(()) => Ok(()),
            Err(e) if is_conflict(&e) || e.code == 404 => Ok(()),
            Err(e) => Err(e.message),
        }
    }

    /// Writes a pod whose ownerReferences changed and takes the answer
    /// into the cache.
    async fn write_owners(&self, pod: Value) -> Result<(), ApiError> {
        let (ns, name) = (
            owner::namespace(&pod).to_string(),
            owner::name(&pod).to_string(),
        );
        let w = self
            .api
            .update(self.pod_r, Some(&ns), &name, pod, None, &write_options())
            .await?;
        self.pods.observe(&w.object);
        Ok(())
    }

    /// Creates or deletes pods towards `spec.replicas`; returns what failed.
    async fn manage(
        &self,
        rs: &Value,
        owned: &[Arc<Value>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<ManageError> {
        let want = usize::try_from(status::spec_replicas(rs)).unwrap_or(0);
        let have = owned.len();
        if have < want {
            self.create_pods(rs, (want - have).min(BURST)).await
        } else if have > want {
            let related = self.related_pods(rs);
            let related_refs: Vec<&Value> = related.iter().map(|p| p.as_ref()).collect();
            let candidates: Vec<&Value> = owned.iter().map(|p| p.as_ref()).collect();
            let victims =
                pods::pods_to_delete(&candidates, &related_refs, (have - want).min(BURST), now);
            self.delete_pods(rs, &victims).await
        } else {
            None
        }
    }

    /// Creates `count` pods in slow-start batches (`slowStartBatch`): the
    /// pods of one batch at once, so their writes share commits, and each
    /// batch twice the last while they succeed; a failure ends the pass.
    async fn create_pods(&self, rs: &Value, count: usize) -> Option<ManageError> {
        let template = pods::pod_from_template(rs);
        let ns = owner::namespace(rs).to_string();
        for size in pods::slow_start_batches(count, SLOW_START_INITIAL_BATCH) {
            let mut batch = tokio::task::JoinSet::new();
            for _ in 0..size {
                let (api, pod_r) = (self.api.clone(), self.pod_r);
                let (template, ns) = (template.clone(), ns.clone());
                batch.spawn(async move {
                    api.create(pod_r, Some(&ns), template, &write_options())
                        .await
                });
            }
            let mut failure = None;
            while let Some(joined) = batch.join_next().await {
                let e = match joined {
                    Ok(Ok(w)) => {
                        self.pods.observe(&w.object);
                        self.recorder.normal(
                            self.rs_ref(rs),
                            "SuccessfulCreate",
                            format!("Created pod: {}", owner::name(&w.object)),
                        );
                        continue;
                    }
                    Ok(Err(e)) => e,
                    Err(e) => ApiError::internal(format!("creating a pod: {e}")),
                };
                if !namespace_terminating(&e) {
                    self.recorder.warning(
                        self.rs_ref(rs),
                        "FailedCreate",
                        format!("Error creating: {}", e.message),
                    );
                }
                failure.get_or_insert(ManageError {
                    reason: "FailedCreate",
                    message: e.message,
                });
            }
            if failure.is_some() {
                return failure;
            }
        }
        None
    }

    /// Deletes `victims` all at once, as upstream does.
    async fn delete_pods(&self, rs: &Value, victims: &[&Value]) -> Option<ManageError> {
        let mut batch = tokio::task::JoinSet::new();
        for pod in victims {
            let (api, pod_r) = (self.api.clone(), self.pod_r);
            let (ns, name) = (
                owner::namespace(pod).to_string(),
                owner::name(pod).to_string(),
            );
            let opts = DeleteOptions {
                precondition_uid: Some(owner::uid(pod).to_string()),
                ..Default::default()
            };
            batch.spawn(async move {
                let result = api.delete(pod_r, Some(&ns), &name, &opts).await;
                (name, result)
            });
        }
        let mut failure = None;
        while let Some(joined) = batch.join_next().await {
            let e = match joined {
                Ok((name, Ok((obj, done)))) => {
                    if done {
                        self.pods.observe_deleted(&obj);
                    } else {
                        self.pods.observe(&obj);
                    }
                    self.recorder.normal(
                        self.rs_ref(rs),
                        "SuccessfulDelete",
                        format!("Deleted pod: {name}"),
                    );
                    continue;
                }
                Ok((_, Err(e))) if e.code == 404 => continue,
                Ok((_, Err(e))) => e,
                Err(e) => ApiError::internal(format!("deleting a pod: {e}")),
            };
            self.recorder.warning(
                self.rs_ref(rs),
                "FailedDelete",
                format!("Error deleting: {}", e.message),
            );
            failure.get_or_insert(ManageError {
                reason: "FailedDelete",
                message: e.message,
            });
        }
        failure
    }

    /// Active pods of every ReplicaSet sharing `rs`'s controller (for the
    /// doubled-up rank); none for a ReplicaSet without a controller.
    fn related_pods(&self, rs: &Value) -> Vec<Arc<Value>> {
        let Some(controller) = owner::controller_uid(rs) else {
            return Vec::new();
        };
        let ns = owner::namespace(rs);
        let siblings: Vec<LabelSelector> = self
            .rss
            .list(Some(ns))
            .iter()
            .filter(|r| owner::controller_uid(r) == Some(controller))
            .filter_map(|r| LabelSelector::from_json(&r["spec"]["selector"]).ok())
            .collect();
        self.pods
            .list(Some(ns))
            .into_iter()
            .filter(|p| siblings.iter().any(|s| s.matches_object(p)))
            .collect()
    }

    /// Writes the status, re-reading once on a conflict (like upstream's
    /// `updateReplicaSetStatus`).
    async fn write_status(&self, rs: &Value, new_status: Value) -> Result<(), String> {
        let (ns, name) = (owner::namespace(rs), owner::name(rs));
        let mut current = rs.clone();
        for attempt in 0..2 {
            current["status"] = new_status.clone();
            match self
                .api
                .update(
                    self.rs_r,
                    Some(ns),
                    name,
                    current.clone(),
                    Some("status"),
                    &write_options(),
                )
                .await
            {
                Ok(w) => {
                    self.rss.observe(&w.object);
                    return Ok(());
                }
                Err(e) if e.code == 404 => return Ok(()),
                Err(e) if is_conflict(&e) && attempt == 0 => {
                    current = self
                        .api
                        .get(self.rs_r, Some(ns), name)
                        .map_err(|e| e.message)?;
                }
                Err(e) => return Err(e.message),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slim_pods_keep_what_ranking_needs() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "p", "uid": "u", "labels": {"a": "b"}, "managedFields": [{}],
                         "annotations": {"big": "x", "controller.kubernetes.io/pod-deletion-cost": "5"},
                         "ownerReferences": [{"uid": "o", "controller": true}]},
            "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "c", "restartCount": 2, "image": "i"}], "podIP": "10.0.0.1"}
        });
        assert_eq!(
            slim_pod(pod),
            json!({
                "metadata": {"name": "p", "uid": "u", "labels": {"a": "b"},
                             "ownerReferences": [{"uid": "o", "controller": true}],
                             "annotations": {"controller.kubernetes.io/pod-deletion-cost": "5"}},
                "spec": {"nodeName": "node1"},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"restartCount": 2}]}
            })
        );
    }

    #[test]
    fn recognises_terminating_namespaces() {
        let pods = lookup("", "pods").expect("pods");
        assert!(namespace_terminating(&ApiError::namespace_terminating(
            pods, "web-", "x"
        )));
        assert!(!namespace_terminating(&ApiError::forbidden("no")));
    }
}
