//! Service creation at scale and the allocator's share of its cost.
//!
//! Buckets of B objects are written in turn, three kinds per bucket so all
//! three see the same database size: ConfigMaps (the no-allocator
//! reference the issue asks for), headless Services (the same Service write
//! path minus allocation) and Services (ClusterIP, every third NodePort).
//! Each bucket is written in rounds of ROUND objects that alternate the
//! kinds. The allocator's cost per Service is the time over the headless
//! ones.

use crate::client::Client;
use crate::objects::{config_map, service, ServiceKind};
use crate::report::table;
use crate::scenarios::load::{create_batch, ensure_namespace, MakeBody};
use crate::stats::rate;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

pub const NS_REF: &str = "bench-ref";
pub const NS_HEADLESS: &str = "bench-headless";
pub const NS_SVC: &str = "bench-svc";

/// Wall time of one bucket of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Services of the measured kind created before this bucket.
    pub first: usize,
    pub size: usize,
    pub config_maps: Duration,
    pub headless: Duration,
    pub services: Duration,
    /// Bytes k1s sent to storage while writing the Services and the
    /// headless ones: allocations add B-tree pages to every commit.
    pub services_written: u64,
    pub headless_written: u64,
}

impl Bucket {
    /// Allocation time per Service, in microseconds (may dip below 0 in noise).
    pub fn allocator_us(&self) -> f64 {
        (self.services.as_secs_f64() - self.headless.as_secs_f64()) * 1e6 / self.size.max(1) as f64
    }

    /// Allocation's share of the Services' wall time.
    pub fn allocator_share(&self) -> f64 {
        share(self.services, self.headless)
    }
}

/// `1 - reference/measured`: the part of `measured` that `reference` lacks.
pub fn share(measured: Duration, reference: Duration) -> f64 {
    let m = measured.as_secs_f64();
    if m <= 0.0 {
        0.0
    } else {
        1.0 - reference.as_secs_f64() / m
    }
}

pub struct Totals {
    pub count: usize,
    pub config_maps: Duration,
    pub headless: Duration,
    pub services: Duration,
}

pub fn totals(buckets: &[Bucket]) -> Totals {
    Totals {
        count: buckets.iter().map(|b| b.size).sum(),
        config_maps: buckets.iter().map(|b| b.config_maps).sum(),
        headless: buckets.iter().map(|b| b.headless).sum(),
        services: buckets.iter().map(|b| b.services).sum(),
    }
}

/// KiB written to storage per object.
pub fn kib_per(bytes: u64, objects: usize) -> f64 {
    bytes as f64 / 1024.0 / objects.max(1) as f64
}

/// The per-bucket table printed after the results.
pub fn bucket_table(buckets: &[Bucket]) -> String {
    let rows: Vec<Vec<String>> = buckets
        .iter()
        .map(|b| {
            vec![
                format!("{}-{}", b.first, b.first + b.size - 1),
                format!("{:.0}", rate(b.size, b.config_maps)),
                format!("{:.0}", rate(b.size, b.headless)),
                format!("{:.0}", rate(b.size, b.services)),
                format!("{:.0}", b.allocator_us()),
                format!("{:.1}%", b.allocator_share() * 100.0),
                format!("{:.1}", kib_per(b.headless_written, b.size)),
                format!("{:.1}", kib_per(b.services_written, b.size)),
            ]
        })
        .collect();
    table(
        &[
            "services",
            "ConfigMaps/s",
            "headless Svc/s",
            "Services/s",
            "alloc us/Svc",
            "alloc share",
            "KiB/headless",
            "KiB/Svc",
        ],
        &rows,
    )
}

/// The three kinds of object written per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConfigMap,
    Headless,
    Service,
}

/// Objects of one kind per round; a bucket is written as rounds that
/// alternate the kinds, so a slow stretch of the disk hits all three alike.
pub const ROUND: usize = 100;

/// The rounds of `range`: consecutive pieces of at most `size` indices.
pub fn rounds(range: Range<usize>, size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    (range.start..range.end)
        .step_by(size)
        .map(|s| s..(s + size).min(range.end))
        .collect()
}

/// The order of the kinds in round `n`, rotated so none always goes first.
pub fn order(n: usize) -> [Kind; 3] {
    let kinds = [Kind::ConfigMap, Kind::Headless, Kind::Service];
    [kinds[n % 3], kinds[(n + 1) % 3], kinds[(n + 2) % 3]]
}

fn target(kind: Kind) -> (String, MakeBody) {
    match kind {
        Kind::ConfigMap => (
            format!("/api/v1/namespaces/{NS_REF}/configmaps"),
            Arc::new(|i| config_map(&format!("ref-{i}"))),
        ),
        Kind::Headless => (
            format!("/api/v1/namespaces/{NS_HEADLESS}/services"),
            Arc::new(|i| service(&format!("hl-{i}"), ServiceKind::Headless)),
        ),
        Kind::Service => (
            format!("/api/v1/namespaces/{NS_SVC}/services"),
            Arc::new(|i| service(&format!("svc-{i}"), ServiceKind::mixed(i))),
        ),
    }
}

