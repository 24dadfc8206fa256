//! What the root tests share: unique names, a network namespace of their
//! own, and a busybox [`Fixture`] for the container runtime. Everything
//! cleans up on drop, also when a test fails.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use k1s_node::image::ImageStore;
use k1s_node::runtime::{Container, ContainerConfig, ExitInfo, Limits, Runtime};
use k1s_node::testimages;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// `<prefix>-<pid>-<n>`: unique across the tests of this process and
/// the test processes running next to it.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A network namespace of the test's own, with only `lo` (up); deleted on
/// drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `ip netns add <prefix>-<pid>-<n>`.
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A runtime on a temp data dir holding the busybox image, and a network
/// namespace for the containers of one pod. Dropping it resets the
/// runtime, then deletes the namespace and the dir.
pub struct Fixture {
    // Field order is drop order: the runtime's leftovers go first.
    pub runtime: Runtime,
    pub netns: Netns,
    pub lowerdirs: Vec<PathBuf>,
    pub dir: tempfile::TempDir,
    pub pod_uid: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Err(e) = Runtime::reset(self.dir.path()) {
            eprintln!("reset after test: {e}");
        }
    }
}

impl Fixture {
    /// `tag` names the test file in the namespace (`k1s-<tag>-…`) and
    /// the pod uid (`<tag>-pod-…`).
    pub fn new(tag: &str) -> Fixture {
        // The data dir is the temp dir itself: the attach socket path must
        // stay under the 108 bytes a unix socket address allows.
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("busybox-layout");
        testimages::busybox_image(testimages::busybox_layer().unwrap())
            .build()
            .unwrap()
            .write_oci_layout(&layout, &[testimages::BUSYBOX], false)
            .unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        store.import(&layout).unwrap();
        let rec = store.get(testimages::BUSYBOX).unwrap().unwrap();
        let lowerdirs = store.rootfs_layers(&rec).unwrap();
        let runtime = Runtime::new(dir.path(), shim_exe()).unwrap();
        Fixture {
            runtime,
            netns: Netns::new(&format!("k1s-{tag}")),
            lowerdirs,
            pod_uid: unique(&format!("{tag}-pod")),
            dir,
        }
    }

    /// A new busybox container `c-…` of pod default/web-1 running `args`
    /// as root.
    pub fn config(&self, args: &[&str]) -> ContainerConfig {
        let name = unique("c");
        ContainerConfig {
            pod_uid: self.pod_uid.clone(),
            pod_namespace: "default".into(),
            pod_name: "web-1".into(),
            container_name: name.clone(),
            attempt: 0,
            lowerdirs: self.lowerdirs.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "HOSTNAME=web-1".into(),
            ],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            hostname: "web-1".into(),
            netns: self.netns.path(),
            mounts: vec![],
            tty: false,
            stdin: false,
            stdin_once: false,
            log_path: self
                .dir
                .path()
                .join(format!("logs/default_web-1_{}/{name}/0.log", self.pod_uid)),
            limits: Limits::default(),
        }
    }

    pub async fn start(&self, cfg: &ContainerConfig) -> Container {
        self.runtime.start(cfg).await.unwrap()
    }

    /// Waits (at most 30 s) for the container to exit.
    pub async fn wait_exit(&self, id: &str) -> ExitInfo {
        tokio::time::timeout(Duration::from_secs(30), self.runtime.wait(id))
            .await
            .expect("container did not exit")
            .unwrap()
    }
}

/// The shim binary, as k1s re-execs itself.
pub fn shim_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_k1s-node-shim"))
}
