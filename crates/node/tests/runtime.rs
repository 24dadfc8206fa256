//! The container runtime against the real kernel (needs root): busybox
//! containers in a network namespace made for each test, started through
//! the `k1s-node-shim` binary exactly as k1s re-execs itself.
//!
//! Every test cleans up through [`Fixture`]'s Drop (Runtime::reset, the
//! netns, the temp dir), also when it fails.

use chrono::{DateTime, Utc};
use k1s_node::runtime::attach_proto::{read_frame, write_frame, Frame};
use k1s_node::runtime::cgroup::Cgroups;
use k1s_node::runtime::{ContainerConfig, Limits, Mount, Runtime, Signal, State};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::UnixStream;

mod support;

use support::{shim_exe, Fixture};

fn fixture() -> Fixture {
    Fixture::new("rt")
}

impl Fixture {
    fn bundle(&self, id: &str) -> PathBuf {
        self.dir.path().join("containers").join(id)
    }

    /// Runs a container to its end; returns the exit and its log records
    /// as (stream, tag, text).
    async fn run(
        &self,
        cfg: &ContainerConfig,
    ) -> (k1s_node::runtime::ExitInfo, Vec<(String, String, String)>) {
        let c = self.start(cfg).await;
        let exit = self.wait_exit(&c.id).await;
        (exit, log_records(&cfg.log_path))
    }

    async fn run_stdout(&self, cfg: &ContainerConfig) -> String {
        let (exit, records) = self.run(cfg).await;
        assert_eq!(exit.exit_code, 0, "{records:?}");
        stdout_of(&records)
    }
}