pub async fn run(
    client: &Client,
    pid: u32,
    count: usize,
    bucket: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Bucket>> {
    for ns in [NS_REF, NS_HEADLESS, NS_SVC] {
        ensure_namespace(client, ns).await?;
    }
    let mut out = Vec::new();
    let mut round_no = 0;
    for range in rounds(0..count, bucket) {
        let mut b = Bucket {
            first: range.start,
            size: range.len(),
            config_maps: Duration::ZERO,
            headless: Duration::ZERO,
            services: Duration::ZERO,
            services_written: 0,
            headless_written: 0,
        };
        for round in rounds(range.clone(), ROUND) {
            for kind in order(round_no) {
                let (path, make) = target(kind);
                let written = crate::procfs::write_bytes(pid)?;
                let batch = create_batch(client, &path, round.clone(), concurrency, make).await?;
                let written = crate::procfs::write_bytes(pid)?.saturating_sub(written);
                match kind {
                    Kind::ConfigMap => b.config_maps += batch.elapsed,
                    Kind::Headless => {
                        b.headless += batch.elapsed;
                        b.headless_written += written;
                    }
                    Kind::Service => {
                        b.services += batch.elapsed;
                        b.services_written += written;
                    }
                }
            }
            round_no += 1;
        }
        eprintln!(
            "  services {:>6}..{:<6} ConfigMaps {:>5.0}/s  headless {:>5.0}/s  Services {:>5.0}/s",
            range.start,
            range.end,
            rate(b.size, b.config_maps),
            rate(b.size, b.headless),
            rate(b.size, b.services)
        );
        out.push(b);
    }
    Ok(out)
}

/// How the Services' cost relative to headless ones changed from the first
/// half of the buckets to the second: 1.0 = flat, below 1 = Services got
/// relatively slower. None with fewer than two buckets.
pub fn growth(buckets: &[Bucket]) -> Option<f64> {
    if buckets.len() < 2 {
        return None;
    }
    let (early, late) = buckets.split_at(buckets.len() / 2);
    let ratio = |bs: &[Bucket]| {
        let t = totals(bs);
        t.headless.as_secs_f64() / t.services.as_secs_f64()
    };
    Some(ratio(late) / ratio(early))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(first: usize, cm: u64, hl: u64, svc: u64) -> Bucket {
        Bucket {
            first,
            size: 1000,
            config_maps: Duration::from_millis(cm),
            headless: Duration::from_millis(hl),
            services: Duration::from_millis(svc),
            headless_written: 8 * 1024 * 1000,
            services_written: 12 * 1024 * 1000 + first as u64 * 1024,
        }
    }

    #[test]
    fn allocator_cost_per_bucket() {
        let cases = [
            // (cm ms, headless ms, services ms) -> (us per Service, share)
            ((800, 900, 1000), (100.0, 0.1)),
            ((800, 1000, 1000), (0.0, 0.0)),
            ((800, 1000, 800), (-200.0, -0.25)),
        ];
        for ((cm, hl, svc), (us, sh)) in cases {
            let x = b(0, cm, hl, svc);
            assert!((x.allocator_us() - us).abs() < 1e-6, "{x:?}");
            assert!((x.allocator_share() - sh).abs() < 1e-9, "{x:?}");
        }
        assert_eq!(share(Duration::ZERO, Duration::from_secs(1)), 0.0);
    }

    #[test]
    fn rounds_and_rotation() {
        assert_eq!(rounds(0..250, 100), vec![0..100, 100..200, 200..250]);
        assert_eq!(rounds(1000..2000, 1000), vec![1000..2000]);
        assert_eq!(rounds(0..0, 100), Vec::<Range<usize>>::new());
        assert_eq!(rounds(0..3, 0), vec![0..1, 1..2, 2..3]);
        use Kind::*;
        assert_eq!(order(0), [ConfigMap, Headless, Service]);
        assert_eq!(order(1), [Headless, Service, ConfigMap]);
        assert_eq!(order(2), [Service, ConfigMap, Headless]);
        assert_eq!(order(3), order(0));
    }

    #[test]
    fn growth_compares_halves() {
        let flat = [b(0, 800, 900, 1000), b(1000, 800, 900, 1000)];
        assert!((growth(&flat).unwrap_or(0.0) - 1.0).abs() < 1e-9);
        // Late Services take 1.25x their headless time instead of 1.0x.
        let slower = [
            b(0, 1, 1000, 1000),
            b(1000, 1, 1000, 1000),
            b(2000, 1, 1000, 1250),
        ];
        assert!((growth(&slower).unwrap_or(0.0) - 0.888_888_888_9).abs() < 1e-6);
        assert_eq!(growth(&flat[..1]), None);
    }

    #[test]
    fn totals_and_table() {
        let buckets = [b(0, 800, 900, 1000), b(1000, 1000, 1000, 1250)];
        let t = totals(&buckets);
        assert_eq!(t.count, 2000);
        assert_eq!(t.services, Duration::from_millis(2250));
        let want = "\
services   ConfigMaps/s  headless Svc/s  Services/s  alloc us/Svc  alloc share  KiB/headless  KiB/Svc
---------  ------------  --------------  ----------  ------------  -----------  ------------  -------
0-999      1250          1111            1000        100           10.0%        8.0           12.0
1000-1999  1000          1000            800         250           20.0%        8.0           13.0
";
        assert_eq!(bucket_table(&buckets), want);
    }
}
