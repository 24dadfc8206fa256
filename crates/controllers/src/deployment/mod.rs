//! The Deployment controller: rolls Deployments out through ReplicaSets
//! (RollingUpdate within maxSurge/maxUnavailable, or Recreate), keeps
//! revisions, scales proportionally, reports status and conditions and
//! records Events. [`plan`] decides; this file wires caches and queue and
//! performs the writes.

pub mod hash;
pub mod plan;
mod quantity;
mod spew;
pub mod status;
pub mod util;

use crate::cache::{key_of, Informer, ObjKey};
use crate::events::{ObjectRef, Recorder};
use crate::owner::{self, claim, controller_of, controller_uid, Claim};
use crate::replicaset::write_options;
use crate::workload;
use crate::workqueue::{process_concurrently, SyncResult, WorkQueue};
use k1s_api::resource::lookup;
use k1s_api::selector::LabelSelector;
use k1s_api::ResourceInfo;
use k1s_apiserver::{Api, DeleteOptions};
use plan::{Action, Plan};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const COMPONENT: &str = "deployment-controller";
/// Deployments synced at once (`--concurrent-deployment-syncs`).
const WORKERS: usize = 5;

/// What the Deployment controller keeps of a pod: its owner and phase
/// (for Recreate's "old pods still running").
pub fn pod_phase_only(pod: Value) -> Value {
    let mut meta = Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "ownerReferences",
        "deletionTimestamp",
    ] {
        if let Some(v) = pod["metadata"].get(f) {
            meta.insert(f.into(), v.clone());
        }
    }
    json!({"metadata": meta, "status": {"phase": pod["status"]["phase"]}})
}

struct Controller {
    api: Api,
    d_r: &'static ResourceInfo,
    rs_r: &'static ResourceInfo,
    deployments: Arc<Informer>,
    rss: Arc<Informer>,
    pods: Arc<Informer>,
    recorder: Recorder,
}

/// Runs the controller until the store closes.
pub async fn run(api: Api) {
    let (Some(d_r), Some(rs_r), Some(pod_r)) = (
        lookup("apps", "deployments"),
        lookup("apps", "replicasets"),
        lookup("", "pods"),
    ) else {
        return;
    };
    let deployments = Informer::new(d_r, None);
    let rss = Informer::new(rs_r, None);
    let pods = Informer::new(pod_r, Some(pod_phase_only));
    let queue: WorkQueue<ObjKey> = WorkQueue::new();
    workload::queue_changes(&queue, &deployments, &rss, "Deployment");
    {
        let (queue, deployments, rss) = (queue.clone(), deployments.clone(), rss.clone());
        pods.on_change(Box::new(move |old, new| {
            // Recreate waits for old pods to go; their deletion wakes it.
            if let (Some(pod), None) = (old, new) {
                if let Some(key) = recreate_deployment_of(&deployments, &rss, pod) {
                    queue.add(key);
                }
            }
        }));
    }
    Informer::start_all(api.store(), &[&deployments, &rss, &pods]).await;
    let ctl = Arc::new(Controller {
        recorder: Recorder::new(api.clone(), COMPONENT),
        api,
        d_r,
        rs_r,
        deployments,
        rss,
        pods,
    });
    process_concurrently(queue, COMPONENT, WORKERS, move |key| {
        let ctl = ctl.clone();
        async move { ctl.sync(key).await }
    })
    .await;
}

/// The Recreate Deployment whose ReplicaSet controlled `pod`.
fn recreate_deployment_of(deployments: &Informer, rss: &Informer, pod: &Value) -> Option<ObjKey> {
    let c = controller_of(pod).filter(|c| c["kind"] == "ReplicaSet")?;
    let ns = owner::namespace(pod);
    let rs = rss.get(ns, c["name"].as_str()?)?;
    let dc = controller_of(&rs).filter(|c| c["kind"] == "Deployment")?;
    let d = deployments.get(ns, dc["name"].as_str()?)?;
    (d["spec"]["strategy"]["type"] == "Recreate").then(|| key_of(&d))
}

impl Controller {
    async fn sync(&self, (ns, name): ObjKey) -> SyncResult {
        let Some(d) = self.deployments.get(&ns, &name) else {
            return Ok(None);
        };
        let owned = self.claim_replica_sets(&d).await?;
        let uids: Vec<&str> = owned.iter().map(|rs| owner::uid(rs)).collect();
        let mut pod_phases: HashMap<String, Vec<String>> = HashMap::new();
        for pod in self.pods.list(Some(&ns)) {
            if let Some(c) = controller_uid(&pod).filter(|c| uids.contains(c)) {
                pod_phases
                    .entry(c.to_string())
                    .or_default()
                    .push(pod["status"]["phase"].as_str().unwrap_or("").to_string());
            }
        }
        let plan = plan::plan(plan::Input {
            deployment: &d,
            replica_sets: owned.iter().map(|rs| (**rs).clone()).collect(),
            pod_phases,
            now: chrono::Utc::now(),
        });
        self.execute(&d, plan).await
    }

