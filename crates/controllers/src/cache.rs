//! A watch-driven object cache (an informer): lists a resource, then keeps
//! the list current from the store's watch, re-listing after 410 or when
//! the watch falls behind. It indexes objects by namespace and by the uids
//! of their ownerReferences, tells registered handlers about every change,
//! and takes a controller's own writes at once ("write-through"), so the
//! controller's next decision sees them before the watch delivers them.

use crate::informer::{ListWatch, Update};
use k1s_api::ResourceInfo;
use k1s_store::{EventKind, Store};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

/// (namespace, name); namespace empty for cluster-scoped objects.
pub type ObjKey = (String, String);

/// Called with (old, new) after each change; `None` for absent.
pub type Handler = Box<dyn Fn(Option<&Value>, Option<&Value>) + Send + Sync>;

/// Maps a stored object to the form kept in the cache (e.g. metadata only).
pub type Projection = fn(Value) -> Value;

/// One change: (old, new), `None` for absent.
type Change = (Option<Arc<Value>>, Option<Arc<Value>>);

struct Entry {
    rv: u64,
    obj: Arc<Value>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<ObjKey, Entry>,
    by_owner: HashMap<String, BTreeSet<ObjKey>>,
    /// Deleted keys and the deletion's resourceVersion: older events for
    /// them (from a lagging watch) must not bring them back.
    gone: HashMap<ObjKey, u64>,
}

pub struct Informer {
    pub resource: &'static ResourceInfo,
    project: Option<Projection>,
    state: RwLock<State>,
    handlers: RwLock<Vec<Handler>>,
    synced: tokio::sync::watch::Sender<bool>,
}

pub fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn key_of(obj: &Value) -> ObjKey {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or("").to_string(),
        m["name"].as_str().unwrap_or("").to_string(),
    )
}

/// The uids of an object's ownerReferences.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Drops `apiVersion`/`kind` so cached objects look alike whether they
/// came from the store or from a write's answer.
fn stored_form(mut obj: Value) -> Value {
    if let Some(map) = obj.as_object_mut() {
        map.shift_remove("apiVersion");
        map.shift_remove("kind");
    }
    obj
}

impl State {
    fn index(&mut self, key: &ObjKey, obj: &Value) {
        for uid in owner_uids(obj) {
            self.by_owner.entry(uid).or_default().insert(key.clone());
        }
    }

    fn unindex(&mut self, key: &ObjKey, obj: &Value) {
        for uid in owner_uids(obj) {
            if let Some(set) = self.by_owner.get_mut(&uid) {
                set.remove(key);
                if set.is_empty() {
                    self.by_owner.remove(&uid);
                }
            }
        }
    }

    /// Stores `obj` at `rv` unless something as new is known; returns the
    /// replaced object when it changed anything.
    fn upsert(&mut self, key: ObjKey, rv: u64, obj: Arc<Value>) -> Option<Option<Arc<Value>>> {
        if self.gone.get(&key).is_some_and(|g| *g >= rv) {
            return None;
        }
        if self.objects.get(&key).is_some_and(|e| e.rv >= rv) {
            return None;
        }
        self.gone.remove(&key);
        let old = self
            .objects
            .insert(
                key.clone(),
                Entry {
                    rv,
                    obj: obj.clone(),
                },
            )
            .map(|e| e.obj);
        if let Some(o) = &old {
            self.unindex(&key, o);
        }
        self.index(&key, &obj);
        Some(old)
    }

    fn remove(&mut self, key: &ObjKey, rv: u64) -> Option<Arc<Value>> {
        if self.objects.get(key).is_some_and(|e| e.rv > rv) {
            return None;
        }
        let old = self.objects.remove(key)?;
        self.unindex(key, &old.obj);
        let g = self.gone.entry(key.clone()).or_insert(0);
        *g = (*g).max(rv);
        Some(old.obj)
    }
}

