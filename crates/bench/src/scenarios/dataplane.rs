//! The Service dataplane at scale, measured by real connections. Three
//! small TCP servers run in the benchmark's namespace on addresses added
//! to its eth0 (they answer each request byte with their address's last
//! octet). Services without a selector get hand-written EndpointSlices
//! pointing at two of them. Then, with thousands of Services programmed:
//! how long a new Service takes from its create request until its
//! ClusterIP answers, how long an endpoint change takes until the new
//! endpoint answers, and what the ClusterIP's DNAT adds to a connection and
//! a request compared with talking to the backend directly.

use crate::client::Client;
use crate::procfs;
use crate::report::{Report, Row, Target};
use crate::scenarios::load::{create_batch, ensure_namespace};
use crate::server::K1s;
use crate::stats::{ms, rate, Summary};
use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "bench-dp";
/// Backend addresses, added to eth0 next to the node address.
const BACKENDS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(192, 168, 56, 21),
    Ipv4Addr::new(192, 168, 56, 22),
    Ipv4Addr::new(192, 168, 56, 23),
];
const BACKEND_PORT: u16 = 8080;
const SERVICE_PORT: u16 = 80;
/// Services in place for the small-scale figure (DESIGN.md's 10).
const SMALL: usize = 10;
const SMALL_SAMPLES: usize = 20;
const NEW_SAMPLES: usize = 100;
const CHANGE_SAMPLES: usize = 100;
const LATENCY_PAIRS: usize = 2000;
/// How long one sample may take to become reachable before it counts as lost.
const LIVE_LIMIT: Duration = Duration::from_secs(15);
/// How long the bulk of Services may take to be programmed.
const PROGRAMMED_LIMIT: Duration = Duration::from_secs(900);
/// A connection attempt to a ClusterIP not programmed yet is dropped:
/// give up on it this soon and try again.
const ATTEMPT: Duration = Duration::from_millis(1);

fn services_path() -> String {
    format!("/api/v1/namespaces/{NS}/services")
}

fn slices_path() -> String {
    format!("/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices")
}

/// A Service without a selector: its endpoints come from `slice`.
fn service(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": "bench-dp"}},
        "spec": {"ports": [{"port": SERVICE_PORT, "protocol": "TCP", "targetPort": BACKEND_PORT}]},
    })
}

fn slice_name(service: &str) -> String {
    format!("{service}-bench")
}

/// A hand-written EndpointSlice for `service` with ready `endpoints`.
fn slice(service: &str, endpoints: &[Ipv4Addr]) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(service),
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "k1s-bench",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "", "port": BACKEND_PORT, "protocol": "TCP"}],
        "endpoints": endpoints.iter().map(|ip| json!({
            "addresses": [ip.to_string()],
            "conditions": {"ready": true},
        })).collect::<Vec<_>>(),
    })
}

fn bulk_name(i: usize) -> String {
    format!("svc-{i}")
}

/// Adds the backend addresses to eth0 (the calling thread is in the
/// benchmark's namespace, so `ip` is too).
fn add_backend_addresses() -> anyhow::Result<()> {
    for ip in BACKENDS {
        let out = std::process::Command::new("ip")
            .args(["addr", "add", &format!("{ip}/32"), "dev", "eth0"])
            .output()
            .context("running ip")?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !err.contains("exists") {
            bail!("ip addr add {ip}/32 dev eth0: {}", err.trim());
        }
    }
    Ok(())
}

/// The backends: each answers every byte it reads with its last octet.
struct Backends(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Backends {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

async fn start_backends() -> anyhow::Result<Backends> {
    let mut tasks = Vec::new();
    for ip in BACKENDS {
        let listener = tokio::net::TcpListener::bind((ip, BACKEND_PORT))
            .await
            .with_context(|| format!("listening on {ip}:{BACKEND_PORT}"))?;
        let id = ip.octets()[3];
        tasks.push(tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = conn.set_nodelay(true);
                    let mut buf = [0u8; 64];
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 || conn.write_all(&[id]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }));
    }
    Ok(Backends(tasks))
}

/// One connection: connect (timed), one request byte and its answer
/// (timed). Returns both and the answering backend's last octet. Closes
/// with a reset so thousands of probes leave no TIME_WAIT behind.
fn exchange(
    addr: SocketAddrV4,
    connect_limit: Duration,
) -> std::io::Result<(Duration, Duration, u8)> {
    let t = Instant::now();
    let s = TcpStream::connect_timeout(&SocketAddr::V4(addr), connect_limit)?;
    let connect = t.elapsed();
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Linger, &linger)?;
    let t = Instant::now();
    (&s).write_all(b"x")?;
    let mut id = [0u8];
    (&s).read_exact(&mut id)?;
    Ok((connect, t.elapsed(), id[0]))
}

