//! Where objects hold `resource.Quantity` values, and their canonicalization
//! in place: what kube-apiserver's typed JSON decoding does to them before
//! anything is stored.

use super::{canonicalize_json, QuantityError};
use serde_json::Value;

/// Canonicalizes every quantity field of an object of `group`/`kind` in
/// place; the first malformed one fails the whole decode.
pub fn canonicalize_object(group: &str, kind: &str, obj: &mut Value) -> Result<(), QuantityError> {
    match (group, kind) {
        ("", "Pod") => {
            pod_spec(obj.get_mut("spec"))?;
            pod_status(obj.get_mut("status"))
        }
        ("", "PodTemplate") => template(obj.get_mut("template")),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet")
        | ("", "ReplicationController")
        | ("batch", "Job") => template(at(obj, &["spec", "template"])),
        ("apps", "StatefulSet") => {
            template(at(obj, &["spec", "template"]))?;
            for claim in items(at(obj, &["spec", "volumeClaimTemplates"])) {
                claim_spec(claim.get_mut("spec"))?;
            }
            Ok(())
        }
        ("batch", "CronJob") => template(at(obj, &["spec", "jobTemplate", "spec", "template"])),
        ("", "Node") => {
            let status = obj.get_mut("status");
            let status = status.and_then(Value::as_object_mut);
            if let Some(status) = status {
                resource_list(status.get_mut("capacity"))?;
                resource_list(status.get_mut("allocatable"))?;
            }
            Ok(())
        }
        ("", "PersistentVolumeClaim") => {
            claim_spec(obj.get_mut("spec"))?;
            resource_list(at(obj, &["status", "capacity"]))?;
            resource_list(at(obj, &["status", "allocatedResources"]))
        }
        ("", "PersistentVolume") => resource_list(at(obj, &["spec", "capacity"])),
        ("", "ResourceQuota") => {
            resource_list(at(obj, &["spec", "hard"]))?;
            resource_list(at(obj, &["status", "hard"]))?;
            resource_list(at(obj, &["status", "used"]))
        }
        ("", "LimitRange") => {
            for item in items(at(obj, &["spec", "limits"])) {
                for key in [
                    "max",
                    "min",
                    "default",
                    "defaultRequest",
                    "maxLimitRequestRatio",
                ] {
                    resource_list(item.get_mut(key))?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, key| v.get_mut(*key))
}

/// The elements of a JSON array (none for anything else).
fn items(v: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    v.and_then(Value::as_array_mut).into_iter().flatten()
}

fn template(t: Option<&mut Value>) -> Result<(), QuantityError> {
    pod_spec(t.and_then(|t| t.get_mut("spec")))
}

fn pod_spec(spec: Option<&mut Value>) -> Result<(), QuantityError> {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        return Ok(());
    };
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec.get_mut(list)) {
            requirements(c.get_mut("resources"))?;
            for env in items(c.get_mut("env")) {
                field_ref(at(env, &["valueFrom", "resourceFieldRef"]))?;
            }
        }
    }
    for v in items(spec.get_mut("volumes")) {
        optional(v.get_mut("emptyDir"), "sizeLimit")?;
        downward_items(v.get_mut("downwardAPI"))?;
        for source in items(at(v, &["projected", "sources"])) {
            downward_items(source.get_mut("downwardAPI"))?;
        }
        claim_spec(at(v, &["ephemeral", "volumeClaimTemplate", "spec"]))?;
    }
    resource_list(spec.get_mut("overhead"))?;
    requirements(spec.get_mut("resources"))
}

fn pod_status(status: Option<&mut Value>) -> Result<(), QuantityError> {
    let Some(status) = status.filter(|s| s.is_object()) else {
        return Ok(());
    };
    for list in [
        "initContainerStatuses",
        "containerStatuses",
        "ephemeralContainerStatuses",
    ] {
        for c in items(status.get_mut(list)) {
            resource_list(c.get_mut("allocatedResources"))?;
            requirements(c.get_mut("resources"))?;
        }
    }
    Ok(())
}

fn downward_items(source: Option<&mut Value>) -> Result<(), QuantityError> {
    for item in items(source.and_then(|s| s.get_mut("items"))) {
        field_ref(item.get_mut("resourceFieldRef"))?;
    }
    Ok(())
}

fn claim_spec(spec: Option<&mut Value>) -> Result<(), QuantityError> {
    requirements(spec.and_then(|s| s.get_mut("resources")))
}

/// `limits` and `requests` of a ResourceRequirements (or its volume twin).
fn requirements(r: Option<&mut Value>) -> Result<(), QuantityError> {
    let Some(r) = r.filter(|r| r.is_object()) else {
        return Ok(());
    };
    resource_list(r.get_mut("limits"))?;
    resource_list(r.get_mut("requests"))
}

/// A ResourceList (`map[ResourceName]Quantity`): a `null` value decodes
/// as the zero quantity.
fn resource_list(list: Option<&mut Value>) -> Result<(), QuantityError> {
    let Some(map) = list.and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for v in map.values_mut() {
        *v = Value::String(canonicalize_json(v)?);
    }
    Ok(())
}

/// A `*Quantity` field: `null` is no quantity at all.
fn optional(parent: Option<&mut Value>, key: &str) -> Result<(), QuantityError> {
    let Some(map) = parent.and_then(Value::as_object_mut) else {
        return Ok(());
    };
    match map.get(key) {
        None => {}
        Some(Value::Null) => {
            map.shift_remove(key);
        }
        Some(v) => {
            let s = canonicalize_json(v)?;
            map.insert(key.to_string(), Value::String(s));
        }
    }
    Ok(())
}

/// A ResourceFieldSelector: its non-pointer `divisor` is always encoded,
/// as `"0"` when unset.
fn field_ref(r: Option<&mut Value>) -> Result<(), QuantityError> {
    let Some(map) = r.and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let divisor = canonicalize_json(map.get("divisor").unwrap_or(&Value::Null))?;
    map.insert("divisor".into(), Value::String(divisor));
    Ok(())
}