fn log_records(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let mut parts = l.splitn(4, ' ');
            let ts = parts.next().unwrap();
            DateTime::parse_from_rfc3339(ts)
                .unwrap_or_else(|e| panic!("bad timestamp in {l:?}: {e}"));
            assert!(ts.ends_with('Z'), "{l}");
            (
                parts.next().unwrap().to_string(),
                parts.next().unwrap().to_string(),
                parts.next().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn stdout_of(records: &[(String, String, String)]) -> String {
    records
        .iter()
        .filter(|(s, _, _)| s == "stdout")
        .map(|(_, _, t)| format!("{t}\n"))
        .collect()
}

/// Waits (bounded) for a process to be gone and reaped.
fn assert_gone(pid: i32) {
    let path = format!("/proc/{pid}");
    for _ in 0..250 {
        if !Path::new(&path).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("process {pid} is still there");
}

fn mountinfo_mentions(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(path.to_str().unwrap())
}

#[tokio::test]
async fn output_lands_in_the_cri_log() {
    let f = fixture();
    let cfg = f.config(&["sh", "-c", "echo out; echo err >&2; printf 'no newline'"]);
    let (exit, records) = f.run(&cfg).await;
    assert_eq!(exit.exit_code, 0);
    assert_eq!(exit.signal, None);
    assert!(!exit.oom_killed);
    let started = exit.started_at.expect("started_at");
    assert!(started <= exit.finished_at);
    assert!(Utc::now() - exit.finished_at < chrono::Duration::seconds(60));
    assert!(
        records.contains(&("stdout".into(), "F".into(), "out".into())),
        "{records:?}"
    );
    assert!(
        records.contains(&("stderr".into(), "F".into(), "err".into())),
        "{records:?}"
    );
    assert!(
        records.contains(&("stdout".into(), "P".into(), "no newline".into())),
        "{records:?}"
    );
}

#[tokio::test]
async fn exit_codes_follow_runc() {
    let f = fixture();
    let (exit, _) = f.run(&f.config(&["sh", "-c", "exit 3"])).await;
    assert_eq!((exit.exit_code, exit.signal), (3, None));

    let c = f.start(&f.config(&["sleep", "1000"])).await;
    f.runtime.kill(&c.id, Signal::SIGKILL).unwrap();
    let exit = f.wait_exit(&c.id).await;
    assert_eq!((exit.exit_code, exit.signal), (137, Some(9)));
    // The record stays: waiting again answers the same.
    assert_eq!(f.runtime.wait(&c.id).await.unwrap(), exit);
    assert_eq!(f.runtime.state(&c.id).unwrap(), State::Exited(exit));
}

#[tokio::test]
async fn namespaces_hostname_and_pid_1() {
    let f = fixture();
    let out = f
        .run_stdout(&f.config(&[
            "sh",
            "-c",
            "hostname; echo pid=$$; ls /sys/class/net; ls /proc | grep -c '^[0-9]'",
        ]))
        .await;
    // Only the container's own processes (sh, ls, grep) are visible.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], &["web-1", "pid=1", "lo"], "{out}");
    let visible: usize = lines[3].parse().unwrap();
    assert!(visible <= 4, "{out}");
}

#[tokio::test]
async fn root_filesystem_has_dev_proc_sys() {
    let f = fixture();
    let out = f
        .run_stdout(&f.config(&[
            "sh",
            "-c",
            "for d in null zero full random urandom tty ptmx pts shm mqueue fd stdin stdout stderr; do \
               test -e /dev/$d && echo have-$d; done; \
             echo x > /dev/null && echo null-writable; \
             grep ' /sys ' /proc/mounts | grep -q 'ro,' && echo sys-ro; \
             echo 1 > /proc/sys/kernel/panic 2>/dev/null || echo proc-sys-ro; \
             cat /proc/kcore 2>/dev/null | wc -c; \
             touch /new-file && echo rootfs-writable",
        ]))
        .await;
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd",
        "stdin", "stdout", "stderr",
    ] {
        assert!(
            out.contains(&format!("have-{d}\n")),
            "missing /dev/{d}: {out}"
        );
    }
    for want in ["null-writable", "sys-ro", "proc-sys-ro", "rootfs-writable"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // /proc/kcore is masked with /dev/null.
    assert!(out.contains("\n0\n"), "{out}");
}

#[tokio::test]
async fn bind_mounts_are_visible_and_read_only_when_asked() {
    let f = fixture();
    let hosts = f.dir.path().join("etc-hosts");
    std::fs::write(&hosts, "10.244.0.5\tweb-1\n").unwrap();
    let vol = f.dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "cat /etc/hosts; echo hi > /data/new/file && echo wrote; echo x >> /etc/hosts || echo hosts-ro",
    ]);
    cfg.mounts = vec![
        Mount {
            source: hosts.clone(),
            destination: "/etc/hosts".into(),
            read_only: true,
        },
        Mount {
            source: vol.clone(),
            destination: "/data/new".into(),
            read_only: false,
        },
    ];
    let out = f.run_stdout(&cfg).await;
    assert_eq!(out, "10.244.0.5\tweb-1\nwrote\nhosts-ro\n");
    assert_eq!(std::fs::read_to_string(vol.join("file")).unwrap(), "hi\n");
    assert_eq!(
        std::fs::read_to_string(&hosts).unwrap(),
        "10.244.0.5\tweb-1\n"
    );
}

#[tokio::test]
async fn user_and_groups_are_applied() {
    let f = fixture();
    let mut cfg = f.config(&["sh", "-c", "id -u; id -g; grep Groups /proc/self/status"]);
    cfg.uid = 1000;
    cfg.gid = 2000;
    cfg.additional_gids = vec![3000, 3001];
    let out = f.run_stdout(&cfg).await;
    assert_eq!(out, "1000\n2000\nGroups:\t3000 3001 \n");
}

#[tokio::test]
async fn missing_command_is_a_start_error_and_leaves_nothing() {
    let f = fixture();
    let cfg = f.config(&["nope"]);
    let err = f.runtime.start(&cfg).await.unwrap_err();
    assert!(err.is_init_failure());
    assert_eq!(
        err.detail(),
        r#"exec: "nope": executable file not found in $PATH"#
    );
    assert!(err.to_string().contains(
        r#"unable to start container process: error during container init: exec: "nope": executable file not found in $PATH: unknown"#
    ));
    assert!(f.runtime.list().unwrap().is_empty());
    assert_eq!(
        f.dir.path().join("containers").read_dir().unwrap().count(),
        0
    );
    let pod_dirs = Cgroups::detect().container_dirs(&cfg.pod_uid, "x").unwrap();
    for d in pod_dirs {
        assert!(!d.parent().unwrap().exists(), "{} left behind", d.display());
    }

    let mut cfg = f.config(&["sh"]);
    cfg.cwd = "/etc/passwd/x".into();
    let err = f.runtime.start(&cfg).await.unwrap_err();
    assert_eq!(
        err.detail(),
        r#"chdir to cwd ("/etc/passwd/x") set in config.json failed: not a directory"#
    );

    let err = f
        .runtime
        .start(&f.config(&["/etc/passwd"]))
        .await
        .unwrap_err();
    assert_eq!(err.detail(), r#"exec: "/etc/passwd": permission denied"#);
}

#[tokio::test]
async fn stop_honours_a_term_trap() {
    let f = fixture();
    let cfg = f.config(&[
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    let c = f.start(&cfg).await;
    wait_for_log(&cfg.log_path, "ready").await;
    let t = Instant::now();
    let exit = f
        .runtime
        .stop(&c.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!((exit.exit_code, exit.signal), (0, None));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(stdout_of(&log_records(&cfg.log_path)).contains("bye\n"));
}

#[tokio::test]
async fn stop_kills_after_the_grace_period() {
    let f = fixture();
    // pid 1 without a TERM handler never sees SIGTERM.
    let cfg = f.config(&["sh", "-c", "echo ready; while true; do sleep 0.1; done"]);
    let c = f.start(&cfg).await;
    wait_for_log(&cfg.log_path, "ready").await;
    let t = Instant::now();
    let exit = f.runtime.stop(&c.id, Duration::from_secs(1)).await.unwrap();
    assert_eq!((exit.exit_code, exit.signal), (137, Some(9)));
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(15));
}

async fn wait_for_log(path: &Path, needle: &str) {
    for _ in 0..300 {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{needle:?} never appeared in {}", path.display());
}

async fn connect(f: &Fixture, id: &str) -> UnixStream {
    UnixStream::connect(f.bundle(id).join("attach.sock"))
        .await
        .unwrap()
}

/// Reads output frames until `want` has appeared (or the stream ends).
async fn read_until(stream: &mut UnixStream, want: &str) -> String {
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !out.contains(want) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(20), read_frame(stream)).await {
            Ok(Ok(Some(Frame::Stdout(b) | Frame::Stderr(b)))) => {
                out.push_str(&String::from_utf8_lossy(&b))
            }
            Ok(Ok(Some(other))) => panic!("unexpected frame {other:?}"),
            _ => break,
        }
    }
    out
}

#[tokio::test]
async fn attach_writes_stdin_and_reads_stdout() {
    let f = fixture();
    let mut cfg = f.config(&["cat"]);
    cfg.stdin = true;
    cfg.stdin_once = true;
    let c = f.start(&cfg).await;
    let mut a = connect(&f, &c.id).await;
    let mut watcher = connect(&f, &c.id).await;
    // Give the shim a moment to register both clients.
    tokio::time::sleep(Duration::from_millis(250)).await;
    write_frame(&mut a, &Frame::Stdin(b"hello\n".to_vec()))
        .await
        .unwrap();
    assert_eq!(read_until(&mut a, "hello\n").await, "hello\n");
    assert_eq!(read_until(&mut watcher, "hello\n").await, "hello\n");
    // stdinOnce: the first stdin client's EOF closes cat's stdin.
    write_frame(&mut a, &Frame::StdinEof).await.unwrap();
    let exit = f.wait_exit(&c.id).await;
    assert_eq!(exit.exit_code, 0);
    assert_eq!(read_frame(&mut a).await.unwrap(), None);
    assert_eq!(
        log_records(&cfg.log_path),
        vec![("stdout".to_string(), "F".to_string(), "hello".to_string())]
    );
}

#[tokio::test]
async fn tty_mode_with_resize() {
    let f = fixture();
    let mut cfg = f.config(&["sh"]);
    cfg.tty = true;
    cfg.stdin = true;
    let c = f.start(&cfg).await;
    let mut a = connect(&f, &c.id).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    write_frame(
        &mut a,
        &Frame::Resize {
            cols: 100,
            rows: 30,
        },
    )
    .await
    .unwrap();
    write_frame(
        &mut a,
        &Frame::Stdin(b"tty; stty size; echo err-line >&2; exit 7\n".to_vec()),
    )
    .await
    .unwrap();
    let out = read_until(&mut a, "err-line\r\n").await;
    assert!(out.contains("30 100\r\n"), "{out:?}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    let exit = f.wait_exit(&c.id).await;
    assert_eq!(exit.exit_code, 7);
    // With a tty everything is logged as stdout, without the \r.
    let records = log_records(&cfg.log_path);
    assert!(records.iter().all(|(s, _, _)| s == "stdout"), "{records:?}");
    assert!(
        records.iter().any(|(_, t, l)| t == "F" && l == "err-line"),
        "{records:?}"
    );
}

#[tokio::test]
async fn running_containers_are_adopted_by_a_new_runtime() {
    let f = fixture();
    let cfg = f.config(&["sleep", "1000"]);
    let c = f.start(&cfg).await;
    // A "restarted k1s": a fresh runtime on the same data dir.
    let again = Runtime::new(f.dir.path(), shim_exe()).unwrap();
    let listed = again.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, c.id);
    assert_eq!(listed[0].config, cfg);
    assert_eq!(
        listed[0].state,
        State::Running {
            pid: c.pid,
            started_at: c.started_at
        }
    );
    let exit = again.stop(&c.id, Duration::ZERO).await.unwrap();
    assert_eq!(exit.exit_code, 137);
    assert!(matches!(again.list().unwrap()[0].state, State::Exited(_)));
}

#[tokio::test]
async fn remove_leaves_no_mounts_cgroups_or_files() {
    let f = fixture();
    let mut cfg = f.config(&["sleep", "1000"]);
    cfg.limits = Limits {
        memory_bytes: Some(64 << 20),
        cpu_millis: Some(500),
        pids: Some(50),
    };
    let c = f.start(&cfg).await;
    let cgroups = Cgroups::detect();
    let dirs = cgroups.container_dirs(&cfg.pod_uid, &c.id).unwrap();
    assert!(!dirs.is_empty());
    for d in &dirs {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == c.pid.to_string()),
            "{} holds {procs:?}",
            d.display()
        );
    }
    let read = |file: &str| {
        dirs.iter()
            .map(|d| d.join(file))
            .find(|p| p.exists())
            .map(|p| std::fs::read_to_string(p).unwrap().trim().to_string())
    };
    if let Some(limit) = read("memory.limit_in_bytes").or_else(|| read("memory.max")) {
        assert_eq!(limit, (64u64 << 20).to_string());
    }
    if let Some(quota) = read("cpu.cfs_quota_us") {
        assert_eq!(quota, "50000");
    }
    if let Some(pids) = read("pids.max") {
        assert_eq!(pids, "50");
    }
    let bundle = f.bundle(&c.id);
    assert!(
        !mountinfo_mentions(&bundle),
        "the rootfs mount leaked into the host"
    );

    f.runtime.remove(&c.id).await.unwrap();
    assert!(!bundle.exists());
    assert!(!mountinfo_mentions(&bundle));
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
        assert!(!d.parent().unwrap().exists(), "pod cgroup left behind");
    }
    assert_gone(c.pid);
    // Idempotent.
    f.runtime.remove(&c.id).await.unwrap();
    assert!(f.runtime.list().unwrap().is_empty());
}

