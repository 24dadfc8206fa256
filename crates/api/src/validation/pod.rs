//! Pod and pod-template validation (`ValidatePodSpec` and friends): the
//! subset of kube-apiserver's rules that k1s's Pods exercise — volumes,
//! policies, names and tolerations; containers are in `container`.

use super::container::{validate_containers, validate_init_containers};
use super::json::{arr_at, get, has, int_at, str_at};
use super::meta::{
    name_is_dns_subdomain, validate_annotations, validate_dns1123_label, validate_label_name,
    validate_labels, validate_object_meta,
};
use super::names::{inclusive_range_error, is_dns1123_subdomain, is_valid_label_value};
use crate::field::{FieldError, Path};
use serde_json::Value;

/// Volume source keys in the order kube-apiserver checks them.
const VOLUME_TYPES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn validate_volume_source(v: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for key in VOLUME_TYPES {
        let Some(src) = get(v, &[key]) else { continue };
        let p = path.child(key);
        if count > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let required = match *key {
            "hostPath" => Some("path"),
            "secret" => Some("secretName"),
            "configMap" => Some("name"),
            "persistentVolumeClaim" => Some("claimName"),
            _ => None,
        };
        if let Some(field) = required {
            if str_at(src, field).is_empty() {
                errs.push(FieldError::required(p.child(field), ""));
            }
        }
        if let Some(mode) = int_at(src, "defaultMode").filter(|m| !(0..=0o777).contains(m)) {
            errs.push(FieldError::invalid(
                p.child("defaultMode"),
                mode,
                FILE_MODE_MSG,
            ));
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

/// Validates volumes; returns the names that passed (mounts may use them).
fn validate_volumes(volumes: &[Value], path: &Path, errs: &mut Vec<FieldError>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        let name = str_at(v, "name");
        let mut el = validate_volume_source(v, &p);
        if name.is_empty() {
            el.push(FieldError::required(p.child("name"), ""));
        } else {
            el.extend(validate_dns1123_label(name, &p.child("name")));
        }
        if names.iter().any(|n| n == name) {
            el.push(FieldError::duplicate(p.child("name"), name));
        }
        if el.is_empty() {
            names.push(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    names
}

fn validate_tolerations(tols: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tols.iter().enumerate() {
        let p = path.index(i);
        let key = str_at(t, "key");
        let op = str_at(t, "operator");
        let effect = str_at(t, "effect");
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &p.child("key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if has(t, "tolerationSeconds") && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(str_at(t, "value"));
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        p.child("operator"),
                        str_at(t, "value"),
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !str_at(t, "value").is_empty() {
                    errs.push(super::gorepr::invalid(
                        p.child("operator"),
                        &toleration_repr(t),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(FieldError::not_supported(
                p.child("effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

fn toleration_repr(t: &Value) -> String {
    let secs = match int_at(t, "tolerationSeconds") {
        Some(n) => format!("&{n}"),
        None => "(*int64)(nil)".into(),
    };
    format!(
        "core.Toleration{{Key:{}, Operator:{}, Value:{}, Effect:{}, TolerationSeconds:{}}}",
        crate::field::go_quote(str_at(t, "key")),
        crate::field::go_quote(str_at(t, "operator")),
        crate::field::go_quote(str_at(t, "value")),
        crate::field::go_quote(str_at(t, "effect")),
        secs
    )
}

fn name_errors(value: &str, path: &Path, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// `ValidatePodSpec` for a Pod's or template's `spec` at `path`.
pub fn validate_pod_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !has(spec, "terminationGracePeriodSeconds") {
        errs.push(FieldError::required(
            path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let volumes = validate_volumes(arr_at(spec, "volumes"), &path.child("volumes"), &mut errs);
    let containers = arr_at(spec, "containers");
    errs.extend(validate_containers(
        containers,
        &volumes,
        &path.child("containers"),
    ));
    errs.extend(validate_init_containers(
        arr_at(spec, "initContainers"),
        containers,
        &volumes,
        &path.child("initContainers"),
    ));
    match str_at(spec, "restartPolicy") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(path.child("restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns = str_at(spec, "dnsPolicy");
    match dns {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        spec.get("nodeSelector"),
        &path.child("nodeSelector"),
    ));
    if dns == "None" && !has(spec, "dnsConfig") {
        errs.push(FieldError::required(
            path.child("dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    let sa = str_at(spec, "serviceAccountName");
    if !sa.is_empty() {
        errs.extend(name_errors(
            sa,
            &path.child("serviceAccountName"),
            is_dns1123_subdomain(sa),
        ));
    }
    let node = str_at(spec, "nodeName");
    if !node.is_empty() {
        errs.extend(name_errors(
            node,
            &path.child("nodeName"),
            is_dns1123_subdomain(node),
        ));
    }
    if let Some(ads) = int_at(spec, "activeDeadlineSeconds") {
        if !(1..=i64::from(i32::MAX)).contains(&ads) {
            errs.push(FieldError::invalid(
                path.child("activeDeadlineSeconds"),
                ads,
                inclusive_range_error(1, i64::from(i32::MAX)),
            ));
        }
    }
    for key in ["hostname", "subdomain"] {
        let v = str_at(spec, key);
        if !v.is_empty() {
            errs.extend(validate_dns1123_label(v, &path.child(key)));
        }
    }
    errs.extend(validate_tolerations(
        arr_at(spec, "tolerations"),
        &path.child("tolerations"),
    ));
    let pc = str_at(spec, "priorityClassName");
    if !pc.is_empty() {
        errs.extend(name_errors(
            pc,
            &path.child("priorityClassName"),
            is_dns1123_subdomain(pc),
        ));
    }
    errs
}

/// `ValidatePodTemplateSpec` for a template at `path` (`spec.template`).
pub fn validate_pod_template(template: &Value, path: &Path) -> Vec<FieldError> {
    let meta = template.get("metadata").unwrap_or(&Value::Null);
    let mut errs = validate_labels(meta.get("labels"), &path.child("labels"));
    errs.extend(validate_annotations(
        meta.get("annotations"),
        &path.child("annotations"),
    ));
    let spec = template.get("spec").unwrap_or(&Value::Null);
    errs.extend(validate_pod_spec(spec, &path.child("spec")));
    if !arr_at(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

fn image_whitespace(containers: &[Value], path: &Path) -> Vec<FieldError> {
    containers
        .iter()
        .enumerate()
        .filter(|(_, c)| str_at(c, "image").trim() != str_at(c, "image"))
        .map(|(i, c)| {
            FieldError::invalid(
                path.index(i).child("image"),
                str_at(c, "image"),
                "must not have leading or trailing whitespace",
            )
        })
        .collect()
}

/// `validatePodMetadataAndSpec`.
pub fn validate_pod_metadata_and_spec(pod: &Value) -> Vec<FieldError> {
    let spec_path = Path::new("spec");
    let mut errs = validate_object_meta(pod, true, name_is_dns_subdomain);
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    errs.extend(validate_pod_spec(spec, &spec_path));
    errs.extend(image_whitespace(
        arr_at(spec, "containers"),
        &spec_path.child("containers"),
    ));
    errs.extend(image_whitespace(
        arr_at(spec, "initContainers"),
        &spec_path.child("initContainers"),
    ));
    errs
}

/// `ValidatePodCreate`.
pub fn validate_pod_create(pod: &Value) -> Vec<FieldError> {
    let mut errs = validate_pod_metadata_and_spec(pod);
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    if !arr_at(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            Path::new("spec").child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    if !str_at(spec, "nodeName").is_empty() && !arr_at(spec, "schedulingGates").is_empty() {
        errs.push(FieldError::forbidden(
            Path::new("spec").child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}
