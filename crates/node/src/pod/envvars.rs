//! Service environment variables, as the kubelet's `getServiceEnvVarMap`
//! and `envvars.FromServices` make them:
//!
//! - Services with a ClusterIP (not "None", not empty — so neither headless
//!   nor ExternalName) in the pod's namespace when `enableServiceLinks`
//!   (default true), plus the master Service `kubernetes` of `default`,
//!   which is always included; a same-named Service of the pod's own
//!   namespace wins over it.
//! - Per Service: `{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT` (first port),
//!   `{SVC}_SERVICE_PORT_{NAME}` for named ports, then the Docker-link
//!   variables `{SVC}_PORT` (first port) and
//!   `{SVC}_PORT_{P}_{PROTO}[_PROTO|_PORT|_ADDR]` for every port; names are
//!   upper-cased with '-' → '_'.
//!
//! The kubelet keeps these in a Go map (random order); here Services come
//! in name order and each Service's variables in the order above.
//! Whether a Service "existed before the pod" is the caller's choice of
//! the list it passes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{items, text};

const MASTER_SERVICE: &str = "kubernetes";
const MASTER_NAMESPACE: &str = "default";

/// The Service variables for `pod` (its namespace and
/// `spec.enableServiceLinks`, nil read as true like the API default).
pub fn service_env_for_pod(pod: &Value, services: &[Value]) -> Vec<(String, String)> {
    let namespace = text(&pod["metadata"], "namespace");
    let links = pod["spec"]["enableServiceLinks"].as_bool().unwrap_or(true);
    service_env(services, namespace, links)
}

/// `getServiceEnvVarMap` + `FromServices` over all Services of the cluster.
pub fn service_env(
    services: &[Value],
    pod_namespace: &str,
    enable_service_links: bool,
) -> Vec<(String, String)> {
    let mut chosen: BTreeMap<&str, &Value> = BTreeMap::new();
    for svc in services.iter().filter(|s| has_cluster_ip(s)) {
        let name = text(&svc["metadata"], "name");
        let namespace = text(&svc["metadata"], "namespace");
        if namespace == MASTER_NAMESPACE && name == MASTER_SERVICE {
            chosen.entry(name).or_insert(svc);
        } else if namespace == pod_namespace && enable_service_links {
            chosen.insert(name, svc);
        }
    }
    let list: Vec<&Value> = chosen.into_values().collect();
    dedup_last_wins(from_services(&list))
}

/// `v1helper.IsServiceIPSet`.
pub fn has_cluster_ip(svc: &Value) -> bool {
    let ip = text(&svc["spec"], "clusterIP");
    !ip.is_empty() && ip != "None"
}

/// `envvars.FromServices`: the variables of each Service, in order.
pub fn from_services(services: &[&Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for svc in services.iter().filter(|s| has_cluster_ip(s)) {
        let ports = items(&svc["spec"], "ports");
        let Some(first) = ports.first() else {
            continue;
        };
        let ip = text(&svc["spec"], "clusterIP");
        let prefix = env_name(text(&svc["metadata"], "name"));
        out.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
        let service_port = format!("{prefix}_SERVICE_PORT");
        out.push((service_port.clone(), port_number(first).to_string()));
        for port in ports {
            let name = text(port, "name");
            if !name.is_empty() {
                out.push((
                    format!("{service_port}_{}", env_name(name)),
                    port_number(port).to_string(),
                ));
            }
        }
        out.extend(link_variables(&prefix, ip, ports));
    }
    out
}

/// Docker-link compatible variables; the first port also gives `{SVC}_PORT`.
fn link_variables(prefix: &str, ip: &str, ports: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let protocol = match text(port, "protocol") {
            "" => "TCP",
            p => p,
        };
        let number = port_number(port);
        let url = format!("{}://{ip}:{number}", protocol.to_lowercase());
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!("{prefix}_PORT_{number}_{}", protocol.to_uppercase());
        out.push((port_prefix.clone(), url));
        out.push((format!("{port_prefix}_PROTO"), protocol.to_lowercase()));
        out.push((format!("{port_prefix}_PORT"), number.to_string()));
        out.push((format!("{port_prefix}_ADDR"), ip.to_string()));
    }
    out
}

/// `makeEnvVariableName`.
fn env_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

fn port_number(port: &Value) -> i64 {
    port["port"].as_i64().unwrap_or(0)
}

