//! JSON patch (RFC 6902) with the semantics and error wording of the library
//! kube-apiserver uses (evanphx/json-patch v4): negative array indices count
//! from the end, `replace` of a missing object member adds it, `add`/`copy`
//! without a value store null.

use serde_json::{Map, Value};

use crate::error::PatchError;

/// kube-apiserver's limit on operations per JSON patch.
pub const MAX_OPERATIONS: usize = 10000;

/// Applies an RFC 6902 patch document to `target`.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = decode(patch)?;
    if ops.len() > MAX_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    let mut doc = target.clone();
    for op in ops {
        apply_op(&mut doc, op).map_err(PatchError::Unprocessable)?;
    }
    Ok(doc)
}

/// Operations decode as JSON objects; anything else is a 400 with Go's
/// unmarshal wording. A null document is an empty patch.
fn decode(patch: &Value) -> Result<Vec<Option<&Map<String, Value>>>, PatchError> {
    let items = match patch {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(unmarshal_error(other, "jsonpatch.Patch")),
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(m) => Ok(Some(m)),
            Value::Null => Ok(None),
            other => Err(unmarshal_error(other, "jsonpatch.Operation")),
        })
        .collect()
}

fn unmarshal_error(value: &Value, go_type: &str) -> PatchError {
    PatchError::BadRequest(format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        json_kind(value)
    ))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const MISSING: &str = "missing value";

/// Reads a string member of an operation (`path`, `from`).
fn string_field(
    op: Option<&Map<String, Value>>,
    name: &str,
    missing: &str,
) -> Result<String, String> {
    match op.and_then(|m| m.get(name)) {
        None | Some(Value::Null) => Err(format!("{missing}: {MISSING}")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            json_kind(other)
        )),
    }
}

fn path_of(op: Option<&Map<String, Value>>) -> Result<String, String> {
    string_field(op, "path", "operation missing path field")
}

fn from_of(op: Option<&Map<String, Value>>) -> Result<String, String> {
    string_field(op, "from", "operation, missing from field")
}

/// The operation's value; an absent member reads as null.
fn value_of(op: Option<&Map<String, Value>>) -> Value {
    op.and_then(|m| m.get("value"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn apply_op(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let kind = match op.and_then(|m| m.get("op")) {
        Some(Value::String(s)) => s.as_str(),
        _ => "unknown",
    };
    match kind {
        "add" => add(doc, op),
        "remove" => remove(doc, op),
        "replace" => replace(doc, op),
        "move" => move_op(doc, op),
        "test" => test(doc, op),
        "copy" => copy(doc, op),
        other => Err(format!("Unexpected kind: {other}")),
    }
}

fn add(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path =
        path_of(op).map_err(|_| format!("add operation failed to decode path: {MISSING}"))?;
    let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("add operation does not apply: doc is missing path: \"{path}\": {MISSING}")
    })?;
    container_add(parent, &key, value_of(op))
        .map_err(|e| format!("error in add for path: '{path}': {e}"))
}

fn remove(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path =
        path_of(op).map_err(|_| format!("remove operation failed to decode path: {MISSING}"))?;
    let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("remove operation does not apply: doc is missing path: \"{path}\": {MISSING}")
    })?;
    container_remove(parent, &key)
        .map(drop)
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn replace(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path = path_of(op).map_err(|e| format!("replace operation failed to decode path: {e}"))?;
    if path.is_empty() {
        // The whole document; values that are neither object nor array are ignored.
        let value = value_of(op);
        if value.is_object() || value.is_array() {
            *doc = value;
        }
        return Ok(());
    }
    let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("replace operation does not apply: doc is missing path: {path}: {MISSING}")
    })?;
    container_get(parent, &key).map_err(|_| {
        format!("replace operation does not apply: doc is missing key: {path}: {MISSING}")
    })?;
    container_set(parent, &key, value_of(op))
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn move_op(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let from = from_of(op).map_err(|e| format!("move operation failed to decode from: {e}"))?;
    let (parent, key) = find_parent(doc, &from).ok_or_else(|| {
        format!("move operation does not apply: doc is missing from path: {from}: {MISSING}")
    })?;
    container_get(parent, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let value = container_remove(parent, &key)
        .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let path = path_of(op).map_err(|e| format!("move operation failed to decode path: {e}"))?;
    let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("move operation does not apply: doc is missing destination path: {path}: {MISSING}")
    })?;
    container_add(parent, &key, value).map_err(|e| format!("error in move for path: '{path}': {e}"))
}

