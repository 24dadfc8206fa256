//! One pass of the Deployment controller as a pure function: from the
//! Deployment, the ReplicaSets it owns and the phases of their pods, the
//! writes upstream's `syncDeployment` would make, in order. The planner
//! runs upstream's algorithm (sync.go, rolling.go, recreate.go,
//! progress.go) on an in-memory model whose every "write" is recorded as
//! an [`Action`] and applied to the model, so later steps see it.

use super::hash::compute_hash;
use super::status::{self as st, get_condition, new_condition, remove_condition, set_condition};
use super::util::{
    annotation, by_creation, by_revision, equal_ignore_hash, is_rolling, is_saturated,
    max_revision, max_surge, max_unavailable, min_ready_seconds, new_rs_new_replicas,
    progress_deadline, proportion, replicas, replicas_annotations_need_update,
    revision_history_limit, set_annotation, set_new_rs_annotations, set_replicas,
    set_replicas_annotations, status_count, DESIRED_REPLICAS, HASH_LABEL, REVISION,
};
use crate::owner::{controller_ref, is_deleting, name, namespace, uid};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// A write (or event) the pass makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this ReplicaSet; when it has replicas, record ScalingReplicaSet.
    CreateReplicaSet(Value),
    /// Update this ReplicaSet (whole object); `scaled` is (up|down, from, to)
    /// for the ScalingReplicaSet event.
    UpdateReplicaSet {
        rs: Value,
        scaled: Option<(&'static str, i64, i64)>,
    },
    /// Delete an old ReplicaSet beyond revisionHistoryLimit.
    DeleteReplicaSet { name: String, uid: String },
    /// An Event about the Deployment.
    Event {
        type_: &'static str,
        reason: &'static str,
        message: String,
    },
}

/// Everything one pass decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// The Deployment's new `metadata.annotations` (revision), if changed.
    pub annotations: Option<Value>,
    /// The Deployment's new status, if changed.
    pub status: Option<Value>,
    /// Look at the Deployment again after this long (progress deadline).
    pub recheck: Option<Duration>,
    /// The pass stopped early; retry with back-off.
    pub error: Option<String>,
}

pub struct Input<'a> {
    pub deployment: &'a Value,
    /// The ReplicaSets the Deployment controls (after adoption).
    pub replica_sets: Vec<Value>,
    /// Phases of the pods controlled by each ReplicaSet, by its uid.
    pub pod_phases: HashMap<String, Vec<String>>,
    pub now: DateTime<Utc>,
}

/// Runs one `syncDeployment`.
pub fn plan(input: Input) -> Plan {
    let mut m = Model {
        d: input.deployment.clone(),
        original: input.deployment,
        rss: input.replica_sets,
        created: None,
        actions: Vec::new(),
        pod_phases: input.pod_phases,
        now: input.now,
        now_text: input.now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        recheck: None,
        error: None,
    };
    m.sync_deployment();
    m.finish()
}

struct Model<'a> {
    d: Value,
    original: &'a Value,
    rss: Vec<Value>,
    /// Index of a ReplicaSet this pass creates.
    created: Option<usize>,
    actions: Vec<Action>,
    pod_phases: HashMap<String, Vec<String>>,
    now: DateTime<Utc>,
    now_text: String,
    recheck: Option<Duration>,
    error: Option<String>,
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

