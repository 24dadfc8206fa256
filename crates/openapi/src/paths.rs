//! The `paths` of a group/version document, laid out like kube-apiserver's:
//! collection, item, subresource and (deprecated) watch paths per resource.

use std::collections::BTreeMap;

use k1s_api::resource::{ResourceInfo, Subresource};
use serde_json::{Map, Value};

use crate::gv::{upper_first, GroupVersion};
use crate::operation::{body, gvk, Answer, Operation, PATCH_TYPES};
use crate::params;

pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(crate) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";

/// Media types of `pods/log`.
const LOG_TYPES: &[&str] = &[
    "application/json",
    "application/vnd.kubernetes.protobuf",
    "application/yaml",
    "text/plain",
];
const ANY: &[&str] = &["*/*"];

/// Path → path item, sorted like upstream's.
pub(crate) type Paths = BTreeMap<String, Map<String, Value>>;

/// All paths of one group/version document.
pub(crate) fn build(gv: &GroupVersion) -> Paths {
    let mut paths = Paths::new();
    let discovery = Operation::new(
        "get",
        format!("get{}APIResources", gv.op_infix()),
        "get available resources".into(),
        Answer::Read(API_RESOURCE_LIST),
    );
    paths
        .entry(format!("{}/", gv.prefix()))
        .or_default()
        .insert("get".into(), discovery.into_value(&gv.tag()));
    for r in gv.resources() {
        Resource::new(gv, r).add(&mut paths);
    }
    paths
}

/// The names one resource's operations are built from.
struct Resource<'a> {
    gv: &'a GroupVersion,
    info: &'static ResourceInfo,
    tag: String,
    gvk: Value,
    schema: String,
    /// `Namespaced` or "" in operation ids.
    ns: &'static str,
    /// `/namespaces/{namespace}` or "" in paths.
    ns_path: &'static str,
}

impl<'a> Resource<'a> {
    fn new(gv: &'a GroupVersion, info: &'static ResourceInfo) -> Self {
        let (ns, ns_path) = if info.namespaced {
            ("Namespaced", "/namespaces/{namespace}")
        } else {
            ("", "")
        };
        Resource {
            gv,
            info,
            tag: gv.tag(),
            gvk: gvk(info.group, info.version, info.kind),
            schema: gv.schema_name(info.kind),
            ns,
            ns_path,
        }
    }

    fn id(&self, verb: &str, suffix: &str) -> String {
        format!(
            "{verb}{}{}{}{suffix}",
            self.gv.op_infix(),
            self.ns,
            self.info.kind
        )
    }

    fn collection(&self) -> String {
        format!("{}{}/{}", self.gv.prefix(), self.ns_path, self.info.plural)
    }

    fn item(&self) -> String {
        format!("{}/{{name}}", self.collection())
    }

    /// Path-level parameters: `name` (items), `namespace`, `pretty`.
    fn path_params(&self, item: bool) -> Vec<Value> {
        let mut out = Vec::new();
        if item {
            out.push(params::name(self.info.kind));
        }
        if self.info.namespaced {
            out.push(params::namespace());
        }
        out.push(params::pretty());
        out
    }

    fn put(&self, paths: &mut Paths, path: String, method: &str, op: Operation, item: bool) {
        let entry = paths.entry(path).or_default();
        entry.insert(method.into(), op.into_value(&self.tag));
        entry.insert("parameters".into(), Value::Array(self.path_params(item)));
    }

    fn add(&self, paths: &mut Paths) {
        self.add_collection(paths);
        self.add_item(paths);
        self.add_watch(paths);
        for sub in self.info.subresources {
            self.add_subresource(paths, sub);
        }
    }

