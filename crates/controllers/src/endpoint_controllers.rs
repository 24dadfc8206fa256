//! Runs the Endpoints, EndpointSlice and EndpointSlice-mirroring
//! controllers on shared caches: Services, Pods, Endpoints, EndpointSlices
//! and Nodes are watched once; each change queues the Service keys it
//! concerns (a pod change the Services whose selector matches it, old or
//! new labels), and one worker per controller syncs a key at a time.

use crate::cache::{key_of, Informer, ObjKey};
use crate::endpointutil::*;
use crate::workqueue::{process, WorkQueue};
use crate::{endpoints, endpointslice, endpointslicemirroring};
use k1s_api::k8s_openapi::api::core::v1::{Pod, Service};
use k1s_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use k1s_api::k8s_openapi::jiff::Timestamp;
use k1s_api::resource::lookup;
use k1s_api::selector::{labels_of, string_map};
use k1s_apiserver::{Api, DeleteOptions, WriteOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The manager name kube-controller-manager's writes carry in managedFields.
const MANAGER: &str = "kube-controller-manager";

/// What the three controllers' sync functions read and write through.
pub(crate) struct Ctx {
    pub api: Api,
    pub services: Arc<Informer>,
    pub pods: Arc<Informer>,
    pub endpoints: Arc<Informer>,
    pub slices: Arc<Informer>,
    pub nodes: Arc<Informer>,
    endpoints_triggers: Mutex<TriggerTimeTracker>,
    slice_triggers: Mutex<TriggerTimeTracker>,
}

fn lock(m: &Mutex<TriggerTimeTracker>) -> std::sync::MutexGuard<'_, TriggerTimeTracker> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx {
    pub fn write_options(&self) -> WriteOptions {
        WriteOptions {
            field_manager: MANAGER.into(),
            ..Default::default()
        }
    }

    /// The pods in `ns` that `selector` matches.
    pub fn selected_pods(&self, ns: &str, selector: &BTreeMap<String, String>) -> Vec<Pod> {
        self.pods
            .list(Some(ns))
            .iter()
            .filter(|p| {
                let labels = labels_of(p);
                selects(selector, Some(&labels))
            })
            .filter_map(|p| typed::<Pod>(p))
            .collect()
    }

    /// The slices in `ns` labeled for Service `name` and managed by `manager`.
    pub fn slices_of(&self, ns: &str, name: &str, manager: &str) -> Vec<EndpointSlice> {
        self.slices
            .list(Some(ns))
            .iter()
            .filter(|s| {
                let l = labels_of(s);
                l.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(name)
                    && l.get(LABEL_MANAGED_BY).map(String::as_str) == Some(manager)
            })
            .filter_map(|s| typed::<EndpointSlice>(s))
            .collect()
    }

    /// Node name → labels, for zones and node existence.
    pub fn node_labels(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.nodes
            .list(None)
            .iter()
            .map(|n| (key_of(n).1, labels_of(n)))
            .collect()
    }

    pub async fn delete_slice(&self, ns: &str, name: &str) -> Result<(), String> {
        match self
            .api
            .delete(
                self.slices.resource,
                Some(ns),
                name,
                &DeleteOptions::default(),
            )
            .await
        {
            Ok((obj, _)) => {
                self.slices.observe_deleted(&obj);
                Ok(())
            }
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(format!("deleting EndpointSlice {ns}/{name}: {}", e.message)),
        }
    }

    pub fn endpoints_trigger(&self, svc: &Service, pods: &[Pod]) -> Option<Timestamp> {
        lock(&self.endpoints_triggers).compute(svc, pods)
    }

    pub fn forget_endpoints_trigger(&self, ns: &str, name: &str) {
        lock(&self.endpoints_triggers).forget(ns, name);
    }

    pub fn slice_trigger(&self, svc: &Service, pods: &[Pod]) -> Option<Timestamp> {
        lock(&self.slice_triggers).compute(svc, pods)
    }

    pub fn forget_slice_trigger(&self, ns: &str, name: &str) {
        lock(&self.slice_triggers).forget(ns, name);
    }
}

/// Nodes are only read for their name and labels.
fn node_projection(obj: Value) -> Value {
    let m = &obj["metadata"];
    json!({"metadata": {
        "name": m["name"],
        "resourceVersion": m["resourceVersion"],
        "labels": m.get("labels").cloned().unwrap_or(Value::Null),
    }})
}

fn selectorless(svc: &Value) -> bool {
    string_map(&svc["spec"]["selector"]).is_empty()
}

fn mirrorable(endpoints: &Value) -> bool {
    let m = &endpoints["metadata"];
    m["labels"][LABEL_SKIP_MIRROR] != "true" && m["annotations"].get(ANNOTATION_LEADER).is_none()
}

