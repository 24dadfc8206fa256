//! The kubelet half of k1s: it watches the pods bound to this node and
//! runs each through a pod worker (sandbox, images, containers, probes,
//! status, graceful deletion). It writes only through the API path.

mod containers;
mod images;
mod probes;
mod sandbox;
pub mod state;
pub mod streams;
mod worker;

pub use sandbox::unmount_below;

use crate::image::ImageStore;
use crate::net::NodeNetwork;
use crate::runtime::Runtime;
use k1s_api::ResourceInfo;
use k1s_apiserver::Api;
use k1s_controllers::events::{ObjectRef, Recorder};
use serde_json::Value;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where and as whom this node runs pods.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    pub node_name: String,
    pub node_ip: Ipv4Addr,
    pub data_dir: PathBuf,
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    /// The node's own resolv.conf text, for dnsPolicy Default.
    pub host_resolv_conf: String,
    /// The node's network namespace, for hostNetwork pods.
    pub host_netns: PathBuf,
}

/// What every pod worker shares.
pub struct Context {
    pub api: Api,
    /// The registry entry for pods.
    pub pods: &'static ResourceInfo,
    pub recorder: Recorder,
    pub runtime: Arc<Runtime>,
    pub network: Arc<NodeNetwork>,
    pub images: Arc<ImageStore>,
    pub config: KubeletConfig,
    pub restart_backoff: Mutex<crate::pod::backoff::Backoff>,
    pub pull_backoff: Mutex<crate::image::policy::PullBackoff>,
}

impl Context {
    pub fn new(
        api: Api,
        runtime: Arc<Runtime>,
        network: Arc<NodeNetwork>,
        images: Arc<ImageStore>,
        config: KubeletConfig,
    ) -> anyhow::Result<Arc<Context>> {
        let pods = k1s_api::resource::lookup("", "pods")
            .ok_or_else(|| anyhow::anyhow!("the resource registry has no pods"))?;
        Ok(Arc::new(Context {
            pods,
            recorder: Recorder::new(api.clone(), "kubelet"),
            api,
            runtime,
            network,
            images,
            config,
            restart_backoff: Mutex::new(crate::pod::backoff::Backoff::kubelet_default()),
            pull_backoff: Mutex::new(crate::image::policy::PullBackoff::new(
                std::time::Duration::from_secs(10),
                std::time::Duration::from_secs(300),
            )),
        }))
    }
}

pub(crate) fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or("")
}

pub(crate) fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// An RFC 3339 time as a `SystemTime` (now when unparsable).
pub(crate) fn parse_time(s: &str) -> std::time::SystemTime {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(std::time::SystemTime::from)
        .unwrap_or_else(|_| std::time::SystemTime::now())
}

pub(crate) fn pod_ref(pod: &Value) -> ObjectRef {
    ObjectRef {
        kind: "Pod".into(),
        api_version: "v1".into(),
        namespace: meta(pod, "namespace").into(),
        name: meta(pod, "name").into(),
        uid: meta(pod, "uid").into(),
        resource_version: meta(pod, "resourceVersion").into(),
        field_path: String::new(),
    }
}

/// Events about one container carry `fieldPath: spec.containers{name}`.
pub(crate) fn container_ref(pod: &Value, container: &str) -> ObjectRef {
    let mut r = pod_ref(pod);
    r.field_path = container_field_path(pod, container);
    r
}

fn container_field_path(pod: &Value, container: &str) -> String {
    let is_init = pod["spec"]["initContainers"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["name"] == container));
    let field = if is_init {
        "initContainers"
    } else {
        "containers"
    };
    format!("spec.{field}{{{container}}}")
}

/// Mirror pods describe static pods the node runs by other means (k1s's
/// cluster DNS); the kubelet never starts them.
fn is_mirror(pod: &Value) -> bool {
    !pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_null()
}

fn ours(pod: &Value, node: &str) -> bool {
    pod["spec"]["nodeName"].as_str() == Some(node) && !is_mirror(pod)
}

struct WorkerHandle {
    uid: String,
    tx: watch::Sender<Option<Arc<Value>>>,
}

