//! Resource quantities on write, through the router over a temporary redb:
//! stored and returned in canonical form, malformed ones rejected as
//! kube-apiserver's decoder rejects them.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use k1s_apiserver::{Api, AppState, ClusterConfig};
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tower::ServiceExt;

const TOKEN: &str = "test-token";
const REGEX_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

struct Server {
    app: AppState,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(k1s_store::Store::open(&dir.path().join("db")).unwrap());
    let app = AppState {
        api: Api::new(store, ClusterConfig::default()),
        token: Arc::new(TOKEN.into()),
        metrics: Default::default(),
        openapi: Arc::new(k1s_openapi::OpenApi::build()),
        server_address: Arc::new("127.0.0.1:6443".into()),
        started: std::time::Instant::now(),
        ready: Arc::new(AtomicBool::new(true)),
        pod_streams: None,
    };
    let s = Server { app, _dir: dir };
    let (code, body) = s
        .call(
            "POST",
            "/api/v1/namespaces",
            "application/json",
            json!({"metadata": {"name": "default"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    s
}

impl Server {
    async fn call(&self, method: &str, uri: &str, ct: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", ct)
            .header("accept", "application/json")
            .body(if body.is_null() {
                Body::empty()
            } else {
                Body::from(body.to_string())
            })
            .unwrap();
        let resp = k1s_apiserver::router(self.app.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", uri, "application/json", body).await
    }

    async fn get(&self, uri: &str) -> Value {
        let (code, body) = self.call("GET", uri, "application/json", Value::Null).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body
    }
}

fn pod_spec(cpu: Value, memory: Value) -> Value {
    json!({"containers": [{
        "name": "app",
        "image": "nginx:1.22",
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": "1000m"}},
        "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]
    }]})
}

fn deployment(name: &str, cpu: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(cpu, json!("128Mi"))}
        }
    })
}

#[tokio::test]
async fn pod_quantities_are_stored_canonical() {
    let s = server().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": pod_spec(json!("0.5"), json!("1.5Gi"))});
    let (code, created) = s.post("/api/v1/namespaces/default/pods", pod).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let got = s.get("/api/v1/namespaces/default/pods/p").await;
    for obj in [&created, &got] {
        let c = &obj["spec"]["containers"][0];
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "500m", "memory": "1536Mi"})
        );
        assert_eq!(c["resources"]["limits"], json!({"cpu": "1"}));
        assert_eq!(c["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"], "0");
    }
}

#[tokio::test]
async fn malformed_pod_quantity_is_a_bad_request() {
    let s = server().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": pod_spec(json!("abc"), json!("1Gi"))});
    let (code, err) = s.post("/api/v1/namespaces/default/pods", pod).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["reason"], "BadRequest");
    assert_eq!(
        err["message"],
        format!("Pod in version \"v1\" cannot be handled as a Pod: {REGEX_ERROR}")
    );
    let bad_suffix = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": pod_spec(json!("1"), json!("1i"))});
    let (code, err) = s.post("/api/v1/namespaces/default/pods", bad_suffix).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        err["message"],
        "Pod in version \"v1\" cannot be handled as a Pod: unable to parse quantity's suffix"
    );
}

#[tokio::test]
async fn deployment_template_quantities_on_create_and_patch() {
    let s = server().await;
    let uri = "/apis/apps/v1/namespaces/default/deployments";
    // A bare JSON number is a quantity too.
    let (code, created) = s.post(uri, deployment("web", json!(0.5))).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let requests =
        |d: &Value| d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].clone();
    assert_eq!(
        requests(&created),
        json!({"cpu": "500m", "memory": "128Mi"})
    );

    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "resources": {"requests": {"cpu": "0.25", "memory": "1024Mi"}}}
    ]}}}});
    let (code, patched) = s
        .call(
            "PATCH",
            &format!("{uri}/web"),
            "application/strategic-merge-patch+json",
            patch,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(requests(&patched), json!({"cpu": "250m", "memory": "1Gi"}));
    assert_eq!(
        requests(&s.get(&format!("{uri}/web")).await),
        requests(&patched)
    );

    let (code, err) = s.post(uri, deployment("bad", json!("abc"))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        err["message"],
        format!("Deployment in version \"v1\" cannot be handled as a Deployment: {REGEX_ERROR}")
    );
}
