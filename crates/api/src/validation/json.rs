//! Small read/write helpers over `serde_json::Value` so rules read like the
//! Go code they mirror (`spec.ports[i].name` → `str_at(port, "name")`).
//! A missing field reads as Go's zero value ("" / 0 / empty list).

use serde_json::{Map, Value};

/// Follows `keys` through nested objects.
pub fn get<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = cur.get(*k)?;
    }
    if cur.is_null() {
        None
    } else {
        Some(cur)
    }
}

/// A string field, "" when absent or not a string.
pub fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A string at a nested path, "" when absent.
pub fn str_path<'a>(v: &'a Value, keys: &[&str]) -> &'a str {
    get(v, keys).and_then(Value::as_str).unwrap_or("")
}

/// An integer field (None when absent).
pub fn int_at(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// A list field, empty when absent.
pub fn arr_at<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A list at a nested path, empty when absent.
pub fn arr_path<'a>(v: &'a Value, keys: &[&str]) -> &'a [Value] {
    get(v, keys)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The strings of a list field (non-strings skipped).
pub fn strings_at<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    arr_at(v, key).iter().filter_map(Value::as_str).collect()
}

/// A map field, None when absent.
pub fn obj_at<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// Whether a field is present and not null.
pub fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

/// Whether a map/list field is present with at least one entry.
pub fn non_empty(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        _ => false,
    }
}

/// The child object at `key`, created (replacing non-objects) when missing.
pub fn child_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let map = v.as_object_mut()?;
    let entry = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    Some(entry)
}

/// Sets `key` when it is absent, null or "" (Go's "unset" for strings).
pub fn default_str(v: &mut Value, key: &str, value: &str) {
    let unset = match v.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    };
    if unset {
        set(v, key, Value::String(value.to_string()));
    }
}

/// Sets `key` when it is absent or null.
pub fn default_value(v: &mut Value, key: &str, value: Value) {
    if !has(v, key) {
        set(v, key, value);
    }
}

/// Inserts `key` into an object (no-op on non-objects).
pub fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(map) = v.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

/// Removes `key` from an object (no-op on non-objects).
pub fn remove(v: &mut Value, key: &str) {
    if let Some(map) = v.as_object_mut() {
        map.remove(key);
    }
}

/// Mutable items of a list field (none when absent).
pub fn items_mut<'a>(v: &'a mut Value, key: &str) -> std::slice::IterMut<'a, Value> {
    match v.get_mut(key).and_then(Value::as_array_mut) {
        Some(a) => a.iter_mut(),
        None => [].iter_mut(),
    }
}

/// Semantic equality for "field is immutable": absent, null and Go zero
/// values of the same shape compare equal.
pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn norm(v: Option<&Value>) -> Option<&Value> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::Array(x)) if x.is_empty() => None,
            Some(Value::Object(x)) if x.is_empty() => None,
            other => other,
        }
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_zero_values_for_missing_fields() {
        let v = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}, "n": null});
        assert_eq!(str_path(&v, &["spec", "type"]), "NodePort");
        assert_eq!(str_path(&v, &["spec", "nope"]), "");
        assert_eq!(arr_path(&v, &["spec", "ports"]).len(), 1);
        assert!(get(&v, &["n"]).is_none());
        assert!(!has(&v, "n"));
    }

    #[test]
    fn defaults_only_unset_fields() {
        let mut v = json!({"a": "", "b": "x"});
        default_str(&mut v, "a", "A");
        default_str(&mut v, "b", "B");
        default_str(&mut v, "c", "C");
        assert_eq!(v, json!({"a": "A", "b": "x", "c": "C"}));
    }

    #[test]
    fn same_treats_zero_values_alike() {
        assert!(same(None, Some(&json!(""))));
        assert!(same(Some(&json!([])), None));
        assert!(!same(Some(&json!("a")), None));
    }
}
