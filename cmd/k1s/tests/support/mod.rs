//! End-to-end harness: runs `k1s server` inside a network namespace the
//! test creates (only `lo` in it) and drives it with the real kubectl
//! through `ip netns exec`, so no packet leaves the namespace. Everything it
//! creates — namespace, data directory, process — goes away on drop, also
//! when the test fails.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The node address inside the test namespace (the Vagrant lab's address plan).
pub const NODE_IP: &str = "192.168.56.10";

/// The cluster DNS Service (kube-dns): what pods have in resolv.conf.
pub const CLUSTER_DNS_IP: &str = "10.96.0.10";

/// How long k1s may take to answer /readyz before a test fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Cluster {
    pub netns: String,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// kubectl's HOME, so its discovery cache is per test.
    home: PathBuf,
    /// `--upstream-dns`: where cluster DNS forwards names outside the cluster.
    upstream_dns: String,
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn must(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip ARGS`, which must succeed (the namespaces and veths tests build).
pub fn ip(args: &[&str]) {
    must(Command::new("ip").args(args));
}

/// What a finished command printed on stdout.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The offline test images (busybox, nginx, curl): built once per test
/// binary into the target's tmp dir and kept there, so the many test
/// processes nextest starts share them and nothing piles up in /tmp.
fn test_image_layouts() -> &'static [PathBuf] {
    static IMAGES: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    IMAGES.get_or_init(|| {
        // Keyed by this binary, which links the image builder: a rebuilt
        // builder gets fresh images.
        let exe = std::env::current_exe().expect("test binary");
        let meta = std::fs::metadata(&exe).expect("test binary metadata");
        let stamp = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let name = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cache = root.join(format!("testimages-{name}-{stamp}-{}", meta.len()));
        if !cache.join("done").exists() {
            // Built aside and renamed into place: concurrent tests never see half an image.
            let tmp = tempfile::Builder::new()
                .prefix("testimages-building-")
                .tempdir_in(&root)
                .expect("tempdir for test images");
            k1s_node::testimages::build_test_images(tmp.path()).expect("building test images");
            std::fs::write(tmp.path().join("done"), b"").expect("marking test images done");
            let built = tmp.keep();
            if std::fs::rename(&built, &cache).is_err() {
                // Another test process finished first.
                let _ = std::fs::remove_dir_all(&built);
            }
        }
        ["busybox", "nginx", "curl"]
            .iter()
            .map(|image| cache.join(image))
            .collect()
    })
}

impl Cluster {
    /// A fresh namespace with a fresh k1s.
    pub fn start() -> Cluster {
        Cluster::start_with(false)
    }

    /// A fresh k1s whose node already has the test images (busybox,
    /// nginx, curl: see `k1s_node::testimages`), imported with
    /// `k1s image import` like a user would.
    pub fn start_with_images() -> Cluster {
        Cluster::start_with(true)
    }

    /// Like `start_with_images`, but cluster DNS forwards names outside
    /// the cluster to `upstream`: a DNS server the test runs inside a
    /// namespace of its own (never the host's resolver).
    pub fn start_with_images_and_upstream(upstream: &str) -> Cluster {
        Cluster::start_with_upstream(true, upstream)
    }

    fn start_with(images: bool) -> Cluster {
        // Loopback inside the namespace: nothing answers there.
        Cluster::start_with_upstream(images, "127.0.0.1")
    }

    fn start_with_upstream(images: bool, upstream: &str) -> Cluster {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let netns = format!("k1s-e2e-{}-{n}", std::process::id());
        ip(&["netns", "add", &netns]);
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        // The node's own address lives on a veth whose both ends stay in the
        // namespace: traffic to it is local delivery, it never leaves.
        ip(&[
            "-n",
            &netns,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0-peer",
        ]);
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{NODE_IP}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &netns, "link", "set", "eth0", "up"]);
        ip(&["-n", &netns, "link", "set", "eth0-peer", "up"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("kubectl home");
        let mut c = Cluster {
            netns,
            dir,
            child: None,
            home,
            upstream_dns: upstream.to_string(),
        };
        if images {
            for layout in test_image_layouts() {
                c.import_image(layout);
            }
        }
        c.launch();
        c
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `k1s image import LAYOUT` into this node's data directory, as a
    /// user would; it must succeed.
    pub fn import_image(&self, layout: &Path) {
        must(
            Command::new(env!("CARGO_BIN_EXE_k1s"))
                .args(["image", "import"])
                .arg(layout)
                .arg("--data-dir")
                .arg(self.data_dir()),
        );
    }

    /// The pods' veths in the cluster's namespace (every veth but the
    /// test's own `eth0` pair), each by its alias — the pod uid k1s sets —
    /// or by its name when it has none.
    pub fn pod_veths(&self) -> BTreeSet<String> {
        let links =
            run(Command::new("ip").args(["-n", &self.netns, "-o", "link", "show", "type", "veth"]));
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter_map(|line| {
                // `5: vethab12@if2: <...> ... alias <pod uid>`
                let name = line.split(": ").nth(1)?.split('@').next()?;
                if name.starts_with("eth0") {
                    return None;
                }
                let alias = line.split("alias ").nth(1).map(str::trim);
                Some(alias.unwrap_or(name).to_string())
            })
            .collect()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("kubeconfig.yaml")
    }

    /// Starts the k1s process and waits until it is ready.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("k1s.log"))
            .expect("log file");
        let child = self
            .in_netns(env!("CARGO_BIN_EXE_k1s"))
            .arg("server")
            .args(["--data-dir", self.data_dir().to_str().unwrap_or_default()])
            .args(["--node-ip", NODE_IP, "--node-name", "node1"])
            // Names outside the cluster stay inside the test's namespaces,
            // never reaching the host's resolver.
            .args(["--upstream-dns", &self.upstream_dns])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting k1s");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.kubeconfig().exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("k1s did not become ready; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("k1s.log")).unwrap_or_default()
    }

    /// Sends `signal` to k1s and waits for it to exit.
    pub fn stop(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            // nsenter execs k1s, so the child PID is k1s itself.
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, "kubectl"])
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG");
        cmd
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        run(&mut self.kubectl_cmd(args))
    }

    /// Runs kubectl with `stdin` as input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .kubectl_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("writing stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}\nk1s log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl that must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed, printed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `kubectl get OBJECT -o jsonpath=TEMPLATE`, which must succeed.
    pub fn jsonpath(&self, object: &[&str], template: &str) -> String {
        let output = format!("jsonpath={template}");
        let mut args = vec!["get"];
        args.extend_from_slice(object);
        args.extend(["-o", output.as_str()]);
        self.ok(&args)
    }

    /// `kubectl get OBJECT -o json`, which must succeed, parsed (Null when
    /// it is not JSON, so the test's own assertion says what was wrong).
    pub fn json(&self, object: &[&str]) -> serde_json::Value {
        let mut args = vec!["get"];
        args.extend_from_slice(object);
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&args)).unwrap_or(serde_json::Value::Null)
    }

    pub fn pod_ip(&self, pod: &str) -> String {
        self.jsonpath(&["pod", pod], "{.status.podIP}")
    }

    pub fn cluster_ip(&self, svc: &str) -> String {
        self.jsonpath(&["svc", svc], "{.spec.clusterIP}")
    }

    /// Pod name → pod IP for the pods matching `selector`.
    pub fn pod_ips(&self, selector: &str) -> BTreeMap<String, String> {
        self.jsonpath(
            &["pods", "-l", selector],
            r#"{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}"#,
        )
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, ip)| (name.to_string(), ip.to_string()))
        .collect()
    }

    /// The ready addresses in the Endpoints of `svc`.
    pub fn endpoint_ips(&self, svc: &str) -> BTreeSet<String> {
        self.jsonpath(&["endpoints", svc], "{.subsets[*].addresses[*].ip}")
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    /// Waits until the Endpoints of `svc` list exactly `ips`.
    pub fn wait_endpoints(&self, svc: &str, ips: &BTreeSet<String>, timeout: Duration) {
        assert!(
            eventually(timeout, || &self.endpoint_ips(svc) == ips),
            "endpoints {svc} should become {ips:?}, are {:?}",
            self.endpoint_ips(svc)
        );
    }

    /// `kubectl wait` until `pod` is Ready (image, sandbox, container and
    /// probes take a while on a busy machine).
    pub fn wait_pod_ready(&self, pod: &str) {
        self.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=60s",
        ]);
    }

    /// A pod named `client` from `image` that only sleeps, to `kubectl
    /// exec` commands in; Ready when this returns.
    pub fn start_client_pod(&self, image: &str) {
        self.ok(&[
            "run",
            "client",
            &format!("--image={image}"),
            "--restart=Never",
            "--",
            "sleep",
            "3600",
        ]);
        self.wait_pod_ready("client");
    }

    /// `script` typed into `kubectl run tmp --rm -i --restart=Never
    /// --image=IMAGE -- sh` (the tutorials' `-it`, without a terminal).
    pub fn run_rm_shell(&self, image: &str, script: &str) -> Output {
        self.kubectl_stdin(
            &[
                "run",
                "tmp",
                "--rm",
                "-i",
                "--restart=Never",
                &format!("--image={image}"),
                "--",
                "sh",
            ],
            script,
        )
    }

    /// `kubectl edit OBJECT` with `editor` as KUBE_EDITOR (a scripted
    /// edit), which must succeed; its stdout.
    pub fn edit(&self, object: &[&str], editor: &str) -> String {
        let mut args = vec!["edit"];
        args.extend_from_slice(object);
        let out = run(self.kubectl_cmd(&args).env("KUBE_EDITOR", editor));
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_of(&out)
    }

    /// Writes `text` to a file in the test directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("writing test file");
        p.to_string_lossy().into_owned()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Cluster {
    /// `k1s reset` for this cluster's data directory, inside its namespace.
    pub fn reset(&self) -> Output {
        run(self
            .in_netns(env!("CARGO_BIN_EXE_k1s"))
            .arg("reset")
            .arg("--data-dir")
            .arg(self.data_dir()))
    }

    /// `k1s reset`, which must succeed; what it printed.
    pub fn reset_ok(&self) -> String {
        let out = self.reset();
        assert!(
            out.status.success(),
            "k1s reset: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_of(&out)
    }

    /// `curl -s --max-time SECS URL` on the node (the cluster's namespace).
    pub fn curl(&self, url: &str, max_secs: u32) -> Output {
        run(self
            .in_netns("curl")
            .args(["-s", "--max-time", &max_secs.to_string(), url]))
    }

    /// `nft ARGS` on the node.
    pub fn nft(&self, args: &[&str]) -> Output {
        run(self.in_netns("nft").args(args))
    }

    /// The service proxy's nftables table (empty when there is none).
    pub fn proxy_table(&self) -> String {
        stdout_of(&self.nft(&["list", "table", "ip", "k1s"]))
    }

    /// `dig` on the node, asking the cluster DNS Service.
    pub fn dig(&self, args: &[&str]) -> String {
        dig(&self.netns, CLUSTER_DNS_IP, args)
    }

    /// The pod network namespaces k1s has pinned under its data directory.
    pub fn pod_netns_pins(&self) -> BTreeSet<String> {
        dir_names(&self.data_dir().join("netns"))
    }

    /// The mounts (mountinfo lines) under the data directory: what pods
    /// leave behind if their teardown misses one.
    pub fn data_dir_mounts(&self) -> Vec<String> {
        let data = self.data_dir().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&data))
            .map(String::from)
            .collect()
    }

    /// `program` in the cluster's network namespace but the host's mount
    /// namespace (nsenter execs it, so its PID is the program's). Unlike
    /// `ip netns exec`, which gives each command a private mount namespace,
    /// this keeps the pod namespaces k1s pins under its data directory
    /// visible to the next k1s, to `k1s reset` and to the test, as on a
    /// real node.
    pub fn in_netns(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.netns))
            .arg("--")
            .arg(program);
        cmd
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop("KILL");
        // Containers, mounts, pod namespaces and cgroups outlive a killed
        // k1s by design; reset removes them.
        let _ = self.reset();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// Replaces runs of spaces so column layout changes from AGE widths do not matter.
