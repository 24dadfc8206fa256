//! Drives the nftables service proxy from the store: any Service or
//! EndpointSlice change wakes one sync (debounced), which computes the
//! ruleset from the current objects and applies only the difference.

use k1s_api::resource::lookup;
use k1s_apiserver::Api;
use k1s_proxy::{Applier, Config, Proxy};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Changes arriving within this window are applied together.
const DEBOUNCE: Duration = Duration::from_millis(20);
/// Re-check the kernel's table this often even without changes (drift repair).
const RESYNC: Duration = Duration::from_secs(30);

fn read_all(api: &Api, prefix: &str) -> Vec<Value> {
    k1s_controllers::informer::list_values(api.store(), prefix).unwrap_or_else(|e| {
        tracing::error!(%prefix, "proxy: listing failed: {e}");
        Vec::new()
    })
}

pub async fn run(api: Api, cfg: Config) {
    let (Some(services), Some(slices)) = (
        lookup("", "services"),
        lookup("discovery.k8s.io", "endpointslices"),
    ) else {
        return;
    };
    let wake = k1s_controllers::informer::wake_on_changes(
        api.store(),
        &[services.storage_prefix(), slices.storage_prefix()],
    );
    let proxy = Arc::new(Mutex::new(Proxy::new(cfg, Applier::new())));
    loop {
        let _ = tokio::time::timeout(RESYNC, wake.notified()).await;
        tokio::time::sleep(DEBOUNCE).await;
        let svcs = read_all(&api, &services.storage_prefix());
        let eps = read_all(&api, &slices.storage_prefix());
        let proxy = proxy.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let mut p = proxy.lock().unwrap_or_else(|e| e.into_inner());
            p.sync(&svcs, &eps)
        })
        .await;
        match result {
            Ok(Ok(stats)) => tracing::debug!(
                ?stats,
                took_ms = started.elapsed().as_millis() as u64,
                "proxy rules synced"
            ),
            Ok(Err(e)) => tracing::error!("proxy: applying rules failed: {e}"),
            Err(e) => tracing::error!("proxy: sync task failed: {e}"),
        }
    }
}
