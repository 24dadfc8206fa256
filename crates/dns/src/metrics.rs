//! Counters with CoreDNS's metric names, rendered in the Prometheus text
//! format. Lock-free: every request touches a few atomics only.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;

/// The query types CoreDNS labels by name; the rest are "other".
const TYPES: [&str; 19] = [
    "A", "AAAA", "CNAME", "DNSKEY", "DS", "MX", "NSEC3", "NSEC", "NS", "PTR", "RRSIG", "SOA",
    "SRV", "TXT", "HTTPS", "SVCB", "IXFR", "AXFR", "ANY",
];
const OTHER: usize = TYPES.len();
/// CoreDNS's plugin.TimeBuckets: 0.25 ms doubling 16 times.
const BUCKETS: usize = 16;
/// Who wrote the response (CoreDNS's "plugin" label).
pub const PLUGINS: [&str; 3] = ["", "kubernetes", "forward"];

/// The rcode as CoreDNS (miekg/dns) names it.
pub fn rcode_name(code: ResponseCode) -> &'static str {
    match u16::from(code) {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADSIG",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => "other",
    }
}

const RCODES: usize = 24;

fn type_index(t: RecordType) -> usize {
    let s = match t {
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::CNAME => "CNAME",
        RecordType::MX => "MX",
        RecordType::NS => "NS",
        RecordType::PTR => "PTR",
        RecordType::SOA => "SOA",
        RecordType::SRV => "SRV",
        RecordType::TXT => "TXT",
        RecordType::HTTPS => "HTTPS",
        RecordType::SVCB => "SVCB",
        RecordType::IXFR => "IXFR",
        RecordType::AXFR => "AXFR",
        RecordType::ANY => "ANY",
        other => {
            return TYPES
                .iter()
                .position(|n| *n == other.to_string())
                .unwrap_or(OTHER)
        }
    };
    TYPES.iter().position(|n| *n == s).unwrap_or(OTHER)
}

fn bucket_bound(i: usize) -> f64 {
    0.00025 * f64::from(1u32 << i)
}

/// All DNS counters of one server.
pub struct Metrics {
    /// [proto udp/tcp][family 1/2][type]
    requests: [[[AtomicU64; OTHER + 1]; 2]; 2],
    /// [plugin][rcode]
    responses: [[AtomicU64; RCODES + 1]; 3],
    buckets: [AtomicU64; BUCKETS],
    duration_count: AtomicU64,
    duration_sum_ns: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) forward_requests: AtomicU64,
    pub(crate) forward_failures: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| {
                std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))
            }),
            responses: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            duration_count: AtomicU64::new(0),
            duration_sum_ns: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            forward_requests: AtomicU64::new(0),
            forward_failures: AtomicU64::new(0),
        }
    }
}

const LABELS: &str = "server=\"dns://:53\",view=\"\",zone=\".\"";

impl Metrics {
    /// One request: tcp or udp, IPv6 client or not, the query type.
    pub fn request(&self, tcp: bool, ipv6: bool, qtype: RecordType) {
        self.requests[usize::from(tcp)][usize::from(ipv6)][type_index(qtype)].fetch_add(1, Relaxed);
    }

