//! Command-line flags and the sizes they resolve to.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "k1s-bench",
    about = "Benchmarks k1s's API server in a private network namespace and prints each figure against its target"
)]
pub struct Args {
    /// The k1s binary (default: `k1s` next to this binary, i.e. the same target dir).
    #[arg(long)]
    pub k1s: Option<PathBuf>,
    /// A small run for smoke tests: 1,000 objects and fewer samples.
    #[arg(long)]
    pub quick: bool,
    /// Objects for create throughput, LIST and the Service test [default: 10000, --quick 1000].
    #[arg(long)]
    pub objects: Option<usize>,
    /// Concurrent clients for the create tests.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Sequential GETs for the latency figure [default: 2000, --quick 300].
    #[arg(long)]
    pub gets: Option<usize>,
    /// LIST repetitions [default: 10, --quick 5].
    #[arg(long)]
    pub lists: Option<usize>,
    /// Watch streams for the fan-out test.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Events sent to the watchers, one at a time [default: 200, --quick 50].
    #[arg(long)]
    pub events: Option<usize>,
    /// Services per throughput bucket [default: 1000, --quick 250].
    #[arg(long)]
    pub bucket: Option<usize>,
    /// Skip the Service allocator test.
    #[arg(long)]
    pub skip_services: bool,
    /// Skip the tests that run pods (pods, deploy: they build their offline busybox image from the host's /bin/busybox).
    #[arg(long)]
    pub skip_pods: bool,
    /// Run only these scenarios (start-up and idle RSS always run); repeat or comma-separate.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Scenario>,
    /// Pods for the pod test, created one at a time (at most 200: the node's /24 pod CIDR).
    #[arg(long, default_value_t = 50)]
    pub pods: usize,
    /// Replicas of the Deployment scenario (at most 160: a rollout surges 25% above them in a /24).
    #[arg(long, default_value_t = 50)]
    pub replicas: usize,
    /// Negotiate HTTP/2 (one multiplexed connection, like client-go) instead of HTTP/1.1 keep-alive.
    #[arg(long)]
    pub http2: bool,
    /// Tokio worker threads of the benchmark's client.
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Give up after this many seconds in all.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Exit with status 2 when a target is missed.
    #[arg(long)]
    pub strict: bool,
    /// Table sizes (Services) for `--only nftcommit`, comma-separated [default: 100,1000,3000,5000]; 10000 takes minutes to load.
    #[arg(long, value_delimiter = ',', value_parser = crate::scenarios::nftcommit::parse_size)]
    pub nft_services: Vec<usize>,
}

/// The measurements that can be chosen with `--only`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Pod start to Ready, k1s RSS per running pod, deletion.
    Pods,
    /// Durable creates, GETs and LISTs of ConfigMaps.
    Load,
    /// Watch fan-out.
    Watch,
    /// Service creates and the allocators.
    Services,
    /// A Deployment scaled up from nothing, then rolled to a new template.
    Deploy,
    /// Cluster DNS under dnsperf, against Knot (skipped without dnsperf and knotd).
    Dns,
    /// The Service proxy with `--objects` Services programmed (only with
    /// `--only`: it wants the cluster to itself).
    Dataplane,
    /// What one nftables commit of the proxy costs as its table grows,
    /// without k1s (only with `--only`).
    Nftcommit,
}

/// Resolved sizes of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub objects: usize,
    pub concurrency: usize,
    pub gets: usize,
    pub lists: usize,
    pub watchers: usize,
    pub events: usize,
    pub bucket: usize,
    /// The scenarios to run, from `--only` and the `--skip-*` flags.
    pub scenarios: Vec<Scenario>,
    pub pods: usize,
    pub replicas: usize,
    pub http2: bool,
    pub client_threads: usize,
    pub timeout: Duration,
    /// Table sizes of the nftcommit scenario, ascending.
    pub nft_services: Vec<usize>,
}

impl Config {
    pub fn from_args(a: &Args) -> Config {
        let pick = |given: Option<usize>, full: usize, quick: usize| {
            given.unwrap_or(if a.quick { quick } else { full })
        };
        Config {
            objects: pick(a.objects, 10_000, 1_000).max(1),
            concurrency: a.concurrency.max(1),
            gets: pick(a.gets, 2_000, 300).max(1),
            lists: pick(a.lists, 10, 5).max(1),
            watchers: a.watchers.max(1),
            events: pick(a.events, 200, 50).max(1),
            bucket: pick(a.bucket, 1_000, 250).max(1),
            // In the order they run: pods first, while k1s's heap is small,
            // so the RSS they add is not hidden in memory freed by earlier tests.
            scenarios: [
                // Before k1s starts: it works on nftables alone.
                Scenario::Nftcommit,
                Scenario::Pods,
                Scenario::Deploy,
                Scenario::Load,
                Scenario::Watch,
                Scenario::Services,
                Scenario::Dns,
                Scenario::Dataplane,
            ]
            .into_iter()
            .filter(|s| {
                a.only.contains(s)
                    || (a.only.is_empty()
                        && !matches!(s, Scenario::Dataplane | Scenario::Nftcommit))
            })
            .filter(|s| !(a.skip_services && *s == Scenario::Services))
            .filter(|s| !(a.skip_pods && matches!(s, Scenario::Pods | Scenario::Deploy)))
            .collect(),
            pods: a.pods.clamp(1, 200),
            replicas: a.replicas.clamp(1, 160),
            http2: a.http2,
            client_threads: a.client_threads.max(1),
            timeout: Duration::from_secs(a.timeout.max(1)),
            nft_services: nft_sizes(&a.nft_services),
        }
    }

