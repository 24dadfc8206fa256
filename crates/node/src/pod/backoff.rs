//! Container restart back-off, as the kubelet does it with client-go's
//! `flowcontrol.Backoff` (10 s initial, doubling, 300 s cap) keyed by
//! container:
//!
//! - `doBackOff`: a container that exited less than the current back-off
//!   ago (measured from its `finishedAt`) waits: CrashLoopBackOff with
//!   `back-off 20s restarting failed container=x pod=y_ns(uid)` and a
//!   BackOff event; otherwise it starts and the back-off steps up;
//! - an entry expires when the exit came more than 2 × 300 s after the
//!   last restart — a container that ran 10 minutes starts over at 10 s —
//!   and `gc` drops such entries;
//! - `should_restart`: Always restarts, OnFailure on a non-zero exit,
//!   Never not at all.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The kubelet's initial container back-off.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
/// `MaxContainerBackOff`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    backoff: Duration,
    last_update: SystemTime,
}

/// Per-key exponential back-off (`flowcontrol.Backoff` without jitter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// 10 s doubling up to 300 s.
    pub fn kubelet_default() -> Self {
        Self::new(INITIAL_BACKOFF, MAX_BACKOFF)
    }

    /// The current back-off of `key` (zero when unknown).
    pub fn current(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.backoff).unwrap_or_default()
    }

    /// `hasExpired`: stable for twice the cap since the last step.
    fn expired(&self, event_time: SystemTime, last_update: SystemTime) -> bool {
        event_time
            .duration_since(last_update)
            .is_ok_and(|d| d > self.max * 2)
    }

    /// `IsInBackOffSince` against the clock: how much longer to wait when
    /// `key` (which exited at `event_time`) is still backing off.
    pub fn in_backoff_since(&self, key: &str, event_time: SystemTime) -> Option<Duration> {
        self.in_backoff_since_at(key, event_time, SystemTime::now())
    }

    /// `IsInBackOffSince` at `now`.
    pub fn in_backoff_since_at(
        &self,
        key: &str,
        event_time: SystemTime,
        now: SystemTime,
    ) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if self.expired(event_time, entry.last_update) {
            return None;
        }
        let since = now.duration_since(event_time).unwrap_or_default();
        (since < entry.backoff).then(|| entry.backoff - since)
    }

    /// `Next` against the clock: the container restarts now.
    pub fn next(&mut self, key: &str, event_time: SystemTime) {
        self.next_at(key, event_time, SystemTime::now());
    }

    /// `Next` at `now`: start at the initial back-off, or double up to the cap.
    pub fn next_at(&mut self, key: &str, event_time: SystemTime, now: SystemTime) {
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(event_time, e.last_update) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// `GC` against the clock.
    pub fn gc(&mut self) {
        self.gc_at(SystemTime::now());
    }

    /// `GC` at `now`: forget keys that have been quiet for twice the cap.
    pub fn gc_at(&mut self, now: SystemTime) {
        let max = self.max;
        self.entries
            .retain(|_, e| !now.duration_since(e.last_update).is_ok_and(|d| d > max * 2));
    }

    /// Forgets `key` (e.g. when its pod is gone).
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// What the kubelet decides for an exited container that should restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartDecision {
    /// Start it now (the back-off has stepped up).
    Start,
    /// Wait; the container shows CrashLoopBackOff with `message`.
    BackOff {
        wait: Duration,
        /// The waiting message (`back-off 10s restarting failed container=…`).
        message: String,
        /// The BackOff event message.
        event_message: String,
    },
}

/// `doBackOff` for the container `container` of the pod named
/// `pod_full_name` (`name_ns(uid)`), which exited at `finished_at`.
pub fn do_backoff(
    backoff: &mut Backoff,
    key: &str,
    finished_at: SystemTime,
    now: SystemTime,
    container: &str,
    pod_full_name: &str,
) -> RestartDecision {
    if let Some(wait) = backoff.in_backoff_since_at(key, finished_at, now) {
        return RestartDecision::BackOff {
            wait,
            message: crash_loop_message(backoff.current(key), container, pod_full_name),
            event_message: backoff_event_message(container, pod_full_name),
        };
    }
    backoff.next_at(key, finished_at, now);
    RestartDecision::Start
}

/// The CrashLoopBackOff waiting message.
pub fn crash_loop_message(backoff: Duration, container: &str, pod_full_name: &str) -> String {
    format!(
        "back-off {} restarting failed container={container} pod={pod_full_name}",
        go_duration(backoff)
    )
}