impl Model<'_> {
    fn finish(self) -> Plan {
        let annotations = (self.d["metadata"]["annotations"]
            != self.original["metadata"]["annotations"])
            .then(|| self.d["metadata"]["annotations"].clone());
        let status =
            (self.d["status"] != self.original["status"]).then(|| self.d["status"].clone());
        Plan {
            actions: self.actions,
            annotations,
            status,
            recheck: self.recheck,
            error: self.error,
        }
    }

    fn desired(&self) -> i64 {
        replicas(&self.d)
    }

    fn refs(&self, idx: &[usize]) -> Vec<&Value> {
        idx.iter().map(|i| &self.rss[*i]).collect()
    }

    fn active(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter()
            .copied()
            .filter(|i| replicas(&self.rss[*i]) > 0)
            .collect()
    }

    fn event(&mut self, type_: &'static str, reason: &'static str, message: String) {
        self.actions.push(Action::Event {
            type_,
            reason,
            message,
        });
    }

    fn set_status_condition(&mut self, cond: Value) {
        set_condition(&mut self.d["status"], cond);
    }

    fn sync_deployment(&mut self) {
        if self.d["spec"]["selector"] == json!({}) {
            self.event(
                "Warning",
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            let generation = self.d["metadata"]["generation"].as_i64().unwrap_or(0);
            if status_count(&self.d, "observedGeneration") < generation {
                self.d["status"]["observedGeneration"] = json!(generation);
            }
            return;
        }
        if is_deleting(&self.d) {
            return self.sync_status_only();
        }
        self.check_paused_conditions();
        if self.d["spec"]["paused"].as_bool() == Some(true) {
            return self.sync();
        }
        if self.is_scaling_event() {
            return self.sync();
        }
        if is_rolling(&self.d) {
            self.rollout_rolling();
        } else {
            self.rollout_recreate();
        }
    }

    /// `FindNewReplicaSet`: the oldest ReplicaSet with the Deployment's template.
    fn find_new(&self) -> Option<usize> {
        let mut idx: Vec<usize> = (0..self.rss.len()).collect();
        idx.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let template = &self.d["spec"]["template"];
        idx.into_iter()
            .find(|i| equal_ignore_hash(&self.rss[*i]["spec"]["template"], template))
    }

    /// `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when
    /// asked and missing) and all others; keeps revisions and annotations current.
    fn get_all(&mut self, create: bool) -> (Option<usize>, Vec<usize>) {
        let new = self.find_new();
        let old: Vec<usize> = (0..self.rss.len()).filter(|i| Some(*i) != new).collect();
        let new_revision = max_revision(&self.refs(&old)) + 1;
        let deadline = progress_deadline(&self.d).is_some();
        if let Some(i) = new {
            let mut rs = self.rss[i].clone();
            let changed = set_new_rs_annotations(&self.d, &mut rs, new_revision, true);
            let min_ready = min_ready_seconds(&self.d);
            if changed || min_ready_seconds(&rs) != min_ready {
                set_min_ready_seconds(&mut rs, min_ready);
                self.write_rs(i, rs, None);
            }
            let revision = annotation(&self.rss[i], REVISION).unwrap_or("").to_string();
            set_annotation(&mut self.d, REVISION, &revision);
            if deadline && get_condition(&self.d["status"], st::PROGRESSING).is_none() {
                let msg = format!("Found new replica set {}", quoted(name(&self.rss[i])));
                let c = new_condition(
                    st::PROGRESSING,
                    "True",
                    st::FOUND_NEW_RS,
                    &msg,
                    &self.now_text,
                );
                self.set_status_condition(c);
            }
            return (Some(i), old);
        }
        if !create {
            return (None, old);
        }
        let rs = self.new_replica_set(new_revision, &old);
        let rs_name = name(&rs).to_string();
        self.rss.push(rs.clone());
        let i = self.rss.len() - 1;
        self.created = Some(i);
        self.actions.push(Action::CreateReplicaSet(rs));
        set_annotation(&mut self.d, REVISION, &new_revision.to_string());
        if deadline {
            let msg = format!("Created new replica set {}", quoted(&rs_name));
            let c = new_condition(
                st::PROGRESSING,
                "True",
                st::NEW_RS_CREATED,
                &msg,
                &self.now_text,
            );
            self.set_status_condition(c);
        }
        (Some(i), old)
    }

    /// The new ReplicaSet for the Deployment's template: named and labelled
    /// with the pod-template-hash, sized by `NewRSNewReplicas`.
    fn new_replica_set(&self, revision: i64, old: &[usize]) -> Value {
        let d = &self.d;
        let mut template = d["spec"]["template"].clone();
        let collisions = d["status"]["collisionCount"].as_i64();
        let hash = compute_hash(&template, collisions);
        template["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = d["spec"]["selector"].clone();
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let mut rs = json!({
            "metadata": {
                "name": format!("{}-{}", name(d), hash),
                "namespace": namespace(d),
                "labels": template["metadata"]["labels"],
                "ownerReferences": [controller_ref(d, "apps/v1", "Deployment")],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        });
        set_min_ready_seconds(&mut rs, min_ready_seconds(d));
        let mut all = self.refs(old);
        all.push(&rs);
        let n = new_rs_new_replicas(d, &all, &rs).unwrap_or(0);
        set_replicas(&mut rs, n);
        set_new_rs_annotations(d, &mut rs, revision, false);
        rs
    }

    /// Records a ReplicaSet write and applies it to the model.
    fn write_rs(&mut self, i: usize, mut rs: Value, scaled: Option<(&'static str, i64, i64)>) {
        if replicas(&rs) != replicas(&self.rss[i]) {
            // The API server bumps generation on spec changes.
            if let Some(g) = rs["metadata"]["generation"].as_i64() {
                rs["metadata"]["generation"] = json!(g + 1);
            }
        }
        self.rss[i] = rs.clone();
        if self.created == Some(i) {
            // Not created yet: create it in its final form.
            for a in &mut self.actions {
                if let Action::CreateReplicaSet(obj) = a {
                    if name(obj) == name(&rs) {
                        *obj = rs.clone();
                    }
                }
            }
            return;
        }
        self.actions.push(Action::UpdateReplicaSet { rs, scaled });
    }

    /// `scaleReplicaSet`: sets the size and the replicas annotations.
    fn scale_rs(&mut self, i: usize, to: i64, operation: &'static str) -> bool {
        let desired = self.desired();
        let max = desired + max_surge(&self.d);
        let from = replicas(&self.rss[i]);
        let resize = from != to;
        if !resize && !replicas_annotations_need_update(&self.rss[i], desired, max) {
            return false;
        }
        let mut rs = self.rss[i].clone();
        set_replicas(&mut rs, to);
        set_replicas_annotations(&mut rs, desired, max);
        self.write_rs(i, rs, resize.then_some((operation, from, to)));
        resize
    }

    /// `scaleReplicaSetAndRecordEvent`.
    fn scale_and_record(&mut self, i: usize, to: i64) -> bool {
        let from = replicas(&self.rss[i]);
        if from == to {
            return false;
        }
        self.scale_rs(i, to, if from < to { "up" } else { "down" })
    }

    fn check_paused_conditions(&mut self) {
        if progress_deadline(&self.d).is_none() {
            return;
        }
        let reason = get_condition(&self.d["status"], st::PROGRESSING)
            .and_then(|c| c["reason"].as_str())
            .unwrap_or("")
            .to_string();
        if reason == st::TIMED_OUT {
            return;
        }
        let paused = self.d["spec"]["paused"].as_bool() == Some(true);
        let paused_cond = reason == st::PAUSED;
        if paused && !paused_cond {
            let c = new_condition(
                st::PROGRESSING,
                "Unknown",
                st::PAUSED,
                "Deployment is paused",
                &self.now_text,
            );
            self.set_status_condition(c);
        } else if !paused && paused_cond {
            let c = new_condition(
                st::PROGRESSING,
                "Unknown",
                st::RESUMED,
                "Deployment is resumed",
                &self.now_text,
            );
            self.set_status_condition(c);
        }
    }

    /// `isScalingEvent`: an active ReplicaSet recorded a different desired size.
    fn is_scaling_event(&mut self) -> bool {
        let (new, old) = self.get_all(false);
        let mut all = old;
        all.extend(new);
        let desired = self.desired();
        self.active(&all).iter().any(|i| {
            annotation(&self.rss[*i], DESIRED_REPLICAS)
                .and_then(|s| s.parse::<i64>().ok())
                .is_some_and(|n| n != desired)
        })
    }

    /// `sync`: scaling (proportionally during a rollout) and paused Deployments.
    fn sync(&mut self) {
        let (new, old) = self.get_all(false);
        self.scale(new, &old);
        if self.d["spec"]["paused"].as_bool() == Some(true) {
            self.cleanup(&old);
        }
        let mut all = old;
        all.extend(new);
        self.sync_deployment_status(&all, new);
    }

    fn sync_status_only(&mut self) {
        let (new, old) = self.get_all(false);
        let mut all = old;
        all.extend(new);
        self.sync_deployment_status(&all, new);
    }

    /// `FindActiveOrLatest`: the one ReplicaSet with replicas (or the
    /// newest when none has any); `None` when several have.
    fn active_or_latest(&self, new: Option<usize>, old: &[usize]) -> Option<usize> {
        if new.is_none() && old.is_empty() {
            return None;
        }
        let mut olds = old.to_vec();
        olds.sort_by(|a, b| by_creation(&self.rss[*b], &self.rss[*a]));
        let mut all = olds.clone();
        all.extend(new);
        let active = self.active(&all);
        match active.len() {
            0 => new.or(olds.first().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    fn scale(&mut self, new: Option<usize>, old: &[usize]) {
        let desired = self.desired();
        if let Some(i) = self.active_or_latest(new, old) {
            if replicas(&self.rss[i]) != desired {
                self.scale_and_record(i, desired);
            }
            return;
        }
        if is_saturated(&self.d, new.map(|i| &self.rss[i])) {
            for i in self.active(old) {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if !is_rolling(&self.d) {
            return;
        }
        let mut ids = old.to_vec();
        ids.extend(new);
        let mut all = self.active(&ids);
        let total: i64 = all.iter().map(|i| replicas(&self.rss[*i])).sum();
        let allowed = if desired > 0 {
            desired + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - total;
        let operation = if to_add > 0 {
            // Larger first; among equals the newer.
            all.sort_by(|a, b| {
                replicas(&self.rss[*b])
                    .cmp(&replicas(&self.rss[*a]))
                    .then_with(|| by_creation(&self.rss[*b], &self.rss[*a]))
            });
            "up"
        } else if to_add < 0 {
            // Larger first; among equals the older.
            all.sort_by(|a, b| {
                replicas(&self.rss[*b])
                    .cmp(&replicas(&self.rss[*a]))
                    .then_with(|| by_creation(&self.rss[*a], &self.rss[*b]))
            });
            "down"
        } else {
            ""
        };
        let mut added = 0;
        let mut sizes = Vec::with_capacity(all.len());
        for i in &all {
            let rs = &self.rss[*i];
            if to_add != 0 {
                let p = proportion(rs, &self.d, to_add, added);
                sizes.push(replicas(rs) + p);
                added += p;
            } else {
                sizes.push(replicas(rs));
            }
        }
        for (k, i) in all.iter().enumerate() {
            let mut size = sizes[k];
            // The leftover goes to the largest ReplicaSet.
            if k == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_rs(*i, size, operation);
        }
    }

    fn rollout_rolling(&mut self) {
        let (new, old) = self.get_all(true);
        let Some(new) = new else {
            return;
        };
        let mut all = old.clone();
        all.push(new);
        let scaled_up = self.reconcile_new(&all, new);
        if self.error.is_some() {
            return;
        }
        if scaled_up {
            return self.sync_rollout_status(&all, Some(new));
        }
        let active_old = self.active(&old);
        if self.reconcile_old(&all, active_old, new) {
            if self.error.is_none() {
                self.sync_rollout_status(&all, Some(new));
            }
            return;
        }
        if st::complete(&self.d, &self.d["status"]) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(&all, Some(new));
    }

    fn reconcile_new(&mut self, all: &[usize], new: usize) -> bool {
        let desired = self.desired();
        let current = replicas(&self.rss[new]);
        if current == desired {
            return false;
        }
        if current > desired {
            return self.scale_and_record(new, desired);
        }
        match new_rs_new_replicas(&self.d, &self.refs(all), &self.rss[new]) {
            Ok(n) => self.scale_and_record(new, n),
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    fn reconcile_old(&mut self, all: &[usize], old: Vec<usize>, new: usize) -> bool {
        let old_pods: i64 = old.iter().map(|i| replicas(&self.rss[*i])).sum();
        if old_pods == 0 {
            return false;
        }
        let all_pods: i64 = all.iter().map(|i| replicas(&self.rss[*i])).sum();
        let min_available = self.desired() - max_unavailable(&self.d);
        let new_unavailable =
            replicas(&self.rss[new]) - status_count(&self.rss[new], "availableReplicas");
        // Scaling down must not drop below minAvailable, counting the new
        // ReplicaSet's unavailable pods against the budget.
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let (old, cleaned) = match self.cleanup_unhealthy(old, max_scaled_down) {
            Ok(x) => x,
            Err(e) => {
                self.error = Some(e);
                return true;
            }
        };
        let mut all = old.clone();
        all.push(new);
        let scaled = self.scale_down_old_for_rolling(&all, &old);
        cleaned + scaled > 0
    }

    /// Scales down old ReplicaSets' unavailable pods first (oldest first).
    fn cleanup_unhealthy(
        &mut self,
        mut old: Vec<usize>,
        max: i64,
    ) -> Result<(Vec<usize>, i64), String> {
        old.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let mut total = 0;
        for &i in &old {
            if total >= max {
                break;
            }
            let r = replicas(&self.rss[i]);
            let available = status_count(&self.rss[i], "availableReplicas");
            if r == 0 || r == available {
                continue;
            }
            let n = (max - total).min(r - available);
            let to = r - n;
            if to > r {
                return Err(format!(
                    "when cleaning up unhealthy replicas, got invalid request to scale down {}/{} {} -> {}",
                    namespace(&self.rss[i]),
                    name(&self.rss[i]),
                    r,
                    to
                ));
            }
            self.scale_and_record(i, to);
            total += n;
        }
        Ok((old, total))
    }

    /// Scales old ReplicaSets down (oldest first) while availability stays
    /// at or above minAvailable.
    fn scale_down_old_for_rolling(&mut self, all: &[usize], old: &[usize]) -> i64 {
        let min_available = self.desired() - max_unavailable(&self.d);
        let available: i64 = all
            .iter()
            .map(|i| status_count(&self.rss[*i], "availableReplicas"))
            .sum();
        if available <= min_available {
            return 0;
        }
        let mut old = old.to_vec();
        old.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let budget = available - min_available;
        let mut total = 0;
        for i in old {
            if total >= budget {
                break;
            }
            let r = replicas(&self.rss[i]);
            if r == 0 {
                continue;
            }
            let n = r.min(budget - total);
            self.scale_and_record(i, r - n);
            total += n;
        }
        total
    }

    fn rollout_recreate(&mut self) {
        let (mut new, mut old) = self.get_all(false);
        let mut all = old.clone();
        all.extend(new);
        let mut scaled_down = false;
        for i in self.active(&old) {
            scaled_down |= self.scale_and_record(i, 0);
        }
        if scaled_down || self.old_pods_running(new, &old) {
            return self.sync_rollout_status(&all, new);
        }
        if new.is_none() {
            (new, old) = self.get_all(true);
            all = old.clone();
            all.extend(new);
        }
        if let Some(n) = new {
            self.scale_and_record(n, self.desired());
        }
        if st::complete(&self.d, &self.d["status"]) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(&all, new);
    }

    /// `oldPodsRunning`: old ReplicaSets still report pods, or pods of
    /// theirs are not finished.
    fn old_pods_running(&self, new: Option<usize>, old: &[usize]) -> bool {
        let reported: i64 = old
            .iter()
            .map(|i| status_count(&self.rss[*i], "replicas"))
            .sum();
        if reported > 0 {
            return true;
        }
        let new_uid = new.map(|i| uid(&self.rss[i]).to_string());
        self.pod_phases.iter().any(|(rs_uid, phases)| {
            Some(rs_uid) != new_uid.as_ref()
                && phases.iter().any(|p| p != "Failed" && p != "Succeeded")
        })
    }

    /// `cleanupDeployment`: deletes the oldest empty ReplicaSets beyond
    /// revisionHistoryLimit.
    fn cleanup(&mut self, old: &[usize]) {
        let Some(limit) = revision_history_limit(&self.d) else {
            return;
        };
        let mut alive: Vec<usize> = old
            .iter()
            .copied()
            .filter(|i| !is_deleting(&self.rss[*i]))
            .collect();
        let diff = alive.len() as i64 - limit;
        if diff <= 0 {
            return;
        }
        alive.sort_by(|a, b| by_revision(&self.rss[*a], &self.rss[*b]));
        for i in alive.into_iter().take(usize::try_from(diff).unwrap_or(0)) {
            let rs = &self.rss[i];
            let generation = rs["metadata"]["generation"].as_i64().unwrap_or(0);
            if status_count(rs, "replicas") != 0
                || replicas(rs) != 0
                || generation > status_count(rs, "observedGeneration")
                || is_deleting(rs)
            {
                continue;
            }
            self.actions.push(Action::DeleteReplicaSet {
                name: name(rs).to_string(),
                uid: uid(rs).to_string(),
            });
        }
    }

    fn sync_deployment_status(&mut self, all: &[usize], new: Option<usize>) {
        let status = st::calculate(
            &self.refs(all),
            new.map(|i| &self.rss[i]),
            &self.d,
            &self.now_text,
        );
        self.d["status"] = status;
    }

    /// `syncRolloutStatus`: counts plus the Progressing condition.
    fn sync_rollout_status(&mut self, all: &[usize], new: Option<usize>) {
        let new_rs = new.map(|i| &self.rss[i]);
        let all_refs = self.refs(all);
        let mut status = st::calculate(&all_refs, new_rs, &self.d, &self.now_text);
        let deadline = progress_deadline(&self.d);
        if deadline.is_none() {
            remove_condition(&mut status, st::PROGRESSING);
        }
        let current = get_condition(&self.d["status"], st::PROGRESSING).cloned();
        let count = |s: &Value, f: &str| s[f].as_i64().unwrap_or(0);
        let is_complete = count(&status, "replicas") == count(&status, "updatedReplicas")
            && current
                .as_ref()
                .is_some_and(|c| c["reason"] == st::NEW_RS_AVAILABLE);
        if deadline.is_some() && !is_complete {
            let subject = match new_rs {
                Some(rs) => format!("ReplicaSet {}", quoted(name(rs))),
                None => format!("Deployment {}", quoted(name(&self.d))),
            };
            if st::complete(&self.d, &status) {
                let msg = format!("{subject} has successfully progressed.");
                let c = new_condition(
                    st::PROGRESSING,
                    "True",
                    st::NEW_RS_AVAILABLE,
                    &msg,
                    &self.now_text,
                );
                set_condition(&mut status, c);
            } else if st::progressing(&self.d, &status) {
                let msg = format!("{subject} is progressing.");
                let mut c = new_condition(
                    st::PROGRESSING,
                    "True",
                    st::RS_UPDATED,
                    &msg,
                    &self.now_text,
                );
                // Progress refreshes lastUpdateTime even with the same reason.
                if let Some(cur) = &current {
                    if cur["status"] == "True" {
                        c["lastTransitionTime"] = cur["lastTransitionTime"].clone();
                    }
                    remove_condition(&mut status, st::PROGRESSING);
                }
                set_condition(&mut status, c);
            } else if st::timed_out(deadline, &status, self.now) {
                let msg = format!("{subject} has timed out progressing.");
                let c = new_condition(
                    st::PROGRESSING,
                    "False",
                    st::TIMED_OUT,
                    &msg,
                    &self.now_text,
                );
                set_condition(&mut status, c);
            }
        }
        match st::replica_failures(&all_refs, new_rs).into_iter().next() {
            Some(f) => set_condition(&mut status, f),
            None => remove_condition(&mut status, st::REPLICA_FAILURE),
        }
        if status == self.d["status"] {
            self.recheck = self.stuck_recheck(&status);
            return;
        }
        self.d["status"] = status;
    }

    /// `requeueStuckDeployment`: when to check the progress deadline again.
    fn stuck_recheck(&self, status: &Value) -> Option<Duration> {
        let deadline = progress_deadline(&self.d)?;
        let cond = get_condition(&self.d["status"], st::PROGRESSING)?;
        if st::complete(&self.d, status) || cond["reason"] == st::TIMED_OUT {
            return None;
        }
        let last = st::parse_time(&cond["lastUpdateTime"])?;
        let after = (last + chrono::Duration::seconds(deadline) - self.now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        Some(if after < Duration::from_secs(1) {
            after + Duration::from_millis(10)
        } else {
            after + Duration::from_secs(1)
        })
    }
}

fn set_min_ready_seconds(rs: &mut Value, seconds: i64) {
    if seconds == 0 {
        if let Some(spec) = rs["spec"].as_object_mut() {
            spec.remove("minReadySeconds");
        }
    } else {
        rs["spec"]["minReadySeconds"] = json!(seconds);
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
