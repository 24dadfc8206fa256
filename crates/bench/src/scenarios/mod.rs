//! The measurements, in the order they run, each adding rows to the report.

pub mod dataplane;
pub mod deploy;
pub mod dns;
pub mod load;
pub mod nftcommit;
pub mod pods;
pub mod services;
pub mod startup;
pub mod watch;

use crate::client::version_name;
use crate::config::{Config, Scenario};
use crate::procfs;
use crate::report::{Report, Row, Target};
use crate::server::K1s;
use crate::stats::{ms, rate, Summary};
use std::sync::Arc;
use std::time::Duration;

/// How long k1s sits idle after /readyz before its RSS is read.
const IDLE_SETTLE: Duration = Duration::from_secs(1);
const NS_CM: &str = "bench-cm";

/// Server CPU milliseconds per operation between two samples.
fn cpu_ms_per(before: procfs::Sample, after: procfs::Sample, ops: usize) -> f64 {
    (after.cpu_s - before.cpu_s) * 1000.0 / ops.max(1) as f64
}

pub async fn run_all(cfg: &Config, k1s: &mut K1s, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("starting k1s (pid {}) ...", k1s.pid);
    let started = startup::start(k1s, cfg.http2).await?;
    let client = started.client;
    let protocol = version_name(client.version_of("/readyz").await?);
    report.push(Row::new(
        "start -> /readyz 200",
        ms(started.ready_after),
        "ms",
        Target::AtMost(300.0),
    ));
    report.push(Row::new(
        "  start -> CA and token on disk",
        ms(started.files_after),
        "ms",
        Target::Info,
    ));
    let exe = k1s
        .exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "unknown".into());
    report.section(
        "setup",
        format!(
            "protocol: {protocol} over TLS (CA pinned), to 127.0.0.1:{} inside netns\n\
             k1s pid {} = {exe}\n\
             objects {}, concurrency {}, GETs {}, LISTs {}, watchers {} x events {}, Service bucket {}\n\
             client runtime: {} tokio worker threads; readiness polls: {}\n\
             scenarios: {:?}, pods {}\n",
            crate::server::PORT,
            k1s.pid,
            cfg.objects,
            cfg.concurrency,
            cfg.gets,
            cfg.lists,
            cfg.watchers,
            cfg.events,
            cfg.bucket,
            cfg.client_threads,
            started.polls,
            cfg.scenarios,
            cfg.pods,
        ),
    );

    tokio::time::sleep(IDLE_SETTLE).await;
    let idle = procfs::sample(k1s.pid)?;
    report.push(Row::new(
        "idle RSS (VmRSS, 1 s after ready)",
        idle.rss_mib,
        "MiB",
        Target::AtMost(40.0),
    ));

    if cfg.runs(Scenario::Pods) {
        eprintln!("pods: {} created one at a time, then deleted ...", cfg.pods);
        let run = pods::measure(&client, k1s, cfg.pods).await?;
        pods::push_rows(&run, report);
    }

    if cfg.runs(Scenario::Deploy) {
        eprintln!(
            "deploy: {} single pods, then a Deployment of {} replicas and a rolling update ...",
            deploy::PROBES,
            cfg.replicas
        );
        let run = deploy::measure(&client, k1s, cfg.replicas).await?;
        deploy::push_rows(&run, report);
    }

    if cfg.runs(Scenario::Load) {
        eprintln!(
            "creating {} ConfigMaps with {} clients ...",
            cfg.objects, cfg.concurrency
        );
        load::ensure_namespace(&client, NS_CM).await?;
        load::warm_connections(&client, cfg.concurrency).await?;
        let before = procfs::sample(k1s.pid)?;
        let batch = load::create_batch(
            &client,
            &format!("/api/v1/namespaces/{NS_CM}/configmaps"),
            0..cfg.objects,
            cfg.concurrency,
            Arc::new(|i| crate::objects::config_map(&format!("cm-{i}"))),
        )
        .await?;
        let after = procfs::sample(k1s.pid)?;
        let lat = Summary::of(&batch.latencies_ms);
        report.push(Row::new(
            format!("durable creates, {} clients", cfg.concurrency),
            rate(batch.count, batch.elapsed),
            "/s",
            Target::AtLeast(1000.0),
        ));
        report.push(Row::new(
            "  create latency p50",
            lat.p50,
            "ms",
            Target::Info,
        ));
        report.push(Row::new(
            "  create latency p99",
            lat.p99,
            "ms",
            Target::Info,
        ));
        report.push(Row::new(
            "  server CPU per create",
            cpu_ms_per(before, after, batch.count),
            "ms",
            Target::Info,
        ));

        eprintln!("{} sequential GETs ...", cfg.gets);
        let gets = load::get_latencies(
            &client,
            &format!("/api/v1/namespaces/{NS_CM}/configmaps/cm-0"),
            50,
            cfg.gets,
        )
        .await?;
        let g = Summary::of(&gets);
        report.push(Row::new(
            "GET one ConfigMap p50",
            g.p50,
            "ms",
            Target::AtMost(0.5),
        ));
        report.push(Row::new(
            "GET one ConfigMap p99",
            g.p99,
            "ms",
            Target::AtMost(0.5),
        ));

        eprintln!("{} LISTs of {} ConfigMaps ...", cfg.lists, cfg.objects);
        let before = procfs::sample(k1s.pid)?;
        let (lists, bytes) = load::list_latencies(
            &client,
            &format!("/api/v1/namespaces/{NS_CM}/configmaps"),
            cfg.objects,
            cfg.lists,
        )
        .await?;
        let after = procfs::sample(k1s.pid)?;
        let l = Summary::of(&lists);
        report.push(Row::new(
            format!("LIST {} ConfigMaps p50", cfg.objects),
            l.p50,
            "ms",
            Target::AtMost(100.0),
        ));
        report.push(Row::new("  LIST max", l.max, "ms", Target::Info));
        report.push(Row::new(
            "  LIST body size",
            bytes as f64 / (1024.0 * 1024.0),
            "MiB",
            Target::Info,
        ));
        report.push(Row::new(
            "  server CPU per LIST",
            cpu_ms_per(before, after, cfg.lists),
            "ms",
            Target::Info,
        ));
    }

    if cfg.runs(Scenario::Watch) {
        eprintln!(
            "watch fan-out: {} watchers x {} events ...",
            cfg.watchers, cfg.events
        );
        let f = watch::fan_out(&client, cfg.watchers, cfg.events).await?;
        let all = Summary::of(&f.all_ms);
        let each = Summary::of(&f.each_ms);
        let all_req = Summary::of(&f.all_from_request_ms);
        let create = Summary::of(&f.create_ms);
        report.push(Row::new(
            format!("watch: event reaches all {} watchers p99", f.watchers),
            all.p99,
            "ms",
            Target::AtMost(10.0),
        ));
        report.push(Row::new("  all watchers p50", all.p50, "ms", Target::Info));
        report.push(Row::new(
            "  each delivery p50",
            each.p50,
            "ms",
            Target::Info,
        ));
        report.push(Row::new(
            "  each delivery p99",
            each.p99,
            "ms",
            Target::Info,
        ));
        report.push(Row::new(
            "  all watchers p99, from create request sent",
            all_req.p99,
            "ms",
            Target::Info,
        ));
        report.push(Row::new(
            "  single create latency p50 (one durable commit)",
            create.p50,
            "ms",
            Target::Info,
        ));
        report.push(Row::new(
            "  deliveries lost (> 5 s)",
            f.missing as f64,
            "",
            Target::AtMost(0.0),
        ));
        report.section(
        "watch fan-out",
        format!(
            "{} events, one at a time, x {} watchers = {} deliveries, each watch its own {protocol} stream.\n\
             Delays count from when the event became visible: the earlier of the create's response and the\n\
             first delivery ({} of the deliveries beat the response). Arrival is stamped before the client parses.\n",
            f.events,
            f.watchers,
            f.events * f.watchers,
            f.before_response
        ),
    );
    }

    if cfg.runs(Scenario::Services) {
        eprintln!(
            "Services: {} in buckets of {} (plus as many ConfigMaps and headless Services) ...",
            cfg.objects, cfg.bucket
        );
        let before = procfs::sample(k1s.pid)?;
        let buckets =
            services::run(&client, k1s.pid, cfg.objects, cfg.bucket, cfg.concurrency).await?;
        let after = procfs::sample(k1s.pid)?;
        let t = services::totals(&buckets);
        report.push(Row::new(
            format!("Service creates ({} ClusterIP/NodePort)", t.count),
            rate(t.count, t.services),
            "/s",
            Target::AtLeast(1000.0),
        ));
        report.push(Row::new(
            "  headless Service creates (no allocation)",
            rate(t.count, t.headless),
            "/s",
            Target::Info,
        ));
        report.push(Row::new(
            "  ConfigMap creates (reference)",
            rate(t.count, t.config_maps),
            "/s",
            Target::Info,
        ));
        report.push(Row::new(
            "  allocator share of Service time",
            services::share(t.services, t.headless) * 100.0,
            "%",
            Target::Info,
        ));
        report.push(Row::new(
            "  Service vs ConfigMap extra time",
            services::share(t.services, t.config_maps) * 100.0,
            "%",
            Target::Info,
        ));
        report.push(Row::new(
            "  server CPU per object (all 3 kinds)",
            cpu_ms_per(before, after, 3 * t.count),
            "ms",
            Target::Info,
        ));
        if let Some(g) = services::growth(&buckets) {
            report.push(Row::new(
                "Service/headless rate, 2nd half / 1st half",
                g,
                "",
                Target::AtLeast(0.8),
            ));
        }
        report.section(
            format!(
                "Service creates per {}-Service bucket (NodePort range {})",
                cfg.bucket,
                crate::server::NODE_PORT_RANGE
            ),
            format!(
                "Each bucket: as many ConfigMaps (reference), headless Services (no allocation) and\n\
                 Services (ClusterIP, every third NodePort), written in alternating rounds of {} each,\n\
                 {} clients. alloc = Services' time over headless Services' time;\n\
                 KiB = bytes k1s sent to storage (/proc/PID/io write_bytes) per object.\n{}",
                services::ROUND,
                cfg.concurrency,
                services::bucket_table(&buckets)
            ),
        );
    }

    if cfg.runs(Scenario::Dns) {
        eprintln!(
            "dns: {} Services, dnsperf against k1s and Knot ...",
            dns::SERVICES
        );
        dns::run(&client, k1s, cfg.concurrency, report).await?;
    }

    if cfg.runs(Scenario::Dataplane) {
        let run = dataplane::measure(&client, k1s, cfg.objects, cfg.http2).await?;
        dataplane::push_rows(&run, report);
    }

    let end = procfs::sample(k1s.pid)?;
    report.push(Row::new(
        "RSS after the run",
        end.rss_mib,
        "MiB",
        Target::Info,
    ));
    report.push(Row::new(
        "peak RSS (VmHWM)",
        end.hwm_mib,
        "MiB",
        Target::Info,
    ));
    Ok(())
}
