//! Operation parameters as kube-apiserver publishes them: the fields of the
//! option structs (ListOptions, PatchOptions, …) as query parameters, plus
//! the path parameters.

use serde_json::{json, Value};

use crate::tags::PARAMS;

/// The query parameters of an options struct (`ListOptions`, `PatchOptions`,
/// `PodExecOptions`, …) in field order, leaving out `except`.
pub(crate) fn options(options: &str, except: &[&str]) -> Vec<Value> {
    PARAMS
        .iter()
        .filter(|(opts, name, _, _)| *opts == options && !except.contains(name))
        .map(|(_, name, ty, description)| query(name, ty, description))
        .collect()
}

/// The ListOptions a delete-collection call takes: no watch flags.
pub(crate) fn delete_collection() -> Vec<Value> {
    let mut out = options("DeleteOptions", &[]);
    out.extend(options("ListOptions", &["watch", "allowWatchBookmarks"]));
    out
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "description": description,
        "in": "query",
        "name": name,
        "schema": {"type": ty, "uniqueItems": true}
    })
}

fn path(name: &str, description: &str) -> Value {
    json!({
        "description": description,
        "in": "path",
        "name": name,
        "required": true,
        "schema": {"type": "string", "uniqueItems": true}
    })
}

pub(crate) fn name(kind: &str) -> Value {
    path("name", &format!("name of the {kind}"))
}

pub(crate) fn namespace() -> Value {
    path(
        "namespace",
        "object name and auth scope, such as for teams and projects",
    )
}

/// `{path}` of the proxy subresources.
pub(crate) fn proxy_path() -> Value {
    path("path", "path to the resource")
}

pub(crate) fn pretty() -> Value {
    query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(params: &[Value]) -> Vec<&str> {
        params.iter().filter_map(|p| p["name"].as_str()).collect()
    }

    #[test]
    fn write_options_carry_field_validation() {
        assert_eq!(
            names(&options("PatchOptions", &[])),
            ["dryRun", "force", "fieldManager", "fieldValidation"]
        );
        assert_eq!(
            names(&options("CreateOptions", &[])),
            ["dryRun", "fieldManager", "fieldValidation"]
        );
        assert_eq!(
            names(&options("UpdateOptions", &[])),
            ["dryRun", "fieldManager", "fieldValidation"]
        );
    }

    #[test]
    fn list_options_in_field_order() {
        assert_eq!(
            names(&options("ListOptions", &[])),
            [
                "labelSelector",
                "fieldSelector",
                "watch",
                "allowWatchBookmarks",
                "resourceVersion",
                "resourceVersionMatch",
                "timeoutSeconds",
                "limit",
                "continue",
                "sendInitialEvents"
            ]
        );
        let dc = delete_collection();
        assert!(!names(&dc).contains(&"watch"));
        assert!(names(&dc).contains(&"propagationPolicy"));
    }

    #[test]
    fn query_parameter_shape() {
        let force = &options("PatchOptions", &[])[1];
        assert_eq!(force["in"], "query");
        assert_eq!(
            force["schema"],
            json!({"type": "boolean", "uniqueItems": true})
        );
        assert!(force["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Force is going to \"force\" Apply requests.")));
        assert_eq!(name("Service")["description"], "name of the Service");
        assert_eq!(namespace()["required"], true);
    }
}
