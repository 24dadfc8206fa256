//! kubectl against a real k1s: Deployments, ReplicaSets, the garbage
//! collector and Events, with real pods. The offline test images are
//! imported, the scheduler binds every pod to node1 and its kubelet runs
//! the containers and reports them Running and Ready; the tests only watch.
//! Images are tagged (`nginx:1.22`, `:1.17`, `:1.18` all name the test
//! nginx) because `latest` means imagePullPolicy Always and there is no
//! registry to pull from.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{dir_names, eventually, squeeze, Cluster};

const WAIT: Duration = Duration::from_secs(30);

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn name(obj: &Value) -> String {
    obj["metadata"]["name"].as_str().unwrap_or("").to_string()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// Live pods (not being deleted) matching `selector`.
fn pods(c: &Cluster, selector: &str) -> Vec<Value> {
    items(&c.json(&["pods", "-l", selector]))
        .into_iter()
        .filter(|p| !deleting(p))
        .collect()
}

/// Every pod matching `selector`, terminating ones included.
fn all_pods(c: &Cluster, selector: &str) -> Vec<Value> {
    items(&c.json(&["pods", "-l", selector]))
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or("")
}

/// Waits until `selector` has `n` live pods, all Ready (the kubelet's word).
fn wait_ready_pods(c: &Cluster, selector: &str, n: usize) {
    let ok = eventually(WAIT, || {
        let p = pods(c, selector);
        p.len() == n && p.iter().all(is_ready)
    });
    assert!(
        ok,
        "wanted {n} ready pods for {selector}, have {:?}\nlog:\n{}",
        pods(c, selector)
            .iter()
            .map(|p| format!("{} ready={}", name(p), is_ready(p)))
            .collect::<Vec<_>>(),
        c.log()
    );
}

/// Whether `kubectl args` fails with NotFound (the object is gone).
fn not_found(c: &Cluster, args: &[&str]) -> bool {
    let out = c.kubectl(args);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
}

fn deploy_row(c: &Cluster, deploy: &str) -> String {
    squeeze(&c.ok(&["get", "deploy", deploy, "--no-headers"]))
}

fn wait_row(c: &Cluster, deploy: &str, prefix: &str) {
    let ok = eventually(WAIT, || deploy_row(c, deploy).starts_with(prefix));
    assert!(
        ok,
        "deploy row {:?} never started with {prefix:?}",
        deploy_row(c, deploy)
    );
}

fn rollout_done(d: &Value) -> bool {
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let s = &d["status"];
    let n = |f: &str| s[f].as_i64().unwrap_or(0);
    d["metadata"]["generation"] == s["observedGeneration"]
        && n("updatedReplicas") == want
        && n("replicas") == want
        && n("availableReplicas") == want
}

/// Watches a rollout until it is done, checking at every observation that
/// the live pod count stays within replicas + maxSurge and the ready count
/// at or above replicas - maxUnavailable (terminating pods count for
/// neither, as for the Deployment controller).
fn watch_rollout(c: &Cluster, deploy: &str, selector: &str, max_pods: usize, min_ready: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = pods(c, selector);
        let ready = live.iter().filter(|p| is_ready(p)).count();
        assert!(
            live.len() <= max_pods,
            "{} pods exceed {max_pods}: {:?}",
            live.len(),
            live.iter().map(name).collect::<Vec<_>>()
        );
        assert!(
            ready >= min_ready,
            "only {ready} ready pods, want at least {min_ready}"
        );
        let d = c.json(&["deploy", deploy]);
        let want = usize::try_from(d["spec"]["replicas"].as_i64().unwrap_or(1)).unwrap_or(0);
        if rollout_done(&d) && live.len() == want && live.iter().all(is_ready) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rollout did not finish: {d}\nlog:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn replica_sets(c: &Cluster, selector: &str) -> Vec<Value> {
    items(&c.json(&["rs", "-l", selector]))
}

#[test]
fn deployment_rolls_out_scales_heals_and_rolls_back() {
    let c = Cluster::start_with_images();
    assert_eq!(
        c.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.22",
            "--replicas=3"
        ])
        .trim(),
        "deployment.apps/web created"
    );
    assert!(
        eventually(WAIT, || pods(&c, "app=web").len() == 3),
        "no pods; log:\n{}",
        c.log()
    );
    let rss = replica_sets(&c, "app=web");
    assert_eq!(rss.len(), 1);
    let rs1 = name(&rss[0]);
    let hash = rss[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(rs1, format!("web-{hash}"));
    assert!(
        !hash.is_empty()
            && hash
                .chars()
                .all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch))
    );
    for p in pods(&c, "app=web") {
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash.as_str());
        assert!(name(&p).starts_with(&format!("{rs1}-")), "{}", name(&p));
        assert_eq!(p["metadata"]["ownerReferences"][0]["name"], rs1.as_str());
    }
    wait_ready_pods(&c, "app=web", 3);
    for p in pods(&c, "app=web") {
        // Ready because the kubelet runs it, on the node the scheduler chose.
        assert_eq!(p["status"]["phase"], "Running", "{p}");
        assert_eq!(p["spec"]["nodeName"], "node1", "{p}");
        let ip = p["status"]["podIP"].as_str().unwrap_or("");
        assert!(ip.starts_with("10.244.0."), "{p}");
    }
    wait_row(&c, "web", "web 3/3 3 3 ");
    let rs_row = squeeze(&c.ok(&["get", "rs", &rs1, "--no-headers"]));
    assert!(rs_row.starts_with(&format!("{rs1} 3 3 3 ")), "{rs_row}");

    // A rolling update: 25% of 3 is a surge of 1 and no unavailability.
    assert_eq!(
        c.ok(&["set", "image", "deployment/web", "nginx=nginx:1.17"])
            .trim(),
        "deployment.apps/web image updated"
    );
    watch_rollout(&c, "web", "app=web", 4, 3);
    // The surge shows in the order of the scaling events (polling can miss
    // the moment: pods start in a fraction of a second): the new ReplicaSet
    // got its first pod while the old one still had all three.
    let scaling: Vec<String> = c
        .jsonpath(
            &["events", "--field-selector", "involvedObject.name=web"],
            r#"{range .items[*]}{.reason}|{.message}{"\n"}{end}"#,
        )
        .lines()
        .filter_map(|l| l.strip_prefix("ScalingReplicaSet|"))
        .map(String::from)
        .collect();
    let surged = scaling
        .iter()
        .position(|m| m.starts_with("Scaled up replica set") && m.ends_with("from 0 to 1"));
    let first_down = scaling
        .iter()
        .position(|m| m == &format!("Scaled down replica set {rs1} from 3 to 2"));
    assert!(
        matches!((surged, first_down), (Some(up), Some(down)) if up < down),
        "the rollout should use its surge: {scaling:?}"
    );
    let status = c.ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(
        status.contains("deployment \"web\" successfully rolled out"),
        "{status}"
    );
    let rss = replica_sets(&c, "app=web");
    assert_eq!(rss.len(), 2);
    let live: Vec<&Value> = rss.iter().filter(|r| r["spec"]["replicas"] == 3).collect();
    assert_eq!(live.len(), 1);
    let rs2 = name(live[0]);
    assert_ne!(rs2, rs1);
    for p in pods(&c, "app=web") {
        assert!(name(&p).starts_with(&format!("{rs2}-")));
        assert_eq!(image(&p), "nginx:1.17");
    }
    assert_eq!(
        c.jsonpath(
            &["deploy", "web"],
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "2"
    );
    let described = c.ok(&["describe", "deploy", "web"]);
    assert!(
        described.contains(&format!("NewReplicaSet:   {rs2} (3/3 replicas created)")),
        "{described}"
    );
    assert!(
        described.contains("MinimumReplicasAvailable"),
        "{described}"
    );
    assert!(described.contains("NewReplicaSetAvailable"), "{described}");
    assert!(
        described.contains(&format!("Scaled up replica set {rs2} from 0 to 1")),
        "{described}"
    );

    // History and undo.
    let history = squeeze(&c.ok(&["rollout", "history", "deployment/web"]));
    assert_eq!(
        history.trim(),
        "deployment.apps/web\nREVISION CHANGE-CAUSE\n1 <none>\n2 <none>"
    );
    assert_eq!(
        c.ok(&["rollout", "undo", "deployment/web"]).trim(),
        "deployment.apps/web rolled back"
    );
    watch_rollout(&c, "web", "app=web", 4, 3);
    for p in pods(&c, "app=web") {
        assert!(name(&p).starts_with(&format!("{rs1}-")), "{}", name(&p));
        assert_eq!(image(&p), "nginx:1.22");
    }
    let history = squeeze(&c.ok(&["rollout", "history", "deployment/web"]));
    assert_eq!(
        history.trim(),
        "deployment.apps/web\nREVISION CHANGE-CAUSE\n2 <none>\n3 <none>"
    );

    // Scaling.
    assert_eq!(
        c.ok(&["scale", "deployment", "web", "--replicas=5"]).trim(),
        "deployment.apps/web scaled"
    );
    wait_ready_pods(&c, "app=web", 5);
    wait_row(&c, "web", "web 5/5 5 5 ");
    c.ok(&["scale", "deployment", "web", "--replicas=0"]);
    assert!(eventually(WAIT, || pods(&c, "app=web").is_empty()));
    wait_row(&c, "web", "web 0/0 0 0 ");
    c.ok(&["scale", "deployment", "web", "--replicas=2"]);
    wait_ready_pods(&c, "app=web", 2);

    // A deleted pod is replaced.
    let before: BTreeSet<String> = pods(&c, "app=web").iter().map(name).collect();
    let victim = before.iter().next().cloned().unwrap_or_default();
    c.ok(&["delete", "pod", &victim]);
    wait_ready_pods(&c, "app=web", 2);
    let after: BTreeSet<String> = pods(&c, "app=web").iter().map(name).collect();
    assert!(!after.contains(&victim));
    wait_row(&c, "web", "web 2/2 2 2 ");

    // pause/resume and restart.
    c.ok(&["rollout", "pause", "deployment/web"]);
    c.ok(&["set", "image", "deployment/web", "nginx=nginx:1.18"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        replica_sets(&c, "app=web").len(),
        2,
        "a paused deployment must not roll"
    );
    c.ok(&["rollout", "resume", "deployment/web"]);
    watch_rollout(&c, "web", "app=web", 3, 2);
    assert_eq!(replica_sets(&c, "app=web").len(), 3);
    c.ok(&["rollout", "restart", "deployment/web"]);
    watch_rollout(&c, "web", "app=web", 3, 2);
    assert_eq!(replica_sets(&c, "app=web").len(), 4);

    // Events, like a real cluster's.
    let events = squeeze(&c.ok(&["get", "events"]));
    assert!(
        events.starts_with("LAST SEEN TYPE REASON OBJECT MESSAGE"),
        "{events}"
    );
    assert!(
        events.contains(&format!(
            "Normal ScalingReplicaSet deployment/web Scaled up replica set {rs1} from 0 to 3"
        )),
        "{events}"
    );
    assert!(
        events.contains(&format!(
            "Normal SuccessfulCreate replicaset/{rs1} Created pod: {rs1}-"
        )),
        "{events}"
    );
    assert!(
        events.contains(&format!(
            "Normal SuccessfulDelete replicaset/{rs1} Deleted pod: {rs1}-"
        )),
        "{events}"
    );
    let described = c.ok(&["describe", "rs", &rs1]);
    assert!(described.contains("replicaset-controller"), "{described}");
}

#[test]
fn deleting_deployments_cascades_or_orphans() {
    let c = Cluster::start_with_images();
    for (n, replicas) in [("bg", "2"), ("keep", "2"), ("fg", "1")] {
        c.ok(&[
            "create",
            "deployment",
            n,
            "--image=nginx:1.22",
            &format!("--replicas={replicas}"),
        ]);
    }
    wait_ready_pods(&c, "app=bg", 2);
    wait_ready_pods(&c, "app=keep", 2);
    wait_ready_pods(&c, "app=fg", 1);

    // Background (kubectl's default): the ReplicaSet and pods follow.
    assert_eq!(
        c.ok(&["delete", "deploy", "bg"]).trim(),
        "deployment.apps \"bg\" deleted"
    );
    assert!(
        eventually(WAIT, || replica_sets(&c, "app=bg").is_empty()
            && all_pods(&c, "app=bg").is_empty()),
        "bg dependents remain; log:\n{}",
        c.log()
    );

    // Foreground: kubectl waits until the dependents are gone too.
    c.ok(&["delete", "deploy", "fg", "--cascade=foreground"]);
    assert!(
        eventually(WAIT, || not_found(&c, &["get", "deploy", "fg"])),
        "fg deployment remains"
    );
    assert!(replica_sets(&c, "app=fg").is_empty());
    assert!(all_pods(&c, "app=fg").is_empty());

    // Orphan: the ReplicaSet and pods stay, without an owner.
    let rs = name(&replica_sets(&c, "app=keep")[0]);
    c.ok(&["delete", "deploy", "keep", "--cascade=orphan"]);
    assert!(eventually(WAIT, || not_found(
        &c,
        &["get", "deploy", "keep"]
    )));
    std::thread::sleep(Duration::from_secs(1));
    let kept = replica_sets(&c, "app=keep");
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0]["metadata"]["ownerReferences"].is_null(),
        "{}",
        kept[0]
    );
    assert_eq!(pods(&c, "app=keep").len(), 2);

    // The orphaned ReplicaSet still does its job.
    assert_eq!(
        c.ok(&["scale", "rs", &rs, "--replicas=3"]).trim(),
        format!("replicaset.apps/{rs} scaled")
    );
    wait_ready_pods(&c, "app=keep", 3);
    let row = squeeze(&c.ok(&["get", "rs", &rs, "--no-headers"]));
    assert!(row.starts_with(&format!("{rs} 3 3 3 ")), "{row}");

    // A new Deployment with the same template adopts it.
    c.ok(&[
        "create",
        "deployment",
        "keep",
        "--image=nginx:1.22",
        "--replicas=3",
    ]);
    wait_row(&c, "keep", "keep 3/3 3 3 ");
    let adopted = replica_sets(&c, "app=keep");
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    assert_eq!(adopted[0]["metadata"]["ownerReferences"][0]["name"], "keep");

    // Pods of a deleted ReplicaSet go too (the Deployment makes a new one,
    // with the same name: the template did not change).
    let old_uid = adopted[0]["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    c.ok(&["delete", "rs", &rs, "--cascade=background"]);
    assert!(eventually(WAIT, || {
        all_pods(&c, "app=keep")
            .iter()
            .all(|p| p["metadata"]["ownerReferences"][0]["uid"] != old_uid.as_str())
    }));
    wait_ready_pods(&c, "app=keep", 3);
    wait_row(&c, "keep", "keep 3/3 3 3 ");

    // A matching bare pod is adopted, and as the surplus it is the one
    // deleted: the newest, not yet ready (or ready for the shortest time).
    // The scheduler and the kubelet write the pod while the ReplicaSet
    // controller adopts it; adoption must not lose that race.
    let current = replica_sets(&c, "app=keep");
    assert_eq!(current.len(), 1, "{current:?}");
    assert_eq!(name(&current[0]), rs);
    let hash = current[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    // A short grace period: a SIGTERM that lands before nginx (pid 1 in its
    // namespace) has its handler is ignored, as on any node, and the pod
    // then takes its whole grace period to go.
    c.ok(&[
        "run",
        "extra",
        "--image=nginx:1.22",
        &format!("--labels=app=keep,pod-template-hash={hash}"),
        r#"--overrides={"spec":{"terminationGracePeriodSeconds":2}}"#,
    ]);
    assert!(
        eventually(WAIT, || not_found(&c, &["get", "pod", "extra"])),
        "the surplus pod was not deleted:\n{}\n{}",
        c.ok(&[
            "get",
            "pods",
            "-l",
            "app=keep",
            "-o",
            "custom-columns=NAME:.metadata.name,CONTROLLER:.metadata.ownerReferences[0].name,NODE:.spec.nodeName,READY:.status.conditions[?(@.type==\"Ready\")].status,DELETING:.metadata.deletionTimestamp"
        ]),
        c.ok(&["get", "events"])
    );
    assert_eq!(pods(&c, "app=keep").len(), 3);
    let events = squeeze(&c.ok(&["get", "events"]));
    assert!(
        events.contains(&format!("replicaset/{rs} Deleted pod: extra")),
        "{events}"
    );
}

const RECREATE: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: rec
spec:
  replicas: 2
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app: rec
  template:
    metadata:
      labels:
        app: rec
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: nginx
        image: nginx:1.22
";

/// Its pods run but never pass their readiness probe.
const SLOW: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector:
    matchLabels:
      app: slow
  template:
    metadata:
      labels:
        app: slow
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: nginx
        image: nginx:1.22
        readinessProbe:
          exec:
            command: [\"false\"]
          periodSeconds: 1
";

/// Template hash of a pod.
fn hash(pod: &Value) -> String {
    pod["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A pod whose containers may still run: not Succeeded or Failed. The
/// Recreate strategy waits until no old pod is in that state, terminating
/// ones included.
fn may_run(pod: &Value) -> bool {
    !matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded") | Some("Failed")
    )
}

#[test]
fn recreate_replaces_all_pods_at_once_and_deadlines_expire() {
    let c = Cluster::start_with_images();
    let f = c.file("rec.yaml", RECREATE);
    c.ok(&["apply", "-f", &f]);
    wait_ready_pods(&c, "app=rec", 2);
    wait_row(&c, "rec", "rec 2/2 2 2 ");
    c.ok(&["set", "image", "deployment/rec", "nginx=nginx:1.17"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = all_pods(&c, "app=rec");
        let hashes: BTreeSet<String> = running.iter().filter(|p| may_run(p)).map(hash).collect();
        assert!(
            hashes.len() <= 1,
            "old and new pods at once: {:?}",
            running
                .iter()
                .map(|p| format!(
                    "{} {} deleting={}",
                    name(p),
                    p["status"]["phase"],
                    deleting(p)
                ))
                .collect::<Vec<_>>()
        );
        let live = pods(&c, "app=rec");
        let d = c.json(&["deploy", "rec"]);
        if rollout_done(&d)
            && live.len() == 2
            && live.iter().all(|p| image(p) == "nginx:1.17" && is_ready(p))
        {
            break;
        }
        assert!(Instant::now() < deadline, "recreate did not finish: {d}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = squeeze(&c.ok(&["get", "events"]));
    assert!(
        events.contains("Normal ScalingReplicaSet deployment/rec Scaled down replica set rec-"),
        "{events}"
    );
    assert!(events.contains("from 2 to 0"), "{events}");

    // Pods that never get ready: the rollout times out.
    let f = c.file("slow.yaml", SLOW);
    c.ok(&["apply", "-f", &f]);
    let out = c.kubectl(&["rollout", "status", "deployment/slow", "--timeout=30s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: deployment \"slow\" exceeded its progress deadline"),
        "{stderr}"
    );
    let reason = c.jsonpath(
        &["deploy", "slow"],
        "{.status.conditions[?(@.type==\"Progressing\")].reason}",
    );
    assert_eq!(reason, "ProgressDeadlineExceeded");
    // The pod itself runs, it just never becomes ready.
    let slow = pods(&c, "app=slow");
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0]["status"]["phase"], "Running", "{}", slow[0]);
    assert!(!is_ready(&slow[0]), "{}", slow[0]);
}

/// A ConfigMap whose finalizer (nobody removes it but the test) keeps the
/// namespace Terminating long enough to look at, as a real controller's
/// finalizer would.
const HELD_CONFIG_MAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: lab
  finalizers:
  - example.com/hold
data:
  mode: lab
";

/// Pod uids, veths (by their alias, the pod uid), pod network namespaces,
/// container bundles and shims of one cluster.
#[derive(Debug, PartialEq)]
struct NodeState {
    veths: BTreeSet<String>,
    netns: BTreeSet<String>,
    bundles: usize,
    shims: usize,
}

fn node_state(c: &Cluster) -> NodeState {
    let veths = c.pod_veths();
    let bundles = c.data_dir().join("containers");
    let marker = bundles.to_string_lossy().into_owned();
    let shims = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read(e.path().join("cmdline"))
                        .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&marker))
                })
                .count()
        })
        .unwrap_or(0);
    NodeState {
        veths,
        netns: c.pod_netns_pins(),
        bundles: dir_names(&bundles).len(),
        shims,
    }
}

