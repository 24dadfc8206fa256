//! GET of collections (chunked with `limit`/`continue`, filtered by label and
//! field selectors, as JSON, Table or metadata) and DELETE of collections.

use crate::filter::Filter;
use crate::handlers::{delete_options, Ctx};
use crate::negotiate::Output;
use crate::objects;
use axum::response::Response;
use base64::Engine;
use http::StatusCode;
use k1s_api::{ApiError, ApiResult, ResourceInfo};
use serde_json::{json, Value};

/// The continue token kube-apiserver hands out: base64url of
/// `{"v":"meta.k8s.io/v1","rv":N,"start":"<key>"}`.
pub fn encode_continue(rv: u64, start: &str) -> String {
    let doc = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(doc.to_string())
}

pub fn decode_continue(token: &str) -> ApiResult<(u64, String)> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("illegal base64 data"))?;
    let doc: Value = serde_json::from_slice(&raw)
        .map_err(|_| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    if doc["v"] != "meta.k8s.io/v1" {
        return Err(bad("server does not recognize this encoded key version"));
    }
    let rv = doc["rv"]
        .as_u64()
        .ok_or_else(|| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let start = doc["start"]
        .as_str()
        .ok_or_else(|| bad("encoded start key is missing"))?;
    Ok((rv, start.to_string()))
}

/// The list a request asks for: raw items (stored form), the list's
/// resourceVersion and the continue token.
pub struct Listed {
    pub items: Vec<Vec<u8>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
}

/// Reads a collection honouring selectors, `limit`, `continue` and
/// `resourceVersion`/`resourceVersionMatch`.
pub fn read(ctx: &Ctx<'_>, filter: &Filter) -> ApiResult<Listed> {
    let r = ctx.path.resource;
    let store = ctx.app.api.store();
    let limit: Option<usize> = ctx
        .query
        .number::<i64>("limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let (mut start, token_rv) = match ctx.query.value("continue") {
        Some(t) => {
            let (rv, start) = decode_continue(t)?;
            (Some(start), Some(rv))
        }
        None => (None, None),
    };
    if let (Some(rv), Some("Exact")) = (
        ctx.query.number::<u64>("resourceVersion")?,
        ctx.query.value("resourceVersionMatch"),
    ) {
        if rv < store.current_rv() {
            return Err(ApiError::expired(
                "The resourceVersion for the provided list is too old.",
            ));
        }
    }
    let prefix = r.storage_prefix();
    let ns = ctx.ns();
    let mut items = Vec::new();
    let mut rv = None;
    let mut next = None;
    // Selectors can drop items: keep reading pages until the limit is filled.
    loop {
        let want = limit.map(|l| l - items.len());
        let page = store
            .list(&prefix, ns, start.as_deref(), want)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        rv.get_or_insert(page.resource_version);
        for raw in page.items {
            if filter.is_empty() || filter.matches_raw(r, &raw) {
                items.push(raw);
            }
        }
        match page.next_key {
            Some(k) if limit.is_some_and(|l| items.len() < l) => start = Some(k),
            Some(k) => {
                next = Some(k);
                break;
            }
            None => break,
        }
    }
    // A continued list reports the resourceVersion of its first page.
    let resource_version = token_rv.unwrap_or(rv.unwrap_or(0));
    Ok(Listed {
        items,
        resource_version,
        continue_token: next.map(|k| encode_continue(resource_version, &k)),
    })
}

pub fn list(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let r = ctx.path.resource;
    let filter = Filter::from_query(r, &ctx.query)?;
    crate::tables::check_include_object(ctx.query.get("includeObject"))?;
    let listed = read(ctx, &filter)?;
    let mut metadata = json!({"resourceVersion": listed.resource_version.to_string()});
    if let Some(t) = &listed.continue_token {
        metadata["continue"] = Value::String(t.clone());
    }
    match ctx.output {
        Output::Json if !ctx.pretty && !objects::converts(r) => {
            Ok(raw_list(r, &metadata, &listed.items))
        }
        Output::Table => {
            let objs = parse_all(r, &listed.items)?;
            let mut table = crate::tables::table(r, &objs, ctx.query.get("includeObject"));
            table["metadata"] = metadata;
            Ok(ctx.respond(StatusCode::OK, &table))
        }
        Output::Metadata => {
            let objs = parse_all(r, &listed.items)?;
            let items: Vec<Value> = objs.iter().map(partial_metadata).collect();
            let list = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "items": items});
            Ok(ctx.respond(StatusCode::OK, &list))
        }
        Output::Json | Output::Yaml => {
            let mut objs = Vec::with_capacity(listed.items.len());
            for raw in &listed.items {
                let stored = serde_json::from_slice::<Value>(raw)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                let mut obj = objects::present(r, stored);
                // Items of a List carry no kind/apiVersion of their own.
                if let Some(m) = obj.as_object_mut() {
                    m.shift_remove("kind");
                    m.shift_remove("apiVersion");
                }
                objs.push(obj);
            }
            let list = json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version(), "metadata": metadata, "items": objs});
            Ok(ctx.respond(StatusCode::OK, &list))
        }
    }
}