    fn add_collection(&self, paths: &mut Paths) {
        let kind = self.info.kind;
        let list = format!("{}List", self.schema);
        if self.info.has_verb("list") {
            let op = Operation::new(
                "list",
                self.id("list", ""),
                format!("list or watch objects of kind {kind}"),
                Answer::Stream(&list),
            )
            .params(params::options("ListOptions", &[]))
            .gvk(&self.gvk);
            self.put(paths, self.collection(), "get", op, false);
            if self.info.namespaced {
                let op = Operation::new(
                    "list",
                    format!("list{}{kind}ForAllNamespaces", self.gv.op_infix()),
                    format!("list or watch objects of kind {kind}"),
                    Answer::Stream(&list),
                )
                .gvk(&self.gvk);
                let path = format!("{}/{}", self.gv.prefix(), self.info.plural);
                let entry = paths.entry(path).or_default();
                entry.insert("get".into(), op.into_value(&self.tag));
                let mut shared = params::options("ListOptions", &[]);
                shared.push(params::pretty());
                entry.insert("parameters".into(), Value::Array(shared));
            }
        }
        if self.info.has_verb("create") {
            let op = Operation::new(
                "post",
                self.id("create", ""),
                format!("create {}", article(kind)),
                Answer::Create(&self.schema),
            )
            .params(params::options("CreateOptions", &[]))
            .body(body(&self.schema, ANY, true))
            .gvk(&self.gvk);
            self.put(paths, self.collection(), "post", op, false);
        }
        if self.info.has_verb("deletecollection") {
            let op = Operation::new(
                "deletecollection",
                format!("delete{}Collection{}{kind}", self.gv.op_infix(), self.ns),
                format!("delete collection of {kind}"),
                Answer::Read(STATUS),
            )
            .params(params::delete_collection())
            .body(body(DELETE_OPTIONS, ANY, false))
            .gvk(&self.gvk);
            self.put(paths, self.collection(), "delete", op, false);
        }
    }

    fn add_item(&self, paths: &mut Paths) {
        let kind = self.info.kind;
        if self.info.has_verb("get") {
            let op = Operation::new(
                "get",
                self.id("read", ""),
                format!("read the specified {kind}"),
                Answer::Read(&self.schema),
            )
            .gvk(&self.gvk);
            self.put(paths, self.item(), "get", op, true);
        }
        if self.info.has_verb("update") {
            self.put(paths, self.item(), "put", self.replace("", ""), true);
        }
        if self.info.has_verb("patch") {
            self.put(paths, self.item(), "patch", self.patch("", ""), true);
        }
        if self.info.has_verb("delete") {
            let op = Operation::new(
                "delete",
                self.id("delete", ""),
                format!("delete {}", article(kind)),
                Answer::Delete(STATUS),
            )
            .params(params::options("DeleteOptions", &[]))
            .body(body(DELETE_OPTIONS, ANY, false))
            .gvk(&self.gvk);
            self.put(paths, self.item(), "delete", op, true);
        }
    }

    /// PUT of the object or of a subresource (`suffix` `Status`, `Scale`).
    fn replace(&self, suffix: &str, what: &str) -> Operation {
        let (schema, gvk) = self.sub_schema(suffix);
        Operation::new(
            "put",
            self.id("replace", suffix),
            format!("replace {what}the specified {}", self.info.kind),
            Answer::Write(&schema),
        )
        .params(params::options("UpdateOptions", &[]))
        .body(body(&schema, ANY, true))
        .gvk(&gvk)
    }

    /// PATCH of the object or a subresource; kubectl looks for
    /// `fieldValidation` among these parameters to decide on server-side
    /// field validation.
    fn patch(&self, suffix: &str, what: &str) -> Operation {
        let (schema, gvk) = self.sub_schema(suffix);
        Operation::new(
            "patch",
            self.id("patch", suffix),
            format!("partially update {what}the specified {}", self.info.kind),
            Answer::Write(&schema),
        )
        .params(params::options("PatchOptions", &[]))
        .body(body(PATCH, PATCH_TYPES, true))
        .gvk(&gvk)
    }

    /// Schema and GVK a subresource (by op-id suffix) reads and writes.
    fn sub_schema(&self, suffix: &str) -> (String, Value) {
        if suffix == "Scale" {
            let autoscaling = GroupVersion {
                group: "autoscaling",
                version: "v1",
            };
            (
                autoscaling.schema_name("Scale"),
                gvk("autoscaling", "v1", "Scale"),
            )
        } else {
            (self.schema.clone(), self.gvk.clone())
        }
    }

