//! Adds what k8s-openapi's schemas lack but kube-apiserver publishes: the
//! `x-kubernetes-*` list/map/patch extensions (kubectl's strategic merge patch
//! reads them) and the string enums (`kubectl explain` prints them).

use serde_json::{Map, Value};

use crate::tags::{ATOMIC_STRUCTS, ENUMS, ENUM_FIELDS, FIELDS};

/// Struct-tag facts about one property of one schema.
pub(crate) struct FieldTags {
    pub schema: &'static str,
    pub property: &'static str,
    pub list_type: Option<&'static str>,
    pub list_map_keys: &'static [&'static str],
    pub patch_merge_key: Option<&'static str>,
    pub patch_strategy: Option<&'static str>,
    pub map_type: Option<&'static str>,
}

/// A Go string type marked `+enum`: its sorted values and the
/// "Possible enum values" lines kube-openapi appends to descriptions.
pub(crate) struct EnumType {
    pub name: &'static str,
    pub values: &'static [&'static str],
    pub lines: &'static str,
}

/// Header kube-openapi puts before the enum value lines.
const ENUM_HEADER: &str = "Possible enum values:";

/// Adds the extensions and enums to every schema of `schemas` they concern.
pub(crate) fn apply(schemas: &mut Map<String, Value>) {
    for tags in FIELDS {
        if let Some(prop) = property(schemas, tags.schema, tags.property) {
            add_field_tags(prop, tags);
        }
    }
    for name in ATOMIC_STRUCTS {
        if let Some(Value::Object(schema)) = schemas.get_mut(*name) {
            schema.insert("x-kubernetes-map-type".into(), "atomic".into());
        }
    }
    for (schema, prop, enum_name) in ENUM_FIELDS {
        let Some(enum_type) = ENUMS.iter().find(|e| e.name == *enum_name) else {
            continue;
        };
        if let Some(prop) = property(schemas, schema, prop) {
            add_enum(prop, enum_type);
        }
    }
}

fn property<'a>(
    schemas: &'a mut Map<String, Value>,
    schema: &str,
    prop: &str,
) -> Option<&'a mut Map<String, Value>> {
    schemas
        .get_mut(schema)?
        .get_mut("properties")?
        .get_mut(prop)?
        .as_object_mut()
}

fn add_field_tags(prop: &mut Map<String, Value>, tags: &FieldTags) {
    if !tags.list_map_keys.is_empty() {
        let keys = tags.list_map_keys.iter().map(|k| Value::from(*k)).collect();
        prop.insert("x-kubernetes-list-map-keys".into(), Value::Array(keys));
    }
    let pairs = [
        ("x-kubernetes-list-type", tags.list_type),
        ("x-kubernetes-map-type", tags.map_type),
        ("x-kubernetes-patch-merge-key", tags.patch_merge_key),
        ("x-kubernetes-patch-strategy", tags.patch_strategy),
    ];
    for (key, value) in pairs {
        if let Some(value) = value {
            prop.insert(key.into(), value.into());
        }
    }
}

fn add_enum(prop: &mut Map<String, Value>, enum_type: &EnumType) {
    let values = enum_type.values.iter().map(|v| Value::from(*v)).collect();
    prop.insert("enum".into(), Value::Array(values));
    let description = prop
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let text = format!("{description}\n\n{ENUM_HEADER}\n{}", enum_type.lines);
    prop.insert("description".into(), text.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn service_ports_get_list_and_patch_extensions() {
        let mut s = schemas(json!({
            "io.k8s.api.core.v1.ServiceSpec": {"properties": {"ports": {"type": "array"}}}
        }));
        apply(&mut s);
        assert_eq!(
            s["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"],
            json!({
                "type": "array",
                "x-kubernetes-list-map-keys": ["port", "protocol"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "port",
                "x-kubernetes-patch-strategy": "merge"
            })
        );
    }

    #[test]
    fn smp_lists_carry_their_merge_keys() {
        let cases = [
            (
                "io.k8s.api.core.v1.PodSpec",
                "containers",
                Some("name"),
                "merge",
            ),
            (
                "io.k8s.api.core.v1.PodSpec",
                "volumes",
                Some("name"),
                "merge,retainKeys",
            ),
            ("io.k8s.api.core.v1.Container", "env", Some("name"), "merge"),
            (
                "io.k8s.api.core.v1.Container",
                "ports",
                Some("containerPort"),
                "merge",
            ),
            (
                "io.k8s.api.core.v1.Container",
                "volumeMounts",
                Some("mountPath"),
                "merge",
            ),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "ownerReferences",
                Some("uid"),
                "merge",
            ),
            (
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "finalizers",
                None,
                "merge",
            ),
            (
                "io.k8s.api.apps.v1.DeploymentStatus",
                "conditions",
                Some("type"),
                "merge",
            ),
            (
                "io.k8s.api.core.v1.PodStatus",
                "conditions",
                Some("type"),
                "merge",
            ),
            (
                "io.k8s.api.apps.v1.DeploymentSpec",
                "strategy",
                None,
                "retainKeys",
            ),
        ];
        for (schema, prop, key, strategy) in cases {
            let mut s = schemas(json!({ schema: {"properties": { prop: {} }} }));
            apply(&mut s);
            let got = &s[schema]["properties"][prop];
            assert_eq!(
                got["x-kubernetes-patch-strategy"],
                json!(strategy),
                "{schema}.{prop}"
            );
            assert_eq!(
                got.get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str),
                key,
                "{schema}.{prop}"
            );
        }
    }

    #[test]
    fn enums_add_values_and_description_lines() {
        let mut s = schemas(json!({
            "io.k8s.api.core.v1.ServicePort": {"properties": {"protocol": {
                "description": "The IP protocol for this port. Supports \"TCP\", \"UDP\", and \"SCTP\". Default is TCP.",
                "type": "string"
            }}}
        }));
        apply(&mut s);
        let prop = &s["io.k8s.api.core.v1.ServicePort"]["properties"]["protocol"];
        assert_eq!(prop["enum"], json!(["SCTP", "TCP", "UDP"]));
        assert_eq!(
            prop["description"],
            "The IP protocol for this port. Supports \"TCP\", \"UDP\", and \"SCTP\". Default is TCP.\n\n\
             Possible enum values:\n \
             - `\"SCTP\"` is the SCTP protocol.\n \
             - `\"TCP\"` is the TCP protocol.\n \
             - `\"UDP\"` is the UDP protocol."
        );
    }

    #[test]
    fn atomic_structs_are_marked() {
        let mut s = schemas(json!({
            "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector": {"type": "object"}
        }));
        apply(&mut s);
        assert_eq!(
            s["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"],
            "atomic"
        );
    }
}
