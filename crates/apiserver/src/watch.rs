//! `?watch=1`: a chunked stream of `{"type":…,"object":…}` lines from the
//! store's event history and live fan-out, with selector transitions,
//! bookmarks, timeouts and `410 Gone` for versions older than the history.

use crate::filter::Filter;
use crate::handlers::{base_response, Ctx};
use crate::list::partial_metadata;
use crate::negotiate::Output;
use crate::objects;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use k1s_api::{ApiError, ApiResult, ResourceInfo};
use k1s_store::{EventKind, WatchError, Watcher};
use serde_json::{json, Value};
use std::time::Duration;

/// How often an idle watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
/// Watches without timeoutSeconds end after kube-apiserver's --min-request-timeout
/// (1800 s; upstream adds up to the same again at random, k1s does not).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

#[derive(Clone)]
struct Encoder {
    r: &'static ResourceInfo,
    output: Output,
    include_object: Option<String>,
}

impl Encoder {
    fn event(&self, kind: &str, raw: &[u8]) -> Option<Bytes> {
        let mut line = Vec::with_capacity(raw.len() + 64);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        match self.output {
            Output::Table | Output::Metadata => {
                let obj = objects::present(self.r, serde_json::from_slice::<Value>(raw).ok()?);
                let out = if self.output == Output::Table {
                    let mut t = crate::tables::table(
                        self.r,
                        std::slice::from_ref(&obj),
                        self.include_object.as_deref(),
                    );
                    t["metadata"] = json!({"resourceVersion": objects::resource_version(&obj)});
                    t
                } else {
                    partial_metadata(&obj)
                };
                line.extend_from_slice(&serde_json::to_vec(&out).ok()?);
            }
            _ => line.extend_from_slice(&objects::present_raw(self.r, raw)?),
        }
        line.extend_from_slice(b"}\n");
        Some(Bytes::from(line))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.r.kind, "apiVersion": self.r.api_version(), "metadata": meta});
        let line = json!({"type": "BOOKMARK", "object": obj});
        Bytes::from(format!("{line}\n"))
    }
}

fn error_event(e: &ApiError) -> Bytes {
    Bytes::from(format!(
        "{}\n",
        json!({"type": "ERROR", "object": e.to_status()})
    ))
}

pub fn watch(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let r = ctx.path.resource;
    let filter = Filter::from_query(r, &ctx.query)?;
    let store = ctx.app.api.store().clone();
    let requested: Option<u64> = ctx.query.number("resourceVersion")?;
    let send_initial = match ctx.query.get("sendInitialEvents") {
        Some(_) => ctx.query.flag("sendInitialEvents"),
        None => requested.is_none_or(|rv| rv == 0),
    };
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let timeout = ctx
        .query
        .number::<u64>("timeoutSeconds")?
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let encoder = Encoder {
        r,
        output: ctx.output,
        include_object: ctx.query.get("includeObject").map(String::from),
    };
    let prefix = r.storage_prefix();
    let ns = ctx.ns().map(String::from);

    // Initial state: synthetic ADDED events for what exists now.
    let mut initial = Vec::new();
    let from = if send_initial {
        let page = store
            .list(&prefix, ns.as_deref(), None, None)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for raw in page.items {
            if filter.is_empty() || filter.matches_raw(r, &raw) {
                initial.extend(encoder.event("ADDED", &raw));
            }
        }
        page.resource_version
    } else {
        requested.unwrap_or(0)
    };
    let initial_end = send_initial && ctx.query.get("sendInitialEvents").is_some() && bookmarks;
    if initial_end {
        initial.push(encoder.bookmark(from, true));
    }

    let body = match store.watch(&prefix, ns.as_deref(), from) {
        Err(WatchError::TooOld { requested, oldest }) => {
            Body::from(error_event(&ApiError::gone_watch(requested, oldest)))
        }
        Err(e) => return Err(ApiError::internal(e.to_string())),
        Ok(watcher) => {
            let live = stream(watcher, encoder, filter, bookmarks, timeout);
            let head = futures::stream::iter(initial.into_iter().map(Ok::<Bytes, std::io::Error>));
            Body::from_stream(futures::StreamExt::chain(head, live))
        }
    };
    let mut resp = base_response(StatusCode::OK, crate::negotiate::JSON, Vec::new());
    *resp.body_mut() = body;
    Ok(resp)
}

fn stream(
    mut watcher: Watcher,
    encoder: Encoder,
    filter: Filter,
    bookmarks: bool,
    timeout: Duration,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    async_stream(move |tx| async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                // The client went away.
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    if tx.send(encoder.bookmark(watcher.progress_rv(), false)).await.is_err() {
                        return;
                    }
                }
                next = watcher.next() => {
                    let event = match next {
                        Ok(e) => e,
                        // Fell behind or shutting down: end the stream; clients re-watch.
                        Err(_) => return,
                    };
                    let kind = if filter.is_empty() {
                        Some(event.kind.as_str())
                    } else {
                        transition(&filter, encoder.r, event.kind, &event.object, event.previous.as_deref())
                    };
                    let Some(kind) = kind else { continue };
                    let Some(line) = encoder.event(kind, &event.object) else { continue };
                    if tx.send(line).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// What a selective watcher sees: an object entering the selection is
/// ADDED, one leaving it is DELETED (kube-apiserver's watch cache does the same).
fn transition(
    filter: &Filter,
    r: &ResourceInfo,
    kind: EventKind,
    object: &[u8],
    previous: Option<&[u8]>,
) -> Option<&'static str> {
    let now = filter.matches_raw(r, object);
    match kind {
        EventKind::Added => now.then_some("ADDED"),
        EventKind::Deleted => previous
            .is_none_or(|p| filter.matches_raw(r, p))
            .then_some("DELETED"),
        EventKind::Modified => {
            let before = previous.is_some_and(|p| filter.matches_raw(r, p));
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

/// A stream fed by a task through a small channel (back-pressure: a slow
/// client stalls its own task, never the store).
fn async_stream<F, Fut>(f: F) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(f(tx));
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
    )
}
