//! What one nftables commit of the Service proxy costs as its table grows,
//! measured without k1s: the `k1s-proxy` crate's own builder, incremental
//! diff and netlink path, in a scratch network namespace per table size.
//!
//! For each size N, N ClusterIP Services x 2 ready endpoints are loaded the
//! way the proxy loads a whole table (one `nft -f` transaction). Then single
//! transactions are timed from encoding to the kernel's acknowledgement:
//! one endpoint of one Service replaced, one Service added (and deleted
//! again), and, as the data-only floor, one element added to (and deleted
//! from) the plain `cluster-ips` set. The addresses only ever go into rules inside the
//! scratch namespace: nothing sends a packet.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use k1s_proxy::build::CLUSTER_IPS;
use k1s_proxy::incremental::Programmed;
use k1s_proxy::listing::Fingerprint;
use k1s_proxy::{
    Applier, EndpointInfo, EndpointSliceInfo, Op, Protocol, ServiceInfo, ServiceInputs, ServiceKey,
    ServicePortInfo, SlicePort, Transaction,
};

use crate::netns::{self, Netns, NODE_IP};
use crate::procfs;
use crate::report::{self, Report, Row, Target};
use crate::stats::{ms, Summary};

/// Table sizes measured without `--nft-services`. 10,000 is opt-in: its
/// load alone takes more than a minute of kernel time.
pub const DEFAULT_SIZES: [usize; 4] = [100, 1_000, 3_000, 5_000];
/// The largest table the address plan below has room for (with the
/// Services and spare endpoint the samples add).
pub const MAX_SERVICES: usize = 30_000;

const NAMESPACE: &str = "bench-nft";
const PORT: u16 = 80;

/// Samples per kind of commit: at least `MIN_SAMPLES` unless `HARD_LIMIT`
/// passes first, at most `MAX_SAMPLES`, none begun after `SOFT_LIMIT` once
/// the minimum is in.
const MIN_SAMPLES: usize = 20;
const MAX_SAMPLES: usize = 40;
const SOFT_LIMIT: Duration = Duration::from_secs(20);
const HARD_LIMIT: Duration = Duration::from_secs(120);

/// The Service dataplane issue's targets (with 10,000 Services): a
/// one-endpoint change live within 20 ms, a new Service programmed p99
/// <= 100 ms. A commit is only part of either, so it must fit inside.
const ENDPOINT_CHANGE_TARGET_MS: f64 = 20.0;
const NEW_SERVICE_TARGET_MS: f64 = 100.0;

/// ClusterIPs from 10.96.1.0 (clear of `kubernetes` 10.96.0.1 and
/// `kube-dns` 10.96.0.10) to below the broadcast address of 10.96.0.0/12.
const CLUSTER_IP_FIRST: u32 = u32::from_be_bytes([10, 96, 1, 0]);
const CLUSTER_IP_END: u32 = u32::from_be_bytes([10, 111, 255, 255]);
/// Endpoints from 10.244.1.0 (clear of the node's bridge 10.244.0.1) to
/// below the broadcast address of 10.244.0.0/16.
const ENDPOINT_FIRST: u32 = u32::from_be_bytes([10, 244, 1, 0]);
const ENDPOINT_END: u32 = u32::from_be_bytes([10, 244, 255, 255]);

fn nth(first: u32, end: u32, i: usize) -> Option<Ipv4Addr> {
    let ip = first.checked_add(u32::try_from(i).ok()?)?;
    (ip < end).then_some(Ipv4Addr::from(ip))
}

/// The ClusterIP of Service `i`.
pub fn cluster_ip(i: usize) -> Option<Ipv4Addr> {
    nth(CLUSTER_IP_FIRST, CLUSTER_IP_END, i)
}

/// The `k`-th endpoint address.
pub fn endpoint_ip(k: usize) -> Option<Ipv4Addr> {
    nth(ENDPOINT_FIRST, ENDPOINT_END, k)
}

