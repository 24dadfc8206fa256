//! The request bodies the benchmark writes.

use serde_json::{json, Value};

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// A small ConfigMap like an application's settings (about 250 bytes stored).
pub fn config_map(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "data": {"config.yaml": "level: info\nport: 8080\n", "key": format!("value-of-{name}")},
    })
}

/// A one-container pod that sleeps for an hour: `image` must be on the
/// node already (the benchmark imports it), nothing is pulled.
pub fn sleeping_pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"],
            }],
        },
    })
}

/// How a benchmark Service asks for addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    ClusterIp,
    NodePort,
    /// `clusterIP: None`: the same write path with no allocation.
    Headless,
}

impl ServiceKind {
    /// Every third Service is a NodePort, the rest ClusterIP.
    pub fn mixed(i: usize) -> ServiceKind {
        if i % 3 == 2 {
            ServiceKind::NodePort
        } else {
            ServiceKind::ClusterIp
        }
    }
}

/// A one-port Service selecting `app: NAME`.
pub fn service(name: &str, kind: ServiceKind) -> Value {
    let mut spec = json!({
        "selector": {"app": name},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
    });
    match kind {
        ServiceKind::ClusterIp => spec["type"] = json!("ClusterIP"),
        ServiceKind::NodePort => spec["type"] = json!("NodePort"),
        ServiceKind::Headless => {
            spec["type"] = json!("ClusterIP");
            spec["clusterIP"] = json!("None");
        }
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"app": "bench"}}, "spec": spec})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_third_of_services_are_node_ports() {
        let kinds: Vec<ServiceKind> = (0..6).map(ServiceKind::mixed).collect();
        use ServiceKind::*;
        assert_eq!(
            kinds,
            [ClusterIp, ClusterIp, NodePort, ClusterIp, ClusterIp, NodePort]
        );
        let node_ports = (0..10_000)
            .filter(|i| ServiceKind::mixed(*i) == NodePort)
            .count();
        assert_eq!(node_ports, 3333);
    }

    #[test]
    fn service_bodies() {
        let cases = [
            (ServiceKind::ClusterIp, "ClusterIP", None),
            (ServiceKind::NodePort, "NodePort", None),
            (ServiceKind::Headless, "ClusterIP", Some("None")),
        ];
        for (kind, ty, cluster_ip) in cases {
            let s = service("web", kind);
            assert_eq!(s["spec"]["type"], ty, "{kind:?}");
            assert_eq!(s["spec"]["clusterIP"].as_str(), cluster_ip, "{kind:?}");
            assert_eq!(s["metadata"]["name"], "web");
            assert_eq!(s["spec"]["selector"]["app"], "web");
        }
    }

    #[test]
    fn config_maps_and_namespaces() {
        let cm = config_map("cm-7");
        assert_eq!(cm["metadata"]["name"], "cm-7");
        assert_eq!(cm["data"]["key"], "value-of-cm-7");
        assert_eq!(namespace("bench")["metadata"]["name"], "bench");
    }

    #[test]
    fn sleeping_pods() {
        let p = sleeping_pod("pod-3", "docker.io/library/busybox:1.35");
        assert_eq!(p["kind"], "Pod");
        assert_eq!(p["metadata"]["name"], "pod-3");
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["image"], "docker.io/library/busybox:1.35");
        assert_eq!(c["command"], json!(["sleep", "3600"]));
        assert_eq!(p["spec"]["containers"].as_array().map(Vec::len), Some(1));
    }
}
