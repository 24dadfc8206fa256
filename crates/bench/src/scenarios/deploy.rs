//! Deployments: a Deployment of N replicas timed from its POST until all N
//! pods are available, then a rolling update (the default 25% surge, 25%
//! unavailable) timed from its PUT until the rollout is complete. Both are
//! set against a reference taken in the same run: bare pods of the same
//! template started and stopped at the parallelism each phase allows (N at
//! once for the scale-up; maxSurge + maxUnavailable at once for the
//! rollout), summed over the waves that phase needs. So the target measures
//! what the controllers add to the node's own pod starts on this machine.
//! Single pods started one at a time are shown too, for scale.
//!
//! Everything is seen through watches of Deployments, ReplicaSets and pods
//! in the benchmark's namespace, stamped when each chunk arrives.

use crate::client::{truncate, Client};
use crate::procfs;
use crate::report::{Report, Row, Target};
use crate::server::K1s;
use crate::stats::{ms, Summary};
use anyhow::{bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::timeout_at;

const NS: &str = "bench-deploy";
const DEPLOYMENT: &str = "bench";
const APP: &str = "bench-deploy";
/// Single pods timed one at a time, for scale.
pub const PROBES: usize = 5;
/// The default RollingUpdate strategy, in percent of the replicas.
const MAX_SURGE_PCT: u32 = 25;
const MAX_UNAVAILABLE_PCT: u32 = 25;
/// How long one probe pod may take to start or to go.
const PROBE_LIMIT: Duration = Duration::from_secs(30);
/// How long a probe pod runs before it is deleted: Ready comes when its
/// shell has started, perhaps before it has set its SIGTERM trap, and a
/// PID 1 without a handler ignores SIGTERM (it would wait out its grace).
const PROBE_RUN: Duration = Duration::from_millis(300);
/// How long the scale-up, the rollout and the clean-up may each take.
const PHASE_LIMIT: Duration = Duration::from_secs(180);

/// The container every pod runs: busybox's shell, which (unlike `sleep` as
/// PID 1) exits on SIGTERM, so an old pod stops as soon as it is told.
fn container(revision: u32) -> Value {
    json!({
        "name": "main",
        "image": crate::scenarios::pods::IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
        "env": [{"name": "REVISION", "value": revision.to_string()}],
    })
}

/// A Deployment with the default strategy; `revision` goes into an env var
/// so a new value is a new pod template.
pub fn deployment(replicas: usize, revision: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "labels": {"app": APP}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [container(revision)]},
            },
        },
    })
}

/// A bare pod with the Deployment's container, outside its selector.
pub fn probe_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench-probe"}},
        "spec": {"containers": [container(1)]},
    })
}

/// maxSurge and maxUnavailable for `replicas` from percentages, rounded as
/// the Deployment controller rounds them (surge up, unavailable down; never
/// both zero).
pub fn rolling_budget(replicas: u32, surge_pct: u32, unavailable_pct: u32) -> (u32, u32) {
    let surge = (replicas * surge_pct).div_ceil(100);
    let unavailable = replicas * unavailable_pct / 100;
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// The time `pods` pods take when `parallelism` of them run at once and
/// each wave takes `per_wave_ms`: ceil(pods / parallelism) waves.
pub fn waves_ms(pods: usize, parallelism: usize, per_wave_ms: f64) -> f64 {
    pods.div_ceil(parallelism.max(1)) as f64 * per_wave_ms
}

/// The status counts of a Deployment as one watch event showed them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub generation: i64,
    pub observed: i64,
    pub replicas: i64,
    pub updated: i64,
    pub available: i64,
}

impl Progress {
    pub fn of(d: &Value) -> Progress {
        let n = |v: &Value| v.as_i64().unwrap_or(0);
        let s = &d["status"];
        Progress {
            generation: n(&d["metadata"]["generation"]),
            observed: n(&s["observedGeneration"]),
            replicas: n(&s["replicas"]),
            updated: n(&s["updatedReplicas"]),
            available: n(&s["availableReplicas"]),
        }
    }