    fn add_watch(&self, paths: &mut Paths) {
        if !self.info.has_verb("watch") {
            return;
        }
        let kind = self.info.kind;
        let prefix = self.gv.prefix();
        let plural = self.info.plural;
        let list_description = format!(
            "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
        );
        let mut watches = vec![
            (
                format!("{prefix}/watch{}/{plural}", self.ns_path),
                "watchlist",
                self.id("watch", "List"),
                list_description.clone(),
                false,
            ),
            (
                format!("{prefix}/watch{}/{plural}/{{name}}", self.ns_path),
                "watch",
                self.id("watch", ""),
                format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
                true,
            ),
        ];
        if self.info.namespaced {
            watches.push((
                format!("{prefix}/watch/{plural}"),
                "watchlist",
                format!("watch{}{kind}ListForAllNamespaces", self.gv.op_infix()),
                list_description,
                false,
            ));
        }
        for (path, action, id, description, item) in watches {
            let op =
                Operation::new(action, id, description, Answer::Stream(WATCH_EVENT)).gvk(&self.gvk);
            let entry = paths.entry(path.clone()).or_default();
            entry.insert("get".into(), op.into_value(&self.tag));
            let all_namespaces = self.info.namespaced && !path.contains("{namespace}");
            let mut shared = params::options("ListOptions", &[]);
            if item {
                shared.push(params::name(kind));
            }
            if !all_namespaces && self.info.namespaced {
                shared.push(params::namespace());
            }
            shared.push(params::pretty());
            entry.insert("parameters".into(), Value::Array(shared));
        }
    }

    fn add_subresource(&self, paths: &mut Paths, sub: &Subresource) {
        let path = format!("{}/{}", self.item(), sub.name);
        let suffix = upper_first(sub.name);
        match sub.name {
            "status" | "scale" => {
                let what = format!("{} of ", sub.name);
                if sub.verbs.contains(&"get") {
                    let (schema, gvk) = self.sub_schema(&suffix);
                    let op = Operation::new(
                        "get",
                        self.id("read", &suffix),
                        format!("read {what}the specified {}", self.info.kind),
                        Answer::Read(&schema),
                    )
                    .gvk(&gvk);
                    self.put(paths, path.clone(), "get", op, true);
                }
                if sub.verbs.contains(&"update") {
                    self.put(
                        paths,
                        path.clone(),
                        "put",
                        self.replace(&suffix, &what),
                        true,
                    );
                }
                if sub.verbs.contains(&"patch") {
                    self.put(paths, path, "patch", self.patch(&suffix, &what), true);
                }
            }
            "finalize" => {
                self.put(
                    paths,
                    path,
                    "put",
                    self.replace(&suffix, "finalize of "),
                    true,
                );
            }
            "binding" | "eviction" => self.add_create_sub(paths, sub, path),
            "log" => {
                let op = Operation::new(
                    "get",
                    self.id("read", "Log"),
                    format!("read log of the specified {}", self.info.kind),
                    Answer::Text(LOG_TYPES),
                )
                .params(params::options("PodLogOptions", &[]))
                .gvk(&self.gvk);
                self.put(paths, path, "get", op, true);
            }
            _ => self.add_connect(paths, sub, path),
        }
    }

    /// POST subresources that take an object: `pods/binding`, `pods/eviction`.
    fn add_create_sub(&self, paths: &mut Paths, sub: &Subresource, path: String) {
        let sub_gv = match sub.name {
            "eviction" => GroupVersion {
                group: "policy",
                version: "v1",
            },
            _ => *self.gv,
        };
        let schema = sub_gv.schema_name(sub.kind);
        let op = Operation::new(
            "post",
            self.id("create", &upper_first(sub.name)),
            format!("create {} of {}", sub.name, article(self.info.kind)),
            Answer::Create(&schema),
        )
        .params(params::options("CreateOptions", &[]))
        .body(body(&schema, ANY, true))
        .gvk(&gvk(sub_gv.group, sub_gv.version, sub.kind));
        self.put(paths, path, "post", op, true);
    }

