//! The k1s server under test: started through `ip netns exec` (which execs
//! k1s, so the child's PID is k1s's), stopped with SIGTERM then SIGKILL.

use anyhow::Context;
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
/// How long k1s gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(8);

pub struct K1s {
    child: Option<Child>,
    pub pid: u32,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub spawned_at: Instant,
}

impl K1s {
    /// Spawns `k1s server` in namespace `ns` with its data in `data_dir`
    /// and its log in `log`.
    pub fn spawn(k1s: &Path, ns: &str, data_dir: &Path, log: &Path) -> anyhow::Result<K1s> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(k1s)
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--node-ip", crate::netns::NODE_IP, "--node-name", "bench"])
            // Listen on loopback only; every request goes to 127.0.0.1.
            .args(["--bind-address", "127.0.0.1"])
            .args(["--secure-port", &PORT.to_string()])
            .args(["--service-node-port-range", NODE_PORT_RANGE])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let spawned_at = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting ip netns exec {ns} {}", k1s.display()))?;
        Ok(K1s {
            pid: child.id(),
            child: Some(child),
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
            spawned_at,
        })
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

    /// The executable behind the PID, to confirm `ip` exec'd into k1s.
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

impl Drop for K1s {
    fn drop(&mut self) {
        self.stop();
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
