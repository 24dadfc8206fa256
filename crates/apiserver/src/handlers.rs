//! HTTP glue for resource URLs: parse, dispatch by verb, encode responses.

use crate::api::{FieldValidation, Written};
use crate::negotiate::{self, Output};
use crate::query::Query;
use crate::request::{self, ResourcePath};
use crate::{list, patch, scale, watch, AppState};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use k1s_api::{ApiError, ApiResult};
use serde_json::Value;

/// Largest request body accepted, like kube-apiserver's 3 MiB limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Everything a resource handler needs from the request.
pub struct Ctx<'a> {
    pub app: &'a AppState,
    pub path: ResourcePath,
    pub query: Query,
    pub headers: &'a HeaderMap,
    pub output: Output,
    pub pretty: bool,
    /// The query string as sent (forwarded as is by the proxy subresource).
    pub raw_query: Option<&'a str>,
    /// The request path as sent.
    pub raw_path: &'a str,
}

impl Ctx<'_> {
    pub fn ns(&self) -> Option<&str> {
        self.path.namespace.as_deref()
    }

    pub fn user_agent(&self) -> &str {
        self.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn write_options(&self) -> ApiResult<crate::api::WriteOptions> {
        self.query
            .write_options(self.user_agent(), FieldValidation::Warn)
    }

    /// Encodes `value` as the client asked (JSON/YAML) with `status`.
    pub fn respond(&self, status: StatusCode, value: &Value) -> Response {
        let (body, content_type) = negotiate::encode(value, self.output, self.pretty);
        base_response(status, content_type, body)
    }

    pub fn respond_written(&self, w: Written) -> Response {
        let status = if w.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let mut resp = self.respond(status, &w.object);
        add_warnings(&mut resp, &w.warnings);
        resp
    }
}

pub fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
}

pub fn base_response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .header("audit-id", uuid::Uuid::new_v4().to_string())
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The Status response for an error (always JSON, like kube-apiserver).
pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&e.to_status()).unwrap_or_default();
    base_response(status, negotiate::JSON, body)
}

fn is_pretty(query: &Query, headers: &HeaderMap) -> bool {
    if let Some(p) = query.get("pretty") {
        return query.flag("pretty") || p.is_empty();
    }
    // kube-apiserver indents for people: curl and wget users by default.
    let ua = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ua.starts_with("curl") || ua.starts_with("Wget")
}

