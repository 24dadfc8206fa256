//! The per-container probe worker of the kubelet (`prober/worker.go`) as a
//! pure state machine, plus the Started/Ready rules of the prober manager:
//!
//! - a new container ID resets the stored result to the probe's initial
//!   value (liveness Success, readiness Failure, startup Unknown) and ends
//!   a hold;
//! - a container that is not running reads as Failure; the worker stops
//!   when it terminated and the pod never restarts, or when the pod is
//!   terminal; a deleting pod sets liveness/startup to Success and stops;
//! - no probing before `initialDelaySeconds`; liveness and readiness wait
//!   until the startup probe passed, the startup probe stops once it has;
//! - a result is stored only after `successThreshold` / `failureThreshold`
//!   equal results in a row; a probe error is thrown away;
//! - after a liveness failure (and any startup result) the worker holds
//!   until the container is replaced.
//!
//! The caller ticks the worker every `periodSeconds`: `before_probe` says
//! whether to run the probe, `after_probe` takes its outcome.

use std::time::Duration;

use serde_json::Value;

use super::{ProbeKind, ProbeOutcome};

/// `results.Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeResult {
    Success,
    Failure,
    Unknown,
}

/// A probe's timing fields with the API defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay_seconds: i64,
    pub timeout_seconds: i64,
    pub period_seconds: i64,
    pub success_threshold: i64,
    pub failure_threshold: i64,
}

impl Default for ProbeTiming {
    fn default() -> Self {
        Self {
            initial_delay_seconds: 0,
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: 1,
            failure_threshold: 3,
        }
    }
}

impl ProbeTiming {
    /// Reads a Probe object; missing or non-positive fields take the API
    /// defaults (initialDelaySeconds may be 0).
    pub fn from_probe(probe: &Value) -> Self {
        let d = Self::default();
        let positive =
            |key: &str, default: i64| probe[key].as_i64().filter(|v| *v > 0).unwrap_or(default);
        Self {
            initial_delay_seconds: probe["initialDelaySeconds"].as_i64().unwrap_or(0).max(0),
            timeout_seconds: positive("timeoutSeconds", d.timeout_seconds),
            period_seconds: positive("periodSeconds", d.period_seconds),
            success_threshold: positive("successThreshold", d.success_threshold),
            failure_threshold: positive("failureThreshold", d.failure_threshold),
        }
    }

    pub fn period(&self) -> Duration {
        Duration::from_secs(self.period_seconds.unsigned_abs())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.unsigned_abs())
    }
}

/// What the worker needs to know about its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerView<'a> {
    /// The container's ID ("" before it was created).
    pub container_id: &'a str,
    /// Time since `state.running.startedAt`, when running.
    pub running_for: Option<Duration>,
    /// `state.terminated` is set.
    pub terminated: bool,
    /// `status.started`.
    pub started: bool,
}

/// What the worker needs to know about the pod.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodView {
    /// The phase is Succeeded or Failed.
    pub terminal: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `spec.restartPolicy` is Never.
    pub restart_never: bool,
}

/// What to do at this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerStep {
    /// Run the probe, then call `after_probe`.
    Probe,
    /// Nothing to do until the next tick.
    Wait,
    /// The worker is done.
    Stop,
}

/// One probe of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeWorker {
    kind: ProbeKind,
    timing: ProbeTiming,
    container_id: String,
    /// What the results manager holds for `container_id`.
    current: Option<ProbeResult>,
    last_result: Option<ProbeResult>,
    result_run: i64,
    on_hold: bool,
}

impl ProbeWorker {
    pub fn new(kind: ProbeKind, timing: ProbeTiming) -> Self {
        Self {
            kind,
            timing,
            container_id: String::new(),
            current: None,
            last_result: None,
            result_run: 0,
            on_hold: false,
        }
    }

    /// A worker for `container`'s probe of `kind`, if it has one.
    pub fn for_container(kind: ProbeKind, container: &Value) -> Option<Self> {
        let probe = &container[kind.field()];
        probe
            .is_object()
            .then(|| Self::new(kind, ProbeTiming::from_probe(probe)))
    }

    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    pub fn timing(&self) -> &ProbeTiming {
        &self.timing
    }

    /// The stored result for the current container (None before one was seen).
    pub fn result(&self) -> Option<ProbeResult> {
        self.current
    }

    /// The container the stored result belongs to.
    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    fn initial_value(&self) -> ProbeResult {
        match self.kind {
            ProbeKind::Liveness => ProbeResult::Success,
            ProbeKind::Readiness => ProbeResult::Failure,
            ProbeKind::Startup => ProbeResult::Unknown,
        }
    }