impl Informer {
    pub fn new(resource: &'static ResourceInfo, project: Option<Projection>) -> Arc<Informer> {
        let (synced, _) = tokio::sync::watch::channel(false);
        Arc::new(Informer {
            resource,
            project,
            state: RwLock::new(State::default()),
            handlers: RwLock::new(Vec::new()),
            synced,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a change handler (register before [`Informer::run`]).
    pub fn on_change(&self, handler: Handler) {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(handler);
    }

    fn notify(&self, changes: &[Change]) {
        let handlers = self.handlers.read().unwrap_or_else(|p| p.into_inner());
        for (old, new) in changes {
            for h in handlers.iter() {
                h(old.as_deref(), new.as_deref());
            }
        }
    }

    fn prepare(&self, obj: Value) -> Value {
        let obj = stored_form(obj);
        match self.project {
            Some(p) => p(obj),
            None => obj,
        }
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.read()
            .objects
            .get(&(namespace.to_string(), name.to_string()))
            .map(|e| e.obj.clone())
    }

    /// Objects in `namespace` (all namespaces for `None`), in name order.
    pub fn list(&self, namespace: Option<&str>) -> Vec<Arc<Value>> {
        let s = self.read();
        match namespace {
            None => s.objects.values().map(|e| e.obj.clone()).collect(),
            Some(ns) => s
                .objects
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, e)| e.obj.clone())
                .collect(),
        }
    }

    /// Objects with an ownerReference to `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<Arc<Value>> {
        let s = self.read();
        s.by_owner
            .get(uid)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| s.objects.get(k).map(|e| e.obj.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes an object a write returned (write-through).
    pub fn observe(&self, obj: &Value) {
        let obj = self.prepare(obj.clone());
        let rv = rv_of(&obj);
        let key = key_of(&obj);
        let obj = Arc::new(obj);
        let changed = self.write().upsert(key, rv, obj.clone());
        if let Some(old) = changed {
            self.notify(&[(old, Some(obj))]);
        }
    }

    /// Takes a deletion a write performed; `obj` is the object the delete
    /// returned (carrying the deletion's resourceVersion).
    pub fn observe_deleted(&self, obj: &Value) {
        let rv = rv_of(obj);
        let key = key_of(obj);
        let old = self.write().remove(&key, rv);
        if let Some(old) = old {
            self.notify(&[(Some(old), None)]);
        }
    }

    /// Whether the first list has been loaded.
    pub fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until the first list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Replaces the cache with a full list taken at `rv`. Items are taken
    /// one at a time, so a list parses into the cache's (projected) form
    /// without every full object existing at once.
    fn replace(&self, items: impl IntoIterator<Item = Value>, rv: u64) {
        let mut changes = Vec::new();
        {
            let mut s = self.write();
            let mut seen = BTreeSet::new();
            for obj in items {
                let obj = self.prepare(obj);
                let key = key_of(&obj);
                seen.insert(key.clone());
                let orv = rv_of(&obj);
                let obj = Arc::new(obj);
                if let Some(old) = s.upsert(key, orv, obj.clone()) {
                    changes.push((old, Some(obj)));
                }
            }
            let vanished: Vec<ObjKey> = s
                .objects
                .iter()
                .filter(|(k, e)| !seen.contains(*k) && e.rv <= rv)
                .map(|(k, _)| k.clone())
                .collect();
            for key in vanished {
                if let Some(old) = s.remove(&key, rv) {
                    changes.push((Some(old), None));
                }
            }
            s.gone.retain(|_, g| *g > rv);
        }
        self.notify(&changes);
    }

    fn apply(&self, kind: EventKind, raw: &[u8], rv: u64) {
        let Ok(obj) = serde_json::from_slice::<Value>(raw) else {
            return;
        };
        match kind {
            EventKind::Deleted => {
                let key = key_of(&obj);
                let old = {
                    let mut s = self.write();
                    let old = s.remove(&key, rv);
                    s.gone.retain(|_, g| *g > rv);
                    old
                };
                if let Some(old) = old {
                    self.notify(&[(Some(old), None)]);
                }
            }
            EventKind::Added | EventKind::Modified => {
                let obj = self.prepare(obj);
                let key = key_of(&obj);
                let obj = Arc::new(obj);
                let changed = {
                    let mut s = self.write();
                    let changed = s.upsert(key, rv, obj.clone());
                    // Watch events arrive in order: nothing older than `rv` follows.
                    s.gone.retain(|_, g| *g > rv);
                    changed
                };
                if let Some(old) = changed {
                    self.notify(&[(old, Some(obj))]);
                }
            }
        }
    }

    /// Runs `informers` on `store` and returns once each has loaded its
    /// first list: a controller decides nothing from half a picture.
    pub async fn start_all(store: &Arc<Store>, informers: &[&Arc<Informer>]) {
        for inf in informers {
            tokio::spawn((*inf).clone().run(store.clone()));
        }
        for inf in informers {
            inf.wait_synced().await;
        }
    }

    /// Lists and watches forever (until the store closes).
    pub async fn run(self: Arc<Self>, store: Arc<Store>) {
        let prefix = self.resource.storage_prefix();
        let mut updates = ListWatch::new(store, prefix, "a cache");
        while let Some(update) = updates.next().await {
            match update {
                Update::Listed(page) => {
                    let items = page
                        .items
                        .iter()
                        .filter_map(|raw| serde_json::from_slice::<Value>(raw).ok());
                    self.replace(items, page.resource_version);
                    self.synced.send_replace(true);
                }
                Update::Changed(event) => self.apply(event.kind, &event.object, event.rv),
            }
        }
    }
}

/// Keeps only what owner tracking needs: identity, owners, finalizers and
/// deletion state (like a metadata-only informer).
pub fn metadata_only(obj: Value) -> Value {
    let m = &obj["metadata"];
    let mut out = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "finalizers",
        "ownerReferences",
    ] {
        if let Some(v) = m.get(f) {
            out.insert(f.to_string(), v.clone());
        }
    }
    serde_json::json!({ "metadata": out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_api::resource::lookup;
    use serde_json::json;
    use std::sync::Mutex;

    fn pods() -> &'static ResourceInfo {
        lookup("", "pods").expect("pods resource")
    }

    fn pod(name: &str, rv: u64, owner: Option<&str>) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": rv.to_string(), "uid": format!("uid-{name}")}});
        if let Some(o) = owner {
            p["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": o}]);
        }
        p
    }

    fn raw(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap_or_default()
    }

    #[test]
    fn write_through_wins_over_older_watch_events() {
        let inf = Informer::new(pods(), None);
        inf.observe(&pod("a", 10, None));
        // A lagging watch delivers an older version.
        inf.apply(EventKind::Modified, &raw(&pod("a", 7, Some("x"))), 7);
        assert_eq!(inf.get("default", "a").map(|p| rv_of(&p)), Some(10));
        inf.apply(EventKind::Modified, &raw(&pod("a", 12, Some("x"))), 12);
        assert_eq!(inf.get("default", "a").map(|p| rv_of(&p)), Some(12));
        assert_eq!(inf.dependents("x").len(), 1);
    }

    #[test]
    fn deleted_objects_do_not_come_back_from_old_events() {
        let inf = Informer::new(pods(), None);
        inf.observe(&pod("a", 5, Some("o")));
        inf.observe_deleted(&pod("a", 9, Some("o")));
        assert!(inf.get("default", "a").is_none());
        assert!(inf.dependents("o").is_empty());
        inf.apply(EventKind::Modified, &raw(&pod("a", 8, None)), 8);
        assert!(inf.get("default", "a").is_none());
        // A new object with the same name is a newer event.
        inf.apply(EventKind::Added, &raw(&pod("a", 11, None)), 11);
        assert!(inf.get("default", "a").is_some());
    }

    #[test]
    fn owner_index_follows_owner_changes() {
        let inf = Informer::new(pods(), None);
        inf.apply(EventKind::Added, &raw(&pod("a", 1, Some("o1"))), 1);
        inf.apply(EventKind::Added, &raw(&pod("b", 2, Some("o1"))), 2);
        assert_eq!(inf.dependents("o1").len(), 2);
        inf.apply(EventKind::Modified, &raw(&pod("a", 3, Some("o2"))), 3);
        assert_eq!(inf.dependents("o1").len(), 1);
        assert_eq!(inf.dependents("o2").len(), 1);
        inf.apply(EventKind::Deleted, &raw(&pod("b", 4, Some("o1"))), 4);
        assert!(inf.dependents("o1").is_empty());
    }

    #[test]
    fn relist_removes_vanished_and_notifies() {
        let inf = Informer::new(pods(), None);
        let seen: Arc<Mutex<Vec<String>>> = Default::default();
        {
            let seen = seen.clone();
            inf.on_change(Box::new(move |old, new| {
                let what = match (old, new) {
                    (None, Some(n)) => format!("add {}", key_of(n).1),
                    (Some(o), None) => format!("del {}", key_of(o).1),
                    (Some(_), Some(n)) => format!("mod {}", key_of(n).1),
                    (None, None) => "none".into(),
                };
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(what);
            }));
        }
        inf.replace(vec![pod("a", 1, None), pod("b", 2, None)], 2);
        // Written through after the next list was taken: kept.
        inf.observe(&pod("c", 9, None));
        inf.replace(vec![pod("a", 3, None)], 5);
        assert!(inf.get("default", "b").is_none());
        assert!(inf.get("default", "c").is_some());
        let names: Vec<String> = inf
            .list(Some("default"))
            .iter()
            .map(|p| key_of(p).1)
            .collect();
        assert_eq!(names, vec!["a", "c"]);
        assert_eq!(
            *seen.lock().unwrap_or_else(|p| p.into_inner()),
            vec!["add a", "add b", "add c", "mod a", "del b"]
        );
    }

    #[test]
    fn lists_one_namespace() {
        let inf = Informer::new(pods(), None);
        let mut other = pod("z", 1, None);
        other["metadata"]["namespace"] = json!("kube-system");
        inf.observe(&other);
        inf.observe(&pod("a", 2, None));
        assert_eq!(inf.list(Some("default")).len(), 1);
        assert_eq!(inf.list(Some("kube-system")).len(), 1);
        assert_eq!(inf.list(None).len(), 2);
        assert!(inf.list(Some("nope")).is_empty());
    }

    #[test]
    fn metadata_projection_keeps_owner_fields() {
        let p = json!({"kind": "Pod", "metadata": {"name": "a", "uid": "u", "labels": {"x": "y"}, "ownerReferences": [{"uid": "o"}], "finalizers": ["f"]}, "spec": {"containers": []}});
        assert_eq!(
            metadata_only(stored_form(p)),
            json!({"metadata": {"name": "a", "uid": "u", "finalizers": ["f"], "ownerReferences": [{"uid": "o"}]}})
        );
    }

    #[tokio::test]
    async fn runs_against_a_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(k1s_store::Store::open(&dir.path().join("db")).expect("store"));
        let api = k1s_apiserver::Api::new(store.clone(), Default::default());
        let ns = lookup("", "namespaces").expect("namespaces");
        let opts = k1s_apiserver::WriteOptions::default();
        api.create(ns, None, json!({"metadata": {"name": "default"}}), &opts)
            .await
            .expect("namespace");
        let cms = lookup("", "configmaps").expect("configmaps");
        api.create(
            cms,
            Some("default"),
            json!({"metadata": {"name": "one"}}),
            &opts,
        )
        .await
        .expect("configmap");
        let inf = Informer::new(cms, None);
        tokio::spawn(inf.clone().run(store.clone()));
        inf.wait_synced().await;
        assert!(inf.get("default", "one").is_some());
        api.create(
            cms,
            Some("default"),
            json!({"metadata": {"name": "two"}}),
            &opts,
        )
        .await
        .expect("configmap");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while inf.get("default", "two").is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "watch event not seen"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}
