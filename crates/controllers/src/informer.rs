//! The watch loop every cache and controller runs: list, then watch from
//! the list's resourceVersion, re-listing when the watch falls behind or its
//! version is no longer in the history (410). `ListWatch` yields what it
//! sees; `run` calls a handler with each changed key.

use k1s_store::{Event, Key, ListPage, Store, WatchError, Watcher};
use std::future::Future;
use std::sync::Arc;

/// What a list+watch loop saw next.
pub enum Update {
    /// A full (re)list: everything under the prefix at its resourceVersion.
    Listed(ListPage),
    /// One change after the last list.
    Changed(Arc<Event>),
}

enum Step {
    List,
    /// Listed at this version; the watch starts after the consumer has
    /// taken the list (and dropped it, for a large one).
    WatchFrom(u64),
    Watching(Watcher),
}

/// List, then watch; list again whenever the watch cannot go on.
pub struct ListWatch {
    store: Arc<Store>,
    prefix: String,
    /// Who watches, for the log ("a controller", "the proxy").
    who: &'static str,
    step: Step,
}

impl ListWatch {
    pub fn new(store: Arc<Store>, prefix: String, who: &'static str) -> ListWatch {
        ListWatch {
            store,
            prefix,
            who,
            step: Step::List,
        }
    }

    /// Watches from `rv`, after a list the caller took itself; lists only
    /// if the watch cannot go on.
    pub fn after(store: Arc<Store>, prefix: String, who: &'static str, rv: u64) -> ListWatch {
        ListWatch {
            step: Step::WatchFrom(rv),
            ..ListWatch::new(store, prefix, who)
        }
    }

    /// The next list or change; `None` when the store is closed (or a
    /// watch cannot be started at all).
    pub async fn next(&mut self) -> Option<Update> {
        loop {
            match &mut self.step {
                Step::List => match self.store.list(&self.prefix, None, None, None) {
                    Ok(page) => {
                        self.step = Step::WatchFrom(page.resource_version);
                        return Some(Update::Listed(page));
                    }
                    Err(e) => {
                        let (prefix, who) = (&self.prefix, self.who);
                        tracing::error!(%prefix, "listing for {who} failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                },
                Step::WatchFrom(rv) => match self.store.watch(&self.prefix, None, *rv) {
                    Ok(w) => self.step = Step::Watching(w),
                    // Changed again since the list: list again.
                    Err(WatchError::TooOld { .. }) => self.step = Step::List,
                    Err(e) => {
                        let (prefix, who) = (&self.prefix, self.who);
                        tracing::error!(%prefix, "watching for {who} failed: {e}");
                        return None;
                    }
                },
                Step::Watching(w) => match w.next().await {
                    Ok(event) => return Some(Update::Changed(event)),
                    Err(WatchError::Closed) => return None,
                    // Fell behind: re-list so no change is missed.
                    Err(_) => self.step = Step::List,
                },
            }
        }
    }
}

/// Runs forever: `handle(key)` for every object under `prefix` at start
/// and after every change. Errors inside `handle` are the handler's to log.
pub async fn run<F, Fut>(store: Arc<Store>, prefix: String, handle: F)
where
    F: FnMut(Key) -> Fut,
    Fut: Future<Output = ()>,
{
    let updates = ListWatch::new(store, prefix.clone(), "a controller");
    handle_keys(updates, &prefix, handle).await
}

/// Like `run` for a caller that has already listed `prefix` at `rv` (and
/// handled that list): `handle(key)` after every later change.
pub async fn run_after<F, Fut>(store: Arc<Store>, prefix: String, rv: u64, handle: F)
where
    F: FnMut(Key) -> Fut,
    Fut: Future<Output = ()>,
{
    let updates = ListWatch::after(store, prefix.clone(), "a controller", rv);
    handle_keys(updates, &prefix, handle).await
}

async fn handle_keys<F, Fut>(mut updates: ListWatch, prefix: &str, mut handle: F)
where
    F: FnMut(Key) -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(update) = updates.next().await {
        match update {
            Update::Listed(page) => {
                for raw in &page.items {
                    if let Some(key) = key_of(prefix, raw) {
                        handle(key).await;
                    }
                }
            }
            Update::Changed(event) => handle(event.key.clone()).await,
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
