//! ObjectMeta validation (apimachinery `api/validation/objectmeta.go` plus
//! the core group's finalizer-name check), on create and update.

use super::gorepr;
use super::json::{arr_at, get, int_at, obj_at, str_at};
use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_path_segment_name, is_valid_path_segment_prefix,
};
use crate::field::{FieldError, Path};
use serde_json::Value;

/// Validates a name (`prefix` = it is a generateName that gets a suffix).
pub type NameFn = fn(&str, bool) -> Vec<String>;

pub const FIELD_IMMUTABLE: &str = "field is immutable";
pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";
/// Total size limit of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// generateName may end in '-': check it as if a suffix followed. Mirrors Go,
/// which replaces the last *two* bytes with "a".
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let b = &name.as_bytes()[..name.len() - 2];
        format!("{}a", String::from_utf8_lossy(b))
    } else {
        name.to_string()
    }
}

/// Names that must be DNS-1123 subdomains (most resources).
pub fn name_is_dns_subdomain(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_dns1123_subdomain(&mask_trailing_dash(name))
    } else {
        is_dns1123_subdomain(name)
    }
}

/// Names that must be DNS-1123 labels (Namespace).
pub fn name_is_dns_label(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_dns1123_label(&mask_trailing_dash(name))
    } else {
        is_dns1123_label(name)
    }
}

/// Names that must be DNS-1035 labels (Service).
pub fn name_is_dns1035_label(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_dns1035_label(&mask_trailing_dash(name))
    } else {
        is_dns1035_label(name)
    }
}

/// The check every resource gets from the generic registry.
pub fn name_is_path_segment(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_valid_path_segment_prefix(name)
    } else {
        is_valid_path_segment_name(name)
    }
}

fn meta(obj: &Value) -> &Value {
    static EMPTY: Value = Value::Null;
    obj.get("metadata").unwrap_or(&EMPTY)
}

fn meta_path() -> Path {
    Path::new("metadata")
}

