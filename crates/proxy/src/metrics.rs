//! The proxy's metrics in Prometheus text format: kube-proxy's (v1.32
//! names, help texts and buckets) plus what kube-proxy has no metric for —
//! the size of the programmed table and the endpoints of each Service.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::incremental::Counts;
use crate::model::ServiceKey;

struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

impl Histogram {
    fn new(bounds: Vec<f64>) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len()],
            bounds,
            sum: 0.0,
            total: 0,
        }
    }

    fn observe(&mut self, secs: f64) {
        for (b, c) in self.bounds.iter().zip(&mut self.counts) {
            if secs <= *b {
                *c += 1;
            }
        }
        self.sum += secs;
        self.total += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.total);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.total);
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    header(out, name, help, kind);
    let _ = writeln!(out, "{name} {value}");
}

/// kube-proxy's sync duration buckets: 1 ms doubling to 16.384 s.
fn sync_buckets() -> Vec<f64> {
    (0..15).map(|i| 0.001 * f64::from(1u32 << i)).collect()
}

/// kube-proxy's network programming buckets: 0, 0.25 s, 0.5 s, every
/// second to 59 s, every 5 s to 115 s, every 30 s to 5 min.
fn programming_buckets() -> Vec<f64> {
    let mut b = vec![0.0, 0.25, 0.5];
    b.extend((1..=59).map(f64::from));
    b.extend((0..12).map(|i| f64::from(60 + 5 * i)));
    b.extend((0..7).map(|i| f64::from(120 + 30 * i)));
    b
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Escapes a label value for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// kube-proxy's `kubeproxy_sync_proxy_rules_no_local_endpoints_total`:
/// Service ports a Local traffic policy leaves with no endpoint on this
/// node although others have some, as of the last sync.
fn no_local_endpoints(out: &mut String, c: &Counts) {
    let name = "kubeproxy_sync_proxy_rules_no_local_endpoints_total";
    header(
        out,
        name,
        "Number of services with a Local traffic policy and no endpoints",
        "gauge",
    );
    for (policy, n) in [
        ("external", c.no_local_external),
        ("internal", c.no_local_internal),
    ] {
        let _ = writeln!(out, "{name}{{traffic_policy=\"{policy}\"}} {n}");
    }
}

struct State {
    sync: Histogram,
    sync_full: Histogram,
    sync_partial: Histogram,
    programming: Histogram,
    last_synced: Option<SystemTime>,
    last_queued: Option<SystemTime>,
    sync_failures: u64,
    cleanup_failures: u64,
    service_changes: u64,
    endpoint_changes: u64,
    service_changes_pending: usize,
    endpoint_changes_pending: usize,
    counts: Counts,
    /// (ready, not ready) endpoint addresses per Service.
    endpoints: BTreeMap<ServiceKey, (u64, u64)>,
}

pub struct ProxyMetrics {
    state: Mutex<State>,
}

impl Default for ProxyMetrics {
    fn default() -> ProxyMetrics {
        ProxyMetrics {
            state: Mutex::new(State {
                sync: Histogram::new(sync_buckets()),
                sync_full: Histogram::new(sync_buckets()),
                sync_partial: Histogram::new(sync_buckets()),
                programming: Histogram::new(programming_buckets()),
                last_synced: None,
                last_queued: None,
                sync_failures: 0,
                cleanup_failures: 0,
                service_changes: 0,
                endpoint_changes: 0,
                service_changes_pending: 0,
                endpoint_changes_pending: 0,
                counts: Counts::default(),
                endpoints: BTreeMap::new(),
            }),
        }
    }
}

impl ProxyMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes seen so far (totals, as the tracker counts them) and those
    /// still waiting for a sync: (Services, Services changed through their
    /// slices). `queued_at`: a change just asked for a sync.
    pub fn changes(
        &self,
        service_changes: u64,
        endpoint_changes: u64,
        pending: (usize, usize),
        queued_at: Option<SystemTime>,
    ) {
        let mut s = self.lock();
        s.service_changes = service_changes;
        s.endpoint_changes = endpoint_changes;
        s.service_changes_pending = pending.0;
        s.endpoint_changes_pending = pending.1;
        if queued_at.is_some() {
            s.last_queued = queued_at;
        }
    }

    /// A successful sync that took `took`, finishing at `at`, after which
    /// the table has `counts`; `triggered` are the change times it applied.
    pub fn synced(
        &self,
        full: bool,
        took: Duration,
        at: SystemTime,
        counts: Counts,
        triggered: &[SystemTime],
    ) {
        let mut s = self.lock();
        let secs = took.as_secs_f64();
        s.sync.observe(secs);
        if full {
            s.sync_full.observe(secs);
        } else {
            s.sync_partial.observe(secs);
        }
        s.last_synced = Some(at);
        s.counts = counts;
        for t in triggered {
            // A trigger time from a skewed clock can lie ahead: skip it, as kube-proxy does.
            if let Ok(d) = at.duration_since(*t) {
                s.programming.observe(d.as_secs_f64());
            }
        }
    }

    /// A sync whose transaction failed.
    pub fn sync_failed(&self) {
        self.lock().sync_failures += 1;
    }

    /// Stale chains that could not be deleted.
    pub fn cleanup_failed(&self, n: usize) {
        self.lock().cleanup_failures += n as u64;
    }

    /// Endpoint counts of changed Services (`None`: gone).
    pub fn endpoints(&self, changed: &BTreeMap<ServiceKey, Option<(u64, u64)>>) {
        let mut s = self.lock();
        for (k, c) in changed {
            match c {
                Some(c) => s.endpoints.insert(k.clone(), *c),
                None => s.endpoints.remove(k),
            };
        }
    }

    pub fn render(&self) -> String {
        let s = self.lock();
        let mut out = String::new();
        s.programming.render(
            &mut out,
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
        );
        s.sync_full.render(
            &mut out,
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
        );
        s.sync_partial.render(
            &mut out,
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
        );
        s.sync.render(
            &mut out,
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
        );
        single(
            &mut out,
            "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
            "Pending proxy rules Endpoint changes",
            "gauge",
            s.endpoint_changes_pending,
        );
        single(
            &mut out,
            "kubeproxy_sync_proxy_rules_endpoint_changes_total",
            "Cumulative proxy rules Endpoint changes",
            "counter",
            s.endpoint_changes,
        );
        if let Some(t) = s.last_queued {
            single(
                &mut out,
                "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                "The last time a sync of proxy rules was queued",
                "gauge",
                unix_seconds(t),
            );
        }
        if let Some(t) = s.last_synced {
            single(
                &mut out,
                "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                "The last time proxy rules were successfully synced",
                "gauge",
                unix_seconds(t),
            );
        }
        single(
            &mut out,
            "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total",
            "Cumulative proxy nftables cleanup failures",
            "counter",
            s.cleanup_failures,
        );
        single(
            &mut out,
            "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
            "Cumulative proxy nftables sync failures",
            "counter",
            s.sync_failures,
        );
        if s.last_synced.is_some() {
            // Like kube-proxy's gauge vector: set by the first sync.
            no_local_endpoints(&mut out, &s.counts);
        }
        single(
            &mut out,
            "kubeproxy_sync_proxy_rules_service_changes_pending",
            "Pending proxy rules Service changes",
            "gauge",
            s.service_changes_pending,
        );
        single(
            &mut out,
            "kubeproxy_sync_proxy_rules_service_changes_total",
            "Cumulative proxy rules Service changes",
            "counter",
            s.service_changes,
        );
        let c = s.counts;
        for (name, help, v) in [
            (
                "k1s_proxy_service_ports",
                "Service ports with rules in the proxy's nftables table",
                c.service_ports,
            ),
            (
                "k1s_proxy_endpoints",
                "Endpoints the proxy's rules DNAT to, one chain each",
                c.endpoints,
            ),
            (
                "k1s_proxy_nftables_chains",
                "Chains in the proxy's nftables table",
                c.chains,
            ),
            (
                "k1s_proxy_nftables_rules",
                "Rules in the proxy's nftables table",
                c.rules,
            ),
            (
                "k1s_proxy_nftables_elements",
                "Elements of the proxy's nftables sets and verdict maps",
                c.elements,
            ),
        ] {
            single(&mut out, name, help, "gauge", v);
        }
        header(
            &mut out,
            "k1s_service_endpoints",
            "Endpoint addresses in the EndpointSlices of each Service the proxy programs, by readiness",
            "gauge",
        );
        for ((ns, name), (ready, not_ready)) in &s.endpoints {
            let (ns, name) = (label(ns), label(name));
            for (r, n) in [("true", ready), ("false", not_ready)] {
                let _ = writeln!(
                    out,
                    "k1s_service_endpoints{{namespace=\"{ns}\",ready=\"{r}\",service=\"{name}\"}} {n}"
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: f64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(name) || l.contains(&format!(" {name} ")))
            .collect()
    }

    #[test]
    fn buckets_are_kube_proxys() {
        let s = sync_buckets();
        assert_eq!(s.len(), 15);
        assert_eq!(
            s.iter().map(|b| b.to_string()).collect::<Vec<_>>()[..4],
            ["0.001", "0.002", "0.004", "0.008"]
        );
        assert_eq!(s[14].to_string(), "16.384");
        let p = programming_buckets();
        assert_eq!(p.len(), 81);
        assert_eq!(&p[..5], &[0.0, 0.25, 0.5, 1.0, 2.0]);
        assert_eq!(&p[p.len() - 2..], &[270.0, 300.0]);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn renders_a_sync_in_text_format() {
        let m = ProxyMetrics::default();
        m.changes(3, 5, (1, 2), Some(t(1_000.25)));
        m.changes(3, 5, (1, 2), None);
        m.synced(
            false,
            Duration::from_millis(3),
            t(1_001.0),
            Counts {
                service_ports: 2,
                endpoints: 4,
                chains: 26,
                rules: 40,
                elements: 7,
                no_local_internal: 3,
                no_local_external: 1,
            },
            &[t(1_000.9), t(1_000.4), t(1_002.0)],
        );
        m.synced(
            true,
            Duration::from_secs(20),
            t(1_002.0),
            Counts::default(),
            &[],
        );
        m.sync_failed();
        m.cleanup_failed(2);
        let text = m.render();

        assert_eq!(
            lines(&text, "kubeproxy_sync_proxy_rules_duration_seconds")[..4],
            [
                "# HELP kubeproxy_sync_proxy_rules_duration_seconds SyncProxyRules latency in seconds",
                "# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram",
                "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.001\"} 0",
                "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.002\"} 0",
            ]
        );
        for want in [
            "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"} 1",
            "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"16.384\"} 1",
            "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"+Inf\"} 2",
            "kubeproxy_sync_proxy_rules_duration_seconds_sum 20.003",
            "kubeproxy_sync_proxy_rules_duration_seconds_count 2",
            "kubeproxy_sync_partial_proxy_rules_duration_seconds_count 1",
            "kubeproxy_sync_full_proxy_rules_duration_seconds_count 1",
            // 0.1 s and 0.6 s; the trigger in the future is skipped.
            "kubeproxy_network_programming_duration_seconds_bucket{le=\"0.25\"} 1",
            "kubeproxy_network_programming_duration_seconds_bucket{le=\"1\"} 2",
            "kubeproxy_network_programming_duration_seconds_count 2",
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds 1002",
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds 1000.25",
            "# TYPE kubeproxy_sync_proxy_rules_service_changes_total counter",
            "kubeproxy_sync_proxy_rules_service_changes_total 3",
            "kubeproxy_sync_proxy_rules_endpoint_changes_total 5",
            "kubeproxy_sync_proxy_rules_service_changes_pending 1",
            "kubeproxy_sync_proxy_rules_endpoint_changes_pending 2",
            "kubeproxy_sync_proxy_rules_nftables_sync_failures_total 1",
            "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total 2",
            // The full sync's counts replaced the partial one's.
            "k1s_proxy_service_ports 0",
        ] {
            assert!(
                text.lines().any(|l| l == want),
                "missing {want:?} in\n{text}"
            );
        }
    }

    #[test]
    fn no_local_endpoints_as_of_the_last_sync() {
        let m = ProxyMetrics::default();
        let name = "kubeproxy_sync_proxy_rules_no_local_endpoints_total";
        assert!(lines(&m.render(), name).is_empty(), "set by the first sync");
        let sync = |internal, external| {
            let counts = Counts {
                no_local_internal: internal,
                no_local_external: external,
                ..Counts::default()
            };
            m.synced(false, Duration::from_millis(1), t(5.0), counts, &[]);
            m.render()
        };
        let text = sync(2, 1);
        assert_eq!(
            lines(&text, name),
            [
                "# HELP kubeproxy_sync_proxy_rules_no_local_endpoints_total Number of services with a Local traffic policy and no endpoints",
                "# TYPE kubeproxy_sync_proxy_rules_no_local_endpoints_total gauge",
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"external\"} 1",
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"internal\"} 2",
            ]
        );
        // A gauge: the next sync's numbers replace these.
        let text = sync(0, 0);
        assert_eq!(
            lines(&text, name)[2..],
            [
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"external\"} 0",
                "kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"internal\"} 0",
            ]
        );
        // A failed sync keeps the last good sync's numbers.
        m.sync_failed();
        assert_eq!(lines(&m.render(), name)[2..], lines(&text, name)[2..]);
    }

    #[test]
    fn per_service_endpoint_counts() {
        let m = ProxyMetrics::default();
        let k = |n: &str| ("default".to_string(), n.to_string());
        m.endpoints(&BTreeMap::from([
            (k("web"), Some((2, 1))),
            (k("a\"b"), Some((0, 0))),
        ]));
        m.endpoints(&BTreeMap::from([(k("a\"b"), None)]));
        let text = m.render();
        assert_eq!(
            lines(&text, "k1s_service_endpoints"),
            [
                "# HELP k1s_service_endpoints Endpoint addresses in the EndpointSlices of each Service the proxy programs, by readiness",
                "# TYPE k1s_service_endpoints gauge",
                "k1s_service_endpoints{namespace=\"default\",ready=\"true\",service=\"web\"} 2",
                "k1s_service_endpoints{namespace=\"default\",ready=\"false\",service=\"web\"} 1",
            ]
        );
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
        // Nothing synced yet: no timestamps.
        assert!(!text.contains("last_timestamp_seconds "));
    }
}
