//! Namespace, Node, ServiceAccount and Lease validation.

use super::json::{arr_at, get, int_at, str_at};
use super::meta::{
    name_is_dns_label, name_is_dns_subdomain, validate_finalizers, validate_kube_finalizer_name,
    validate_label_name, validate_object_meta, validate_object_meta_update,
};
use super::names::{is_valid_label_value, parse_cidr};
use crate::field::{FieldError, Path};
use serde_json::Value;

fn namespace_finalizers(ns: &Value, indexed: bool) -> Vec<FieldError> {
    let path = Path::new("spec").child("finalizers");
    let list: Vec<&str> = arr_at(ns.get("spec").unwrap_or(&Value::Null), "finalizers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut errs = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let p = if indexed { path.index(i) } else { path.clone() };
        errs.extend(validate_finalizers(&[f], &p));
        errs.extend(validate_kube_finalizer_name(f, &p));
    }
    errs
}

/// `ValidateNamespace`.
pub fn validate_namespace(ns: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ns, false, name_is_dns_label);
    errs.extend(namespace_finalizers(ns, false));
    errs
}

/// `ValidateNamespaceUpdate` (spec and status are kept by the strategy).
pub fn validate_namespace_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_object_meta_update(new, old)
}

/// `ValidateNamespaceFinalizeUpdate` (the finalize subresource).
pub fn validate_namespace_finalize_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(namespace_finalizers(new, true));
    errs
}

/// `ValidateNamespaceStatusUpdate`.
pub fn validate_namespace_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let phase = get(new, &["status", "phase"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let deleting = get(new, &["metadata", "deletionTimestamp"]).is_some();
    let path = Path::new("status").child("Phase");
    if !deleting && phase != "Active" {
        errs.push(FieldError::invalid(
            &path,
            phase,
            "may only be 'Active' if `deletionTimestamp` is empty",
        ));
    } else if deleting && phase != "Terminating" {
        errs.push(FieldError::invalid(
            &path,
            phase,
            "may only be 'Terminating' if `deletionTimestamp` is not empty",
        ));
    }
    errs
}

fn validate_taints(taints: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        let (key, value, effect) = (str_at(t, "key"), str_at(t, "value"), str_at(t, "effect"));
        errs.extend(validate_label_name(key, &p.child("key")));
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(p.child("value"), value, msgs.join(";")));
        }
        const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
        if effect.is_empty() {
            errs.push(FieldError::required(p.child("effect"), ""));
        } else if !EFFECTS.contains(&effect) {
            errs.push(FieldError::not_supported(
                p.child("effect"),
                effect,
                EFFECTS,
            ));
        }
        if seen.contains(&(effect, key)) {
            let mut e = FieldError::duplicate(&p, t.clone());
            e.detail = "taints must be unique by key and effect pair".into();
            errs.push(e);
            continue;
        }
        seen.push((effect, key));
    }
    errs
}

/// `ValidateNode`.
pub fn validate_node(node: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(node, false, name_is_dns_subdomain);
    let spec = node.get("spec").unwrap_or(&Value::Null);
    // Upstream reports taints under "metadata.taints".
    errs.extend(validate_taints(
        arr_at(spec, "taints"),
        &Path::new("metadata").child("taints"),
    ));
    let cidrs = arr_at(spec, "podCIDRs");
    let path = Path::new("spec").child("podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        let c = c.as_str().unwrap_or("");
        if parse_cidr(c).is_none() {
            errs.push(FieldError::invalid(
                path.index(i),
                c,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

/// `ValidateNodeUpdate`.
pub fn validate_node_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_object_meta_update(new, old)
}

/// `ValidateServiceAccount`.
pub fn validate_service_account(sa: &Value) -> Vec<FieldError> {
    validate_object_meta(sa, true, name_is_dns_subdomain)
}

/// `ValidateServiceAccountUpdate`.
pub fn validate_service_account_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_service_account(new));
    errs
}

/// `ValidateLease`.
pub fn validate_lease(lease: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(lease, true, name_is_dns_subdomain);
    let spec = lease.get("spec").unwrap_or(&Value::Null);
    let path = Path::new("spec");
    if let Some(d) = int_at(spec, "leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.push(FieldError::invalid(
            path.child("leaseDurationSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = int_at(spec, "leaseTransitions").filter(|t| *t < 0) {
        errs.push(FieldError::invalid(
            path.child("leaseTransitions"),
            t,
            "must be greater than or equal to 0",
        ));
    }
    errs
}

/// `ValidateLeaseUpdate`.
pub fn validate_lease_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_lease(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(e: Vec<FieldError>) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn namespaces() {
        let label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
        let cases = vec![
            (json!({"metadata": {"name": "demo"}, "spec": {"finalizers": ["kubernetes"]}}), vec![]),
            (json!({"metadata": {"name": "my.ns"}}), vec!["metadata.name: Invalid value: \"my.ns\": must not contain dots".to_string()]),
            (json!({"metadata": {"name": "Demo"}}), vec![format!("metadata.name: Invalid value: \"Demo\": {label}")]),
            (
                json!({"metadata": {"name": "demo"}, "spec": {"finalizers": ["custom"]}}),
                vec!["spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified".to_string()],
            ),
        ];
        for (ns, want) in cases {
            assert_eq!(texts(validate_namespace(&ns)), want);
        }
    }

    #[test]
    fn nodes_and_leases() {
        let node = json!({"metadata": {"name": "node1"}, "spec": {"podCIDRs": ["10.244.0.0/24"], "taints": [{"key": "a", "effect": "Bogus"}]}});
        assert_eq!(
            texts(validate_node(&node)),
            vec!["metadata.taints[0].effect: Unsupported value: \"Bogus\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""]
        );
        let lease = json!({"metadata": {"name": "node1", "namespace": "kube-node-lease"}, "spec": {"leaseDurationSeconds": 0}});
        assert_eq!(
            texts(validate_lease(&lease)),
            vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
        );
        let sa = json!({"metadata": {"name": "default"}});
        assert_eq!(
            texts(validate_service_account(&sa)),
            vec!["metadata.namespace: Required value"]
        );
    }
}
