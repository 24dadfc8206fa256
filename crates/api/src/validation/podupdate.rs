//! Pod update rules (`ValidatePodUpdate`): only images, activeDeadlineSeconds,
//! added tolerations and a negative grace period → 1 may change.

use super::json::{arr_at, get, int_at, str_at};
use super::meta::validate_object_meta_update;
use super::names::inclusive_range_error;
use super::pod::validate_pod_metadata_and_spec;
use crate::defaults::qos::pod_qos_class;
use crate::field::{FieldError, Path};
use serde_json::{Map, Value};

/// The list kube-apiserver v1.32 prints (InPlacePodVerticalScaling off).
pub const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Drops Go zero values (null, "", 0, false, empty lists/maps) so that
/// "absent" and "zero" compare equal, like apimachinery's semantic equality.
pub fn strip_zero(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) => Some(Value::Array(
            a.iter()
                .map(|x| strip_zero(x).unwrap_or(Value::Null))
                .collect(),
        )),
        Value::Object(m) => {
            let out: Map<String, Value> = m
                .iter()
                .filter_map(|(k, x)| strip_zero(x).map(|x| (k.clone(), x)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        other => Some(other.clone()),
    }
}

/// Semantic equality of two optional values.
pub fn semantic_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    a.and_then(strip_zero) == b.and_then(strip_zero)
}

fn container_updates(new: &[Value], old: &[Value], path: &Path) -> (Vec<FieldError>, bool) {
    if new.len() != old.len() {
        return (
            vec![FieldError::forbidden(
                path,
                "pod updates may not add or remove containers",
            )],
            true,
        );
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = str_at(c, "image");
        if image.is_empty() {
            errs.push(FieldError::required(path.index(i).child("image"), ""));
        }
        if image.trim() != image {
            errs.push(FieldError::invalid(
                path.index(i).child("image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

fn same_toleration_but_seconds(old: &Value, new: &Value) -> bool {
    ["key", "operator", "value", "effect"]
        .iter()
        .all(|k| str_at(old, k) == str_at(new, k))
}

/// Collects `path: old -> new` lines for every differing leaf.
fn diff_lines(old: Option<&Value>, new: Option<&Value>, path: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_lines(a.get(k), b.get(k), &p, out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_lines(Some(x), Some(y), &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => {
            let show = |v: Option<&Value>| v.map_or("nil".to_string(), Value::to_string);
            out.push(format!("- \t{path}: {},", show(a)));
            out.push(format!("+ \t{path}: {},", show(b)));
        }
        _ => {}
    }
}

/// A readable stand-in for the `cmp.Diff` kube-apiserver appends (whose
/// exact text is deliberately unstable upstream).
fn spec_diff(old: &Value, new: &Value) -> String {
    let (o, n) = (strip_zero(old), strip_zero(new));
    let mut lines = vec!["  core.PodSpec{".to_string()];
    diff_lines(o.as_ref(), n.as_ref(), "", &mut lines);
    lines.push("  }".to_string());
    lines.join("\n") + "\n"
}

/// `ValidatePodUpdate`.
pub fn validate_pod_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let spec_path = Path::new("spec");
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_pod_metadata_and_spec(new));
    let null = Value::Null;
    let (ns, os) = (
        new.get("spec").unwrap_or(&null),
        old.get("spec").unwrap_or(&null),
    );
    for key in ["containers", "initContainers"] {
        let (e, stop) = container_updates(arr_at(ns, key), arr_at(os, key), &spec_path.child(key));
        errs.extend(e);
        if stop {
            return errs;
        }
    }
    let ads_path = spec_path.child("activeDeadlineSeconds");
    match (
        int_at(ns, "activeDeadlineSeconds"),
        int_at(os, "activeDeadlineSeconds"),
    ) {
        (Some(n), _) if n < 0 || n > i64::from(i32::MAX) => {
            errs.push(FieldError::invalid(
                ads_path,
                n,
                inclusive_range_error(0, i64::from(i32::MAX)),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                ads_path,
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            ads_path,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let new_tols = arr_at(ns, "tolerations");
    let kept = arr_at(os, "tolerations")
        .iter()
        .all(|o| new_tols.iter().any(|n| same_toleration_but_seconds(o, n)));
    if !kept {
        errs.push(FieldError::forbidden(
            spec_path.child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    if semantic_eq(Some(ns), Some(os)) {
        return errs;
    }
    if pod_qos_class(old) != pod_qos_class(new) {
        let qos = get(new, &["status", "qosClass"])
            .and_then(Value::as_str)
            .unwrap_or("");
        errs.push(FieldError::invalid("metadata", qos, "Pod QoS is immutable"));
    }
    let mut munged = ns.clone();
    for key in ["containers", "initContainers"] {
        let olds = arr_at(os, key).to_vec();
        if let Some(list) = munged.get_mut(key).and_then(Value::as_array_mut) {
            for (c, o) in list.iter_mut().zip(&olds) {
                if let (Some(c), Some(img)) = (c.as_object_mut(), o.get("image")) {
                    c.insert("image".into(), img.clone());
                }
            }
        }
    }
    if let Some(m) = munged.as_object_mut() {
        for key in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match os.get(key) {
                Some(v) => m.insert(key.into(), v.clone()),
                None => m.remove(key),
            };
        }
        let old_grace = int_at(os, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0)
            && int_at(ns, "terminationGracePeriodSeconds") == Some(1)
        {
            if let Some(g) = os.get("terminationGracePeriodSeconds") {
                m.insert("terminationGracePeriodSeconds".into(), g.clone());
            }
        }
    }
    if !semantic_eq(Some(&munged), Some(os)) {
        errs.push(FieldError::forbidden(
            spec_path,
            format!(
                "pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}",
                spec_diff(os, &munged)
            ),
        ));
    }
    errs
}
