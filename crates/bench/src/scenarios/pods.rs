//! Pods: N busybox pods created one at a time, each timed from its POST to
//! Running and to Ready as one watch reports them; k1s's own RSS with all
//! of them running; then all deleted and timed until their objects are
//! gone, and the pod network namespaces k1s pins under its data directory
//! counted.

use crate::client::{truncate, Client};
use crate::procfs;
use crate::report::{Report, Row, Target};
use crate::server::K1s;
use crate::stats::{ms, Summary};
use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::time::timeout_at;

/// The image every pod runs; `prepare_image` puts it on the node.
pub const IMAGE: &str = "docker.io/library/busybox:1.35";
const NS: &str = "bench-pods";
/// How long the node may take to register and report Ready.
const NODE_LIMIT: Duration = Duration::from_secs(30);
const NODE_POLL: Duration = Duration::from_millis(20);
/// How long one pod may take from its POST to Ready. A slower pod ends the
/// creating; the pods made so far are still measured and deleted.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How long k1s sits with every pod running before its RSS is read.
const SETTLE: Duration = Duration::from_secs(1);
/// The grace period each deletion asks for. `sleep` is PID 1 of its
/// container and ignores SIGTERM, so every pod waits it out before SIGKILL,
/// as on a real node.
pub const DELETE_GRACE_SECONDS: u64 = 1;
/// How long the deleted pods may take to disappear from the API.
const DELETE_LIMIT: Duration = Duration::from_secs(60);
/// How long pod netns files may outlive their pods before they count as
/// left over (the kubelet removes them before it removes the pod).
const NETNS_LIMIT: Duration = Duration::from_secs(5);
const NETNS_POLL: Duration = Duration::from_millis(10);

/// Builds the offline busybox image (from the host's static busybox) and
/// imports it into the image store of `data_dir`, before k1s starts, as
/// `k1s image import` would.
pub fn prepare_image(work: &Path, data_dir: &Path) -> anyhow::Result<()> {
    use k1s_node::testimages::{busybox_image, busybox_layer};
    let layout = work.join("busybox-image");
    let base = busybox_layer().context("building the busybox test image")?;
    busybox_image(base)
        .build()
        .and_then(|image| image.write_oci_layout(&layout, &[IMAGE], false))
        .with_context(|| format!("writing the busybox image to {}", layout.display()))?;
    let store = k1s_node::image::ImageStore::open(data_dir)
        .with_context(|| format!("opening the image store of {}", data_dir.display()))?;
    let imported = store
        .import(&layout)
        .with_context(|| format!("importing {}", layout.display()))?;
    if !imported.iter().any(|r| r.to_string() == IMAGE) {
        bail!(
            "importing {} gave {imported:?}, not {IMAGE}",
            layout.display()
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
}

/// What the benchmark needs from one line of a pod watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    pub change: Change,
    pub name: String,
    /// containerStatuses[0].state.running is set.
    pub running: bool,
    /// The Ready condition is True.
    pub ready: bool,
}

/// Parses one watch line; None for BOOKMARK, ERROR and anything unreadable.
pub fn pod_event(line: &[u8]) -> Option<PodEvent> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let change = match v["type"].as_str()? {
        "ADDED" => Change::Added,
        "MODIFIED" => Change::Modified,
        "DELETED" => Change::Deleted,
        _ => return None,
    };
    let pod = &v["object"];
    let status = &pod["status"];
    Some(PodEvent {
        change,
        name: pod["metadata"]["name"].as_str()?.to_string(),
        running: status["containerStatuses"][0]["state"]["running"].is_object(),
        ready: status["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        }),
    })
}

/// Whether a /proc/PID/cmdline is a container shim of the k1s whose data
/// directory is `data_dir` (`k1s __shim <data_dir>/containers/<id>`).
pub fn is_shim_of(cmdline: &[u8], data_dir: &Path) -> bool {
    k1s_node::runtime::shim_bundle_of(cmdline).is_some_and(|bundle| bundle.starts_with(data_dir))
}

/// Memory growth per pod; 0 with no pods.
pub fn per_pod_mib(before_mib: f64, after_mib: f64, pods: usize) -> f64 {
    if pods == 0 {
        0.0
    } else {
        (after_mib - before_mib) / pods as f64
    }
}

struct Seen {
    event: PodEvent,
    at: Instant,
}

/// Reads the pod watch, stamping each chunk on arrival (before parsing).
async fn read_stream(mut resp: reqwest::Response, tx: mpsc::UnboundedSender<Seen>) {
    let mut buf: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let at = Instant::now();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if let Some(event) = pod_event(&line) {
                if tx.send(Seen { event, at }).is_err() {
                    return;
                }
            }
        }
    }
}

