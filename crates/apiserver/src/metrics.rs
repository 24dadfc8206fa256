//! `/metrics` in Prometheus text format with kube-apiserver's metric names.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of apiserver_request_duration_seconds buckets.
const BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

#[derive(Default)]
struct Inner {
    /// (verb, group, version, resource, subresource, code) → count
    requests: BTreeMap<(String, String, String, String, String, u16), u64>,
    /// (verb, group, version, resource, subresource) → latency
    durations: BTreeMap<(String, String, String, String, String), Histogram>,
}

/// What a request was, for labelling.
#[derive(Debug, Clone, Default)]
pub struct RequestLabels {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
}

/// Renders another component's metrics (the proxy's, say) into `/metrics`.
pub type Source = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    sources: Mutex<Vec<Source>>,
}

impl Metrics {
    /// Adds a component's metrics to the text `render` returns.
    pub fn add_source(&self, source: Source) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    pub fn observe(&self, l: &RequestLabels, code: u16, took: Duration) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests
            .entry((
                l.verb.clone(),
                l.group.clone(),
                l.version.clone(),
                l.resource.clone(),
                l.subresource.clone(),
                code,
            ))
            .or_default() += 1;
        // Watches live for minutes; kube-apiserver leaves them out of latency too.
        if l.verb == "WATCH" {
            return;
        }
        let h = m
            .durations
            .entry((
                l.verb.clone(),
                l.group.clone(),
                l.version.clone(),
                l.resource.clone(),
                l.subresource.clone(),
            ))
            .or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.total += 1;
    }

    /// Renders every metric; `objects` are per-resource stored object counts.
    pub fn render(&self, objects: &[(String, i64)]) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, group, version, resource, sub, code), n) in &m.requests {
            let _ = writeln!(
                out,
                "apiserver_request_total{{code=\"{code}\",component=\"apiserver\",group=\"{group}\",resource=\"{resource}\",subresource=\"{sub}\",verb=\"{verb}\",version=\"{version}\"}} {n}"
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, group, version, resource, sub), h) in &m.durations {
            let labels = format!(
                "component=\"apiserver\",group=\"{group}\",resource=\"{resource}\",subresource=\"{sub}\",verb=\"{verb}\",version=\"{version}\""
            );
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.total
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_count{{{labels}}} {}",
                h.total
            );
        }
        out.push_str("# HELP apiserver_storage_objects [STABLE] Number of stored objects at the time of last check split by kind.\n");
        out.push_str("# TYPE apiserver_storage_objects gauge\n");
        for (prefix, n) in objects {
            let resource = match prefix.split_once('/') {
                Some((group, plural)) => format!("{plural}.{group}"),
                None => prefix.clone(),
            };
            let _ = writeln!(
                out,
                "apiserver_storage_objects{{resource=\"{resource}\"}} {n}"
            );
        }
        out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
        out.push_str("# TYPE process_resident_memory_bytes gauge\n");
        let _ = writeln!(
            out,
            "process_resident_memory_bytes {}",
            resident_memory_bytes()
        );
        drop(m);
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for source in sources {
            out.push_str(&source());
        }
        out
    }
}

/// RSS from /proc/self/statm (pages × page size).
pub fn resident_memory_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // statm counts pages; k1s targets x86_64/aarch64 Linux, whose default page is 4 KiB.
    pages * 4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_objects() {
        let m = Metrics::default();
        let l = RequestLabels {
            verb: "GET".into(),
            version: "v1".into(),
            resource: "services".into(),
            ..Default::default()
        };
        m.observe(&l, 200, Duration::from_millis(3));
        m.observe(&l, 404, Duration::from_millis(30));
        let text = m.render(&[("services".into(), 2), ("apps/deployments".into(), 1)]);
        assert!(text.contains("apiserver_request_total{code=\"200\",component=\"apiserver\",group=\"\",resource=\"services\",subresource=\"\",verb=\"GET\",version=\"v1\"} 1"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("apiserver_storage_objects{resource=\"deployments.apps\"} 1"));
        assert!(text.contains("process_resident_memory_bytes "));
    }

    #[test]
    fn sources_are_appended() {
        let m = Metrics::default();
        m.add_source(std::sync::Arc::new(|| "# TYPE x gauge\nx 1\n".to_string()));
        let text = m.render(&[]);
        assert!(text.contains("apiserver_storage_objects"));
        assert!(text.ends_with("\n# TYPE x gauge\nx 1\n"), "{text}");
    }
}
