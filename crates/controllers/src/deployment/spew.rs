//! Renders a stored pod template as the text upstream's `ComputeHash` feeds
//! to FNV: go-spew's `%#v` of the Go `v1.PodTemplateSpec` the controller
//! decoded (types in parentheses, struct fields in Go declaration order,
//! strings unquoted, map keys sorted, nil pointers/slices/maps as `<nil>`).
//! Matching it byte for byte makes ReplicaSet names equal to a real
//! cluster's for the same Deployment.
//!
//! The Go field order and types come from `pod_template_types.txt`, a
//! table of the k8s.io/api v0.32 structs reachable from PodTemplateSpec.
//! JSON fields the table does not know are dropped, as Go's decoder would.
//!
//! The controller reads objects as protobuf, where an empty list or map
//! cannot be told from an absent one: both decode to nil, so both print
//! `<nil>` here. An empty object for a pointer field (`securityContext: {}`)
//! is a non-nil pointer to a zero struct.

use super::quantity::render_quantity;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::OnceLock;

const TYPE_TABLE: &str = include_str!("pod_template_types.txt");
const ROOT: &str = "v1.PodTemplateSpec";
/// Seconds from Go's zero time (year 1) to the Unix epoch: `time.Time.ext`
/// holds seconds since year 1 when there is no monotonic reading.
const UNIX_TO_GO_INTERNAL: i64 = 62_135_596_800;

/// Where a Go field's value sits in the JSON object.
#[derive(Debug, Clone, Copy, PartialEq)]
enum JsonKey<'a> {
    Key(&'a str),
    /// Embedded struct whose fields are inlined into the parent object.
    Inline,
    /// Not carried in JSON (always the zero value here).
    Absent,
}

#[derive(Debug)]
struct Field<'a> {
    go_name: &'a str,
    json: JsonKey<'a>,
    go_type: &'a str,
}

#[derive(Debug, Default)]
struct TypeTable<'a> {
    structs: HashMap<&'a str, Vec<Field<'a>>>,
    /// Named non-struct types (`v1.Protocol` -> `string`).
    named: HashMap<&'a str, &'a str>,
}

fn parse_table(text: &str) -> TypeTable<'_> {
    let mut table = TypeTable::default();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            [w, ..] if w.starts_with('#') => {}
            ["struct", name] => {
                table.structs.insert(name, Vec::new());
                current = Some(name);
            }
            ["named", name, underlying] => {
                table.named.insert(name, underlying);
                current = None;
            }
            [go_name, key, go_type] => {
                let json = match *key {
                    "~" => JsonKey::Inline,
                    "-" => JsonKey::Absent,
                    k => JsonKey::Key(k),
                };
                if let Some(fields) = current.and_then(|s| table.structs.get_mut(s)) {
                    fields.push(Field {
                        go_name,
                        json,
                        go_type,
                    });
                }
            }
            _ => {}
        }
    }
    table
}

fn type_table() -> &'static TypeTable<'static> {
    static TABLE: OnceLock<TypeTable<'static>> = OnceLock::new();
    TABLE.get_or_init(|| parse_table(TYPE_TABLE))
}

/// go-spew `%#v` of `template` decoded as a `v1.PodTemplateSpec`.
pub fn render_pod_template(template: &Value) -> String {
    let mut out = String::new();
    render(type_table(), ROOT, Some(template), true, &mut out);
    out
}

/// `map[K]V` -> `V` (keys here are string kinds, never nested maps).
fn map_value_type(go_type: &str) -> Option<&str> {
    let rest = go_type.strip_prefix("map[")?;
    rest.find(']').map(|end| &rest[end + 1..])
}

