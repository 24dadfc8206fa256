//! The k1s server under test: started through `nsenter --net` (which execs
//! k1s, so the child's PID is k1s's), stopped with SIGTERM then SIGKILL,
//! then `k1s reset` removes what its pods left in the kernel.
//!
//! nsenter, not `ip netns exec`: the latter gives k1s a private mount
//! namespace, which would hide the pod namespaces k1s pins under its data
//! directory from the benchmark and from `k1s reset`.

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The secure port k1s listens on inside the namespace.
pub const PORT: u16 = 6443;
/// NodePort range wide enough for a third of 10,000 Services to get one
/// (the default 30000-32767 holds only 2,768).
pub const NODE_PORT_RANGE: &str = "30000-39999";
/// The node k1s registers (and runs the benchmark's pods on).
pub const NODE_NAME: &str = "bench";
/// How long k1s gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(8);
/// How long `k1s reset` may take before it is killed.
const RESET_LIMIT: Duration = Duration::from_secs(60);

/// `program` in the network namespace at `netns` and the host's mount
/// namespace; nsenter execs it, so the child's PID is the program's.
fn in_netns(netns: &Path, program: &Path) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.display()))
        .arg("--")
        .arg(program);
    cmd
}

/// `k1s server` in the namespace at `netns`, logging to `log`.
fn server_command(
    k1s: &Path,
    netns: &Path,
    data_dir: &Path,
    log: std::fs::File,
) -> anyhow::Result<Command> {
    let mut cmd = in_netns(netns, k1s);
    cmd.arg("server")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--node-ip", crate::netns::NODE_IP, "--node-name", NODE_NAME])
        // Cluster DNS never forwards to the host's resolver.
        .args(["--upstream-dns", "127.0.0.1"])
        // Listen on loopback only; every request goes to 127.0.0.1.
        .args(["--bind-address", "127.0.0.1"])
        .args(["--secure-port", &PORT.to_string()])
        .args(["--service-node-port-range", NODE_PORT_RANGE])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    Ok(cmd)
}

pub struct K1s {
    child: Option<Child>,
    pub pid: u32,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub spawned_at: Instant,
    bin: PathBuf,
    netns: PathBuf,
    /// Whether `k1s reset` has run (it runs once, at the latest on drop).
    reset_done: bool,
}

impl K1s {
    /// Spawns `k1s server` in the network namespace at `netns` with its
    /// data in `data_dir` and its log in `log`.
    pub fn spawn(k1s: &Path, netns: &Path, data_dir: &Path, log: &Path) -> anyhow::Result<K1s> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let spawned_at = Instant::now();
        let child = server_command(k1s, netns, data_dir, log_file)?
            .spawn()
            .with_context(|| {
                format!(
                    "starting nsenter --net={} -- {}",
                    netns.display(),
                    k1s.display()
                )
            })?;
        Ok(K1s {
            pid: child.id(),
            child: Some(child),
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
            spawned_at,
            bin: k1s.to_path_buf(),
            netns: netns.to_path_buf(),
            reset_done: false,
        })
    }

    /// Stops k1s and starts it again on the same data, in the same
    /// namespace, appending to the same log (a restart by a service
    /// manager, or the start after a reboot).
    pub fn respawn(&mut self) -> anyhow::Result<()> {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        self.spawned_at = Instant::now();
        let child = server_command(&self.bin, &self.netns, &self.data_dir, log)?
            .spawn()
            .context("starting k1s again")?;
        self.pid = child.id();
        self.child = Some(child);
        Ok(())
    }

    /// Whether the process has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// The part of k1s's log worth showing in an error message.
    pub fn log_excerpt(&self, lines: usize) -> String {
        excerpt(
            &std::fs::read_to_string(&self.log).unwrap_or_default(),
            lines,
        )
    }

    /// The executable behind the PID, to confirm nsenter exec'd into k1s.
    pub fn exe(&self) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/exe", self.pid)).ok()
    }

    /// SIGTERM, wait up to TERM_GRACE, then SIGKILL. Returns how long the
    /// graceful part took, if k1s exited on its own.
    pub fn stop(&mut self) -> Option<Duration> {
        let mut child = self.child.take()?;
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        let started = Instant::now();
        let pid = Pid::from_raw(self.pid as i32);
        if kill(pid, Signal::SIGTERM).is_ok() {
            while started.elapsed() < TERM_GRACE {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        eprintln!(
            "warning: k1s (pid {}) ignored SIGTERM; killing it",
            self.pid
        );
        let _ = kill(pid, Signal::SIGKILL);
        let _ = child.wait();
        None
    }
}

/// The first `lines` error lines of a log (a backtrace after an error is
/// noise), or its last `lines` lines when it has none.
pub fn excerpt(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    let first_error = all
        .iter()
        .position(|l| l.starts_with("Error") || l.contains("panicked") || l.contains("ERROR"));
    match first_error {
        Some(i) => all[i..]
            .iter()
            .take(lines)
            .copied()
            .collect::<Vec<_>>()
            .join("\n"),
        None => all[all.len().saturating_sub(lines)..].join("\n"),
    }
}

impl K1s {
    /// Stops k1s if it still runs, then runs `k1s reset` on its data
    /// directory (once): containers, shims, mounts, cgroups, pod
    /// namespaces, veths and the bridge go. Its output is appended to the log.
    pub fn reset(&mut self) -> anyhow::Result<()> {
        self.stop();
        if self.reset_done {
            return Ok(());
        }
        self.reset_done = true;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        // Where reset's output starts, to quote only it on failure.
        let from = log.metadata().map(|m| m.len() as usize).unwrap_or(0);
        let mut child = in_netns(&self.netns, &self.bin)
            .arg("reset")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting k1s reset")?;
        let started = Instant::now();
        while started.elapsed() < RESET_LIMIT {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    let text = std::fs::read(&self.log).unwrap_or_default();
                    bail!(
                        "k1s reset --data-dir {}: {status}: {}",
                        self.data_dir.display(),
                        String::from_utf8_lossy(text.get(from..).unwrap_or_default()).trim()
                    )
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => bail!("waiting for k1s reset: {e}"),
            }
        }
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        bail!("k1s reset did not finish in {RESET_LIMIT:?}")
    }
}

impl Drop for K1s {
    fn drop(&mut self) {
        // Containers, mounts, pod namespaces and cgroups outlive k1s by
        // design; without the reset they would outlive the benchmark.
        if let Err(e) = self.reset() {
            eprintln!("warning: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn log_excerpts() {
        let cases = [
            ("a\nb\nc\nd", 2, "c\nd"),
            (
                "INFO up\nError: bad ip\n  0: frame\n  1: frame",
                2,
                "Error: bad ip\n  0: frame",
            ),
            (
                "x\nthread 'main' panicked at y\nz",
                5,
                "thread 'main' panicked at y\nz",
            ),
            ("", 3, ""),
        ];
        for (log, n, want) in cases {
            assert_eq!(excerpt(log, n), want, "{log:?}");
        }
    }
}
