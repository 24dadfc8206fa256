//! Deployment and ReplicaSet validation (apps/v1, `pkg/apis/apps/validation`
//! plus the registry's selector immutability).

use super::gorepr;
use super::json::{get, int_at, str_at};
use super::meta::{
    name_is_dns_subdomain, validate_object_meta, validate_object_meta_update, FIELD_IMMUTABLE,
    IS_NEGATIVE,
};
use super::names::is_valid_percent;
use super::pod::validate_pod_template;
use crate::field::{FieldError, Path};
use crate::selector::{string_map, validate_label_selector, LabelSelector};
use serde_json::Value;

fn non_negative(v: Option<i64>, path: &Path) -> Option<FieldError> {
    v.filter(|n| *n < 0)
        .map(|n| FieldError::invalid(path, n, IS_NEGATIVE))
}

/// `ValidatePodTemplateSpecForReplicaSet`.
fn validate_template_for_selector(
    spec: &Value,
    selector: &LabelSelector,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let template = spec.get("template").unwrap_or(&null);
    let labels = get(template, &["metadata", "labels"]);
    if !selector.is_everything() && !selector.matches(&string_map(labels.unwrap_or(&null))) {
        errs.push(gorepr::invalid(
            path.child("metadata").child("labels"),
            &gorepr::string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template(template, path));
    let rp = get(template, &["spec", "restartPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            path.child("spec").child("restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if get(template, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(FieldError::forbidden(
            path.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}

/// Replicas, selector (required, valid, non-empty) and the template.
fn validate_replicated_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(non_negative(
        int_at(spec, "replicas"),
        &path.child("replicas"),
    ));
    let sel = get(spec, &["selector"]);
    match sel {
        None => errs.push(FieldError::required(path.child("selector"), "")),
        Some(s) => {
            errs.extend(validate_label_selector(s, false, &path.child("selector")));
            let count = s
                .get("matchLabels")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
                + s.get("matchExpressions")
                    .and_then(Value::as_array)
                    .map_or(0, |a| a.len());
            if count == 0 {
                errs.push(gorepr::invalid(
                    path.child("selector"),
                    &gorepr::label_selector(s),
                    "empty selector is invalid for deployment",
                ));
            }
        }
    }
    match LabelSelector::from_json(sel.unwrap_or(&Value::Null)) {
        Ok(selector) => errs.extend(validate_template_for_selector(
            spec,
            &selector,
            &path.child("template"),
        )),
        Err(_) => errs.push(gorepr::invalid(
            path.child("selector"),
            &sel.map_or("nil".to_string(), gorepr::label_selector),
            "invalid label selector",
        )),
    }
    errs
}

fn get_percent(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    if !is_valid_percent(s).is_empty() {
        return None;
    }
    s.trim_end_matches('%').parse().ok()
}

fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => get_percent(v).unwrap_or_else(|| s.parse().unwrap_or(0)),
        _ => 0,
    }
}

fn validate_positive_int_or_percent(v: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match v {
        Some(Value::String(s)) => is_valid_percent(s)
            .into_iter()
            .map(|m| gorepr::invalid(path, &gorepr::int_or_string(v), &m))
            .collect(),
        Some(Value::Number(n)) => non_negative(n.as_i64(), path).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn validate_strategy(strategy: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let s = strategy.unwrap_or(&null);
    let rolling = get(s, &["rollingUpdate"]);
    match str_at(s, "type") {
        "Recreate" => {
            if rolling.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match rolling {
            None => errs.push(FieldError::required(
                path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = path.child("rollingUpdate");
                let (mu, ms) = (ru.get("maxUnavailable"), ru.get("maxSurge"));
                errs.extend(validate_positive_int_or_percent(
                    mu,
                    &rp.child("maxUnavailable"),
                ));
                errs.extend(validate_positive_int_or_percent(ms, &rp.child("maxSurge")));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    errs.push(gorepr::invalid(
                        rp.child("maxUnavailable"),
                        &gorepr::int_or_string(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if get_percent(mu).is_some_and(|p| p > 100) {
                    errs.push(gorepr::invalid(
                        rp.child("maxUnavailable"),
                        &gorepr::int_or_string(mu),
                        "must not be greater than 100%",
                    ));
                }
            }
        },
        other => {
            let repr = format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                crate::field::go_quote(other)
            );
            errs.push(crate::validation::gorepr::with_repr(
                crate::field::ErrorType::NotSupported,
                path,
                &repr,
                "supported values: \"Recreate\", \"RollingUpdate\"",
            ));
        }
    }
    errs
}

/// `ValidateDeploymentSpec`.
pub fn validate_deployment_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = validate_replicated_spec(spec, path);
    errs.extend(validate_strategy(
        spec.get("strategy"),
        &path.child("strategy"),
    ));
    let min_ready = int_at(spec, "minReadySeconds").unwrap_or(0);
    errs.extend(non_negative(
        Some(min_ready),
        &path.child("minReadySeconds"),
    ));
    errs.extend(non_negative(
        int_at(spec, "revisionHistoryLimit"),
        &path.child("revisionHistoryLimit"),
    ));
    if let Some(pds) = int_at(spec, "progressDeadlineSeconds") {
        errs.extend(non_negative(
            Some(pds),
            &path.child("progressDeadlineSeconds"),
        ));
        if pds <= min_ready {
            errs.push(FieldError::invalid(
                path.child("progressDeadlineSeconds"),
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

fn spec_of(obj: &Value) -> &Value {
    static NULL: Value = Value::Null;
    obj.get("spec").unwrap_or(&NULL)
}

/// `ValidateDeployment`.
pub fn validate_deployment_create(obj: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(obj, true, name_is_dns_subdomain);
    errs.extend(validate_deployment_spec(spec_of(obj), &Path::new("spec")));
    errs
}

fn selector_immutable(new: &Value, old: &Value) -> Option<FieldError> {
    let (n, o) = (
        get(new, &["spec", "selector"]),
        get(old, &["spec", "selector"]),
    );
    if super::podupdate::semantic_eq(n, o) {
        return None;
    }
    let repr = n.map_or("nil".to_string(), gorepr::label_selector);
    Some(gorepr::invalid(
        Path::new("spec").child("selector"),
        &repr,
        FIELD_IMMUTABLE,
    ))
}

/// `ValidateDeploymentUpdate` plus the apps/v1 selector immutability.
pub fn validate_deployment_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_deployment_spec(spec_of(new), &Path::new("spec")));
    errs.extend(selector_immutable(new, old));
    errs
}

/// `ValidateReplicaSetSpec`.
pub fn validate_replica_set_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = non_negative(int_at(spec, "replicas"), &path.child("replicas"))
        .into_iter()
        .collect::<Vec<_>>();
    errs.extend(non_negative(
        int_at(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
    ));
    // validate_replicated_spec repeats the replicas check; keep one.
    let rest = validate_replicated_spec(spec, path);
    errs.extend(
        rest.into_iter()
            .filter(|e| e.field != path.child("replicas").as_str()),
    );
    errs
}

/// `ValidateReplicaSet`.
pub fn validate_replica_set_create(obj: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(obj, true, name_is_dns_subdomain);
    errs.extend(validate_replica_set_spec(spec_of(obj), &Path::new("spec")));
    errs
}

/// `ValidateReplicaSetUpdate` plus the apps/v1 selector immutability.
pub fn validate_replica_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_replica_set_spec(spec_of(new), &Path::new("spec")));
    errs.extend(selector_immutable(new, old));
    errs
}
