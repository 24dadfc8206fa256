//! Discovery documents, built from the resource registry: legacy
//! (`/api`, `/api/v1`, `/apis`, `/apis/{group}[/{version}]`) and aggregated
//! (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`).

use k1s_api::resource::{in_group, ResourceInfo, GROUPS, RESOURCES};
use serde_json::{json, Value};

/// The aggregated discovery versions a v1.32 server serves: v2, and
/// v2beta1 for kubectl up to 1.29.
pub const AGGREGATED_VERSIONS: [&str; 2] = ["v2", "v2beta1"];

/// The media type of an aggregated discovery document of `version`.
pub fn aggregated_media_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

/// The aggregated discovery version the client asks for first, if any
/// (kubectl lists it before plain `application/json`).
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    let first = accept.split(',').next()?;
    let params: Vec<&str> = first.split(';').map(str::trim).collect();
    if !params.contains(&"as=APIGroupDiscoveryList") || !params.contains(&"g=apidiscovery.k8s.io") {
        return None;
    }
    AGGREGATED_VERSIONS
        .into_iter()
        .find(|v| params.contains(&format!("v={v}").as_str()))
}

pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_versions(group: &str) -> Value {
    let version = in_group(group).next().map(|r| r.version).unwrap_or("v1");
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|g| group_versions(g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(group: &str) -> Option<Value> {
    if !GROUPS.contains(&group) {
        return None;
    }
    let mut g = group_versions(group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn legacy_entries(r: &ResourceInfo) -> Vec<Value> {
    let mut out = Vec::new();
    let mut main = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        main["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        main["categories"] = json!(r.categories);
    }
    if !r.storage_version_hash.is_empty() {
        main["storageVersionHash"] = json!(r.storage_version_hash);
    }
    out.push(main);
    for s in r.subresources {
        let mut e = json!({
            "name": format!("{}/{}", r.plural, s.name),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": s.kind,
            "verbs": s.verbs,
        });
        if !s.group.is_empty() {
            e["group"] = json!(s.group);
            e["version"] = json!(s.version);
        }
        out.push(e);
    }
    out
}

/// `APIResourceList` for one group/version (`""` = core v1).
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&ResourceInfo> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if resources.is_empty() {
        return None;
    }
    let mut sorted = resources;
    sorted.sort_by_key(|r| r.plural);
    let entries: Vec<Value> = sorted.iter().flat_map(|r| legacy_entries(r)).collect();
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}),
    )
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": "", "version": "", "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        let subs: Vec<Value> = r
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect();
        e["subresources"] = json!(subs);
    }
    e
}

fn aggregated_group(group: &str) -> Value {
    let mut resources: Vec<&ResourceInfo> = in_group(group).collect();
    resources.sort_by_key(|r| r.plural);
    let version = resources.first().map(|r| r.version).unwrap_or("v1");
    let entries: Vec<Value> = resources.iter().map(|r| aggregated_resource(r)).collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({
        "metadata": metadata,
        "versions": [{"version": version, "resources": entries, "freshness": "Current"}],
    })
}

/// Aggregated discovery for `/api` (core only) or `/apis` (every group).
pub fn aggregated(legacy: bool, version: &str) -> Value {
    let items: Vec<Value> = if legacy {
        vec![aggregated_group("")]
    } else {
        GROUPS.iter().map(|g| aggregated_group(g)).collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_services_with_subresources() {
        let l = resource_list("", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"services"));
        assert!(names.contains(&"services/status"));
        assert!(names.contains(&"pods/log"));
        assert!(!names.contains(&"deployments"));
        let svc = &l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "services")
            .unwrap();
        assert_eq!(svc["shortNames"], json!(["svc"]));
        assert_eq!(svc["storageVersionHash"], "0/CO1lhkEBI=");
    }

    #[test]
    fn aggregated_scale_points_at_autoscaling() {
        let doc = aggregated(false, "v2");
        let apps = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        let scale = deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "scale")
            .unwrap();
        assert_eq!(
            scale["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
    }

    #[test]
    fn kubectl_accept_header_selects_aggregated() {
        assert_eq!(
            wants_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Some("v2")
        );
        // kubectl 1.27 asks for the beta version only.
        assert_eq!(
            wants_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
            ),
            Some("v2beta1")
        );
        assert_eq!(wants_aggregated("application/json"), None);
    }
}
