//! Namespace lifecycle, like kube-controller-manager's namespace and
//! serviceaccount controllers: every active namespace gets a `default`
//! ServiceAccount; a terminating namespace has its content deleted, its
//! status conditions tell what is left (as upstream's namespace deleter
//! words them), and once nothing is left its `kubernetes` finalizer is
//! removed, which deletes it.

use crate::informer;
use k1s_api::resource::{lookup, ResourceInfo, RESOURCES};
use k1s_apiserver::{objects, Api, DeleteOptions, WriteOptions};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MANAGER: &str = "kube-controller-manager";
/// The finalizer this controller owns in `spec.finalizers`.
const FINALIZER: &str = "kubernetes";
/// Pause between passes over a terminating namespace whose content is not gone yet.
const RETRY: Duration = Duration::from_millis(500);

/// What a namespace needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    EnsureServiceAccount,
    DeleteContent,
}

/// Pure decision from the namespace object.
pub fn plan(ns: &Value) -> Action {
    if objects::is_deleting(ns) {
        Action::DeleteContent
    } else {
        Action::EnsureServiceAccount
    }
}

/// Namespaced resources whose objects a namespace deletion removes, one per
/// storage (the two Event APIs share one).
pub fn contained_resources() -> Vec<&'static ResourceInfo> {
    let mut seen = HashSet::new();
    RESOURCES
        .iter()
        .filter(|r| r.namespaced && r.has_verb("delete") && r.has_verb("list"))
        .filter(|r| seen.insert(r.storage_prefix()))
        .collect()
}

/// What a pass over a terminating namespace left behind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Objects still there, per `resource.group` (upstream's spelling:
    /// `pods.` for the core group, `deployments.apps`).
    pub by_resource: BTreeMap<String, usize>,
    /// Objects still there, per finalizer they carry.
    pub by_finalizer: BTreeMap<String, usize>,
    /// Why some content could not be listed or deleted.
    pub errors: Vec<String>,
}

impl Remaining {
    /// Nothing left and nothing failed: the namespace may be finalized.
    pub fn is_done(&self) -> bool {
        self.by_resource.is_empty() && self.errors.is_empty()
    }

    fn count(&mut self, r: &ResourceInfo, obj: &Value) {
        *self
            .by_resource
            .entry(format!("{}.{}", r.plural, r.group))
            .or_default() += 1;
        for f in objects::finalizers(obj) {
            *self.by_finalizer.entry(f).or_default() += 1;
        }
    }
}

/// One namespace status condition as the deleter sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

fn ok(type_: &'static str, reason: &'static str, message: &str) -> Condition {
    Condition {
        type_,
        status: "False",
        reason,
        message: message.into(),
    }
}

fn failing(type_: &'static str, reason: &'static str, message: String) -> Condition {
    Condition {
        type_,
        status: "True",
        reason,
        message,
    }
}

/// "a has 1 resource instances, b has 2 ..." sorted, as upstream joins them.
fn tally(counts: &BTreeMap<String, usize>, word: &str) -> String {
    let mut parts: Vec<String> = counts
        .iter()
        .map(|(what, n)| format!("{what} {word} {n} resource instances"))
        .collect();
    parts.sort();
    parts.join(", ")
}

