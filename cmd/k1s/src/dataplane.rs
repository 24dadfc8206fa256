//! Drives the nftables service proxy from the store. Two feeds list and
//! watch Services and EndpointSlices into the proxy's change tracker; a
//! change wakes one sync at once, which applies only the Services that
//! changed (changes arriving during a sync are applied together by the
//! next). All of it runs on its own thread, like kube-proxy in its own
//! process: rules keep pace with the API even while other components keep
//! the shared runtime busy. The proxy's metrics join the API server's
//! `/metrics`.

use k1s_api::resource::lookup;
use k1s_apiserver::Api;
use k1s_controllers::informer::{ListWatch, Update};
use k1s_proxy::batching::{next_batch, MAX_SERVICES_PER_COMMIT};
use k1s_proxy::metrics::ProxyMetrics;
use k1s_proxy::tracker::Tracker;
use k1s_proxy::{generation, Applier, Config, DriftChecks, Proxy};
use k1s_store::{EventKind, Store};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// How often the kernel's nftables generation is compared with the one our
/// last sync left behind (one netlink round trip, whatever the table size):
/// a commit by anyone else — `nft flush table ip k1s`, say — gets the table
/// checked and repaired within about this long.
const DRIFT_POLL: Duration = Duration::from_secs(1);
/// When the generation cannot be read, re-check the table this often anyway.
const RESYNC: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
enum Kind {
    Service,
    Slice,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// (namespace, name, object) of a stored object.
fn identify(raw: &[u8]) -> Option<(String, String, Value)> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    let meta = v.get("metadata")?;
    let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
    let name = meta.get("name")?.as_str()?;
    Some((ns.to_string(), name.to_string(), v))
}

struct Feed {
    store: Arc<Store>,
    tracker: Arc<Mutex<Tracker>>,
    wake: Arc<Notify>,
    metrics: Arc<ProxyMetrics>,
}

impl Feed {
    fn queued(&self, t: &Tracker) {
        let now = SystemTime::now();
        self.metrics
            .changes(t.service_events, t.slice_events, t.pending(), Some(now));
        self.wake.notify_one();
    }

    /// Lists `prefix` into the tracker, then follows its watch; lists again
    /// when the watch falls behind, so no change (deletions included) is lost.
    async fn run(self, prefix: String, kind: Kind) {
        let mut updates = ListWatch::new(self.store.clone(), prefix, "the proxy");
        while let Some(update) = updates.next().await {
            match update {
                Update::Listed(page) => {
                    // Parsed one at a time into the tracker's own form: the
                    // full objects of a large list never all exist at once.
                    let objs = page.items.iter().filter_map(|r| identify(r));
                    let mut t = lock(&self.tracker);
                    match kind {
                        Kind::Service => t.replace_services(objs, SystemTime::now()),
                        Kind::Slice => t.replace_slices(objs, SystemTime::now()),
                    }
                    self.queued(&t);
                }
                Update::Changed(event) => {
                    let Some((ns, name, obj)) = identify(&event.object) else {
                        continue;
                    };
                    let obj = (event.kind != EventKind::Deleted).then_some(&obj);
                    let mut t = lock(&self.tracker);
                    match kind {
                        Kind::Service => t.service(&ns, &name, obj, SystemTime::now()),
                        Kind::Slice => t.slice(&ns, &name, obj, SystemTime::now()),
                    }
                    self.queued(&t);
                }
            }
        }
    }
}

/// Runs the proxy on a thread of its own until the process ends.
pub async fn run(api: Api, cfg: Config, metrics: Arc<ProxyMetrics>) {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("k1s-proxy".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(proxy_loop(api, cfg, metrics)),
                Err(e) => tracing::error!("proxy: no runtime: {e}"),
            }
            let _ = done.send(());
        });
    match spawned {
        Ok(_) => {
            let _ = finished.await;
        }
        Err(e) => tracing::error!("proxy: cannot start its thread: {e}"),
    }
}