    /// Streaming subresources (`exec`, `attach`, `portforward`, `proxy`):
    /// one `connect` operation per HTTP method.
    fn add_connect(&self, paths: &mut Paths, sub: &Subresource, path: String) {
        let options = sub.kind;
        let sub_gvk = gvk(self.info.group, self.info.version, options);
        let mut targets = vec![(path.clone(), false)];
        if sub.name == "proxy" {
            targets.push((format!("{path}/{{path}}"), true));
        }
        for (target, with_path) in targets {
            for verb in sub.verbs {
                let Some(method) = http_method(verb) else {
                    continue;
                };
                let word = upper_first(method);
                let op = Operation::new(
                    "connect",
                    format!(
                        "connect{}{word}{}{}{}{}",
                        self.gv.op_infix(),
                        self.ns,
                        self.info.kind,
                        upper_first(sub.name),
                        if with_path { "WithPath" } else { "" }
                    ),
                    format!(
                        "connect {} requests to {} of {}",
                        method.to_uppercase(),
                        sub.name,
                        self.info.kind
                    ),
                    Answer::Text(ANY),
                )
                .params(params::options(options, &[]))
                .gvk(&sub_gvk);
                self.put(paths, target.clone(), method, op, true);
            }
            if with_path {
                if let Some(Value::Array(shared)) = paths
                    .get_mut(&target)
                    .and_then(|item| item.get_mut("parameters"))
                {
                    shared.insert(1, params::proxy_path());
                }
            }
        }
    }
}

/// HTTP method of a connect verb.
fn http_method(verb: &str) -> Option<&'static str> {
    Some(match verb {
        "get" => "get",
        "create" => "post",
        "update" => "put",
        "patch" => "patch",
        "delete" => "delete",
        _ => return None,
    })
}

