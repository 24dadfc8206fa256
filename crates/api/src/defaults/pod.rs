//! Pod defaulting (`SetDefaults_Pod`, `SetDefaults_PodSpec`, container,
//! probe, volume and port defaults) and the Pod registry's create-time
//! status plus the default admission plugins' effects.

use super::qos::pod_qos_class;
use crate::validation::json::{
    child_mut, default_str, default_value, get, has, int_at, items_mut, set, str_at,
};
use serde_json::{json, Map, Value};

/// Default file mode of secret/configMap/downwardAPI/projected volumes (0644).
const DEFAULT_MODE: i64 = 420;

/// `Always` for `:latest` or untagged images, else `IfNotPresent`
/// (digest-only references count as tagged; unparsable ones too).
pub fn default_image_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    let valid = !name.is_empty() && !name.bytes().any(|b| b.is_ascii_uppercase() || b == b' ');
    match (valid, tag, digest) {
        (false, _, _) => "IfNotPresent",
        (true, Some("latest"), _) => "Always",
        (true, None, None) => "Always",
        _ => "IfNotPresent",
    }
}

fn default_http_get(handler: &mut Value) {
    if let Some(http) = handler.get_mut("httpGet").filter(|h| h.is_object()) {
        default_str(http, "path", "/");
        default_str(http, "scheme", "HTTP");
    }
}

fn default_probe(probe: &mut Value) {
    for (key, value) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        if int_at(probe, key).unwrap_or(0) == 0 {
            set(probe, key, json!(value));
        }
    }
    default_http_get(probe);
    if let Some(grpc) = probe.get_mut("grpc").filter(|g| g.is_object()) {
        default_value(grpc, "service", json!(""));
    }
}

fn default_field_ref(holder: &mut Value) {
    if let Some(fr) = holder.get_mut("fieldRef").filter(|f| f.is_object()) {
        default_str(fr, "apiVersion", "v1");
    }
}

/// `SetDefaults_Container` plus the nested port/env/probe/lifecycle defaults.
pub fn default_container(c: &mut Value) {
    if str_at(c, "imagePullPolicy").is_empty() {
        let policy = default_image_pull_policy(str_at(c, "image"));
        set(c, "imagePullPolicy", json!(policy));
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    for port in items_mut(c, "ports") {
        default_str(port, "protocol", "TCP");
    }
    for env in items_mut(c, "env") {
        if let Some(vf) = env.get_mut("valueFrom").filter(|v| v.is_object()) {
            default_field_ref(vf);
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(key).filter(|p| p.is_object()) {
            default_probe(p);
        }
    }
    if let Some(lc) = c.get_mut("lifecycle").filter(|l| l.is_object()) {
        for key in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(key).filter(|h| h.is_object()) {
                default_http_get(h);
            }
        }
    }
}

fn default_items_field_refs(source: &mut Value) {
    for item in items_mut(source, "items") {
        default_field_ref(item);
    }
}

/// `SetDefaults_Volume` and the per-source defaults.
pub fn default_volume(v: &mut Value) {
    let has_source = v
        .as_object()
        .is_some_and(|m| m.iter().any(|(k, x)| k != "name" && !x.is_null()));
    if !has_source {
        set(v, "emptyDir", json!({}));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = v.get_mut(key).filter(|s| s.is_object()) {
            default_value(src, "defaultMode", json!(DEFAULT_MODE));
        }
    }
    if let Some(hp) = v.get_mut("hostPath").filter(|h| h.is_object()) {
        default_value(hp, "type", json!(""));
    }
    if let Some(d) = v.get_mut("downwardAPI").filter(|d| d.is_object()) {
        default_items_field_refs(d);
    }
    if let Some(p) = v.get_mut("projected").filter(|p| p.is_object()) {
        for src in items_mut(p, "sources") {
            if let Some(d) = src.get_mut("downwardAPI").filter(|d| d.is_object()) {
                default_items_field_refs(d);
            }
            if let Some(t) = src.get_mut("serviceAccountToken").filter(|t| t.is_object()) {
                default_value(t, "expirationSeconds", json!(3600));
            }
        }
    }
}

/// `SetDefaults_PodSpec` and everything nested in it: what Pods and the
/// pod templates of Deployments/ReplicaSets get.
pub fn default_pod_spec(spec: &mut Value) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_value(spec, "securityContext", json!({}));
    default_value(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in items_mut(spec, key) {
            default_container(c);
        }
    }
    for v in items_mut(spec, "volumes") {
        default_volume(v);
    }
}

