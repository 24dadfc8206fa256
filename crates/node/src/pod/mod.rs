//! The kubelet's pod-level rules, as pure functions over the API objects
//! (`serde_json::Value` as the store holds them):
//!
//! - `envvars`: Service environment variables (`{SVC}_SERVICE_HOST` …);
//! - `envsources`: `env[].valueFrom` and `envFrom` (ConfigMaps, Secrets,
//!   downward API) with the kubelet's CreateContainerConfigError texts;
//! - `downward`: fieldRef / resourceFieldRef values (env and volumes);
//! - `dnsconfig`: the pod's resolv.conf per dnsPolicy and dnsConfig;
//! - `hosts`: hostname/subdomain rules, /etc/hosts and /etc/hostname;
//! - `volumes` + `mounts`: what each volume holds and where it is mounted;
//!   `materialize` is the one thin layer that writes volume files;
//! - `probe`: the prober (HTTP, TCP, exec runners) and the probe worker;
//! - `backoff` + `phase`: container restart back-off, restart policy and
//!   the pod phase.
//!
//! Only `materialize` and the probe runners touch the outside world.

pub mod backoff;
pub mod dnsconfig;
pub mod downward;
pub mod envsources;
pub mod envvars;
pub mod hosts;
pub mod materialize;
pub mod mounts;
pub mod objects;
pub mod phase;
pub mod probe;
pub mod volumes;

use serde_json::Value;

/// `format.Pod`: how the kubelet names a pod in messages, `name_ns(uid)`.
pub fn pod_full_name(pod: &Value) -> String {
    let meta = &pod["metadata"];
    format!(
        "{}_{}({})",
        meta["name"].as_str().unwrap_or(""),
        meta["namespace"].as_str().unwrap_or(""),
        meta["uid"].as_str().unwrap_or("")
    )
}

/// A pod's containers and init containers (regular first), by name.
pub(crate) fn find_container<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
        .find(|c| c["name"].as_str() == Some(name))
}

/// A JSON array field as a slice (empty when absent).
pub(crate) fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A JSON string field ("" when absent).
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Go's `*bool` field read as `p != nil && *p`.
pub(crate) fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_name_and_container_lookup() {
        let pod = json!({
            "metadata": {"name": "web-0", "namespace": "default", "uid": "u-1"},
            "spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "init"}]}
        });
        assert_eq!(pod_full_name(&pod), "web-0_default(u-1)");
        assert_eq!(
            find_container(&pod, "init").map(|c| text(c, "name")),
            Some("init")
        );
        assert!(find_container(&pod, "nope").is_none());
    }
}
