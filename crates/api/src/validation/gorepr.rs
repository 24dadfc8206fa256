//! Go `%#v` renderings of the few composite values kube-apiserver prints in
//! error messages (maps, label selectors, IntOrString, ServicePort), and
//! FieldErrors that carry such a pre-rendered value.
//!
//! `FieldError` renders JSON bad values itself; for Go structs and maps the
//! text must be produced here, so these errors keep `bad_value: None` and put
//! the rendering in front of the detail — the resulting message is identical.

use crate::field::{go_quote, ErrorType, FieldError};
use serde_json::Value;

/// `map[string]string{"a":"1", "b":"2"}` (keys sorted, as Go's fmt does), or
/// `map[string]string(nil)` when absent.
pub fn string_map(v: Option<&Value>) -> String {
    let Some(map) = v.and_then(Value::as_object) else {
        return "map[string]string(nil)".to_string();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let val = map.get(*k).and_then(Value::as_str).unwrap_or("");
            format!("{}:{}", go_quote(k), go_quote(val))
        })
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// `[]string{"a", "b"}`, or `[]string(nil)` when absent/empty-from-nil.
pub fn string_slice(items: &[&str]) -> String {
    if items.is_empty() {
        return "[]string(nil)".to_string();
    }
    let parts: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", parts.join(", "))
}

/// A slice of a named string type, e.g. `[]core.IPFamily{"IPv4"}`.
pub fn typed_string_slice(type_name: &str, items: &[&str]) -> String {
    if items.is_empty() {
        return format!("[]{type_name}(nil)");
    }
    let parts: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]{type_name}{{{}}}", parts.join(", "))
}

/// `intstr.IntOrString{Type:1, IntVal:0, StrVal:"25%"}`.
pub fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => {
            format!(
                "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
                go_quote(s)
            )
        }
        Some(Value::Number(n)) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            n.as_i64().unwrap_or(0)
        ),
        _ => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_string(),
    }
}

/// `v1.LabelSelector{MatchLabels:…, MatchExpressions:…}` as printed for an
/// apps/v1 selector.
pub fn label_selector(sel: &Value) -> String {
    let exprs = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let exprs = match exprs {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|r| {
                    let values: Vec<&str> = r
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(r.get("key").and_then(Value::as_str).unwrap_or("")),
                        go_quote(r.get("operator").and_then(Value::as_str).unwrap_or("")),
                        string_slice(&values)
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    let labels = sel.get("matchLabels").filter(|v| !v.is_null());
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        string_map(labels),
        exprs
    )
}

/// The `core.ServicePort{…}` key kube-apiserver prints for duplicate ports:
/// only protocol and port are set.
pub fn service_port_key(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, \
         TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(protocol),
        port
    )
}

/// A FieldError whose bad value is already rendered Go-style.
pub fn with_repr(
    kind: ErrorType,
    field: impl Into<String>,
    repr: &str,
    detail: &str,
) -> FieldError {
    let detail = if detail.is_empty() {
        repr.to_string()
    } else {
        format!("{repr}: {detail}")
    };
    FieldError::new(kind, field, None, detail)
}

/// `Invalid value: <repr>: detail`.
pub fn invalid(field: impl Into<String>, repr: &str, detail: &str) -> FieldError {
    with_repr(ErrorType::Invalid, field, repr, detail)
}

/// A Go `%v` of an optional int pointer: the number, or `null`.
pub fn int_or_null(v: Option<&Value>) -> Value {
    match v.and_then(Value::as_i64) {
        Some(n) => Value::from(n),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_maps_sorted() {
        let m = json!({"b": "2", "a": "1"});
        assert_eq!(
            string_map(Some(&m)),
            r#"map[string]string{"a":"1", "b":"2"}"#
        );
        assert_eq!(string_map(None), "map[string]string(nil)");
    }

    #[test]
    fn renders_label_selectors() {
        let s = json!({"matchLabels": {"app": "web"}});
        assert_eq!(
            label_selector(&s),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        let s = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]});
        assert_eq!(
            label_selector(&s),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"a", Operator:"In", Values:[]string{"x"}}}}"#
        );
    }

    #[test]
    fn raw_errors_render_like_go() {
        let e = invalid("spec.x", r#"map[string]string{"a":"b"}"#, "bad");
        assert_eq!(
            e.to_string(),
            r#"spec.x: Invalid value: map[string]string{"a":"b"}: bad"#
        );
        let e = with_repr(
            ErrorType::Duplicate,
            "spec.ports[1]",
            &service_port_key("TCP", 80),
            "",
        );
        assert_eq!(
            e.to_string(),
            r#"spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}"#
        );
        assert_eq!(
            int_or_string(Some(&json!("x%"))),
            r#"intstr.IntOrString{Type:1, IntVal:0, StrVal:"x%"}"#
        );
    }
}
