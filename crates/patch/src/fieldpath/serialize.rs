//! The `fieldsV1` encoding: `f:<field>`, `k:<key json>`, `v:<value json>`,
//! `i:<index>`, with `.` marking a path that is itself a member.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::element::PathElement;
use super::set::Set;

impl PathElement {
    /// The element's `fieldsV1` key.
    pub fn to_fields_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let obj: Map<String, Value> = fields.iter().cloned().collect();
                format!("k:{}", Value::Object(obj))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key.
    pub fn from_fields_key(key: &str) -> Result<PathElement, String> {
        let (kind, rest) = key
            .split_once(':')
            .ok_or_else(|| format!("unknown path element type: {key}"))?;
        match kind {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(m)) => {
                    let mut fields: Vec<(String, Value)> = m.into_iter().collect();
                    fields.sort_by(|a, b| a.0.cmp(&b.0));
                    Ok(PathElement::Key(fields))
                }
                Ok(_) => Err(format!("expected key object in {key}")),
                Err(e) => Err(format!("parsing key {key}: {e}")),
            },
            "v" => serde_json::from_str(rest)
                .map(PathElement::Value)
                .map_err(|e| format!("parsing value {key}: {e}")),
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|e| format!("parsing index {key}: {e}")),
            _ => Err(format!("unknown path element type: {key}")),
        }
    }
}

impl Set {
    /// The `fieldsV1` object of this set, keys in structured-merge-diff's order.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        let mut keys: BTreeSet<&PathElement> = self.members().collect();
        keys.extend(self.children().map(|(pe, _)| pe));
        for pe in keys {
            let value = match self.child(pe) {
                Some(c) => c.emit(self.is_member(pe)),
                None => Map::new(),
            };
            out.insert(pe.to_fields_key(), Value::Object(value));
        }
        out
    }

    /// Parses a `fieldsV1` object.
    pub fn from_fields_v1(value: &Value) -> Result<Set, String> {
        let Value::Object(m) = value else {
            return Err("expected an object".into());
        };
        let mut members = BTreeSet::new();
        let mut children = BTreeMap::new();
        for (key, child) in m {
            if key == "." {
                continue;
            }
            let pe = PathElement::from_fields_key(key)?;
            let Value::Object(inner) = child else {
                return Err(format!("expected an object at {key}"));
            };
            if inner.is_empty() || inner.contains_key(".") {
                members.insert(pe.clone());
            }
            let sub = Set::from_fields_v1(child)?;
            if !sub.is_empty() {
                children.insert(pe, sub);
            }
        }
        Ok(Set::from_parts(members, children))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_reference_encoding() {
        let fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:component": {}, "f:provider": {}}},
            "f:spec": {
                "f:clusterIP": {},
                "f:ports": {
                    ".": {},
                    "k:{\"port\":443,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}}
                },
                "f:type": {}
            }
        });
        let set = Set::from_fields_v1(&fields).unwrap_or_default();
        assert_eq!(set.paths().len(), 9);
        let out = set.to_fields_v1();
        assert_eq!(
            serde_json::to_string(&out).ok(),
            serde_json::to_string(&fields).ok()
        );
    }

    #[test]
    fn element_keys() {
        let cases = [
            (PathElement::Field("a".into()), "f:a"),
            (
                PathElement::Key(vec![
                    ("port".into(), json!(80)),
                    ("protocol".into(), json!("TCP")),
                ]),
                "k:{\"port\":80,\"protocol\":\"TCP\"}",
            ),
            (PathElement::Value(json!("x")), "v:\"x\""),
            (PathElement::Index(2), "i:2"),
        ];
        for (pe, key) in cases {
            assert_eq!(pe.to_fields_key(), key);
            assert_eq!(PathElement::from_fields_key(key), Ok(pe));
        }
        assert!(PathElement::from_fields_key("x:1").is_err());
        assert!(Set::from_fields_v1(&json!({"f:a": 1})).is_err());
    }
}
