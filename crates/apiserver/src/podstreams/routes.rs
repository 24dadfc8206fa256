//! The axum handlers of `/api/v1/namespaces/{ns}/pods/{name}/{log,exec,attach,portforward}`:
//! the checks kube-apiserver makes before connecting to the kubelet, then
//! the upgrade to the streaming protocol the client asked for.

use super::options::{self, Params};
use super::portforward as forwarding;
use super::remotecommand::{self, StreamFlags};
use super::spdy::Connection;
use super::status::Kind;
use super::websocket::{self, PORT_FORWARD_TUNNEL};
use super::{logs, upgrade, PodStreams};
use crate::handlers::error_response;
use crate::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};
use k1s_api::resource::lookup;
use k1s_api::{ApiError, ApiResult};
use serde_json::Value;
use std::sync::Arc;

type PodPath = Path<(String, String)>;

fn respond(r: ApiResult<Response>) -> Response {
    r.unwrap_or_else(|e| error_response(&e))
}

pub async fn log(State(app): State<AppState>, Path((ns, name)): PodPath, req: Request) -> Response {
    respond(logs::serve(&app, &ns, &name, req.method(), req.uri().query()).await)
}

pub async fn exec(
    State(app): State<AppState>,
    Path((ns, name)): PodPath,
    req: Request,
) -> Response {
    respond(remote_command(&app, &ns, &name, req, true).await)
}

pub async fn attach(
    State(app): State<AppState>,
    Path((ns, name)): PodPath,
    req: Request,
) -> Response {
    respond(remote_command(&app, &ns, &name, req, false).await)
}

pub async fn portforward(
    State(app): State<AppState>,
    Path((ns, name)): PodPath,
    req: Request,
) -> Response {
    respond(port_forward(&app, &ns, &name, req).await)
}

/// The pod, or kube-apiserver's 404.
pub fn resolve_pod(app: &AppState, ns: &str, name: &str) -> ApiResult<Value> {
    let pods = lookup("", "pods").ok_or_else(ApiError::no_route)?;
    app.api.get(pods, Some(ns), name)
}

/// The node's side of the streams; absent when no node runs in this process.
pub fn pod_streams(app: &AppState) -> ApiResult<Arc<dyn PodStreams>> {
    app.pod_streams
        .clone()
        .ok_or_else(|| ApiError::service_unavailable("no node is serving pod streams"))
}

/// exec, attach and portforward are "connect" verbs: GET and POST only.
fn connect_method(m: &Method) -> ApiResult<()> {
    if m == Method::GET || m == Method::POST {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed())
    }
}

fn scheduled(pod: &Value, name: &str) -> ApiResult<()> {
    match options::node_name(pod) {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        ))),
    }
}

