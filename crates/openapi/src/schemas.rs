//! `components.schemas` of a document: generated from the k8s-openapi types
//! through schemars, then given what upstream adds (GVK, list/patch
//! extensions, enums) and the list kinds k8s-openapi has no schema for.

use k8s_openapi::api::{apps, autoscaling, coordination, core, discovery, events, policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::extensions;
use crate::gv::GroupVersion;
use crate::operation::schema_ref;
use crate::tags::LIST_DOCS;

const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// A schema k1s can generate, with the kinds it is published for.
struct Known {
    name: &'static str,
    /// (group, version, kind); empty for schemas that are not kinds.
    gvks: &'static [(&'static str, &'static str, &'static str)],
    /// Published for every served group/version (DeleteOptions, WatchEvent).
    every_group: bool,
    add: fn(&mut SchemaGenerator),
}

fn add<T: JsonSchema>(gen: &mut SchemaGenerator) {
    gen.subschema_for::<T>();
}

const fn kind(
    name: &'static str,
    gvks: &'static [(&'static str, &'static str, &'static str)],
    add: fn(&mut SchemaGenerator),
) -> Known {
    Known {
        name,
        gvks,
        every_group: false,
        add,
    }
}

static KNOWN: &[Known] = &[
    kind(
        "io.k8s.api.core.v1.Binding",
        &[("", "v1", "Binding")],
        add::<core::v1::Binding>,
    ),
    kind(
        "io.k8s.api.core.v1.ConfigMap",
        &[("", "v1", "ConfigMap")],
        add::<core::v1::ConfigMap>,
    ),
    kind(
        "io.k8s.api.core.v1.Endpoints",
        &[("", "v1", "Endpoints")],
        add::<core::v1::Endpoints>,
    ),
    kind(
        "io.k8s.api.core.v1.Event",
        &[("", "v1", "Event")],
        add::<core::v1::Event>,
    ),
    kind(
        "io.k8s.api.core.v1.Namespace",
        &[("", "v1", "Namespace")],
        add::<core::v1::Namespace>,
    ),
    kind(
        "io.k8s.api.core.v1.Node",
        &[("", "v1", "Node")],
        add::<core::v1::Node>,
    ),
    kind(
        "io.k8s.api.core.v1.Pod",
        &[("", "v1", "Pod")],
        add::<core::v1::Pod>,
    ),
    kind(
        "io.k8s.api.core.v1.ReplicationController",
        &[("", "v1", "ReplicationController")],
        add::<core::v1::ReplicationController>,
    ),
    kind(
        "io.k8s.api.core.v1.Secret",
        &[("", "v1", "Secret")],
        add::<core::v1::Secret>,
    ),
    kind(
        "io.k8s.api.core.v1.ServiceAccount",
        &[("", "v1", "ServiceAccount")],
        add::<core::v1::ServiceAccount>,
    ),
    kind(
        "io.k8s.api.core.v1.Service",
        &[("", "v1", "Service")],
        add::<core::v1::Service>,
    ),
    kind(
        "io.k8s.api.apps.v1.DaemonSet",
        &[("apps", "v1", "DaemonSet")],
        add::<apps::v1::DaemonSet>,
    ),
    kind(
        "io.k8s.api.apps.v1.Deployment",
        &[("apps", "v1", "Deployment")],
        add::<apps::v1::Deployment>,
    ),
    kind(
        "io.k8s.api.apps.v1.ReplicaSet",
        &[("apps", "v1", "ReplicaSet")],
        add::<apps::v1::ReplicaSet>,
    ),
    kind(
        "io.k8s.api.autoscaling.v1.Scale",
        &[("autoscaling", "v1", "Scale")],
        add::<autoscaling::v1::Scale>,
    ),
    kind(
        "io.k8s.api.coordination.v1.Lease",
        &[("coordination.k8s.io", "v1", "Lease")],
        add::<coordination::v1::Lease>,
    ),
    kind(
        "io.k8s.api.discovery.v1.EndpointSlice",
        &[("discovery.k8s.io", "v1", "EndpointSlice")],
        add::<discovery::v1::EndpointSlice>,
    ),
    kind(
        "io.k8s.api.events.v1.Event",
        &[("events.k8s.io", "v1", "Event")],
        add::<events::v1::Event>,
    ),
    kind(
        "io.k8s.api.policy.v1.Eviction",
        &[("policy", "v1", "Eviction")],
        add::<policy::v1::Eviction>,
    ),
    kind(
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
        &[("", "v1", "APIResourceList")],
        add::<meta::APIResourceList>,
    ),
    kind(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        &[("", "v1", "Status")],
        add::<meta::Status>,
    ),
    kind(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        &[],
        add::<meta::Patch>,
    ),
    Known {
        name: "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        gvks: &[],
        every_group: true,
        add: add::<meta::DeleteOptions>,
    },
    Known {
        name: "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
        gvks: &[],
        every_group: true,
        add: add::<meta::WatchEvent<RawExtension>>,
    },
];

