//! exec, attach, port-forward and log reading against real busybox
//! containers (needs root), started through the `k1s-node-shim` binary as
//! k1s re-execs itself.
//!
//! Each test owns a temp data dir and a network namespace it made (only
//! `lo`, brought up); [`Fixture`]'s Drop resets the runtime and deletes
//! both, also when the test fails.

use futures::StreamExt;
use k1s_node::logs::reader::{read_log, LogReadOptions};
use k1s_node::runtime::attach_client::{AttachSpec, AttachStream};
use k1s_node::runtime::exec::{ExecProcess, ExecSpec, ExecStartError};
use k1s_node::runtime::portconnect::port_connect;
use k1s_node::runtime::Container;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

mod support;

use support::Fixture;

fn fixture() -> Fixture {
    Fixture::new("ex")
}

impl Fixture {
    async fn sleeper(&self) -> Container {
        self.start(&self.config(&["sleep", "1000"])).await
    }

    /// exec_capture with a generous timeout; output as text.
    async fn run(&self, id: &str, argv: &[&str]) -> (i32, String) {
        let (code, out) = self
            .runtime
            .exec_capture(
                id,
                argv.iter().map(|s| s.to_string()).collect(),
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    /// A streaming exec of `argv`.
    async fn exec(&self, id: &str, argv: &[&str], tty: bool, stdin: bool) -> ExecProcess {
        let spec = ExecSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            tty,
            stdin,
        };
        self.runtime.exec(id, spec).await.unwrap()
    }

    /// Attaches with stdin to a container started with `stdin`.
    async fn attach(&self, id: &str, tty: bool) -> AttachStream {
        let spec = AttachSpec { stdin: true, tty };
        self.runtime.attach(id, spec).await.unwrap()
    }
}

async fn read_to_string(r: &mut (dyn AsyncRead + Send + Unpin)) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut out))
        .await
        .expect("stream did not end")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A field of /proc/<pid>/status, read from the host.
fn status_field(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap()
}

#[tokio::test]
async fn exec_returns_the_exit_code_and_output() {
    let f = fixture();
    let c = f.sleeper().await;
    let (code, out) = f
        .run(
            &c.id,
            &["sh", "-c", "echo oops >&2; echo $HOSTNAME; id -u; exit 3"],
        )
        .await;
    assert_eq!(code, 3);
    // Like CRI ExecSync for the prober: stdout, then stderr.
    assert_eq!(out, "web-1\n0\noops\n");
    // The prober's 10 KiB cap; the command still runs to its end.
    let (code, out) = f
        .run(&c.id, &["sh", "-c", "yes | head -c 50000; echo done >&2"])
        .await;
    assert_eq!((code, out.len()), (0, 10 * 1024));
    // Killed by a signal: 128+N, as runc reports it.
    let (code, _) = f.run(&c.id, &["sh", "-c", "kill -9 $$"]).await;
    assert_eq!(code, 137);
}

#[tokio::test]
async fn exec_sees_the_containers_filesystem_pid_namespace_env_and_cwd() {
    let f = fixture();
    let mut cfg = f.config(&[
        "sh",
        "-c",
        "echo from-the-container > /tmp/marker; exec sleep 1000",
    ]);
    cfg.cwd = "/tmp".into();
    cfg.env.push("GREETING=hello from the pod".into());
    let c = f.start(&cfg).await;
    let mut marker = String::new();
    for _ in 0..100 {
        marker = f.run(&c.id, &["cat", "/tmp/marker"]).await.1;
        if !marker.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(marker, "from-the-container\n");
    // pid 1 is the container's command; the host's files are out of sight.
    let (code, out) = f
        .run(
            &c.id,
            &[
                "sh",
                "-c",
                "tr '\\0' ' ' < /proc/1/cmdline; echo; test -e /etc/debian_version && echo host-fs; \
                 pwd; echo \"$GREETING\"; echo $HOME; hostname",
            ],
        )
        .await;
    assert_eq!(code, 0);
    assert_eq!(out, "sleep 1000 \n/tmp\nhello from the pod\n/root\nweb-1\n");
    // Processes of the pid namespace: the container's and the exec'd ps.
    let (_, ps) = f.run(&c.id, &["ps", "-o", "pid,args"]).await;
    let pids: Vec<&str> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(pids.first(), Some(&"1"), "{ps}");
    assert!(ps.lines().all(|l| !l.contains("__exec")), "{ps}");
}

#[tokio::test]
async fn exec_gets_the_containers_user_cgroups_and_capabilities() {
    let f = fixture();
    let mut cfg = f.config(&["sleep", "1000"]);
    cfg.uid = 1000;
    cfg.gid = 1000;
    cfg.additional_gids = vec![5, 7];
    let c = f.start(&cfg).await;
    let (code, out) = f
        .run(&c.id, &["sh", "-c", "id -u; id -g; id -G; echo $HOME"])
        .await;
    assert_eq!(code, 0);
    // uid 1000 has no passwd entry: HOME falls back to / like runc.
    assert_eq!(out, "1000\n1000\n1000 5 7\n/\n");

    let (_, cgroups) = f.run(&c.id, &["cat", "/proc/self/cgroup"]).await;
    let host_view = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid)).unwrap();
    assert_eq!(cgroups, host_view);

    let (_, caps) = f
        .run(
            &c.id,
            &["sh", "-c", "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status"],
        )
        .await;
    // The container's reduced bounding set, not the node's full one.
    let want = format!("CapBnd:\t{}", status_field(c.pid, "CapBnd"));
    assert!(caps.contains(&want), "{caps} lacks {want}");
    assert_ne!(
        status_field(c.pid, "CapBnd"),
        status_field(std::process::id() as i32, "CapBnd")
    );
}

