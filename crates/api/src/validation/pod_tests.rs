//! Pod validation on create and update, after defaulting, with
//! kube-apiserver's exact messages.

use super::pod::validate_pod_create;
use super::podupdate::{validate_pod_update, UPDATABLE_POD_SPEC_FIELDS};
use crate::defaults::pod::{default_pod, prepare_pod_create};
use serde_json::{json, Value};

const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "3"},
           "spec": spec})
}

fn defaulted(spec: Value) -> Value {
    let mut p = pod(spec);
    default_pod(&mut p);
    prepare_pod_create(&mut p);
    p
}

fn create_errors(spec: Value) -> Vec<String> {
    validate_pod_create(&defaulted(spec))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn create_rejections() {
    let c = |extra: Value| {
        let mut base = json!({"name": "web", "image": "nginx"});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    };
    let cases: Vec<(&str, Value, Vec<String>)> = vec![
        ("valid", json!({"containers": [c(json!({}))]}), vec![]),
        ("no containers", json!({}), vec!["spec.containers: Required value".into()]),
        (
            "container name",
            json!({"containers": [c(json!({"name": "Web"}))]}),
            vec![format!("spec.containers[0].name: Invalid value: \"Web\": {LABEL}")],
        ),
        (
            "duplicate container names",
            json!({"containers": [c(json!({})), c(json!({}))]}),
            vec!["spec.containers[1].name: Duplicate value: \"web\"".into()],
        ),
        (
            "image required",
            json!({"containers": [{"name": "web"}]}),
            vec!["spec.containers[0].image: Required value".into()],
        ),
        (
            "image whitespace",
            json!({"containers": [c(json!({"image": " nginx"}))]}),
            vec!["spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace".into()],
        ),
        (
            "container port missing",
            json!({"containers": [c(json!({"ports": [{"name": "http"}]}))]}),
            vec!["spec.containers[0].ports[0].containerPort: Required value".into()],
        ),
        (
            "container port range",
            json!({"containers": [c(json!({"ports": [{"containerPort": 70000, "protocol": "HTTP"}]}))]}),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into(),
                "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into(),
            ],
        ),
        (
            "port name",
            json!({"containers": [c(json!({"ports": [{"name": "HTTP", "containerPort": 80}]}))]}),
            vec![
                "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
                "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)".into(),
            ],
        ),
        (
            "restart policy",
            json!({"restartPolicy": "Sometimes", "containers": [c(json!({}))]}),
            vec!["spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into()],
        ),
        (
            "dns policy",
            json!({"dnsPolicy": "Cluster", "containers": [c(json!({}))]}),
            vec!["spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"".into()],
        ),
        (
            "pull policy",
            json!({"containers": [c(json!({"imagePullPolicy": "Sometimes"}))]}),
            vec!["spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"".into()],
        ),
        (
            "unknown volume",
            json!({"containers": [c(json!({"volumeMounts": [{"name": "data", "mountPath": "/data"}]}))]}),
            vec!["spec.containers[0].volumeMounts[0].name: Not found: \"data\"".into()],
        ),
        (
            "two volume sources",
            json!({"volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/tmp"}}], "containers": [c(json!({}))]}),
            vec!["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type".into()],
        ),
        (
            "probe without handler",
            json!({"containers": [c(json!({"livenessProbe": {"periodSeconds": 5}}))]}),
            vec!["spec.containers[0].livenessProbe: Required value: must specify a handler type".into()],
        ),
        (
            "liveness success threshold",
            json!({"containers": [c(json!({"livenessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 2}}))]}),
            vec!["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1".into()],
        ),
        (
            "requests above limits",
            json!({"containers": [c(json!({"resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}}))]}),
            vec!["spec.containers[0].resources.requests[cpu]: Invalid value: \"1\": must be less than or equal to cpu limit of 500m".into()],
        ),
        (
            "restartPolicy on a regular container",
            json!({"containers": [c(json!({"restartPolicy": "Always"}))]}),
            vec!["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers".into()],
        ),
        (
            "init container shares a name",
            json!({"containers": [c(json!({}))], "initContainers": [c(json!({}))]}),
            vec!["spec.initContainers[0].name: Duplicate value: \"web\"".into()],
        ),
        (
            "ephemeral containers on create",
            json!({"containers": [c(json!({}))], "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}),
            vec!["spec.ephemeralContainers: Forbidden: cannot be set on create".into()],
        ),
        (
            "negative deadline",
            json!({"activeDeadlineSeconds": 0, "containers": [c(json!({}))]}),
            vec!["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".into()],
        ),
        (
            "hostPort conflict",
            json!({"containers": [c(json!({"ports": [{"containerPort": 80, "hostPort": 8080}]})),
                                  c(json!({"name": "b", "ports": [{"containerPort": 81, "hostPort": 8080}]}))]}),
            vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"/TCP/8080\"".into()],
        ),
    ];
    for (what, spec, want) in cases {
        assert_eq!(create_errors(spec), want, "{what}");
    }
}

fn update_errors(old: &Value, new: &Value) -> Vec<String> {
    validate_pod_update(new, old)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn updates() {
    let old = defaulted(
        json!({"containers": [{"name": "web", "image": "nginx:1.26"}], "activeDeadlineSeconds": 100}),
    );

    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    new["spec"]["activeDeadlineSeconds"] = json!(50);
    assert!(update_errors(&old, &new).is_empty());

    let mut new = old.clone();
    new["spec"]["activeDeadlineSeconds"] = json!(200);
    assert_eq!(
        update_errors(&old, &new),
        vec!["spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"]
    );

    let mut new = old.clone();
    new["spec"]["containers"][0]["command"] = json!(["sleep", "1"]);
    let errs = update_errors(&old, &new);
    assert_eq!(errs.len(), 1);
    let prefix = format!("spec: Forbidden: pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n");
    assert!(errs[0].starts_with(&prefix), "{}", errs[0]);
    assert!(errs[0].contains("containers[0].command"), "{}", errs[0]);

    let mut new = old.clone();
    if let Some(a) = new["spec"]["containers"].as_array_mut() {
        a.push(json!({"name": "b", "image": "x"}));
    }
    let mut new_spec_defaulted = new.clone();
    default_pod(&mut new_spec_defaulted);
    assert_eq!(
        update_errors(&old, &new_spec_defaulted),
        vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );

    let mut new = old.clone();
    new["spec"]["tolerations"][0]["effect"] = json!("NoSchedule");
    if let Some(t) = new["spec"]["tolerations"][0].as_object_mut() {
        t.remove("tolerationSeconds");
    }
    assert_eq!(
        update_errors(&old, &new),
        vec!["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]
    );

    // Only tolerationSeconds changes: allowed.
    let mut new = old.clone();
    new["spec"]["tolerations"][0]["tolerationSeconds"] = json!(60);
    assert!(update_errors(&old, &new).is_empty());
}
