//! How the kubelet reads ConfigMaps and Secrets (its configMapManager and
//! secretManager): a lookup by namespace/name, "not found" reported with
//! the managers' own texts (`configmap "x" not found`, `secret "x" not
//! found` — singular, as their caches name the resource), and the data of
//! each as bytes (ConfigMap `data` + `binaryData`, Secret `data` base64).

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde_json::Value;

/// The ConfigMaps and Secrets a pod can reference.
pub trait PodObjects {
    /// `Ok(None)` when the ConfigMap does not exist; `Err` for any other
    /// failure (reported as is).
    fn config_map(&self, namespace: &str, name: &str) -> Result<Option<Value>, String>;
    /// `Ok(None)` when the Secret does not exist.
    fn secret(&self, namespace: &str, name: &str) -> Result<Option<Value>, String>;
}

/// An in-memory set of ConfigMaps and Secrets (a snapshot of the store).
#[derive(Debug, Clone, Default)]
pub struct ObjectMap {
    config_maps: HashMap<(String, String), Value>,
    secrets: HashMap<(String, String), Value>,
}

impl ObjectMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a ConfigMap or Secret (by its `kind`); other kinds are ignored.
    pub fn insert(&mut self, object: Value) {
        let key = (
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        match object["kind"].as_str() {
            Some("ConfigMap") => {
                self.config_maps.insert(key, object);
            }
            Some("Secret") => {
                self.secrets.insert(key, object);
            }
            _ => {}
        }
    }

    pub fn with(mut self, object: Value) -> Self {
        self.insert(object);
        self
    }
}

impl PodObjects for ObjectMap {
    fn config_map(&self, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        Ok(self
            .config_maps
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }

    fn secret(&self, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        Ok(self
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }
}

/// Which of the two kinds a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    /// The resource name the kubelet's managers use in NotFound errors.
    fn resource(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "configmap",
            SourceKind::Secret => "secret",
        }
    }
}

/// The managers' NotFound text.
pub fn not_found(kind: SourceKind, name: &str) -> String {
    format!("{} \"{name}\" not found", kind.resource())
}

/// A ConfigMap's or Secret's data by key, or the NotFound/lookup error.
/// `Ok(None)` means "not found" so callers can honour `optional`.
pub fn lookup_data(
    objects: &dyn PodObjects,
    kind: SourceKind,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let object = match kind {
        SourceKind::ConfigMap => objects.config_map(namespace, name)?,
        SourceKind::Secret => objects.secret(namespace, name)?,
    };
    Ok(object.map(|o| match kind {
        SourceKind::ConfigMap => config_map_data(&o),
        SourceKind::Secret => secret_data(&o),
    }))
}

/// `data` (text) and `binaryData` (base64) of a ConfigMap, keys sorted.
pub fn config_map_data(cm: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Some(data) = cm["data"].as_object() {
        for (k, v) in data {
            out.insert(k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec());
        }
    }
    if let Some(data) = cm["binaryData"].as_object() {
        for (k, v) in data {
            out.insert(k.clone(), decode_base64(v));
        }
    }
    out
}

/// A Secret's `data` (base64); `stringData` is folded in (and wins) in case
/// the object was not normalised by the API server.
pub fn secret_data(secret: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Some(data) = secret["data"].as_object() {
        for (k, v) in data {
            out.insert(k.clone(), decode_base64(v));
        }
    }
    if let Some(data) = secret["stringData"].as_object() {
        for (k, v) in data {
            out.insert(k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec());
        }
    }
    out
}

/// The API server only stores valid base64; anything else reads as empty.
fn decode_base64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_of_config_maps_and_secrets() {
        let objects = ObjectMap::new()
            .with(
                json!({"kind": "ConfigMap", "metadata": {"namespace": "ns", "name": "cm"},
                "data": {"b": "2", "a": "1"}, "binaryData": {"bin": "AAEC"}}),
            )
            .with(
                json!({"kind": "Secret", "metadata": {"namespace": "ns", "name": "s"},
                "data": {"password": "czNjcjN0"}}),
            );
        let cm = lookup_data(&objects, SourceKind::ConfigMap, "ns", "cm")
            .unwrap()
            .unwrap();
        assert_eq!(
            cm.into_iter().collect::<Vec<_>>(),
            vec![
                ("a".to_string(), b"1".to_vec()),
                ("b".to_string(), b"2".to_vec()),
                ("bin".to_string(), vec![0, 1, 2]),
            ]
        );
        let s = lookup_data(&objects, SourceKind::Secret, "ns", "s")
            .unwrap()
            .unwrap();
        assert_eq!(s["password"], b"s3cr3t");
        assert_eq!(
            lookup_data(&objects, SourceKind::Secret, "other", "s"),
            Ok(None)
        );
        assert_eq!(
            not_found(SourceKind::ConfigMap, "x"),
            "configmap \"x\" not found"
        );
        assert_eq!(not_found(SourceKind::Secret, "x"), "secret \"x\" not found");
    }
}