    /// The first half of `doProbe`: bookkeeping and whether to probe now.
    pub fn before_probe(&mut self, pod: &PodView, container: Option<&ContainerView>) -> WorkerStep {
        if pod.terminal {
            return WorkerStep::Stop;
        }
        let Some(c) = container.filter(|c| !c.container_id.is_empty()) else {
            return WorkerStep::Wait;
        };
        if self.container_id != c.container_id {
            self.container_id = c.container_id.to_string();
            self.current = Some(self.initial_value());
            self.on_hold = false;
        }
        if self.on_hold {
            return WorkerStep::Wait;
        }
        let Some(running_for) = c.running_for else {
            self.current = Some(ProbeResult::Failure);
            return if c.terminated && pod.restart_never {
                WorkerStep::Stop
            } else {
                WorkerStep::Wait
            };
        };
        if pod.deleting && matches!(self.kind, ProbeKind::Liveness | ProbeKind::Startup) {
            self.current = Some(ProbeResult::Success);
            return WorkerStep::Stop;
        }
        if (running_for.as_secs() as i64) < self.timing.initial_delay_seconds {
            return WorkerStep::Wait;
        }
        if c.started == (self.kind == ProbeKind::Startup) {
            // Startup is done once started; the others wait for it.
            return WorkerStep::Wait;
        }
        WorkerStep::Probe
    }

    /// The second half of `doProbe`. Returns the new stored result when it
    /// changed.
    pub fn after_probe(&mut self, outcome: &ProbeOutcome) -> Option<ProbeResult> {
        let result = match outcome {
            ProbeOutcome::Error(_) => return None,
            ProbeOutcome::Success(_) | ProbeOutcome::Warning(_) => ProbeResult::Success,
            ProbeOutcome::Failure(_) | ProbeOutcome::Unknown => ProbeResult::Failure,
        };
        if self.last_result == Some(result) {
            self.result_run += 1;
        } else {
            self.last_result = Some(result);
            self.result_run = 1;
        }
        let below = match result {
            ProbeResult::Failure => self.result_run < self.timing.failure_threshold,
            ProbeResult::Success => self.result_run < self.timing.success_threshold,
            ProbeResult::Unknown => false,
        };
        if below {
            return None;
        }
        let changed = self.current != Some(result);
        self.current = Some(result);
        if (self.kind == ProbeKind::Liveness && result == ProbeResult::Failure)
            || self.kind == ProbeKind::Startup
        {
            // The container will be restarted (or has started): no more probes until a new one.
            self.on_hold = true;
            self.result_run = 0;
        }
        changed.then_some(result)
    }
}

/// `status.containerStatuses[].started` (prober manager `UpdatePodStatus`).
pub fn container_started(
    running: bool,
    has_startup_probe: bool,
    startup: Option<ProbeResult>,
) -> bool {
    if !running {
        return false;
    }
    match startup {
        Some(r) => r == ProbeResult::Success,
        None => !has_startup_probe,
    }
}

