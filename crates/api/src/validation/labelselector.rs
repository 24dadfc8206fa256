//! `metav1.LabelSelector` (matchLabels + matchExpressions): validation with
//! apimachinery's messages, and matching against a label set.

use super::json::{arr_at, str_at};
use super::meta::{validate_label_name, validate_labels};
use super::names::{is_qualified_name, is_valid_label_value};
use crate::field::{FieldError, Path};
use serde_json::Value;

const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// `ValidateLabelSelector` (strict: label values must be valid).
pub fn validate_label_selector(sel: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return errs;
    };
    errs.extend(validate_labels(
        sel.get("matchLabels"),
        &path.child("matchLabels"),
    ));
    for (i, req) in arr_at(sel, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let op = str_at(req, "operator");
        let values = arr_at(req, "values");
        match op {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                p.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                p.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            o if !OPERATORS.contains(&o) => errs.push(FieldError::invalid(
                p.child("operator"),
                o,
                "not a valid selector operator",
            )),
            _ => {}
        }
        errs.extend(validate_label_name(str_at(req, "key"), &p.child("key")));
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for msg in is_valid_label_value(v) {
                errs.push(FieldError::invalid(p.child("values").index(j), v, msg));
            }
        }
    }
    errs
}

/// A selector converted like `metav1.LabelSelectorAsSelector`.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// A nil selector: matches nothing.
    Nothing,
    /// An empty selector: matches everything.
    Everything,
    /// Requirements that must all hold.
    Requirements(Vec<Requirement>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub key: String,
    pub op: String,
    pub values: Vec<String>,
}

impl Selector {
    /// Parses a LabelSelector; `Err` where kube-apiserver's conversion fails
    /// (bad operator, key or value, or values that contradict the operator).
    pub fn from_value(sel: Option<&Value>) -> Result<Selector, String> {
        let Some(sel) = sel.filter(|s| !s.is_null()) else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Requirement {
                    key: k.clone(),
                    op: "In".into(),
                    values: vec![v.as_str().unwrap_or("").to_string()],
                });
            }
        }
        for r in arr_at(sel, "matchExpressions") {
            let values: Vec<String> = arr_at(r, "values")
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect();
            reqs.push(Requirement {
                key: str_at(r, "key").to_string(),
                op: str_at(r, "operator").to_string(),
                values,
            });
        }
        for r in &reqs {
            if !is_qualified_name(&r.key).is_empty() {
                return Err(format!("invalid label key {:?}", r.key));
            }
            match r.op.as_str() {
                "In" | "NotIn" if r.values.is_empty() => return Err(
                    "values: Invalid value: for 'in', 'notin' operators, values set can't be empty"
                        .into(),
                ),
                "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                    return Err("values set must be empty for exists and does not exist".into())
                }
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            }
            if r.values.iter().any(|v| !is_valid_label_value(v).is_empty()) {
                return Err("invalid label value".into());
            }
        }
        if reqs.is_empty() {
            Ok(Selector::Everything)
        } else {
            Ok(Selector::Requirements(reqs))
        }
    }

    /// `labels.Selector.Empty()`.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Everything)
    }

    /// Whether `labels` (a JSON map, or absent) satisfies the selector.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            Selector::Nothing => false,
            Selector::Everything => true,
            Selector::Requirements(reqs) => reqs.iter().all(|r| match r.op.as_str() {
                "In" => get(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
                "NotIn" => get(&r.key).is_none_or(|v| !r.values.iter().any(|x| x == v)),
                "Exists" => get(&r.key).is_some(),
                "DoesNotExist" => get(&r.key).is_none(),
                _ => false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_requirements() {
        let sel = json!({"matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Bogus"}
        ]});
        let errs: Vec<String> =
            validate_label_selector(Some(&sel), &Path::new("spec").child("selector"))
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            errs,
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Bogus\": not a valid selector operator",
            ]
        );
    }

    #[test]
    fn matches_like_labels_selector() {
        let labels = json!({"app": "web", "tier": "fe"});
        let cases = [
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "Exists"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}),
                true,
            ),
            (json!({}), true),
        ];
        for (sel, want) in cases {
            let s = Selector::from_value(Some(&sel)).unwrap_or(Selector::Nothing);
            assert_eq!(s.matches(Some(&labels)), want, "{sel}");
        }
        assert!(!Selector::from_value(None).is_ok_and(|s| s.matches(Some(&labels))));
        assert!(Selector::from_value(Some(
            &json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})
        ))
        .is_err());
    }
}