#[tokio::test]
async fn oom_kills_are_reported() {
    let f = fixture();
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    cfg.limits.memory_bytes = Some(32 << 20);
    if !Cgroups::detect()
        .controllers()
        .contains(&k1s_node::runtime::cgroup::Controller::Memory)
    {
        eprintln!("no memory controller on this host");
        return;
    }
    let (exit, records) = f.run(&cfg).await;
    assert_eq!(exit.exit_code, 137, "{records:?}");
    assert!(exit.oom_killed, "{exit:?}");
}

#[tokio::test]
async fn reset_kills_everything_of_its_data_dir() {
    let f = fixture();
    let a = f.start(&f.config(&["sleep", "1000"])).await;
    let b = f.start(&f.config(&["sleep", "1000"])).await;
    assert_eq!(Runtime::reset(f.dir.path()).unwrap(), 2);
    for c in [&a, &b] {
        assert_gone(c.pid);
        assert!(!f.bundle(&c.id).exists());
    }
    assert!(!f.dir.path().join("containers").exists());
}

#[tokio::test]
async fn the_log_is_reopened_after_rotation() {
    let f = fixture();
    let mut cfg = f.config(&["sh", "-c", "echo one; read x; echo two"]);
    cfg.stdin = true;
    let c = f.start(&cfg).await;
    wait_for_log(&cfg.log_path, "one").await;
    // What the kubelet's log manager does: rename, then ask to reopen.
    let rotated = cfg.log_path.with_extension("log.20261123-100000");
    std::fs::rename(&cfg.log_path, &rotated).unwrap();
    f.runtime.reopen_log(&c.id).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut a = connect(&f, &c.id).await;
    write_frame(&mut a, &Frame::Stdin(b"\n".to_vec()))
        .await
        .unwrap();
    let exit = f.wait_exit(&c.id).await;
    assert_eq!(exit.exit_code, 0);
    assert_eq!(stdout_of(&log_records(&rotated)), "one\n");
    assert_eq!(stdout_of(&log_records(&cfg.log_path)), "two\n");
}
