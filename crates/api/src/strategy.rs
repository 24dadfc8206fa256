//! Per-resource rules for the one write path: prepare, default, validate.
//! Every write — from kubectl or from an in-process controller — runs these.

use crate::field::FieldError;
use crate::resource::ResourceInfo;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub trait Strategy: Sync {
    /// Resets fields a create may not set (usually `status`).
    fn prepare_create(&self, _obj: &mut Value) {}

    /// Keeps fields an update of the main resource may not change (usually
    /// `status`, copied from `old`).
    fn prepare_update(&self, new: &mut Value, old: &Value) {
        copy_field(new, old, "status");
    }

    /// Keeps everything but `status` from `old` on a status-subresource write.
    fn prepare_status_update(&self, new: &mut Value, old: &Value) {
        for key in ["spec", "data", "binaryData", "stringData"] {
            copy_field(new, old, key);
        }
        // Status writes do not touch labels/annotations either in kube-apiserver
        // for the resources k1s serves, except through the main resource.
    }

    /// Fills defaults in place (before validation).
    fn default(&self, _obj: &mut Value) {}

    /// Validates a new object (defaults applied).
    fn validate_create(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Validates an update against the stored object.
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate_create(new)
    }

    /// Parses into the typed object and serializes back: drops unknown fields,
    /// rejects wrong types. Returns the normalized object.
    fn normalize(&self, obj: Value) -> Result<Value, String>;

    /// Whether `spec` changes bump `metadata.generation` (resources with a spec).
    fn tracks_generation(&self) -> bool {
        false
    }
}

/// Copies `old[key]` into `new[key]` (or removes it from `new` when `old` has none).
pub fn copy_field(new: &mut Value, old: &Value, key: &str) {
    let Some(map) = new.as_object_mut() else {
        return;
    };
    match old.get(key) {
        Some(v) => {
            map.insert(key.to_string(), v.clone());
        }
        None => {
            map.remove(key);
        }
    }
}

/// Round-trips a JSON value through a typed k8s-openapi struct.
pub fn roundtrip<T: DeserializeOwned + Serialize>(obj: Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// A strategy with no rules beyond typed normalization.
pub struct Plain<T> {
    pub status: bool,
    pub generation: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T> Plain<T> {
    pub const fn new(status: bool, generation: bool) -> Self {
        Plain {
            status,
            generation,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Serialize> Strategy for Plain<T> {
    fn prepare_create(&self, obj: &mut Value) {
        if self.status {
            if let Some(map) = obj.as_object_mut() {
                map.remove("status");
            }
        }
    }

    fn prepare_update(&self, new: &mut Value, old: &Value) {
        if self.status {
            copy_field(new, old, "status");
        }
    }

    fn normalize(&self, obj: Value) -> Result<Value, String> {
        roundtrip::<T>(obj)
    }

    fn tracks_generation(&self) -> bool {
        self.generation
    }
}

/// Fields present in `input` that `normalized` lost: the unknown fields that
/// `fieldValidation=Strict` rejects, as dotted paths (`spec.foo`).
pub fn unknown_fields(input: &Value, normalized: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_unknown(input, normalized, String::new(), &mut out);
    out
}

fn walk_unknown(input: &Value, norm: &Value, path: String, out: &mut Vec<String>) {
    match (input, norm) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(nv) => walk_unknown(v, nv, p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, nv)) in a.iter().zip(b.iter()).enumerate() {
                walk_unknown(v, nv, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The rules for one resource.
pub fn for_resource(r: &ResourceInfo) -> &'static dyn Strategy {
    crate::rules::strategy(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_but_not_nulls() {
        let input = json!({"metadata": {"name": "a", "bogus": 1, "labels": null}, "data": {"k": "v"}, "spec": {"ports": [{"port": 1, "nope": true}]}});
        let norm = json!({"metadata": {"name": "a"}, "data": {"k": "v"}, "spec": {"ports": [{"port": 1}]}});
        assert_eq!(
            unknown_fields(&input, &norm),
            vec!["metadata.bogus", "spec.ports[0].nope"]
        );
    }
}
