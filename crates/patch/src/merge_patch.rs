//! JSON merge patch (RFC 7396), as kube-apiserver applies it: nulls delete,
//! objects merge recursively, everything else replaces. Like the library the
//! server uses, nulls inside newly added values are dropped rather than stored.

use serde_json::{Map, Value};

use crate::error::PatchError;

/// Applies an RFC 7396 merge patch to `target`.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut doc = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            merge_into(&mut doc, p);
            Value::Object(doc)
        }
        other => pruned(other),
    }
}

/// [`merge_patch`] with kube-apiserver's checks: a patch document must be a
/// JSON object (or an array, which replaces the document), else
/// `400 Invalid JSON Patch`.
pub fn json_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    match patch {
        Value::Object(_) | Value::Array(_) => Ok(merge_patch(target, patch)),
        _ => Err(PatchError::BadRequest("Invalid JSON Patch".into())),
    }
}

fn merge_into(doc: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            doc.shift_remove(key);
            continue;
        }
        match (doc.get_mut(key), value) {
            (Some(Value::Object(cur)), Value::Object(p)) => merge_into(cur, p),
            (Some(slot), _) if !slot.is_null() => *slot = pruned(value),
            _ => {
                doc.insert(key.clone(), pruned(value));
            }
        }
    }
}

/// A copy of a new value without null members (at any depth).
fn pruned(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), pruned(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(pruned).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7396_examples() {
        // Appendix A of RFC 7396.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(merge_patch(&target, &patch), want, "{target} + {patch}");
        }
    }

    #[test]
    fn kubernetes_cases() {
        let pod = json!({
            "metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        });
        let cases = [
            // kubectl label --type=merge style removal and addition.
            (
                json!({"metadata": {"labels": {"tier": null, "env": "prod"}}}),
                json!({
                    "metadata": {"name": "p", "labels": {"app": "web", "env": "prod"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}
                }),
            ),
            // Lists are replaced wholesale.
            (
                json!({"spec": {"containers": [{"name": "d", "image": "busybox"}]}}),
                json!({
                    "metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}},
                    "spec": {"containers": [{"name": "d", "image": "busybox"}]}
                }),
            ),
            // A null for an absent key is a no-op; nulls inside new objects are dropped.
            (
                json!({"status": null, "spec": {"nodeName": "n1", "x": {"y": null, "z": 1}}}),
                json!({
                    "metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": "n1", "x": {"z": 1}}
                }),
            ),
            // Replacing a scalar with an object.
            (
                json!({"metadata": {"name": {"a": null, "b": 2}}}),
                json!({
                    "metadata": {"name": {"b": 2}, "labels": {"app": "web", "tier": "fe"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}
                }),
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(merge_patch(&pod, &patch), want, "{patch}");
        }
    }

    #[test]
    fn preserves_key_order() {
        let got = merge_patch(&json!({"b": 1, "a": 2}), &json!({"c": 3, "b": 4}));
        let keys: Vec<&String> = got
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["b", "a", "c"]);
    }

    #[test]
    fn server_rejects_non_object_patches() {
        for patch in [json!(null), json!(5), json!("x"), json!(true)] {
            assert_eq!(
                json_merge_patch(&json!({}), &patch),
                Err(PatchError::BadRequest("Invalid JSON Patch".into())),
                "{patch}"
            );
        }
        assert_eq!(
            json_merge_patch(&json!({"a": 1}), &json!({"a": 2})),
            Ok(json!({"a": 2}))
        );
    }
}
