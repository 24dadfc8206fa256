//! In-process API tests: the router over a temporary redb, no TLS, no network.

use axum::body::Body;
use http::{Request, StatusCode};
use k1s_apiserver::{Api, ClusterConfig};
use serde_json::{json, Value};
use std::sync::Arc;

mod common;
use common::*;

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": name}}, "data": {"k": "v"}})
}

#[tokio::test]
async fn requests_without_the_token_are_unauthorized() {
    let s = server().await;
    let req = Request::builder()
        .uri("/api/v1/namespaces")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = s.raw(req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["reason"], "Unauthorized");
    let req = Request::builder()
        .uri("/readyz")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = s.raw(req).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"ok".as_slice())
    );
    let req = Request::builder()
        .uri("/version")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = s.raw(req).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("32"))
    );
}

#[tokio::test]
async fn create_get_conflict_and_delete() {
    let s = server().await;
    let (code, created) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(cm("a")),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(created["kind"], "ConfigMap");
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    let (code, again) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(cm("a")),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(again["message"], "configmaps \"a\" already exists");

    let mut stale = created.clone();
    let (code, _) = s
        .call(
            "PUT",
            "/api/v1/namespaces/default/configmaps/a",
            Some(json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "w"}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    stale["data"]["k"] = json!("old");
    let (code, err) = s
        .call(
            "PUT",
            "/api/v1/namespaces/default/configmaps/a",
            Some(stale),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(err["reason"], "Conflict");

    let (code, _) = s
        .call("DELETE", "/api/v1/namespaces/default/configmaps/a", None)
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, err) = s
        .call("GET", "/api/v1/namespaces/default/configmaps/a", None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(err["details"], json!({"name": "a", "kind": "configmaps"}));
}

#[tokio::test]
async fn a_missing_namespace_is_refused() {
    let s = server().await;
    let (code, err) = s
        .call("POST", "/api/v1/namespaces/nope/configmaps", Some(cm("a")))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(err["message"], "namespaces \"nope\" not found");
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let s = server().await;
    let (code, obj) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps?dryRun=All",
            Some(cm("dry")),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(obj["metadata"]["name"], "dry");
    let (code, _) = s
        .call("GET", "/api/v1/namespaces/default/configmaps/dry", None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields_and_warn_warns() {
    let s = server().await;
    let mut body = cm("strict");
    body["spec"] = json!({"foo": 1});
    let (code, err) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            Some(body.clone()),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"spec\"");
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/default/configmaps?fieldValidation=Warn")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, headers, _) = s.raw(req).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        headers.get("warning").unwrap(),
        "299 - \"unknown field \\\"spec\\\"\""
    );
}

#[tokio::test]
async fn lists_chunk_and_filter() {
    let s = server().await;
    for n in ["a", "b", "c", "d", "e"] {
        s.call("POST", "/api/v1/namespaces/default/configmaps", Some(cm(n)))
            .await;
    }
    let (_, page) = s
        .call("GET", "/api/v1/namespaces/default/configmaps?limit=2", None)
        .await;
    assert_eq!(page["kind"], "ConfigMapList");
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&page), ["a", "b"]);
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, next) = s
        .call(
            "GET",
            &format!("/api/v1/namespaces/default/configmaps?limit=2&continue={token}"),
            None,
        )
        .await;
    assert_eq!(names(&next), ["c", "d"]);
    assert_eq!(
        next["metadata"]["resourceVersion"],
        page["metadata"]["resourceVersion"]
    );
    let (_, sel) = s
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=app+in+(b,e)",
            None,
        )
        .await;
    assert_eq!(names(&sel), ["b", "e"]);
    let (_, field) = s
        .call(
            "GET",
            "/api/v1/configmaps?fieldSelector=metadata.name%3Dc",
            None,
        )
        .await;
    assert_eq!(names(&field), ["c"]);
    let (code, err) = s
        .call("GET", "/api/v1/configmaps?fieldSelector=spec.foo%3Dc", None)
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
}

#[tokio::test]
async fn table_output_for_kubectl() {
    let s = server().await;
    s.call(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(cm("t")),
    )
    .await;
    let (code, table) = s
        .request(
            "GET",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Data", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "t");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn watch_from_a_compacted_version_reports_gone() {
    let s = server().await;
    let (code, text) = s
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0&timeoutSeconds=1",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    // A store opened with history holds only events since it opened: older is gone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = k1s_store::Store::open(&path).unwrap();
        for i in 0..3 {
            let k = k1s_store::Key::new("configmaps", "default", format!("c{i}"));
            store
                .write(move |tx| tx.put(&k, json!({"metadata": {"name": "x"}})))
                .await
                .unwrap();
        }
    }
    let store = Arc::new(k1s_store::Store::open(&path).unwrap());
    let mut app = s.app.clone();
    app.api = Api::new(store, ClusterConfig::default());
    let s2 = Server { app, _dir: dir };
    let (code, line) = s2
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(line["type"], "ERROR");
    assert_eq!(line["object"]["code"], 410);
    assert_eq!(line["object"]["reason"], "Expired");
    assert_eq!(line["object"]["message"], "too old resource version: 1 (3)");
}

