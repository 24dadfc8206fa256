//! The Services walkthrough with real pods: a Deployment of nginx behind
//! a ClusterIP Service, reached by name from a `kubectl run` curl pod
//! (cluster DNS + nftables proxy), balanced over the three pods, and the
//! NodePort from a second namespace playing the laptop.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;
use support::{eventually, Cluster, NODE_IP};

const CURL: &str = "curlimages/curl:7.88.1";

/// curl + nslookup commands typed into `kubectl run tmp --rm -i -- sh`.
fn from_a_pod(c: &Cluster, script: &str) -> String {
    let out = c.kubectl_stdin(
        &[
            "run",
            "tmp",
            "--rm",
            "-i",
            "--restart=Never",
            &format!("--image={CURL}"),
            "--",
            "sh",
        ],
        script,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl run tmp: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
    stdout
}

#[test]
fn curl_web_by_name_is_balanced_over_three_pods() {
    let c = Cluster::start_with_images();
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.22",
        "--replicas=3",
    ]);
    c.ok(&["expose", "deployment", "web", "--port=80"]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let pods: BTreeSet<String> = c
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(pods.len(), 3);
    assert!(eventually(Duration::from_secs(15), || c
        .ok(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].addresses[*].ip}"
        ])
        .split_whitespace()
        .count()
        == 3));

    let script = "for i in $(seq 1 30); do curl -s --max-time 3 http://web; done\nnslookup web.default.svc.cluster.local 2>&1 | tail -n 3\nexit\n";
    let out = from_a_pod(&c, script);
    let answered: BTreeSet<String> = out
        .lines()
        .filter(|l| l.starts_with("web-"))
        .map(String::from)
        .collect();
    assert_eq!(answered, pods, "30 requests reach all three pods:\n{out}");
    let cluster_ip = c.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(
        out.contains(&format!("Address: {cluster_ip}")),
        "nslookup from the pod answers the ClusterIP:\n{out}"
    );

    // NodePort from outside the node.
    c.ok(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}}"#,
    ]);
    let laptop = format!("{}-laptop", c.netns);
    let ip = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?}");
    };
    ip(&["netns", "add", &laptop]);
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _gone = Gone(laptop.clone());
    ip(&["-n", &laptop, "link", "set", "lo", "up"]);
    ip(&["-n", &c.netns, "link", "set", "eth0-peer", "netns", &laptop]);
    ip(&[
        "-n",
        &laptop,
        "addr",
        "add",
        "192.168.56.1/24",
        "dev",
        "eth0-peer",
    ]);
    ip(&["-n", &laptop, "link", "set", "eth0-peer", "up"]);
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let out = Command::new("ip")
            .args(["netns", "exec", &laptop, "curl", "-s", "--max-time", "3"])
            .arg(format!("http://{NODE_IP}:30080/"))
            .output()
            .expect("curl");
        seen.insert(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    assert_eq!(
        seen, pods,
        "NodePort 30080 from the laptop reaches every pod"
    );
}