/// Label keys and values (`metadata.labels`, `spec.selector`, …). Errors
/// carry the map's path without the key, as upstream does.
pub fn validate_labels(labels: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = labels.and_then(Value::as_object) else {
        return errs;
    };
    for (k, v) in map {
        errs.extend(validate_label_name(k, path));
        let v = v.as_str().unwrap_or("");
        for msg in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
    errs
}

/// A label key.
pub fn validate_label_name(key: &str, path: &Path) -> Vec<FieldError> {
    is_qualified_name(key)
        .into_iter()
        .map(|msg| FieldError::invalid(path, key, msg))
        .collect()
}

/// A field that must be a qualified name.
pub fn validate_qualified_name(value: &str, path: &Path) -> Vec<FieldError> {
    validate_label_name(value, path)
}

/// A field that must be a DNS-1123 label.
pub fn validate_dns1123_label(value: &str, path: &Path) -> Vec<FieldError> {
    is_dns1123_label(value)
        .into_iter()
        .map(|msg| FieldError::invalid(path, value, msg))
        .collect()
}

/// A field that must be a DNS-1123 subdomain.
pub fn validate_dns1123_subdomain(value: &str, path: &Path) -> Vec<FieldError> {
    is_dns1123_subdomain(value)
        .into_iter()
        .map(|msg| FieldError::invalid(path, value, msg))
        .collect()
}

/// Annotation keys (case-insensitive qualified names) and total size.
pub fn validate_annotations(annotations: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = annotations.and_then(Value::as_object) else {
        return errs;
    };
    let mut total = 0usize;
    for (k, v) in map {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// `group/version` → (group, version) like `schema.ParseGroupVersion`;
/// malformed input gives an empty version.
fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.matches('/').count() {
        0 => ("", api_version),
        1 => api_version.split_once('/').unwrap_or(("", "")),
        _ => ("", ""),
    }
}

fn owner_ref_repr(r: &Value) -> String {
    let ptr = |key: &str| match r.get(key).and_then(Value::as_bool) {
        Some(b) => format!("&{b}"),
        None => "(*bool)(nil)".to_string(),
    };
    format!(
        "v1.OwnerReference{{APIVersion:{}, Kind:{}, Name:{}, UID:{}, Controller:{}, BlockOwnerDeletion:{}}}",
        crate::field::go_quote(str_at(r, "apiVersion")),
        crate::field::go_quote(str_at(r, "kind")),
        crate::field::go_quote(str_at(r, "name")),
        crate::field::go_quote(str_at(r, "uid")),
        ptr("controller"),
        ptr("blockOwnerDeletion"),
    )
}

/// Owner references: required parts, banned owners, a single controller.
pub fn validate_owner_references(refs: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller = String::new();
    for r in refs {
        let api_version = str_at(r, "apiVersion");
        let kind = str_at(r, "kind");
        let (group, version) = split_api_version(api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                path.child("apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                path.child("kind"),
                kind,
                "kind must not be empty",
            ));
        }
        if str_at(r, "name").is_empty() {
            errs.push(FieldError::invalid(
                path.child("name"),
                "",
                "name must not be empty",
            ));
        }
        if str_at(r, "uid").is_empty() {
            errs.push(FieldError::invalid(
                path.child("uid"),
                "",
                "uid must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(gorepr::invalid(
                path,
                &owner_ref_repr(r),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", kind, str_at(r, "name"));
            if first_controller.is_empty() {
                first_controller = current;
            } else {
                let all: Vec<String> = refs.iter().map(owner_ref_repr).collect();
                errs.push(gorepr::invalid(
                    path,
                    &format!("[]v1.OwnerReference{{{}}}", all.join(", ")),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first_controller} and {current}"
                    ),
                ));
            }
        }
    }
    errs
}

/// Finalizer names (apimachinery part: qualified names, no orphan+foreground).
pub fn validate_finalizers(finalizers: &[&str], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in finalizers {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, *f, msg));
        }
    }
    if finalizers.contains(&"orphan") && finalizers.contains(&"foregroundDeletion") {
        errs.push(gorepr::invalid(
            path,
            &gorepr::string_slice(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// The core group's extra rule: a finalizer without '/' must be a standard one.
pub fn validate_kube_finalizer_name(name: &str, path: &Path) -> Vec<FieldError> {
    if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        vec![FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        )]
    } else {
        Vec::new()
    }
}

fn validate_managed_fields(entries: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let p = path.index(i);
        let op = str_at(e, "operation");
        if op != "Apply" && op != "Update" {
            errs.push(FieldError::invalid(
                p.child("operation"),
                op,
                "must be `Apply` or `Update`",
            ));
        }
        let ft = str_at(e, "fieldsType");
        if !ft.is_empty() && ft != "FieldsV1" {
            errs.push(FieldError::invalid(
                p.child("fieldsType"),
                ft,
                "must be `FieldsV1`",
            ));
        }
    }
    errs
}

fn finalizers(m: &Value) -> Vec<&str> {
    arr_at(m, "finalizers")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// apimachinery's `ValidateObjectMetaAccessor` (no core finalizer rule).
pub fn validate_object_meta_accessor(
    obj: &Value,
    requires_namespace: bool,
    name_fn: NameFn,
) -> Vec<FieldError> {
    let m = meta(obj);
    let p = meta_path();
    let mut errs = Vec::new();
    let generate_name = str_at(m, "generateName");
    if !generate_name.is_empty() {
        for msg in name_fn(generate_name, true) {
            errs.push(FieldError::invalid(
                p.child("generateName"),
                generate_name,
                msg,
            ));
        }
    }
    let name = str_at(m, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            p.child("name"),
            "name or generateName is required",
        ));
    } else {
        for msg in name_fn(name, false) {
            errs.push(FieldError::invalid(p.child("name"), name, msg));
        }
    }
    let namespace = str_at(m, "namespace");
    if requires_namespace {
        if namespace.is_empty() {
            errs.push(FieldError::required(p.child("namespace"), ""));
        } else {
            for msg in name_is_dns_label(namespace, false) {
                errs.push(FieldError::invalid(p.child("namespace"), namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            p.child("namespace"),
            "not allowed on this type",
        ));
    }
    if let Some(g) = int_at(m, "generation").filter(|g| *g < 0) {
        errs.push(FieldError::invalid(p.child("generation"), g, IS_NEGATIVE));
    }
    errs.extend(validate_labels(m.get("labels"), &p.child("labels")));
    errs.extend(validate_annotations(
        m.get("annotations"),
        &p.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        arr_at(m, "ownerReferences"),
        &p.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(&finalizers(m), &p.child("finalizers")));
    errs.extend(validate_managed_fields(
        arr_at(m, "managedFields"),
        &p.child("managedFields"),
    ));
    errs
}

/// The core group's `ValidateObjectMeta`: what every strategy runs on create.
pub fn validate_object_meta(
    obj: &Value,
    requires_namespace: bool,
    name_fn: NameFn,
) -> Vec<FieldError> {
    let mut errs = validate_object_meta_accessor(obj, requires_namespace, name_fn);
    errs.extend(kube_finalizer_errors(obj));
    errs
}

fn kube_finalizer_errors(obj: &Value) -> Vec<FieldError> {
    let p = meta_path().child("finalizers");
    finalizers(meta(obj))
        .iter()
        .enumerate()
        .flat_map(|(i, f)| validate_kube_finalizer_name(f, &p.index(i)))
        .collect()
}

/// Go's `time.Time.String()` for an RFC 3339 timestamp (how immutable
/// timestamps are printed).
fn go_time(v: Option<&Value>) -> String {
    let s = v.and_then(Value::as_str).unwrap_or("");
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S +0000 UTC")
            .to_string(),
        Err(_) => "0001-01-01 00:00:00 +0000 UTC".to_string(),
    }
}

/// "field is immutable" when `new` and `old` differ (Go zero values equal).
pub fn immutable(new: Option<&Value>, old: Option<&Value>, path: &Path) -> Option<FieldError> {
    if super::json::same(new, old) {
        return None;
    }
    let bad = match new {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v) => v.clone(),
    };
    Some(FieldError::invalid(path, bad, FIELD_IMMUTABLE))
}

/// apimachinery's `ValidateObjectMetaAccessorUpdate`.
pub fn validate_object_meta_accessor_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let (n, o) = (meta(new), meta(old));
    let p = meta_path();
    let mut errs = Vec::new();
    if get(o, &["deletionTimestamp"]).is_some() {
        let old_f = finalizers(o);
        let mut extra: Vec<&str> = finalizers(n)
            .into_iter()
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            errs.push(FieldError::forbidden(
                p.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    gorepr::string_slice(&extra)
                ),
            ));
        }
    }
    if str_at(n, "resourceVersion").is_empty() {
        errs.push(FieldError::invalid(
            p.child("resourceVersion"),
            "",
            "must be specified for an update",
        ));
    }
    let (ng, og) = (
        int_at(n, "generation").unwrap_or(0),
        int_at(o, "generation").unwrap_or(0),
    );
    if ng < og {
        errs.push(FieldError::invalid(
            p.child("generation"),
            ng,
            "must not be decremented",
        ));
    }
    for key in ["name", "namespace", "uid"] {
        errs.extend(immutable(n.get(key), o.get(key), &p.child(key)));
    }
    for key in ["creationTimestamp", "deletionTimestamp"] {
        if !super::json::same(n.get(key), o.get(key)) {
            errs.push(gorepr::invalid(
                p.child(key),
                &go_time(n.get(key)),
                FIELD_IMMUTABLE,
            ));
        }
    }
    let key = "deletionGracePeriodSeconds";
    if !super::json::same(n.get(key), o.get(key)) {
        errs.push(FieldError::invalid(
            p.child(key),
            gorepr::int_or_null(n.get(key)),
            FIELD_IMMUTABLE,
        ));
    }
    errs.extend(validate_labels(n.get("labels"), &p.child("labels")));
    errs.extend(validate_annotations(
        n.get("annotations"),
        &p.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        arr_at(n, "ownerReferences"),
        &p.child("ownerReferences"),
    ));
    errs.extend(validate_managed_fields(
        arr_at(n, "managedFields"),
        &p.child("managedFields"),
    ));
    errs
}