pub(crate) async fn wait_node_ready(client: &Client) -> anyhow::Result<()> {
    let path = format!("/api/v1/nodes/{}", crate::server::NODE_NAME);
    let deadline = Instant::now() + NODE_LIMIT;
    loop {
        if let Ok((StatusCode::OK, body)) = client.get(&path).await {
            let node: Value = serde_json::from_slice(&body).unwrap_or_default();
            let ready = node["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            if ready {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("node {path} not Ready after {NODE_LIMIT:?}");
        }
        tokio::time::sleep(NODE_POLL).await;
    }
}

/// When one pod was first seen running and Ready.
struct Started {
    running: Instant,
    ready: Instant,
}

/// Waits for `name` to be Ready; None when `deadline` passes first.
/// Events of other pods are skipped.
async fn wait_ready(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    name: &str,
    deadline: Instant,
) -> anyhow::Result<Option<Started>> {
    let deadline = tokio::time::Instant::from_std(deadline);
    let mut running = None;
    loop {
        match timeout_at(deadline, rx.recv()).await {
            Err(_) => return Ok(None),
            Ok(None) => bail!("the pod watch ended"),
            Ok(Some(s)) if s.event.name != name => {}
            Ok(Some(s)) => {
                if s.event.change == Change::Deleted {
                    bail!("pod {name} was deleted while starting");
                }
                if s.event.running {
                    running.get_or_insert(s.at);
                }
                if s.event.ready {
                    return Ok(Some(Started {
                        running: running.unwrap_or(s.at),
                        ready: s.at,
                    }));
                }
            }
        }
    }
}

/// Entries in k1s's pod netns directory (absent counts as empty).
fn netns_count(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("netns"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The cgroup directories of pod `uid` that exist: `k1s/<uid>` in the v2
/// root or in any v1 hierarchy under `root`, with their children first.
pub fn pod_cgroup_dirs(root: &Path, uid: &str) -> Vec<PathBuf> {
    use k1s_node::runtime::cgroup::K1S_DIR;
    let hierarchies = std::fs::read_dir(root)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_else(|_| Vec::new());
    let mut dirs = Vec::new();
    for h in std::iter::once(root.to_path_buf()).chain(hierarchies) {
        let pod = h.join(K1S_DIR).join(uid);
        if let Ok(children) = std::fs::read_dir(&pod) {
            dirs.extend(
                children
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir()),
            );
            dirs.push(pod);
        }
    }
    dirs
}

/// Total VmRSS (MiB) and count of the shims of the k1s using `data_dir`.
fn shims_rss(data_dir: &Path) -> (f64, usize) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0.0, 0);
    };
    let mut kib = 0;
    let mut count = 0;
    for pid in entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if !is_shim_of(&cmdline, data_dir) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if let Some(rss) = procfs::status_kib(&status, "VmRSS") {
            kib += rss;
            count += 1;
        }
    }
    (kib as f64 / 1024.0, count)
}

#[derive(Debug, Default)]
pub struct PodRun {
    pub wanted: usize,
    /// Per Ready pod: from its POST sent until the watch said Ready (ms).
    pub ready_ms: Vec<f64>,
    /// Per Ready pod: from its POST sent until its container was running (ms).
    pub running_ms: Vec<f64>,
    /// Per pod: the POST's own latency (ms).
    pub post_ms: Vec<f64>,
    /// The pod that did not become Ready in time and what it showed.
    pub stalled: Option<String>,
    pub rss_before_mib: f64,
    pub rss_running_mib: f64,
    pub shim_rss_mib: f64,
    pub shims: usize,
    /// Per deleted pod: from its DELETE sent until the watch said DELETED (ms).
    pub gone_ms: Vec<f64>,
    /// From the first DELETE sent until the last pod was gone.
    pub all_gone: Option<Duration>,
    pub not_gone: usize,
    pub leftover_netns: usize,
    /// Deleted pods that still have a cgroup directory.
    pub leftover_cgroups: usize,
}

/// The pod's phase and first container state, for an error note.
async fn describe(client: &Client, path: &str) -> String {
    match client.get(path).await {
        Ok((StatusCode::OK, body)) => {
            let pod: Value = serde_json::from_slice(&body).unwrap_or_default();
            format!(
                "phase {}, container state {}",
                pod["status"]["phase"], pod["status"]["containerStatuses"][0]["state"]
            )
        }
        Ok((status, body)) => format!("GET: {status}: {}", truncate(&body, 200)),
        Err(e) => format!("GET: {e:#}"),
    }
}