    pub fn runs(&self, s: Scenario) -> bool {
        self.scenarios.contains(&s)
    }

    /// Whether k1s runs: for start-up and idle RSS alone, or for any chosen
    /// scenario but nftcommit (which works on nftables without it).
    pub fn needs_k1s(&self) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| *s != Scenario::Nftcommit)
    }
}

/// `--nft-services` sorted and without repeats, or the default sizes.
fn nft_sizes(given: &[usize]) -> Vec<usize> {
    let mut sizes = if given.is_empty() {
        crate::scenarios::nftcommit::DEFAULT_SIZES.to_vec()
    } else {
        given.to_vec()
    };
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        let a =
            Args::try_parse_from(std::iter::once("k1s-bench").chain(args.iter().copied())).unwrap();
        Config::from_args(&a)
    }

    #[test]
    fn defaults_quick_and_overrides() {
        let cases: &[(&[&str], usize, usize, usize, usize)] = &[
            // args -> objects, gets, events, bucket
            (&[], 10_000, 2_000, 200, 1_000),
            (&["--quick"], 1_000, 300, 50, 250),
            (&["--quick", "--objects", "500"], 500, 300, 50, 250),
            (&["--objects", "0", "--bucket", "0"], 1, 2_000, 200, 1),
        ];
        for (args, objects, gets, events, bucket) in cases {
            let c = parse(args);
            assert_eq!(
                (c.objects, c.gets, c.events, c.bucket),
                (*objects, *gets, *events, *bucket),
                "{args:?}"
            );
        }
        let c = parse(&["--http2", "--concurrency", "8", "--timeout", "60"]);
        assert!(c.http2);
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.timeout, Duration::from_secs(60));
    }

    #[test]
    fn scenario_selection() {
        use Scenario::*;
        let cases: &[(&[&str], &[Scenario])] = &[
            (&[], &[Pods, Deploy, Load, Watch, Services, Dns]),
            (&["--skip-services"], &[Pods, Deploy, Load, Watch, Dns]),
            (&["--skip-pods"], &[Load, Watch, Services, Dns]),
            (&["--only", "dns"], &[Dns]),
            (&["--only", "dataplane"], &[Dataplane]),
            (&["--only", "deploy"], &[Deploy]),
            (&["--only", "pods"], &[Pods]),
            (&["--only", "load,pods"], &[Pods, Load]),
            (
                &["--only", "watch", "--only", "services"],
                &[Watch, Services],
            ),
            (&["--only", "pods", "--skip-pods"], &[]),
            (&["--only", "nftcommit"], &[Nftcommit]),
            (&["--only", "dataplane,nftcommit"], &[Nftcommit, Dataplane]),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).scenarios, *want, "{args:?}");
        }
        assert!(Args::try_parse_from(["k1s-bench", "--only", "nodes"]).is_err());
        assert_eq!(parse(&[]).pods, 50);
        assert_eq!(parse(&["--pods", "0"]).pods, 1);
        assert_eq!(parse(&["--pods", "1000"]).pods, 200);
        assert_eq!(parse(&[]).replicas, 50);
        assert_eq!(parse(&["--replicas", "500"]).replicas, 160);
        assert!(!parse(&["--only", "nftcommit"]).needs_k1s());
        assert!(parse(&["--only", "nftcommit,dns"]).needs_k1s());
        assert!(parse(&[]).needs_k1s());
        assert!(parse(&["--only", "pods", "--skip-pods"]).needs_k1s());
    }

    #[test]
    fn nft_table_sizes() {
        assert_eq!(parse(&[]).nft_services, [100, 1_000, 3_000, 5_000]);
        assert_eq!(
            parse(&["--nft-services", "10000,100,100"]).nft_services,
            [100, 10_000]
        );
        assert!(Args::try_parse_from(["k1s-bench", "--nft-services", "0"]).is_err());
        assert!(Args::try_parse_from(["k1s-bench", "--nft-services", "1,x"]).is_err());
    }
}
