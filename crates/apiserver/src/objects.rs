//! Small helpers over JSON objects: metadata access and the stored form.
//!
//! Objects are stored without `apiVersion`/`kind` (like items of a List);
//! responses splice them back in front without re-serializing.

use k1s_api::ResourceInfo;
use serde_json::{Map, Value};

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj.as_object_mut().expect("object ensured above");
    let m = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("metadata ensured above")
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    meta(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name")
}

pub fn resource_version(obj: &Value) -> &str {
    meta_str(obj, "resourceVersion")
}

pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    meta(obj)?.get("labels")?.as_object()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    meta(obj).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|v| !v.is_null()))
}

/// Whether `r` is served in a different form than it is stored in
/// (events.k8s.io Events are stored as core/v1 Events).
pub fn converts(r: &ResourceInfo) -> bool {
    r.group == "events.k8s.io"
}

/// The storage form: core/v1 for Events, without `apiVersion` and `kind`.
pub fn to_stored(r: &ResourceInfo, obj: Value) -> Value {
    let mut obj = if converts(r) {
        k1s_api::convert::event_v1_to_core(&obj)
    } else {
        obj
    };
    if let Some(map) = obj.as_object_mut() {
        map.shift_remove("apiVersion");
        map.shift_remove("kind");
    }
    obj
}

/// Puts `kind` and `apiVersion` first, as kube-apiserver serializes objects.
pub fn with_kind(r: &ResourceInfo, obj: Value) -> Value {
    let Value::Object(map) = obj else { return obj };
    let mut out = Map::with_capacity(map.len() + 2);
    out.insert("kind".into(), Value::String(r.kind.to_string()));
    out.insert("apiVersion".into(), Value::String(r.api_version()));
    for (k, v) in map {
        if k != "kind" && k != "apiVersion" {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// A stored object as resource `r` presents it, with kind and apiVersion.
pub fn present(r: &ResourceInfo, stored: Value) -> Value {
    if converts(r) {
        with_kind(r, k1s_api::convert::event_core_to_v1(&stored))
    } else {
        with_kind(r, stored)
    }
}

/// [`present`] on raw stored bytes; splices without parsing where no
/// conversion is needed.
pub fn present_raw(r: &ResourceInfo, raw: &[u8]) -> Option<Vec<u8>> {
    if converts(r) {
        let v: Value = serde_json::from_slice(raw).ok()?;
        return serde_json::to_vec(&present(r, v)).ok();
    }
    Some(raw_with_kind(r, raw))
}

/// [`with_kind`] on raw stored bytes, without parsing them.
pub fn raw_with_kind(r: &ResourceInfo, raw: &[u8]) -> Vec<u8> {
    let head = format!(
        "{{\"kind\":\"{}\",\"apiVersion\":\"{}\"",
        r.kind,
        r.api_version()
    );
    let body = raw.strip_prefix(b"{").unwrap_or(raw);
    let mut out = Vec::with_capacity(head.len() + raw.len() + 1);
    out.extend_from_slice(head.as_bytes());
    if body.first() != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(body);
    out
}

/// RFC 3339 with second precision, as Kubernetes' `metav1.Time`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `now + seconds` in the same format (a graceful deletion's deadline).
pub fn rfc3339_after(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Characters kube-apiserver's name generator picks from (no vowels, no
/// look-alikes), five of them after `generateName`.
pub fn generate_name(base: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let mut base = base.to_string();
    // Keep the generated name within 63 characters like upstream.
    if base.len() > 58 {
        base.truncate(58);
    }
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_api::resource::lookup;
    use serde_json::json;

    #[test]
    fn splices_kind_into_raw_objects() {
        let r = lookup("apps", "deployments").unwrap();
        let raw = br#"{"metadata":{"name":"web"}}"#;
        let out: Value = serde_json::from_slice(&raw_with_kind(r, raw)).unwrap();
        assert_eq!(
            out,
            json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "web"}})
        );
        let empty: Value = serde_json::from_slice(&raw_with_kind(r, b"{}")).unwrap();
        assert_eq!(
            empty,
            json!({"kind": "Deployment", "apiVersion": "apps/v1"})
        );
    }

    #[test]
    fn generated_names_keep_the_base() {
        let n = generate_name("web-");
        assert!(n.starts_with("web-") && n.len() == 9);
    }
}
