//! Resource quantities on write, through the router over a temporary redb:
//! stored and returned in canonical form, malformed ones rejected as
//! kube-apiserver's decoder rejects them.

use http::StatusCode;
use serde_json::{json, Value};

const REGEX_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

mod common;
use common::*;

/// POST `body` to `uri` as JSON.
async fn post(s: &Server, uri: &str, body: Value) -> (StatusCode, Value) {
    s.call("POST", uri, Some(body)).await
}

/// GET `uri`, which must answer 200.
async fn get(s: &Server, uri: &str) -> Value {
    let (code, body) = s.call("GET", uri, None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body
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
    let (code, created) = post(&s, "/api/v1/namespaces/default/pods", pod).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let got = get(&s, "/api/v1/namespaces/default/pods/p").await;
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
    let (code, err) = post(&s, "/api/v1/namespaces/default/pods", pod).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["reason"], "BadRequest");
    assert_eq!(
        err["message"],
        format!("Pod in version \"v1\" cannot be handled as a Pod: {REGEX_ERROR}")
    );
    let bad_suffix = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": pod_spec(json!("1"), json!("1i"))});
    let (code, err) = post(&s, "/api/v1/namespaces/default/pods", bad_suffix).await;
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
    let (code, created) = post(&s, uri, deployment("web", json!(0.5))).await;
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
        .request(
            "PATCH",
            &format!("{uri}/web"),
            "application/strategic-merge-patch+json",
            "application/json",
            Some(patch.to_string()),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(requests(&patched), json!({"cpu": "250m", "memory": "1Gi"}));
    assert_eq!(
        requests(&get(&s, &format!("{uri}/web")).await),
        requests(&patched)
    );

    let (code, err) = post(&s, uri, deployment("bad", json!("abc"))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        err["message"],
        format!("Deployment in version \"v1\" cannot be handled as a Deployment: {REGEX_ERROR}")
    );
}