/// The two endpoints Service `i` starts with (its own, unique).
pub fn own_endpoints(i: usize) -> Option<[Ipv4Addr; 2]> {
    Some([endpoint_ip(2 * i)?, endpoint_ip(2 * i + 1)?])
}

/// An endpoint no Service of a table of `n` (nor the ones samples add) uses.
pub fn spare_endpoint(n: usize) -> Option<Ipv4Addr> {
    endpoint_ip(2 * (n + MAX_SAMPLES))
}

/// A ClusterIP no Service of a table of `n` (nor the ones samples add) uses.
pub fn spare_cluster_ip(n: usize) -> Option<Ipv4Addr> {
    cluster_ip(n + MAX_SAMPLES)
}

/// Service `i`: a ClusterIP Service with TCP port 80 and one EndpointSlice
/// of ready `endpoints` on port 80, as the proxy's tracker would hand it over.
pub fn service(i: usize, endpoints: [Ipv4Addr; 2]) -> Option<ServiceInputs> {
    let name = format!("svc-{i:05}");
    let mut svc = ServiceInfo::new(NAMESPACE, &name, cluster_ip(i)?);
    svc.ports.push(ServicePortInfo {
        name: String::new(),
        protocol: Protocol::Tcp,
        port: PORT,
        node_port: None,
    });
    let slice = EndpointSliceInfo {
        namespace: NAMESPACE.into(),
        service_name: name,
        ports: vec![SlicePort {
            name: String::new(),
            protocol: Protocol::Tcp,
            port: PORT,
        }],
        endpoints: endpoints.iter().copied().map(EndpointInfo::ready).collect(),
    };
    Some(ServiceInputs {
        service: Arc::new(svc),
        slices: vec![Arc::new(slice)],
    })
}

/// The inputs of a table of `n` Services, each with its own endpoints.
pub fn table_inputs(n: usize) -> Option<BTreeMap<ServiceKey, ServiceInputs>> {
    (0..n)
        .map(|i| service(i, own_endpoints(i)?).map(|s| (s.key(), s)))
        .collect()
}

/// Parses one `--nft-services` size.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of Services"))?;
    if n == 0 || n > MAX_SERVICES {
        return Err(format!(
            "{n} Services: must be between 1 and {MAX_SERVICES}"
        ));
    }
    Ok(n)
}

/// Whether to take another sample after `taken` of them in `elapsed`.
fn keep_sampling(taken: usize, elapsed: Duration) -> bool {
    taken < MAX_SAMPLES && elapsed < HARD_LIMIT && (taken < MIN_SAMPLES || elapsed < SOFT_LIMIT)
}

/// Nanoseconds the calling thread has been on a CPU (exact, unlike the
/// tick-sampled figures of /proc).
fn thread_cpu_ns() -> Option<u64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    u64::try_from(t.tv_sec())
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(t.tv_nsec()).ok()?)
}

/// (user, system) CPU seconds of this process's reaped children, from the
/// text of /proc/self/stat (fields 16 and 17, in USER_HZ = 100 ticks).
fn children_cpu_s(stat: &str) -> Option<(f64, f64)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Counted from field 3 (state), as after the ')' of comm.
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some((cutime as f64 / 100.0, cstime as f64 / 100.0))
}

fn children_cpu() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    children_cpu_s(&stat).context("cannot parse /proc/self/stat")
}

/// Wall and on-CPU milliseconds of one kind of commit.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub wall_ms: Vec<f64>,
    /// On-CPU time of the committing thread; the kernel does the commit
    /// in the sender's `send()`, so this is nearly all kernel time.
    pub cpu_ms: Vec<f64>,
}

impl Samples {
    fn push(&mut self, (wall, cpu): (f64, f64)) {
        self.wall_ms.push(wall);
        self.cpu_ms.push(cpu);
    }

    fn len(&self) -> usize {
        self.wall_ms.len()
    }

    pub fn wall(&self) -> Summary {
        Summary::of(&self.wall_ms)
    }

    pub fn cpu(&self) -> Summary {
        Summary::of(&self.cpu_ms)
    }

