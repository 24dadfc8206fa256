//! Request loops: concurrent creates, sequential GETs, repeated LISTs.
//! Every loop is bounded by its count and by the client's request timeout.

use crate::client::{truncate, Client};
use crate::stats::ms;
use anyhow::{bail, Context};
use reqwest::StatusCode;
use serde_json::Value;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Makes the body of the i-th object.
pub type MakeBody = Arc<dyn Fn(usize) -> Value + Send + Sync>;

pub struct Batch {
    pub count: usize,
    /// From the first request sent to the last response read.
    pub elapsed: Duration,
    pub latencies_ms: Vec<f64>,
}

/// Creates objects `range` by POSTing to `path` from `concurrency` clients
/// that each take the next index until none is left.
pub async fn create_batch(
    client: &Client,
    path: &str,
    range: Range<usize>,
    concurrency: usize,
    make: MakeBody,
) -> anyhow::Result<Batch> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, path, next, make) =
            (client.clone(), path.to_string(), next.clone(), make.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let body = make(i);
                let t = Instant::now();
                client.create(&path, &body).await?;
                latencies.push(ms(t.elapsed()));
            }
        });
    }
    let mut latencies_ms = Vec::with_capacity(range.len());
    while let Some(joined) = tasks.join_next().await {
        // The first failure ends the batch; dropping the set aborts the rest.
        latencies_ms.extend(joined.context("create task panicked")??);
    }
    Ok(Batch {
        count: latencies_ms.len(),
        elapsed: started.elapsed(),
        latencies_ms,
    })
}

/// Opens up to `n` keep-alive connections by sending `n` GETs at once, so
/// later measurements do not pay for TLS handshakes.
pub async fn warm_connections(client: &Client, n: usize) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let c = client.clone();
        tasks.spawn(async move { c.get("/api/v1/namespaces/default").await });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("warm-up task panicked")??;
    }
    Ok(())
}

/// Latencies (ms) of `n` sequential GETs of `path` after `warmup` unmeasured ones.
pub async fn get_latencies(
    client: &Client,
    path: &str,
    warmup: usize,
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let t = Instant::now();
        let (status, body) = client.get(path).await?;
        let d = t.elapsed();
        if status != StatusCode::OK {
            bail!("GET {path}: {status}: {}", truncate(&body, 400));
        }
        if i >= warmup {
            out.push(ms(d));
        }
    }
    Ok(out)
}

/// Latencies (ms) of `n` full LISTs of `path` (the whole body read), after
/// checking once that it holds `want_items` items.
pub async fn list_latencies(
    client: &Client,
    path: &str,
    want_items: usize,
    n: usize,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let (status, body) = client.get(path).await?;
    if status != StatusCode::OK {
        bail!("LIST {path}: {status}: {}", truncate(&body, 400));
    }
    let list: Value = serde_json::from_slice(&body).context("LIST body is not JSON")?;
    let items = list["items"].as_array().map_or(0, Vec::len);
    if items != want_items {
        bail!("LIST {path} returned {items} items, want {want_items}");
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = client.get(path).await?;
        out.push(ms(t.elapsed()));
        if status != StatusCode::OK {
            bail!("LIST {path}: {status}");
        }
    }
    Ok((out, body.len()))
}

/// Creates a namespace, accepting one that exists.
pub async fn ensure_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let (status, body) = client
        .call(
            reqwest::Method::POST,
            "/api/v1/namespaces",
            Some(&crate::objects::namespace(name)),
        )
        .await?;
    if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
        bail!(
            "creating namespace {name}: {status}: {}",
            truncate(&body, 400)
        );
    }
    Ok(())
}