    /// The controller has seen the current spec and all `want` pods of it
    /// are available, with no others left.
    pub fn complete(&self, want: i64) -> bool {
        self.observed >= self.generation
            && self.updated == want
            && self.available == want
            && self.replicas == want
    }
}

/// spec.replicas and status.replicas of a ReplicaSet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RsCounts {
    pub spec: i64,
    pub status: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deployment,
    ReplicaSet,
    Pod,
}

struct Seen {
    kind: Kind,
    deleted: bool,
    object: Value,
    at: Instant,
}

#[derive(Debug, Clone, Copy, Default)]
struct PodState {
    ready: bool,
    deleting: bool,
}

/// The most restarts any container of `pod` has had.
fn restarts(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["restartCount"].as_i64())
        .max()
        .unwrap_or(0)
}

/// What the watches have shown so far.
#[derive(Default)]
struct View {
    deployment: Progress,
    rss: HashMap<String, RsCounts>,
    /// Pods of the Deployment (not the probes), by name.
    pods: HashMap<String, PodState>,
    /// Live (not deleting) pods of the Deployment at most, since the last reset.
    peak_live: usize,
    /// Ready live pods at least, since the last reset.
    fewest_ready: usize,
    /// Pods of the Deployment whose containers restarted (none should).
    restarted: std::collections::BTreeSet<String>,
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

impl View {
    fn apply(&mut self, s: &Seen) {
        let name = s.object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match s.kind {
            Kind::Deployment if name == DEPLOYMENT && !s.deleted => {
                self.deployment = Progress::of(&s.object)
            }
            Kind::Deployment => {}
            Kind::ReplicaSet if s.deleted => {
                self.rss.remove(&name);
            }
            Kind::ReplicaSet => {
                let n = |v: &Value| v.as_i64().unwrap_or(0);
                let counts = RsCounts {
                    spec: n(&s.object["spec"]["replicas"]),
                    status: n(&s.object["status"]["replicas"]),
                };
                self.rss.insert(name, counts);
            }
            Kind::Pod if s.object["metadata"]["labels"]["app"] != APP => {}
            Kind::Pod if s.deleted => {
                self.pods.remove(&name);
            }
            Kind::Pod => {
                let state = PodState {
                    ready: is_ready(&s.object),
                    deleting: !s.object["metadata"]["deletionTimestamp"].is_null(),
                };
                if restarts(&s.object) > 0 {
                    self.restarted.insert(name.clone());
                }
                self.pods.insert(name, state);
                self.peak_live = self.peak_live.max(self.live());
                self.fewest_ready = self.fewest_ready.min(self.ready());
            }
        }
    }

    fn live(&self) -> usize {
        self.pods.values().filter(|p| !p.deleting).count()
    }

    fn ready(&self) -> usize {
        self.pods
            .values()
            .filter(|p| !p.deleting && p.ready)
            .count()
    }