/// Writes one value; `show_type` is spew's "print the type" state, off for
/// slice elements, map entries and a pointer's target.
fn render(t: &TypeTable, go_type: &str, v: Option<&Value>, show_type: bool, out: &mut String) {
    if show_type {
        let _ = write!(out, "({go_type})");
    }
    if let Some(target) = go_type.strip_prefix('*') {
        if matches!(v, None | Some(Value::Null)) {
            out.push_str("<nil>");
        } else {
            render(t, target, v, false, out);
        }
        return;
    }
    if let Some(elem) = go_type.strip_prefix("[]") {
        let items = v.and_then(Value::as_array).filter(|a| !a.is_empty());
        let Some(items) = items else {
            out.push_str("<nil>");
            return;
        };
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            render(t, elem, Some(item), false, out);
        }
        out.push(']');
        return;
    }
    if let Some(value_type) = map_value_type(go_type) {
        let entries = v.and_then(Value::as_object).filter(|m| !m.is_empty());
        let Some(entries) = entries else {
            out.push_str("<nil>");
            return;
        };
        // SortKeys: string keys in byte order, as Go compares strings.
        let mut keys: Vec<&String> = entries.keys().collect();
        keys.sort();
        out.push_str("map[");
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(k);
            out.push(':');
            render(t, value_type, entries.get(k.as_str()), false, out);
        }
        out.push(']');
        return;
    }
    if let Some(underlying) = t.named.get(go_type) {
        render(t, underlying, v, false, out);
        return;
    }
    match go_type {
        "string" => out.push_str(v.and_then(Value::as_str).unwrap_or("")),
        "bool" => {
            let b = v.and_then(Value::as_bool).unwrap_or(false);
            out.push_str(if b { "true" } else { "false" });
        }
        "int32" | "int64" | "uint8" | "uint64" => {
            let _ = write!(out, "{}", v.and_then(Value::as_i64).unwrap_or(0));
        }
        "v1.Time" => render_time(v.and_then(Value::as_str), out),
        "resource.Quantity" => render_quantity(&quantity_text(v), out),
        "intstr.IntOrString" => render_int_or_string(v, out),
        _ => match t.structs.get(go_type) {
            Some(fields) => render_struct(t, fields, v, out),
            // Unreachable with a consistent table (a test walks it).
            None => out.push_str("<invalid>"),
        },
    }
}

fn render_struct(t: &TypeTable, fields: &[Field], v: Option<&Value>, out: &mut String) {
    out.push('{');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(f.go_name);
        out.push(':');
        let fv = match f.json {
            JsonKey::Key(k) => v.and_then(|o| o.get(k)),
            JsonKey::Inline => v,
            JsonKey::Absent => None,
        };
        render(t, f.go_type, fv, true, out);
    }
    out.push('}');
}

/// `metav1.Time` with methods disabled prints `time.Time`'s internals.
/// Templates carry `creationTimestamp: null` (the zero time); a set
/// timestamp is rendered in UTC (nil location), where upstream would show
/// the controller's local zone.
fn render_time(rfc3339: Option<&str>, out: &mut String) {
    let parsed = rfc3339.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    let (wall, ext) = match parsed {
        Some(ts) => (
            i64::from(ts.timestamp_subsec_nanos()),
            ts.timestamp() + UNIX_TO_GO_INTERNAL,
        ),
        None => (0, 0),
    };
    let _ = write!(
        out,
        "{{Time:(time.Time){{wall:(uint64){wall} ext:(int64){ext} loc:(*time.Location)<nil>}}}}"
    );
}

fn quantity_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A JSON number is an int (`Type` 0), a JSON string a string (`Type` 1).
fn render_int_or_string(v: Option<&Value>, out: &mut String) {
    let (kind, int_val, str_val) = match v {
        Some(Value::String(s)) => (1, 0, s.as_str()),
        Some(other) => (0, other.as_i64().unwrap_or(0), ""),
        None => (0, 0, ""),
    };
    let _ = write!(
        out,
        "{{Type:(intstr.Type){kind} IntVal:(int32){int_val} StrVal:(string){str_val}}}"
    );
}

#[cfg(test)]
#[path = "spew_tests.rs"]
mod tests;
