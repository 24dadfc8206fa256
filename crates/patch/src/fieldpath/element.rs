//! One step of a field path: a struct field, a keyed list item, a set item
//! or a list index.

use std::cmp::Ordering;

use serde_json::Value;

use crate::gofmt;

#[derive(Clone, Debug)]
pub enum PathElement {
    /// `.name` / `f:name`.
    Field(String),
    /// `[port=80,protocol="TCP"]` / `k:{"port":80,"protocol":"TCP"}`; sorted by name.
    Key(Vec<(String, Value)>),
    /// `[=value]` / `v:value`.
    Value(Value),
    /// `[3]` / `i:3`.
    Index(i64),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// How the element reads in conflict messages.
    pub fn display(&self) -> String {
        match self {
            PathElement::Field(name) => format!(".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_string(v)))
                    .collect();
                format!("[{}]", parts.join(","))
            }
            PathElement::Value(v) => format!("[={}]", value_string(v)),
            PathElement::Index(i) => format!("[{i}]"),
        }
    }
}

/// A field path as kube-apiserver prints it: `.spec.ports[port=80,protocol="TCP"].targetPort`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// structured-merge-diff's `value.ToString`.
fn value_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => gofmt::float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => gofmt::quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", value_string(v)))
            .collect(),
    }
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// structured-merge-diff's value order: numbers (ints and floats compared
/// numerically) < strings < bools < lists < maps < null.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => {
                let (fx, fy) = (
                    x.as_f64().unwrap_or_default(),
                    y.as_f64().unwrap_or_default(),
                );
                fx.partial_cmp(&fy).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let c = compare_values(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xk: Vec<&String> = x.keys().collect();
            let mut yk: Vec<&String> = y.keys().collect();
            xk.sort();
            yk.sort();
            for (l, r) in xk.iter().zip(&yk) {
                let c = l
                    .cmp(r)
                    .then_with(|| compare_values(&x[l.as_str()], &y[r.as_str()]));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xk.len().cmp(&yk.len())
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let c = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn displays_like_fieldpath() {
        let path = [
            PathElement::Field("spec".into()),
            PathElement::Field("ports".into()),
            PathElement::Key(vec![
                ("port".into(), json!(80)),
                ("protocol".into(), json!("TCP")),
            ]),
            PathElement::Field("targetPort".into()),
        ];
        assert_eq!(
            path_string(&path),
            ".spec.ports[port=80,protocol=\"TCP\"].targetPort"
        );
        assert_eq!(PathElement::Value(json!("a")).display(), "[=\"a\"]");
        assert_eq!(PathElement::Index(3).display(), "[3]");
    }

    #[test]
    fn orders_like_fieldpath() {
        let mut items = [
            PathElement::Index(1),
            PathElement::Value(json!("b")),
            PathElement::Key(vec![("port".into(), json!(443))]),
            PathElement::Key(vec![("port".into(), json!(80))]),
            PathElement::Field("b".into()),
            PathElement::Field("a".into()),
            PathElement::Value(json!(2)),
        ];
        items.sort();
        let shown: Vec<String> = items.iter().map(PathElement::display).collect();
        assert_eq!(
            shown,
            [
                ".a",
                ".b",
                "[port=80]",
                "[port=443]",
                "[=2]",
                "[=\"b\"]",
                "[1]"
            ]
        );
        assert_eq!(compare_values(&json!(1), &json!(1.0)), Ordering::Equal);
    }
}
