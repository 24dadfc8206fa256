//! Non-resource endpoints: health checks, version, metrics, discovery and
//! OpenAPI, plus the bearer-token check in front of everything.

use crate::discovery;
use crate::handlers::{base_response, error_response};
use crate::metrics::RequestLabels;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use k1s_api::ApiError;
use k1s_openapi::V3Reply;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Instant;
use subtle::ConstantTimeEq;

/// Paths anyone may read, like kube-apiserver's system:public-info-viewer.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz" | "/version")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

fn token_ok(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.trim().as_bytes().ct_eq(token.as_bytes()).into()
}

/// Authenticates, then times and counts the request.
pub async fn authenticate(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let labels = labels_for(&req);
    let resp = if is_public(req.uri().path()) || token_ok(req.headers(), &app.token) {
        next.run(req).await
    } else {
        error_response(&ApiError::unauthorized())
    };
    app.metrics
        .observe(&labels, resp.status().as_u16(), started.elapsed());
    resp
}

fn labels_for(req: &Request) -> RequestLabels {
    let method = req.method().as_str();
    match crate::request::parse(req.uri().path()) {
        Ok(p) => {
            let watch = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "watch=1" || kv == "watch=true"));
            let verb = match (method, p.name.is_some(), watch) {
                ("GET", _, true) => "WATCH",
                ("GET", false, false) => "LIST",
                ("POST", _, _) => "POST",
                (m, _, _) => m,
            };
            RequestLabels {
                verb: verb.to_string(),
                group: p.resource.group.to_string(),
                version: p.resource.version.to_string(),
                resource: p.resource.plural.to_string(),
                subresource: p.subresource.unwrap_or_default(),
            }
        }
        Err(_) => RequestLabels {
            verb: method.to_string(),
            ..Default::default()
        },
    }
}

fn text(status: StatusCode, body: String) -> Response {
    let mut r = base_response(status, "text/plain; charset=utf-8", body.into_bytes());
    r.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

fn health(app: &AppState, kind: &str, verbose: bool) -> Response {
    let ready = kind != "readyz" || app.ready.load(Ordering::Acquire);
    let checks: &[(&str, bool)] = &[
        ("ping", true),
        ("log", true),
        ("etcd", true),
        ("poststarthook/start-service-ip-repair-controllers", ready),
        ("poststarthook/bootstrap-controller", ready),
        ("shutdown", true),
    ];
    let ok = checks.iter().all(|(_, ok)| *ok);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    if !verbose && ok {
        return text(status, "ok".into());
    }
    let mut body = String::new();
    for (name, ok) in checks {
        if *ok {
            body.push_str(&format!("[+]{name} ok\n"));
        } else {
            body.push_str(&format!("[-]{name} failed: reason withheld\n"));
        }
    }
    body.push_str(&format!(
        "{kind} check {}\n",
        if ok { "passed" } else { "failed" }
    ));
    text(status, body)
}

pub async fn healthz(State(app): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let kind = path.split('/').next().unwrap_or("healthz").to_string();
    let verbose = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "verbose" || kv.starts_with("verbose="))
    });
    health(&app, &kind, verbose)
}

pub async fn version() -> Response {
    let v = json!({
        "major": "1",
        "minor": "32",
        "gitVersion": crate::GIT_VERSION,
        "gitCommit": option_env!("K1S_GIT_COMMIT").unwrap_or("unknown"),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "go1.23.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    });
    json_response(StatusCode::OK, &v, false)
}

fn json_response(status: StatusCode, v: &Value, pretty: bool) -> Response {
    let body = if pretty {
        serde_json::to_vec_pretty(v)
    } else {
        serde_json::to_vec(v)
    }
    .unwrap_or_default();
    base_response(status, crate::negotiate::JSON, body)
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    let body = app.metrics.render(&app.api.store().object_counts());
    base_response(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        body.into_bytes(),
    )
}

fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn aggregated(v: Value, version: &str) -> Response {
    let mut r = base_response(
        StatusCode::OK,
        &discovery::aggregated_media_type(version),
        serde_json::to_vec(&v).unwrap_or_default(),
    );
    r.headers_mut()
        .insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    r
}

pub async fn api_root(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(version) = discovery::wants_aggregated(accept(&headers)) {
        return aggregated(discovery::aggregated(true, version), version);
    }
    json_response(
        StatusCode::OK,
        &discovery::api_versions(&app.server_address),
        false,
    )
}

pub async fn apis_root(headers: HeaderMap) -> Response {
    if let Some(version) = discovery::wants_aggregated(accept(&headers)) {
        return aggregated(discovery::aggregated(false, version), version);
    }
    json_response(StatusCode::OK, &discovery::api_group_list(), false)
}

/// `/api/v1`, `/apis/{group}`, `/apis/{group}/{version}`.
pub fn discovery_doc(path: &str) -> Option<Value> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", version] => discovery::resource_list("", version),
        ["apis", group] => discovery::api_group(group),
        ["apis", group, version] => discovery::resource_list(group, version),
        _ => None,
    }
}