    /// One response: its rcode, who made it (index into PLUGINS), how long.
    pub fn response(&self, rcode: ResponseCode, plugin: usize, took: Duration) {
        let code = usize::from(u16::from(rcode)).min(RCODES);
        self.responses[plugin.min(2)][code].fetch_add(1, Relaxed);
        let secs = took.as_secs_f64();
        if let Some(i) = (0..BUCKETS).find(|&i| secs <= bucket_bound(i)) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.duration_count.fetch_add(1, Relaxed);
        self.duration_sum_ns
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n");
        out.push_str("# TYPE coredns_dns_requests_total counter\n");
        for (p, proto) in ["udp", "tcp"].iter().enumerate() {
            for family in 0..2 {
                for t in 0..=OTHER {
                    let n = self.requests[p][family][t].load(Relaxed);
                    if n > 0 {
                        let name = TYPES.get(t).copied().unwrap_or("other");
                        let _ = writeln!(
                            out,
                            "coredns_dns_requests_total{{family=\"{}\",proto=\"{proto}\",{LABELS},type=\"{name}\"}} {n}",
                            family + 1
                        );
                    }
                }
            }
        }
        out.push_str("# HELP coredns_dns_responses_total Counter of response status codes.\n");
        out.push_str("# TYPE coredns_dns_responses_total counter\n");
        for (p, plugin) in PLUGINS.iter().enumerate() {
            for code in 0..=RCODES {
                let n = self.responses[p][code].load(Relaxed);
                if n > 0 {
                    let name = u16::try_from(code)
                        .map(|c| rcode_name(<ResponseCode as From<u16>>::from(c)))
                        .unwrap_or("other");
                    let _ = writeln!(
                        out,
                        "coredns_dns_responses_total{{plugin=\"{plugin}\",rcode=\"{name}\",{LABELS}}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took per zone.\n");
        out.push_str("# TYPE coredns_dns_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for i in 0..BUCKETS {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(
                out,
                "coredns_dns_request_duration_seconds_bucket{{{LABELS},le=\"{}\"}} {cumulative}",
                bucket_bound(i)
            );
        }
        let count = self.duration_count.load(Relaxed);
        let _ = writeln!(
            out,
            "coredns_dns_request_duration_seconds_bucket{{{LABELS},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "coredns_dns_request_duration_seconds_sum{{{LABELS}}} {}",
            self.duration_sum_ns.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(
            out,
            "coredns_dns_request_duration_seconds_count{{{LABELS}}} {count}"
        );
        let simple = [
            (
                "coredns_cache_hits_total",
                "The count of cache hits.",
                &self.cache_hits,
            ),
            (
                "coredns_cache_misses_total",
                "The count of cache misses.",
                &self.cache_misses,
            ),
            (
                "coredns_forward_requests_total",
                "Counter of requests made per upstream.",
                &self.forward_requests,
            ),
            (
                "coredns_forward_failures_total",
                "Counter of requests no upstream answered.",
                &self.forward_failures,
            ),
        ];
        for (name, help, v) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{server=\"dns://:53\"}} {}",
                v.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_coredns_names() {
        let m = Metrics::default();
        m.request(false, false, RecordType::A);
        m.request(false, false, RecordType::A);
        m.request(true, true, RecordType::NULL);
        m.response(ResponseCode::NoError, 1, Duration::from_micros(100));
        m.response(ResponseCode::NXDomain, 1, Duration::from_millis(3));
        m.response(ResponseCode::Refused, 0, Duration::from_secs(100));
        let text = m.render();
        for want in [
            "coredns_dns_requests_total{family=\"1\",proto=\"udp\",server=\"dns://:53\",view=\"\",zone=\".\",type=\"A\"} 2",
            "coredns_dns_requests_total{family=\"2\",proto=\"tcp\",server=\"dns://:53\",view=\"\",zone=\".\",type=\"other\"} 1",
            "coredns_dns_responses_total{plugin=\"kubernetes\",rcode=\"NOERROR\",server=\"dns://:53\",view=\"\",zone=\".\"} 1",
            "coredns_dns_responses_total{plugin=\"kubernetes\",rcode=\"NXDOMAIN\",server=\"dns://:53\",view=\"\",zone=\".\"} 1",
            "coredns_dns_responses_total{plugin=\"\",rcode=\"REFUSED\",server=\"dns://:53\",view=\"\",zone=\".\"} 1",
            "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",view=\"\",zone=\".\",le=\"0.00025\"} 1",
            "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",view=\"\",zone=\".\",le=\"0.004\"} 2",
            "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",view=\"\",zone=\".\",le=\"8.192\"} 2",
            "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",view=\"\",zone=\".\",le=\"+Inf\"} 3",
            "coredns_dns_request_duration_seconds_count{server=\"dns://:53\",view=\"\",zone=\".\"} 3",
            "# TYPE coredns_dns_request_duration_seconds histogram",
        ] {
            assert!(text.contains(want), "missing {want}\n{text}");
        }
    }

    #[test]
    fn rcode_names() {
        assert_eq!(rcode_name(ResponseCode::NoError), "NOERROR");
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::ServFail), "SERVFAIL");
        assert_eq!(rcode_name(ResponseCode::FormErr), "FORMERR");
        assert_eq!(rcode_name(ResponseCode::Refused), "REFUSED");
        assert_eq!(rcode_name(ResponseCode::NotImp), "NOTIMP");
        assert_eq!(rcode_name(ResponseCode::BADVERS), "BADSIG");
    }
}
