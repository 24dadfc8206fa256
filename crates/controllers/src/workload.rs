//! What the workload controllers share: each syncs "parent" objects
//! (Deployments, ReplicaSets) that control "child" objects (ReplicaSets,
//! pods) through controller ownerReferences. A change of a parent queues
//! it; a change of a child queues the parents it concerns.

use crate::cache::{key_of, Informer, ObjKey};
use crate::owner::{self, controller_of};
use crate::workqueue::WorkQueue;
use k1s_api::selector::LabelSelector;
use k1s_api::ResourceInfo;
use k1s_apiserver::Api;
use serde_json::Value;
use std::sync::Arc;

/// Wires `parents` and `children` to `queue`: every parent change queues
/// that parent, every child change the parents of kind `parent_kind` it
/// concerns ([`parents_to_wake`]).
pub fn queue_changes(
    queue: &WorkQueue<ObjKey>,
    parents: &Arc<Informer>,
    children: &Informer,
    parent_kind: &'static str,
) {
    let q = queue.clone();
    parents.on_change(Box::new(move |_old, new| {
        if let Some(p) = new {
            q.add(key_of(p));
        }
    }));
    let (q, parents) = (queue.clone(), parents.clone());
    children.on_change(Box::new(move |old, new| {
        for key in parents_to_wake(&parents, parent_kind, old, new) {
            q.add(key);
        }
    }));
}

/// The parents a child change concerns: its old and new controllers (when
/// they are the cached parents of that uid, `resolveControllerRef`), and
/// for an orphan whose labels or owner changed every parent in its
/// namespace whose selector matches it (it may be adopted).
pub fn parents_to_wake(
    parents: &Informer,
    parent_kind: &str,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Vec<ObjKey> {
    let mut keys: Vec<ObjKey> = Vec::new();
    let controller_key = |child: &Value| -> Option<ObjKey> {
        let c = controller_of(child).filter(|c| c["kind"] == parent_kind)?;
        let ns = owner::namespace(child);
        let parent = parents.get(ns, c["name"].as_str()?)?;
        (owner::uid(&parent) == c["uid"].as_str().unwrap_or("")).then(|| key_of(&parent))
    };
    for child in [old, new].into_iter().flatten() {
        if let Some(k) = controller_key(child) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    if let Some(child) = new {
        let labels_changed =
            old.is_none_or(|o| o["metadata"]["labels"] != child["metadata"]["labels"]);
        let owner_changed = old.is_none_or(|o| controller_of(o) != controller_of(child));
        if controller_of(child).is_none() && (labels_changed || owner_changed) {
            for p in parents.list(Some(owner::namespace(child))) {
                let matches = LabelSelector::from_json(&p["spec"]["selector"])
                    .is_ok_and(|s| !s.is_everything() && s.matches_object(child));
                let k = key_of(&p);
                if matches && !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    keys
}

/// `RecheckDeletionTimestamp`: adopt only for a parent that is still the
/// same object (uid) and not being deleted, read fresh from the API.
pub fn can_adopt(api: &Api, r: &'static ResourceInfo, parent: &Value) -> bool {
    match api.get(r, Some(owner::namespace(parent)), owner::name(parent)) {
        Ok(fresh) => owner::uid(&fresh) == owner::uid(parent) && !owner::is_deleting(&fresh),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_api::resource::lookup;
    use serde_json::json;

    fn replica_sets() -> Arc<Informer> {
        let rss = Informer::new(lookup("apps", "replicasets").expect("rs"), None);
        let rs = |name: &str, uid: &str, app: &str, rv: u64| {
            json!({"metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": rv.to_string()},
                   "spec": {"selector": {"matchLabels": {"app": app}}}})
        };
        rss.observe(&rs("web-1", "u1", "web", 1));
        rss.observe(&rs("web-2", "u2", "web", 2));
        rss.observe(&rs("db-1", "u3", "db", 3));
        rss
    }

    fn k(name: &str) -> ObjKey {
        ("default".to_string(), name.to_string())
    }

    #[test]
    fn a_child_wakes_its_controller() {
        let rss = replica_sets();
        let owned = json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": true}]}});
        assert_eq!(
            parents_to_wake(&rss, "ReplicaSet", None, Some(&owned)),
            vec![k("web-1")]
        );
        assert_eq!(
            parents_to_wake(&rss, "ReplicaSet", Some(&owned), None),
            vec![k("web-1")]
        );
        // Another kind of controller is not ours to wake.
        assert!(parents_to_wake(&rss, "Deployment", None, Some(&owned)).is_empty());
    }

    #[test]
    fn a_stale_controller_uid_wakes_nobody() {
        // The ReplicaSet was deleted and made again under the same name.
        let rss = replica_sets();
        let stale = json!({"metadata": {"name": "p", "namespace": "default",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "old", "controller": true}]}});
        assert!(parents_to_wake(&rss, "ReplicaSet", None, Some(&stale)).is_empty());
    }

    #[test]
    fn an_orphan_wakes_every_parent_that_selects_it() {
        let rss = replica_sets();
        let owned = json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": true}]}});
        let orphan =
            json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}}});
        assert_eq!(
            parents_to_wake(&rss, "ReplicaSet", Some(&owned), Some(&orphan)),
            vec![k("web-1"), k("web-2")]
        );
        let db =
            json!({"metadata": {"name": "x", "namespace": "default", "labels": {"app": "db"}}});
        assert_eq!(
            parents_to_wake(&rss, "ReplicaSet", None, Some(&db)),
            vec![k("db-1")]
        );
        // An orphan that changed nothing that matters wakes nobody.
        assert!(parents_to_wake(&rss, "ReplicaSet", Some(&orphan), Some(&orphan)).is_empty());
    }

    async fn next(queue: &WorkQueue<ObjKey>) -> Option<ObjKey> {
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), queue.get()).await;
        got.ok().flatten()
    }

    #[tokio::test]
    async fn changes_reach_the_queue() {
        let rss = replica_sets();
        let pods = Informer::new(lookup("", "pods").expect("pods"), None);
        let queue: WorkQueue<ObjKey> = WorkQueue::new();
        queue_changes(&queue, &rss, &pods, "ReplicaSet");
        pods.observe(&json!({"metadata": {"name": "p", "namespace": "default", "resourceVersion": "9",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "db-1", "uid": "u3", "controller": true}]}}));
        assert_eq!(next(&queue).await, Some(k("db-1")));
        queue.done(&k("db-1"));
        rss.observe(&json!({"metadata": {"name": "web-2", "namespace": "default", "uid": "u2", "resourceVersion": "10"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}}}));
        assert_eq!(next(&queue).await, Some(k("web-2")));
    }
}
