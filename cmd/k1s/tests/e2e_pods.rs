//! Pods for real: containers from the offline test images in their own
//! network namespaces on the k1s0 bridge, driven with the real kubectl
//! (run, exec, logs, attach, port-forward, delete), inside the test's
//! namespace.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{eventually, pod_cgroups, Cluster, PortForward};

const NGINX: &str = "nginx:1.22";
const BUSYBOX: &str = "busybox:1.35";
const CURL: &str = "curlimages/curl:7.88.1";

/// What the `client` pod's curl got from `http://IP/` (the nginx test
/// image answers with its pod name).
fn curl_from_client(c: &Cluster, ip: &str) -> String {
    c.ok(&[
        "exec",
        "client",
        "--",
        "curl",
        "-s",
        "--max-time",
        "5",
        &format!("http://{ip}/"),
    ])
}

/// The Events about the object `name`, as `kubectl get events` prints them.
fn events_of(c: &Cluster, name: &str) -> String {
    c.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
    ])
}

fn busybox_pod(c: &Cluster, name: &str, script: &str, extra_spec: &str) {
    let manifest = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  {extra_spec}
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
"#
    );
    let path = c.file(&format!("{name}.yaml"), &manifest);
    c.ok(&["apply", "-f", &path]);
}

#[test]
fn a_pod_serves_http_to_another_pod_by_pod_ip() {
    let c = Cluster::start_with_images();
    c.ok(&["run", "web", &format!("--image={NGINX}")]);
    c.start_client_pod(CURL);
    c.wait_pod_ready("web");
    let ip = c.pod_ip("web");
    assert!(ip.starts_with("10.244.0."), "pod IP {ip}");
    let body = curl_from_client(&c, &ip);
    assert_eq!(body.trim(), "web", "nginx answers with its hostname");
    let wide = c.ok(&["get", "pod", "web", "-o", "wide"]);
    assert!(
        wide.contains("Running") && wide.contains(&ip) && wide.contains("node1"),
        "{wide}"
    );
    let described = c.ok(&["describe", "pod", "web"]);
    for want in [
        "Status:           Running",
        "Started container web",
        "Successfully assigned default/web to node1",
    ] {
        assert!(
            described.contains(want),
            "describe lacks {want:?}:\n{described}"
        );
    }
}