fn test(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let path = path_of(op).map_err(|e| format!("test operation failed to decode path: {e}"))?;
    let failed = || format!("testing value {path} failed: test failed");
    let expected = op.and_then(|m| m.get("value"));
    if path.is_empty() {
        return if expected == Some(&*doc) {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("test operation does not apply: is missing path: {path}: {MISSING}")
    })?;
    let actual = container_get(parent, &key)
        .map_err(|e| format!("error in test for path: '{path}': {e}"))?;
    match (actual, expected) {
        // A missing or null member matches a null (or absent) value.
        (None, None | Some(Value::Null)) => Ok(()),
        (Some(a), Some(e)) if a == *e => Ok(()),
        _ => Err(failed()),
    }
}

fn copy(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let from = from_of(op).map_err(|e| format!("copy operation failed to decode from: {e}"))?;
    let (parent, key) = find_parent(doc, &from).ok_or_else(|| {
        format!("copy operation does not apply: doc is missing from path: {from}: {MISSING}")
    })?;
    let value = container_get(parent, &key)
        .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
        .unwrap_or(Value::Null);
    let path =
        path_of(op).map_err(|_| format!("copy operation failed to decode path: {MISSING}"))?;
    let (parent, key) = find_parent(doc, &path).ok_or_else(|| {
        format!("copy operation does not apply: doc is missing destination path: {path}: {MISSING}")
    })?;
    container_add(parent, &key, value)
        .map_err(|e| format!("error while adding value during copy: {e}"))
}

/// RFC 6901 unescaping (`~1` → `/`, then `~0` → `~`, in one pass).
fn unescape(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    chars.next();
                    out.push('/');
                    continue;
                }
                Some('0') => {
                    chars.next();
                    out.push('~');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// The object or array holding the last token of `path`, and that token.
/// Intermediate members must exist and be objects or arrays.
fn find_parent<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let tokens: Vec<&str> = path.split('/').collect();
    if tokens.len() < 2 {
        return None;
    }
    let mut cur = doc;
    for token in &tokens[1..tokens.len() - 1] {
        let key = unescape(token);
        let next = match cur {
            Value::Object(m) => m.get_mut(&key),
            Value::Array(items) => {
                let idx = resolve_index(&key, items.len()).ok()?;
                items.get_mut(idx)
            }
            _ => None,
        }?;
        if !(next.is_object() || next.is_array()) {
            return None;
        }
        cur = next;
    }
    Some((cur, unescape(tokens[tokens.len() - 1])))
}

/// Go's strconv.Atoi: optional sign, ASCII digits, fits in 64 bits.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            crate::gofmt::quote(s)
        ));
    }
    s.trim_start_matches('+').parse::<i64>().map_err(|_| {
        format!(
            "strconv.Atoi: parsing {}: value out of range",
            crate::gofmt::quote(s)
        )
    })
}

fn invalid_index(idx: i64) -> String {
    format!("Unable to access invalid index: {idx}: invalid index referenced")
}

/// An existing array position; negative indices count from the end.
fn resolve_index(key: &str, len: usize) -> Result<usize, String> {
    let idx = atoi(key)?;
    let len = len as i64;
    let pos = if idx < 0 {
        if idx < -len {
            return Err(invalid_index(idx));
        }
        idx + len
    } else {
        idx
    };
    if pos >= len {
        return Err(invalid_index(pos));
    }
    Ok(pos as usize)
}