/// The five conditions upstream's namespace deleter keeps on a terminating
/// namespace, in its order. k1s discovers its resources from its own
/// registry, so discovery and group-version parsing never fail.
pub fn deletion_conditions(left: &Remaining) -> Vec<Condition> {
    let mut errors = left.errors.clone();
    errors.sort();
    vec![
        ok(
            "NamespaceDeletionDiscoveryFailure",
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        ok(
            "NamespaceDeletionGroupVersionParsingFailure",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        if errors.is_empty() {
            ok(
                "NamespaceDeletionContentFailure",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            )
        } else {
            failing(
                "NamespaceDeletionContentFailure",
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    errors.len(),
                    errors.join(", ")
                ),
            )
        },
        if left.by_resource.is_empty() {
            ok(
                "NamespaceContentRemaining",
                "ContentRemoved",
                "All content successfully removed",
            )
        } else {
            failing(
                "NamespaceContentRemaining",
                "SomeResourcesRemain",
                format!(
                    "Some resources are remaining: {}",
                    tally(&left.by_resource, "has")
                ),
            )
        },
        if left.by_finalizer.is_empty() {
            ok(
                "NamespaceFinalizersRemaining",
                "ContentRemoved",
                "All content successfully removed",
            )
        } else {
            failing(
                "NamespaceFinalizersRemaining",
                "SomeFinalizerRemain",
                format!(
                    "Some finalizers are remaining: {}",
                    tally(&left.by_finalizer, "in")
                ),
            )
        },
    ]
}

/// `status.conditions` with `new` merged in (`updateConditions`): a missing
/// type is appended, a changed one rewritten in place, its
/// lastTransitionTime moved only when its status flips; other conditions
/// stay. `None` when nothing changed.
pub fn merge_conditions(old: &Value, new: &[Condition], now: &str) -> Option<Value> {
    let mut conditions: Vec<Value> = old.as_array().cloned().unwrap_or_default();
    let mut changed = false;
    for c in new {
        match conditions.iter_mut().find(|o| o["type"] == c.type_) {
            None => {
                conditions.push(json!({
                    "type": c.type_,
                    "status": c.status,
                    "lastTransitionTime": now,
                    "reason": c.reason,
                    "message": c.message,
                }));
                changed = true;
            }
            Some(o) => {
                if o["status"] == c.status
                    && o["reason"] == c.reason
                    && o["message"] == c.message.as_str()
                {
                    continue;
                }
                if o["status"] != c.status {
                    o["lastTransitionTime"] = json!(now);
                }
                o["status"] = json!(c.status);
                o["reason"] = json!(c.reason);
                o["message"] = json!(c.message);
                changed = true;
            }
        }
    }
    changed.then_some(Value::Array(conditions))
}

/// `spec.finalizers` without this controller's.
pub fn finalizers_without_ours(ns: &Value) -> Vec<Value> {
    ns["spec"]["finalizers"]
        .as_array()
        .map(|f| f.iter().filter(|f| *f != FINALIZER).cloned().collect())
        .unwrap_or_default()
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: MANAGER.into(),
        ..Default::default()
    }
}

pub async fn run(api: Api) {
    let Some(namespaces) = lookup("", "namespaces") else {
        return;
    };
    let terminating: Arc<Mutex<HashSet<String>>> = Default::default();
    let store = api.store().clone();
    informer::run(store, namespaces.storage_prefix(), |key| {
        let api = api.clone();
        let terminating = terminating.clone();
        async move { reconcile(&api, namespaces, &key.name, &terminating).await }
    })
    .await;
}

async fn reconcile(
    api: &Api,
    namespaces: &'static ResourceInfo,
    name: &str,
    terminating: &Arc<Mutex<HashSet<String>>>,
) {
    let Ok(ns) = api.get(namespaces, None, name) else {
        return;
    };
    match plan(&ns) {
        Action::EnsureServiceAccount => ensure_service_account(api, name).await,
        Action::DeleteContent => {
            let first = terminating
                .lock()
                .map(|mut set| set.insert(name.to_string()))
                .unwrap_or(false);
            if first {
                let (api, name, terminating) = (api.clone(), name.to_string(), terminating.clone());
                tokio::spawn(async move {
                    finish_deletion(&api, namespaces, &name).await;
                    if let Ok(mut set) = terminating.lock() {
                        set.remove(&name);
                    }
                });
            }
        }
    }
}

async fn ensure_service_account(api: &Api, ns: &str) {
    let Some(sa) = lookup("", "serviceaccounts") else {
        return;
    };
    if api.get(sa, Some(ns), "default").is_ok() {
        return;
    }
    let obj = json!({"metadata": {"name": "default", "namespace": ns}});
    match api.create(sa, Some(ns), obj, &opts()).await {
        Ok(_) => {}
        // Raced with another writer or the namespace started terminating.
        Err(e) if matches!(e.reason, "AlreadyExists" | "Forbidden" | "NotFound") => {}
        Err(e) => tracing::warn!(
            namespace = ns,
            "creating the default ServiceAccount: {}",
            e.message
        ),
    }
}

/// Deletes everything in the namespace, reports what is left in its
/// conditions, then finalizes it. Objects held by finalizers keep it
/// Terminating until they go, as in Kubernetes.
async fn finish_deletion(api: &Api, namespaces: &'static ResourceInfo, name: &str) {
    loop {
        let left = delete_content(api, name).await;
        if let Err(e) = write_conditions(api, namespaces, name, &left).await {
            tracing::warn!(namespace = name, "updating the status conditions: {e}");
        }
        if left.is_done() {
            match finalize(api, namespaces, name).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(namespace = name, "finalizing: {e}"),
            }
        }
        tokio::time::sleep(RETRY).await;
        match api.get(namespaces, None, name) {
            Ok(ns) if objects::is_deleting(&ns) => {}
            _ => return,
        }
    }
}

