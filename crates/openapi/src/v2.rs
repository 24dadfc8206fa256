//! The swagger 2.0 document of `/openapi/v2`, converted from the v3
//! documents: one `definitions` map, body parameters instead of request
//! bodies, `consumes`/`produces` instead of per-media-type content.

use serde_json::{json, Map, Value};

use crate::document::KUBERNETES_VERSION;

const V3_PREFIX: &str = "#/components/schemas/";
const V2_PREFIX: &str = "#/definitions/";

/// Merges v3 group/version documents into one swagger 2.0 document.
pub(crate) fn convert(docs: &[Value]) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for doc in docs {
        if let Some(Value::Object(p)) = doc.get("paths") {
            for (path, item) in p {
                paths.insert(path.clone(), path_item(item));
            }
        }
        if let Some(Value::Object(s)) = doc.pointer("/components/schemas") {
            for (name, schema) in s {
                definitions.insert(name.clone(), schema_v2(schema));
            }
        }
    }
    let mut sorted: Vec<(String, Value)> = definitions.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "definitions": sorted.into_iter().collect::<Map<String, Value>>(),
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey"
            }
        },
        "security": [{"BearerToken": []}]
    })
}

/// A schema with v2 refs; a lone `allOf` ref goes back to `$ref` with
/// siblings, as swagger 2.0 documents write it.
fn schema_v2(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let name = r.strip_prefix(V3_PREFIX).unwrap_or(r);
                        out.insert(k.clone(), format!("{V2_PREFIX}{name}").into());
                    }
                    ("allOf", Value::Array(all))
                        if all.len() == 1 && all[0].get("$ref").is_some() =>
                    {
                        if let Value::Object(inner) = schema_v2(&all[0]) {
                            out.extend(inner);
                        }
                    }
                    _ => {
                        out.insert(k.clone(), schema_v2(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(schema_v2).collect()),
        other => other.clone(),
    }
}

fn path_item(item: &Value) -> Value {
    let Value::Object(item) = item else {
        return item.clone();
    };
    let mut out = Map::new();
    for (key, value) in item {
        if key == "parameters" {
            out.insert(key.clone(), parameters(value));
        } else {
            out.insert(key.clone(), operation(value));
        }
    }
    Value::Object(out)
}

fn parameters(params: &Value) -> Value {
    let list = params.as_array().map(Vec::as_slice).unwrap_or_default();
    Value::Array(list.iter().map(parameter).collect())
}

/// `{"schema": {"type": …}}` parameters become `{"type": …}` ones.
fn parameter(param: &Value) -> Value {
    let Value::Object(param) = param else {
        return param.clone();
    };
    let mut out = Map::new();
    for (k, v) in param {
        match (k.as_str(), v) {
            ("schema", Value::Object(schema)) => {
                out.extend(schema.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn operation(op: &Value) -> Value {
    let Value::Object(op) = op else {
        return op.clone();
    };
    let mut out = Map::new();
    let mut params: Vec<Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(parameter).collect())
        .unwrap_or_default();
    let mut consumes = Vec::new();
    if let Some(body) = op.get("requestBody") {
        let mut schema = Value::Null;
        if let Some(Value::Object(content)) = body.get("content") {
            for (media_type, entry) in content {
                consumes.push(Value::from(media_type.as_str()));
                schema = entry.get("schema").map(schema_v2).unwrap_or(Value::Null);
            }
        }
        let required = body.get("required").cloned().unwrap_or(true.into());
        params.insert(
            0,
            json!({"in": "body", "name": "body", "required": required, "schema": schema}),
        );
    }
    let mut produces: Vec<Value> = Vec::new();
    let mut responses = Map::new();
    if let Some(Value::Object(rs)) = op.get("responses") {
        for (code, response) in rs {
            let mut r = Map::new();
            r.insert(
                "description".into(),
                response.get("description").cloned().unwrap_or_default(),
            );
            if let Some(Value::Object(content)) = response.get("content") {
                for (media_type, entry) in content {
                    let mt = Value::from(media_type.as_str());
                    if !produces.contains(&mt) {
                        produces.push(mt);
                    }
                    if let Some(schema) = entry.get("schema") {
                        r.insert("schema".into(), schema_v2(schema));
                    }
                }
            }
            responses.insert(code.clone(), Value::Object(r));
        }
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    for (k, v) in op {
        match k.as_str() {
            "parameters" | "requestBody" | "responses" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert(
        "consumes".into(),
        Value::Array(if consumes.is_empty() {
            vec!["*/*".into()]
        } else {
            consumes
        }),
    );
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    out.insert("produces".into(), Value::Array(produces));
    out.insert("responses".into(), Value::Object(responses));
    out.insert("schemes".into(), json!(["https"]));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_point_at_definitions() {
        let s = schema_v2(&json!({
            "properties": {
                "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.ServiceSpec"}],
                         "description": "Spec"},
                "ports": {"items": {"$ref": "#/components/schemas/io.k8s.api.core.v1.ServicePort"}}
            }
        }));
        assert_eq!(
            s,
            json!({"properties": {
                "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.ServiceSpec", "description": "Spec"},
                "ports": {"items": {"$ref": "#/definitions/io.k8s.api.core.v1.ServicePort"}}
            }})
        );
    }

    #[test]
    fn operations_get_body_parameter_and_media_types() {
        let op = operation(&json!({
            "operationId": "patchCoreV1NamespacedService",
            "parameters": [{"in": "query", "name": "fieldValidation",
                            "schema": {"type": "string", "uniqueItems": true}}],
            "requestBody": {"content": {
                "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/P"}}
            }, "required": true},
            "responses": {"200": {"content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/S"}}
            }, "description": "OK"}},
            "x-kubernetes-action": "patch"
        }));
        assert_eq!(
            op["parameters"],
            json!([
                {"in": "body", "name": "body", "required": true, "schema": {"$ref": "#/definitions/P"}},
                {"in": "query", "name": "fieldValidation", "type": "string", "uniqueItems": true}
            ])
        );
        assert_eq!(op["consumes"], json!(["application/merge-patch+json"]));
        assert_eq!(op["produces"], json!(["application/json"]));
        assert_eq!(op["responses"]["200"]["schema"]["$ref"], "#/definitions/S");
        assert_eq!(op["responses"]["401"]["description"], "Unauthorized");
        assert_eq!(op["x-kubernetes-action"], "patch");
    }
}