pub fn squeeze(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until `f` returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The walkthrough's manifests (the repository's manifests/), as the
/// tutorials apply them.
pub fn manifests_dir() -> String {
    format!("{}/../../manifests", env!("CARGO_MANIFEST_DIR"))
}

/// manifests/`name`.
pub fn manifest(name: &str) -> String {
    format!("{}/{name}", manifests_dir())
}

/// `dig +time=2 +tries=1 @SERVER ARGS` inside the namespace `netns`; what
/// it printed.
pub fn dig(netns: &str, server: &str, args: &[&str]) -> String {
    let out = run(Command::new("ip")
        .args(["netns", "exec", netns, "dig", "+time=2", "+tries=1"])
        .arg(format!("@{server}"))
        .args(args));
    stdout_of(&out)
}

/// The names in `dir` (none when it does not exist).
pub fn dir_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The cgroups of these pods (by uid) that still exist, under the v1
/// controllers or in the v2 tree: k1s must remove them with the pods.
pub fn pod_cgroups(uids: &[String]) -> Vec<PathBuf> {
    uids.iter()
        .flat_map(|uid| {
            ["", "memory", "cpu", "pids"]
                .iter()
                .map(move |ctrl| Path::new("/sys/fs/cgroup").join(ctrl).join("k1s").join(uid))
        })
        .filter(|p| p.exists())
        .collect()
}

