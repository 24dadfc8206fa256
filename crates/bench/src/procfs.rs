//! Memory and CPU figures of a process from /proc.

use anyhow::Context;

/// Linux reports utime/stime in USER_HZ ticks, which is 100 on every
/// architecture k1s targets (it is an ABI constant, not CONFIG_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// A `kB` field of /proc/PID/status (e.g. `VmRSS`), in KiB.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// User + system CPU seconds from the text of /proc/PID/stat.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    // comm (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After comm come state (field 3), ...; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// Bytes `pid` has sent to storage so far (`write_bytes` of /proc/PID/io).
pub fn write_bytes(pid: u32) -> anyhow::Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .with_context(|| format!("reading /proc/{pid}/io"))?;
    io_field(&io, "write_bytes").with_context(|| format!("no write_bytes in /proc/{pid}/io"))
}

/// A field of /proc/PID/io.
pub fn io_field(io: &str, field: &str) -> Option<u64> {
    io.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .parse()
            .ok()
    })
}

/// Resident and peak-resident memory (MiB) and CPU seconds of `pid` now.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub rss_mib: f64,
    pub hwm_mib: f64,
    pub cpu_s: f64,
}

pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let kib = |f| status_kib(&status, f).with_context(|| format!("no {f} in /proc/{pid}/status"));
    Ok(Sample {
        rss_mib: kib("VmRSS")? as f64 / 1024.0,
        hwm_mib: kib("VmHWM")? as f64 / 1024.0,
        cpu_s: cpu_seconds(&stat).with_context(|| format!("cannot parse /proc/{pid}/stat"))?,
    })
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg prints them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str =
        "Name:\tk1s\nVmPeak:\t  120000 kB\nVmHWM:\t   30720 kB\nVmRSS:\t   20480 kB\nThreads:\t5\n";

    #[test]
    fn status_fields() {
        let cases = [
            ("VmRSS", Some(20480)),
            ("VmHWM", Some(30720)),
            ("VmSwap", None),
            ("Threads", Some(5)),
            ("Vm", None),
        ];
        for (field, want) in cases {
            assert_eq!(status_kib(STATUS, field), want, "{field}");
        }
    }

    #[test]
    fn io_fields() {
        let io =
            "rchar: 6976\nwchar: 10\nread_bytes: 0\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n";
        assert_eq!(io_field(io, "write_bytes"), Some(4096));
        assert_eq!(io_field(io, "wchar"), Some(10));
        assert_eq!(io_field(io, "bytes"), None);
    }

    #[test]
    fn cpu_from_stat_with_awkward_comm() {
        let stat =
            "4242 (k1s) (x) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 0 0 20 0 5 0 100 0 0";
        assert_eq!(cpu_seconds(stat), Some(2.0));
        assert_eq!(cpu_seconds("4242 (k1s) S 1"), None);
        assert_eq!(cpu_seconds("garbage"), None);
    }
}
