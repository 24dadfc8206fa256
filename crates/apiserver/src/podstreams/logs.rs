//! `GET pods/{name}/log`: `LogREST.Get` — validate the options, find the
//! pod and container, stream the node's log as chunked `text/plain`.

use super::options::{self, Params};
use super::routes::{pod_streams, resolve_pod};
use crate::AppState;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use k1s_api::{ApiError, ApiResult};

pub async fn serve(
    app: &AppState,
    ns: &str,
    name: &str,
    method: &Method,
    query: Option<&str>,
) -> ApiResult<Response> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let params = Params::parse(query);
    let opts = options::log_options(&params, name)?;
    let pod = resolve_pod(app, ns, name)?;
    let container = options::select_container(&pod, params.container().as_deref())?;
    // An unscheduled pod has nowhere to read from: kube-apiserver answers
    // with an empty log.
    if options::node_name(&pod).is_none() {
        return Ok(text_plain(Body::empty()));
    }
    let stream = pod_streams(app)?.logs(pod, container, opts).await?;
    Ok(text_plain(Body::from_stream(stream)))
}

fn text_plain(body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}