pub async fn measure(client: &Client, k1s: &K1s, pods: usize) -> anyhow::Result<PodRun> {
    crate::scenarios::load::ensure_namespace(client, NS).await?;
    wait_node_ready(client).await?;
    let path = format!("/api/v1/namespaces/{NS}/pods");
    let (_, body) = client.get(&path).await?;
    let list: Value = serde_json::from_slice(&body).context("LIST body is not JSON")?;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if rv.is_empty() {
        bail!("LIST {path} has no resourceVersion");
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stream = client
        .watch(&format!("{path}?watch=1&resourceVersion={rv}"))
        .await?;
    let reader = tokio::spawn(read_stream(stream, tx));
    let result = create_and_delete(client, k1s, pods, &path, &mut rx).await;
    reader.abort();
    result
}

async fn create_and_delete(
    client: &Client,
    k1s: &K1s,
    pods: usize,
    path: &str,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
) -> anyhow::Result<PodRun> {
    let mut run = PodRun {
        wanted: pods,
        ..PodRun::default()
    };
    run.rss_before_mib = procfs::sample(k1s.pid)?.rss_mib;
    let mut created = Vec::with_capacity(pods);
    let mut uids = Vec::with_capacity(pods);
    for i in 0..pods {
        let name = format!("pod-{i}");
        let sent = Instant::now();
        let body = client
            .create(path, &crate::objects::sleeping_pod(&name, IMAGE))
            .await?;
        run.post_ms.push(ms(sent.elapsed()));
        let pod: Value = serde_json::from_slice(&body).context("POST pod: body is not JSON")?;
        uids.extend(pod["metadata"]["uid"].as_str().map(String::from));
        created.push(name.clone());
        match wait_ready(rx, &name, sent + READY_LIMIT).await? {
            Some(s) => {
                run.running_ms
                    .push(ms(s.running.saturating_duration_since(sent)));
                run.ready_ms
                    .push(ms(s.ready.saturating_duration_since(sent)));
            }
            None => {
                let state = describe(client, &format!("{path}/{name}")).await;
                run.stalled = Some(format!(
                    "{name} not Ready {READY_LIMIT:?} after its POST ({state})"
                ));
                break;
            }
        }
    }
    tokio::time::sleep(SETTLE).await;
    run.rss_running_mib = procfs::sample(k1s.pid)?.rss_mib;
    (run.shim_rss_mib, run.shims) = shims_rss(&k1s.data_dir);

    let first = Instant::now();
    let mut pending: HashMap<String, Instant> = HashMap::with_capacity(created.len());
    for name in &created {
        let sent = Instant::now();
        let (status, body) = client
            .call(
                Method::DELETE,
                &format!("{path}/{name}?gracePeriodSeconds={DELETE_GRACE_SECONDS}"),
                None,
            )
            .await?;
        if !matches!(status, StatusCode::OK | StatusCode::ACCEPTED) {
            bail!("DELETE {path}/{name}: {status}: {}", truncate(&body, 400));
        }
        pending.insert(name.clone(), sent);
    }
    let deadline = tokio::time::Instant::from_std(first + DELETE_LIMIT);
    let mut last = first;
    while !pending.is_empty() {
        match timeout_at(deadline, rx.recv()).await {
            Err(_) => break,
            Ok(None) => bail!("the pod watch ended"),
            Ok(Some(s)) if s.event.change == Change::Deleted => {
                if let Some(sent) = pending.remove(&s.event.name) {
                    run.gone_ms.push(ms(s.at.saturating_duration_since(sent)));
                    last = last.max(s.at);
                }
            }
            Ok(Some(_)) => {}
        }
    }
    run.not_gone = pending.len();
    if run.not_gone == 0 {
        run.all_gone = Some(last.saturating_duration_since(first));
    }
    let netns_deadline = Instant::now() + NETNS_LIMIT;
    run.leftover_netns = loop {
        let n = netns_count(&k1s.data_dir);
        if n == 0 || Instant::now() > netns_deadline {
            break n;
        }
        tokio::time::sleep(NETNS_POLL).await;
    };
    let root = Path::new(k1s_node::runtime::cgroup::CGROUP_ROOT);
    let leaked: Vec<Vec<PathBuf>> = uids
        .iter()
        .map(|uid| pod_cgroup_dirs(root, uid))
        .filter(|dirs| !dirs.is_empty())
        .collect();
    run.leftover_cgroups = leaked.len();
    // k1s should have removed them; the benchmark leaves the host clean
    // anyway. rmdir only removes cgroups no process is in.
    for dir in leaked.iter().flatten() {
        match std::fs::remove_dir(dir) {
            // A v1 hierarchy mounted twice (cpu -> cpu,cpuacct) lists it twice.
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                eprintln!("warning: removing leftover cgroup {}: {e}", dir.display())
            }
            _ => {}
        }
    }
    Ok(run)
}