#[tokio::test]
async fn exec_of_a_missing_binary_fails_like_runc() {
    let f = fixture();
    let c = f.sleeper().await;
    let spec = |argv: &[&str]| ExecSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        tty: false,
        stdin: false,
    };
    let err = f.runtime.exec(&c.id, spec(&["nope"])).await.err().unwrap();
    let start = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ExecStartError>())
        .expect("an ExecStartError");
    assert_eq!(
        start.runtime_message,
        "exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
    );
    assert_eq!(start.exec_id.len(), 64);
    assert_eq!(
        err.to_string(),
        format!(
            "failed to start exec \"{}\": OCI runtime exec failed: exec failed: unable to start \
             container process: exec: \"nope\": executable file not found in $PATH: unknown",
            start.exec_id
        )
    );
    let err = f
        .runtime
        .exec(&c.id, spec(&["/bin/nope"]))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(
            "unable to start container process: exec: \"/bin/nope\": stat /bin/nope: no such file or directory"
        ),
        "{err}"
    );
    // A failed exec leaves the container as it was.
    assert_eq!(f.run(&c.id, &["true"]).await.0, 0);
}

#[tokio::test]
async fn exec_pipes_stdin_through() {
    let f = fixture();
    let c = f.sleeper().await;
    let mut p = f.exec(&c.id, &["tr", "a-z", "A-Z"], false, true).await;
    let mut stdin = p.stdin.take().unwrap();
    stdin.write_all(b"shout\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    drop(stdin);
    let mut stdout = p.take_stdout();
    assert_eq!(read_to_string(&mut *stdout).await, "SHOUT\n");
    assert_eq!(p.wait().await.unwrap(), 0);
}

#[tokio::test]
async fn exec_with_a_tty() {
    let f = fixture();
    let c = f.sleeper().await;
    let mut p = f.exec(&c.id, &["sh"], true, true).await;
    assert!(p.stderr.is_none());
    p.resize.as_ref().unwrap().resize(100, 30).unwrap();
    let mut stdin = p.stdin.take().unwrap();
    stdin
        .write_all(b"tty; stty size; echo $TERM; echo err-line >&2; exit 5\n")
        .await
        .unwrap();
    let mut stdout = p.take_stdout();
    let out = read_to_string(&mut *stdout).await;
    // The terminal comes from the container's own devpts, as with runc.
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(out.contains("30 100\r\n"), "{out:?}");
    assert!(out.contains("xterm\r\n"), "{out:?}");
    assert!(out.contains("err-line\r\n"), "{out:?}");
    assert_eq!(p.wait().await.unwrap(), 5);
}

#[tokio::test]
async fn exec_capture_times_out_and_kills_the_command() {
    let f = fixture();
    let c = f.sleeper().await;
    let err = f
        .runtime
        .exec_capture(
            &c.id,
            vec!["sleep".into(), "77".into()],
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(err.to_string(), "command \"sleep 77\" timed out");
    let mut left = String::new();
    for _ in 0..50 {
        left = f.run(&c.id, &["ps", "-o", "args"]).await.1;
        if !left.contains("sleep 77") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!left.contains("sleep 77"), "{left}");
}

#[tokio::test]
async fn exec_into_an_exited_container_is_refused() {
    let f = fixture();
    let c = f.start(&f.config(&["true"])).await;
    f.wait_exit(&c.id).await;
    let err = f
        .runtime
        .exec(
            &c.id,
            ExecSpec {
                argv: vec!["true".into()],
                tty: false,
                stdin: false,
            },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "container is in CONTAINER_EXITED state");
}

#[tokio::test]
async fn attach_to_cat_echoes_stdin() {
    let f = fixture();
    let mut cfg = f.config(&["cat"]);
    cfg.stdin = true;
    cfg.stdin_once = true;
    let c = f.start(&cfg).await;
    let mut a = f.attach(&c.id, false).await;
    assert!(a.resize.is_none());
    let mut stdin = a.stdin.take().unwrap();
    stdin.write_all(b"hello attach\n").await.unwrap();
    let mut got = vec![0u8; 13];
    tokio::time::timeout(Duration::from_secs(20), a.stdout.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"hello attach\n");
    // stdinOnce: closing our stdin closes cat's, and cat exits.
    stdin.shutdown().await.unwrap();
    drop(stdin);
    let exit = f.wait_exit(&c.id).await;
    assert_eq!(exit.exit_code, 0);
    assert_eq!(read_to_string(&mut *a.stdout).await, "");
}

#[tokio::test]
async fn attach_with_a_tty_resizes() {
    let f = fixture();
    let mut cfg = f.config(&["sh"]);
    cfg.tty = true;
    cfg.stdin = true;
    let c = f.start(&cfg).await;
    let mut a = f.attach(&c.id, true).await;
    assert!(a.stderr.is_none());
    a.resize.as_ref().unwrap().resize(90, 20).unwrap();
    // Let the resize reach the shim before the shell reads the size.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut stdin = a.stdin.take().unwrap();
    stdin.write_all(b"stty size; exit 4\n").await.unwrap();
    let out = read_to_string(&mut *a.stdout).await;
    assert!(out.contains("20 90\r\n"), "{out:?}");
    let exit = f.wait_exit(&c.id).await;
    assert_eq!(exit.exit_code, 4);
}

#[tokio::test]
async fn port_connect_reaches_a_server_on_the_pods_loopback() {
    let f = fixture();
    let cfg = f.config(&[
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-httpd > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www",
    ]);
    let c = f.start(&cfg).await;
    let mut stream = None;
    for _ in 0..100 {
        match port_connect(&f.netns.path(), 8080).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut stream = stream.expect("httpd never listened");
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        stream.read_to_string(&mut response),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("hello-from-httpd\n"), "{response}");

    // Nothing listens on 8081: containerd's words, both families tried.
    let err = port_connect(&f.netns.path(), 8081).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "failed to execute portforward in network namespace {:?}: failed to connect to localhost:8081 inside namespace {:?}, IPv4: dial tcp4 127.0.0.1:8081: connect: connection refused IPv6 dial tcp6 [::1]:8081: ",
            f.netns.path().display().to_string(),
            f.netns.name
        )),
        "{text}"
    );
    f.runtime.stop(&c.id, Duration::ZERO).await.unwrap();
}