type Queue = WorkQueue<ObjKey>;

struct Queues {
    endpoints: Queue,
    slices: Queue,
    mirror: Queue,
}

fn register(ctx: &Arc<Ctx>, q: &Queues) {
    let (eq, sq, mq) = (q.endpoints.clone(), q.slices.clone(), q.mirror.clone());
    ctx.services.on_change(Box::new(move |old, new| {
        let Some(obj) = new.or(old) else {
            return;
        };
        let key = key_of(obj);
        eq.add(key.clone());
        sq.add(key.clone());
        if old.is_some_and(selectorless) || new.is_some_and(selectorless) {
            mq.add(key);
        }
    }));

    let (eq, sq, services) = (q.endpoints.clone(), q.slices.clone(), ctx.services.clone());
    ctx.pods.on_change(Box::new(move |old, new| {
        let Some(obj) = new.or(old) else {
            return;
        };
        let ns = key_of(obj).0;
        let in_ns = services.list(Some(&ns));
        for name in services_for_pod_change(&in_ns, old, new) {
            eq.add((ns.clone(), name.clone()));
            sq.add((ns.clone(), name));
        }
    }));

    let (eq, mq) = (q.endpoints.clone(), q.mirror.clone());
    ctx.endpoints.on_change(Box::new(move |old, new| {
        let Some(obj) = new.or(old) else {
            return;
        };
        let key = key_of(obj);
        // Deleted Endpoints of a selector Service are written again.
        if new.is_none() {
            eq.add(key.clone());
        }
        if old.is_some_and(mirrorable) || new.is_some_and(mirrorable) {
            mq.add(key);
        }
    }));

    let (sq, mq) = (q.slices.clone(), q.mirror.clone());
    ctx.slices.on_change(Box::new(move |old, new| {
        for obj in old.into_iter().chain(new) {
            let labels = labels_of(obj);
            let Some(service) = labels.get(LABEL_SERVICE_NAME) else {
                continue;
            };
            let key = (key_of(obj).0, service.clone());
            match labels.get(LABEL_MANAGED_BY).map(String::as_str) {
                Some(SLICE_CONTROLLER) => sq.add(key),
                Some(MIRRORING_CONTROLLER) => mq.add(key),
                _ => {}
            }
        }
    }));
}

/// Runs the three controllers until the store closes.
pub async fn run(api: Api) {
    let (Some(services), Some(pods), Some(eps), Some(slices), Some(nodes)) = (
        lookup("", "services"),
        lookup("", "pods"),
        lookup("", "endpoints"),
        lookup("discovery.k8s.io", "endpointslices"),
        lookup("", "nodes"),
    ) else {
        tracing::error!("endpoint controllers: a resource is not registered");
        return;
    };
    let store = api.store().clone();
    let ctx = Arc::new(Ctx {
        api,
        services: Informer::new(services, None),
        pods: Informer::new(pods, None),
        endpoints: Informer::new(eps, None),
        slices: Informer::new(slices, None),
        nodes: Informer::new(nodes, Some(node_projection)),
        endpoints_triggers: Default::default(),
        slice_triggers: Default::default(),
    });
    let queues = Queues {
        endpoints: WorkQueue::new(),
        slices: WorkQueue::new(),
        mirror: WorkQueue::new(),
    };
    register(&ctx, &queues);

    let informers = async {
        tokio::join!(
            ctx.services.clone().run(store.clone()),
            ctx.pods.clone().run(store.clone()),
            ctx.endpoints.clone().run(store.clone()),
            ctx.slices.clone().run(store.clone()),
            ctx.nodes.clone().run(store.clone()),
        );
    };
    let workers = async {
        for inf in [
            &ctx.services,
            &ctx.pods,
            &ctx.endpoints,
            &ctx.slices,
            &ctx.nodes,
        ] {
            inf.wait_synced().await;
        }
        // Endpoints whose Service went away while k1s was down.
        for e in ctx.endpoints.list(None) {
            queues.endpoints.add(key_of(&e));
        }
        let c = ctx.clone();
        let ep = process(queues.endpoints.clone(), "endpoint-controller", move |k| {
            let c = c.clone();
            async move { endpoints::sync(&c, &k).await }
        });
        let c = ctx.clone();
        let sl = process(
            queues.slices.clone(),
            "endpointslice-controller",
            move |k| {
                let c = c.clone();
                async move { endpointslice::sync(&c, &k).await }
            },
        );
        let c = ctx.clone();
        let mi = process(
            queues.mirror.clone(),
            "endpointslicemirroring-controller",
            move |k| {
                let c = c.clone();
                async move { endpointslicemirroring::sync(&c, &k).await }
            },
        );
        tokio::join!(ep, sl, mi);
    };
    tokio::join!(informers, workers);
}

#[cfg(test)]
mod tests;