/// `status.containerStatuses[].ready`: only a started, running container
/// can be ready; with a readiness probe only once it succeeded.
pub fn container_ready(
    running: bool,
    started: bool,
    has_readiness_probe: bool,
    readiness: Option<ProbeResult>,
) -> bool {
    if !started || !running {
        return false;
    }
    readiness == Some(ProbeResult::Success) || !has_readiness_probe
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn running(id: &str, secs: u64, started: bool) -> ContainerView<'_> {
        ContainerView {
            container_id: id,
            running_for: Some(Duration::from_secs(secs)),
            terminated: false,
            started,
        }
    }

    fn fail() -> ProbeOutcome {
        ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
    }

    fn ok() -> ProbeOutcome {
        ProbeOutcome::Success(String::new())
    }

    const POD: PodView = PodView {
        terminal: false,
        deleting: false,
        restart_never: false,
    };

    #[test]
    fn timing_defaults() {
        assert_eq!(ProbeTiming::from_probe(&json!({})), ProbeTiming::default());
        let t = ProbeTiming::from_probe(&json!({"initialDelaySeconds": 3, "periodSeconds": 5,
            "timeoutSeconds": 2, "failureThreshold": 1, "successThreshold": 2}));
        assert_eq!(
            (t.initial_delay_seconds, t.period(), t.timeout()),
            (3, Duration::from_secs(5), Duration::from_secs(2))
        );
        assert!(
            ProbeWorker::for_container(ProbeKind::Startup, &json!({"livenessProbe": {}})).is_none()
        );
    }

    /// "Define a liveness HTTP request": initialDelay 3, period 3, three
    /// failures in a row before the container is killed.
    #[test]
    fn liveness_failure_threshold_and_hold() {
        let timing =
            ProbeTiming::from_probe(&json!({"initialDelaySeconds": 3, "periodSeconds": 3}));
        let mut w = ProbeWorker::new(ProbeKind::Liveness, timing);
        assert_eq!(w.before_probe(&POD, None), WorkerStep::Wait);
        assert_eq!(
            w.before_probe(&POD, Some(&running("c1", 1, true))),
            WorkerStep::Wait
        );
        assert_eq!(w.result(), Some(ProbeResult::Success));
        assert_eq!(
            w.before_probe(&POD, Some(&running("c1", 3, true))),
            WorkerStep::Probe
        );
        assert_eq!(w.after_probe(&ok()), None);
        for expected in [None, None, Some(ProbeResult::Failure)] {
            assert_eq!(
                w.before_probe(&POD, Some(&running("c1", 9, true))),
                WorkerStep::Probe
            );
            assert_eq!(w.after_probe(&fail()), expected);
        }
        // On hold until the container is replaced.
        assert_eq!(
            w.before_probe(&POD, Some(&running("c1", 12, true))),
            WorkerStep::Wait
        );
        assert_eq!(
            w.before_probe(&POD, Some(&running("c2", 0, true))),
            WorkerStep::Wait
        );
        assert_eq!(w.result(), Some(ProbeResult::Success));
        assert_eq!(w.container_id(), "c2");
        assert_eq!(
            w.before_probe(&POD, Some(&running("c2", 4, true))),
            WorkerStep::Probe
        );
        // Errors are thrown away.
        assert_eq!(w.after_probe(&ProbeOutcome::Error("x".into())), None);
        assert_eq!(w.result(), Some(ProbeResult::Success));
    }

    #[test]
    fn readiness_thresholds_and_unknown() {
        let timing =
            ProbeTiming::from_probe(&json!({"successThreshold": 2, "failureThreshold": 2}));
        let mut w = ProbeWorker::new(ProbeKind::Readiness, timing);
        assert_eq!(
            w.before_probe(&POD, Some(&running("c1", 0, true))),
            WorkerStep::Probe
        );
        assert_eq!(w.result(), Some(ProbeResult::Failure));
        assert_eq!(w.after_probe(&ok()), None);
        assert_eq!(
            w.after_probe(&ProbeOutcome::Warning("redirect".into())),
            Some(ProbeResult::Success)
        );
        assert_eq!(w.after_probe(&ProbeOutcome::Unknown), None);
        assert_eq!(w.after_probe(&fail()), Some(ProbeResult::Failure));
        // Readiness failures never hold the worker.
        assert_eq!(
            w.before_probe(&POD, Some(&running("c1", 30, true))),
            WorkerStep::Probe
        );
    }

    #[test]
    fn startup_gates_the_others() {
        let mut startup = ProbeWorker::new(
            ProbeKind::Startup,
            ProbeTiming::from_probe(&json!({"failureThreshold": 30})),
        );
        let mut live = ProbeWorker::new(ProbeKind::Liveness, ProbeTiming::default());
        let not_started = running("c1", 5, false);
        assert_eq!(
            live.before_probe(&POD, Some(&not_started)),
            WorkerStep::Wait
        );
        assert_eq!(
            startup.before_probe(&POD, Some(&not_started)),
            WorkerStep::Probe
        );
        assert_eq!(startup.result(), Some(ProbeResult::Unknown));
        assert_eq!(startup.after_probe(&ok()), Some(ProbeResult::Success));
        let started = running("c1", 6, true);
        assert_eq!(startup.before_probe(&POD, Some(&started)), WorkerStep::Wait);
        assert_eq!(live.before_probe(&POD, Some(&started)), WorkerStep::Probe);
        assert!(container_started(true, true, startup.result()));
        assert!(!container_started(true, true, Some(ProbeResult::Unknown)));
        assert!(!container_started(true, true, None));
        assert!(container_started(true, false, None));
        assert!(!container_started(false, false, None));
    }

    #[test]
    fn stopped_containers_and_pods() {
        let mut w = ProbeWorker::new(ProbeKind::Readiness, ProbeTiming::default());
        let exited = ContainerView {
            container_id: "c1",
            running_for: None,
            terminated: true,
            started: false,
        };
        assert_eq!(w.before_probe(&POD, Some(&exited)), WorkerStep::Wait);
        assert_eq!(w.result(), Some(ProbeResult::Failure));
        let never = PodView {
            restart_never: true,
            ..POD
        };
        assert_eq!(w.before_probe(&never, Some(&exited)), WorkerStep::Stop);
        let terminal = PodView {
            terminal: true,
            ..POD
        };
        assert_eq!(w.before_probe(&terminal, Some(&exited)), WorkerStep::Stop);
        let deleting = PodView {
            deleting: true,
            ..POD
        };
        let mut live = ProbeWorker::new(ProbeKind::Liveness, ProbeTiming::default());
        assert_eq!(
            live.before_probe(&deleting, Some(&running("c1", 50, true))),
            WorkerStep::Stop
        );
        assert_eq!(live.result(), Some(ProbeResult::Success));
        // Readiness keeps probing a deleting pod.
        assert_eq!(
            w.before_probe(&deleting, Some(&running("c2", 50, true))),
            WorkerStep::Probe
        );
    }

    #[test]
    fn ready_rule() {
        assert!(container_ready(true, true, false, None));
        assert!(!container_ready(true, true, true, None));
        assert!(!container_ready(
            true,
            true,
            true,
            Some(ProbeResult::Failure)
        ));
        assert!(container_ready(
            true,
            true,
            true,
            Some(ProbeResult::Success)
        ));
        assert!(!container_ready(true, false, false, None));
        assert!(!container_ready(
            false,
            true,
            false,
            Some(ProbeResult::Success)
        ));
    }
}