/// Runs forever: one worker per pod bound to this node. Containers and
/// sandboxes left by an earlier k1s are adopted by their pod's worker or
/// removed when their pod is gone.
pub async fn run(ctx: Arc<Context>) {
    if let Err(e) = ctx.network.ensure().await {
        tracing::error!("node network: {e}");
    }
    let mut adopted = adoptable(&ctx).await;
    let store = ctx.api.store().clone();
    let prefix = ctx.pods.storage_prefix();
    // Everything found at start-up that no pod claims is removed once the
    // first full list has been seen.
    match k1s_controllers::informer::list_values(&store, &prefix) {
        Ok(pods) => {
            let live: Vec<String> = pods
                .iter()
                .filter(|p| ours(p, &ctx.config.node_name))
                .map(|p| meta(p, "uid").to_string())
                .collect();
            remove_orphans(&ctx, &live, &mut adopted).await;
        }
        Err(e) => tracing::error!("kubelet: listing pods: {e}"),
    }
    let mut workers: HashMap<(String, String), WorkerHandle> = HashMap::new();
    k1s_controllers::informer::run(store, prefix, move |key| {
        let pod = ctx
            .api
            .get(ctx.pods, Some(&key.namespace), &key.name)
            .ok()
            .filter(|p| ours(p, &ctx.config.node_name));
        let k = (key.namespace.clone(), key.name.clone());
        workers.retain(|_, w| !w.tx.is_closed());
        match (pod, workers.get(&k)) {
            (Some(pod), Some(w)) if w.uid == meta(&pod, "uid") => {
                let pod = Arc::new(pod);
                w.tx.send_if_modified(|cur| {
                    let changed = cur.as_deref() != Some(&*pod);
                    if changed {
                        *cur = Some(pod.clone());
                    }
                    changed
                });
            }
            (pod, existing) => {
                if let Some(w) = existing {
                    let _ = w.tx.send(None);
                    workers.remove(&k);
                }
                if let Some(pod) = pod {
                    let uid = meta(&pod, "uid").to_string();
                    let (tx, rx) = watch::channel(Some(Arc::new(pod)));
                    let mine = adopted.remove(&uid).unwrap_or_default();
                    tokio::spawn(worker::Worker::run(ctx.clone(), uid.clone(), rx, mine));
                    workers.insert(k, WorkerHandle { uid, tx });
                }
            }
        }
        async {}
    })
    .await;
}

/// Containers the runtime still has, by pod uid.
async fn adoptable(ctx: &Context) -> HashMap<String, Vec<worker::Adopted>> {
    let mut by_pod: HashMap<String, Vec<worker::Adopted>> = HashMap::new();
    let found = match ctx.runtime.list() {
        Ok(found) => found,
        Err(e) => {
            tracing::error!("listing containers: {e}");
            Vec::new()
        }
    };
    for c in found {
        by_pod
            .entry(c.config.pod_uid.clone())
            .or_default()
            .push(worker::Adopted {
                id: c.id,
                state: c.state,
                config: c.config,
            });
    }
    by_pod
}

/// Ids of the containers the runtime has for pod `uid`.
pub(crate) fn containers_of(runtime: &Runtime, uid: &str) -> Vec<String> {
    runtime.ids_of_pod(uid).unwrap_or_default()
}

pub(crate) async fn remove_container(runtime: &Runtime, id: &str) {
    if let Err(e) = runtime.remove(id).await {
        tracing::warn!(container = %id, "removing: {e}");
    }
}

/// An exit nobody could observe (the runtime lost track of it).
pub(crate) fn unknown_exit() -> crate::runtime::ExitInfo {
    crate::runtime::ExitInfo {
        exit_code: 255,
        signal: None,
        started_at: None,
        finished_at: chrono::Utc::now(),
        oom_killed: false,
    }
}

/// How container `id` ended (waits for it).
pub(crate) async fn wait_container(runtime: &Runtime, id: &str) -> crate::runtime::ExitInfo {
    match runtime.wait(id).await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(container = %id, "waiting: {e}");
            unknown_exit()
        }
    }
}

/// A time as the API shows it (`metav1.Time`, seconds).
pub(crate) fn k8s_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

async fn remove_orphans(
    ctx: &Context,
    live: &[String],
    adopted: &mut HashMap<String, Vec<worker::Adopted>>,
) {
    let orphans: Vec<String> = adopted
        .keys()
        .filter(|uid| !live.contains(uid))
        .cloned()
        .collect();
    for uid in orphans {
        for c in adopted.remove(&uid).unwrap_or_default() {
            remove_container(&ctx.runtime, &c.id).await;
        }
    }
    match ctx.network.known_pods() {
        Ok(uids) => {
            for uid in uids.into_iter().filter(|u| !live.contains(u)) {
                sandbox::Sandbox::destroy(ctx, &uid).await;
            }
        }
        Err(e) => tracing::warn!("listing pod networks: {e}"),
    }
}