    /// `p50/p99 (cpu p50)` in milliseconds, for the per-size table.
    fn cell(&self) -> String {
        let (w, c) = (self.wall(), self.cpu());
        format!("{:.1}/{:.1} ({:.1})", w.p50, w.p99, c.p50)
    }
}

/// Everything measured for one table size.
#[derive(Debug, Default, Clone)]
pub struct SizeRun {
    pub services: usize,
    pub chains: i64,
    pub rules: i64,
    pub elements: i64,
    pub base_chains: usize,
    /// Computing the table and its transaction (`Programmed::load`).
    pub build: Duration,
    /// The whole-table transaction, through `nft -f` like the proxy's.
    pub load: Duration,
    /// nft's user and system CPU seconds for the load.
    pub load_user_s: f64,
    pub load_sys_s: f64,
    /// Computing the one-endpoint change (`Programmed::update`), ms.
    pub diff_ms: Vec<f64>,
    pub endpoint_change: Samples,
    pub new_service: Samples,
    pub service_delete: Samples,
    pub set_element: Samples,
    pub set_element_delete: Samples,
    pub delete_table: Duration,
}

/// When to give up: `--timeout` or Ctrl-C.
struct Limits<'a> {
    deadline: Instant,
    stop: &'a AtomicBool,
}

impl Limits<'_> {
    fn check(&self) -> anyhow::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        if Instant::now() >= self.deadline {
            bail!("gave up (--timeout)");
        }
        Ok(())
    }
}

/// One commit through the proxy's netlink path (`Applier::apply` sends
/// every incremental transaction this way): wall time from encoding to
/// the kernel's acknowledgement, and the thread's on-CPU time meanwhile.
fn commit(applier: &Applier, tx: &Transaction) -> anyhow::Result<(f64, f64)> {
    let cpu_before = thread_cpu_ns();
    let started = Instant::now();
    let sent = applier.apply_netlink(tx).context("netlink commit")?;
    let wall = ms(started.elapsed());
    let cpu_after = thread_cpu_ns();
    if !sent {
        bail!(
            "the proxy's netlink encoder cannot encode this transaction:\n{}",
            tx.to_nft()
        );
    }
    let cpu = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e6,
        _ => f64::NAN,
    };
    Ok((wall, cpu))
}

/// Deletes chains the proxy flushed and would delete a second later
/// (untimed: not part of the change being measured).
fn delete_chains(applier: &Applier, table: &str, chains: Vec<String>) -> anyhow::Result<()> {
    if chains.is_empty() {
        return Ok(());
    }
    let tx = Transaction {
        table: table.to_string(),
        ops: chains.into_iter().map(Op::DeleteChain).collect(),
    };
    commit(applier, &tx).map(drop)
}

/// Deletes the table when dropped unless `delete` already did.
struct TableGuard<'a> {
    applier: &'a Applier,
    table: &'a str,
    deleted: bool,
}

impl TableGuard<'_> {
    fn delete(mut self) -> anyhow::Result<Duration> {
        self.deleted = true;
        let started = Instant::now();
        self.applier
            .delete_table(self.table)
            .context("deleting the table")?;
        Ok(started.elapsed())
    }
}

impl Drop for TableGuard<'_> {
    fn drop(&mut self) {
        if !self.deleted {
            if let Err(e) = self.applier.delete_table(self.table) {
                eprintln!("warning: deleting nft table {}: {e}", self.table);
            }
        }
    }
}

fn proxy_config() -> k1s_proxy::Config {
    // As k1s configures its proxy, with the benchmark's node address.
    k1s_proxy::Config {
        node_name: "bench-node".into(),
        node_ips: NODE_IP.parse().into_iter().collect(),
        ..k1s_proxy::Config::default()
    }
}

fn no_address() -> anyhow::Error {
    anyhow!("the benchmark's address plan has no room for this table size")
}