/// Connects to `addr` until a backend (`want`, if given) answers; the time
/// since `started`, or `None` after `limit`.
fn wait_live(
    addr: SocketAddrV4,
    want: Option<u8>,
    started: Instant,
    limit: Duration,
) -> Option<Duration> {
    while started.elapsed() < limit {
        match exchange(addr, ATTEMPT) {
            Ok((_, _, id)) if want.is_none_or(|w| w == id) => return Some(started.elapsed()),
            Ok(_) => {}
            // Programmed without endpoints yet: rejected at once.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_micros(100))
            }
            // Not programmed yet (dropped): the attempt timed out.
            Err(_) => {}
        }
    }
    None
}

fn cluster_ip(svc: &Value) -> anyhow::Result<Ipv4Addr> {
    svc["spec"]["clusterIP"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no IPv4 clusterIP in {svc}"))
}

async fn get_json(client: &Client, path: &str) -> anyhow::Result<Value> {
    let (status, body) = client.get(path).await?;
    if status != StatusCode::OK {
        bail!("GET {path}: {status}");
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
}

/// The value of an unlabelled sample in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn metrics_text(client: &Client) -> anyhow::Result<String> {
    let (status, body) = client.get("/metrics").await?;
    if status != StatusCode::OK {
        bail!("GET /metrics: {status}");
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Waits until the proxy reports at least `want` programmed Service ports.
async fn wait_programmed(client: &Client, want: f64, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let text = metrics_text(client).await?;
        let have = metric(&text, "k1s_proxy_service_ports").unwrap_or(0.0);
        if have >= want {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!("only {have} of {want} Service ports programmed after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One sample: milliseconds until live, and how many of them the API
/// requests took; `None` when it never became live.
type Sample = Option<(f64, f64)>;

/// Creates Service `name` and its slice one after the other and returns
/// how long from the first request until its ClusterIP answered.
async fn new_service(client: &Client, name: &str) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let created = client.create(&services_path(), &service(name)).await?;
    let ip = cluster_ip(&serde_json::from_slice(&created)?)?;
    client
        .create(&slices_path(), &slice(name, &BACKENDS[..2]))
        .await?;
    let api = ms(started.elapsed());
    let addr = SocketAddrV4::new(ip, SERVICE_PORT);
    let live =
        tokio::task::spawn_blocking(move || wait_live(addr, None, started, LIVE_LIMIT)).await?;
    Ok(live.map(|d| (ms(d), api)))
}

/// Replaces one of bulk Service `name`'s two endpoints by the third
/// backend and returns how long from the update until that backend answered.
async fn endpoint_change(client: &Client, name: &str) -> anyhow::Result<Sample> {
    let ip = cluster_ip(&get_json(client, &format!("{}/{name}", services_path())).await?)?;
    let path = format!("{}/{}", slices_path(), slice_name(name));
    let mut obj = get_json(client, &path).await?;
    obj["endpoints"] = slice(name, &[BACKENDS[0], BACKENDS[2]])["endpoints"].clone();
    let started = Instant::now();
    let (status, body) = client.call(Method::PUT, &path, Some(&obj)).await?;
    if status != StatusCode::OK {
        bail!(
            "PUT {path}: {status}: {}",
            crate::client::truncate(&body, 300)
        );
    }
    let api = ms(started.elapsed());
    let addr = SocketAddrV4::new(ip, SERVICE_PORT);
    let want = BACKENDS[2].octets()[3];
    let live =
        tokio::task::spawn_blocking(move || wait_live(addr, Some(want), started, LIVE_LIMIT))
            .await?;
    Ok(live.map(|d| (ms(d), api)))
}

/// Connect and request times (µs) straight to the backends and through
/// `ip`, interleaved so both see the same load.
#[derive(Debug, Default)]
pub struct Latencies {
    pub connect_direct: Vec<f64>,
    pub connect_cluster: Vec<f64>,
    pub request_direct: Vec<f64>,
    pub request_cluster: Vec<f64>,
}

fn latencies(ip: Ipv4Addr, pairs: usize) -> anyhow::Result<Latencies> {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut out = Latencies::default();
    let cluster = SocketAddrV4::new(ip, SERVICE_PORT);
    for i in 0..pairs + 50 {
        let direct = SocketAddrV4::new(BACKENDS[i % 2], BACKEND_PORT);
        let order = if i % 2 == 0 {
            [(direct, false), (cluster, true)]
        } else {
            [(cluster, true), (direct, false)]
        };
        for (addr, through) in order {
            let (c, r, _) = exchange(addr, Duration::from_secs(2))
                .with_context(|| format!("connecting to {addr}"))?;
            // The first 50 rounds warm caches up.
            if i < 50 {
                continue;
            }
            if through {
                out.connect_cluster.push(us(c));
                out.request_cluster.push(us(r));
            } else {
                out.connect_direct.push(us(c));
                out.request_direct.push(us(r));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct DataplaneRun {
    pub services: usize,
    pub small: Vec<f64>,
    pub created_in: Duration,
    pub programmed_after: Duration,
    pub rss_mib: f64,
    pub new_at_scale: Vec<f64>,
    pub changes: Vec<f64>,
    /// The API requests' share of each sample above.
    pub new_api: Vec<f64>,
    pub changes_api: Vec<f64>,
    /// Samples that never became reachable within LIVE_LIMIT.
    pub lost: usize,
    pub latencies: Latencies,
    /// Mean partial sync (ms) during the measurements, from the proxy's metrics.
    pub sync_mean_ms: Option<f64>,
    /// Mean network programming latency (ms) of those syncs.
    pub programming_mean_ms: Option<f64>,
    /// From k1s's start on a node without its table (after a reboot) until
    /// every Service port was programmed again.
    pub reboot_programmed: Duration,
}

/// (sum, count) of a histogram in Prometheus text.
fn histogram(text: &str, name: &str) -> (f64, f64) {
    (
        metric(text, &format!("{name}_sum")).unwrap_or(0.0),
        metric(text, &format!("{name}_count")).unwrap_or(0.0),
    )
}

/// Mean (ms) of a histogram's observations between two scrapes.
fn mean_between(before: &str, after: &str, name: &str) -> Option<f64> {
    let (s0, c0) = histogram(before, name);
    let (s1, c1) = histogram(after, name);
    (c1 > c0).then(|| (s1 - s0) / (c1 - c0) * 1000.0)
}

pub async fn measure(
    client: &Client,
    k1s: &mut K1s,
    services: usize,
    http2: bool,
) -> anyhow::Result<DataplaneRun> {
    let mut run = DataplaneRun {
        services,
        ..DataplaneRun::default()
    };
    add_backend_addresses()?;
    let _backends = start_backends().await?;
    ensure_namespace(client, NS).await?;
    // kubernetes and kube-dns are there before any of ours.
    let base = metric(&metrics_text(client).await?, "k1s_proxy_service_ports").unwrap_or(0.0);
    let mut lost = 0;
    let mut api = Vec::new();
    let mut collect = |v: Sample, into: &mut Vec<f64>, api_into: &mut Vec<f64>| match v {
        Some((total, api)) => {
            into.push(total);
            api_into.push(api);
        }
        None => lost += 1,
    };

    eprintln!("dataplane: {SMALL} Services, then {SMALL_SAMPLES} new ones one at a time ...");
    bulk(client, 0..SMALL).await?;
    wait_programmed(client, base + SMALL as f64, PROGRAMMED_LIMIT).await?;
    for i in 0..SMALL_SAMPLES {
        let v = new_service(client, &format!("small-{i}")).await?;
        collect(v, &mut run.small, &mut api);
    }

    eprintln!("dataplane: {services} Services with 2 endpoints each ...");
    let started = Instant::now();
    bulk(client, SMALL..services.max(SMALL)).await?;
    run.created_in = started.elapsed();
    let want = base + (services.max(SMALL) + SMALL_SAMPLES) as f64;
    run.programmed_after = run.created_in + wait_programmed(client, want, PROGRAMMED_LIMIT).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.rss_mib = procfs::sample(k1s.pid)?.rss_mib;

    let before = metrics_text(client).await?;
    eprintln!("dataplane: {NEW_SAMPLES} new Services and {CHANGE_SAMPLES} endpoint changes ...");
    for i in 0..NEW_SAMPLES {
        let v = new_service(client, &format!("new-{i}")).await?;
        collect(v, &mut run.new_at_scale, &mut run.new_api);
    }
    let total = services.max(SMALL);
    for i in 0..CHANGE_SAMPLES {
        // Spread over the table: neighbours in name order share nothing special.
        let name = bulk_name((i * 7919 + 13) % total);
        let v = endpoint_change(client, &name).await?;
        collect(v, &mut run.changes, &mut run.changes_api);
    }
    let after = metrics_text(client).await?;
    run.sync_mean_ms = mean_between(
        &before,
        &after,
        "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    );
    run.programming_mean_ms = mean_between(
        &before,
        &after,
        "kubeproxy_network_programming_duration_seconds",
    );
    run.lost = lost;

    eprintln!("dataplane: {LATENCY_PAIRS} connections through a ClusterIP and straight ...");
    let probe = get_json(client, &format!("{}/{}", services_path(), bulk_name(0))).await?;
    let ip = cluster_ip(&probe)?;
    run.latencies = tokio::task::spawn_blocking(move || latencies(ip, LATENCY_PAIRS)).await??;

    eprintln!("dataplane: k1s started again on a node without its table (a reboot) ...");
    let want = metric(&metrics_text(client).await?, "k1s_proxy_service_ports").unwrap_or(0.0);
    k1s.stop();
    delete_proxy_table()?;
    k1s.respawn()?;
    let restarted = crate::scenarios::startup::start(k1s, http2).await?;
    wait_programmed(&restarted.client, want, PROGRAMMED_LIMIT).await?;
    run.reboot_programmed = k1s.spawned_at.elapsed();
    Ok(run)
}

/// What a reboot does to the proxy's table (the calling thread is in the
/// benchmark's namespace, so `nft` is too).
fn delete_proxy_table() -> anyhow::Result<()> {
    crate::netns::run_tool("nft", &["delete", "table", "ip", "k1s"])
}

/// Creates bulk Services `range` and then their slices, 32 requests at a time.
async fn bulk(client: &Client, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    create_batch(
        client,
        &services_path(),
        range.clone(),
        32,
        Arc::new(|i| service(&bulk_name(i))),
    )
    .await?;
    create_batch(
        client,
        &slices_path(),
        range,
        32,
        Arc::new(|i| slice(&bulk_name(i), &BACKENDS[..2])),
    )
    .await?;
    Ok(())
}

pub fn push_rows(run: &DataplaneRun, report: &mut Report) {
    let small = Summary::of(&run.small);
    let new = Summary::of(&run.new_at_scale);
    let change = Summary::of(&run.changes);
    let l = &run.latencies;
    let cd = Summary::of(&l.connect_direct);
    let cc = Summary::of(&l.connect_cluster);
    let rd = Summary::of(&l.request_direct);
    let rc = Summary::of(&l.request_cluster);
    let n = run.services;
    report.push(Row::new(
        format!("new Service reachable p50, {SMALL} Services"),
        small.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("new Service reachable p50, {n} Services"),
        new.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("new Service reachable p99, {n} Services"),
        new.p99,
        "ms",
        Target::AtMost(100.0),
    ));
    report.push(Row::new(
        "  of which the two create requests, p50",
        Summary::of(&run.new_api).p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "endpoint change live p50",
        change.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "endpoint change live p99",
        change.p99,
        "ms",
        Target::AtMost(20.0),
    ));
    report.push(Row::new(
        "  of which the update request, p50",
        Summary::of(&run.changes_api).p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "samples never reachable (> 15 s)",
        run.lost as f64,
        "",
        Target::AtMost(0.0),
    ));
    report.push(Row::new(
        "TCP connect p50, ClusterIP / backend",
        cc.p50 / cd.p50.max(f64::MIN_POSITIVE),
        "x",
        Target::AtMost(1.1),
    ));
    report.push(Row::new(
        "request p50, ClusterIP / backend",
        rc.p50 / rd.p50.max(f64::MIN_POSITIVE),
        "x",
        Target::AtMost(1.1),
    ));
    report.push(Row::new(
        format!("k1s RSS with {n} Services programmed"),
        run.rss_mib,
        "MiB",
        Target::Info,
    ));
    report.push(Row::new(
        format!("start after a reboot (no table) -> all {n} Services programmed"),
        ms(run.reboot_programmed),
        "ms",
        Target::Info,
    ));
    if let Some(s) = run.sync_mean_ms {
        report.push(Row::new(
            "  proxy partial sync mean (its metrics)",
            s,
            "ms",
            Target::Info,
        ));
    }
    report.section(
        format!("dataplane: {n} Services x 2 endpoints, by real connections"),
        format!(
            "{n} selector-less Services with hand-written EndpointSlices created in {:.1} s ({:.0}/s incl. slices),\n\
             all programmed {:.1} s after the first create. Samples: time from the Service's create request\n\
             (its slice follows) until its ClusterIP answers; from an EndpointSlice update swapping one\n\
             endpoint until the new backend answers. Connections probe every ~1 ms.\n\n{}\n\
             connect    backend p50 {:.0} µs p99 {:.0} µs   ClusterIP p50 {:.0} µs p99 {:.0} µs   (+{:.1} µs at p50)\n\
             request    backend p50 {:.0} µs p99 {:.0} µs   ClusterIP p50 {:.0} µs p99 {:.0} µs\n\
             proxy metrics over the samples: partial sync mean {}, network programming mean {}\n",
            run.created_in.as_secs_f64(),
            rate(2 * n, run.created_in),
            run.programmed_after.as_secs_f64(),
            crate::report::table(
                &["", "k1s", "kube-proxy nftables v1.32 (DESIGN.md §8)"],
                &[
                    vec![
                        format!("new Service reachable p50, {SMALL} Services"),
                        format!("{:.1} ms", small.p50),
                        "1.0 s".into(),
                    ],
                    vec![
                        format!("new Service reachable p50 / p99, {n} Services"),
                        format!("{:.1} / {:.1} ms", new.p50, new.p99),
                        "4.7 s / 10.4 s (10,000 Services)".into(),
                    ],
                    vec![
                        "endpoint change live p50 / p99".into(),
                        format!("{:.1} / {:.1} ms", change.p50, change.p99),
                        "-".into(),
                    ],
                    vec![
                        "first-packet overhead (connect p50)".into(),
                        format!("{:.1} µs", cc.p50 - cd.p50),
                        "~12 µs (published, 5k-30k Services)".into(),
                    ],
                    vec![
                        format!("RSS, {n} Services"),
                        format!("{:.0} MiB (all of k1s)", run.rss_mib),
                        "kube-proxy 211 MiB + kube-apiserver 380 MiB + etcd 2.8 GiB".into(),
                    ],
                ],
            ),
            cd.p50,
            cd.p99,
            cc.p50,
            cc.p99,
            cc.p50 - cd.p50,
            rd.p50,
            rd.p99,
            rc.p50,
            rc.p99,
            run.sync_mean_ms
                .map_or("-".into(), |v| format!("{v:.1} ms")),
            run.programming_mean_ms
                .map_or("-".into(), |v| format!("{v:.1} ms")),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let s = service("svc-1");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
        assert!(s["spec"].get("selector").is_none());
        let sl = slice("svc-1", &BACKENDS[..2]);
        assert_eq!(sl["metadata"]["name"], "svc-1-bench");
        assert_eq!(
            sl["metadata"]["labels"]["kubernetes.io/service-name"],
            "svc-1"
        );
        assert_eq!(sl["endpoints"][1]["addresses"][0], "192.168.56.22");
        assert_eq!(sl["ports"][0]["port"], 8080);
    }

    #[test]
    fn metrics_and_means() {
        let before = "x_sum 1\nx_count 10\nk1s_proxy_service_ports 4\n";
        let after = "x_sum 1.5\nx_count 20\n";
        assert_eq!(metric(before, "k1s_proxy_service_ports"), Some(4.0));
        assert_eq!(metric(before, "k1s_proxy"), None);
        assert_eq!(mean_between(before, after, "x"), Some(50.0));
        assert_eq!(mean_between(after, after, "x"), None);
    }
}
