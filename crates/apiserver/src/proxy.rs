//! `services/{name}/proxy/…` and `pods/{name}/proxy/…`: kube-apiserver's
//! HTTP proxy to a ready endpoint of a Service or to a Pod (what
//! `kubectl proxy` + `curl …/services/web/proxy/` uses).

use crate::handlers::{error_response, Ctx};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{Method, StatusCode};
use k1s_api::resource::lookup;
use k1s_api::{ApiError, ApiResult};
use rand::seq::IndexedRandom;
use serde_json::Value;

/// `[scheme:]name[:port]`, as the proxy URL spells its target.
#[derive(Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub scheme: &'a str,
    pub name: &'a str,
    pub port: &'a str,
}

pub fn parse_target(id: &str) -> Target<'_> {
    let parts: Vec<&str> = id.split(':').collect();
    match parts.as_slice() {
        [name] => Target {
            scheme: "",
            name,
            port: "",
        },
        [name, port] => Target {
            scheme: "",
            name,
            port,
        },
        [scheme, name, port, ..] => Target { scheme, name, port },
        [] => Target {
            scheme: "",
            name: "",
            port: "",
        },
    }
}

/// Headers that belong to one hop, or that must not reach the backend.
fn forwardable(name: &http::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "host"
            | "authorization"
    )
}

/// Picks `ip:port` of a ready endpoint of the Service for the named or
/// numbered service port (the first port when none is given).
fn service_backend(ctx: &Ctx<'_>, ns: &str, t: &Target<'_>) -> ApiResult<String> {
    let services = lookup("", "services").ok_or_else(ApiError::no_route)?;
    let svc = ctx.app.api.get(services, Some(ns), t.name)?;
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| {
            t.port.is_empty()
                || p["name"].as_str() == Some(t.port)
                || p["port"].as_i64().is_some_and(|n| n.to_string() == t.port)
        })
        .ok_or_else(|| {
            ApiError::service_unavailable(format!(
                "no service port \"{}\" found for service \"{}\"",
                t.port, t.name
            ))
        })?;
    let port_name = port["name"].as_str().unwrap_or("");
    let slices = lookup("discovery.k8s.io", "endpointslices").ok_or_else(ApiError::no_route)?;
    let page = ctx
        .app
        .api
        .store()
        .list(&slices.storage_prefix(), Some(ns), None, None)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut candidates = Vec::new();
    for raw in &page.items {
        let Ok(slice) = serde_json::from_slice::<Value>(raw) else {
            continue;
        };
        if slice["metadata"]["labels"]["kubernetes.io/service-name"].as_str() != Some(t.name) {
            continue;
        }
        let Some(target_port) = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str().unwrap_or("") == port_name)
            .and_then(|p| p["port"].as_i64())
        else {
            continue;
        };
        for ep in slice["endpoints"].as_array().into_iter().flatten() {
            if ep["conditions"]["ready"] == Value::Bool(false) {
                continue;
            }
            if let Some(ip) = ep["addresses"][0].as_str() {
                candidates.push(format!("{ip}:{target_port}"));
            }
        }
    }
    candidates.choose(&mut rand::rng()).cloned().ok_or_else(|| {
        ApiError::service_unavailable(format!("no endpoints available for service \"{}\"", t.name))
    })
}

fn pod_backend(ctx: &Ctx<'_>, ns: &str, t: &Target<'_>) -> ApiResult<String> {
    let pods = lookup("", "pods").ok_or_else(ApiError::no_route)?;
    let pod = ctx.app.api.get(pods, Some(ns), t.name)?;
    let ip = pod["status"]["podIP"]
        .as_str()
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(format!("address not allowed: pod {} has no IP", t.name))
        })?;
    let port = if t.port.is_empty() {
        pod["spec"]["containers"][0]["ports"][0]["containerPort"]
            .as_i64()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "80".into())
    } else {
        t.port.to_string()
    };
    Ok(format!("{ip}:{port}"))
}