/// Measures one table of `n` Services; runs on a thread inside the
/// scratch namespace (the applier and its `nft` act where the thread is).
fn measure_size(n: usize, limits: &Limits) -> anyhow::Result<SizeRun> {
    let cfg = proxy_config();
    let mut run = SizeRun {
        services: n,
        ..SizeRun::default()
    };
    let inputs = table_inputs(n).ok_or_else(no_address)?;
    let started = Instant::now();
    let (mut programmed, rs) = Programmed::load(&cfg, inputs);
    let full = Transaction::full(&rs);
    run.build = started.elapsed();
    run.base_chains = rs.chains.iter().filter(|c| c.base.is_some()).count();
    drop(rs);
    let counts = programmed.counts();
    (run.chains, run.rules, run.elements) = (counts.chains, counts.rules, counts.elements);

    let applier = Applier::new();
    let table = TableGuard {
        applier: &applier,
        table: &cfg.table,
        deleted: false,
    };
    eprintln!(
        "  loading the whole table ({} commands) ...",
        full.ops.len()
    );
    let (user_before, sys_before) = children_cpu()?;
    let started = Instant::now();
    applier
        .apply(&full)
        .context("loading the whole table as the proxy does")?;
    run.load = started.elapsed();
    let (user_after, sys_after) = children_cpu()?;
    (run.load_user_s, run.load_sys_s) = (user_after - user_before, sys_after - sys_before);
    drop(full);

    // (a) One endpoint of one Service replaced, back and forth.
    let target = n / 2;
    let own = own_endpoints(target).ok_or_else(no_address)?;
    let spare = spare_endpoint(n).ok_or_else(no_address)?;
    let started = Instant::now();
    while keep_sampling(run.endpoint_change.len(), started.elapsed()) {
        limits.check()?;
        // Away to the spare endpoint and back again.
        let second = [spare, own[1]][run.endpoint_change.len() % 2];
        let changed = service(target, [own[0], second]).ok_or_else(no_address)?;
        let computing = Instant::now();
        let step = programmed.update(&cfg, BTreeMap::from([(changed.key(), Some(changed))]));
        run.diff_ms.push(ms(computing.elapsed()));
        let mut tx = step.tx;
        // As the proxy does by default: the old endpoint's chain is only
        // flushed now and deleted with a later commit.
        let stale = tx.defer_chain_deletes();
        run.endpoint_change.push(commit(&applier, &tx)?);
        delete_chains(&applier, &cfg.table, stale)?;
    }

    // (b) A new Service with 2 endpoints, deleted again after each sample.
    let started = Instant::now();
    while keep_sampling(run.new_service.len(), started.elapsed()) {
        limits.check()?;
        let i = n + run.new_service.len();
        let added = service(i, own_endpoints(i).ok_or_else(no_address)?).ok_or_else(no_address)?;
        let key = added.key();
        let mut tx = programmed
            .update(&cfg, BTreeMap::from([(key.clone(), Some(added))]))
            .tx;
        let stale = tx.defer_chain_deletes();
        run.new_service.push(commit(&applier, &tx)?);
        delete_chains(&applier, &cfg.table, stale)?;
        let mut tx = programmed.update(&cfg, BTreeMap::from([(key, None)])).tx;
        let stale = tx.defer_chain_deletes();
        run.service_delete.push(commit(&applier, &tx)?);
        delete_chains(&applier, &cfg.table, stale)?;
    }

    // (c) The floor: one element of the plain ipv4_addr set `cluster-ips`.
    let ip = spare_cluster_ip(n).ok_or_else(no_address)?;
    let element = |op: fn(String, Vec<Ipv4Addr>) -> Op| Transaction {
        table: cfg.table.clone(),
        ops: vec![op(CLUSTER_IPS.into(), vec![ip])],
    };
    let add = element(|set, ips| Op::AddSetElements { set, ips });
    let remove = element(|set, ips| Op::DeleteSetElements { set, ips });
    let started = Instant::now();
    while keep_sampling(run.set_element.len(), started.elapsed()) {
        limits.check()?;
        run.set_element.push(commit(&applier, &add)?);
        run.set_element_delete.push(commit(&applier, &remove)?);
    }

    // The commits really did what the proxy meant: the kernel's table is
    // the one a full build of the final state gives.
    let listing = applier
        .list_json(&cfg.table)
        .context("listing the table")?
        .context("the table is gone")?;
    let have =
        Fingerprint::of_listing(&listing).map_err(|e| anyhow!("reading the listing: {e}"))?;
    if have != Fingerprint::of_ruleset(&programmed.ruleset(&cfg), &[]) {
        bail!("after the incremental commits the kernel's table differs from the proxy's state");
    }
    run.delete_table = table.delete()?;
    Ok(run)
}