/// Entry point for every `/api/...` and `/apis/...` resource URL.
pub async fn resource(
    app: AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = match request::parse(uri.path()) {
        Ok(p) => p,
        Err(_) => return error_response(&ApiError::no_route()),
    };
    let query = Query::parse(uri.query());
    let output = match negotiate::output(&headers) {
        Ok(o) => o,
        Err(e) => return error_response(&e),
    };
    let pretty = is_pretty(&query, &headers);
    let ctx = Ctx {
        app: &app,
        path,
        query,
        headers: &headers,
        output,
        pretty,
        raw_query: uri.query(),
        raw_path: uri.path(),
    };
    match dispatch(&ctx, &method, body).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

async fn dispatch(ctx: &Ctx<'_>, method: &Method, body: Bytes) -> ApiResult<Response> {
    if body.len() > MAX_BODY {
        return Err(ApiError::too_large());
    }
    let r = ctx.path.resource;
    let name = ctx.path.name.clone();
    let sub = ctx.path.subresource.clone();
    let verb_allowed = |verb: &str| match &sub {
        Some(s) => r.subresource(s).is_some_and(|sr| sr.verbs.contains(&verb)),
        None => r.has_verb(verb),
    };
    let verb = match (method, &name) {
        (&Method::GET, None) if ctx.query.flag("watch") => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, None) => "deletecollection",
        (&Method::DELETE, Some(_)) => "delete",
        _ => return Err(ApiError::method_not_allowed()),
    };
    if !verb_allowed(verb) || (verb == "create" && name.is_some() && sub.is_none()) {
        return Err(ApiError::method_not_allowed());
    }
    if r.namespaced && ctx.path.namespace.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::no_route());
    }
    match (sub.as_deref(), verb) {
        // `…/proxy` without a trailing slash: kube-apiserver redirects to
        // `…/proxy/` so relative links in the proxied page resolve.
        (Some("proxy"), "get") if ctx.path.rest.is_none() => {
            Ok(crate::proxy::redirect_to_root(ctx.raw_path, ctx.raw_query))
        }
        (Some("proxy"), _) => {
            let rest = ctx.path.rest.clone().unwrap_or_default();
            crate::proxy::handle(
                ctx,
                method,
                name.as_deref().unwrap_or(""),
                &rest,
                ctx.raw_query,
                body,
            )
            .await
        }
        (Some("scale"), _) => scale::handle(ctx, verb, name.as_deref().unwrap_or(""), &body).await,
        (Some("status"), "get") | (None, "get") => {
            let obj = ctx
                .app
                .api
                .get(r, ctx.ns(), name.as_deref().unwrap_or(""))?;
            Ok(list::respond_object(ctx, obj))
        }
        (None, "list") => list::list(ctx),
        (None, "watch") => watch::watch(ctx),
        (Some("binding"), "create") | (None, "create")
            if r.kind == "Binding" || sub.as_deref() == Some("binding") =>
        {
            let b = negotiate::decode_body(ctx.headers, &body)?;
            let pod = name
                .clone()
                .or_else(|| b["metadata"]["name"].as_str().map(String::from))
                .unwrap_or_default();
            let node = b["target"]["name"].as_str().unwrap_or("");
            ctx.app
                .api
                .bind_pod(ctx.ns().unwrap_or(""), &pod, node)
                .await?;
            Ok(ctx.respond(StatusCode::CREATED, &success(StatusCode::CREATED)))
        }
        (None, "create") => {
            let obj = negotiate::decode_body(ctx.headers, &body)?;
            let w = ctx
                .app
                .api
                .create(r, ctx.ns(), obj, &ctx.write_options()?)
                .await?;
            Ok(ctx.respond_written(w))
        }
        (Some("status") | None, "update") => {
            let obj = negotiate::decode_body(ctx.headers, &body)?;
            let w = ctx
                .app
                .api
                .update(
                    r,
                    ctx.ns(),
                    name.as_deref().unwrap_or(""),
                    obj,
                    sub.as_deref(),
                    &ctx.write_options()?,
                )
                .await?;
            Ok(ctx.respond_written(w))
        }
        (Some("status") | None, "patch") => {
            patch::patch(ctx, name.as_deref().unwrap_or(""), sub.as_deref(), &body).await
        }
        (None, "delete") => delete(ctx, name.as_deref().unwrap_or(""), &body).await,
        (None, "deletecollection") => list::delete_collection(ctx, &body).await,
        (Some("eviction"), "create") => {
            let e = negotiate::decode_body(ctx.headers, &body)?;
            let pod = name.clone().unwrap_or_default();
            let evicted = e["metadata"]["name"].as_str().unwrap_or(&pod);
            if evicted != pod {
                return Err(ApiError::bad_request(format!(
                    "name in URL does not match name in Eviction object: {pod} != {evicted}"
                )));
            }
            let opts = delete_options_from(ctx, &e["deleteOptions"])?;
            ctx.app.api.delete(r, ctx.ns(), &pod, &opts).await?;
            Ok(ctx.respond(StatusCode::CREATED, &success(StatusCode::CREATED)))
        }
        (Some("finalize"), "update") => {
            let obj = negotiate::decode_body(ctx.headers, &body)?;
            let w = ctx
                .app
                .api
                .finalize_namespace(name.as_deref().unwrap_or(""), obj, &ctx.write_options()?)
                .await?;
            Ok(ctx.respond_written(w))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn success(code: StatusCode) -> Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code.as_u16()})
}

/// Merges DeleteOptions from the body (kubectl sends them there) over the query's.
pub fn delete_options(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<crate::api::DeleteOptions> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return ctx.query.delete_options();
    }
    let b = negotiate::decode_body(ctx.headers, body)?;
    delete_options_from(ctx, &b)
}

/// DeleteOptions from a JSON document over the query's.
fn delete_options_from(ctx: &Ctx<'_>, b: &Value) -> ApiResult<crate::api::DeleteOptions> {
    let mut opts = ctx.query.delete_options()?;
    if b.is_null() {
        return Ok(opts);
    }
    if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
        opts.propagation_policy = Some(p.to_string());
    }
    if let Some(g) = b.get("gracePeriodSeconds").and_then(Value::as_i64) {
        opts.grace_period_seconds = Some(g);
    }
    if b.get("orphanDependents").and_then(Value::as_bool) == Some(true)
        && opts.propagation_policy.is_none()
    {
        opts.propagation_policy = Some("Orphan".into());
    }
    if b.get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v == "All"))
    {
        opts.dry_run = true;
    }
    let pre = &b["preconditions"];
    opts.precondition_uid = pre["uid"].as_str().map(String::from);
    opts.precondition_rv = pre["resourceVersion"].as_str().map(String::from);
    Ok(opts)
}

async fn delete(ctx: &Ctx<'_>, name: &str, body: &[u8]) -> ApiResult<Response> {
    let opts = delete_options(ctx, body)?;
    let (obj, _done) = ctx
        .app
        .api
        .delete(ctx.path.resource, ctx.ns(), name, &opts)
        .await?;
    Ok(ctx.respond(StatusCode::OK, &obj))
}
