//! Lenient readers for JSON objects: a missing or mistyped field reads as
//! Go's zero value, which is what the upstream printers see after decoding.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The value at `path`, if every step exists.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(key))
}

/// String at `path`, or "" when absent.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// Integer at `path`, or 0 when absent.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    at(v, path).and_then(Value::as_i64).unwrap_or(0)
}

/// Integer at `path`, if present.
pub(crate) fn opt_int_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

/// Boolean at `path`, or false when absent.
pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// Array at `path`, or an empty slice.
pub(crate) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Object at `path`, if present.
pub(crate) fn obj_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    at(v, path).and_then(Value::as_object)
}

/// Number of entries of the map at `path` (0 when absent).
pub(crate) fn map_len(v: &Value, path: &[&str]) -> usize {
    obj_at(v, path).map_or(0, Map::len)
}

/// RFC 3339 timestamp at `path`; `None` is Go's zero time.
pub(crate) fn time_at(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    let s = str_at(v, path);
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_fields_read_as_zero_values() {
        let v = json!({"spec": {"replicas": 3, "name": "x", "flag": true, "items": [1]}});
        assert_eq!(str_at(&v, &["spec", "name"]), "x");
        assert_eq!(str_at(&v, &["spec", "nope"]), "");
        assert_eq!(str_at(&v, &["spec", "replicas"]), "");
        assert_eq!(int_at(&v, &["spec", "replicas"]), 3);
        assert_eq!(int_at(&v, &["status", "replicas"]), 0);
        assert_eq!(opt_int_at(&v, &["status", "replicas"]), None);
        assert!(bool_at(&v, &["spec", "flag"]));
        assert_eq!(arr_at(&v, &["spec", "items"]).len(), 1);
        assert!(arr_at(&v, &["spec", "name"]).is_empty());
        assert_eq!(map_len(&v, &["spec"]), 4);
        assert!(time_at(&v, &["metadata", "creationTimestamp"]).is_none());
    }

    #[test]
    fn parses_rfc3339_with_and_without_fraction() {
        let v = json!({"a": "2026-11-23T07:58:18Z", "b": "2026-11-23T07:58:18.250000Z"});
        let a = time_at(&v, &["a"]).unwrap();
        let b = time_at(&v, &["b"]).unwrap();
        assert_eq!((b - a).num_milliseconds(), 250);
    }
}