/// 301 to `path/` (with the query), like kube-apiserver's
/// proxyRedirectsforRootPath.
pub fn redirect_to_root(path: &str, query: Option<&str>) -> Response {
    let mut location = format!("{path}/");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(q);
    }
    let body = format!("<a href=\"{location}\">Moved Permanently</a>.\n\n");
    Response::builder()
        .status(http::StatusCode::MOVED_PERMANENTLY)
        .header(http::header::LOCATION, location)
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}

pub async fn handle(
    ctx: &Ctx<'_>,
    method: &Method,
    name: &str,
    rest: &str,
    query: Option<&str>,
    body: Bytes,
) -> ApiResult<Response> {
    let ns = ctx.ns().unwrap_or("");
    let target = parse_target(name);
    if target.scheme == "https" {
        return Err(ApiError::bad_request("k1s proxies plain HTTP only"));
    }
    let backend = match ctx.path.resource.kind {
        "Service" => service_backend(ctx, ns, &target)?,
        _ => pod_backend(ctx, ns, &target)?,
    };
    let mut uri = format!("http://{backend}/{rest}");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(q);
    }
    let mut req = http::Request::builder().method(method.clone()).uri(&uri);
    for (k, v) in ctx.headers {
        if forwardable(k) {
            req = req.header(k, v);
        }
    }
    let req = req
        .body(http_body_util::Full::new(body))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            let msg = format!(
                "error trying to reach service: {}",
                reach_error(&backend, &e)
            );
            return Ok(error_response(&ApiError::service_unavailable(msg)));
        }
    };
    let (parts, incoming) = resp.into_parts();
    let mut out = Response::builder().status(parts.status);
    for (k, v) in &parts.headers {
        if forwardable(k) {
            out = out.header(k, v);
        }
    }
    Ok(out.body(Body::new(incoming)).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        r
    }))
}

/// Why the backend could not be reached, worded as Go's dialer words it
/// (kube-apiserver prints that error): "dial tcp 10.244.0.5:80: connect:
/// connection refused".
fn reach_error(backend: &str, err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(errno) = c
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return dial_error(backend, errno);
        }
        cause = c.source();
    }
    err.to_string()
}

/// Go's text for a failed TCP connect: its errno strings are the C
/// library's in lower case, without Rust's " (os error N)".
fn dial_error(backend: &str, errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    let lowered: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("dial tcp {backend}: connect: {lowered}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_read_like_go_dial_errors() {
        // Linux errno values.
        const ECONNREFUSED: i32 = 111;
        const EHOSTUNREACH: i32 = 113;
        assert_eq!(
            dial_error("10.244.0.5:80", ECONNREFUSED),
            "dial tcp 10.244.0.5:80: connect: connection refused"
        );
        assert_eq!(
            dial_error("10.244.0.5:80", EHOSTUNREACH),
            "dial tcp 10.244.0.5:80: connect: no route to host"
        );
        let refused = std::io::Error::from_raw_os_error(ECONNREFUSED);
        assert_eq!(
            reach_error("10.96.0.20:80", &refused),
            "dial tcp 10.96.0.20:80: connect: connection refused"
        );
        let other = std::io::Error::other("no answer");
        assert_eq!(reach_error("10.96.0.20:80", &other), "no answer");
    }

    #[test]
    fn refused_connections_are_found_behind_the_client_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A port nobody listens on: bind, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let backend = format!("127.0.0.1:{port}");
        let err = rt.block_on(async {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<http_body_util::Full<Bytes>>();
            let req = http::Request::get(format!("http://{backend}/"))
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap();
            client.request(req).await.expect_err("nothing listens")
        });
        assert_eq!(
            reach_error(&backend, &err),
            format!("dial tcp {backend}: connect: connection refused")
        );
    }

    #[test]
    fn targets_parse_like_kube_apiserver() {
        assert_eq!(
            parse_target("web"),
            Target {
                scheme: "",
                name: "web",
                port: ""
            }
        );
        assert_eq!(
            parse_target("web:http"),
            Target {
                scheme: "",
                name: "web",
                port: "http"
            }
        );
        assert_eq!(
            parse_target("http:web:80"),
            Target {
                scheme: "http",
                name: "web",
                port: "80"
            }
        );
        assert_eq!(
            parse_target("kube-dns:dns"),
            Target {
                scheme: "",
                name: "kube-dns",
                port: "dns"
            }
        );
    }
}