#[tokio::test]
async fn logs_follow_a_running_container_until_it_exits() {
    let f = fixture();
    let cfg = f.config(&[
        "sh",
        "-c",
        "echo one; sleep 1; echo two >&2; sleep 1; echo three",
    ]);
    let c = f.start(&cfg).await;
    // The shim opens the log as it starts copying output.
    for _ in 0..200 {
        if cfg.log_path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rt = f.runtime.clone();
    let id = c.id.clone();
    let exited = async move {
        let _ = rt.wait(&id).await;
    };
    let opts = LogReadOptions {
        timestamps: false,
        ..Default::default()
    };
    let mut stream = Box::pin(read_log(&cfg.log_path, opts, Some(exited)));
    let mut out = Vec::new();
    let collect = async {
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("follow did not end with the container");
    assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\nthree\n");

    // After the fact: tail and timestamps on the same file.
    let opts = LogReadOptions {
        tail_lines: Some(1),
        timestamps: true,
        ..Default::default()
    };
    let mut stream = Box::pin(read_log(
        &cfg.log_path,
        opts,
        None::<std::future::Ready<()>>,
    ));
    let last = stream.next().await.unwrap().unwrap();
    let last = String::from_utf8(last.to_vec()).unwrap();
    let (ts, text) = last.split_once(' ').unwrap();
    assert_eq!(text, "three\n");
    assert_eq!(ts.len(), "2026-11-23T10:00:00.000000000Z".len(), "{ts}");
    assert!(stream.next().await.is_none());
}
