//! `k1s-bench`: starts k1s in a private network namespace, measures its API
//! server over HTTPS from inside that namespace, prints each figure against
//! its target, and removes everything it made (also on error or panic).

mod client;
mod config;
mod netns;
mod objects;
mod procfs;
mod report;
mod scenarios;
mod server;
mod stats;

use anyhow::{bail, Context};
use clap::Parser;
use config::{Args, Config};
use report::{Report, Row, Target};
use server::K1s;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn default_k1s() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let dir = exe.parent().context("this binary has no directory")?;
    Ok(dir.join("k1s"))
}

/// Runs on its own thread: enters the namespace, then builds the tokio
/// runtime there so every worker thread, and so every socket, is inside it.
fn bench_thread(
    cfg: &Config,
    k1s_bin: &Path,
    ns: &netns::Netns,
    work: &Path,
) -> anyhow::Result<Report> {
    netns::enter(&ns.path())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.client_threads)
        .enable_all()
        .build()
        .context("building the client runtime")?;
    let mut report = Report::default();
    let data_dir = work.join("data");
    if cfg.runs(config::Scenario::Pods) || cfg.runs(config::Scenario::Deploy) {
        scenarios::pods::prepare_image(work, &data_dir)?;
    }
    let mut k1s = K1s::spawn(k1s_bin, &ns.path(), &data_dir, &work.join("k1s.log"))?;
    let outcome = rt.block_on(async {
        tokio::select! {
            r = tokio::time::timeout(cfg.timeout, scenarios::run_all(cfg, &mut k1s, &mut report)) => {
                r.unwrap_or_else(|_| Err(anyhow::anyhow!("gave up after {:?} (--timeout)", cfg.timeout)))
            }
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // Close the client's connections first so k1s has nothing to drain.
    drop(rt);
    if let Err(e) = outcome {
        bail!("{e:#}\n(k1s log:\n{})", k1s.log_excerpt(10));
    }
    if let Some(d) = k1s.stop() {
        report.push(Row::new(
            "SIGTERM -> k1s exited",
            stats::ms(d),
            "ms",
            Target::Info,
        ));
    }
    if let Err(e) = k1s.reset() {
        eprintln!("warning: {e:#}");
    }
    Ok(report)
}

fn run(args: &Args) -> anyhow::Result<Report> {
    let cfg = Config::from_args(args);
    let mut report = Report::default();
    if cfg.runs(config::Scenario::Nftcommit) {
        // Works on nftables directly, in namespaces of its own: no k1s.
        scenarios::nftcommit::run(&cfg.nft_services, cfg.timeout, &mut report)?;
    }
    if cfg.needs_k1s() {
        let with_k1s = run_k1s(args, &cfg)?;
        report.rows.extend(with_k1s.rows);
        report.sections.extend(with_k1s.sections);
    }
    Ok(report)
}

fn run_k1s(args: &Args, cfg: &Config) -> anyhow::Result<Report> {
    let k1s_bin = match &args.k1s {
        Some(p) => p.clone(),
        None => default_k1s()?,
    };
    if !k1s_bin.is_file() {
        bail!(
            "{} is not a file (build it, or pass --k1s PATH)",
            k1s_bin.display()
        );
    }
    let load_before = procfs::loadavg();
    // Dropped in reverse order: the namespace goes before the directory.
    let work = tempfile::Builder::new()
        .prefix("k1s-bench-")
        .tempdir()
        .context("creating a temp dir")?;
    let ns = netns::Netns::create(&format!("k1s-bench-{}", std::process::id()))?;
    eprintln!(
        "k1s {} in netns {}, data in {}",
        k1s_bin.display(),
        ns.name(),
        work.path().display()
    );
    let joined = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("bench-netns".into())
            .spawn_scoped(s, || bench_thread(cfg, &k1s_bin, &ns, work.path()))
            .map(|h| h.join())
    });
    let mut report = match joined {
        Ok(Ok(r)) => r?,
        Ok(Err(_)) => bail!("the benchmark thread panicked (k1s was stopped)"),
        Err(e) => bail!("spawning the benchmark thread: {e}"),
    };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    report.section(
        "machine",
        format!(
            "{cpus} CPUs; load average before {load_before}, after {}\nk1s binary: {}\n",
            procfs::loadavg(),
            k1s_bin.display()
        ),
    );
    Ok(report)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            print!("{}", report.render());
            let failed = report.failures();
            println!(
                "\n{failed} of {} targets missed",
                report
                    .rows
                    .iter()
                    .filter(|r| r.target != Target::Info)
                    .count()
            );
            if args.strict && failed > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("k1s-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