/// Every size in turn, each in a fresh namespace deleted afterwards (also
/// when the measurement fails or panics).
fn measure_all(sizes: &[usize], limits: &Limits) -> anyhow::Result<Vec<SizeRun>> {
    let mut runs = Vec::new();
    for &n in sizes {
        limits.check()?;
        let ns = Netns::create(&format!("k1s-bench-nft-{}", std::process::id()))?;
        eprintln!(
            "nftcommit: {n} Services x 2 endpoints in netns {} ...",
            ns.name()
        );
        let path = ns.path();
        let measured = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("bench-nft-netns".into())
                .spawn_scoped(s, || {
                    netns::enter(&path)?;
                    measure_size(n, limits)
                })
                .map(|h| h.join())
        });
        drop(ns);
        match measured {
            Ok(Ok(run)) => runs.push(run?),
            Ok(Err(_)) => bail!("the nftcommit thread panicked (its netns was deleted)"),
            Err(e) => bail!("spawning the nftcommit thread: {e}"),
        }
    }
    Ok(runs)
}

/// Until the measurement ends; Ctrl-C asks it to stop at the next step
/// (so the table and namespace are still removed).
async fn wait_or_interrupt(mut done: tokio::sync::oneshot::Receiver<()>, stop: &AtomicBool) {
    loop {
        tokio::select! {
            _ = &mut done => return,
            signal = tokio::signal::ctrl_c() => {
                if signal.is_err() {
                    let _ = done.await;
                    return;
                }
                stop.store(true, Ordering::Relaxed);
                eprintln!("interrupted: stopping after the current step, then cleaning up");
            }
        }
    }
}

/// Measures every size in `sizes` (ascending) and adds the rows and
/// sections to `report`.
pub fn run(sizes: &[usize], timeout: Duration, report: &mut Report) -> anyhow::Result<()> {
    let stop = AtomicBool::new(false);
    let limits = Limits {
        deadline: Instant::now() + timeout,
        stop: &stop,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime for Ctrl-C")?;
    let load_before = procfs::loadavg();
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let runs = std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("bench-nft".into())
            .spawn_scoped(s, || {
                let r = measure_all(sizes, &limits);
                let _ = done.send(());
                r
            })
            .context("spawning the nftcommit thread")?;
        rt.block_on(wait_or_interrupt(finished, &stop));
        worker
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the nftcommit thread panicked")))
    })?;
    push_rows(&runs, report);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    if let Some(largest) = runs.last() {
        report.section(
            "nftcommit: proxy commits by table size",
            size_table(&runs, &kernel, &load_before),
        );
        report.section(
            format!(
                "nftcommit: why commits cost what they do at {} Services",
                largest.services
            ),
            explanation(runs.first().unwrap_or(largest), largest, &kernel),
        );
    }
    Ok(())
}

