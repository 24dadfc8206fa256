//! Proves the documents with the real kubectl: a tiny plain-HTTP fixture on
//! 127.0.0.1 serves legacy discovery and the OpenAPI documents, and kubectl
//! explains fields from them and detects server-side field validation.
//! Skipped (with a message) only when no `kubectl` is on PATH.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use k1s_api::resource::RESOURCES;
use k1s_openapi::{OpenApi, V3Reply};
use serde_json::{json, Value};

struct Fixture {
    api: OpenApi,
    /// `METHOD path?query` of every request, in arrival order.
    seen: Mutex<Vec<String>>,
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn resource_list(group: &str, version: &str) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                   "kind": r.kind, "verbs": r.verbs, "shortNames": r.short_names})
        })
        .collect();
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn groups() -> Value {
    let mut names: Vec<&str> = RESOURCES
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    names.dedup();
    let groups: Vec<Value> = names
        .iter()
        .map(|g| {
            let v = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [v], "preferredVersion": v})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

async fn handle(
    state: Arc<Fixture>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Ok(mut seen) = state.seen.lock() {
        seen.push(format!("{method} {uri}"));
    }
    let path = uri.path();
    let to = |v: Value| json_response(StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default());
    match (method.as_str(), path) {
        ("GET", "/version") => to(
            json!({"major": "1", "minor": "32", "gitVersion": "v1.32.13",
                                          "platform": "linux/amd64"}),
        ),
        ("GET", "/api") => to(json!({"kind": "APIVersions", "versions": ["v1"]})),
        ("GET", "/api/v1") => to(resource_list("", "v1")),
        ("GET", "/apis") => to(groups()),
        ("GET", "/openapi/v3") => json_response(StatusCode::OK, state.api.index_v3().to_vec()),
        ("GET", p) if p.starts_with("/apis/") => {
            let mut parts = p["/apis/".len()..].split('/');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(g), Some(v), None) => to(resource_list(g, v)),
                _ => not_found(),
            }
        }
        ("GET", p) if p.starts_with("/openapi/v3/") => {
            let inm = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok());
            match state.api.v3_reply(p, uri.query(), inm) {
                V3Reply::Document { body, etag, .. } => {
                    let mut response = json_response(StatusCode::OK, body.to_vec());
                    if let Ok(value) = etag.parse() {
                        response.headers_mut().insert(header::ETAG, value);
                    }
                    response
                }
                V3Reply::NotModified { .. } => StatusCode::NOT_MODIFIED.into_response(),
                V3Reply::Moved(url) => {
                    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, url)]).into_response()
                }
                V3Reply::NotFound => not_found(),
            }
        }
        // `kubectl create`: echo the object back as created.
        ("POST", p) if p.starts_with("/api/v1/namespaces/") => {
            json_response(StatusCode::CREATED, body.to_vec())
        }
        _ => not_found(),
    }
}

fn not_found() -> Response {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "the server could not find the requested resource",
                        "reason": "NotFound", "details": {}, "code": 404});
    json_response(
        StatusCode::NOT_FOUND,
        serde_json::to_vec(&status).unwrap_or_default(),
    )
}

struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: String,
}

impl Kubectl {
    fn new(port: u16) -> Kubectl {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig").display().to_string();
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: \"http://127.0.0.1:{port}\"}}\n  name: t\n\
             contexts:\n- context: {{cluster: t, user: u, namespace: default}}\n  name: t\n\
             current-context: t\nusers:\n- name: u\n  user: {{token: test}}\n"
        );
        std::fs::write(&kubeconfig, config).expect("write kubeconfig");
        Kubectl { dir, kubeconfig }
    }

    fn run(&self, args: &[&str]) -> Output {
        let cache = self.dir.path().join("cache");
        Command::new("kubectl")
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .output()
            .expect("run kubectl")
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_kubectl_reads_the_documents() {
    if !kubectl_available() {
        eprintln!("kubectl not on PATH: skipping the kubectl check");
        return;
    }
    let state = Arc::new(Fixture {
        api: OpenApi::build(),
        seen: Mutex::new(Vec::new()),
    });
    let shared = state.clone();
    let app = Router::new().fallback(move |method, uri, headers, body| {
        handle(shared.clone(), method, uri, headers, body)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let result = tokio::task::spawn_blocking(move || {
        let kubectl = Kubectl::new(port);
        let explain = stdout(&kubectl.run(&["explain", "service.spec.ports"]));
        let recursive = stdout(&kubectl.run(&["explain", "deployment", "--recursive"]));
        let manifest = kubectl.dir.path().join("svc.yaml");
        std::fs::write(
            &manifest,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
        )
        .expect("write manifest");
        let manifest = manifest.display().to_string();
        let created = stdout(&kubectl.run(&["create", "-f", &manifest]));
        (explain, recursive, created)
    })
    .await;
    server.abort();
    let (explain, recursive, created) = result.expect("kubectl runs");

    for want in [
        "KIND:       Service\nVERSION:    v1\n",
        "FIELD: ports <[]ServicePort>",
        "The list of ports that are exposed by this service.",
        "ServicePort contains information on service's port.",
        "  port\t<integer> -required-\n    The port that will be exposed by this service.",
        "  protocol\t<string>\n  enum: SCTP, TCP, UDP\n",
        "     - `\"TCP\"` is the TCP protocol.",
        "  targetPort\t<IntOrString>\n",
    ] {
        assert!(explain.contains(want), "explain lacks {want:?}:\n{explain}");
    }
    for want in [
        "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n",
        "  metadata\t<ObjectMeta>\n",
        "    strategy\t<DeploymentStrategy>\n",
        "        containers\t<[]Container> -required-\n",
    ] {
        assert!(
            recursive.contains(want),
            "explain --recursive lacks {want:?}"
        );
    }
    assert_eq!(created.trim(), "service/web created");

    let seen = state.seen.lock().map(|s| s.clone()).unwrap_or_default();
    let hash = state
        .api
        .v3("api/v1")
        .map(|(_, h)| h.to_string())
        .unwrap_or_default();
    let doc_request = format!("GET /openapi/v3/api/v1?hash={hash}");
    assert!(
        seen.iter().any(|s| s.starts_with(&doc_request)),
        "{seen:#?}"
    );
    // The v3 document was enough: no v2 fallback, and strict validation is
    // left to the server.
    assert!(!seen.iter().any(|s| s.contains("/openapi/v2")), "{seen:#?}");
    let post = seen
        .iter()
        .find(|s| s.starts_with("POST /api/v1/namespaces/default/services"));
    assert!(
        post.is_some_and(|p| p.contains("fieldValidation=Strict")),
        "{seen:#?}"
    );
}
