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