fn push_rows(runs: &[SizeRun], report: &mut Report) {
    let largest = runs.last().map_or(0, |r| r.services);
    for r in runs {
        let at_largest = |t: f64| {
            if r.services == largest {
                Target::AtMost(t)
            } else {
                Target::Info
            }
        };
        report.push(Row::new(
            format!(
                "nft, {} Services x 2 endpoints: full load (nft -f)",
                r.services
            ),
            r.load.as_secs_f64(),
            "s",
            Target::Info,
        ));
        let (e, n) = (r.endpoint_change.wall(), r.new_service.wall());
        let (add, del) = (r.set_element.wall(), r.set_element_delete.wall());
        let rows = [
            ("  one-endpoint change commit p50", e.p50, Target::Info),
            (
                "  one-endpoint change commit p99",
                e.p99,
                at_largest(ENDPOINT_CHANGE_TARGET_MS),
            ),
            (
                "  new Service (2 endpoints) commit p50",
                n.p50,
                Target::Info,
            ),
            (
                "  new Service (2 endpoints) commit p99",
                n.p99,
                at_largest(NEW_SERVICE_TARGET_MS),
            ),
            ("  plain set element add commit p50", add.p50, Target::Info),
            ("  plain set element add commit p99", add.p99, Target::Info),
            (
                "  plain set element delete commit p50",
                del.p50,
                Target::Info,
            ),
        ];
        for (metric, value, target) in rows {
            report.push(Row::new(metric, value, "ms", target));
        }
    }
}

fn size_table(runs: &[SizeRun], kernel: &str, load_before: &str) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.services.to_string(),
                format!("{}/{}/{}", r.chains, r.rules, r.elements),
                format!("{:.2}", r.load.as_secs_f64()),
                format!("{:.2}/{:.2}", r.load_sys_s, r.load_user_s),
                r.endpoint_change.cell(),
                r.new_service.cell(),
                r.service_delete.cell(),
                r.set_element.cell(),
                r.set_element_delete.cell(),
                format!("{:.2}", r.delete_table.as_secs_f64()),
            ]
        })
        .collect();
    let samples: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{}: {}/{}/{}",
                r.services,
                r.endpoint_change.len(),
                r.new_service.len(),
                r.set_element.len()
            )
        })
        .collect();
    format!(
        "Kernel {kernel}, {} CPUs, load average before {load_before}, after {}. Each size in a fresh netns.\n\
         load = the whole table as one `nft -f` transaction (the proxy's full load): wall s, and nft's\n\
         system/user CPU s. Commit columns: wall p50/p99 ms (on-CPU p50 ms of the sending thread) of one\n\
         transaction from k1s_proxy's incremental diff, sent by its netlink path and acknowledged.\n\
         Service delete = the proxy's delete commit (elements out, chains flushed); set element = add / delete\n\
         of one cluster-ips element; del table = nft delete table, s.\n\
         Samples (endpoint change/new Service and delete/set element add and delete): {}\n{}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        procfs::loadavg(),
        samples.join(", "),
        report::table(
            &[
                "Services",
                "chains/rules/elements",
                "load s",
                "sys/user s",
                "endpoint change",
                "new Service",
                "Service delete",
                "set elem add",
                "set elem delete",
                "del table",
            ],
            &rows
        )
    )
}

/// `p50 a ms, p99 b ms, c ms on CPU` of one kind of commit.
fn figures(s: &Samples) -> String {
    let (w, c) = (s.wall(), s.cpu());
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, on CPU p50 {:.1} ms",
        w.p50, w.p99, c.p50
    )
}

/// Wall minus on-CPU p50: how long a commit waited rather than worked.
fn waited(s: &Samples) -> f64 {
    s.wall().p50 - s.cpu().p50
}