/// `kubectl proxy` in the cluster's namespace (on its 127.0.0.1), serving
/// when `start` returns; killed by PID on drop.
pub struct KubectlProxy(Child);

impl KubectlProxy {
    pub fn start(c: &Cluster, port: u16) -> KubectlProxy {
        let mut child = c
            .kubectl_cmd(&["proxy", &format!("--port={port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl proxy");
        let stdout = child.stdout.take().expect("proxy stdout");
        let proxy = KubectlProxy(child);
        // `ip netns exec` execs kubectl, so the child is kubectl itself;
        // its first line says it listens (or EOF says it died).
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading kubectl proxy");
        assert_eq!(
            line.trim(),
            format!("Starting to serve on 127.0.0.1:{port}")
        );
        proxy
    }
}

impl Drop for KubectlProxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kubectl port-forward TARGET PORTS` in the cluster's namespace, killed
/// by PID on drop.
pub struct PortForward {
    child: Child,
    /// What it printed first (`Forwarding from 127.0.0.1:LOCAL -> REMOTE`
    /// once it listens; empty when it died first).
    pub first_line: String,
    /// Held open: kubectl logs each connection there and a closed pipe
    /// would kill it with SIGPIPE.
    _stdout: BufReader<ChildStdout>,
}

impl PortForward {
    pub fn start(c: &Cluster, target: &str, ports: &str) -> PortForward {
        let mut child = c
            .kubectl_cmd(&["port-forward", target, ports])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl port-forward");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first_line = String::new();
        let _ = stdout.read_line(&mut first_line);
        PortForward {
            child,
            first_line,
            _stdout: stdout,
        }
    }

    /// Stops kubectl; what it printed on stderr (why a connection failed).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut stderr = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .map(|mut e| e.read_to_string(&mut stderr));
        let _ = self.child.wait();
        stderr
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A second namespace playing the user's laptop, joined to the node by the
/// harness's veth: its peer end moves here as 192.168.56.1, so traffic from
/// it reaches NODE_IP from outside the node. Deleted on drop (which also
/// removes the veth pair).
pub struct Laptop {
    pub netns: String,
}

/// The laptop's address on the node's network.
pub const LAPTOP_IP: &str = "192.168.56.1";

impl Laptop {
    pub fn join(c: &Cluster) -> Laptop {
        let netns = format!("{}-laptop", c.netns);
        ip(&["netns", "add", &netns]);
        let laptop = Laptop { netns };
        let ns = laptop.netns.as_str();
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", &c.netns, "link", "set", "eth0-peer", "netns", ns]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{LAPTOP_IP}/24"),
            "dev",
            "eth0-peer",
        ]);
        ip(&["-n", ns, "link", "set", "eth0-peer", "up"]);
        laptop
    }

    /// `program` inside the laptop's namespace.
    pub fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program]);
        cmd
    }

    /// `curl -s --max-time SECS URL` from the laptop.
    pub fn curl(&self, url: &str, max_secs: u32) -> Output {
        run(self
            .cmd("curl")
            .args(["-s", "--max-time", &max_secs.to_string(), url]))
    }

    /// `n` requests to `url` from the laptop, one answer each: the body
    /// (the nginx test image answers with its pod name), or `FAILED
    /// exit=N` when curl failed.
    pub fn curl_answers(&self, url: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let out = self.curl(url, 3);
                match out.status.code() {
                    Some(0) => stdout_of(&out).trim().to_string(),
                    code => format!("FAILED exit={}", code.unwrap_or(-1)),
                }
            })
            .collect()
    }
}

impl Drop for Laptop {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}
