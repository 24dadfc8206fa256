//! Watch fan-out: W watch streams on one namespace's ConfigMaps, then E
//! creates one at a time; for each, when every watcher has its ADDED line.

use crate::client::Client;
use crate::stats::ms;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How long one event may take to reach every watcher before it counts as lost.
const EVENT_LIMIT: Duration = Duration::from_secs(5);
const NS: &str = "bench-watch";

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    object: Object,
}

#[derive(Deserialize)]
struct Object {
    metadata: Meta,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    name: String,
}

/// The object name of an ADDED watch line; None for other lines.
pub fn added_name(line: &[u8]) -> Option<String> {
    let l: Line = serde_json::from_slice(line).ok()?;
    (l.kind == "ADDED").then_some(l.object.metadata.name)
}

struct Arrival {
    name: String,
    at: Instant,
}

/// Reads one watch stream, stamping each chunk on arrival (before parsing,
/// so parsing cost on the client is not counted).
async fn read_stream(mut resp: reqwest::Response, tx: mpsc::UnboundedSender<Arrival>) {
    let mut buf: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let at = Instant::now();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if let Some(name) = added_name(&line) {
                if tx.send(Arrival { name, at }).is_err() {
                    return;
                }
            }
        }
    }
}

#[derive(Default)]
pub struct FanOut {
    /// Per (event, watcher): delay after the event became visible, i.e.
    /// after the earlier of the create's response and the first delivery.
    pub each_ms: Vec<f64>,
    /// Per event: from visible until the last watcher had it.
    pub all_ms: Vec<f64>,
    /// Per event: from the create request sent until the last watcher had
    /// it (includes the durable commit).
    pub all_from_request_ms: Vec<f64>,
    /// Per event: the create's own latency (one client, so one commit each).
    pub create_ms: Vec<f64>,
    /// Deliveries that arrived before the create's response.
    pub before_response: usize,
    /// Deliveries not seen within EVENT_LIMIT.
    pub missing: usize,
    pub watchers: usize,
    pub events: usize,
}

/// Delays of one event: per delivery after `visible`, the last delivery
/// after `visible`, and the last after `sent` (all ms). `visible` is the
/// earlier of the create's response and the first delivery, because a
/// watcher may see the event before the writer reads its response.
pub fn event_delays(
    sent: Instant,
    answered: Instant,
    arrivals: &[Instant],
) -> (Vec<f64>, f64, f64) {
    let visible = arrivals
        .iter()
        .copied()
        .min()
        .map_or(answered, |first| first.min(answered));
    let each: Vec<f64> = arrivals
        .iter()
        .map(|at| ms(at.saturating_duration_since(visible)))
        .collect();
    let last = arrivals.iter().copied().max().unwrap_or(answered);
    let all = each.iter().copied().fold(0.0, f64::max);
    (each, all, ms(last.saturating_duration_since(sent)))
}

/// Waits for `want` arrivals of `name` (others are stale and skipped).
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Arrival>,
    name: &str,
    want: usize,
) -> Vec<Instant> {
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    let mut got = Vec::with_capacity(want);
    while got.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(a)) if a.name == name => got.push(a.at),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    got
}

pub async fn fan_out(client: &Client, watchers: usize, events: usize) -> anyhow::Result<FanOut> {
    crate::scenarios::load::ensure_namespace(client, NS).await?;
    let path = format!("/api/v1/namespaces/{NS}/configmaps");
    let (_, body) = client.get(&path).await?;
    let list: serde_json::Value = serde_json::from_slice(&body).context("LIST body is not JSON")?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if rv.is_empty() {
        bail!("LIST {path} has no resourceVersion");
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut streams = JoinSet::new();
    for _ in 0..watchers {
        let resp = client
            .watch(&format!("{path}?watch=1&resourceVersion={rv}"))
            .await?;
        streams.spawn(read_stream(resp, tx.clone()));
    }
    drop(tx);

    // One unmeasured event proves every stream is registered with the store.
    client
        .create(&path, &crate::objects::config_map("warm-up"))
        .await?;
    let seen = collect(&mut rx, "warm-up", watchers).await.len();
    if seen != watchers {
        bail!("only {seen} of {watchers} watchers saw the warm-up event");
    }

    let mut out = FanOut {
        watchers,
        events,
        ..Default::default()
    };
    for e in 0..events {
        let name = format!("ev-{e}");
        let body = crate::objects::config_map(&name);
        let sent = Instant::now();
        client.create(&path, &body).await?;
        let answered = Instant::now();
        let arrivals = collect(&mut rx, &name, watchers).await;
        out.missing += watchers - arrivals.len();
        out.before_response += arrivals.iter().filter(|at| **at < answered).count();
        let (each, all, from_request) = event_delays(sent, answered, &arrivals);
        out.each_ms.extend(each);
        out.all_ms.push(all);
        out.all_from_request_ms.push(from_request);
        out.create_ms.push(ms(answered - sent));
    }
    streams.abort_all();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_added_lines_only() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"ev-1","namespace":"x"}}}"#,
                Some("ev-1"),
            ),
            (
                r#"{"type":"ADDED","object":{"metadata":{"name":"a"},"data":{"k":"v"}}}"#,
                Some("a"),
            ),
            (
                r#"{"type":"MODIFIED","object":{"metadata":{"name":"ev-1"}}}"#,
                None,
            ),
            (
                r#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}"#,
                None,
            ),
            (
                r#"{"type":"ERROR","object":{"kind":"Status","code":410}}"#,
                None,
            ),
            ("not json", None),
            ("", None),
        ];
        for (line, want) in cases {
            assert_eq!(added_name(line.as_bytes()).as_deref(), *want, "{line}");
        }
    }

    #[test]
    fn delays_count_from_when_the_event_became_visible() {
        let sent = Instant::now();
        let at = |us: u64| sent + Duration::from_micros(us);
        // (response at, arrivals) in µs -> (each, all, all from request) in ms.
        type Case<'a> = (u64, &'a [u64], &'a [f64], f64, f64);
        let cases: &[Case] = &[
            (10_000, &[10_500, 11_000], &[0.5, 1.0], 1.0, 11.0),
            // The first watcher beat the response: count from it.
            (10_000, &[9_000, 9_500, 12_000], &[0.0, 0.5, 3.0], 3.0, 12.0),
            (10_000, &[], &[], 0.0, 10.0),
        ];
        for (answered, arrivals, each, all, from_request) in cases {
            let arr: Vec<Instant> = arrivals.iter().map(|u| at(*u)).collect();
            let (e, a, r) = event_delays(sent, at(*answered), &arr);
            let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
            assert!(
                e.len() == each.len() && e.iter().zip(*each).all(|(x, y)| close(*x, *y)),
                "{e:?} vs {each:?}"
            );
            assert!(close(a, *all), "{a} vs {all}");
            assert!(close(r, *from_request), "{r} vs {from_request}");
        }
    }

    #[tokio::test]
    async fn collect_skips_stale_names_and_stops_at_the_count() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        for name in ["old", "ev-1", "old", "ev-1", "ev-1"] {
            tx.send(Arrival {
                name: name.into(),
                at: now,
            })
            .ok();
        }
        assert_eq!(collect(&mut rx, "ev-1", 2).await.len(), 2);
        // The third ev-1 is still queued; the channel then closes.
        drop(tx);
        assert_eq!(collect(&mut rx, "ev-1", 5).await.len(), 1);
    }
}