/// The schemas named in `refs` and everything they refer to, ready for a
/// document served next to `served` group/versions.
pub(crate) fn components(refs: &[String], served: &[GroupVersion]) -> Map<String, Value> {
    let settings = SchemaSettings::openapi3().with(|s| s.meta_schema = None);
    let mut gen = settings.into_generator();
    let mut lists = Vec::new();
    for name in refs {
        if let Some(known) = KNOWN.iter().find(|k| k.name == name) {
            (known.add)(&mut gen);
        } else if let Some(item) = name.strip_suffix("List") {
            if let Some(known) = KNOWN.iter().find(|k| k.name == item) {
                (known.add)(&mut gen);
                add::<meta::ListMeta>(&mut gen);
                lists.push((name.as_str(), known));
            }
        }
    }
    let mut schemas = gen.take_definitions(true);
    for (name, item) in lists {
        if let Some(list) = list_schema(name, item, &schemas) {
            schemas.insert(name.to_string(), list);
        }
    }
    let every_group = every_group_gvks(served);
    for known in KNOWN {
        let Some(Value::Object(schema)) = schemas.get_mut(known.name) else {
            continue;
        };
        let kind = known.name.rsplit('.').next().unwrap_or_default();
        let gvks: Vec<Value> = if known.every_group {
            every_group
                .iter()
                .map(|(g, v)| json!({"group": g, "kind": kind, "version": v}))
                .collect()
        } else {
            known
                .gvks
                .iter()
                .map(|(g, v, k)| json!({"group": g, "kind": k, "version": v}))
                .collect()
        };
        if !gvks.is_empty() {
            schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
        }
        if !METADATA_REQUIRED.contains(&known.name) {
            optional_metadata(schema);
        }
    }
    extensions::apply(&mut schemas);
    let mut sorted: Vec<(String, Value)> = schemas.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.into_iter().collect()
}

/// Kinds whose Go type has `metadata` without `omitempty`; k8s-openapi
/// marks `metadata` required on every kind, upstream only on these.
const METADATA_REQUIRED: &[&str] = &["io.k8s.api.core.v1.Event", "io.k8s.api.events.v1.Event"];

fn optional_metadata(schema: &mut Map<String, Value>) {
    let Some(Value::Array(required)) = schema.get_mut("required") else {
        return;
    };
    required.retain(|r| r != "metadata");
    if required.is_empty() {
        schema.remove("required");
    }
}

/// Group/versions DeleteOptions and WatchEvent are published for, sorted
/// like upstream: core, the served groups, and the subresources' groups.
fn every_group_gvks(served: &[GroupVersion]) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = served.iter().map(|gv| (gv.group, gv.version)).collect();
    out.extend([("autoscaling", "v1"), ("policy", "v1")]);
    out.sort();
    out.dedup();
    out
}

