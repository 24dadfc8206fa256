//! One task per pod, like the kubelet's pod worker: it brings the sandbox
//! up, runs init containers then containers, restarts them per
//! restartPolicy with back-off, follows probes, reports status, and on
//! deletion stops everything gracefully and removes the pod.

use super::state::{ContainerRecord, Phase, PodView, Terminated};
use super::{pod_ref, Context};
use crate::runtime::{ContainerConfig, ExitInfo};
use k1s_apiserver::objects::now_rfc3339;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// What wakes a pod worker besides a new version of the pod.
#[derive(Debug)]
pub enum Event {
    Exited {
        name: String,
        id: String,
        info: ExitInfo,
    },
    Probe {
        name: String,
        id: String,
        kind: super::probes::Kind,
        outcome: super::probes::Outcome,
    },
}

/// A container the runtime still has for this pod (found at start-up).
#[derive(Debug, Clone)]
pub struct Adopted {
    pub id: String,
    pub config: ContainerConfig,
    pub state: crate::runtime::State,
}

/// The live side of one container: its record plus what the worker needs
/// to drive it.
struct Slot {
    record: ContainerRecord,
    init: bool,
    /// Hash of the container's spec the running instance was made from.
    spec_hash: u64,
    /// No start before this instant (restart back-off or image back-off).
    not_before: Option<Instant>,
    probes: Vec<tokio::task::JoinHandle<()>>,
}

impl Slot {
    fn stop_probes(&mut self) {
        for p in self.probes.drain(..) {
            p.abort();
        }
    }
}

pub struct Worker {
    ctx: Arc<Context>,
    uid: String,
    pod: Arc<Value>,
    events_tx: mpsc::UnboundedSender<Event>,
    slots: Vec<Slot>,
    sandbox: Option<super::sandbox::Sandbox>,
    start_time: Option<String>,
    terminal: Option<String>,
    /// The IP a finished pod had after its network was released.
    released_ip: Option<String>,
    pushed_status: Option<Value>,
}

fn spec_hash(container: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    container.to_string().hash(&mut h);
    h.finish()
}

fn containers(pod: &Value, field: &str) -> Vec<Value> {
    pod["spec"][field].as_array().cloned().unwrap_or_default()
}

/// A grace period from the pod: the deletion's, else the spec's, else 30 s.
fn grace_period(pod: &Value) -> Duration {
    let secs = pod["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0);
    Duration::from_secs(secs as u64)
}

fn exit_reason(info: &ExitInfo) -> &'static str {
    if info.oom_killed {
        "OOMKilled"
    } else if info.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    }
}