#[test]
fn logs_exec_and_stdin() {
    let c = Cluster::start_with_images();
    busybox_pod(
        &c,
        "talker",
        "for i in 1 2 3; do echo line $i; done; echo oops >&2; sleep 3600",
        "",
    );
    c.wait_pod_ready("talker");
    assert!(eventually(Duration::from_secs(10), || c
        .ok(&["logs", "talker"])
        .contains("oops")));
    assert_eq!(c.ok(&["logs", "talker"]), "line 1\nline 2\nline 3\noops\n");
    assert_eq!(c.ok(&["logs", "talker", "--tail=1"]), "oops\n");
    let stamped = c.ok(&["logs", "talker", "--timestamps", "--tail=1"]);
    assert!(
        stamped.ends_with("Z oops\n") && stamped.starts_with("20"),
        "{stamped}"
    );

    let out = c.ok(&[
        "exec",
        "talker",
        "--",
        "sh",
        "-c",
        "echo $HOSTNAME; cat /etc/resolv.conf",
    ]);
    assert!(out.starts_with("talker\n"), "{out}");
    assert!(out.contains("nameserver 10.96.0.10"), "{out}");
    assert!(
        out.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{out}"
    );
    assert!(out.contains("options ndots:5"), "{out}");

    let echoed = c.kubectl_stdin(
        &["exec", "-i", "talker", "--", "sh", "-c", "tr a-z A-Z"],
        "hello pods\n",
    );
    assert_eq!(String::from_utf8_lossy(&echoed.stdout), "HELLO PODS\n");

    // kubectl cp is tar over exec, both ways.
    let local = c.file("notes.txt", "copied in\n");
    c.ok(&["cp", &local, "talker:/tmp/notes.txt"]);
    assert_eq!(
        c.ok(&["exec", "talker", "--", "cat", "/tmp/notes.txt"]),
        "copied in\n"
    );
    let back = c.path("back.txt");
    c.ok(&[
        "cp",
        "talker:/tmp/notes.txt",
        back.to_str().unwrap_or_default(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&back).unwrap_or_default(),
        "copied in\n"
    );

    let failed = c.kubectl(&["exec", "talker", "--", "sh", "-c", "exit 3"]);
    assert_eq!(
        failed.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    let stderr = c.fails(&["logs", "talker", "-c", "nope"]);
    assert!(
        stderr.contains("container nope is not valid for pod talker"),
        "{stderr}"
    );
}

#[test]
fn logs_follow_streams_new_lines() {
    let c = Cluster::start_with_images();
    busybox_pod(
        &c,
        "ticker",
        "i=0; while [ $i -lt 400 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done",
        "",
    );
    c.wait_pod_ready("ticker");
    let mut child = c
        .kubectl_cmd(&["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl logs -f");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while seen < 20 && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) => {
                assert_eq!(l, format!("tick {seen}"));
                seen += 1;
            }
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, 20, "logs -f delivered lines as they were written");
}

#[test]
fn kubectl_run_rm_interactive_with_commands_on_stdin() {
    let c = Cluster::start_with_images();
    c.ok(&["run", "web", &format!("--image={NGINX}")]);
    c.wait_pod_ready("web");
    let ip = c.pod_ip("web");
    let out = c.run_rm_shell(CURL, &format!("curl -s --max-time 5 http://{ip}/\nexit\n"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("web\n"), "{stdout}");
    assert!(stdout.contains("pod \"tmp\" deleted"), "{stdout}");
    assert!(eventually(Duration::from_secs(20), || !c
        .kubectl(&["get", "pod", "tmp"])
        .status
        .success()));
}

/// `kubectl exec -it` in a real terminal (util-linux `script` gives it a
/// pty): the container gets a tty of its own.
#[test]
fn exec_with_a_terminal() {
    let c = Cluster::start_with_images();
    busybox_pod(&c, "term", "sleep 3600", "");
    c.wait_pod_ready("term");
    let kubectl = c.kubectl_cmd(&["exec", "-it", "term", "--", "sh"]);
    let line: Vec<String> = std::iter::once(kubectl.get_program())
        .chain(kubectl.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let home = c.path("home");
    let out = std::process::Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            let mut stdin = child.stdin.take().expect("stdin");
            std::thread::sleep(Duration::from_millis(1500));
            stdin.write_all(b"tty; echo TERM=$TERM; exit\n")?;
            child.wait_with_output()
        })
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("TERM=xterm"), "{text}");
}

#[test]
fn port_forward_reaches_the_pod() {
    let c = Cluster::start_with_images();
    c.ok(&["run", "web", &format!("--image={NGINX}")]);
    c.wait_pod_ready("web");
    let pf = PortForward::start(&c, "pod/web", "18080:80");
    assert!(
        pf.first_line
            .contains("Forwarding from 127.0.0.1:18080 -> 80"),
        "{}",
        pf.first_line
    );
    let curl = c.curl("http://127.0.0.1:18080/", 5);
    let rest = pf.stop();
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "web\n", "{rest}");
}

#[test]
fn crashing_containers_back_off_and_probes_restart() {
    let c = Cluster::start_with_images();
    busybox_pod(&c, "crasher", "echo bye; exit 1", "");
    assert!(
        eventually(Duration::from_secs(40), || c
            .ok(&["get", "pod", "crasher"])
            .contains("CrashLoopBackOff")),
        "{}",
        c.ok(&["get", "pod", "crasher", "-o", "yaml"])
    );
    let restarts: u32 = c
        .jsonpath(
            &["pod", "crasher"],
            "{.status.containerStatuses[0].restartCount}",
        )
        .parse()
        .unwrap_or(0);
    assert!(restarts >= 1, "restarts {restarts}");
    assert_eq!(c.ok(&["logs", "crasher", "--previous"]), "bye\n");
    let events = events_of(&c, "crasher");
    assert!(
        events.contains("Back-off restarting failed container main"),
        "{events}"
    );

    let liveness = r#"
  containers:
  - name: main
    image: busybox:1.35
    command: ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 600"]
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      periodSeconds: 1
      failureThreshold: 1
"#;
    let manifest = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: live\nspec:\n  terminationGracePeriodSeconds: 1{liveness}");
    c.ok(&["apply", "-f", &c.file("live.yaml", &manifest)]);
    assert!(eventually(Duration::from_secs(40), || {
        c.jsonpath(
            &["pod", "live"],
            "{.status.containerStatuses[0].restartCount}",
        )
        .parse::<u32>()
        .is_ok_and(|n| n >= 1)
    }));
    let events = events_of(&c, "live");
    assert!(events.contains("Liveness probe failed"), "{events}");
    assert!(
        events.contains("failed liveness probe, will be restarted"),
        "{events}"
    );
}

