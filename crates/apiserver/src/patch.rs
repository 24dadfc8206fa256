//! PATCH: JSON patch, merge patch, strategic merge patch and server-side
//! apply, each applied to the stored object and written through the update
//! path with an optimistic-concurrency retry loop (like GuaranteedUpdate).

use crate::handlers::Ctx;
use crate::objects;
use axum::response::Response;
use k1s_api::{ApiError, ApiResult, ResourceInfo};
use serde_json::Value;

/// Attempts before a patch racing with other writers gives up.
const MAX_ATTEMPTS: usize = 8;

pub const JSON_PATCH: &str = "application/json-patch+json";
pub const MERGE_PATCH: &str = "application/merge-patch+json";
pub const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> ApiResult<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            JSON_PATCH => Ok(PatchType::Json),
            MERGE_PATCH => Ok(PatchType::Merge),
            STRATEGIC_PATCH => Ok(PatchType::Strategic),
            APPLY_PATCH => Ok(PatchType::Apply),
            _ => Err(ApiError::unsupported_media_type(
                ct,
                &[JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH],
            )),
        }
    }
}

/// Parses a patch body: JSON for the JSON-based types, YAML for apply.
pub fn parse_body(t: PatchType, body: &[u8]) -> ApiResult<Value> {
    match t {
        PatchType::Apply => crate::negotiate::decode_yaml(body),
        _ => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}"))),
    }
}

/// The list/map semantics of `r`'s objects (every list atomic for kinds
/// without a built-in schema, like the Scale view).
pub fn schema_for(r: &ResourceInfo) -> Box<dyn k1s_patch::PatchSchema> {
    match k1s_patch::BuiltinSchema::for_kind(&r.api_version(), r.kind) {
        Some(s) => Box::new(s),
        None => Box::new(k1s_patch::UntypedSchema),
    }
}

/// Applies a non-apply patch to `old`.
pub fn apply_patch(r: &ResourceInfo, t: PatchType, old: &Value, patch: &Value) -> ApiResult<Value> {
    let result = match t {
        PatchType::Merge => k1s_patch::json_merge_patch(old, patch),
        PatchType::Json => k1s_patch::json_patch(old, patch),
        PatchType::Strategic => k1s_patch::strategic_merge(old, patch, schema_for(r).as_ref()),
        PatchType::Apply => {
            return Err(ApiError::bad_request(
                "apply patches go through server-side apply",
            ))
        }
    };
    result.map_err(patch_error)
}

fn patch_error(e: k1s_patch::PatchError) -> ApiError {
    let mut err = ApiError::new(e.code(), e.reason(), e.status_message());
    if let Some((reason, message)) = e.cause() {
        err = err
            .with_details(serde_json::json!({"causes": [{"reason": reason, "message": message}]}));
    }
    err
}

fn apply_error(e: k1s_patch::ApplyError) -> ApiError {
    let causes: Vec<Value> = e
        .causes()
        .into_iter()
        .map(|(reason, message, field)| serde_json::json!({"reason": reason, "message": message, "field": field}))
        .collect();
    let err = ApiError::new(e.code(), e.reason(), e.to_string());
    if causes.is_empty() {
        err
    } else {
        err.with_details(serde_json::json!({"causes": causes}))
    }
}

/// Server-side apply of `patch` onto `live` (None: the object is created).
fn server_side_apply(
    r: &ResourceInfo,
    live: Option<&Value>,
    patch: &Value,
    manager: &str,
    sub: Option<&str>,
    force: bool,
) -> ApiResult<Value> {
    if live.is_none() {
        let kind = patch.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = patch
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if kind != r.kind || api_version != r.api_version() {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            return Err(ApiError::bad_request(format!(
                "invalid object type: {group}/{version}, Kind={kind}"
            )));
        }
    }
    let now = objects::now_rfc3339();
    let fm = k1s_patch::FieldManager {
        manager,
        api_version: &r.api_version(),
        subresource: sub,
        time: &now,
    };
    k1s_patch::apply(live, patch, &fm, force, schema_for(r).as_ref()).map_err(apply_error)
}

pub async fn patch(
    ctx: &Ctx<'_>,
    name: &str,
    sub: Option<&str>,
    body: &[u8],
) -> ApiResult<Response> {
    let r = ctx.path.resource;
    let content_type = ctx
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let t = PatchType::from_content_type(content_type)?;
    let patch = parse_body(t, body)?;
    let mut opts = ctx.write_options()?;
    if t == PatchType::Apply {
        if ctx.query.value("fieldManager").is_none() {
            return Err(ApiError::bad_request(
                "PATCH requests with apply content type require fieldManager",
            ));
        }
        opts.field_manager = ctx
            .query
            .value("fieldManager")
            .unwrap_or_default()
            .to_string();
        // The apply already recorded this manager's fields.
        opts.managed_by_apply = true;
    }
    let force = ctx.query.flag("force");
    // The patch may pin a resourceVersion; then a conflict is the caller's to resolve.
    let pinned = patch
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .is_some_and(|v| !v.is_null());
    for attempt in 1..=MAX_ATTEMPTS {
        let old = match ctx.app.api.get(r, ctx.ns(), name) {
            Ok(o) => Some(o),
            Err(e) if e.code == 404 && t == PatchType::Apply && sub.is_none() => None,
            Err(e) => return Err(e),
        };
        let Some(old) = old else {
            // Server-side apply of a missing object creates it.
            let created = server_side_apply(r, None, &patch, &opts.field_manager, sub, force)?;
            let w = ctx.app.api.create(r, ctx.ns(), created, &opts).await?;
            return Ok(ctx.respond_written(w));
        };
        let mut patched = match t {
            PatchType::Apply => {
                server_side_apply(r, Some(&old), &patch, &opts.field_manager, sub, force)?
            }
            _ => apply_patch(r, t, &old, &patch)?,
        };
        if !pinned {
            objects::meta_mut(&mut patched).insert(
                "resourceVersion".into(),
                Value::String(objects::resource_version(&old).to_string()),
            );
        }
        match ctx
            .app
            .api
            .update(r, ctx.ns(), name, patched, sub, &opts)
            .await
        {
            Err(e)
                if e.code == 409 && e.reason == "Conflict" && !pinned && attempt < MAX_ATTEMPTS =>
            {
                continue
            }
            Err(e) => return Err(e),
            Ok(w) => return Ok(ctx.respond_written(w)),
        }
    }
    Err(ApiError::stale(r, name))
}