impl Worker {
    pub async fn run(
        ctx: Arc<Context>,
        uid: String,
        mut updates: watch::Receiver<Option<Arc<Value>>>,
        adopted: Vec<Adopted>,
    ) {
        let Some(pod) = updates.borrow_and_update().clone() else {
            return;
        };
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let mut w = Worker {
            ctx,
            uid,
            pod,
            events_tx,
            slots: Vec::new(),
            sandbox: None,
            start_time: None,
            terminal: None,
            released_ip: None,
            pushed_status: None,
        };
        w.build_slots();
        w.adopt(adopted);
        loop {
            let gone = updates.borrow().is_none();
            if gone {
                w.terminate(Duration::from_secs(2)).await;
                w.cleanup().await;
                return;
            }
            if super::is_deleting(&w.pod) {
                let grace = grace_period(&w.pod);
                w.terminate(grace).await;
                w.cleanup().await;
                w.remove_from_api().await;
                return;
            }
            w.sync().await;
            w.push_status().await;
            let wake = w.next_wake();
            tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() {
                        // The dispatcher stopped (shutdown): leave containers running.
                        return;
                    }
                    if let Some(p) = updates.borrow_and_update().clone() {
                        w.pod = p;
                    }
                }
                Some(ev) = events.recv() => w.handle(ev).await,
                _ = sleep_until(wake) => {}
            }
            // Take everything else that is already queued before syncing.
            while let Ok(ev) = events.try_recv() {
                w.handle(ev).await;
            }
        }
    }

    fn build_slots(&mut self) {
        let mut slots = Vec::new();
        for (field, init) in [("initContainers", true), ("containers", false)] {
            for c in containers(&self.pod, field) {
                let name = c["name"].as_str().unwrap_or("");
                let image = c["image"].as_str().unwrap_or("");
                slots.push(Slot {
                    record: ContainerRecord::new(name, image),
                    init,
                    spec_hash: spec_hash(&c),
                    not_before: None,
                    probes: Vec::new(),
                });
            }
        }
        // Init containers wait with PodInitializing shown on app containers.
        let has_init = slots.iter().any(|s| s.init);
        for s in slots.iter_mut().filter(|s| !s.init && has_init) {
            s.record.state = Phase::Waiting {
                reason: "PodInitializing".into(),
                message: None,
            };
        }
        self.slots = slots;
    }

    /// Takes over containers that survived a k1s restart: the newest
    /// instance per name is current, exited ones count as restarts.
    fn adopt(&mut self, mut adopted: Vec<Adopted>) {
        adopted.sort_by_key(|a| a.config.attempt);
        for a in adopted {
            let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.record.name == a.config.container_name)
            else {
                let (runtime, id) = (self.ctx.runtime.clone(), a.id.clone());
                tokio::spawn(async move { super::remove_container(&runtime, &id).await });
                continue;
            };
            slot.record.restart_count = a.config.attempt;
            match a.state {
                crate::runtime::State::Running { started_at, .. } => {
                    let started_at = super::k8s_time(&started_at);
                    self.start_time.get_or_insert_with(|| started_at.clone());
                    slot.record.state = Phase::Running {
                        id: a.id.clone(),
                        started_at,
                    };
                    // Probes start over; until then a probed container is not ready.
                    let spec = spec_named(&self.pod, &a.config.container_name);
                    let probed = spec
                        .as_ref()
                        .is_some_and(|s| !s["readinessProbe"].is_null());
                    slot.record.started = true;
                    slot.record.ready = !probed && !slot.init;
                    self.watch_exit(&a.config.container_name, &a.id);
                }
                crate::runtime::State::Exited(info) => {
                    let started = info
                        .started_at
                        .map(|t| super::k8s_time(&t))
                        .unwrap_or_default();
                    slot.record.state = Phase::Terminated(terminated(&a.id, &started, &info));
                }
                crate::runtime::State::Created => {
                    let (runtime, id) = (self.ctx.runtime.clone(), a.id.clone());
                    tokio::spawn(async move { super::remove_container(&runtime, &id).await });
                }
            }
        }
    }

    /// Containers adopted after a restart get their probes once the
    /// sandbox (and so the pod IP) is known again.
    fn probe_adopted(&mut self) {
        let Some(ip) = self.sandbox.as_ref().map(|s| s.ip) else {
            return;
        };
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.init || !slot.probes.is_empty() {
                continue;
            }
            let Some(id) = slot.record.running_id().map(String::from) else {
                continue;
            };
            let name = slot.record.name.clone();
            if let Some(spec) = spec_named(&self.pod, &name) {
                self.slots[i].probes = super::probes::spawn(
                    &self.ctx,
                    &self.pod,
                    &spec,
                    &name,
                    &id,
                    ip,
                    self.events_tx.clone(),
                );
            }
        }
    }

    /// Reports the container's exit to the worker when it happens.
    fn watch_exit(&self, name: &str, id: &str) {
        let events = self.events_tx.clone();
        let runtime = self.ctx.runtime.clone();
        let (name, id) = (name.to_string(), id.to_string());
        tokio::spawn(async move {
            let info = super::wait_container(&runtime, &id).await;
            let _ = events.send(Event::Exited { name, id, info });
        });
    }

    fn next_wake(&self) -> Option<Instant> {
        self.slots.iter().filter_map(|s| s.not_before).min()
    }

    async fn handle(&mut self, ev: Event) {
        match ev {
            Event::Exited { name, id, info } => {
                let Some(slot) = self.slots.iter_mut().find(|s| s.record.name == name) else {
                    return;
                };
                if slot.record.running_id() != Some(id.as_str()) {
                    return;
                }
                slot.stop_probes();
                let started = match &slot.record.state {
                    Phase::Running { started_at, .. } => started_at.clone(),
                    _ => String::new(),
                };
                slot.record.state = Phase::Terminated(terminated(&id, &started, &info));
                slot.record.ready = false;
                slot.record.started = false;
            }
            Event::Probe {
                name,
                id,
                kind,
                outcome,
            } => self.on_probe(&name, &id, kind, outcome).await,
        }
    }

    /// Brings the pod towards its spec: sandbox, init containers in order,
    /// then every app container.
    async fn sync(&mut self) {
        if self.terminal.is_some() {
            return;
        }
        self.restart_changed_containers().await;
        if self.sandbox.is_none() {
            match super::sandbox::Sandbox::create(&self.ctx, &self.pod).await {
                Ok(sb) => {
                    self.start_time.get_or_insert_with(now_rfc3339);
                    self.sandbox = Some(sb);
                    self.probe_adopted();
                }
                Err(message) => {
                    self.ctx.recorder.warning(
                        pod_ref(&self.pod),
                        "FailedCreatePodSandBox",
                        format!("Failed to create pod sandbox: {message}"),
                    );
                    return;
                }
            }
        }
        let policy = self.restart_policy();
        // Init containers: one at a time, each to success.
        let init_count = self.slots.iter().filter(|s| s.init).count();
        for i in 0..init_count {
            if self.slots[i].record.succeeded() {
                continue;
            }
            if self.slots[i].record.is_running() {
                return;
            }
            if let Some(t) = self.slots[i].record.terminated().cloned() {
                // A failed init container restarts unless the pod never restarts.
                if policy == "Never" {
                    self.terminal = Some("Failed".into());
                    return;
                }
                if !self.backoff_allows(i, &t) {
                    return;
                }
            }
            self.start(i).await;
            return;
        }
        for i in init_count..self.slots.len() {
            if self.slots[i].record.is_running() {
                continue;
            }
            let last = self.slots[i].record.terminated().cloned();
            if let Some(t) = &last {
                if !crate::pod::backoff::should_restart(&policy, t.exit_code) {
                    continue;
                }
                if !self.backoff_allows(i, t) {
                    continue;
                }
            }
            if let Some(at) = self.slots[i].not_before {
                if at > Instant::now() {
                    continue;
                }
            }
            self.start(i).await;
        }
        let phase = super::state::phase(&self.pod, &self.view());
        if phase == "Succeeded" || phase == "Failed" {
            self.terminal = Some(phase.to_string());
            // A finished pod gives its sandbox back (its IP stays reported).
            self.release_sandbox().await;
        }
    }

    fn restart_policy(&self) -> String {
        self.pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always")
            .to_string()
    }

    fn backoff_key(&self, container: &str) -> String {
        format!("{}/{container}", self.uid)
    }

    /// The kubelet's doBackOff: a container that crashed again within its
    /// back-off waits with CrashLoopBackOff.
    fn backoff_allows(&mut self, i: usize, last: &Terminated) -> bool {
        let key = self.backoff_key(&self.slots[i].record.name);
        let finished = super::parse_time(&last.finished_at);
        let mut backoff = self
            .ctx
            .restart_backoff
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = backoff.in_backoff_since(&key, finished) {
            let message = crate::pod::backoff::crash_loop_message(
                backoff.current(&key),
                &self.slots[i].record.name,
                &crate::pod::pod_full_name(&self.pod),
            );
            drop(backoff);
            let slot = &mut self.slots[i];
            slot.not_before = Some(Instant::now() + wait);
            let was = matches!(&slot.record.state, Phase::Waiting { reason, .. } if reason == "CrashLoopBackOff");
            if let Some(t) = slot.record.terminated().cloned() {
                slot.record.last = Some(t);
            }
            slot.record.state = Phase::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(message.clone()),
            };
            if !was {
                self.ctx.recorder.warning(
                    super::container_ref(&self.pod, &self.slots[i].record.name),
                    "BackOff",
                    crate::pod::backoff::backoff_event_message(
                        &self.slots[i].record.name,
                        &crate::pod::pod_full_name(&self.pod),
                    ),
                );
            }
            return false;
        }
        backoff.next(&key, finished);
        self.slots[i].not_before = None;
        true
    }

    /// A container whose spec changed (e.g. `kubectl set image` on a bare
    /// pod) is killed and started again from the new spec.
    async fn restart_changed_containers(&mut self) {
        let specs: Vec<Value> = containers(&self.pod, "initContainers")
            .into_iter()
            .chain(containers(&self.pod, "containers"))
            .collect();
        for (i, spec) in specs.iter().enumerate() {
            if i >= self.slots.len() {
                break;
            }
            let hash = spec_hash(spec);
            if self.slots[i].spec_hash == hash {
                continue;
            }
            self.slots[i].spec_hash = hash;
            self.slots[i].record.image = spec["image"].as_str().unwrap_or("").to_string();
            if self.slots[i].record.is_running() {
                let name = self.slots[i].record.name.clone();
                self.ctx.recorder.normal(
                    super::container_ref(&self.pod, &name),
                    "Killing",
                    format!("Container {name} definition changed, will be restarted"),
                );
                self.kill(i, grace_period(&self.pod)).await;
                // Restarting for a new definition is not a crash.
                self.slots[i].not_before = None;
            }
        }
    }

    async fn start(&mut self, i: usize) {
        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        let name = self.slots[i].record.name.clone();
        let Some(spec) = spec_named(&self.pod, &name) else {
            return;
        };
        let image = match super::images::ensure(&self.ctx, &self.pod, &self.uid, &spec).await {
            Ok(image) => image,
            Err(waiting) => {
                let slot = &mut self.slots[i];
                slot.not_before = waiting.retry_at;
                slot.record.state = Phase::Waiting {
                    reason: waiting.reason,
                    message: Some(waiting.message),
                };
                return;
            }
        };
        self.slots[i].record.image_id = Some(image.image_id.clone());
        let attempt = match (&self.slots[i].record.state, &self.slots[i].record.last) {
            (Phase::Terminated(_), _) | (Phase::Waiting { .. }, Some(_)) => {
                self.slots[i].record.restart_count + 1
            }
            _ => self.slots[i].record.restart_count,
        };
        let config = match super::containers::config(
            &self.ctx, &self.pod, &self.uid, &spec, &image, &sandbox, attempt,
        )
        .await
        {
            Ok(c) => c,
            Err(message) => {
                // CreateContainerConfigError: retried on the next sync.
                let slot = &mut self.slots[i];
                slot.not_before = Some(Instant::now() + Duration::from_secs(2));
                if !matches!(&slot.record.state, Phase::Waiting { message: Some(m), .. } if *m == message)
                {
                    self.ctx.recorder.warning(
                        super::container_ref(&self.pod, &name),
                        "Failed",
                        format!("Error: {message}"),
                    );
                }
                self.slots[i].record.state = Phase::Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: Some(message),
                };
                return;
            }
        };
        if let Some(t) = self.slots[i].record.terminated().cloned() {
            self.slots[i].record.last = Some(t);
        }
        self.slots[i].record.restart_count = attempt;
        self.ctx.recorder.normal(
            super::container_ref(&self.pod, &name),
            "Created",
            format!("Created container {name}"),
        );
        match self.ctx.runtime.start(&config).await {
            Ok(started) => {
                self.ctx.recorder.normal(
                    super::container_ref(&self.pod, &name),
                    "Started",
                    format!("Started container {name}"),
                );
                let slot = &mut self.slots[i];
                // The wait it had (back-off, a retry) is over: a past
                // wake-up time would spin the worker's loop.
                slot.not_before = None;
                slot.record.state = Phase::Running {
                    id: started.id.clone(),
                    started_at: super::k8s_time(&started.started_at),
                };
                slot.record.ready = false;
                slot.record.started = spec["startupProbe"].is_null();
                // Without a readiness probe a running container is ready.
                if spec["readinessProbe"].is_null() && slot.record.started && !slot.init {
                    slot.record.ready = true;
                }
                self.watch_exit(&name, &started.id);
                if !self.slots[i].init {
                    self.slots[i].probes = super::probes::spawn(
                        &self.ctx,
                        &self.pod,
                        &spec,
                        &name,
                        &started.id,
                        sandbox.ip,
                        self.events_tx.clone(),
                    );
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::debug!(pod = %self.uid, container = %name, "start failed: {}", e.detail());
                self.ctx.recorder.warning(
                    super::container_ref(&self.pod, &name),
                    "Failed",
                    format!("Error: {message}"),
                );
                let now = now_rfc3339();
                self.slots[i].record.state = Phase::Terminated(Terminated {
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".into(),
                    message: Some(message),
                    started_at: Some("1970-01-01T00:00:00Z".into()),
                    finished_at: now,
                    container_id: None,
                });
            }
        }
    }

    async fn on_probe(
        &mut self,
        name: &str,
        id: &str,
        kind: super::probes::Kind,
        outcome: super::probes::Outcome,
    ) {
        use super::probes::{Kind, Outcome};
        let Some(i) = self.slots.iter().position(|s| s.record.name == name) else {
            return;
        };
        if self.slots[i].record.running_id() != Some(id) {
            return;
        }
        match (kind, outcome) {
            (Kind::Readiness, Outcome::Success) => {
                self.slots[i].record.ready = self.slots[i].record.started
            }
            (Kind::Readiness, Outcome::Failure | Outcome::Unknown) => {
                self.slots[i].record.ready = false
            }
            (Kind::Startup, Outcome::Success) => {
                self.slots[i].record.started = true;
                let spec_has_readiness =
                    spec_named(&self.pod, name).is_some_and(|c| !c["readinessProbe"].is_null());
                if !spec_has_readiness {
                    self.slots[i].record.ready = true;
                }
            }
            (Kind::Liveness | Kind::Startup, Outcome::Failure | Outcome::Unknown) => {
                let restarts = self.restart_policy() != "Never";
                self.ctx.recorder.normal(
                    super::container_ref(&self.pod, name),
                    "Killing",
                    crate::pod::probe::kill_message(name, kind, restarts),
                );
                self.kill(i, grace_period(&self.pod)).await;
            }
            (Kind::Liveness, Outcome::Success) => {}
        }
    }

    /// Stops one running container (preStop, SIGTERM, grace, SIGKILL) and
    /// records how it ended.
    async fn kill(&mut self, i: usize, grace: Duration) {
        let Some(id) = self.slots[i].record.running_id().map(String::from) else {
            return;
        };
        self.slots[i].stop_probes();
        let spec = spec_named(&self.pod, &self.slots[i].record.name);
        let ip = self.sandbox.as_ref().map(|s| s.ip);
        let info = stop_container(
            self.ctx.clone(),
            self.pod.clone(),
            spec,
            id.clone(),
            ip,
            grace,
        )
        .await;
        let started_at = match &self.slots[i].record.state {
            Phase::Running { started_at, .. } => started_at.clone(),
            _ => String::new(),
        };
        let slot = &mut self.slots[i];
        slot.record.state = Phase::Terminated(terminated(&id, &started_at, &info));
        slot.record.ready = false;
        slot.record.started = false;
    }

    /// Stops every running container within `grace` (the kubelet's
    /// killPod), app containers in parallel.
    async fn terminate(&mut self, grace: Duration) {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].record.is_running())
            .collect();
        for &i in &running {
            let name = self.slots[i].record.name.clone();
            self.ctx.recorder.normal(
                super::container_ref(&self.pod, &name),
                "Killing",
                format!("Stopping container {name}"),
            );
        }
        let mut stops = Vec::new();
        for &i in &running {
            self.slots[i].stop_probes();
            let Some(id) = self.slots[i].record.running_id().map(String::from) else {
                continue;
            };
            let spec = spec_named(&self.pod, &self.slots[i].record.name);
            let ip = self.sandbox.as_ref().map(|s| s.ip);
            stops.push(tokio::spawn(stop_container(
                self.ctx.clone(),
                self.pod.clone(),
                spec,
                id,
                ip,
                grace,
            )));
        }
        for s in stops {
            let _ = s.await;
        }
        for i in running {
            self.slots[i].record.state = Phase::Waiting {
                reason: "Terminated".into(),
                message: None,
            };
        }
    }

    async fn release_sandbox(&mut self) {
        for s in &mut self.slots {
            s.stop_probes();
        }
        if let Some(sb) = self.sandbox.take() {
            sb.release_network(&self.ctx).await;
            // Keep reporting the IP the pod had, as the kubelet does.
            self.released_ip = Some(sb.ip.to_string());
        }
    }

    /// Removes the containers, the network and the pod's files.
    async fn cleanup(&mut self) {
        for s in &mut self.slots {
            s.stop_probes();
        }
        // The pod is gone for good: so are its containers' back-off entries.
        {
            let mut backoff = self
                .ctx
                .restart_backoff
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for s in &self.slots {
                backoff.reset(&self.backoff_key(&s.record.name));
            }
        }
        for id in super::containers_of(&self.ctx.runtime, &self.uid) {
            super::remove_container(&self.ctx.runtime, &id).await;
        }
        super::sandbox::Sandbox::destroy(&self.ctx, &self.uid).await;
    }

    /// The last step of a graceful deletion: delete with grace 0.
    async fn remove_from_api(&self) {
        let opts = k1s_apiserver::DeleteOptions {
            grace_period_seconds: Some(0),
            precondition_uid: Some(self.uid.clone()),
            ..Default::default()
        };
        let ns = super::meta(&self.pod, "namespace");
        let name = super::meta(&self.pod, "name");
        if let Err(e) = self
            .ctx
            .api
            .delete(self.ctx.pods, Some(ns), name, &opts)
            .await
        {
            if e.code != 404 && e.code != 409 {
                tracing::warn!(pod = %name, "removing the pod after it stopped: {}", e.message);
            }
        }
    }

    fn view(&self) -> PodView {
        let ip = self
            .sandbox
            .as_ref()
            .map(|s| s.ip.to_string())
            .or_else(|| self.released_ip.clone());
        PodView {
            host_ip: self.ctx.config.node_ip.to_string(),
            pod_ip: ip,
            start_time: self.start_time.clone(),
            sandbox_ready: self.sandbox.is_some(),
            init: self
                .slots
                .iter()
                .filter(|s| s.init)
                .map(|s| s.record.clone())
                .collect(),
            containers: self
                .slots
                .iter()
                .filter(|s| !s.init)
                .map(|s| s.record.clone())
                .collect(),
            terminal: self.terminal.clone(),
        }
    }

    /// Writes the pod's status when it changed, through the API's status
    /// subresource (the same path as every other writer).
    async fn push_status(&mut self) {
        let view = self.view();
        for _attempt in 0..3 {
            let ns = super::meta(&self.pod, "namespace").to_string();
            let name = super::meta(&self.pod, "name").to_string();
            let current = match self.ctx.api.get(self.ctx.pods, Some(&ns), &name) {
                Ok(c) => c,
                Err(_) => return,
            };
            if super::meta(&current, "uid") != self.uid {
                return;
            }
            let status =
                super::state::pod_status(&current, &view, &current["status"], &now_rfc3339());
            if self.pushed_status.as_ref() == Some(&status) && current["status"] == status {
                return;
            }
            if same_status(&current["status"], &status) {
                self.pushed_status = Some(status);
                return;
            }
            let mut body = current.clone();
            body["status"] = status.clone();
            let opts = k1s_apiserver::WriteOptions {
                field_manager: "kubelet".into(),
                ..Default::default()
            };
            match self
                .ctx
                .api
                .update(self.ctx.pods, Some(&ns), &name, body, Some("status"), &opts)
                .await
            {
                Ok(_) => {
                    self.pushed_status = Some(status);
                    return;
                }
                Err(e) if e.code == 409 => continue,
                Err(e) => {
                    tracing::debug!(pod = %name, "status update: {}", e.message);
                    return;
                }
            }
        }
    }
}

