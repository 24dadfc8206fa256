//! The `scale` subresource of Deployments and ReplicaSets: an
//! `autoscaling/v1 Scale` view of `spec.replicas` (what `kubectl scale` uses).

use crate::handlers::Ctx;
use crate::objects;
use crate::patch::{apply_patch, parse_body, PatchType};
use axum::response::Response;
use http::StatusCode;
use k1s_api::{ApiError, ApiResult, FieldError};
use serde_json::{json, Value};

/// The Scale object for a workload.
pub fn to_scale(obj: &Value) -> Value {
    let meta = objects::meta(obj).cloned().unwrap_or_default();
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let metadata: serde_json::Map<String, Value> = meta
        .into_iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .collect();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(&obj["spec"]["selector"]),
        },
    })
}

/// A selector as the query string kube puts in `status.selector`: a
/// LabelSelector (apps) or a plain label map (ReplicationController).
fn selector_string(sel: &Value) -> String {
    let is_label_selector =
        sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some();
    if !is_label_selector {
        let mut parts: Vec<String> = sel
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        parts.sort();
        return parts.join(",");
    }
    let mut parts: Vec<String> = sel["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or("");
        let values: Vec<&str> = e["values"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        });
    }
    parts.sort();
    parts.join(",")
}

pub async fn handle(ctx: &Ctx<'_>, verb: &str, name: &str, body: &[u8]) -> ApiResult<Response> {
    let r = ctx.path.resource;
    let current = ctx.app.api.get(r, ctx.ns(), name)?;
    if verb == "get" {
        return Ok(ctx.respond(StatusCode::OK, &to_scale(&current)));
    }
    let scale = to_scale(&current);
    let wanted = match verb {
        "update" => crate::negotiate::decode_body(ctx.headers, body)?,
        "patch" => {
            let ct = ctx
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let t = PatchType::from_content_type(ct)?;
            if t == PatchType::Apply {
                return Err(ApiError::unsupported_media_type(
                    ct,
                    &[
                        crate::patch::JSON_PATCH,
                        crate::patch::MERGE_PATCH,
                        crate::patch::STRATEGIC_PATCH,
                    ],
                ));
            }
            let scale_info = k1s_api::resource::RESOURCES
                .iter()
                .find(|x| x.kind == r.kind && x.group == r.group)
                .ok_or_else(ApiError::no_route)?;
            apply_patch(scale_info, t, &scale, &parse_body(t, body)?)?
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            &[FieldError::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut updated = current.clone();
    updated["spec"]["replicas"] = Value::from(replicas);
    let rv = objects::resource_version(&wanted);
    if !rv.is_empty() {
        objects::meta_mut(&mut updated)
            .insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
    let w = ctx
        .app
        .api
        .update(r, ctx.ns(), name, updated, None, &ctx.write_options()?)
        .await?;
    Ok(ctx.respond(StatusCode::OK, &to_scale(&w.object)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_mirrors_replicas_and_selector() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "7", "labels": {"a": "b"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}},
            "status": {"replicas": 2}});
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web,tier in (a,b)");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        assert!(s["metadata"].get("labels").is_none());
    }
}