#[test]
fn deletion_is_graceful() {
    let c = Cluster::start_with_images();
    busybox_pod(&c, "polite", "trap 'exit 0' TERM; sleep 600 & wait", "");
    busybox_pod(
        &c,
        "stubborn",
        "trap '' TERM; sleep 600 & wait; sleep 600",
        "terminationGracePeriodSeconds: 3",
    );
    c.wait_pod_ready("polite");
    c.wait_pod_ready("stubborn");
    let t = Instant::now();
    c.ok(&["delete", "pod", "polite"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a pod that exits on SIGTERM goes at once: {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    c.ok(&["delete", "pod", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "grace period honoured: {took:?}"
    );
}

const CONTAINER_ID: &str = "{.status.containerStatuses[0].containerID}";

#[test]
fn pods_survive_a_k1s_restart() {
    let mut c = Cluster::start_with_images();
    c.ok(&["run", "web", &format!("--image={NGINX}")]);
    c.wait_pod_ready("web");
    let id = c.jsonpath(&["pod", "web"], CONTAINER_ID);
    let ip = c.pod_ip("web");
    c.stop("TERM");
    c.launch();
    c.wait_pod_ready("web");
    assert_eq!(
        c.jsonpath(&["pod", "web"], CONTAINER_ID),
        id,
        "the same container keeps running"
    );
    assert_eq!(c.pod_ip("web"), ip);
    c.start_client_pod(CURL);
    let body = curl_from_client(&c, &ip);
    assert_eq!(body.trim(), "web");
}

/// Counts what pods leave behind on the node: pod network namespaces,
/// veths in the cluster namespace, mounts under the data directory.
fn leftovers(c: &Cluster) -> (usize, usize, usize) {
    (
        c.pod_netns_pins().len(),
        c.pod_veths().len(),
        c.data_dir_mounts().len(),
    )
}

#[test]
fn a_hundred_create_delete_cycles_leave_nothing_behind() {
    let c = Cluster::start_with_images();
    let mut ips = std::collections::HashSet::new();
    let mut uids: Vec<String> = Vec::new();
    for round in 0..10 {
        let mut manifest = String::new();
        for i in 0..10 {
            manifest.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  labels: {{round: \"r{round}\"}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: {BUSYBOX}\n    command: [\"sleep\", \"600\"]\n"
            ));
        }
        c.ok(&["apply", "-f", &c.file("round.yaml", &manifest)]);
        c.ok(&[
            "wait",
            "--for=condition=Ready",
            "pod",
            "-l",
            &format!("round=r{round}"),
            "--timeout=60s",
        ]);
        for ip in c
            .jsonpath(&["pods"], "{.items[*].status.podIP}")
            .split_whitespace()
        {
            ips.insert(ip.to_string());
        }
        uids.extend(
            c.jsonpath(&["pods"], "{.items[*].metadata.uid}")
                .split_whitespace()
                .map(String::from),
        );
        c.ok(&["delete", "pods", "--all", "--wait=true", "--timeout=60s"]);
    }
    assert!(ips.len() >= 10);
    assert!(
        eventually(Duration::from_secs(20), || leftovers(&c) == (0, 0, 0)),
        "left behind (netns files, veths, mounts): {:?}",
        leftovers(&c)
    );
    let mut c = c;
    c.stop("TERM");
    // Every pod's cgroups are gone too (v1 controllers or the v2 tree).
    let left = pod_cgroups(&uids);
    assert!(left.is_empty(), "pod cgroups left behind: {left:?}");
    c.reset_ok();
    let out = std::process::Command::new("ip")
        .args(["-n", &c.netns, "link", "show", "k1s0"])
        .output()
        .expect("ip link");
    assert!(!out.status.success(), "k1s reset removes the bridge");
    let _ = std::io::stdout().flush();
}

#[test]
fn config_env_volumes_and_init_containers_reach_the_container() {
    let c = Cluster::start_with_images();
    c.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=greeting=hello",
        "--from-literal=LEVEL=debug",
    ]);
    c.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ]);
    c.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let manifest = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: configured
  labels: {{tier: demo}}
spec:
  initContainers:
  - name: prepare
    image: {BUSYBOX}
    command: ["sh", "-c", "echo prepared > /work/ready"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", "sleep 3600"]
    env:
    - name: GREETING
      valueFrom: {{configMapKeyRef: {{name: settings, key: greeting}}}}
    - name: PASSWORD
      valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}
    - name: MY_POD_IP
      valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
    - name: TIER
      valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['tier']"}}}}
    - name: COMBINED
      value: "$(GREETING)-$(TIER)"
    envFrom:
    - configMapRef: {{name: settings}}
    volumeMounts:
    - {{name: work, mountPath: /work}}
    - {{name: settings, mountPath: /etc/settings}}
  volumes:
  - name: work
    emptyDir: {{}}
  - name: settings
    configMap: {{name: settings}}
"#
    );
    c.ok(&["apply", "-f", &c.file("configured.yaml", &manifest)]);
    c.wait_pod_ready("configured");
    let ip = c.pod_ip("configured");
    let env = c.ok(&["exec", "configured", "--", "env"]);
    for want in [
        "GREETING=hello".to_string(),
        "PASSWORD=s3cret".into(),
        format!("MY_POD_IP={ip}"),
        "TIER=demo".into(),
        "COMBINED=hello-demo".into(),
        "LEVEL=debug".into(),
        "WEB_SERVICE_PORT=80".into(),
        "WEB_PORT=tcp://".into(),
        "KUBERNETES_SERVICE_HOST=10.96.0.1".into(),
        "HOSTNAME=configured".into(),
    ] {
        assert!(env.contains(&want), "env lacks {want}:\n{env}");
    }
    assert_eq!(
        c.ok(&["exec", "configured", "--", "cat", "/work/ready"]),
        "prepared\n"
    );
    assert_eq!(
        c.ok(&["exec", "configured", "--", "cat", "/etc/settings/greeting"]),
        "hello"
    );
    let hosts = c.ok(&["exec", "configured", "--", "cat", "/etc/hosts"]);
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file."),
        "{hosts}"
    );
    assert!(hosts.contains(&format!("{ip}\tconfigured")), "{hosts}");

    // A missing ConfigMap keeps the container waiting with the kubelet's reason.
    let broken = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\nspec:\n  containers:\n  - name: main\n    image: {BUSYBOX}\n    command: [\"sleep\", \"3600\"]\n    envFrom:\n    - configMapRef: {{name: nowhere}}\n"
    );
    c.ok(&["apply", "-f", &c.file("broken.yaml", &broken)]);
    assert!(eventually(Duration::from_secs(20), || c
        .ok(&["get", "pod", "broken"])
        .contains("CreateContainerConfigError")));
    let events = events_of(&c, "broken");
    assert!(
        events.contains("configmap \"nowhere\" not found"),
        "{events}"
    );
}

