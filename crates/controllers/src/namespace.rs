//! Namespace lifecycle, like kube-controller-manager's namespace and
//! serviceaccount controllers: every active namespace gets a `default`
//! ServiceAccount; a terminating namespace has its content deleted, then its
//! `kubernetes` finalizer removed, which deletes it.

use crate::informer;
use k1s_api::resource::{lookup, ResourceInfo, RESOURCES};
use k1s_apiserver::{objects, Api, DeleteOptions, WriteOptions};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MANAGER: &str = "kube-controller-manager";
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

/// Deletes everything in the namespace, then finalizes it. Objects held by
/// finalizers keep it Terminating until they go, as in Kubernetes.
async fn finish_deletion(api: &Api, namespaces: &'static ResourceInfo, name: &str) {
    loop {
        let remaining = delete_content(api, name).await;
        if remaining == 0 {
            let body = json!({"spec": {"finalizers": []}});
            match api.finalize_namespace(name, body, &opts()).await {
                Ok(_) => return,
                Err(e) if e.code == 404 => return,
                Err(e) => tracing::warn!(namespace = name, "finalizing: {}", e.message),
            }
        }
        tokio::time::sleep(RETRY).await;
        match api.get(namespaces, None, name) {
            Ok(ns) if objects::is_deleting(&ns) => {}
            _ => return,
        }
    }
}

/// Deletes what is left; returns how many objects still exist.
async fn delete_content(api: &Api, ns: &str) -> usize {
    let mut remaining = 0;
    for r in contained_resources() {
        let prefix = r.storage_prefix();
        let Ok(page) = api.store().list(&prefix, Some(ns), None, None) else {
            remaining += 1;
            continue;
        };
        for raw in page.items {
            remaining += 1;
            let Ok(obj) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            if objects::is_deleting(&obj) {
                continue;
            }
            let opts = DeleteOptions {
                propagation_policy: Some("Background".into()),
                ..Default::default()
            };
            if let Err(e) = api.delete(r, Some(ns), objects::name(&obj), &opts).await {
                if e.code != 404 {
                    tracing::warn!(
                        namespace = ns,
                        "deleting {} {}: {}",
                        r.kind,
                        objects::name(&obj),
                        e.message
                    );
                }
            }
        }
    }
    remaining
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