/// Builds the list JSON by splicing stored bytes: no parse, no re-encode.
fn raw_list(r: &ResourceInfo, metadata: &Value, items: &[Vec<u8>]) -> Response {
    let head = format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        r.kind,
        r.api_version(),
        metadata
    );
    let total: usize = items.iter().map(|i| i.len() + 1).sum();
    let mut body = Vec::with_capacity(head.len() + total + 2);
    body.extend_from_slice(head.as_bytes());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    crate::handlers::base_response(StatusCode::OK, crate::negotiate::JSON, body)
}

fn parse_all(r: &ResourceInfo, items: &[Vec<u8>]) -> ApiResult<Vec<Value>> {
    items
        .iter()
        .map(|raw| {
            serde_json::from_slice::<Value>(raw)
                .map(|v| objects::present(r, v))
                .map_err(|e| ApiError::internal(e.to_string()))
        })
        .collect()
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A single object in the representation the client asked for.
pub fn respond_object(ctx: &Ctx<'_>, obj: Value) -> Response {
    let r = ctx.path.resource;
    match ctx.output {
        Output::Table => {
            let mut table = crate::tables::table(
                r,
                std::slice::from_ref(&obj),
                ctx.query.get("includeObject"),
            );
            table["metadata"] = json!({"resourceVersion": objects::resource_version(&obj)});
            ctx.respond(StatusCode::OK, &table)
        }
        Output::Metadata => ctx.respond(StatusCode::OK, &partial_metadata(&obj)),
        Output::Json | Output::Yaml => ctx.respond(StatusCode::OK, &obj),
    }
}

/// DELETE on a collection: deletes every selected object, returns them as a list.
pub async fn delete_collection(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response> {
    let r = ctx.path.resource;
    let opts = delete_options(ctx, body)?;
    let filter = Filter::from_query(r, &ctx.query)?;
    let listed = read(ctx, &filter)?;
    let mut deleted = Vec::new();
    for raw in &listed.items {
        let obj: Value =
            serde_json::from_slice(raw).map_err(|e| ApiError::internal(e.to_string()))?;
        let ns = objects::meta_str(&obj, "namespace").to_string();
        match ctx
            .app
            .api
            .delete(
                r,
                Some(ns.as_str()).filter(|n| !n.is_empty()),
                objects::name(&obj),
                &opts,
            )
            .await
        {
            Ok((v, _)) => deleted.push(v),
            // Gone meanwhile: nothing left to delete.
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": format!("{}List", r.kind),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": ctx.app.api.store().current_rv().to_string()},
        "items": deleted,
    });
    Ok(ctx.respond(StatusCode::OK, &list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(589, "services/default/db");
        assert_eq!(
            decode_continue(&t).unwrap(),
            (589, "services/default/db".to_string())
        );
        assert_eq!(decode_continue("!!!").unwrap_err().code, 400);
    }
}