#[tokio::test]
async fn status_writes_only_touch_status_and_spec_bumps_generation() {
    let s = server().await;
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 99}});
    let (code, created) = s
        .call(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            Some(deploy),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(
        created["status"].get("replicas").is_none(),
        "status is not settable on create: {created}"
    );
    let mut st = created.clone();
    st["status"] = json!({"replicas": 1});
    st["spec"]["replicas"] = json!(5);
    let (code, after) = s
        .call(
            "PUT",
            "/apis/apps/v1/namespaces/default/deployments/web/status",
            Some(st),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{after}");
    assert_eq!(after["status"]["replicas"], 1);
    assert_eq!(after["spec"]["replicas"], 1);
    assert_eq!(after["metadata"]["generation"], 1);
    let (code, scaled) = s
        .request(
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            "application/merge-patch+json",
            "application/json",
            Some(r#"{"spec":{"replicas":4}}"#.into()),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{scaled}");
    assert_eq!(scaled["kind"], "Scale");
    assert_eq!(scaled["spec"]["replicas"], 4);
    let (_, got) = s
        .call(
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/web",
            None,
        )
        .await;
    assert_eq!(got["metadata"]["generation"], 2);
    assert_eq!(got["spec"]["replicas"], 4);
}

#[tokio::test]
async fn services_get_cluster_ips_and_node_ports() {
    let s = server().await;
    let svc = |name: &str, spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec});
    let (code, a) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(svc("a", json!({"ports": [{"port": 80}]}))),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{a}");
    let ip: std::net::Ipv4Addr = a["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
    assert!("10.96.0.0/12"
        .parse::<ipnet::Ipv4Net>()
        .unwrap()
        .contains(&ip));
    assert_eq!(a["spec"]["clusterIPs"], json!([ip.to_string()]));

    let (code, err) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(svc(
                "b",
                json!({"clusterIP": ip.to_string(), "ports": [{"port": 80}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["message"], format!("Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"));
    let (code, err) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(svc(
                "b",
                json!({"clusterIP": "10.0.0.5", "ports": [{"port": 80}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["message"], "Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12");

    let (code, np) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(svc(
                "np",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{np}");
    assert_eq!(np["spec"]["ports"][0]["nodePort"], 30080);
    let (code, err) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(svc(
                "np2",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["message"], "Service \"np2\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated");
    // Deleting releases the port for the next Service.
    s.call("DELETE", "/api/v1/namespaces/default/services/np", None)
        .await;
    let (code, _) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(svc(
                "np2",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    // NodePort → ClusterIP drops the node port.
    let (code, cip) = s
        .request(
            "PATCH",
            "/api/v1/namespaces/default/services/np2",
            "application/merge-patch+json",
            "application/json",
            Some(r#"{"spec":{"type":"ClusterIP","ports":[{"port":80}]}}"#.into()),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{cip}");
    assert!(cip["spec"]["ports"][0].get("nodePort").is_none(), "{cip}");
    let (code, _) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(svc(
                "np3",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
}

#[tokio::test]
async fn discovery_lists_resources() {
    let s = server().await;
    let (_, v1) = s.call("GET", "/api/v1", None).await;
    assert_eq!(v1["groupVersion"], "v1");
    let (_, apps) = s.call("GET", "/apis/apps/v1", None).await;
    assert!(apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "deployments/scale"));
    let (code, agg) = s
        .request(
            "GET",
            "/apis",
            "application/json",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let (code, err) = s.call("GET", "/api/v1/widgets", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        err["message"],
        "the server could not find the requested resource"
    );
}

fn small_ranges() -> ClusterConfig {
    ClusterConfig {
        service: k1s_api::validation::ServiceConfig {
            // 6 usable addresses, 3 node ports.
            service_cidr: "10.96.0.0/29".parse().unwrap(),
            node_port_range: 30000..=30002,
        },
    }
}

fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn allocators_exhaust_and_reuse_released_values() {
    let s = server_with(small_ranges()).await;
    let mut ips = std::collections::BTreeSet::new();
    for i in 0..6 {
        let (code, svc) = s
            .call(
                "POST",
                "/api/v1/namespaces/default/services",
                Some(service(&format!("s{i}"), json!({"ports": [{"port": 80}]}))),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{svc}");
        ips.insert(svc["spec"]["clusterIP"].as_str().unwrap().to_string());
    }
    assert_eq!(ips.len(), 6, "{ips:?}");
    assert!(
        !ips.contains("10.96.0.0") && !ips.contains("10.96.0.7"),
        "network and broadcast are never handed out: {ips:?}"
    );
    let (code, err) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(service("full", json!({"ports": [{"port": 80}]}))),
        )
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        err["message"],
        "Internal error occurred: failed to allocate a serviceIP: range is full"
    );
    // Headless and ExternalName Services need no address even when the range is full.
    let (code, _) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(service(
                "headless",
                json!({"clusterIP": "None", "ports": [{"port": 80}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    s.call("DELETE", "/api/v1/namespaces/default/services/s3", None)
        .await;
    let (code, svc) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(service("again", json!({"ports": [{"port": 80}]}))),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    assert!(ips.contains(svc["spec"]["clusterIP"].as_str().unwrap()));

    // Three node ports, then the range is full; changing type to ExternalName frees both kinds.
    for i in 0..3 {
        let (code, svc) = s
            .call(
                "PUT",
                &format!("/api/v1/namespaces/default/services/s{i}"),
                Some({
                    let (_, mut cur) = s
                        .call(
                            "GET",
                            &format!("/api/v1/namespaces/default/services/s{i}"),
                            None,
                        )
                        .await;
                    cur["spec"]["type"] = json!("NodePort");
                    cur
                }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{svc}");
    }
    let (_, mut cur) = s
        .call("GET", "/api/v1/namespaces/default/services/s4", None)
        .await;
    cur["spec"]["type"] = json!("NodePort");
    let (code, err) = s
        .call("PUT", "/api/v1/namespaces/default/services/s4", Some(cur))
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        err["message"],
        "Internal error occurred: failed to allocate a nodePort: range is full"
    );
    let (code, svc) = s
        .request("PATCH", "/api/v1/namespaces/default/services/s0", "application/merge-patch+json", "application/json",
            Some(r#"{"spec":{"type":"ExternalName","externalName":"db.example.com","clusterIP":null,"clusterIPs":null,"ports":null}}"#.into()))
        .await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    assert!(svc["spec"].get("clusterIP").is_none(), "{svc}");
    let (_, mut cur) = s
        .call("GET", "/api/v1/namespaces/default/services/s4", None)
        .await;
    cur["spec"]["type"] = json!("NodePort");
    let (code, svc) = s
        .call("PUT", "/api/v1/namespaces/default/services/s4", Some(cur))
        .await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    let (code, _) = s
        .call(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(service("fits-again", json!({"ports": [{"port": 80}]}))),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_never_share_an_address() {
    let s = Arc::new(server().await);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let spec = if i % 3 == 0 {
                json!({"type": "NodePort", "ports": [{"port": 80}]})
            } else {
                json!({"ports": [{"port": 80}]})
            };
            let (code, svc) = s
                .call(
                    "POST",
                    "/api/v1/namespaces/default/services",
                    Some(service(&format!("c{i}"), spec)),
                )
                .await;
            assert_eq!(code, StatusCode::CREATED, "{svc}");
            (
                svc["spec"]["clusterIP"].as_str().unwrap().to_string(),
                svc["spec"]["ports"][0]["nodePort"].as_u64(),
            )
        }));
    }
    let mut ips = std::collections::BTreeSet::new();
    let mut ports = std::collections::BTreeSet::new();
    for t in tasks {
        let (ip, np) = t.await.unwrap();
        assert!(ips.insert(ip));
        if let Some(np) = np {
            assert!(ports.insert(np));
        }
    }
    assert_eq!((ips.len(), ports.len()), (60, 20));
}

#[tokio::test]
async fn allocations_are_repaired_from_stored_services() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let ip = {
        let store = Arc::new(k1s_store::Store::open(&path).unwrap());
        let api = Api::new(store.clone(), ClusterConfig::default());
        let ns = k1s_api::resource::lookup("", "namespaces").unwrap();
        api.create(
            ns,
            None,
            json!({"metadata": {"name": "default"}}),
            &Default::default(),
        )
        .await
        .unwrap();
        let svcs = k1s_api::resource::lookup("", "services").unwrap();
        let w = api
            .create(
                svcs,
                Some("default"),
                service(
                    "kept",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
                ),
                &Default::default(),
            )
            .await
            .unwrap();
        // A stray allocation no Service holds (as a crash in an older version could leave).
        store
            .write(|tx| -> Result<(), k1s_store::StoreError> {
                tx.allocate("clusterip/10.96.7.7", "default/ghost");
                tx.release(&format!("nodeport/{}", 30080));
                Ok(())
            })
            .await
            .unwrap();
        w.object["spec"]["clusterIP"].as_str().unwrap().to_string()
    };
    let store = Arc::new(k1s_store::Store::open(&path).unwrap());
    let api = Api::new(store.clone(), ClusterConfig::default());
    assert_eq!(api.repair_allocations().await.unwrap(), (1, 1));
    assert_eq!(store.allocation("clusterip/10.96.7.7").unwrap(), None);
    assert_eq!(
        store.allocation("nodeport/30080").unwrap().as_deref(),
        Some("default/kept")
    );
    assert_eq!(
        store
            .allocation(&format!("clusterip/{ip}"))
            .unwrap()
            .as_deref(),
        Some("default/kept")
    );
    assert_eq!(api.repair_allocations().await.unwrap(), (0, 0));
}
