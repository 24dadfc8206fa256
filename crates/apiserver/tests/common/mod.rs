//! The in-process test server shared by this crate's integration tests:
//! the router over a temporary redb, no TLS, no network, with the
//! `default` and `kube-system` namespaces in place.
#![allow(dead_code)] // each test file uses a part of it

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use k1s_apiserver::{Api, AppState, ClusterConfig};
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token";

pub struct Server {
    pub app: AppState,
    pub _dir: tempfile::TempDir,
}

pub async fn server() -> Server {
    server_with(ClusterConfig::default()).await
}

pub async fn server_with(cluster: ClusterConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(k1s_store::Store::open(&dir.path().join("db")).unwrap());
    let api = Api::new(store, cluster);
    let app = AppState {
        api,
        token: Arc::new(TOKEN.into()),
        metrics: Default::default(),
        openapi: Arc::new(k1s_openapi::OpenApi::build()),
        server_address: Arc::new("127.0.0.1:6443".into()),
        started: std::time::Instant::now(),
        ready: Arc::new(AtomicBool::new(true)),
        pod_streams: None,
    };
    let s = Server { app, _dir: dir };
    for ns in ["default", "kube-system"] {
        let (code, body) = s
            .call(
                "POST",
                "/api/v1/namespaces",
                Some(json!({"metadata": {"name": ns}})),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    s
}

impl Server {
    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let resp = k1s_apiserver::router(self.app.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    pub async fn request(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        accept: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", content_type)
            .header("accept", accept)
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let (status, _, body) = self.raw(req).await;
        let v = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        (status, v)
    }

    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.request(
            method,
            uri,
            "application/json",
            "application/json",
            body.map(|b| b.to_string()),
        )
        .await
    }
}