/// Equal except for condition transition times that only moved because
/// this computation used `now`.
fn same_status(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(cs) = v["conditions"].as_array_mut() {
            for c in cs {
                if let Some(o) = c.as_object_mut() {
                    o.remove("lastTransitionTime");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}

fn terminated(id: &str, started_at: &str, info: &ExitInfo) -> Terminated {
    Terminated {
        exit_code: info.exit_code,
        signal: info.signal,
        reason: exit_reason(info).into(),
        message: None,
        started_at: Some(started_at.to_string()).filter(|s| !s.is_empty()),
        finished_at: super::k8s_time(&info.finished_at),
        container_id: Some(id.to_string()),
    }
}

fn spec_named(pod: &Value, name: &str) -> Option<Value> {
    containers(pod, "initContainers")
        .into_iter()
        .chain(containers(pod, "containers"))
        .find(|c| c["name"] == name)
}

/// The kubelet's killContainer: preStop hook, then SIGTERM, and SIGKILL
/// when the rest of the grace period is over.
async fn stop_container(
    ctx: Arc<Context>,
    pod: Arc<Value>,
    spec: Option<Value>,
    id: String,
    ip: Option<std::net::Ipv4Addr>,
    grace: Duration,
) -> ExitInfo {
    let begun = Instant::now();
    if let Some(spec) = &spec {
        let hook = &spec["lifecycle"]["preStop"];
        if !hook.is_null() {
            super::probes::run_pre_stop(&ctx, &pod, spec, hook, &id, ip, grace).await;
        }
    }
    let left = grace.saturating_sub(begun.elapsed());
    match ctx.runtime.stop(&id, left).await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(container = %id, "stopping: {e}");
            super::unknown_exit()
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