/// `FooList`: k8s-openapi has no schema for `List<T>`, so it is written
/// here from the Go type's docs, with the item kind's apiVersion/kind fields.
fn list_schema(name: &str, item: &Known, schemas: &Map<String, Value>) -> Option<Value> {
    let (_, doc, items_doc, meta_doc) = LIST_DOCS.iter().find(|(n, ..)| *n == name)?;
    let props = schemas.get(item.name)?.get("properties")?;
    let gvks: Vec<Value> = item
        .gvks
        .iter()
        .map(|(g, v, k)| json!({"group": g, "kind": format!("{k}List"), "version": v}))
        .collect();
    Some(json!({
        "description": doc,
        "properties": {
            "apiVersion": props.get("apiVersion")?,
            "items": {"description": items_doc, "items": schema_ref(item.name), "type": "array"},
            "kind": props.get("kind")?,
            "metadata": {"allOf": [schema_ref(LIST_META)], "description": meta_doc}
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": gvks
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core_gv() -> Vec<GroupVersion> {
        vec![GroupVersion {
            group: "",
            version: "v1",
        }]
    }

    #[test]
    fn kinds_carry_their_gvk() {
        let s = components(
            &[
                "io.k8s.api.core.v1.Service".into(),
                "io.k8s.api.core.v1.ServiceList".into(),
            ],
            &core_gv(),
        );
        assert_eq!(
            s["io.k8s.api.core.v1.Service"]["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Service", "version": "v1"}])
        );
        assert_eq!(
            s["io.k8s.api.core.v1.ServiceList"]["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "ServiceList", "version": "v1"}])
        );
        assert_eq!(
            s["io.k8s.api.core.v1.ServiceList"]["properties"]["items"]["description"],
            "List of services"
        );
        // Dependencies come along; non-kinds carry no GVK.
        let spec = &s["io.k8s.api.core.v1.ServiceSpec"];
        assert!(spec.get("x-kubernetes-group-version-kind").is_none());
        assert_eq!(
            spec["properties"]["ports"]["x-kubernetes-patch-merge-key"],
            "port"
        );
        assert!(s.contains_key(LIST_META));
    }

    #[test]
    fn metadata_is_required_only_where_upstream_requires_it() {
        let s = components(
            &[
                "io.k8s.api.core.v1.Service".into(),
                "io.k8s.api.core.v1.Event".into(),
                "io.k8s.api.core.v1.Binding".into(),
            ],
            &core_gv(),
        );
        assert!(s["io.k8s.api.core.v1.Service"].get("required").is_none());
        assert_eq!(
            s["io.k8s.api.core.v1.Binding"]["required"],
            json!(["target"])
        );
        assert_eq!(
            s["io.k8s.api.core.v1.Event"]["required"],
            json!(["involvedObject", "metadata"])
        );
    }

    #[test]
    fn refs_with_descriptions_become_all_of() {
        let s = components(&["io.k8s.api.core.v1.Service".into()], &core_gv());
        assert_eq!(
            s["io.k8s.api.core.v1.Service"]["properties"]["spec"]["allOf"],
            json!([{"$ref": "#/components/schemas/io.k8s.api.core.v1.ServiceSpec"}])
        );
        assert_eq!(
            s["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]["items"],
            json!({"$ref": "#/components/schemas/io.k8s.api.core.v1.ServicePort"})
        );
    }

    #[test]
    fn delete_options_name_every_served_group() {
        let served = vec![
            GroupVersion {
                group: "",
                version: "v1",
            },
            GroupVersion {
                group: "apps",
                version: "v1",
            },
        ];
        let s = components(
            &["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".into()],
            &served,
        );
        let groups: Vec<&str> = s["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]
            ["x-kubernetes-group-version-kind"]
            .as_array()
            .map(|a| a.iter().filter_map(|g| g["group"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(groups, ["", "apps", "autoscaling", "policy"]);
    }

    #[test]
    fn every_list_kind_has_docs() {
        for known in KNOWN.iter().filter(|k| k.name.starts_with("io.k8s.api.")) {
            let list = format!("{}List", known.name);
            let needs_list = !matches!(
                known.name,
                "io.k8s.api.core.v1.Binding"
                    | "io.k8s.api.autoscaling.v1.Scale"
                    | "io.k8s.api.policy.v1.Eviction"
            );
            assert_eq!(
                LIST_DOCS.iter().any(|(n, ..)| *n == list),
                needs_list,
                "{list}"
            );
        }
    }
}
