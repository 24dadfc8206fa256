//! Probe workers for one container instance (the kubelet's prober
//! manager): a task per configured probe runs it every period from the
//! node, records Unhealthy events and tells the pod worker when a result
//! changes. Also the preStop hook, which runs the same handlers.

use super::worker::Event;
use super::{container_ref, Context};
use crate::pod::probe::{
    probe_event, run_probe, run_probe_once, ContainerView, DirectDialer, ExecProbe, PodView,
    ProbeWorker, WorkerStep,
};
use crate::runtime::Runtime;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

pub use crate::pod::probe::ProbeKind as Kind;
pub use crate::pod::probe::ProbeResult as Outcome;

/// Exec probes and exec hooks run through the container runtime.
struct RuntimeExec {
    runtime: Arc<Runtime>,
    id: String,
}

impl ExecProbe for RuntimeExec {
    fn exec<'a>(
        &'a self,
        argv: Vec<String>,
        timeout: Duration,
    ) -> crate::pod::probe::BoxFuture<'a, std::io::Result<(i32, Vec<u8>)>> {
        Box::pin(self.runtime.exec_capture(&self.id, argv, timeout))
    }
}

/// Starts the container's probes; the handles are aborted when the
/// instance stops.
pub fn spawn(
    ctx: &Arc<Context>,
    pod: &Value,
    spec: &Value,
    name: &str,
    id: &str,
    ip: Ipv4Addr,
    events: mpsc::UnboundedSender<Event>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let has_startup = spec["startupProbe"].is_object();
    // Liveness and readiness wait until the startup probe has passed.
    let (started_tx, started_rx) = watch::channel(!has_startup);
    let started_tx = Arc::new(started_tx);
    let running_since = Instant::now();
    let mut tasks = Vec::new();
    for kind in [Kind::Startup, Kind::Liveness, Kind::Readiness] {
        let Some(worker) = ProbeWorker::for_container(kind, spec) else {
            continue;
        };
        let probe = ProbeTask {
            ctx: ctx.clone(),
            cref: container_ref(pod, name),
            spec: spec.clone(),
            name: name.to_string(),
            id: id.to_string(),
            ip: ip.to_string(),
            events: events.clone(),
            started_tx: started_tx.clone(),
            started_rx: started_rx.clone(),
            running_since,
        };
        tasks.push(tokio::spawn(probe.run(worker)));
    }
    tasks
}

struct ProbeTask {
    ctx: Arc<Context>,
    cref: k1s_controllers::events::ObjectRef,
    spec: Value,
    name: String,
    id: String,
    ip: String,
    events: mpsc::UnboundedSender<Event>,
    started_tx: Arc<watch::Sender<bool>>,
    started_rx: watch::Receiver<bool>,
    running_since: Instant,
}

impl ProbeTask {
    async fn run(self, mut worker: ProbeWorker) {
        let kind = worker.kind();
        let period = worker.timing().period();
        let exec = RuntimeExec {
            runtime: self.ctx.runtime.clone(),
            id: self.id.clone(),
        };
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let container = ContainerView {
                container_id: &self.id,
                running_for: Some(self.running_since.elapsed()),
                terminated: false,
                started: *self.started_rx.borrow(),
            };
            match worker.before_probe(&PodView::default(), Some(&container)) {
                WorkerStep::Stop => return,
                WorkerStep::Wait => continue,
                WorkerStep::Probe => {}
            }
            let outcome = run_probe(kind, &self.spec, &self.ip, &exec, &DirectDialer).await;
            if let Some(ev) = probe_event(kind, &outcome) {
                self.ctx
                    .recorder
                    .event(self.cref.clone(), ev.event_type, ev.reason, ev.message);
            }
            if let Some(result) = worker.after_probe(&outcome) {
                if kind == Kind::Startup && result == Outcome::Success {
                    let _ = self.started_tx.send(true);
                }
                let sent = self.events.send(Event::Probe {
                    name: self.name.clone(),
                    id: self.id.clone(),
                    kind,
                    outcome: result,
                });
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs a preStop hook (exec, httpGet, tcpSocket or sleep) within `grace`;
/// a failure is reported as the kubelet's FailedPreStopHook event.
pub async fn run_pre_stop(
    ctx: &Arc<Context>,
    pod: &Value,
    spec: &Value,
    hook: &Value,
    id: &str,
    ip: Option<Ipv4Addr>,
    grace: Duration,
) {
    let name = spec["name"].as_str().unwrap_or("");
    if let Some(seconds) = hook["sleep"]["seconds"].as_u64() {
        tokio::time::sleep(Duration::from_secs(seconds).min(grace)).await;
        return;
    }
    let exec = RuntimeExec {
        runtime: ctx.runtime.clone(),
        id: id.to_string(),
    };
    let ip = ip.map(|i| i.to_string()).unwrap_or_default();
    let run = run_probe_once(hook, spec, &ip, &exec, &DirectDialer);
    let outcome = match tokio::time::timeout(grace, run).await {
        Ok(o) => o,
        Err(_) => return,
    };
    use crate::pod::probe::ProbeOutcome;
    let failure = match outcome {
        ProbeOutcome::Failure(m) | ProbeOutcome::Error(m) => Some(m),
        _ => None,
    };
    if let Some(message) = failure {
        ctx.recorder.warning(
            container_ref(pod, name),
            "FailedPreStopHook",
            format!("PreStopHook failed: {message}"),
        );
    }
}