/// The rows and the section of one pod run.
pub fn push_rows(run: &PodRun, report: &mut Report) {
    let ready = Summary::of(&run.ready_ms);
    let running = Summary::of(&run.running_ms);
    let post = Summary::of(&run.post_ms);
    let n = run.ready_ms.len();
    report.push(Row::new(
        format!(
            "pod create -> Ready p50 ({} pods, one at a time)",
            run.wanted
        ),
        ready.p50,
        "ms",
        Target::AtMost(150.0),
    ));
    report.push(Row::new(
        "pod create -> Ready p99",
        ready.p99,
        "ms",
        Target::AtMost(500.0),
    ));
    report.push(Row::new(
        "  create -> Running p50",
        running.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "  create -> Running p99",
        running.p99,
        "ms",
        Target::Info,
    ));
    if let Some(first) = run.ready_ms.first() {
        report.push(Row::new(
            "  first pod create -> Ready (unpacks the image)",
            *first,
            "ms",
            Target::Info,
        ));
    }
    report.push(Row::new(
        "  POST pod latency p50",
        post.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("pods Ready within {} s", READY_LIMIT.as_secs()),
        n as f64,
        "",
        Target::AtLeast(run.wanted as f64),
    ));
    report.push(Row::new(
        format!("k1s RSS with {n} running pods"),
        run.rss_running_mib,
        "MiB",
        Target::Info,
    ));
    report.push(Row::new(
        "k1s RSS per running pod",
        per_pod_mib(run.rss_before_mib, run.rss_running_mib, n),
        "MiB",
        Target::AtMost(1.0),
    ));
    report.push(Row::new(
        "  k1s RSS before the pods",
        run.rss_before_mib,
        "MiB",
        Target::Info,
    ));
    report.push(Row::new(
        "  shim RSS per pod (not k1s)",
        if run.shims == 0 {
            0.0
        } else {
            run.shim_rss_mib / run.shims as f64
        },
        "MiB",
        Target::Info,
    ));
    let gone = Summary::of(&run.gone_ms);
    report.push(Row::new(
        format!("pod delete (grace {DELETE_GRACE_SECONDS} s) -> gone p50"),
        gone.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "  delete -> gone p99",
        gone.p99,
        "ms",
        Target::Info,
    ));
    if let Some(all) = run.all_gone {
        report.push(Row::new(
            format!("  first delete -> all {} pods gone", run.gone_ms.len()),
            ms(all),
            "ms",
            Target::Info,
        ));
    }
    report.push(Row::new(
        format!("pods not gone {} s after delete", DELETE_LIMIT.as_secs()),
        run.not_gone as f64,
        "",
        Target::AtMost(0.0),
    ));
    report.push(Row::new(
        "leftover pod netns",
        run.leftover_netns as f64,
        "",
        Target::AtMost(0.0),
    ));
    report.push(Row::new(
        "leftover pod cgroups",
        run.leftover_cgroups as f64,
        "",
        Target::AtMost(0.0),
    ));
    let mut body = format!(
        "{} pods ({IMAGE}, `sleep 3600`, image imported before k1s started), created one at a time:\n\
         each is timed from its POST sent to the watch event with containerStatuses[0].state.running\n\
         (Running) and with the Ready condition True (Ready); one watch stream, stamped on arrival.\n\
         k1s RSS is VmRSS of the k1s process only, {} s after the last pod was Ready; container\n\
         processes and their {} shims are not k1s. Then every pod is deleted with gracePeriodSeconds={DELETE_GRACE_SECONDS}\n\
         (sleep as PID 1 ignores SIGTERM, so each waits out the grace period before SIGKILL); gone =\n\
         the DELETED event, which the kubelet causes after containers, network and netns are removed.\n\
         Leftover: pod netns files ({} s later at most) and pods with a cgroup directory once all are gone\n\
         (the benchmark then removes such empty cgroups itself).\n",
        run.wanted,
        SETTLE.as_secs(),
        run.shims,
        NETNS_LIMIT.as_secs(),
    );
    if let Some(stalled) = &run.stalled {
        body.push_str(&format!("stopped creating: {stalled}\n"));
    }
    report.section("pods", body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_events_from_watch_lines() {
        // (change, name, running, ready) of each line, or None.
        type Want = Option<(Change, &'static str, bool, bool)>;
        let cases: &[(&str, Want)] = &[
            (
                r#"{"type":"ADDED","object":{"metadata":{"name":"pod-0"},"status":{"phase":"Pending"}}}"#,
                Some((Change::Added, "pod-0", false, false)),
            ),
            (
                r#"{"type":"MODIFIED","object":{"metadata":{"name":"pod-0"},"status":{"phase":"Running",
                  "conditions":[{"type":"Ready","status":"False"},{"type":"ContainersReady","status":"True"}],
                  "containerStatuses":[{"name":"main","state":{"running":{"startedAt":"2025-01-01T00:00:00Z"}}}]}}}"#,
                Some((Change::Modified, "pod-0", true, false)),
            ),
            (
                r#"{"type":"MODIFIED","object":{"metadata":{"name":"pod-1"},"status":{
                  "conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}],
                  "containerStatuses":[{"name":"main","state":{"running":{}}}]}}}"#,
                Some((Change::Modified, "pod-1", true, true)),
            ),
            (
                r#"{"type":"MODIFIED","object":{"metadata":{"name":"pod-2"},"status":{
                  "containerStatuses":[{"name":"main","state":{"waiting":{"reason":"ContainerCreating"}}}]}}}"#,
                Some((Change::Modified, "pod-2", false, false)),
            ),
            (
                r#"{"type":"DELETED","object":{"metadata":{"name":"pod-3"},"status":{"conditions":null}}}"#,
                Some((Change::Deleted, "pod-3", false, false)),
            ),
            (
                r#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#,
                None,
            ),
            (
                r#"{"type":"ERROR","object":{"kind":"Status","code":410}}"#,
                None,
            ),
            (r#"{"type":"ADDED","object":{"metadata":{}}}"#, None),
            ("not json", None),
        ];
        for (line, want) in cases {
            let got = pod_event(line.as_bytes()).map(|e| (e.change, e.name, e.running, e.ready));
            let want = want.map(|(c, n, r, rd)| (c, n.to_string(), r, rd));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn shims_of_this_data_dir_only() {
        let data = Path::new("/tmp/k1s-bench-x/data");
        let cases: &[(&[u8], bool)] = &[
            (
                b"/opt/k1s\0__shim\0/tmp/k1s-bench-x/data/containers/abc\0",
                true,
            ),
            (
                b"/opt/k1s\0__shim\0/tmp/k1s-bench-y/data/containers/abc\0",
                false,
            ),
            (
                b"/opt/k1s\0__shim\0/tmp/k1s-bench-x/data2/containers/abc\0",
                false,
            ),
            (
                b"/opt/k1s\0server\0--data-dir\0/tmp/k1s-bench-x/data\0",
                false,
            ),
            (b"", false),
        ];
        for (cmdline, want) in cases {
            assert_eq!(
                is_shim_of(cmdline, data),
                *want,
                "{}",
                String::from_utf8_lossy(cmdline)
            );
        }
    }

    #[test]
    fn cgroup_dirs_of_one_pod_in_v1_and_v2_layouts() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in [
            "memory/k1s/u1/c1",
            "pids/k1s/u1/c1",
            "pids/k1s/u2/c9",
            "cpu/k1s/u1",
            "k1s/u1/c2",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("k1s/u1/cgroup.procs"), "").unwrap();
        let mut got: Vec<String> = pod_cgroup_dirs(r, "u1")
            .iter()
            .map(|p| p.strip_prefix(r).unwrap().display().to_string())
            .collect();
        let children_first = got.iter().position(|p| p == "memory/k1s/u1")
            > got.iter().position(|p| p == "memory/k1s/u1/c1");
        assert!(children_first, "{got:?}");
        got.sort();
        assert_eq!(
            got,
            [
                "cpu/k1s/u1",
                "k1s/u1",
                "k1s/u1/c2",
                "memory/k1s/u1",
                "memory/k1s/u1/c1",
                "pids/k1s/u1",
                "pids/k1s/u1/c1"
            ]
        );
        assert!(pod_cgroup_dirs(r, "u3").is_empty());
    }

    #[test]
    fn memory_per_pod() {
        assert_eq!(per_pod_mib(20.0, 45.0, 50), 0.5);
        assert_eq!(per_pod_mib(20.0, 19.0, 10), -0.1);
        assert_eq!(per_pod_mib(20.0, 45.0, 0), 0.0);
    }
}