    /// Starts the peak and the minimum over from now.
    fn reset_extremes(&mut self) {
        self.peak_live = self.live();
        self.fewest_ready = self.ready();
    }
}

/// Reads one watch stream into `tx`, stamping each chunk on arrival.
async fn read_watch(mut resp: reqwest::Response, kind: Kind, tx: mpsc::UnboundedSender<Seen>) {
    let mut buf: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let at = Instant::now();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let Ok(mut event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let deleted = match event["type"].as_str() {
                Some("ADDED") | Some("MODIFIED") => false,
                Some("DELETED") => true,
                _ => continue,
            };
            let object = event["object"].take();
            if tx
                .send(Seen {
                    kind,
                    deleted,
                    object,
                    at,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// Events until `done(view, event)` holds; returns when that event arrived.
async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    view: &mut View,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(&View, &Seen) -> bool,
) -> anyhow::Result<Instant> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match timeout_at(deadline, rx.recv()).await {
            Err(_) => bail!(
                "{what}: not done after {limit:?} (deployment {:?}, replica sets {:?}, {} pods, {} live)",
                view.deployment,
                view.rss,
                view.pods.len(),
                view.live()
            ),
            Ok(None) => bail!("{what}: a watch ended"),
            Ok(Some(s)) => {
                view.apply(&s);
                if done(view, &s) {
                    return Ok(s.at);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct DeployRun {
    pub replicas: usize,
    /// Single pods: POST to Ready, DELETE to gone (ms).
    pub probe_start_ms: Vec<f64>,
    pub probe_stop_ms: Vec<f64>,
    /// Bare pods at the scale-up's parallelism (all replicas at once).
    pub scale_wave: Wave,
    /// Bare pods at the rollout's parallelism (maxSurge + maxUnavailable).
    pub rollout_wave: Wave,
    /// POST of the Deployment until all replicas were available.
    pub scale_up: Duration,
    /// POST until the last of the replicas' pod objects existed.
    pub all_created: Duration,
    pub scale_up_cpu_s: f64,
    /// PUT of the new template until the rollout was complete.
    pub rollout: Duration,
    pub rollout_cpu_s: f64,
    /// PUT until the old ReplicaSets had neither replicas nor pods.
    pub old_drained: Duration,
    /// PUT until the Deployment's status said the rollout was complete.
    pub status_complete: Duration,
    pub surge: u32,
    pub unavailable: u32,
    pub rollout_peak_live: usize,
    pub rollout_fewest_ready: usize,
    /// Pods whose containers restarted during the scale-up or the rollout.
    pub restarted: usize,
    /// DELETE of the Deployment until none of its pods was left.
    pub cleanup: Duration,
}

pub async fn measure(client: &Client, k1s: &K1s, replicas: usize) -> anyhow::Result<DeployRun> {
    crate::scenarios::load::ensure_namespace(client, NS).await?;
    crate::scenarios::pods::wait_node_ready(client).await?;
    let base = format!("/api/v1/namespaces/{NS}/pods");
    let (_, body) = client.get(&base).await?;
    let list: Value = serde_json::from_slice(&body).context("LIST body is not JSON")?;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if rv.is_empty() {
        bail!("LIST {base} has no resourceVersion");
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut readers = Vec::new();
    for (kind, path) in [
        (
            Kind::Deployment,
            format!("/apis/apps/v1/namespaces/{NS}/deployments"),
        ),
        (
            Kind::ReplicaSet,
            format!("/apis/apps/v1/namespaces/{NS}/replicasets"),
        ),
        (Kind::Pod, base.clone()),
    ] {
        let stream = client
            .watch(&format!("{path}?watch=1&resourceVersion={rv}"))
            .await?;
        readers.push(tokio::spawn(read_watch(stream, kind, tx.clone())));
    }
    let result = run_phases(client, k1s, replicas, &mut rx).await;
    for r in readers {
        r.abort();
    }
    result
}

/// `count` bare pods started together (all POSTs at once, until all are
/// Ready) and stopped together (all DELETEs at once, until all are gone).
#[derive(Debug, Default, Clone, Copy)]
pub struct Wave {
    pub pods: usize,
    pub start: Duration,
    pub stop: Duration,
}

/// The name of bare pod `i` of the wave called `wave`.
fn wave_pod(wave: &str, i: usize) -> String {
    format!("{wave}-{i}")
}

fn in_wave(wave: &str, s: &Seen) -> Option<String> {
    let name = s.object["metadata"]["name"].as_str()?;
    let rest = name.strip_prefix(wave)?.strip_prefix('-')?;
    (s.kind == Kind::Pod && rest.parse::<usize>().is_ok()).then(|| name.to_string())
}

async fn bare_wave(
    client: &Client,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    view: &mut View,
    wave: &str,
    count: usize,
) -> anyhow::Result<Wave> {
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    let sent = Instant::now();
    let mut posts = JoinSet::new();
    for i in 0..count {
        let (client, pods, body) = (client.clone(), pods.clone(), probe_pod(&wave_pod(wave, i)));
        posts.spawn(async move { client.create(&pods, &body).await.map(|_| ()) });
    }
    while let Some(posted) = posts.join_next().await {
        posted??;
    }
    let mut ready = std::collections::HashSet::new();
    let all_ready = wait_for(rx, view, PHASE_LIMIT, "bare pods start", |_, s| {
        if let Some(name) = in_wave(wave, s) {
            if !s.deleted && is_ready(&s.object) {
                ready.insert(name);
            }
        }
        ready.len() == count
    })
    .await?;
    let start = all_ready.saturating_duration_since(sent);

    let sent = Instant::now();
    let mut deletes = JoinSet::new();
    for i in 0..count {
        let (client, path) = (client.clone(), format!("{pods}/{}", wave_pod(wave, i)));
        deletes.spawn(async move { delete(&client, &path).await });
    }
    while let Some(deleted) = deletes.join_next().await {
        deleted??;
    }
    let mut gone = std::collections::HashSet::new();
    let all_gone = wait_for(rx, view, PHASE_LIMIT, "bare pods stop", |_, s| {
        if let Some(name) = in_wave(wave, s) {
            if s.deleted {
                gone.insert(name);
            }
        }
        gone.len() == count
    })
    .await?;
    Ok(Wave {
        pods: count,
        start,
        stop: all_gone.saturating_duration_since(sent),
    })
}

async fn delete(client: &Client, path: &str) -> anyhow::Result<()> {
    let (status, body) = client.call(Method::DELETE, path, None).await?;
    if !matches!(status, StatusCode::OK | StatusCode::ACCEPTED) {
        bail!("DELETE {path}: {status}: {}", truncate(&body, 400));
    }
    Ok(())
}

async fn run_phases(
    client: &Client,
    k1s: &K1s,
    replicas: usize,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
) -> anyhow::Result<DeployRun> {
    let mut run = DeployRun {
        replicas,
        ..DeployRun::default()
    };
    let mut view = View::default();
    let want = replicas as i64;

    // For scale: single pods of the same template, one at a time.
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    for i in 0..PROBES {
        let name = format!("probe-{i}");
        let sent = Instant::now();
        client.create(&pods, &probe_pod(&name)).await?;
        let ready = wait_for(rx, &mut view, PROBE_LIMIT, "probe pod start", |_, s| {
            s.kind == Kind::Pod
                && !s.deleted
                && s.object["metadata"]["name"] == name.as_str()
                && is_ready(&s.object)
        })
        .await?;
        run.probe_start_ms
            .push(ms(ready.saturating_duration_since(sent)));
        tokio::time::sleep(PROBE_RUN).await;
        let sent = Instant::now();
        delete(client, &format!("{pods}/{name}")).await?;
        let gone = wait_for(rx, &mut view, PROBE_LIMIT, "probe pod stop", |_, s| {
            s.kind == Kind::Pod && s.deleted && s.object["metadata"]["name"] == name.as_str()
        })
        .await?;
        run.probe_stop_ms
            .push(ms(gone.saturating_duration_since(sent)));
    }

    // The references: bare pods at the parallelism of each phase.
    (run.surge, run.unavailable) =
        rolling_budget(replicas as u32, MAX_SURGE_PCT, MAX_UNAVAILABLE_PCT);
    run.scale_wave = bare_wave(client, rx, &mut view, "bare-all", replicas).await?;
    let parallelism = ((run.surge + run.unavailable) as usize).clamp(1, replicas.max(1));
    run.rollout_wave = bare_wave(client, rx, &mut view, "bare-rolling", parallelism).await?;

    // Scale-up: all replicas at once.
    let deployments = format!("/apis/apps/v1/namespaces/{NS}/deployments");
    let cpu = procfs::sample(k1s.pid)?.cpu_s;
    let sent = Instant::now();
    client
        .create(&deployments, &deployment(replicas, 1))
        .await?;
    let mut created_at = None;
    let available = wait_for(rx, &mut view, PHASE_LIMIT, "scale-up", |v, s| {
        if created_at.is_none() && v.pods.len() >= replicas {
            created_at = Some(s.at);
        }
        v.deployment.generation > 0 && v.deployment.complete(want)
    })
    .await?;
    run.scale_up = available.saturating_duration_since(sent);
    run.all_created = created_at
        .unwrap_or(available)
        .saturating_duration_since(sent);
    run.scale_up_cpu_s = procfs::sample(k1s.pid)?.cpu_s - cpu;

    // Rolling update: a new env value is a new template.
    let old_rss: Vec<String> = view.rss.keys().cloned().collect();
    let path = format!("{deployments}/{DEPLOYMENT}");
    let (status, body) = client.get(&path).await?;
    if status != StatusCode::OK {
        bail!("GET {path}: {status}: {}", truncate(&body, 400));
    }
    let mut current: Value = serde_json::from_slice(&body).context("GET deployment: not JSON")?;
    current["spec"]["template"]["spec"]["containers"] = json!([container(2)]);
    view.reset_extremes();
    let cpu = procfs::sample(k1s.pid)?.cpu_s;
    let sent = Instant::now();
    let (status, body) = client.call(Method::PUT, &path, Some(&current)).await?;
    if status != StatusCode::OK {
        bail!("PUT {path}: {status}: {}", truncate(&body, 400));
    }
    let generation = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|d| d["metadata"]["generation"].as_i64())
        .unwrap_or(2);
    let (mut drained_at, mut reported_at) = (None, None);
    let complete = wait_for(rx, &mut view, PHASE_LIMIT, "rollout", |v, s| {
        let drained = old_rss
            .iter()
            .all(|rs| v.rss.get(rs).is_none_or(|c| c.spec == 0 && c.status == 0));
        let reported = v.deployment.generation >= generation && v.deployment.complete(want);
        if drained {
            drained_at.get_or_insert(s.at);
        }
        if reported {
            reported_at.get_or_insert(s.at);
        }
        drained && reported
    })
    .await?;
    run.rollout = complete.saturating_duration_since(sent);
    run.old_drained = drained_at
        .unwrap_or(complete)
        .saturating_duration_since(sent);
    run.status_complete = reported_at
        .unwrap_or(complete)
        .saturating_duration_since(sent);
    run.rollout_cpu_s = procfs::sample(k1s.pid)?.cpu_s - cpu;
    run.rollout_peak_live = view.peak_live;
    run.rollout_fewest_ready = view.fewest_ready;
    run.restarted = view.restarted.len();

    // Clean-up, so later scenarios run on a quiet node.
    let sent = Instant::now();
    delete(client, &path).await?;
    let gone = wait_for(rx, &mut view, PHASE_LIMIT, "clean-up", |v, _| {
        v.pods.is_empty()
    })
    .await?;
    run.cleanup = gone.saturating_duration_since(sent);
    Ok(run)
}

/// The rows and the section of one Deployment run.
pub fn push_rows(run: &DeployRun, report: &mut Report) {
    let start = Summary::of(&run.probe_start_ms);
    let stop = Summary::of(&run.probe_stop_ms);
    let n = run.replicas;
    let scale_ref = waves_ms(n, run.scale_wave.pods, ms(run.scale_wave.start));
    let parallelism = run.rollout_wave.pods;
    let rollout_ref = waves_ms(
        n,
        parallelism,
        ms(run.rollout_wave.start) + ms(run.rollout_wave.stop),
    );
    report.push(Row::new(
        format!("deploy {n} replicas: create -> all available"),
        ms(run.scale_up),
        "ms",
        Target::AtMost(2.0 * scale_ref),
    ));
    report.push(Row::new(
        format!("  reference: {n} bare pods started at once -> all Ready"),
        scale_ref,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("  all {n} pod objects created"),
        ms(run.all_created),
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "  k1s CPU during the scale-up",
        run.scale_up_cpu_s * 1000.0,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!(
            "deploy rolling update ({}%/{}%) -> complete",
            MAX_SURGE_PCT, MAX_UNAVAILABLE_PCT
        ),
        ms(run.rollout),
        "ms",
        Target::AtMost(2.0 * rollout_ref),
    ));
    report.push(Row::new(
        format!(
            "  reference: {} waves x ({parallelism} bare pods started + stopped at once)",
            n.div_ceil(parallelism.max(1))
        ),
        rollout_ref,
        "ms",
        Target::Info,
    ));
    // maxSurge bounds the ReplicaSets' spec.replicas; pod objects follow
    // a moment later (the new ReplicaSet may create before the old one has
    // deleted), upstream as here, so this one is for information.
    report.push(Row::new(
        format!("  peak live pods ({} + surge {} in specs)", n, run.surge),
        run.rollout_peak_live as f64,
        "",
        Target::Info,
    ));
    report.push(Row::new(
        format!(
            "  fewest ready pods (>= {} - unavailable {})",
            n, run.unavailable
        ),
        run.rollout_fewest_ready as f64,
        "",
        Target::AtLeast(n.saturating_sub(run.unavailable as usize) as f64),
    ));
    report.push(Row::new(
        "  old ReplicaSet at 0 replicas, 0 pods",
        ms(run.old_drained),
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "  Deployment status complete",
        ms(run.status_complete),
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "  pods whose container restarted",
        run.restarted as f64,
        "",
        Target::AtMost(0.0),
    ));
    report.push(Row::new(
        "  k1s CPU during the rollout",
        run.rollout_cpu_s * 1000.0,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("  single pod create -> Ready p50 ({} pods)", start.n),
        start.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        "  single pod delete -> gone p50",
        stop.p50,
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("  delete Deployment -> all {n} pods gone"),
        ms(run.cleanup),
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("  {parallelism} bare pods: create at once -> all Ready"),
        ms(run.rollout_wave.start),
        "ms",
        Target::Info,
    ));
    report.push(Row::new(
        format!("  {parallelism} bare pods: delete at once -> all gone"),
        ms(run.rollout_wave.stop),
        "ms",
        Target::Info,
    ));
    report.section(
        "deploy",
        format!(
            "Targets are 2x a reference taken in the same run: bare pods of the same template\n\
             started (and, for the rollout, stopped) at the parallelism the phase allows, summed\n\
             over its waves: {n} at once for the scale-up ({} ms to all Ready); maxSurge {} +\n\
             maxUnavailable {} = {parallelism} at once for the rollout ({} ms to all Ready, {} ms\n\
             to all gone). So the targets measure what the controllers add to the node's own pod\n\
             starts on this machine. One pod alone starts in {} ms p50 and stops in {} ms p50;\n\
             k1s used {:.0} ms of CPU for the scale-up ({:.1} ms a pod, shims and containers not\n\
             counted).\n",
            ms(run.scale_wave.start).round(),
            run.surge,
            run.unavailable,
            ms(run.rollout_wave.start).round(),
            ms(run.rollout_wave.stop).round(),
            start.p50.round(),
            stop.p50.round(),
            run.scale_up_cpu_s * 1000.0,
            run.scale_up_cpu_s * 1000.0 / n.max(1) as f64,
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_round_like_the_deployment_controller() {
        let cases = [
            // replicas, surge, unavailable
            (50, 13, 12),
            (4, 1, 1),
            (3, 1, 0),
            (1, 1, 0),
            (0, 0, 1),
            (100, 25, 25),
        ];
        for (replicas, surge, unavailable) in cases {
            assert_eq!(
                rolling_budget(replicas, 25, 25),
                (surge, unavailable),
                "{replicas}"
            );
        }
        assert_eq!(rolling_budget(10, 0, 0), (0, 1));
    }

    #[test]
    fn wave_pods_are_told_apart_by_prefix_and_number() {
        let seen = |kind, name: &str| Seen {
            kind,
            deleted: false,
            object: json!({"metadata": {"name": name}}),
            at: Instant::now(),
        };
        assert_eq!(
            in_wave("bare-all", &seen(Kind::Pod, &wave_pod("bare-all", 7))),
            Some("bare-all-7".to_string())
        );
        assert_eq!(in_wave("bare-all", &seen(Kind::Pod, "bare-all-x")), None);
        assert_eq!(
            in_wave("bare-all", &seen(Kind::Pod, "bare-rolling-1")),
            None
        );
        assert_eq!(in_wave("bare", &seen(Kind::Pod, "bare-all-1")), None);
        assert_eq!(
            in_wave("bare-all", &seen(Kind::ReplicaSet, "bare-all-1")),
            None
        );
    }

    #[test]
    fn references_sum_waves() {
        // All at once: one wave.
        assert_eq!(waves_ms(50, 50, 120.0), 120.0);
        // 50 pods, 25 at a time: two waves.
        assert_eq!(waves_ms(50, 25, 300.0), 600.0);
        assert_eq!(waves_ms(50, 24, 100.0), 300.0);
        assert_eq!(waves_ms(5, 0, 10.0), 50.0);
        assert_eq!(waves_ms(0, 5, 10.0), 0.0);
    }

    #[test]
    fn progress_is_complete_only_for_the_current_generation() {
        let d = |generation: i64, observed: i64, replicas: i64, updated: i64, available: i64| {
            json!({"metadata": {"generation": generation},
                   "status": {"observedGeneration": observed, "replicas": replicas,
                              "updatedReplicas": updated, "availableReplicas": available}})
        };
        assert!(Progress::of(&d(1, 1, 50, 50, 50)).complete(50));
        assert!(!Progress::of(&d(2, 1, 50, 50, 50)).complete(50));
        // Old pods still counted: not complete.
        assert!(!Progress::of(&d(2, 2, 63, 50, 50)).complete(50));
        assert!(!Progress::of(&d(2, 2, 50, 50, 49)).complete(50));
        assert_eq!(Progress::of(&json!({})), Progress::default());
    }

    #[test]
    fn the_view_tracks_the_deployments_pods_only() {
        let mut v = View::default();
        let seen = |kind, deleted, object: Value| Seen {
            kind,
            deleted,
            object,
            at: Instant::now(),
        };
        let pod = |name: &str, app: &str, deleting: bool| {
            let mut p = json!({"metadata": {"name": name, "labels": {"app": app}},
                               "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
            if deleting {
                p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            p
        };
        v.apply(&seen(Kind::Pod, false, pod("a", APP, false)));
        v.apply(&seen(Kind::Pod, false, pod("b", APP, false)));
        v.apply(&seen(
            Kind::Pod,
            false,
            pod("probe-0", "bench-probe", false),
        ));
        assert_eq!((v.pods.len(), v.live(), v.peak_live), (2, 2, 2));
        v.reset_extremes();
        v.apply(&seen(Kind::Pod, false, pod("a", APP, true)));
        assert_eq!((v.pods.len(), v.live(), v.peak_live), (2, 1, 2));
        assert_eq!((v.ready(), v.fewest_ready), (1, 1));
        v.apply(&seen(Kind::Pod, true, pod("a", APP, true)));
        assert_eq!(v.pods.len(), 1);
        assert!(v.restarted.is_empty());
        let mut crashed = pod("b", APP, false);
        crashed["status"]["containerStatuses"] = json!([{"restartCount": 1}]);
        v.apply(&seen(Kind::Pod, false, crashed));
        assert_eq!(v.restarted.len(), 1);
        assert!(v.pods["b"].ready);

        let rs = json!({"metadata": {"name": "bench-1"}, "spec": {"replicas": 3}, "status": {"replicas": 2}});
        v.apply(&seen(Kind::ReplicaSet, false, rs.clone()));
        assert_eq!(v.rss["bench-1"], RsCounts { spec: 3, status: 2 });
        v.apply(&seen(Kind::ReplicaSet, true, rs));
        assert!(v.rss.is_empty());

        let d = json!({"metadata": {"name": DEPLOYMENT, "generation": 1},
                       "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        v.apply(&seen(Kind::Deployment, false, d));
        assert!(v.deployment.complete(1));
    }

    #[test]
    fn templates_differ_by_revision_only() {
        let a = deployment(50, 1);
        let b = deployment(50, 2);
        assert_eq!(a["spec"]["replicas"], 50);
        assert_ne!(a["spec"]["template"], b["spec"]["template"]);
        assert_eq!(
            a["spec"]["template"]["spec"]["containers"][0]["image"],
            crate::scenarios::pods::IMAGE
        );
        let p = probe_pod("probe-1");
        assert_eq!(
            p["spec"]["containers"][0],
            a["spec"]["template"]["spec"]["containers"][0]
        );
        assert_ne!(p["metadata"]["labels"]["app"], APP);
    }
}