    /// `getReplicaSetsForDeployment`: the ReplicaSets the Deployment
    /// controls, adopting matching orphans and releasing the ones that stopped matching.
    async fn claim_replica_sets(&self, d: &Value) -> Result<Vec<Arc<Value>>, String> {
        let ns = owner::namespace(d);
        let selector = LabelSelector::from_json(&d["spec"]["selector"]).map_err(|e| {
            format!(
                "deployment {ns}/{} has invalid label selector: {e}",
                owner::name(d)
            )
        })?;
        let deleting = owner::is_deleting(d);
        let mut owned = Vec::new();
        let mut adoptable: Option<bool> = None;
        for rs in self.rss.list(Some(ns)) {
            match claim(owner::uid(d), deleting, &selector, &rs) {
                Claim::Own => owned.push(rs),
                Claim::Adopt => {
                    if adoptable.is_none() {
                        adoptable = Some(workload::can_adopt(&self.api, self.d_r, d));
                    }
                    if adoptable == Some(true) {
                        let adopted = owner::with_owner(
                            &rs,
                            owner::controller_ref(d, "apps/v1", "Deployment"),
                        );
                        if let Some(rs) = self.write_owner_change(adopted).await? {
                            owned.push(rs);
                        }
                    }
                }
                Claim::Release => {
                    let released = owner::without_owners(&rs, &[owner::uid(d)]);
                    self.write_owner_change(released).await?;
                }
                Claim::Ignore => {}
            }
        }
        Ok(owned)
    }

    /// Writes a ReplicaSet whose ownerReferences changed; `None` when it
    /// changed or vanished meanwhile (its watch event brings us back).
    async fn write_owner_change(&self, rs: Value) -> Result<Option<Arc<Value>>, String> {
        let (ns, name) = (
            owner::namespace(&rs).to_string(),
            owner::name(&rs).to_string(),
        );
        match self
            .api
            .update(self.rs_r, Some(&ns), &name, rs, None, &write_options())
            .await
        {
            Ok(w) => {
                self.rss.observe(&w.object);
                Ok(self.rss.get(&ns, &name))
            }
            Err(e) if e.code == 409 || e.code == 404 => Ok(None),
            Err(e) => Err(e.message),
        }
    }

    fn d_ref(&self, d: &Value) -> ObjectRef {
        ObjectRef::of(self.d_r, d)
    }