async fn proxy_loop(api: Api, cfg: Config, metrics: Arc<ProxyMetrics>) {
    let (Some(services), Some(slices)) = (
        lookup("", "services"),
        lookup("discovery.k8s.io", "endpointslices"),
    ) else {
        return;
    };
    let tracker = Arc::new(Mutex::new(Tracker::new(&cfg.node_name)));
    let wake = Arc::new(Notify::new());
    for (prefix, kind) in [
        (services.storage_prefix(), Kind::Service),
        (slices.storage_prefix(), Kind::Slice),
    ] {
        let feed = Feed {
            store: api.store().clone(),
            tracker: tracker.clone(),
            wake: wake.clone(),
            metrics: metrics.clone(),
        };
        tokio::spawn(feed.run(prefix, kind));
    }

    let mut proxy = Proxy::new(cfg, Applier::new());
    // Listing the table takes seconds at scale: compare it only when the
    // generation says someone else committed (or cannot be read).
    proxy.drift_checks = DriftChecks::OnRequest;
    let mut ours = generation::Watch::default();
    let mut last_sync = Instant::now();
    // Change times of syncs that failed, measured when a sync succeeds.
    let mut unapplied: Vec<SystemTime> = Vec::new();
    let mut retry = false;
    // Changes that did not fit in the last commit (see `batching`).
    let mut backlog = BTreeMap::new();
    loop {
        let woken = !backlog.is_empty()
            || tokio::time::timeout(DRIFT_POLL, wake.notified())
                .await
                .is_ok();
        let mut check_drift = false;
        if !woken && !retry {
            // Flushed chains of gone endpoints are deleted once they waited.
            let stale = !proxy.stale_chains().is_empty();
            match ours.changed(generation::read().ok()) {
                Some(true) => check_drift = true,
                None if last_sync.elapsed() >= RESYNC => check_drift = true,
                _ if stale => {}
                _ => continue,
            }
        }
        // Let the rest of a burst (a Service and then its slice) arrive.
        tokio::task::yield_now().await;
        let changes = lock(&tracker).take_changes();
        metrics.endpoints(&changes.endpoint_counts);
        unapplied.extend(changes.triggered);
        let whole = proxy.needs_full_load() && !proxy.loads_into_empty_kernel();
        let batch = next_batch(
            &mut backlog,
            changes.services,
            MAX_SERVICES_PER_COMMIT,
            whole,
        );
        {
            let t = lock(&tracker);
            let (services, endpoints) = t.pending();
            let pending = (services + backlog.len(), endpoints);
            metrics.changes(t.service_events, t.slice_events, pending, None);
        }
        let started = Instant::now();
        // Blocking this thread's runtime is fine: the feeds' events wait in
        // the store's channels meanwhile.
        if check_drift {
            proxy.check_drift_next();
        }
        let synced = proxy.sync_changes(batch);
        // After a failed sync the generation stays unknown, so the retry
        // below (and the fallback period) covers it.
        let left = synced.is_ok().then(|| generation::read().ok()).flatten();
        last_sync = Instant::now();
        retry = false;
        match synced {
            Ok(stats) => {
                ours.record(left);
                let took = started.elapsed();
                // A burst counts as programmed once its last batch is.
                let programmed: &[SystemTime] = if backlog.is_empty() { &unapplied } else { &[] };
                metrics.synced(
                    stats.full,
                    took,
                    SystemTime::now(),
                    proxy.counts(),
                    programmed,
                );
                metrics.cleanup_failed(stats.stale_chain_failures);
                if backlog.is_empty() {
                    unapplied.clear();
                }
                tracing::debug!(
                    ?stats,
                    took_ms = took.as_millis() as u64,
                    "proxy rules synced"
                );
            }
            Err(e) => {
                ours.record(None);
                metrics.sync_failed();
                retry = true;
                tracing::error!("proxy: applying rules failed: {e}");
            }
        }
    }
}