/// `a Service`, `an Endpoints`: the article kube-apiserver's docs use.
fn article(kind: &str) -> String {
    let vowel = kind.chars().next().is_some_and(|c| "AEIOU".contains(c));
    if vowel {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}

/// Every `#/components/schemas/…` name the paths refer to, sorted.
pub(crate) fn referenced_schemas(paths: &Paths) -> Vec<String> {
    let mut out = Vec::new();
    for item in paths.values() {
        for value in item.values() {
            collect_refs(value, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

pub(crate) fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/components/schemas/") {
                            out.push(name.to_string());
                        }
                    }
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn core() -> Paths {
        build(&GroupVersion {
            group: "",
            version: "v1",
        })
    }

    #[test]
    fn service_paths_like_kube_apiserver() {
        let paths = core();
        let expected = [
            (
                "/api/v1/namespaces/{namespace}/services",
                "get",
                "listCoreV1NamespacedService",
                "list",
            ),
            (
                "/api/v1/namespaces/{namespace}/services",
                "post",
                "createCoreV1NamespacedService",
                "post",
            ),
            (
                "/api/v1/namespaces/{namespace}/services",
                "delete",
                "deleteCoreV1CollectionNamespacedService",
                "deletecollection",
            ),
            (
                "/api/v1/namespaces/{namespace}/services/{name}",
                "get",
                "readCoreV1NamespacedService",
                "get",
            ),
            (
                "/api/v1/namespaces/{namespace}/services/{name}",
                "put",
                "replaceCoreV1NamespacedService",
                "put",
            ),
            (
                "/api/v1/namespaces/{namespace}/services/{name}",
                "patch",
                "patchCoreV1NamespacedService",
                "patch",
            ),
            (
                "/api/v1/namespaces/{namespace}/services/{name}",
                "delete",
                "deleteCoreV1NamespacedService",
                "delete",
            ),
            (
                "/api/v1/namespaces/{namespace}/services/{name}/status",
                "patch",
                "patchCoreV1NamespacedServiceStatus",
                "patch",
            ),
            (
                "/api/v1/services",
                "get",
                "listCoreV1ServiceForAllNamespaces",
                "list",
            ),
            (
                "/api/v1/watch/namespaces/{namespace}/services",
                "get",
                "watchCoreV1NamespacedServiceList",
                "watchlist",
            ),
            (
                "/api/v1/watch/namespaces/{namespace}/services/{name}",
                "get",
                "watchCoreV1NamespacedService",
                "watch",
            ),
            (
                "/api/v1/watch/services",
                "get",
                "watchCoreV1ServiceListForAllNamespaces",
                "watchlist",
            ),
            (
                "/api/v1/namespaces/{namespace}/pods/{name}/exec",
                "post",
                "connectCoreV1PostNamespacedPodExec",
                "connect",
            ),
            (
                "/api/v1/namespaces/{namespace}/pods/{name}/log",
                "get",
                "readCoreV1NamespacedPodLog",
                "get",
            ),
            (
                "/api/v1/namespaces/{namespace}/pods/{name}/eviction",
                "post",
                "createCoreV1NamespacedPodEviction",
                "post",
            ),
            (
                "/api/v1/namespaces/{name}/finalize",
                "put",
                "replaceCoreV1NamespaceFinalize",
                "put",
            ),
            ("/api/v1/nodes/{name}", "get", "readCoreV1Node", "get"),
            (
                "/api/v1/watch/nodes",
                "get",
                "watchCoreV1NodeList",
                "watchlist",
            ),
            ("/api/v1/", "get", "getCoreV1APIResources", "get"),
        ];
        for (path, method, id, action) in expected {
            let op = paths
                .get(path)
                .and_then(|item| item.get(method))
                .unwrap_or_else(|| panic!("{method} {path} missing"));
            assert_eq!(op["operationId"], id, "{method} {path}");
            assert_eq!(op["x-kubernetes-action"], action, "{method} {path}");
        }
        // Namespaces have no deletecollection, like upstream.
        assert!(paths["/api/v1/namespaces"].get("delete").is_none());
    }

    #[test]
    fn every_patch_of_a_kind_takes_field_validation() {
        let apps = build(&GroupVersion {
            group: "apps",
            version: "v1",
        });
        for paths in [core(), apps] {
            for (path, item) in &paths {
                let Some(op) = item.get("patch") else {
                    continue;
                };
                if op["x-kubernetes-action"] != "patch" {
                    continue;
                }
                let names: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
                    .unwrap_or_default();
                assert_eq!(
                    names,
                    ["dryRun", "force", "fieldManager", "fieldValidation"],
                    "{path}"
                );
                assert!(op["requestBody"]["content"]
                    .get("application/strategic-merge-patch+json")
                    .is_some());
            }
        }
    }

    #[test]
    fn scale_uses_autoscaling_v1() {
        let apps = build(&GroupVersion {
            group: "apps",
            version: "v1",
        });
        let op = &apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
        assert_eq!(op["operationId"], "patchAppsV1NamespacedDeploymentScale");
        assert_eq!(
            op["x-kubernetes-group-version-kind"],
            json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
        );
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
        );
    }

    #[test]
    fn path_parameters_sit_on_the_path_item() {
        let paths = core();
        let item = &paths["/api/v1/namespaces/{namespace}/services/{name}"];
        let names: Vec<&str> = item["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["name", "namespace", "pretty"]);
        let proxy = &paths["/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}"];
        let names: Vec<&str> = proxy["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["name", "path", "namespace", "pretty"]);
    }

    #[test]
    fn articles() {
        assert_eq!(article("Endpoints"), "an Endpoints");
        assert_eq!(article("Service"), "a Service");
    }

    #[test]
    fn refs_are_collected() {
        let refs = referenced_schemas(&core());
        for name in [
            "io.k8s.api.core.v1.Service",
            "io.k8s.api.core.v1.ServiceList",
            "io.k8s.api.policy.v1.Eviction",
            DELETE_OPTIONS,
            STATUS,
            PATCH,
            WATCH_EVENT,
            API_RESOURCE_LIST,
        ] {
            assert!(refs.iter().any(|r| r == name), "{name}");
        }
    }
}