async fn websocket_upgrade(parts: &mut Parts) -> ApiResult<WebSocketUpgrade> {
    WebSocketUpgrade::from_request_parts(parts, &())
        .await
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

fn upgrade_required() -> ApiError {
    ApiError::bad_request("Upgrade request required")
}

async fn remote_command(
    app: &AppState,
    ns: &str,
    name: &str,
    req: Request,
    is_exec: bool,
) -> ApiResult<Response> {
    connect_method(req.method())?;
    let params = Params::parse(req.uri().query());
    let (flags, kind) = if is_exec {
        let r = options::exec_request(&params)?;
        let flags = StreamFlags {
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr,
            tty: r.tty,
        };
        (flags, Kind::Exec { command: r.command })
    } else {
        let r = options::attach_request(&params)?;
        let flags = StreamFlags {
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr,
            tty: r.tty,
        };
        (flags, Kind::Attach)
    };
    let pod = resolve_pod(app, ns, name)?;
    let container = options::select_container(&pod, params.container().as_deref())?;
    scheduled(&pod, name)?;
    let streams = pod_streams(app)?;
    let start = match &kind {
        Kind::Exec { command } => streams.exec(
            pod,
            container,
            super::ExecRequest {
                command: command.clone(),
                stdin: flags.stdin,
                stdout: flags.stdout,
                stderr: flags.stderr,
                tty: flags.tty,
            },
        ),
        Kind::Attach => streams.attach(
            pod,
            container,
            super::AttachRequest {
                stdin: flags.stdin,
                stdout: flags.stdout,
                stderr: flags.stderr,
                tty: flags.tty,
            },
        ),
    };
    let (mut parts, _body) = req.into_parts();
    if upgrade::is_websocket(&parts.headers) {
        let mut ws = websocket_upgrade(&mut parts).await?;
        let requested: Vec<String> = ws
            .requested_protocols()
            .filter_map(|p| p.to_str().ok().map(String::from))
            .collect();
        let protocol = websocket::negotiate(requested.iter().map(String::as_str))
            .map_err(ApiError::forbidden)?;
        if !protocol.name.is_empty() {
            ws.set_selected_protocol(HeaderValue::from_static(protocol.name));
        }
        // Like kube-apiserver's translator, upgrade first: from here on
        // failures travel as a Status on the error channel.
        return Ok(ws.on_upgrade(move |socket| {
            remotecommand::serve_websocket(socket, protocol, flags, kind, start)
        }));
    }
    if upgrade::is_spdy(&parts.headers) {
        let protocol = match upgrade::negotiate(&parts.headers, remotecommand::SPDY_PROTOCOLS) {
            Ok(p) => p,
            Err(refusal) => return Ok(refusal.into_response()),
        };
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| {
                ApiError::bad_request("unable to upgrade: connection is not upgradable")
            })?;
        // The kubelet fails before switching protocols when it cannot start.
        let session = start.await?;
        tokio::spawn(async move {
            if let Some(io) = upgrade::upgraded(on_upgrade).await {
                let conn = Connection::serve(io, remotecommand::check_stream_type);
                remotecommand::serve_spdy(conn, protocol, flags, kind, session).await;
            }
        });
        return Ok(upgrade::switching_protocols(protocol));
    }
    Err(upgrade_required())
}

async fn port_forward(app: &AppState, ns: &str, name: &str, req: Request) -> ApiResult<Response> {
    connect_method(req.method())?;
    let pod = resolve_pod(app, ns, name)?;
    scheduled(&pod, name)?;
    let streams = pod_streams(app)?;
    let (mut parts, _body) = req.into_parts();
    if upgrade::is_websocket(&parts.headers) {
        let mut ws = websocket_upgrade(&mut parts).await?;
        let tunneling = ws
            .requested_protocols()
            .any(|p| p.as_bytes() == PORT_FORWARD_TUNNEL.as_bytes());
        if !tunneling {
            return Ok(upgrade::text_error(
                StatusCode::BAD_REQUEST,
                "unable to upgrade: no tunneling spdy protocols provided",
            ));
        }
        ws.set_selected_protocol(HeaderValue::from_static(PORT_FORWARD_TUNNEL));
        return Ok(ws.on_upgrade(move |socket| async move {
            let io = websocket::byte_stream(socket);
            let conn = Connection::serve(io, forwarding::check_stream);
            forwarding::serve(conn, streams, pod).await;
        }));
    }
    if upgrade::is_spdy(&parts.headers) {
        let protocol = match upgrade::negotiate(&parts.headers, &[forwarding::PROTOCOL]) {
            Ok(p) => p,
            Err(refusal) => return Ok(refusal.into_response()),
        };
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| {
                ApiError::bad_request("unable to upgrade: connection is not upgradable")
            })?;
        tokio::spawn(async move {
            if let Some(io) = upgrade::upgraded(on_upgrade).await {
                let conn = Connection::serve(io, forwarding::check_stream);
                forwarding::serve(conn, streams, pod).await;
            }
        });
        return Ok(upgrade::switching_protocols(protocol));
    }
    Err(upgrade_required())
}
