//! Defaulting and write preparation for the smaller resources: Namespace,
//! Secret, Endpoints, EndpointSlice and Node.

use crate::validation::json::{child_mut, default_str, default_value, get, items_mut, remove, set};
use serde_json::{json, Value};

const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The `kubernetes.io/metadata.name` label every Namespace carries.
pub fn default_namespace(obj: &mut Value) {
    let name = get(obj, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        return;
    }
    if let Some(labels) = child_mut(obj, "metadata").and_then(|m| child_mut(m, "labels")) {
        set(labels, NAME_LABEL, json!(name));
    }
    if let Some(status) = obj.get_mut("status").filter(|s| s.is_object()) {
        default_str(status, "phase", "Active");
    }
}

/// A new Namespace is Active and carries the `kubernetes` finalizer.
pub fn prepare_namespace_create(obj: &mut Value) {
    set(obj, "status", json!({"phase": "Active"}));
    if let Some(spec) = child_mut(obj, "spec") {
        let list = spec
            .as_object_mut()
            .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
        if let Some(Value::Array(f)) = list {
            if !f.iter().any(|x| x == "kubernetes") {
                f.push(json!("kubernetes"));
            }
        }
    }
    default_namespace(obj);
}

/// Namespace updates keep spec.finalizers and status (they change through
/// the finalize and status subresources).
pub fn prepare_namespace_update(new: &mut Value, old: &Value) {
    crate::strategy::copy_field(new, old, "status");
    match get(old, &["spec", "finalizers"]).cloned() {
        Some(f) => {
            if let Some(spec) = child_mut(new, "spec") {
                set(spec, "finalizers", f);
            }
        }
        None => {
            if let Some(spec) = new.get_mut("spec") {
                remove(spec, "finalizers");
            }
        }
    }
    default_namespace(new);
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (Secret `stringData` → `data`).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Secret type Opaque; `stringData` merged into `data` (it wins), as the v1
/// conversion does.
pub fn default_secret(obj: &mut Value) {
    default_str(obj, "type", "Opaque");
    let Some(Value::Object(string_data)) = obj.get("stringData").cloned() else {
        remove(obj, "stringData");
        return;
    };
    if let Some(data) = child_mut(obj, "data") {
        for (k, v) in string_data {
            let s = v.as_str().unwrap_or("");
            set(data, &k, json!(base64_encode(s.as_bytes())));
        }
    }
    remove(obj, "stringData");
}

/// Endpoints ports default to TCP.
pub fn default_endpoints(obj: &mut Value) {
    for subset in items_mut(obj, "subsets") {
        for port in items_mut(subset, "ports") {
            default_str(port, "protocol", "TCP");
        }
    }
}

/// EndpointSlice ports default to name "" and protocol TCP.
pub fn default_endpoint_slice(obj: &mut Value) {
    for port in items_mut(obj, "ports") {
        default_value(port, "name", json!(""));
        default_str(port, "protocol", "TCP");
    }
}

/// Node allocatable defaults to capacity.
pub fn default_node(obj: &mut Value) {
    let Some(status) = obj.get_mut("status").filter(|s| s.is_object()) else {
        return;
    };
    if get(status, &["allocatable"]).is_none() {
        if let Some(cap) = get(status, &["capacity"]).cloned() {
            set(status, "allocatable", cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_create() {
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}});
        default_namespace(&mut ns);
        prepare_namespace_create(&mut ns);
        assert_eq!(
            ns,
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "demo", "labels": {"kubernetes.io/metadata.name": "demo"}},
                   "spec": {"finalizers": ["kubernetes"]},
                   "status": {"phase": "Active"}})
        );
    }

    #[test]
    fn namespace_update_keeps_finalizers_and_status() {
        let old = json!({"metadata": {"name": "demo"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        let mut new = json!({"metadata": {"name": "demo", "labels": {"x": "y"}}, "spec": {}, "status": {"phase": "Terminating"}});
        prepare_namespace_update(&mut new, &old);
        assert_eq!(new["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(new["status"], json!({"phase": "Active"}));
        assert_eq!(
            new["metadata"]["labels"]["kubernetes.io/metadata.name"],
            json!("demo")
        );
    }

    #[test]
    fn secrets() {
        assert_eq!(base64_encode(b"admin"), "YWRtaW4=");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        assert_eq!(base64_encode(b""), "");
        let mut s = json!({"data": {"a": "eA=="}, "stringData": {"a": "admin", "b": "pw"}});
        default_secret(&mut s);
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"a": "YWRtaW4=", "b": "cHc="}})
        );
    }

    #[test]
    fn endpoint_ports() {
        let mut e = json!({"subsets": [{"ports": [{"port": 80}]}]});
        default_endpoints(&mut e);
        assert_eq!(e["subsets"][0]["ports"][0]["protocol"], json!("TCP"));
        let mut s = json!({"ports": [{"port": 80}]});
        default_endpoint_slice(&mut s);
        assert_eq!(
            s["ports"][0],
            json!({"port": 80, "name": "", "protocol": "TCP"})
        );
    }

    #[test]
    fn node_allocatable() {
        let mut n = json!({"status": {"capacity": {"cpu": "2"}}});
        default_node(&mut n);
        assert_eq!(n["status"]["allocatable"], json!({"cpu": "2"}));
    }
}
