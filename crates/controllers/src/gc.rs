//! The garbage collector: deletes objects whose owners are gone
//! (Background propagation), deletes dependents before their owner when
//! the owner carries the `foregroundDeletion` finalizer (Foreground), and
//! strips ownerReferences from dependents before removing the `orphan`
//! finalizer (Orphan). It keeps a graph of ownerReferences across every
//! resource from metadata-only caches, and decides from live reads of the
//! object and its owners, like upstream's attemptToDeleteItem.

use crate::cache::{metadata_only, Informer};
use crate::owner::{has_finalizer, is_deleting, owner_refs, without_finalizer, without_owners};
use crate::replicaset::write_options;
use crate::workqueue::{process, SyncResult, WorkQueue};
use k1s_api::resource::{lookup_kind, RESOURCES};
use k1s_api::ResourceInfo;
use k1s_apiserver::{Api, DeleteOptions};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

/// One ownerReference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub uid: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub block: bool,
}

pub fn owners_of(obj: &Value) -> Vec<OwnerRef> {
    owner_refs(obj)
        .iter()
        .map(|r| OwnerRef {
            uid: r["uid"].as_str().unwrap_or("").to_string(),
            api_version: r["apiVersion"].as_str().unwrap_or("").to_string(),
            kind: r["kind"].as_str().unwrap_or("").to_string(),
            name: r["name"].as_str().unwrap_or("").to_string(),
            block: r["blockOwnerDeletion"].as_bool() == Some(true),
        })
        .collect()
}

/// What a live lookup found for an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Gone, or replaced by an object with another uid.
    Absent,
    /// There, and not waiting for its dependents.
    Present,
    /// Being deleted in the foreground: waits for its dependents to go.
    WaitingForDependents,
    /// Of a kind k1s does not serve: never treated as gone.
    Unknown,
}

/// What to do with an object that is not being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Nothing,
    /// An owner remains: drop the references to owners that are gone or
    /// waiting, so nothing waits on this object.
    RemoveOwners(Vec<String>),
    /// Its owners wait for it and it has dependents of its own: delete it in
    /// the foreground, first making these references non-blocking (to break
    /// a possible cycle).
    DeleteForeground {
        unblock: Vec<String>,
    },
    /// No owner left: delete it with this propagation policy.
    Delete(&'static str),
}

/// `attemptToDeleteItem`'s decision for a live object and its owners.
pub fn decide(
    item: &Value,
    owners: &[(OwnerRef, OwnerState)],
    has_dependents: bool,
    a_dependent_waits: bool,
) -> Decision {
    if owners.is_empty() {
        return Decision::Nothing;
    }
    let of = |s: OwnerState| -> Vec<String> {
        owners
            .iter()
            .filter(|(_, st)| *st == s)
            .map(|(r, _)| r.uid.clone())
            .collect()
    };
    let solid = owners
        .iter()
        .any(|(_, s)| matches!(s, OwnerState::Present | OwnerState::Unknown));
    let dangling = of(OwnerState::Absent);
    let waiting = of(OwnerState::WaitingForDependents);
    if solid {
        if dangling.is_empty() && waiting.is_empty() {
            return Decision::Nothing;
        }
        let mut gone = dangling;
        gone.extend(waiting);
        return Decision::RemoveOwners(gone);
    }
    if !waiting.is_empty() && has_dependents {
        let unblock = if a_dependent_waits {
            owners
                .iter()
                .filter(|(r, s)| *s == OwnerState::WaitingForDependents && r.block)
                .map(|(r, _)| r.uid.clone())
                .collect()
        } else {
            Vec::new()
        };
        return Decision::DeleteForeground { unblock };
    }
    let policy = if has_finalizer(item, ORPHAN) {
        "Orphan"
    } else if has_finalizer(item, FOREGROUND) {
        "Foreground"
    } else {
        "Background"
    };
    Decision::Delete(policy)
}

/// What an object being deleted needs from the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletingWork {
    /// Strip references to it from its dependents, then drop `orphan`.
    Orphan,
    /// No blocking dependent left: drop `foregroundDeletion`.
    Finish,
    /// Delete these dependents first.
    DeleteDependents(Vec<String>),
    Nothing,
}

