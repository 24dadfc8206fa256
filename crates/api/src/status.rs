//! API errors as `meta/v1 Status` objects with kube-apiserver's reason, code
//! and wording.

use crate::field::{aggregate, FieldError};
use crate::resource::ResourceInfo;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details` of the Status (name, group, kind, causes) when there are any.
    pub details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), name.into());
    }
    if !group.is_empty() {
        d.insert("group".into(), group.into());
    }
    d.insert("kind".into(), kind.into());
    Value::Object(d)
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(r: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", r.qualified(), name),
        )
        .with_details(details(name, r.group, r.plural))
    }

    pub fn already_exists(r: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", r.qualified(), name),
        )
        .with_details(details(name, r.group, r.plural))
    }

    pub fn conflict(r: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                r.qualified(),
                name,
                why
            ),
        )
        .with_details(details(name, r.group, r.plural))
    }

    /// The optimistic-concurrency conflict of a stale update.
    pub fn stale(r: &ResourceInfo, name: &str) -> Self {
        Self::conflict(
            r,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid with one cause per field error.
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| {
                json!({
                    "reason": e.kind.cause_reason(),
                    "message": e.body(),
                    "field": e.field,
                })
            })
            .collect();
        let mut d = details(name, group, kind);
        d["causes"] = Value::Array(causes);
        Self::new(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", kind, name, aggregate(errors)),
        )
        .with_details(d)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 404 for a path no resource serves, as kube-apiserver words it.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
        .with_details(json!({"causes": [{"reason": "UnexpectedHeader", "message": content_type, "field": "Content-Type"}]}))
    }

    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        )
    }

    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn gone_watch(requested: u64, oldest: u64) -> Self {
        Self::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message}]}))
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    /// Namespaced create in a namespace that does not exist.
    pub fn namespace_not_found(ns: &str) -> Self {
        Self::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({"name": ns, "kind": "namespaces"}))
    }

    /// Create of `name` (the generateName when the name is still to be
    /// generated) in a namespace that is being deleted, as the
    /// NamespaceLifecycle admission plugin refuses it.
    pub fn namespace_terminating(r: &ResourceInfo, name: &str, ns: &str) -> Self {
        let mut details = details(name, r.group, r.plural);
        details["causes"] = json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                r.qualified()
            ),
        )
        .with_details(details)
    }

    /// The Status object as kube-apiserver serializes it.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s["code"] = self.code.into();
        s
    }
}

/// The Status a successful delete of a collection-less object returns
/// (`kubectl delete` prints from the returned object instead, but some
/// subresources answer with this).
pub fn success_status(details: Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::lookup;

    #[test]
    fn not_found_names_the_qualified_resource() {
        let r = lookup("apps", "deployments").unwrap();
        let s = ApiError::not_found(r, "web").to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["code"], 404);
    }

    #[test]
    fn creates_in_a_terminating_namespace_are_forbidden_like_admission_says() {
        let r = lookup("", "configmaps").unwrap();
        let s = ApiError::namespace_terminating(r, "x", "lab").to_status();
        assert_eq!(
            s["message"],
            "configmaps \"x\" is forbidden: unable to create new content in namespace lab because it is being terminated"
        );
        assert_eq!(s["reason"], "Forbidden");
        assert_eq!(s["code"], 403);
        assert_eq!(s["details"]["name"], "x");
        assert_eq!(s["details"]["kind"], "configmaps");
        assert_eq!(s["details"]["causes"][0]["reason"], "NamespaceTerminating");
        assert_eq!(
            s["details"]["causes"][0]["message"],
            "namespace lab is being terminated"
        );
        assert_eq!(s["details"]["causes"][0]["field"], "metadata.namespace");
    }

    #[test]
    fn invalid_lists_causes() {
        let errs = vec![FieldError::invalid(
            "spec.ports[0].port",
            0,
            "must be between 1 and 65535, inclusive",
        )];
        let s = ApiError::invalid("Service", "", "web", &errs).to_status();
        assert_eq!(
            s["message"],
            "Service \"web\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        );
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueInvalid");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.ports[0].port");
        assert_eq!(s["reason"], "Invalid");
        assert_eq!(s["code"], 422);
    }

    #[test]
    fn stale_update_is_a_conflict() {
        let r = lookup("", "configmaps").unwrap();
        let e = ApiError::stale(r, "cfg");
        assert_eq!(e.code, 409);
        assert_eq!(e.message, "Operation cannot be fulfilled on configmaps \"cfg\": the object has been modified; please apply your changes to the latest version and try again");
    }
}