/// The core group's `ValidateObjectMetaUpdate`: what strategies run on update.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_accessor_update(new, old);
    errs.extend(kube_finalizer_errors(new));
    errs
}

/// What the generic registry checks after a strategy's create validation
/// passed: ObjectMeta with path-segment-safe names.
pub fn generic_create_errors(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    validate_object_meta_accessor(obj, namespaced, name_is_path_segment)
}

/// What the generic registry checks before a strategy's update validation
/// (these errors come first in kube-apiserver's list).
pub fn common_update_errors(new: &Value, old: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = validate_object_meta_accessor(new, namespaced, name_is_path_segment);
    errs.extend(validate_object_meta_accessor_update(new, old));
    errs
}

/// Whether a map-valued annotation/label set has `key`.
pub fn has_annotation(obj: &Value, key: &str) -> bool {
    obj_at(meta(obj), "annotations").is_some_and(|m| m.contains_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    fn texts(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn create_rules() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let cases: Vec<(Value, bool, Vec<String>)> = vec![
            (json!({"metadata": {"name": "ok", "namespace": "default"}}), true, vec![]),
            (
                json!({"metadata": {"namespace": "default"}}),
                true,
                vec!["metadata.name: Required value: name or generateName is required".into()],
            ),
            (
                json!({"metadata": {"name": "Bad_Name", "namespace": "default"}}),
                true,
                vec![format!("metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN}")],
            ),
            (
                json!({"metadata": {"generateName": "web-", "namespace": "default", "name": "web-x1"}}),
                true,
                vec![],
            ),
            (
                json!({"metadata": {"name": "a"}}),
                true,
                vec!["metadata.namespace: Required value".into()],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "x"}}),
                false,
                vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "d", "labels": {"app": "bad value"}}}),
                true,
                vec!["metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into()],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "d", "labels": {"a": "x".repeat(64)}}}),
                true,
                vec![format!("metadata.labels: Invalid value: \"{}\": must be no more than 63 characters", "x".repeat(64))],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "d", "annotations": {"k": big}}}),
                true,
                vec!["metadata.annotations: Too long: may not be more than 262144 bytes".into()],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "d", "finalizers": ["foo"]}}),
                true,
                vec!["metadata.finalizers[0]: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified".into()],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "d", "finalizers": ["orphan", "foregroundDeletion", "example.com/x"]}}),
                true,
                vec!["metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\", \"example.com/x\"}: finalizer orphan and foregroundDeletion cannot be both set".into()],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "d", "ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]}}),
                true,
                vec![
                    "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty".into(),
                    "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty".into(),
                    "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty".into(),
                    "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty".into(),
                ],
            ),
            (
                json!({"metadata": {"name": "a", "namespace": "d", "generation": -1}}),
                true,
                vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0".into()],
            ),
        ];
        for (obj, ns, want) in cases {
            assert_eq!(
                texts(validate_object_meta(&obj, ns, name_is_dns_subdomain)),
                want,
                "{obj}"
            );
        }
    }

    #[test]
    fn generate_name_prefix_is_masked() {
        let obj = json!({"metadata": {"generateName": "Web-", "name": "x"}});
        let errs = texts(validate_object_meta(&obj, false, name_is_dns_subdomain));
        assert_eq!(
            errs,
            vec![format!(
                "metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN}"
            )]
        );
        assert!(mask_trailing_dash("web-") == "wea");
    }

    #[test]
    fn update_rules() {
        let old = json!({"metadata": {"name": "a", "namespace": "d", "uid": "u1", "resourceVersion": "5", "generation": 2, "creationTimestamp": "2024-01-02T03:04:05Z"}});
        let ok = old.clone();
        assert!(validate_object_meta_update(&ok, &old).is_empty());
        let new = json!({"metadata": {"name": "b", "namespace": "d", "uid": "u2", "generation": 1, "creationTimestamp": "2024-01-02T03:04:06Z"}});
        assert_eq!(
            texts(validate_object_meta_update(&new, &old)),
            vec![
                "metadata.resourceVersion: Invalid value: \"\": must be specified for an update",
                "metadata.generation: Invalid value: 1: must not be decremented",
                "metadata.name: Invalid value: \"b\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable",
                "metadata.creationTimestamp: Invalid value: 2024-01-02 03:04:06 +0000 UTC: field is immutable",
            ]
        );
        let deleting = json!({"metadata": {"name": "a", "resourceVersion": "1", "deletionTimestamp": "2024-01-02T03:04:05Z", "finalizers": ["kubernetes"]}});
        let mut new = deleting.clone();
        new["metadata"]["finalizers"] = json!(["kubernetes", "example.com/b", "example.com/a"]);
        assert_eq!(
            texts(validate_object_meta_update(&new, &deleting)),
            vec!["metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/a\", \"example.com/b\"}"]
        );
    }

    #[test]
    fn generic_checks_use_path_segment_rules() {
        let obj = json!({"metadata": {"name": "a%b", "namespace": "d"}});
        assert_eq!(
            texts(generic_create_errors(&obj, true)),
            vec!["metadata.name: Invalid value: \"a%b\": may not contain '%'"]
        );
    }
}