    /// Performs the plan's writes in order, stopping at the first failure.
    async fn execute(&self, d: &Value, plan: Plan) -> SyncResult {
        let ns = owner::namespace(d);
        let mut written: HashMap<String, String> = HashMap::new();
        for action in plan.actions {
            match action {
                Action::CreateReplicaSet(rs) => {
                    if let Some(again) = self.create_replica_set(d, rs, &mut written).await? {
                        return Ok(Some(again));
                    }
                }
                Action::UpdateReplicaSet { mut rs, scaled } => {
                    let name = owner::name(&rs).to_string();
                    if let Some(rv) = written.get(&name) {
                        rs["metadata"]["resourceVersion"] = json!(rv);
                    }
                    let w = self
                        .api
                        .update(self.rs_r, Some(ns), &name, rs, None, &write_options())
                        .await
                        .map_err(|e| e.message)?;
                    self.rss.observe(&w.object);
                    written.insert(name.clone(), crate::cache::rv_of(&w.object).to_string());
                    if let Some((op, from, to)) = scaled {
                        self.recorder.normal(
                            self.d_ref(d),
                            "ScalingReplicaSet",
                            format!("Scaled {op} replica set {name} from {from} to {to}"),
                        );
                    }
                }
                Action::DeleteReplicaSet { name, uid } => {
                    let opts = DeleteOptions {
                        precondition_uid: Some(uid),
                        ..Default::default()
                    };
                    match self.api.delete(self.rs_r, Some(ns), &name, &opts).await {
                        Ok((obj, true)) => self.rss.observe_deleted(&obj),
                        Ok((obj, false)) => self.rss.observe(&obj),
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e.message),
                    }
                }
                Action::Event {
                    type_,
                    reason,
                    message,
                } => self.recorder.event(self.d_ref(d), type_, reason, message),
            }
        }
        // Like upstream's UpdateStatus: the revision annotation travels with
        // the status in one write of the status subresource.
        if plan.annotations.is_some() || plan.status.is_some() {
            let mut body = d.clone();
            if let Some(annotations) = plan.annotations {
                body["metadata"]["annotations"] = annotations;
            }
            if let Some(status) = plan.status {
                body["status"] = status;
            }
            self.write_status(body).await?;
        }
        match plan.error {
            Some(e) => Err(e),
            None => Ok(plan.recheck),
        }
    }

    /// Writes `d` with `status` through the status subresource.
    async fn replace_status(&self, d: &Value, status: Value) -> Result<(), String> {
        let mut body = d.clone();
        body["status"] = status;
        self.write_status(body).await
    }

    async fn write_status(&self, body: Value) -> Result<(), String> {
        let w = self
            .api
            .update(
                self.d_r,
                Some(owner::namespace(&body)),
                owner::name(&body),
                body.clone(),
                Some("status"),
                &write_options(),
            )
            .await
            .map_err(|e| e.message)?;
        self.deployments.observe(&w.object);
        Ok(())
    }

    /// Creates the new ReplicaSet (`getNewReplicaSet`'s create branch).
    /// Returns `Some(delay)` when the pass should stop and look again.
    async fn create_replica_set(
        &self,
        d: &Value,
        rs: Value,
        written: &mut HashMap<String, String>,
    ) -> Result<Option<Duration>, String> {
        let ns = owner::namespace(d);
        let name = owner::name(&rs).to_string();
        let replicas = util::replicas(&rs);
        match self
            .api
            .create(self.rs_r, Some(ns), rs, &write_options())
            .await
        {
            Ok(w) => {
                self.rss.observe(&w.object);
                written.insert(name.clone(), crate::cache::rv_of(&w.object).to_string());
                if replicas > 0 {
                    self.recorder.normal(
                        self.d_ref(d),
                        "ScalingReplicaSet",
                        format!("Scaled up replica set {name} from 0 to {replicas}"),
                    );
                }
                Ok(None)
            }
            Err(e) if e.reason == "AlreadyExists" => {
                if let Ok(existing) = self.api.get(self.rs_r, Some(ns), &name) {
                    self.rss.observe(&existing);
                    let ours = controller_uid(&existing) == Some(owner::uid(d))
                        && util::equal_ignore_hash(
                            &existing["spec"]["template"],
                            &d["spec"]["template"],
                        );
                    if ours {
                        // A slow cache: it is the new ReplicaSet; start over with it.
                        return Ok(Some(Duration::ZERO));
                    }
                }
                // A hash collision: bump collisionCount so the next name differs.
                let mut status = d["status"].clone();
                let n = status["collisionCount"].as_i64().unwrap_or(0);
                status["collisionCount"] = json!(n + 1);
                self.replace_status(d, status).await?;
                Err(e.message)
            }
            Err(e) if crate::replicaset::namespace_terminating(&e) => Err(e.message),
            Err(e) => {
                let msg = format!("Failed to create new replica set \"{name}\": {}", e.message);
                if util::progress_deadline(d).is_some() {
                    let mut s = d["status"].clone();
                    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
                    status::set_condition(
                        &mut s,
                        status::new_condition(
                            status::PROGRESSING,
                            "False",
                            status::FAILED_RS_CREATE,
                            &msg,
                            &now,
                        ),
                    );
                    let _ = self.replace_status(d, s).await;
                }
                self.recorder
                    .warning(self.d_ref(d), status::FAILED_RS_CREATE, msg.clone());
                Err(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_deletions_wake_recreate_deployments() {
        let deployments = Informer::new(lookup("apps", "deployments").expect("deployments"), None);
        let rss = Informer::new(lookup("apps", "replicasets").expect("rs"), None);
        deployments.observe(
            &json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
            "spec": {"strategy": {"type": "Recreate"}}}),
        );
        deployments.observe(
            &json!({"metadata": {"name": "api", "namespace": "default", "resourceVersion": "2"},
            "spec": {"strategy": {"type": "RollingUpdate"}}}),
        );
        for (rs, d) in [("web-1", "web"), ("api-1", "api")] {
            rss.observe(&json!({"metadata": {"name": rs, "namespace": "default", "resourceVersion": "3",
                "ownerReferences": [{"kind": "Deployment", "name": d, "uid": "x", "controller": true}]}}));
        }
        let pod = |rs: &str| {
            json!({"metadata": {"name": "p", "namespace": "default",
            "ownerReferences": [{"kind": "ReplicaSet", "name": rs, "uid": "y", "controller": true}]}})
        };
        assert_eq!(
            recreate_deployment_of(&deployments, &rss, &pod("web-1")),
            Some(("default".to_string(), "web".to_string()))
        );
        assert_eq!(
            recreate_deployment_of(&deployments, &rss, &pod("api-1")),
            None
        );
    }

    #[test]
    fn pods_are_reduced_to_owner_and_phase() {
        let pod = json!({"metadata": {"name": "p", "namespace": "n", "uid": "u", "labels": {"a": "b"}, "ownerReferences": [{"uid": "o"}]},
                         "spec": {"containers": []}, "status": {"phase": "Running", "podIP": "1.2.3.4"}});
        assert_eq!(
            pod_phase_only(pod),
            json!({"metadata": {"name": "p", "namespace": "n", "uid": "u", "ownerReferences": [{"uid": "o"}]}, "status": {"phase": "Running"}})
        );
    }
}
