//! The watch loop every controller runs: list, then watch from the list's
//! resourceVersion, re-listing when the watch falls behind or its version
//! is no longer in the history (410). Calls `handle` with each changed key.

use k1s_store::{Key, Store, WatchError};
use std::future::Future;
use std::sync::Arc;

/// Runs forever: `handle(key)` for every object under `prefix` at start
/// and after every change. Errors inside `handle` are the handler's to log.
pub async fn run<F, Fut>(store: Arc<Store>, prefix: String, mut handle: F)
where
    F: FnMut(Key) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let page = match store.list(&prefix, None, None, None) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(%prefix, "listing for a controller failed: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        for raw in &page.items {
            if let Some(key) = key_of(&prefix, raw) {
                handle(key).await;
            }
        }
        let mut watcher = match store.watch(&prefix, None, page.resource_version) {
            Ok(w) => w,
            // Changed again since the list: list again.
            Err(WatchError::TooOld { .. }) => continue,
            Err(e) => {
                tracing::error!(%prefix, "watching for a controller failed: {e}");
                return;
            }
        };
        loop {
            match watcher.next().await {
                Ok(event) => handle(event.key.clone()).await,
                Err(WatchError::Closed) => return,
                // Fell behind: re-list so no change is missed.
                Err(_) => break,
            }
        }
    }
}

fn key_of(prefix: &str, raw: &[u8]) -> Option<Key> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let meta = v.get("metadata")?;
    let ns = meta.get("namespace").and_then(|n| n.as_str()).unwrap_or("");
    let name = meta.get("name")?.as_str()?;
    Some(Key::new(prefix, ns, name))
}

/// Every object stored under `prefix`, parsed; unparsable entries are skipped.
pub fn list_values(
    store: &Store,
    prefix: &str,
) -> Result<Vec<serde_json::Value>, k1s_store::StoreError> {
    Ok(store
        .list(prefix, None, None, None)?
        .items
        .iter()
        .filter_map(|raw| serde_json::from_slice(raw).ok())
        .collect())
}

/// For loops that recompute from the whole state: a `Notify` woken after
/// the initial list and after every change under any of `prefixes`.
pub fn wake_on_changes(store: &Arc<Store>, prefixes: &[String]) -> Arc<tokio::sync::Notify> {
    let wake = Arc::new(tokio::sync::Notify::new());
    for prefix in prefixes {
        let wake = wake.clone();
        tokio::spawn(run(store.clone(), prefix.clone(), move |_key| {
            wake.notify_one();
            async {}
        }));
    }
    wake
}