/// Writes the deletion conditions when they changed; a conflict (someone
/// else wrote the namespace) is retried once with a fresh read.
async fn write_conditions(
    api: &Api,
    namespaces: &'static ResourceInfo,
    name: &str,
    left: &Remaining,
) -> Result<(), String> {
    let wanted = deletion_conditions(left);
    for _ in 0..2 {
        let mut ns = match api.get(namespaces, None, name) {
            Ok(ns) => ns,
            Err(e) if e.code == 404 => return Ok(()),
            Err(e) => return Err(e.message),
        };
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let Some(conditions) = merge_conditions(&ns["status"]["conditions"], &wanted, &now) else {
            return Ok(());
        };
        ns["status"]["conditions"] = conditions;
        match api
            .update(namespaces, None, name, ns, Some("status"), &opts())
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.code == 404 => return Ok(()),
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e.message),
        }
    }
    Err("the namespace kept changing".into())
}

/// Removes this controller's finalizer (`finalizeNamespace`); the
/// namespace goes when no other finalizer is left.
async fn finalize(api: &Api, namespaces: &'static ResourceInfo, name: &str) -> Result<(), String> {
    let ns = match api.get(namespaces, None, name) {
        Ok(ns) => ns,
        Err(e) if e.code == 404 => return Ok(()),
        Err(e) => return Err(e.message),
    };
    let body = json!({"spec": {"finalizers": finalizers_without_ours(&ns)}});
    match api.finalize_namespace(name, body, &opts()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e.message),
    }
}