/// `type status reason message` of each status condition of a namespace.
fn namespace_conditions(c: &Cluster, ns: &str) -> Vec<String> {
    c.json(&["namespace", ns])["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{} {} {} {}",
                        c["type"].as_str().unwrap_or(""),
                        c["status"].as_str().unwrap_or(""),
                        c["reason"].as_str().unwrap_or(""),
                        c["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deleting_a_namespace_removes_its_pods_down_to_their_network() {
    let c = Cluster::start_with_images();
    assert_eq!(
        c.ok(&["create", "namespace", "lab"]).trim(),
        "namespace/lab created"
    );
    c.ok(&[
        "-n",
        "lab",
        "create",
        "deployment",
        "web",
        "--image=nginx:1.22",
        "--replicas=3",
    ]);
    c.ok(&["-n", "lab", "expose", "deployment", "web", "--port=80"]);
    c.ok(&["apply", "-f", &c.file("held.yaml", HELD_CONFIG_MAP)]);
    c.ok(&[
        "-n",
        "lab",
        "rollout",
        "status",
        "deploy/web",
        "--timeout=60s",
    ]);
    let pods = items(&c.json(&["-n", "lab", "pods"]));
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert!(pods.iter().all(is_ready));
    let uids: BTreeSet<String> = pods
        .iter()
        .map(|p| p["metadata"]["uid"].as_str().unwrap_or("").to_string())
        .collect();
    let cluster_ip = c.jsonpath(&["-n", "lab", "service", "web"], "{.spec.clusterIP}");
    assert!(cluster_ip.starts_with("10."), "{cluster_ip}");
    assert!(
        c.proxy_table().contains(&cluster_ip),
        "the proxy serves {cluster_ip}"
    );

    // Each pod has its network namespace (with its eth0), its veth on the
    // node, its container and shim.
    let before = node_state(&c);
    assert_eq!(before.netns, uids, "{before:?}");
    assert_eq!(before.veths, uids, "{before:?}");
    assert_eq!((before.bundles, before.shims), (3, 3), "{before:?}");
    for uid in &uids {
        let links = std::process::Command::new("nsenter")
            .arg(format!(
                "--net={}",
                c.data_dir().join("netns").join(uid).display()
            ))
            .args(["--", "ip", "-o", "link"])
            .output()
            .expect("ip link in the pod namespace");
        assert!(
            String::from_utf8_lossy(&links.stdout).contains("eth0@"),
            "{}",
            String::from_utf8_lossy(&links.stdout)
        );
    }

    assert_eq!(
        c.ok(&["delete", "namespace", "lab", "--wait=false"]).trim(),
        "namespace \"lab\" deleted"
    );
    let row = squeeze(&c.ok(&["get", "namespace", "lab"]));
    assert!(
        row.starts_with("NAME STATUS AGE\nlab Terminating "),
        "{row}"
    );
    let refused = c.kubectl_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: lab\n",
    );
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "Error from server (Forbidden): error when creating \"STDIN\": configmaps \"x\" is forbidden: \
         unable to create new content in namespace lab because it is being terminated\n"
    );

    // The pods go, and with them everything they had on the node; the held
    // ConfigMap keeps the namespace, and its conditions say why.
    let gone = NodeState {
        veths: BTreeSet::new(),
        netns: BTreeSet::new(),
        bundles: 0,
        shims: 0,
    };
    assert!(
        eventually(WAIT, || items(&c.json(&["-n", "lab", "pods"])).is_empty()
            && node_state(&c) == gone),
        "left behind: {:?}\npods: {}\nlog:\n{}",
        node_state(&c),
        c.ok(&["-n", "lab", "get", "pods"]),
        c.log()
    );
    assert!(
        !c.proxy_table().contains(&cluster_ip),
        "the Service's rules outlived it"
    );
    let want = [
        "NamespaceDeletionDiscoveryFailure False ResourcesDiscovered All resources successfully discovered",
        "NamespaceDeletionGroupVersionParsingFailure False ParsedGroupVersions All legacy kube types successfully parsed",
        "NamespaceDeletionContentFailure False ContentDeleted All content successfully deleted, may be waiting on finalization",
        "NamespaceContentRemaining True SomeResourcesRemain Some resources are remaining: configmaps. has 1 resource instances",
        "NamespaceFinalizersRemaining True SomeFinalizerRemain Some finalizers are remaining: example.com/hold in 1 resource instances",
    ];
    assert!(
        eventually(WAIT, || namespace_conditions(&c, "lab") == want),
        "{:?}",
        namespace_conditions(&c, "lab")
    );
    let ns = c.json(&["namespace", "lab"]);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert_eq!(ns["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    assert!(!ns["metadata"]["deletionTimestamp"].is_null(), "{ns}");
    assert!(
        ns["metadata"]["deletionGracePeriodSeconds"].is_null(),
        "{ns}"
    );
    assert_eq!(
        c.ok(&["-n", "lab", "get", "all,configmaps", "-o", "name"]),
        "configmap/settings\n"
    );

    // Releasing the finalizer lets the namespace go.
    c.ok(&[
        "-n",
        "lab",
        "patch",
        "configmap",
        "settings",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    c.ok(&["wait", "--for=delete", "namespace/lab", "--timeout=30s"]);
    assert!(not_found(&c, &["get", "namespace", "lab"]));
    for kind in [
        "deployments",
        "replicasets",
        "services",
        "configmaps",
        "serviceaccounts",
    ] {
        let left = items(&c.json(&[kind, "-A"]));
        assert!(
            left.iter().all(|o| o["metadata"]["namespace"] != "lab"),
            "{kind} left in lab: {left:?}"
        );
    }
    assert_eq!(node_state(&c), gone);
}

#[test]
fn pods_wait_for_a_fitting_node_and_go_there_once_it_fits() {
    let c = Cluster::start_with_images();
    c.ok(&[
        "create",
        "deployment",
        "ssd",
        "--image=nginx:1.22",
        "--replicas=2",
    ]);
    c.ok(&[
        "patch",
        "deployment",
        "ssd",
        "-p",
        r#"{"spec":{"template":{"spec":{"nodeSelector":{"disk":"ssd"}}}}}"#,
    ]);
    // The new ReplicaSet's pods select a label node1 lacks: they wait.
    let waiting = |p: &Value| {
        p["spec"]["nodeSelector"]["disk"] == "ssd"
            && p["spec"]["nodeName"].is_null()
            && p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["type"] == "PodScheduled"
                        && c["status"] == "False"
                        && c["reason"] == "Unschedulable"
                })
            })
    };
    assert!(
        eventually(WAIT, || pods(&c, "app=ssd").iter().any(waiting)),
        "{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
    let events = squeeze(&c.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=FailedScheduling",
    ]));
    assert!(
        events.contains("Warning FailedScheduling pod/ssd-")
            && events.contains(
                "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            ),
        "{events}"
    );
    // The old pods keep serving: the rollout cannot make progress.
    assert_eq!(
        pods(&c, "app=ssd")
            .iter()
            .filter(|p| p["spec"]["nodeSelector"].is_null() && is_ready(p))
            .count(),
        2
    );

    // Labelling the node is a node change: the waiting pods are placed.
    c.ok(&["label", "node", "node1", "disk=ssd"]);
    c.ok(&["rollout", "status", "deployment/ssd", "--timeout=60s"]);
    wait_ready_pods(&c, "app=ssd", 2);
    for p in pods(&c, "app=ssd") {
        assert_eq!(p["spec"]["nodeName"], "node1", "{p}");
        assert_eq!(p["spec"]["nodeSelector"]["disk"], "ssd", "{p}");
    }
}