/// A dependent as the graph knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub uid: String,
    /// Its reference to the owner has blockOwnerDeletion.
    pub blocks: bool,
    /// It is itself being deleted in the foreground.
    pub waiting: bool,
}

/// `orphanDependents` / `processDeletingDependentsItem` for a deleting owner.
pub fn deleting_work(owner: &Value, dependents: &[Dependent]) -> DeletingWork {
    if has_finalizer(owner, ORPHAN) {
        return DeletingWork::Orphan;
    }
    if !has_finalizer(owner, FOREGROUND) {
        return DeletingWork::Nothing;
    }
    if !dependents.iter().any(|d| d.blocks) {
        return DeletingWork::Finish;
    }
    DeletingWork::DeleteDependents(
        dependents
            .iter()
            .filter(|d| !d.waiting)
            .map(|d| d.uid.clone())
            .collect(),
    )
}

#[derive(Debug, Clone)]
struct Node {
    resource: &'static ResourceInfo,
    namespace: String,
    name: String,
    owners: Vec<OwnerRef>,
    deleting: bool,
    waiting: bool,
    finalizers: Vec<String>,
}

impl Node {
    fn of(resource: &'static ResourceInfo, obj: &Value) -> Node {
        let m = &obj["metadata"];
        Node {
            resource,
            namespace: m["namespace"].as_str().unwrap_or("").to_string(),
            name: m["name"].as_str().unwrap_or("").to_string(),
            owners: owners_of(obj),
            deleting: is_deleting(obj),
            waiting: is_deleting(obj) && has_finalizer(obj, FOREGROUND),
            finalizers: m["finalizers"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn needs_collector(&self) -> bool {
        self.deleting
            && self
                .finalizers
                .iter()
                .any(|f| f == ORPHAN || f == FOREGROUND)
    }
}

/// The ownerReference graph across all resources, by uid.
#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    fn unlink(&mut self, uid: &str, owners: &[OwnerRef]) {
        for o in owners {
            if let Some(set) = self.dependents.get_mut(&o.uid) {
                set.remove(uid);
                if set.is_empty() {
                    self.dependents.remove(&o.uid);
                }
            }
        }
    }

    fn upsert(&mut self, uid: &str, node: Node) -> Option<Node> {
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.to_string());
        }
        let prev = self.nodes.insert(uid.to_string(), node);
        if let Some(p) = &prev {
            let kept: Vec<OwnerRef> = p
                .owners
                .iter()
                .filter(|o| !self.nodes[uid].owners.iter().any(|n| n.uid == o.uid))
                .cloned()
                .collect();
            self.unlink(uid, &kept);
        }
        prev
    }

    fn remove(&mut self, uid: &str) -> Option<Node> {
        let prev = self.nodes.remove(uid)?;
        self.unlink(uid, &prev.owners);
        Some(prev)
    }

    fn dependents_of(&self, uid: &str) -> Vec<Dependent> {
        let mut out: Vec<Dependent> = self
            .dependents
            .get(uid)
            .map(|set| {
                set.iter()
                    .filter_map(|d| {
                        let n = self.nodes.get(d)?;
                        Some(Dependent {
                            uid: d.clone(),
                            blocks: n.owners.iter().any(|o| o.uid == uid && o.block),
                            waiting: n.waiting,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.uid.cmp(&b.uid));
        out
    }

    /// Which uids a change of `uid` (from `prev` to `now`) should queue.
    fn wake(&self, uid: &str, prev: Option<&Node>, now: Option<&Node>) -> Vec<String> {
        let mut out = Vec::new();
        match now {
            Some(n) => {
                let owners_changed = prev.is_none_or(|p| p.owners != n.owners);
                if !n.owners.is_empty() && owners_changed {
                    out.push(uid.to_string());
                }
                let became =
                    prev.is_none_or(|p| !p.needs_collector() || p.finalizers != n.finalizers);
                if n.needs_collector() && became {
                    out.push(uid.to_string());
                    if n.waiting {
                        out.extend(self.dependents_of(uid).into_iter().map(|d| d.uid));
                    }
                }
            }
            // Gone: its dependents lost an owner.
            None => out.extend(self.dependents_of(uid).into_iter().map(|d| d.uid)),
        }
        // Owners waiting on their dependents look again.
        for o in prev
            .map(|p| p.owners.as_slice())
            .unwrap_or(&[])
            .iter()
            .chain(now.map(|n| n.owners.as_slice()).unwrap_or(&[]))
        {
            if self.nodes.get(&o.uid).is_some_and(|n| n.needs_collector()) {
                out.push(o.uid.clone());
            }
        }
        out
    }
}

/// Resources whose objects can own or be owned: everything listable and
/// deletable, once per storage, but Events.
pub fn collected_resources() -> Vec<&'static ResourceInfo> {
    let mut seen = HashSet::new();
    RESOURCES
        .iter()
        .filter(|r| r.has_verb("list") && r.has_verb("watch") && r.has_verb("delete"))
        .filter(|r| r.storage_prefix() != "events")
        .filter(|r| seen.insert(r.storage_prefix()))
        .collect()
}

struct Collector {
    api: Api,
    graph: Arc<Mutex<Graph>>,
    queue: WorkQueue<String>,
}

fn lock(g: &Mutex<Graph>) -> MutexGuard<'_, Graph> {
    g.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the collector until the store closes.
pub async fn run(api: Api) {
    let graph: Arc<Mutex<Graph>> = Default::default();
    let queue: WorkQueue<String> = WorkQueue::new();
    let store = api.store().clone();
    let mut informers = Vec::new();
    for r in collected_resources() {
        let inf = Informer::new(r, Some(metadata_only));
        let (graph, queue) = (graph.clone(), queue.clone());
        inf.on_change(Box::new(move |old, new| {
            let mut g = lock(&graph);
            let wake = match (old, new) {
                (_, Some(n)) => {
                    let uid = n["metadata"]["uid"].as_str().unwrap_or("").to_string();
                    let node = Node::of(r, n);
                    let prev = g.upsert(&uid, node.clone());
                    g.wake(&uid, prev.as_ref(), Some(&node))
                }
                (Some(o), None) => {
                    let uid = o["metadata"]["uid"].as_str().unwrap_or("").to_string();
                    let prev = g.remove(&uid);
                    g.wake(&uid, prev.as_ref(), None)
                }
                (None, None) => Vec::new(),
            };
            drop(g);
            for uid in wake {
                queue.add(uid);
            }
        }));
        informers.push(inf);
    }
    Informer::start_all(&store, &informers.iter().collect::<Vec<_>>()).await;
    let c = Arc::new(Collector { api, graph, queue });
    let queue = c.queue.clone();
    process(queue, "garbage-collector", move |uid| {
        let c = c.clone();
        async move { c.sync(uid).await }
    })
    .await;
}

impl Collector {
    async fn sync(&self, uid: String) -> SyncResult {
        let Some(node) = lock(&self.graph).nodes.get(&uid).cloned() else {
            return Ok(None);
        };
        let ns = (!node.namespace.is_empty()).then_some(node.namespace.as_str());
        let live = match self.api.get(node.resource, ns, &node.name) {
            Ok(v) => v,
            Err(e) if e.code == 404 => return Ok(None),
            Err(e) => return Err(e.message),
        };
        if live["metadata"]["uid"].as_str() != Some(uid.as_str()) {
            return Ok(None);
        }
        if is_deleting(&live) {
            let dependents = lock(&self.graph).dependents_of(&uid);
            return match deleting_work(&live, &dependents) {
                DeletingWork::Orphan => {
                    for d in &dependents {
                        self.edit_dependent(&d.uid, |obj| without_owners(obj, &[uid.as_str()]))
                            .await?;
                    }
                    self.remove_finalizer(&node, ORPHAN).await.map(|_| None)
                }
                DeletingWork::Finish => {
                    self.remove_finalizer(&node, FOREGROUND).await.map(|_| None)
                }
                DeletingWork::DeleteDependents(uids) => {
                    for d in uids {
                        self.queue.add(d);
                    }
                    Ok(None)
                }
                DeletingWork::Nothing => Ok(None),
            };
        }
        let owners = owners_of(&live);
        if owners.is_empty() {
            return Ok(None);
        }
        let mut states = Vec::with_capacity(owners.len());
        for o in owners {
            let s = self.owner_state(&node, &o)?;
            states.push((o, s));
        }
        let (has_dependents, a_dependent_waits) = {
            let deps = lock(&self.graph).dependents_of(&uid);
            (!deps.is_empty(), deps.iter().any(|d| d.waiting))
        };
        match decide(&live, &states, has_dependents, a_dependent_waits) {
            Decision::Nothing => Ok(None),
            Decision::RemoveOwners(gone) => {
                let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
                self.edit_dependent(&uid, |obj| without_owners(obj, &gone))
                    .await
                    .map(|_| None)
            }
            Decision::DeleteForeground { unblock } => {
                if !unblock.is_empty() {
                    self.edit_dependent(&uid, |obj| unblocked(obj, &unblock))
                        .await?;
                }
                self.delete(&node, &uid, "Foreground").await
            }
            Decision::Delete(policy) => self.delete(&node, &uid, policy).await,
        }
    }

    /// Looks an owner up live, in the dependent's namespace when namespaced.
    fn owner_state(&self, item: &Node, o: &OwnerRef) -> Result<OwnerState, String> {
        let Some(r) = lookup_kind(&o.api_version, &o.kind) else {
            return Ok(OwnerState::Unknown);
        };
        let ns = if r.namespaced {
            if item.namespace.is_empty() {
                // A cluster-scoped object cannot name a namespaced owner.
                return Ok(OwnerState::Unknown);
            }
            Some(item.namespace.as_str())
        } else {
            None
        };
        match self.api.get(r, ns, &o.name) {
            Ok(owner) if owner["metadata"]["uid"].as_str() == Some(o.uid.as_str()) => Ok(
                if is_deleting(&owner) && has_finalizer(&owner, FOREGROUND) {
                    OwnerState::WaitingForDependents
                } else {
                    OwnerState::Present
                },
            ),
            Ok(_) => Ok(OwnerState::Absent),
            Err(e) if e.code == 404 => Ok(OwnerState::Absent),
            Err(e) => Err(e.message),
        }
    }

    async fn delete(&self, node: &Node, uid: &str, policy: &str) -> SyncResult {
        let opts = DeleteOptions {
            propagation_policy: Some(policy.to_string()),
            precondition_uid: Some(uid.to_string()),
            ..Default::default()
        };
        let ns = (!node.namespace.is_empty()).then_some(node.namespace.as_str());
        match self.api.delete(node.resource, ns, &node.name, &opts).await {
            Ok(_) => Ok(None),
            // Gone already, or replaced (precondition failed).
            Err(e) if e.code == 404 || e.code == 409 => Ok(None),
            Err(e) => Err(e.message),
        }
    }

    /// Re-reads the object with `uid` and writes `edit(obj)`, retrying conflicts.
    async fn edit_dependent(
        &self,
        uid: &str,
        edit: impl Fn(&Value) -> Value,
    ) -> Result<(), String> {
        let Some(node) = lock(&self.graph).nodes.get(uid).cloned() else {
            return Ok(());
        };
        let ns = (!node.namespace.is_empty()).then_some(node.namespace.as_str());
        for _ in 0..3 {
            let live = match self.api.get(node.resource, ns, &node.name) {
                Ok(v) => v,
                Err(e) if e.code == 404 => return Ok(()),
                Err(e) => return Err(e.message),
            };
            if live["metadata"]["uid"].as_str() != Some(uid) {
                return Ok(());
            }
            let edited = edit(&live);
            if edited == live {
                return Ok(());
            }
            match self
                .api
                .update(
                    node.resource,
                    ns,
                    &node.name,
                    edited,
                    None,
                    &write_options(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.code == 404 => return Ok(()),
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e.message),
            }
        }
        Err(format!(
            "updating {} {}: conflicts",
            node.resource.kind, node.name
        ))
    }

    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> Result<(), String> {
        let ns = (!node.namespace.is_empty()).then_some(node.namespace.as_str());
        for _ in 0..3 {
            let live = match self.api.get(node.resource, ns, &node.name) {
                Ok(v) => v,
                Err(e) if e.code == 404 => return Ok(()),
                Err(e) => return Err(e.message),
            };
            if !has_finalizer(&live, finalizer) {
                return Ok(());
            }
            match self
                .api
                .update(
                    node.resource,
                    ns,
                    &node.name,
                    without_finalizer(&live, finalizer),
                    None,
                    &write_options(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.code == 404 => return Ok(()),
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e.message),
            }
        }
        Err(format!(
            "removing {finalizer} from {}: conflicts",
            node.name
        ))
    }
}

/// `obj` with blockOwnerDeletion cleared on references to `uids`.
pub fn unblocked(obj: &Value, uids: &[String]) -> Value {
    let mut out = obj.clone();
    if let Some(refs) = out["metadata"]["ownerReferences"].as_array_mut() {
        for r in refs {
            if uids.iter().any(|u| r["uid"].as_str() == Some(u.as_str())) {
                r["blockOwnerDeletion"] = Value::Bool(false);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner(uid: &str, block: bool) -> OwnerRef {
        OwnerRef {
            uid: uid.into(),
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            block,
        }
    }

    fn item(finalizers: &[&str]) -> Value {
        json!({"metadata": {"name": "p", "finalizers": finalizers}})
    }

    #[test]
    fn decisions_follow_attempt_to_delete_item() {
        use OwnerState::*;
        let plain = item(&[]);
        type Case = (Vec<(OwnerRef, OwnerState)>, bool, bool, Decision);
        let cases: Vec<Case> = vec![
            (vec![], false, false, Decision::Nothing),
            (
                vec![(owner("a", true), Present)],
                false,
                false,
                Decision::Nothing,
            ),
            (
                vec![(owner("a", true), Unknown)],
                false,
                false,
                Decision::Nothing,
            ),
            (
                vec![(owner("a", true), Absent)],
                false,
                false,
                Decision::Delete("Background"),
            ),
            (
                vec![
                    (owner("a", true), Present),
                    (owner("b", true), Absent),
                    (owner("c", true), WaitingForDependents),
                ],
                true,
                false,
                Decision::RemoveOwners(vec!["b".into(), "c".into()]),
            ),
            (
                vec![(owner("a", true), WaitingForDependents)],
                true,
                false,
                Decision::DeleteForeground { unblock: vec![] },
            ),
            (
                vec![
                    (owner("a", true), WaitingForDependents),
                    (owner("b", false), WaitingForDependents),
                ],
                true,
                true,
                Decision::DeleteForeground {
                    unblock: vec!["a".into()],
                },
            ),
            (
                vec![(owner("a", true), WaitingForDependents)],
                false,
                false,
                Decision::Delete("Background"),
            ),
        ];
        for (i, (owners, deps, waits, want)) in cases.into_iter().enumerate() {
            assert_eq!(decide(&plain, &owners, deps, waits), want, "case {i}");
        }
        let gone = vec![(owner("a", true), Absent)];
        assert_eq!(
            decide(&item(&[ORPHAN]), &gone, false, false),
            Decision::Delete("Orphan")
        );
        assert_eq!(
            decide(&item(&[FOREGROUND]), &gone, false, false),
            Decision::Delete("Foreground")
        );
    }

    #[test]
    fn deleting_owners() {
        let dep = |uid: &str, blocks: bool, waiting: bool| Dependent {
            uid: uid.into(),
            blocks,
            waiting,
        };
        let orphaning = json!({"metadata": {"finalizers": [ORPHAN]}});
        assert_eq!(
            deleting_work(&orphaning, &[dep("x", true, false)]),
            DeletingWork::Orphan
        );
        let fg = json!({"metadata": {"finalizers": [FOREGROUND]}});
        assert_eq!(deleting_work(&fg, &[]), DeletingWork::Finish);
        assert_eq!(
            deleting_work(&fg, &[dep("x", false, false)]),
            DeletingWork::Finish
        );
        assert_eq!(
            deleting_work(
                &fg,
                &[
                    dep("x", true, false),
                    dep("y", false, false),
                    dep("z", true, true)
                ]
            ),
            DeletingWork::DeleteDependents(vec!["x".into(), "y".into()])
        );
        assert_eq!(
            deleting_work(&json!({"metadata": {"finalizers": ["other"]}}), &[]),
            DeletingWork::Nothing
        );
    }

    fn node(
        r: &'static ResourceInfo,
        owners: Vec<OwnerRef>,
        finalizers: &[&str],
        deleting: bool,
    ) -> Node {
        let mut obj =
            json!({"metadata": {"name": "n", "namespace": "default", "finalizers": finalizers}});
        if deleting {
            obj["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        let mut n = Node::of(r, &obj);
        n.owners = owners;
        n
    }

    #[test]
    fn graph_wakes_dependents_and_waiting_owners() {
        let rs_r = k1s_api::resource::lookup("apps", "replicasets").expect("rs");
        let pod_r = k1s_api::resource::lookup("", "pods").expect("pods");
        let mut g = Graph::default();
        let rs = node(rs_r, vec![], &[], false);
        assert!(g.wake("rs", None, Some(&rs)).is_empty());
        g.upsert("rs", rs.clone());
        let pod = node(pod_r, vec![owner("rs", true)], &[], false);
        // A new object with owners is checked.
        assert_eq!(g.wake("p1", None, Some(&pod)), vec!["p1"]);
        g.upsert("p1", pod.clone());
        // Unchanged owners: nothing to do.
        assert!(g.wake("p1", Some(&pod), Some(&pod)).is_empty());
        // The owner starts a foreground deletion: it and its dependents.
        let fg = node(rs_r, vec![], &[FOREGROUND], true);
        assert_eq!(g.wake("rs", Some(&rs), Some(&fg)), vec!["rs", "p1"]);
        g.upsert("rs", fg);
        // A dependent goes: the waiting owner looks again.
        let gone = g.remove("p1");
        assert_eq!(g.wake("p1", gone.as_ref(), None), vec!["rs"]);
        assert!(g.dependents_of("rs").is_empty());
        // The owner goes: its dependents are checked.
        g.upsert("p2", node(pod_r, vec![owner("rs", true)], &[], false));
        let gone = g.remove("rs");
        assert_eq!(g.wake("rs", gone.as_ref(), None), vec!["p2"]);
    }

    #[test]
    fn graph_tracks_owner_changes() {
        let pod_r = k1s_api::resource::lookup("", "pods").expect("pods");
        let mut g = Graph::default();
        g.upsert(
            "p",
            node(pod_r, vec![owner("a", true), owner("b", false)], &[], false),
        );
        g.upsert("p", node(pod_r, vec![owner("b", false)], &[], false));
        assert!(g.dependents_of("a").is_empty());
        assert_eq!(
            g.dependents_of("b"),
            vec![Dependent {
                uid: "p".into(),
                blocks: false,
                waiting: false
            }]
        );
    }

    #[test]
    fn unblocking_clears_block_owner_deletion() {
        let obj = json!({"metadata": {"ownerReferences": [{"uid": "a", "blockOwnerDeletion": true}, {"uid": "b", "blockOwnerDeletion": true}]}});
        let out = unblocked(&obj, &["a".into()]);
        assert_eq!(
            out["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            false
        );
        assert_eq!(
            out["metadata"]["ownerReferences"][1]["blockOwnerDeletion"],
            true
        );
    }

    #[test]
    fn collects_workloads_but_not_events() {
        let prefixes: Vec<String> = collected_resources()
            .iter()
            .map(|r| r.storage_prefix())
            .collect();
        assert!(prefixes.contains(&"pods".to_string()));
        assert!(prefixes.contains(&"apps/replicasets".to_string()));
        assert!(prefixes.contains(&"apps/deployments".to_string()));
        assert!(!prefixes.contains(&"events".to_string()));
        let mut unique = prefixes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), prefixes.len());
    }
}
