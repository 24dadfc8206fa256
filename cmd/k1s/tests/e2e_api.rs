//! kubectl against a real k1s in its own network namespace: the API
//! machinery of the foundation (CRUD, apply, edit, patch, watch, tables,
//! errors, restart durability).

mod support;

use std::time::Duration;
use support::{eventually, squeeze, Cluster};

const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    app: web
data:
  color: blue
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
";

#[test]
fn configmap_lifecycle_with_apply_edit_patch_and_delete() {
    let c = Cluster::start();
    let f = c.file("cm.yaml", CONFIGMAP);
    assert_eq!(
        c.ok(&["apply", "-f", &f]).trim(),
        "configmap/settings created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", &f]).trim(),
        "configmap/settings unchanged"
    );
    assert_eq!(c.jsonpath(&["cm", "settings"], "{.data.color}"), "blue");
    let table = squeeze(&c.ok(&["get", "configmaps", "-l", "app=web"]));
    assert!(table.starts_with("NAME DATA AGE\nsettings 1 "), "{table}");

    // kubectl edit through a scripted editor.
    assert_eq!(
        c.edit(&["cm", "settings"], "sed -i -e s/blue/green/")
            .trim(),
        "configmap/settings edited"
    );
    assert_eq!(c.jsonpath(&["cm", "settings"], "{.data.color}"), "green");

    // The three patch types.
    c.ok(&[
        "patch",
        "cm",
        "settings",
        "-p",
        r#"{"data":{"size":"large"}}"#,
    ]);
    c.ok(&[
        "patch",
        "cm",
        "settings",
        "--type=merge",
        "-p",
        r#"{"data":{"color":null}}"#,
    ]);
    c.ok(&[
        "patch",
        "cm",
        "settings",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/shape","value":"round"}]"#,
    ]);
    let data = c.jsonpath(&["cm", "settings"], "{.data}");
    assert_eq!(data, r#"{"shape":"round","size":"large"}"#);

    // describe shows the data.
    let described = c.ok(&["describe", "cm", "settings"]);
    assert!(described.contains("Name:         settings"), "{described}");
    assert!(described.contains("shape:\n----\nround"), "{described}");

    assert_eq!(
        c.ok(&["delete", "cm", "settings"]).trim(),
        "configmap \"settings\" deleted"
    );
    let err = c.fails(&["get", "cm", "settings"]);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): configmaps \"settings\" not found"
    );
}

#[test]
fn service_and_deployment_with_server_side_apply() {
    let c = Cluster::start();
    let svc = c.file("svc.yaml", SERVICE);
    assert_eq!(c.ok(&["apply", "-f", &svc]).trim(), "service/web created");
    let wide = squeeze(&c.ok(&["get", "svc", "-o", "wide"]));
    let lines: Vec<&str> = wide.lines().collect();
    assert_eq!(
        lines[0],
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR"
    );
    assert!(
        lines[1].starts_with("kubernetes ClusterIP 10.96.0.1 <none> 443/TCP "),
        "{wide}"
    );
    let web: Vec<&str> = lines[2].split(' ').collect();
    assert_eq!(&web[..2], ["web", "ClusterIP"]);
    assert!(web[2].starts_with("10."), "{wide}");
    assert_eq!(&web[3..5], ["<none>", "80/TCP"]);
    assert_eq!(web[6], "app=web");

    let deploy = c.file("deploy.yaml", DEPLOYMENT);
    assert_eq!(
        c.ok(&["apply", "--server-side", "-f", &deploy]).trim(),
        "deployment.apps/web serverside-applied"
    );
    let applier = c.jsonpath(
        &["deploy", "web", "--show-managed-fields"],
        r#"{.metadata.managedFields[?(@.operation=="Apply")].manager}"#,
    );
    assert_eq!(applier, "kubectl");
    // The deployment controller then owns the status (and revision annotation)
    // in one entry, as on a real cluster.
    let managers = || {
        c.jsonpath(
            &["deploy", "web", "--show-managed-fields"],
            "{.metadata.managedFields[*].manager}",
        )
    };
    assert!(
        eventually(Duration::from_secs(10), || managers()
            == "kubectl kube-controller-manager"),
        "{}",
        managers()
    );
    assert_eq!(c.jsonpath(&["deploy", "web"], "{.spec.replicas}"), "3");
    c.ok(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}"#,
    ]);
    assert_eq!(
        c.jsonpath(
            &["deploy", "web"],
            "{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"
        ),
        "nginx:1.28 80"
    );
    assert_eq!(
        c.jsonpath(&["deploy", "web"], "{.metadata.generation}"),
        "2"
    );

    assert_eq!(
        c.ok(&["delete", "-f", &svc]).trim(),
        "service \"web\" deleted"
    );
    assert_eq!(
        c.ok(&["delete", "deploy", "web"]).trim(),
        "deployment.apps \"web\" deleted"
    );
}