fn explanation(smallest: &SizeRun, largest: &SizeRun, kernel: &str) -> String {
    let (s, l) = (smallest, largest);
    let mut text = format!(
        "Measured on kernel {kernel} with k1s's own ruleset ({} base chains, {} chains, {} rules, {} set/map\n\
         elements for {} Services), k1s_proxy's incremental transactions and its netlink path:\n\
         - one endpoint replaced in one Service: {} (issue target: live within {ENDPOINT_CHANGE_TARGET_MS} ms);\n\
         - one new Service with 2 endpoints: {} (issue target: programmed p99 <= {NEW_SERVICE_TARGET_MS} ms);\n\
         - one element added to the plain ipv4_addr set cluster-ips: {};\n\
         - that element deleted again: {}.\n",
        l.base_chains,
        l.chains,
        l.rules,
        l.elements,
        l.services,
        figures(&l.endpoint_change),
        figures(&l.new_service),
        figures(&l.set_element),
        figures(&l.set_element_delete),
    );
    if s.services != l.services {
        let grew =
            |f: fn(&SizeRun) -> &Samples| format!("{:.1} -> {:.1}", f(s).cpu().p50, f(l).cpu().p50);
        text.push_str(&format!(
            "From {} to {} Services the on-CPU p50 went {} ms (endpoint change), {} ms (new Service),\n\
             {} ms (set element add).\n",
            s.services,
            l.services,
            grew(|r| &r.endpoint_change),
            grew(|r| &r.new_service),
            grew(|r| &r.set_element),
        ));
    }
    text.push_str(&format!(
        "The endpoint change and the new Service add rules with jump/goto/dnat and verdict-map elements\n\
         with goto; on such commits nf_tables validates the table's whole jump graph (nft_table_validate,\n\
         from every base chain) before the commit completes, which is the part that grows with the table;\n\
         adding an element to a plain set does not set off that walk.\n\
         Commits that remove something also wait off-CPU: deleting the set element took {:.1} ms more wall\n\
         than CPU (p50) at {} Services; the endpoint change removes too (the Service chain's old rules are\n\
         flushed), {:.1} ms of its p50 was not on CPU.\n\
         The whole table loaded in {:.2} s wall ({:.2} s system CPU in nft, which includes the kernel's commit).\n\
         Computing the endpoint change's transaction (Programmed::update, not in the figures above) took p50 {:.3} ms.\n",
        waited(&l.set_element_delete),
        l.services,
        waited(&l.endpoint_change),
        l.load.as_secs_f64(),
        l.load_sys_s,
        Summary::of(&l.diff_ms).p50,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_in_their_cidrs_and_are_unique() {
        assert_eq!(cluster_ip(0), Some(Ipv4Addr::new(10, 96, 1, 0)));
        assert_eq!(cluster_ip(256), Some(Ipv4Addr::new(10, 96, 2, 0)));
        assert_eq!(endpoint_ip(0), Some(Ipv4Addr::new(10, 244, 1, 0)));
        assert_eq!(
            own_endpoints(1),
            Some([Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 1, 3)])
        );
        // The last usable addresses, not the broadcast ones.
        let last_cluster_ip = (CLUSTER_IP_END - CLUSTER_IP_FIRST - 1) as usize;
        assert_eq!(
            cluster_ip(last_cluster_ip),
            Some(Ipv4Addr::new(10, 111, 255, 254))
        );
        assert_eq!(cluster_ip(last_cluster_ip + 1), None);
        assert_eq!(endpoint_ip(65_278), Some(Ipv4Addr::new(10, 244, 255, 254)));
        assert_eq!(endpoint_ip(65_279), None);
        assert_eq!(endpoint_ip(usize::MAX), None);
    }

    #[test]
    fn the_largest_table_and_its_samples_fit_the_plan() {
        let n = MAX_SERVICES;
        assert!(own_endpoints(n + MAX_SAMPLES - 1).is_some());
        let spare = spare_endpoint(n).expect("spare endpoint");
        let spare_ip = spare_cluster_ip(n).expect("spare ClusterIP");
        // Neither spare belongs to a Service of the table or of a sample.
        for i in [0, n / 2, n - 1, n, n + MAX_SAMPLES - 1] {
            assert!(!own_endpoints(i).expect("endpoints").contains(&spare));
            assert_ne!(cluster_ip(i), Some(spare_ip));
        }
    }

    #[test]
    fn table_inputs_are_services_with_two_ready_endpoints() {
        let t = table_inputs(3).expect("inputs");
        assert_eq!(t.len(), 3);
        let s = &t[&(NAMESPACE.to_string(), "svc-00001".to_string())];
        assert_eq!(s.service.cluster_ip, Ipv4Addr::new(10, 96, 1, 1));
        assert_eq!(s.service.ports.len(), 1);
        assert_eq!(s.service.ports[0].port, 80);
        assert_eq!(s.service.ports[0].protocol, Protocol::Tcp);
        assert_eq!(s.slices.len(), 1);
        let eps: Vec<Ipv4Addr> = s.slices[0].endpoints.iter().map(|e| e.ip).collect();
        assert_eq!(eps, own_endpoints(1).expect("endpoints"));
        assert!(s.slices[0].endpoints.iter().all(|e| e.ready && e.serving));
        assert_eq!(s.slices[0].service_name, "svc-00001");
    }

    #[test]
    fn the_table_holds_one_cluster_ip_and_two_endpoint_chains_per_service() {
        let cfg = proxy_config();
        let (p, rs) = Programmed::load(&cfg, table_inputs(5).expect("inputs"));
        let set = rs.set(CLUSTER_IPS).and_then(|s| s.elements()).expect("set");
        assert_eq!(set.len(), 5);
        assert_eq!(rs.services.len(), 5);
        assert!(rs.services.values().all(|s| s.endpoints.len() == 2));
        assert_eq!(p.counts().endpoints, 10);
        // The spare ClusterIP is free, so adding it is a real change.
        assert!(!set.contains(&spare_cluster_ip(5).expect("ip")));
    }

    #[test]
    fn sizes_parse_within_bounds() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size(" 30000 "), Ok(MAX_SERVICES));
        assert!(parse_size("0").is_err());
        assert!(parse_size("30001").is_err());
        assert!(parse_size("10k").is_err());
    }

    #[test]
    fn sampling_is_bounded_in_count_and_time() {
        let s = Duration::from_secs;
        let cases = [
            (0, s(0), true),
            (MIN_SAMPLES - 1, s(60), true),
            (MIN_SAMPLES, s(19), true),
            (MIN_SAMPLES, s(20), false),
            (MAX_SAMPLES - 1, s(1), true),
            (MAX_SAMPLES, s(0), false),
            (0, HARD_LIMIT, false),
        ];
        for (taken, elapsed, want) in cases {
            assert_eq!(
                keep_sampling(taken, elapsed),
                want,
                "{taken} in {elapsed:?}"
            );
        }
    }

    #[test]
    fn cpu_figures_from_proc() {
        let stat =
            "29275 (nft (x)) R 29272 29272 26689 0 -1 4194304 100 0 0 0 7 3 250 125 20 0 1 0";
        assert_eq!(children_cpu_s(stat), Some((2.5, 1.25)));
        assert_eq!(children_cpu_s("1 (x) R 1"), None);
    }

    #[test]
    fn samples_summarise_wall_and_cpu() {
        let mut s = Samples::default();
        for v in [3.0, 1.0, 2.0] {
            s.push((v, v / 2.0));
        }
        s.push((4.0, f64::NAN));
        assert_eq!(s.len(), 4);
        assert_eq!((s.wall().p50, s.wall().p99), (2.0, 4.0));
        assert_eq!(s.cpu().n, 3);
        assert_eq!(s.cell(), "2.0/4.0 (1.0)");
    }

    #[test]
    fn the_explanation_compares_sizes_only_when_there_are_two() {
        let run = |services: usize, cpu: f64| {
            let mut r = SizeRun {
                services,
                base_chains: 8,
                ..SizeRun::default()
            };
            for s in [
                &mut r.endpoint_change,
                &mut r.new_service,
                &mut r.set_element,
                &mut r.set_element_delete,
            ] {
                s.push((cpu + 10.0, cpu));
            }
            r
        };
        let (small, large) = (run(100, 1.0), run(5000, 30.0));
        let one = explanation(&large, &large, "6.18");
        assert!(!one.contains("From "), "{one}");
        assert!(one.contains("for 5000 Services"), "{one}");
        assert!(
            one.contains("p50 40.0 ms, p99 40.0 ms, on CPU p50 30.0 ms"),
            "{one}"
        );
        assert!(one.contains("took 10.0 ms more wall"), "{one}");
        let two = explanation(&small, &large, "6.18");
        assert!(
            two.contains("From 100 to 5000 Services the on-CPU p50 went 1.0 -> 30.0 ms"),
            "{two}"
        );
    }
}