#[test]
fn bad_commands_and_missing_images_show_kubelet_reasons() {
    let c = Cluster::start_with_images();
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nocmd\nspec:\n  containers:\n  - name: main\n    image: {BUSYBOX}\n    command: [\"no-such-binary\"]\n"
    );
    c.ok(&["apply", "-f", &c.file("nocmd.yaml", &manifest)]);
    // A registry on loopback inside the test's namespace: nothing listens,
    // no name is looked up, nothing leaves.
    c.ok(&[
        "run",
        "noimage",
        "--image=127.0.0.1:5000/nginx:0.0-does-not-exist",
    ]);
    c.ok(&[
        "run",
        "never",
        "--image=127.0.0.1:5000/nginx:0.0-does-not-exist",
        "--image-pull-policy=Never",
    ]);
    assert!(
        eventually(Duration::from_secs(30), || {
            let pods = c.ok(&["get", "pods"]);
            (pods.contains("StartError") || pods.contains("CrashLoopBackOff"))
                && (pods.contains("ErrImagePull") || pods.contains("ImagePullBackOff"))
                && pods.contains("ErrImageNeverPull")
        }),
        "{}",
        c.ok(&["get", "pods"])
    );
    let message = c.jsonpath(
        &["pod", "nocmd"],
        "{.status.containerStatuses[0].lastState.terminated.message}{.status.containerStatuses[0].state.terminated.message}",
    );
    assert!(
        message.contains("exec: \"no-such-binary\": executable file not found in $PATH"),
        "{message}"
    );
    let events = events_of(&c, "never");
    assert!(
        events.contains(
            "Container image \"127.0.0.1:5000/nginx:0.0-does-not-exist\" is not present with pull policy of Never"
        ),
        "{events}"
    );
    let out = c.kubectl(&["get", "pods"]);
    assert!(out.status.success(), "k1s keeps serving");
}
