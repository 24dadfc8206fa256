//! The bundle on disk: `DATA_DIR/containers/<id>/` with the container's
//! config and the records the shim leaves for k1s (and for k1s after a
//! restart): who the shim is, the started process, and how it exited.
//!
//! A process is identified by pid *and* its start time (field 22 of
//! /proc/<pid>/stat), so a recycled pid is never mistaken for ours.

use super::config::ContainerConfig;
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const CONTAINERS_DIR: &str = "containers";

/// One container's directory and the files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    pub fn new(dir: PathBuf) -> Bundle {
        Bundle { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The container id is the directory's name.
    pub fn id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn shim_path(&self) -> PathBuf {
        self.dir.join("shim.json")
    }
    pub fn started_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn exit_path(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    pub fn attach_socket(&self) -> PathBuf {
        self.dir.join(ATTACH_SOCKET)
    }
    pub fn shim_log(&self) -> PathBuf {
        self.dir.join("shim.log")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    pub fn read_config(&self) -> io::Result<ContainerConfig> {
        read_json(&self.config_path())?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is missing", self.config_path().display()),
            )
        })
    }

    pub fn read_shim(&self) -> io::Result<Option<ProcessRecord>> {
        read_json(&self.shim_path())
    }

    pub fn read_started(&self) -> io::Result<Option<StartedRecord>> {
        read_json(&self.started_path())
    }

    pub fn read_exit(&self) -> io::Result<Option<ExitRecord>> {
        read_json(&self.exit_path())
    }
}

/// The attach socket's name inside the bundle (the shim binds it relative
/// to the bundle so long data-dir paths do not hit the 108-byte limit).
pub const ATTACH_SOCKET: &str = "attach.sock";

/// A process we started, as pid plus kernel start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessRecord {
    /// The record of a live process `pid`, if it exists.
    pub fn of(pid: i32) -> io::Result<ProcessRecord> {
        let stat = read_stat(pid)?.ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
        Ok(ProcessRecord {
            pid,
            start_time: stat.start_time,
        })
    }

    /// Whether this very process still runs (not exited, not recycled).
    pub fn is_running(&self) -> bool {
        matches!(read_stat(self.pid), Ok(Some(s)) if s.start_time == self.start_time && s.state != 'Z' && s.state != 'X')
    }

    /// Whether the process exists at all (a zombie counts).
    pub fn exists(&self) -> bool {
        matches!(read_stat(self.pid), Ok(Some(s)) if s.start_time == self.start_time)
    }
}

/// Written by the shim once the container process exec'd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedRecord {
    pub pid: i32,
    pub start_time: u64,
    #[serde(with = "rfc3339")]
    pub started_at: DateTime<Utc>,
}

impl StartedRecord {
    pub fn process(&self) -> ProcessRecord {
        ProcessRecord {
            pid: self.pid,
            start_time: self.start_time,
        }
    }
}

/// Written by the shim when the container process has exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub signal: Option<i32>,
    #[serde(with = "rfc3339")]
    pub finished_at: DateTime<Utc>,
    pub oom_killed: bool,
}

/// Exit code and signal the way runc and containerd report them: a
/// process killed by signal N exits with 128+N.
pub fn exit_status(exited: Option<i32>, signaled: Option<i32>) -> (i32, Option<i32>) {
    match (exited, signaled) {
        (_, Some(sig)) => (128 + sig, Some(sig)),
        (Some(code), None) => (code, None),
        (None, None) => (255, None),
    }
}

/// Fields of /proc/<pid>/stat we need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub start_time: u64,
}

/// Parses /proc/<pid>/stat. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // Fields from 3 on: state is field 3, starttime field 22.
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(Stat { state, start_time })
}

pub fn read_stat(pid: i32) -> io::Result<Option<Stat>> {
    if pid <= 0 {
        return Ok(None);
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => Ok(parse_stat(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A new 64-hex-digit container id (random, like containerd's).
pub fn new_container_id() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Writes JSON to `path` atomically (temp file + rename), so a reader or a
/// crash never sees half a record.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    serde_json::to_writer(&mut tmp, value).map_err(io::Error::other)?;
    tmp.flush()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Timestamps in the records: RFC 3339 with nanoseconds, UTC.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "4242 (my (weird) cmd) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                state: 'S',
                start_time: 987654
            })
        );
        assert_eq!(parse_stat("1 (x) Z 0"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn reads_our_own_stat() {
        let me = ProcessRecord::of(std::process::id() as i32).unwrap();
        assert!(me.is_running());
        let recycled = ProcessRecord {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!recycled.is_running());
        assert!(!recycled.exists());
    }

    #[test]
    fn exit_status_follows_runc() {
        assert_eq!(exit_status(Some(0), None), (0, None));
        assert_eq!(exit_status(Some(3), None), (3, None));
        assert_eq!(exit_status(None, Some(9)), (137, Some(9)));
        assert_eq!(exit_status(None, Some(15)), (143, Some(15)));
        assert_eq!(exit_status(None, None), (255, None));
    }

    #[test]
    fn ids_are_64_hex_and_distinct() {
        let a = new_container_id().unwrap();
        let b = new_container_id().unwrap();
        assert!(is_container_id(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_container_id("ABC"));
        assert!(!is_container_id(&"g".repeat(64)));
    }

    #[test]
    fn records_round_trip_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        let rec = ExitRecord {
            exit_code: 137,
            signal: Some(9),
            finished_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
                + chrono::Duration::nanoseconds(6),
            oom_killed: true,
        };
        write_json_atomic(&path, &rec).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            r#"{"exit_code":137,"signal":9,"finished_at":"2026-01-02T03:04:05.000000006Z","oom_killed":true}"#
        );
        assert_eq!(read_json::<ExitRecord>(&path).unwrap(), Some(rec));
        assert_eq!(
            read_json::<ExitRecord>(&dir.path().join("missing")).unwrap(),
            None
        );
        // No temp files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn bundle_paths() {
        let b = Bundle::new(PathBuf::from("/d/containers/abc"));
        assert_eq!(b.id(), "abc");
        assert_eq!(
            b.attach_socket(),
            PathBuf::from("/d/containers/abc/attach.sock")
        );
        assert_eq!(b.rootfs(), PathBuf::from("/d/containers/abc/rootfs"));
    }
}