#[test]
fn watch_sees_changes() {
    let c = Cluster::start();
    let mut watch = c
        .kubectl_cmd(&["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out_path = c.path("watch.out");
    let mut stdout = watch.stdout.take().unwrap();
    let copier = std::thread::spawn(move || {
        let mut f = std::fs::File::create(out_path).unwrap();
        let _ = std::io::copy(&mut stdout, &mut f);
    });
    // Wait for the watch to be established (kubectl prints nothing for an empty list).
    std::thread::sleep(Duration::from_millis(800));
    c.ok(&["create", "configmap", "watched", "--from-literal=a=b"]);
    c.ok(&["label", "configmap", "watched", "x=y"]);
    c.ok(&["delete", "configmap", "watched"]);
    let seen = eventually(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(c.path("watch.out")).unwrap_or_default();
        text.contains("DELETED")
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = copier.join();
    let text = squeeze(&std::fs::read_to_string(c.path("watch.out")).unwrap_or_default());
    assert!(seen, "watch output: {text}");
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("watched"))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(events, ["ADDED", "MODIFIED", "DELETED"], "{text}");
}

#[test]
fn errors_read_like_a_real_cluster() {
    let c = Cluster::start();
    let bad = c.file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: y\n",
    );
    let err = c.fails(&["apply", "-f", &bad]);
    assert!(err.starts_with("error: error parsing "), "{err}");
    assert!(
        err.contains("error converting YAML to JSON: yaml: line"),
        "{err}"
    );

    let unknown = c.file("unknown.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\ndata:\n  a: b\nspec:\n  foo: 1\n");
    let err = c.fails(&["apply", "--validate=strict", "-f", &unknown]);
    assert_eq!(
        err.trim(),
        format!("Error from server (BadRequest): error when creating \"{unknown}\": ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"spec\"")
    );

    c.ok(&["create", "configmap", "stale", "--from-literal=a=b"]);
    let old = c.ok(&["get", "cm", "stale", "-o", "yaml"]);
    c.ok(&["label", "cm", "stale", "v=2"]);
    let stale = c.file("stale.yaml", &old);
    let err = c.fails(&["replace", "-f", &stale]);
    assert_eq!(
        err.trim(),
        format!("Error from server (Conflict): error when replacing \"{stale}\": Operation cannot be fulfilled on configmaps \"stale\": the object has been modified; please apply your changes to the latest version and try again")
    );

    let err = c.fails(&["create", "configmap", "stale", "--from-literal=a=b"]);
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"stale\" already exists"
    );
    let err = c.fails(&["get", "widgets"]);
    assert_eq!(
        err.trim(),
        "error: the server doesn't have a resource type \"widgets\""
    );
    let err = c.fails(&[
        "create",
        "configmap",
        "elsewhere",
        "-n",
        "missing",
        "--from-literal=a=b",
    ]);
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: namespaces \"missing\" not found"
    );
}

/// Every ConfigMap's `name=resourceVersion`.
const VERSIONS: &str = "{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}";

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut c = Cluster::start();
    for i in 0..20 {
        c.ok(&[
            "create",
            "configmap",
            &format!("durable-{i}"),
            "--from-literal=i=x",
        ]);
    }
    let before = c.jsonpath(&["cm"], VERSIONS);
    let max_before: u64 = before
        .split_whitespace()
        .filter_map(|kv| kv.split('=').nth(1)?.parse().ok())
        .max()
        .unwrap();
    c.stop("KILL");
    c.launch();
    let after = c.jsonpath(&["cm"], VERSIONS);
    assert_eq!(before, after);
    c.ok(&["create", "configmap", "after-restart"]);
    let rv: u64 = c
        .jsonpath(&["cm", "after-restart"], "{.metadata.resourceVersion}")
        .parse()
        .unwrap();
    assert!(rv > max_before, "{rv} <= {max_before}");
}