/// The BackOff event message.
pub fn backoff_event_message(container: &str, pod_full_name: &str) -> String {
    format!("Back-off restarting failed container {container} in pod {pod_full_name}")
}

/// The kubelet's back-off key (`GetStableKey`): pod name, namespace, uid,
/// container name and a hash of the container spec.
pub fn stable_key(
    pod_name: &str,
    namespace: &str,
    uid: &str,
    container: &str,
    spec_hash: &str,
) -> String {
    format!("{pod_name}_{namespace}_{uid}_{container}_{spec_hash}")
}

/// Whether an exited container restarts under the pod's restartPolicy.
pub fn should_restart(restart_policy: &str, exit_code: i32) -> bool {
    match restart_policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// Go's `time.Duration.String()` for whole seconds (`10s`, `1m20s`, `5m0s`).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let millis = d.subsec_millis();
    if secs == 0 && millis == 0 && d.subsec_nanos() == 0 {
        return "0s".to_string();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let seconds = if millis == 0 {
        format!("{s}s")
    } else {
        let frac = format!("{:03}", millis);
        format!("{s}.{}s", frac.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    /// A container that crashes right after each start: restarts after
    /// 0, 10, 20, 40, 80, 160, 300, 300 s — what RESTARTS/AGE show in a
    /// CrashLoopBackOff.
    #[test]
    fn crash_loop_sequence() {
        let mut b = Backoff::kubelet_default();
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..8 {
            // The container exits one second after it started.
            now += 1;
            let finished = now;
            while let RestartDecision::BackOff { wait, .. } =
                do_backoff(&mut b, "k", t(finished), t(now), "app", "p_ns(u)")
            {
                now += wait.as_secs();
            }
            delays.push(now - finished);
        }
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn messages() {
        let mut b = Backoff::kubelet_default();
        assert_eq!(
            do_backoff(&mut b, "k", t(0), t(0), "app", "web-0_default(u1)"),
            RestartDecision::Start
        );
        assert_eq!(
            do_backoff(&mut b, "k", t(1), t(3), "app", "web-0_default(u1)"),
            RestartDecision::BackOff {
                wait: Duration::from_secs(8),
                message: "back-off 10s restarting failed container=app pod=web-0_default(u1)"
                    .into(),
                event_message: "Back-off restarting failed container app in pod web-0_default(u1)"
                    .into(),
            }
        );
        assert_eq!(
            crash_loop_message(Duration::from_secs(300), "app", "p_ns(u)"),
            "back-off 5m0s restarting failed container=app pod=p_ns(u)"
        );
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(160)), "2m40s");
        assert_eq!(go_duration(Duration::from_secs(40)), "40s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(
            stable_key("web-0", "default", "u1", "app", "5f1c"),
            "web-0_default_u1_app_5f1c"
        );
    }

    /// A container that ran for more than 10 minutes starts over at 10 s.
    #[test]
    fn reset_after_a_long_run_and_gc() {
        let mut b = Backoff::kubelet_default();
        for i in 0..5 {
            b.next_at("k", t(i), t(i));
        }
        assert_eq!(b.current("k"), Duration::from_secs(160));
        // Exited 601 s after the last restart: not in back-off, starts at 10 s.
        assert_eq!(b.in_backoff_since_at("k", t(4 + 601), t(4 + 601)), None);
        b.next_at("k", t(605), t(605));
        assert_eq!(b.current("k"), Duration::from_secs(10));
        // 600 s exactly is not yet expired.
        b.next_at("k", t(1205), t(1205));
        assert_eq!(b.current("k"), Duration::from_secs(20));
        b.gc_at(t(1205 + 600));
        assert_eq!(b.current("k"), Duration::from_secs(20));
        b.gc_at(t(1205 + 601));
        assert_eq!(b.current("k"), Duration::ZERO);
        b.next_at("x", t(0), t(0));
        b.reset("x");
        assert_eq!(b.current("x"), Duration::ZERO);
    }

    #[test]
    fn restart_policy() {
        assert!(should_restart("Always", 0));
        assert!(should_restart("Always", 1));
        assert!(should_restart("", 0));
        assert!(!should_restart("OnFailure", 0));
        assert!(should_restart("OnFailure", 137));
        assert!(!should_restart("Never", 1));
    }
}
