//! imagePullPolicy and the kubelet's image states, events and back-off
//! (pkg/kubelet/images/image_manager.go, v1.32 wording).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::error::ImageError;
use super::reference::Reference;

/// Container waiting reasons.
pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
pub const INVALID_IMAGE_NAME: &str = "InvalidImageName";

/// Event reasons (pkg/kubelet/events).
pub const EVENT_PULLING: &str = "Pulling";
pub const EVENT_PULLED: &str = "Pulled";
pub const EVENT_FAILED: &str = "Failed";
pub const EVENT_BACK_OFF: &str = "BackOff";
pub const EVENT_INSPECT_FAILED: &str = "InspectFailed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The API's value, or its default when unset: Always for `:latest`
    /// or untagged images, IfNotPresent otherwise (a digest counts as a tag).
    pub fn effective(policy: Option<&str>, image: &str) -> PullPolicy {
        match policy {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            Some("IfNotPresent") => PullPolicy::IfNotPresent,
            _ => match Reference::parse_normalized(image) {
                Ok(r) => match (r.tag(), r.digest()) {
                    (Some("latest"), _) | (None, None) => PullPolicy::Always,
                    _ => PullPolicy::IfNotPresent,
                },
                Err(_) => PullPolicy::Always,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullDecision {
    /// Use the local image ("already present on machine").
    UseLocal,
    Pull,
    /// Never + missing: ErrImageNeverPull.
    NeverPullMissing,
}

/// The kubelet's shouldPullImage.
pub fn decide(policy: PullPolicy, present: bool) -> PullDecision {
    match (policy, present) {
        (PullPolicy::Never, true) | (PullPolicy::IfNotPresent, true) => PullDecision::UseLocal,
        (PullPolicy::Never, false) => PullDecision::NeverPullMissing,
        (PullPolicy::Always, _) | (PullPolicy::IfNotPresent, false) => PullDecision::Pull,
    }
}

/// Event and status messages; `image` is the container's image string as
/// written in the pod spec.
pub mod messages {
    use std::time::Duration;

    pub fn pulling(image: &str) -> String {
        format!("Pulling image {}", quote(image))
    }

    pub fn pulled(image: &str, pull: Duration, including_waiting: Duration, size: u64) -> String {
        format!(
            "Successfully pulled image {} in {} ({} including waiting). Image size: {size} bytes.",
            quote(image),
            super::go_duration(truncate_ms(pull)),
            super::go_duration(truncate_ms(including_waiting)),
        )
    }

    pub fn already_present(image: &str) -> String {
        format!(
            "Container image {} already present on machine",
            quote(image)
        )
    }

    pub fn never_pull(image: &str) -> String {
        format!(
            "Container image {} is not present with pull policy of Never",
            quote(image)
        )
    }

    pub fn back_off(image: &str) -> String {
        format!("Back-off pulling image {}", quote(image))
    }

    /// The Warning event for a failed pull; `err` is the runtime's text.
    pub fn failed_to_pull(image: &str, err: &str) -> String {
        format!("Failed to pull image {}: {err}", quote(image))
    }

    /// The "Failed" event that follows a start error: `Error: ErrImagePull`.
    pub fn error_event(reason: &str) -> String {
        format!("Error: {reason}")
    }

    pub fn invalid_image_name(image: &str, err: &str) -> String {
        format!(
            "Failed to apply default image tag {}: couldn't parse image reference {}: {err}",
            quote(image),
            quote(image)
        )
    }

    fn truncate_ms(d: Duration) -> Duration {
        Duration::from_millis(d.as_millis() as u64)
    }

    /// Go's %q for the strings we quote (image names are printable ASCII
    /// in practice; escape the few characters %q would).
    pub fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// The status message for ErrImagePull, as the kubelet shows a CRI error
/// from containerd: `rpc error: code = NotFound desc = failed to pull and
/// unpack image "docker.io/library/nginx:nope": failed to resolve reference …`.
pub fn pull_error_message(image: &Reference, err: &ImageError) -> String {
    let code = if err.is_not_found() {
        "NotFound"
    } else {
        "Unknown"
    };
    format!("rpc error: code = {code} desc = failed to pull and unpack image \"{image}\": {err}")
}

/// Go's time.Duration String() (`1.5s`, `250ms`, `2m3.004s`, `0s`).
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_decimal(nanos, 1_000_000));
    }
    let total_secs = d.as_secs();
    let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let frac = d.subsec_nanos();
    let secs = if frac == 0 {
        format!("{s}")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

fn trim_decimal(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = unit.to_string().len() - 1;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// The kubelet's image pull back-off (flowcontrol.Backoff with 10s
/// initial and 300s maximum, keyed by pod UID + image).
#[derive(Debug)]
pub struct PullBackoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, (Instant, Duration)>,
}

impl Default for PullBackoff {
    fn default() -> Self {
        PullBackoff::new(Duration::from_secs(10), Duration::from_secs(300))
    }
}

impl PullBackoff {
    pub fn new(initial: Duration, max: Duration) -> PullBackoff {
        PullBackoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    pub fn key(pod_uid: &str, image: &str) -> String {
        format!("{pod_uid}_{image}")
    }

    /// True while the last failure is younger than the current back-off.
    pub fn in_backoff(&self, key: &str, now: Instant) -> bool {
        self.entries
            .get(key)
            .is_some_and(|(last, backoff)| now.saturating_duration_since(*last) < *backoff)
    }

    /// Records a failure: the back-off starts at `initial` and doubles up
    /// to `max`; an entry idle for twice `max` starts over.
    pub fn next(&mut self, key: &str, now: Instant) {
        let (initial, max) = (self.initial, self.max);
        let entry = self
            .entries
            .entry(key.to_string())
            .or_insert((now, Duration::ZERO));
        let expired = now.saturating_duration_since(entry.0) > max * 2;
        entry.1 = if entry.1.is_zero() || expired {
            initial
        } else {
            (entry.1 * 2).min(max)
        };
        entry.0 = now;
    }

    /// Current back-off of a key (zero when none).
    pub fn current(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.1).unwrap_or_default()
    }

    /// Drops entries idle for more than twice `max` (kubelet's GC()).
    pub fn gc(&mut self, now: Instant) {
        let max = self.max;
        self.entries
            .retain(|_, (last, _)| now.saturating_duration_since(*last) <= max * 2);
    }

    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy() {
        let cases = [
            (None, "nginx", PullPolicy::Always),
            (None, "nginx:latest", PullPolicy::Always),
            (None, "nginx:1.25", PullPolicy::IfNotPresent),
            (None, "localhost:5000/x", PullPolicy::Always),
            (None, "localhost:5000/x:v1", PullPolicy::IfNotPresent),
            (
                None,
                "nginx@sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa",
                PullPolicy::IfNotPresent,
            ),
            (Some("Never"), "nginx", PullPolicy::Never),
            (Some("IfNotPresent"), "nginx", PullPolicy::IfNotPresent),
            (Some("Always"), "nginx:1", PullPolicy::Always),
        ];
        for (p, image, want) in cases {
            assert_eq!(PullPolicy::effective(p, image), want, "{p:?} {image}");
        }
    }

    #[test]
    fn should_pull() {
        use PullDecision::*;
        use PullPolicy::*;
        let cases = [
            (Always, true, Pull),
            (Always, false, Pull),
            (IfNotPresent, true, UseLocal),
            (IfNotPresent, false, Pull),
            (Never, true, UseLocal),
            (Never, false, NeverPullMissing),
        ];
        for (p, present, want) in cases {
            assert_eq!(decide(p, present), want, "{p:?} {present}");
        }
    }

    #[test]
    fn kubelet_messages() {
        use messages::*;
        assert_eq!(pulling("nginx"), "Pulling image \"nginx\"");
        assert_eq!(
            already_present("nginx:1.25"),
            "Container image \"nginx:1.25\" already present on machine"
        );
        assert_eq!(
            never_pull("busybox"),
            "Container image \"busybox\" is not present with pull policy of Never"
        );
        assert_eq!(
            back_off("nginx:bad"),
            "Back-off pulling image \"nginx:bad\""
        );
        assert_eq!(
            failed_to_pull("x", "boom"),
            "Failed to pull image \"x\": boom"
        );
        assert_eq!(error_event(ERR_IMAGE_PULL), "Error: ErrImagePull");
        assert_eq!(
            pulled("nginx", Duration::from_millis(1234), Duration::from_micros(1_234_999), 56_700_000),
            "Successfully pulled image \"nginx\" in 1.234s (1.234s including waiting). Image size: 56700000 bytes."
        );
        assert_eq!(
            invalid_image_name("Nginx", "invalid reference format: repository name (library/Nginx) must be lowercase"),
            "Failed to apply default image tag \"Nginx\": couldn't parse image reference \"Nginx\": invalid reference format: repository name (library/Nginx) must be lowercase"
        );
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn pull_error_like_containerd() {
        let r = Reference::parse("nginx:nope").expect("ref");
        let err = ImageError::NotFound(format!("failed to resolve reference \"{r}\": {r}"));
        assert_eq!(
            pull_error_message(&r, &err),
            "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:nope\": failed to resolve reference \"docker.io/library/nginx:nope\": docker.io/library/nginx:nope: not found"
        );
        let err = ImageError::Registry("failed to do request: connection refused".into());
        assert!(pull_error_message(&r, &err)
            .starts_with("rpc error: code = Unknown desc = failed to pull"));
    }

    #[test]
    fn go_durations() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(15), "15ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1000), "1s"),
            (Duration::from_millis(1234), "1.234s"),
            (Duration::from_millis(123_004), "2m3.004s"),
            (Duration::from_secs(3600 + 61), "1h1m1s"),
            (Duration::from_micros(2), "2µs"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn backoff_doubles_to_max_then_resets() {
        let mut b = PullBackoff::default();
        let t0 = Instant::now();
        let k = PullBackoff::key("uid-1", "nginx:bad");
        assert!(!b.in_backoff(&k, t0));
        b.next(&k, t0);
        assert_eq!(b.current(&k), Duration::from_secs(10));
        assert!(b.in_backoff(&k, t0 + Duration::from_secs(9)));
        assert!(!b.in_backoff(&k, t0 + Duration::from_secs(10)));
        let mut t = t0;
        let mut seen = vec![];
        for _ in 0..7 {
            t += Duration::from_secs(11);
            b.next(&k, t);
            seen.push(b.current(&k).as_secs());
        }
        assert_eq!(seen, vec![20, 40, 80, 160, 300, 300, 300]);
        // Idle for more than 2×max: starts over.
        t += Duration::from_secs(601);
        b.next(&k, t);
        assert_eq!(b.current(&k), Duration::from_secs(10));
        b.gc(t + Duration::from_secs(601));
        assert_eq!(b.current(&k), Duration::ZERO);
    }
}