fn copy_limits_to_requests(c: &mut Value) {
    let Some(limits) = get(c, &["resources", "limits"])
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let Some(res) = child_mut(c, "resources") else {
        return;
    };
    let requests = res.as_object_mut().map(|m| {
        m.entry("requests")
            .or_insert_with(|| Value::Object(Map::new()))
    });
    if let Some(Value::Object(req)) = requests {
        for (k, v) in limits {
            req.entry(k).or_insert(v);
        }
    }
}

/// `SetDefaults_Pod` + `SetDefaults_PodSpec`: the full defaulting of a Pod.
pub fn default_pod(obj: &mut Value) {
    let Some(spec) = child_mut(obj, "spec") else {
        return;
    };
    for key in ["containers", "initContainers"] {
        for c in items_mut(spec, key) {
            copy_limits_to_requests(c);
        }
    }
    default_value(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for key in ["containers", "initContainers"] {
            for c in items_mut(spec, key) {
                for p in items_mut(c, "ports") {
                    if int_at(p, "hostPort").unwrap_or(0) == 0 {
                        let cp = int_at(p, "containerPort").unwrap_or(0);
                        set(p, "hostPort", json!(cp));
                    }
                }
            }
        }
    }
    default_pod_spec(spec);
}

/// Tolerations kube-apiserver's DefaultTolerationSeconds plugin adds.
fn default_tolerations(spec: &mut Value) {
    let list = spec
        .as_object_mut()
        .map(|m| m.entry("tolerations").or_insert_with(|| json!([])));
    let Some(Value::Array(tols)) = list else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let covered = tols.iter().any(|t| {
            let k = str_at(t, "key");
            let e = str_at(t, "effect");
            (k == key || (k.is_empty() && str_at(t, "operator") == "Exists"))
                && (e.is_empty() || e == "NoExecute")
        });
        if !covered {
            tols.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// What the Pod registry and v1.32's default mutating admission plugins do
/// to a new Pod: status Pending with its QoS class, serviceAccountName
/// "default" (ServiceAccount), priority 0 (Priority) and the not-ready /
/// unreachable tolerations (DefaultTolerationSeconds).
pub fn prepare_pod_create(obj: &mut Value) {
    let qos = pod_qos_class(obj);
    set(obj, "status", json!({"phase": "Pending", "qosClass": qos}));
    let Some(spec) = child_mut(obj, "spec") else {
        return;
    };
    if str_at(spec, "serviceAccountName").is_empty() {
        let sa = match str_at(spec, "serviceAccount") {
            "" => "default".to_string(),
            other => other.to_string(),
        };
        set(spec, "serviceAccountName", json!(sa));
    }
    let sa = str_at(spec, "serviceAccountName").to_string();
    set(spec, "serviceAccount", json!(sa));
    if !has(spec, "priority") && str_at(spec, "priorityClassName").is_empty() {
        set(spec, "priority", json!(0));
        default_value(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
    default_tolerations(spec);
    let gated = spec
        .get("schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if gated {
        if let Some(status) = obj.get_mut("status") {
            set(
                status,
                "conditions",
                json!([{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated", "message": "Scheduling is blocked due to non-empty scheduling gates"}]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policies() {
        let cases = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("registry.local:5000/nginx", "Always"),
            ("registry.local:5000/nginx:1", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
            ("busybox:latest@sha256:abcd", "Always"),
            ("Bad/Image", "IfNotPresent"),
        ];
        for (image, want) in cases {
            assert_eq!(default_image_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn pod_golden() {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "containers": [{
                    "name": "nginx", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "readinessProbe": {"httpGet": {"port": 80}},
                    "resources": {"limits": {"cpu": "1", "memory": "128Mi"}},
                    "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]
                }],
                "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "scratch"}]
            }
        });
        default_pod(&mut pod);
        prepare_pod_create(&mut pod);
        assert_eq!(
            pod,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "containers": [{
                        "name": "nginx", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
                        "readinessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                           "timeoutSeconds": 1, "periodSeconds": 10,
                                           "successThreshold": 1, "failureThreshold": 3},
                        "resources": {"limits": {"cpu": "1", "memory": "128Mi"},
                                      "requests": {"cpu": "1", "memory": "128Mi"}},
                        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
                        "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
                                {"name": "scratch", "emptyDir": {}}],
                    "enableServiceLinks": true,
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                    "schedulerName": "default-scheduler",
                    "serviceAccountName": "default",
                    "serviceAccount": "default",
                    "priority": 0,
                    "preemptionPolicy": "PreemptLowerPriority",
                    "tolerations": [
                        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                    ]
                },
                "status": {"phase": "Pending", "qosClass": "Guaranteed"}
            })
        );
    }

    #[test]
    fn host_network_ports_get_host_ports() {
        let mut pod = json!({"spec": {"hostNetwork": true, "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 53}]}]}});
        default_pod(&mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["ports"][0]["hostPort"],
            json!(53)
        );
    }
}
