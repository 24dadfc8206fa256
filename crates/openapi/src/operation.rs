//! One OpenAPI v3 operation and the request/response bodies kube-apiserver
//! describes for it.

use serde_json::{json, Map, Value};

/// Media types every read/write answers in.
const OBJECT_TYPES: &[&str] = &[
    "application/json",
    "application/vnd.kubernetes.protobuf",
    "application/yaml",
];

/// Media types of list and watch answers.
const STREAM_TYPES: &[&str] = &[
    "application/json",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/yaml",
];

/// Patch bodies kube-apiserver accepts; kubectl only computes a strategic
/// merge patch from OpenAPI when its media type is listed here.
pub(crate) const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

pub(crate) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(crate) fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// What an operation answers: which codes, with which schema and media types.
#[derive(Clone, Copy)]
pub(crate) enum Answer<'a> {
    /// 200 only (reads).
    Read(&'a str),
    /// 200 and 201 (replace, patch).
    Write(&'a str),
    /// 200, 201 and 202 (create).
    Create(&'a str),
    /// 200 and 202 (delete).
    Delete(&'a str),
    /// 200 with the stream media types (list, watch).
    Stream(&'a str),
    /// 200 with a plain string body (logs, connect).
    Text(&'a [&'a str]),
}

impl Answer<'_> {
    fn responses(self) -> Value {
        let (codes, body): (&[&str], Value) = match self {
            Answer::Read(s) => (&["200"], content(&schema_ref(s), OBJECT_TYPES)),
            Answer::Write(s) => (&["200", "201"], content(&schema_ref(s), OBJECT_TYPES)),
            Answer::Create(s) => (
                &["200", "201", "202"],
                content(&schema_ref(s), OBJECT_TYPES),
            ),
            Answer::Delete(s) => (&["200", "202"], content(&schema_ref(s), OBJECT_TYPES)),
            Answer::Stream(s) => (&["200"], content(&schema_ref(s), STREAM_TYPES)),
            Answer::Text(types) => (&["200"], content(&json!({"type": "string"}), types)),
        };
        let mut out = Map::new();
        for code in codes {
            let description = match *code {
                "201" => "Created",
                "202" => "Accepted",
                _ => "OK",
            };
            out.insert(
                (*code).into(),
                json!({"content": body, "description": description}),
            );
        }
        Value::Object(out)
    }
}

fn content(schema: &Value, types: &[&str]) -> Value {
    let map: Map<String, Value> = types
        .iter()
        .map(|t| ((*t).to_string(), json!({ "schema": schema })))
        .collect();
    Value::Object(map)
}

/// A request body of `schema` under each of `types`.
pub(crate) fn body(schema: &str, types: &[&str], required: bool) -> Value {
    let mut out = json!({ "content": content(&schema_ref(schema), types) });
    if required {
        out["required"] = true.into();
    }
    out
}

pub(crate) struct Operation {
    pub action: &'static str,
    pub id: String,
    pub description: String,
    pub params: Vec<Value>,
    pub body: Option<Value>,
    pub answer: Value,
    pub gvk: Option<Value>,
}

impl Operation {
    pub fn new(action: &'static str, id: String, description: String, answer: Answer) -> Self {
        Operation {
            action,
            id,
            description,
            params: Vec::new(),
            body: None,
            answer: answer.responses(),
            gvk: None,
        }
    }

    pub fn params(mut self, params: Vec<Value>) -> Self {
        self.params = params;
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn gvk(mut self, gvk: &Value) -> Self {
        self.gvk = Some(gvk.clone());
        self
    }

    pub fn into_value(self, tag: &str) -> Value {
        let mut op = Map::new();
        op.insert("description".into(), self.description.into());
        op.insert("operationId".into(), self.id.into());
        if !self.params.is_empty() {
            op.insert("parameters".into(), Value::Array(self.params));
        }
        if let Some(body) = self.body {
            op.insert("requestBody".into(), body);
        }
        op.insert("responses".into(), self.answer);
        op.insert("tags".into(), json!([tag]));
        op.insert("x-kubernetes-action".into(), self.action.into());
        if let Some(gvk) = self.gvk {
            op.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
        Value::Object(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_answers_three_codes() {
        let op = Operation::new(
            "post",
            "createCoreV1NamespacedService".into(),
            "create a Service".into(),
            Answer::Create("io.k8s.api.core.v1.Service"),
        )
        .gvk(&gvk("", "v1", "Service"))
        .into_value("core_v1");
        let responses = op["responses"].as_object().map(|r| r.len());
        assert_eq!(responses, Some(3));
        assert_eq!(op["responses"]["202"]["description"], "Accepted");
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Service"
        );
        assert_eq!(op["x-kubernetes-action"], "post");
        assert_eq!(
            op["x-kubernetes-group-version-kind"],
            json!({"group": "", "kind": "Service", "version": "v1"})
        );
        assert_eq!(op["tags"], json!(["core_v1"]));
    }

    #[test]
    fn patch_body_lists_every_patch_type() {
        let b = body(
            "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
            PATCH_TYPES,
            true,
        );
        assert_eq!(b["required"], true);
        assert!(b["content"]
            .get("application/strategic-merge-patch+json")
            .is_some());
        assert_eq!(b["content"].as_object().map(|c| c.len()), Some(4));
    }
}