/// The kubelet collects into a map: a repeated name keeps its last value
/// (at the position where it first appeared here).
fn dedup_last_wins(vars: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for (k, v) in vars {
        match out.iter_mut().find(|(o, _)| *o == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name},
               "spec": {"clusterIP": ip, "ports": ports}})
    }

    fn kubernetes() -> Value {
        svc(
            "default",
            "kubernetes",
            "10.96.0.1",
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]),
        )
    }

    fn lines(vars: &[(String, String)]) -> Vec<String> {
        vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// `printenv` in any pod of a kubeadm cluster (KUBERNETES_* block).
    #[test]
    fn master_service_golden() {
        let got = service_env(&[kubernetes()], "default", true);
        assert_eq!(
            lines(&got),
            [
                "KUBERNETES_SERVICE_HOST=10.96.0.1",
                "KUBERNETES_SERVICE_PORT=443",
                "KUBERNETES_SERVICE_PORT_HTTPS=443",
                "KUBERNETES_PORT=tcp://10.96.0.1:443",
                "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
                "KUBERNETES_PORT_443_TCP_PROTO=tcp",
                "KUBERNETES_PORT_443_TCP_PORT=443",
                "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
            ]
        );
        // Always there, even without service links and from other namespaces.
        assert_eq!(service_env(&[kubernetes()], "prod", false), got);
    }

    /// The Service docs' "redis-primary" example (unnamed port, protocol
    /// defaulted) and the "Connecting Applications with Services" output.
    #[test]
    fn docs_examples() {
        let redis = svc(
            "default",
            "redis-primary",
            "10.0.0.11",
            json!([{"port": 6379}]),
        );
        assert_eq!(
            lines(&service_env(&[redis], "default", true)),
            [
                "REDIS_PRIMARY_SERVICE_HOST=10.0.0.11",
                "REDIS_PRIMARY_SERVICE_PORT=6379",
                "REDIS_PRIMARY_PORT=tcp://10.0.0.11:6379",
                "REDIS_PRIMARY_PORT_6379_TCP=tcp://10.0.0.11:6379",
                "REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp",
                "REDIS_PRIMARY_PORT_6379_TCP_PORT=6379",
                "REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.0.0.11",
            ]
        );
        // kubectl exec my-nginx-… -- printenv | grep SERVICE
        let master = svc(
            "default",
            "kubernetes",
            "10.0.0.1",
            json!([{"name": "https", "port": 443}]),
        );
        let nginx = svc(
            "default",
            "my-nginx",
            "10.0.162.149",
            json!([{"port": 80, "protocol": "TCP"}]),
        );
        let mut got: Vec<String> = lines(&service_env(&[nginx, master], "default", true))
            .into_iter()
            .filter(|l| l.contains("SERVICE"))
            .collect();
        got.sort();
        let mut want = vec![
            "KUBERNETES_SERVICE_PORT=443",
            "MY_NGINX_SERVICE_HOST=10.0.162.149",
            "KUBERNETES_SERVICE_HOST=10.0.0.1",
            "MY_NGINX_SERVICE_PORT=80",
            "KUBERNETES_SERVICE_PORT_HTTPS=443",
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn which_services_count() {
        let services = vec![
            kubernetes(),
            svc(
                "default",
                "web",
                "10.96.10.20",
                json!([
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "dns-udp", "port": 53, "protocol": "UDP"}]),
            ),
            svc("default", "web-headless", "None", json!([{"port": 80}])),
            json!({"metadata": {"namespace": "default", "name": "db"},
                   "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
            svc("other", "elsewhere", "10.96.0.77", json!([{"port": 1}])),
        ];
        let got = service_env(&services, "default", true);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"WEB_SERVICE_PORT_DNS_UDP"));
        assert!(names.contains(&"WEB_PORT_53_UDP_PROTO"));
        assert!(!names
            .iter()
            .any(|n| n.starts_with("WEB_HEADLESS") || n.starts_with("DB_")));
        assert!(!names.iter().any(|n| n.starts_with("ELSEWHERE")));
        let get = |k: &str| got.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("WEB_PORT"), Some("tcp://10.96.10.20:80"));
        assert_eq!(get("WEB_PORT_53_UDP"), Some("udp://10.96.10.20:53"));
        assert_eq!(get("WEB_SERVICE_PORT"), Some("80"));
        // enableServiceLinks: false keeps only the master Service.
        let pod =
            json!({"metadata": {"namespace": "default"}, "spec": {"enableServiceLinks": false}});
        let only_master = service_env_for_pod(&pod, &services);
        assert!(only_master
            .iter()
            .all(|(k, _)| k.starts_with("KUBERNETES_")));
        assert_eq!(only_master.len(), 8);
        // A namespace's own `kubernetes` Service wins over the master one.
        let local = svc("team", "kubernetes", "10.96.5.5", json!([{"port": 8443}]));
        let got = service_env(&[kubernetes(), local], "team", true);
        assert!(lines(&got).contains(&"KUBERNETES_SERVICE_HOST=10.96.5.5".to_string()));
        assert!(!lines(&got).contains(&"KUBERNETES_SERVICE_HOST=10.96.0.1".to_string()));
    }
}