/// Deletes what is left; returns what still exists afterwards (objects
/// being deleted gracefully or held by finalizers) and what failed.
async fn delete_content(api: &Api, ns: &str) -> Remaining {
    let mut left = Remaining::default();
    for r in contained_resources() {
        let prefix = r.storage_prefix();
        let page = match api.store().list(&prefix, Some(ns), None, None) {
            Ok(page) => page,
            Err(e) => {
                left.errors.push(format!("listing {}: {e}", r.qualified()));
                continue;
            }
        };
        let mut failed = None;
        for raw in page.items {
            let Ok(obj) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            if objects::is_deleting(&obj) {
                left.count(r, &obj);
                continue;
            }
            let opts = DeleteOptions {
                propagation_policy: Some("Background".into()),
                ..Default::default()
            };
            match api.delete(r, Some(ns), objects::name(&obj), &opts).await {
                Ok((_, true)) => {}
                Ok((pending, false)) => left.count(r, &pending),
                Err(e) if e.code == 404 => {}
                Err(e) => {
                    left.count(r, &obj);
                    failed.get_or_insert(e.message);
                }
            }
        }
        // One error per resource, as upstream reports one per resource type.
        left.errors.extend(failed);
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_from_deletion_timestamp() {
        assert_eq!(
            plan(&json!({"metadata": {"name": "a"}})),
            Action::EnsureServiceAccount
        );
        assert_eq!(
            plan(&json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}})),
            Action::DeleteContent
        );
    }

    fn remaining(resources: &[(&str, usize)], finalizers: &[(&str, usize)]) -> Remaining {
        Remaining {
            by_resource: resources.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            by_finalizer: finalizers
                .iter()
                .map(|(f, n)| (f.to_string(), *n))
                .collect(),
            errors: Vec::new(),
        }
    }

    fn rows(cs: &[Condition]) -> Vec<String> {
        cs.iter()
            .map(|c| format!("{} {} {} {}", c.type_, c.status, c.reason, c.message))
            .collect()
    }

    #[test]
    fn conditions_while_content_remains_read_like_upstream() {
        let left = remaining(
            &[("pods.", 3), ("configmaps.", 1)],
            &[("example.com/hold", 1)],
        );
        assert_eq!(
            rows(&deletion_conditions(&left)),
            [
                "NamespaceDeletionDiscoveryFailure False ResourcesDiscovered All resources successfully discovered",
                "NamespaceDeletionGroupVersionParsingFailure False ParsedGroupVersions All legacy kube types successfully parsed",
                "NamespaceDeletionContentFailure False ContentDeleted All content successfully deleted, may be waiting on finalization",
                "NamespaceContentRemaining True SomeResourcesRemain Some resources are remaining: configmaps. has 1 resource instances, pods. has 3 resource instances",
                "NamespaceFinalizersRemaining True SomeFinalizerRemain Some finalizers are remaining: example.com/hold in 1 resource instances",
            ]
        );
        assert!(!left.is_done());
    }

    #[test]
    fn conditions_when_everything_is_gone_or_deletes_fail() {
        let done = Remaining::default();
        assert!(done.is_done());
        let cs = deletion_conditions(&done);
        assert!(cs.iter().all(|c| c.status == "False"), "{cs:?}");
        assert_eq!(cs[3].reason, "ContentRemoved");
        assert_eq!(cs[3].message, "All content successfully removed");
        assert_eq!(cs[4].reason, "ContentRemoved");

        let failed = Remaining {
            errors: vec!["b failed".into(), "a failed".into()],
            ..Remaining::default()
        };
        assert!(!failed.is_done());
        let c = &deletion_conditions(&failed)[2];
        assert_eq!(
            (c.status, c.reason, c.message.as_str()),
            (
                "True",
                "ContentDeletionFailed",
                "Failed to delete all resource types, 2 remaining: a failed, b failed"
            )
        );
    }

    #[test]
    fn remaining_objects_are_counted_per_resource_and_finalizer() {
        let mut left = Remaining::default();
        let pods = lookup("", "pods").expect("pods");
        let deployments = lookup("apps", "deployments").expect("deployments");
        left.count(pods, &json!({"metadata": {"name": "a"}}));
        left.count(
            pods,
            &json!({"metadata": {"name": "b", "finalizers": ["x/y"]}}),
        );
        left.count(
            deployments,
            &json!({"metadata": {"name": "web", "finalizers": ["foregroundDeletion", "x/y"]}}),
        );
        assert_eq!(
            left,
            remaining(
                &[("deployments.apps", 1), ("pods.", 2)],
                &[("foregroundDeletion", 1), ("x/y", 2)]
            )
        );
    }

    #[test]
    fn merging_conditions_moves_transition_times_only_on_flips() {
        let first = deletion_conditions(&remaining(&[("pods.", 3)], &[]));
        let t1 = "2026-01-01T00:00:00Z";
        let merged = merge_conditions(&Value::Null, &first, t1).expect("new conditions");
        let list = merged.as_array().expect("array");
        assert_eq!(list.len(), 5);
        assert_eq!(list[0]["type"], "NamespaceDeletionDiscoveryFailure");
        assert_eq!(list[3]["lastTransitionTime"], t1);
        let status = json!({"conditions": merged.clone()});
        // The same conditions again: nothing to write.
        assert_eq!(
            merge_conditions(&status["conditions"], &first, "later"),
            None
        );
        // A count changes: the message follows, the time stays.
        let fewer = deletion_conditions(&remaining(&[("pods.", 1)], &[]));
        let t2 = "2026-01-01T00:00:05Z";
        let merged = merge_conditions(&status["conditions"], &fewer, t2).expect("changed");
        assert_eq!(
            merged[3]["message"],
            "Some resources are remaining: pods. has 1 resource instances"
        );
        assert_eq!(merged[3]["lastTransitionTime"], t1);
        // All gone: the condition flips, and so does its time.
        let gone = deletion_conditions(&Remaining::default());
        let merged = merge_conditions(&merged, &gone, t2).expect("changed");
        assert_eq!(merged[3]["status"], "False");
        assert_eq!(merged[3]["reason"], "ContentRemoved");
        assert_eq!(merged[3]["lastTransitionTime"], t2);
        assert_eq!(merged[0]["lastTransitionTime"], t1);
        // Conditions of other types are kept.
        let other = json!([{"type": "Custom", "status": "True"}]);
        let merged = merge_conditions(&other, &gone, t2).expect("changed");
        assert_eq!(merged[0]["type"], "Custom");
        assert_eq!(merged.as_array().map(Vec::len), Some(6));
    }

    #[test]
    fn finalizing_removes_only_our_finalizer() {
        let ns = json!({"spec": {"finalizers": ["kubernetes", "example.com/other"]}});
        assert_eq!(
            finalizers_without_ours(&ns),
            vec![json!("example.com/other")]
        );
        assert!(
            finalizers_without_ours(&json!({"spec": {"finalizers": ["kubernetes"]}})).is_empty()
        );
        assert!(finalizers_without_ours(&json!({})).is_empty());
    }

    #[test]
    fn content_covers_each_storage_once() {
        let prefixes: Vec<String> = contained_resources()
            .iter()
            .map(|r| r.storage_prefix())
            .collect();
        assert_eq!(prefixes.iter().filter(|p| *p == "events").count(), 1);
        assert!(prefixes.contains(&"configmaps".to_string()));
        assert!(prefixes.contains(&"apps/deployments".to_string()));
        assert!(!prefixes.contains(&"nodes".to_string()));
        assert!(!prefixes.iter().any(|p| p == "bindings"));
    }
}