/// Serves `/openapi/v2` and `/openapi/v3[/…]` with kube-apiserver's
/// hash/ETag caching protocol for v3.
pub async fn openapi(State(app): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/openapi/v2" {
        // Only JSON is served; a client asking for protobuf alone gets 406 so
        // it does not misread JSON as protobuf.
        let accept = accept(req.headers());
        if !accept.is_empty() && !accept.contains("json") && !accept.contains("*/*") {
            return error_response(&ApiError::not_acceptable(&["application/json"]));
        }
        return base_response(
            StatusCode::OK,
            "application/json",
            app.openapi.v2_json().to_vec(),
        );
    }
    if path == "/openapi/v3" || path == "/openapi/v3/" {
        return base_response(
            StatusCode::OK,
            "application/json",
            app.openapi.index_v3().to_vec(),
        );
    }
    let Some(doc) = path.strip_prefix("/openapi/v3/") else {
        return error_response(&ApiError::no_route());
    };
    let if_none_match = req
        .headers()
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    match app.openapi.v3_reply(doc, req.uri().query(), if_none_match) {
        V3Reply::Document {
            body,
            etag,
            immutable,
        } => {
            let mut r = base_response(StatusCode::OK, "application/json", body.to_vec());
            let h = r.headers_mut();
            if let Ok(v) = http::HeaderValue::from_str(&etag) {
                h.insert(http::header::ETAG, v);
            }
            if immutable {
                h.insert(
                    http::header::CACHE_CONTROL,
                    http::HeaderValue::from_static("public, immutable"),
                );
                let expires = (chrono::Utc::now() + chrono::Duration::days(365))
                    .format("%a, %d %b %Y %H:%M:%S GMT")
                    .to_string();
                if let Ok(v) = http::HeaderValue::from_str(&expires) {
                    h.insert(http::header::EXPIRES, v);
                }
                h.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
            }
            r
        }
        V3Reply::NotModified { etag } => {
            let mut r = base_response(StatusCode::NOT_MODIFIED, "application/json", Vec::new());
            if let Ok(v) = http::HeaderValue::from_str(&etag) {
                r.headers_mut().insert(http::header::ETAG, v);
            }
            r
        }
        V3Reply::Moved(url) => {
            let mut r = base_response(
                StatusCode::MOVED_PERMANENTLY,
                "text/plain; charset=utf-8",
                Vec::new(),
            );
            if let Ok(v) = http::HeaderValue::from_str(&url) {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            r
        }
        V3Reply::NotFound => error_response(&ApiError::no_route()),
    }
}

/// Anything else: resource URLs, discovery sub-documents, or 404.
pub async fn fallback(State(app): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    tracing::debug!(
        method = %parts.method,
        uri = %parts.uri,
        accept = ?parts.headers.get(http::header::ACCEPT),
        content_type = ?parts.headers.get(http::header::CONTENT_TYPE),
        user_agent = ?parts.headers.get(http::header::USER_AGENT),
        "request"
    );
    if parts.method == http::Method::GET {
        if let Some(doc) = discovery_doc(parts.uri.path()) {
            return json_response(StatusCode::OK, &doc, false);
        }
    }
    let body = match axum::body::to_bytes(Body::new(body), crate::handlers::MAX_BODY + 1).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::too_large()),
    };
    crate::handlers::resource(app, parts.method, parts.uri, parts.headers, body).await
}