fn container_get(parent: &Value, key: &str) -> Result<Option<Value>, String> {
    match parent {
        Value::Object(m) => Ok(m.get(key).filter(|v| !v.is_null()).cloned()),
        Value::Array(items) => {
            let idx = resolve_index(key, items.len())?;
            Ok(items.get(idx).filter(|v| !v.is_null()).cloned())
        }
        _ => Ok(None),
    }
}

fn container_add(parent: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match parent {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            if key == "-" {
                items.push(value);
                return Ok(());
            }
            let idx = atoi(key)
                .map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            let size = items.len() as i64 + 1;
            if idx >= size {
                return Err(invalid_index(idx));
            }
            let pos = if idx < 0 {
                if idx < -size {
                    return Err(invalid_index(idx));
                }
                idx + size
            } else {
                idx
            };
            items.insert(pos as usize, value);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn container_set(parent: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match parent {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            let idx = resolve_index(key, items.len())?;
            items[idx] = value;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Removes and returns the member; object members must exist (null counts).
fn container_remove(parent: &mut Value, key: &str) -> Result<Value, String> {
    match parent {
        Value::Object(m) => m
            .shift_remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: {MISSING}")),
        Value::Array(items) => {
            let idx = atoi(key)?;
            let len = items.len() as i64;
            if idx >= len {
                return Err(invalid_index(idx));
            }
            let pos = if idx < 0 {
                if idx < -len {
                    return Err(invalid_index(idx));
                }
                idx + len
            } else {
                idx
            };
            Ok(items.remove(pos as usize))
        }
        _ => Ok(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.25"},
                    {"name": "side", "image": "busybox"}
                ]}}
            }
        })
    }

    #[test]
    fn successful_operations() {
        let cases = [
            (
                json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]),
                "/spec/replicas",
                json!(5),
            ),
            (
                json!([{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}]),
                "/metadata/labels",
                json!({"app": "web", "tier": "fe"}),
            ),
            (
                json!([{"op": "remove", "path": "/metadata/labels/app"}]),
                "/metadata/labels",
                json!({}),
            ),
            (
                json!([{"op": "add", "path": "/metadata/finalizers/-", "value": "c"}]),
                "/metadata/finalizers",
                json!(["a", "b", "c"]),
            ),
            (
                json!([{"op": "add", "path": "/metadata/finalizers/0", "value": "z"}]),
                "/metadata/finalizers",
                json!(["z", "a", "b"]),
            ),
            (
                json!([{"op": "add", "path": "/metadata/finalizers/-1", "value": "z"}]),
                "/metadata/finalizers",
                json!(["a", "b", "z"]),
            ),
            (
                json!([{"op": "remove", "path": "/metadata/finalizers/-1"}]),
                "/metadata/finalizers",
                json!(["a"]),
            ),
            (
                json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.26"}]),
                "/spec/template/spec/containers/0/image",
                json!("nginx:1.26"),
            ),
            (
                json!([{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/name"}]),
                "/metadata/labels",
                json!({"name": "web"}),
            ),
            (
                json!([{"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"}]),
                "/metadata/annotations",
                json!({"app": "web"}),
            ),
            (
                json!([{"op": "test", "path": "/spec/replicas", "value": 3},
                       {"op": "replace", "path": "/spec/replicas", "value": 1}]),
                "/spec/replicas",
                json!(1),
            ),
            // v4 quirks: replace of a missing member adds it; add without value stores null.
            (
                json!([{"op": "replace", "path": "/spec/paused", "value": true}]),
                "/spec/paused",
                json!(true),
            ),
            (
                json!([{"op": "add", "path": "/spec/x"}]),
                "/spec/x",
                json!(null),
            ),
            // A missing member tests equal to null.
            (
                json!([{"op": "test", "path": "/spec/nothing", "value": null}]),
                "/spec/replicas",
                json!(3),
            ),
            // Escaped tokens.
            (
                json!([{"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "x"}]),
                "/metadata/labels/app.kubernetes.io~1name",
                json!("x"),
            ),
        ];
        for (patch, pointer, want) in cases {
            let got = json_patch(&deployment(), &patch);
            let got = got.unwrap_or_else(|e| panic!("{patch}: {e}"));
            assert_eq!(got.pointer(pointer), Some(&want), "{patch}");
        }
    }

    #[test]
    fn replace_whole_document() {
        let got = json_patch(
            &json!({"a": 1}),
            &json!([{"op": "replace", "path": "", "value": {"b": 2}}]),
        );
        assert_eq!(got, Ok(json!({"b": 2})));
        let got = json_patch(
            &json!({"a": 1}),
            &json!([{"op": "replace", "path": "", "value": 3}]),
        );
        assert_eq!(got, Ok(json!({"a": 1})));
    }

    #[test]
    fn failures_are_worded_like_kube_apiserver() {
        let cases = [
            (
                json!([{"op": "test", "path": "/spec/replicas", "value": 4}]),
                "testing value /spec/replicas failed: test failed",
            ),
            (
                json!([{"op": "test", "path": "/spec/replicas", "value": "3"}]),
                "testing value /spec/replicas failed: test failed",
            ),
            (
                json!([{"op": "test", "path": "/spec/nothing/deeper", "value": 1}]),
                "test operation does not apply: is missing path: /spec/nothing/deeper: missing value",
            ),
            (
                json!([{"op": "test", "path": "/spec/nothing", "value": 1}]),
                "testing value /spec/nothing failed: test failed",
            ),
            (
                json!([{"op": "remove", "path": "/metadata/labels/missing"}]),
                "error in remove for path: '/metadata/labels/missing': Unable to remove nonexistent key: missing: missing value",
            ),
            (
                json!([{"op": "remove", "path": "/metadata/annotations/x"}]),
                "remove operation does not apply: doc is missing path: \"/metadata/annotations/x\": missing value",
            ),
            (
                json!([{"op": "add", "path": "/metadata/annotations/x", "value": "v"}]),
                "add operation does not apply: doc is missing path: \"/metadata/annotations/x\": missing value",
            ),
            (
                json!([{"op": "add", "path": "/metadata/finalizers/5", "value": "v"}]),
                "error in add for path: '/metadata/finalizers/5': Unable to access invalid index: 5: invalid index referenced",
            ),
            (
                json!([{"op": "add", "path": "/metadata/finalizers/x", "value": "v"}]),
                "error in add for path: '/metadata/finalizers/x': value was not a proper array index: 'x': strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                json!([{"op": "remove", "path": "/metadata/finalizers/2"}]),
                "error in remove for path: '/metadata/finalizers/2': Unable to access invalid index: 2: invalid index referenced",
            ),
            (
                json!([{"op": "replace", "path": "/metadata/finalizers/7", "value": "v"}]),
                "replace operation does not apply: doc is missing key: /metadata/finalizers/7: missing value",
            ),
            (
                json!([{"op": "replace", "path": "/nope/x", "value": 1}]),
                "replace operation does not apply: doc is missing path: /nope/x: missing value",
            ),
            (
                json!([{"op": "replace", "value": 1}]),
                "replace operation failed to decode path: operation missing path field: missing value",
            ),
            (
                json!([{"op": "add", "value": 1}]),
                "add operation failed to decode path: missing value",
            ),
            (
                json!([{"op": "move", "from": "/metadata/labels/none", "path": "/metadata/labels/x"}]),
                "error in move for path: 'none': Unable to remove nonexistent key: none: missing value",
            ),
            (
                json!([{"op": "move", "from": "/nope/none", "path": "/metadata/labels/x"}]),
                "move operation does not apply: doc is missing from path: /nope/none: missing value",
            ),
            (
                json!([{"op": "move", "path": "/metadata/labels/x"}]),
                "move operation failed to decode from: operation, missing from field: missing value",
            ),
            (
                json!([{"op": "move", "from": "/metadata/labels/app", "path": "/nope/x"}]),
                "move operation does not apply: doc is missing destination path: /nope/x: missing value",
            ),
            (
                json!([{"op": "copy", "from": "/metadata/finalizers/9", "path": "/spec/x"}]),
                "error in copy for from: '/metadata/finalizers/9': Unable to access invalid index: 9: invalid index referenced",
            ),
            (
                json!([{"op": "copy", "from": "/metadata/labels", "path": "/nope/x"}]),
                "copy operation does not apply: doc is missing destination path: /nope/x: missing value",
            ),
            (
                json!([{"op": "copy", "from": "/nope/y", "path": "/spec/x"}]),
                "copy operation does not apply: doc is missing from path: /nope/y: missing value",
            ),
            (json!([{"op": "frobnicate", "path": "/a"}]), "Unexpected kind: frobnicate"),
            (json!([{"path": "/a"}]), "Unexpected kind: unknown"),
            (json!([null]), "Unexpected kind: unknown"),
            // Traversal through a scalar.
            (
                json!([{"op": "add", "path": "/spec/replicas/x", "value": 1}]),
                "add operation does not apply: doc is missing path: \"/spec/replicas/x\": missing value",
            ),
        ];
        for (patch, want) in cases {
            let got = json_patch(&deployment(), &patch);
            assert_eq!(
                got,
                Err(PatchError::Unprocessable(want.to_string())),
                "{patch}"
            );
        }
    }

    #[test]
    fn earlier_operations_are_not_kept_on_failure() {
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 9},
            {"op": "test", "path": "/spec/replicas", "value": 3}
        ]);
        assert!(json_patch(&deployment(), &patch).is_err());
    }

    #[test]
    fn malformed_documents_are_bad_requests() {
        let cases = [
            (
                json!({"op": "add"}),
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
            ),
            (
                json!("x"),
                "json: cannot unmarshal string into Go value of type jsonpatch.Patch",
            ),
            (
                json!([1]),
                "json: cannot unmarshal number into Go value of type jsonpatch.Operation",
            ),
            (
                json!([[]]),
                "json: cannot unmarshal array into Go value of type jsonpatch.Operation",
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(
                json_patch(&deployment(), &patch),
                Err(PatchError::BadRequest(want.to_string())),
                "{patch}"
            );
        }
        assert_eq!(
            json_patch(&json!({"a": 1}), &json!(null)),
            Ok(json!({"a": 1}))
        );
    }

    #[test]
    fn too_many_operations() {
        let ops: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "/a", "value": 1}))
            .collect();
        let err = json_patch(&json!({"a": 1}), &Value::Array(ops));
        assert_eq!(
            err,
            Err(PatchError::TooLarge(
                "The allowed maximum operations in a JSON patch is 10000, got 10001".into()
            ))
        );
        if let Err(e) = err {
            assert_eq!(e.code(), 413);
            assert_eq!(
                e.status_message(),
                "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
            );
        }
    }

    #[test]
    fn status_shape_of_failures() {
        let err = json_patch(
            &deployment(),
            &json!([{"op": "test", "path": "/spec/replicas", "value": 1}]),
        );
        let Err(err) = err else {
            panic!("expected failure")
        };
        assert_eq!(err.code(), 422);
        assert_eq!(err.reason(), "Invalid");
        assert_eq!(
            err.status_message(),
            "the server rejected our request due to an error in our request"
        );
        assert_eq!(
            err.cause(),
            Some((
                "UnexpectedServerResponse",
                "testing value /spec/replicas failed: test failed"
            ))
        );
    }
}
