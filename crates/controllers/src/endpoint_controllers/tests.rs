//! The controllers against a real store and API write path.

use super::*;
use k1s_api::ResourceInfo;
use std::time::Duration;

fn r(group: &str, name: &str) -> &'static ResourceInfo {
    lookup(group, name).expect("resource")
}

struct Env {
    api: Api,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(k1s_store::Store::open(&dir.path().join("db")).expect("store"));
    let api = Api::new(store, Default::default());
    let opts = WriteOptions::default();
    api.create(
        r("", "namespaces"),
        None,
        json!({"metadata": {"name": "default"}}),
        &opts,
    )
    .await
    .expect("namespace");
    api.create(
        r("", "nodes"),
        None,
        json!({"metadata": {"name": "node1"}}),
        &opts,
    )
    .await
    .expect("node");
    let task = tokio::spawn(run(api.clone()));
    Env {
        api,
        _dir: dir,
        task,
    }
}

impl Env {
    async fn create(&self, res: &'static ResourceInfo, obj: Value) -> Value {
        self.api
            .create(res, Some("default"), obj, &WriteOptions::default())
            .await
            .expect("create")
            .object
    }

    async fn pod(&self, name: &str, ip: &str, ready: bool) {
        let pods = r("", "pods");
        self.create(
            pods,
            json!({
                "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "nginx",
                    "ports": [{"name": "http", "containerPort": 8080}]}]},
            }),
        )
        .await;
        self.set_ready(name, ip, ready).await;
    }

    async fn set_ready(&self, name: &str, ip: &str, ready: bool) {
        let pods = r("", "pods");
        let mut p = self.api.get(pods, Some("default"), name).expect("pod");
        p["status"] = json!({
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        });
        self.api
            .update(
                pods,
                Some("default"),
                name,
                p,
                Some("status"),
                &WriteOptions::default(),
            )
            .await
            .expect("pod status");
    }

    fn slices(&self, service: &str, manager: &str) -> Vec<Value> {
        let page = self
            .api
            .store()
            .list(
                &r("discovery.k8s.io", "endpointslices").storage_prefix(),
                Some("default"),
                None,
                None,
            )
            .expect("list");
        page.items
            .iter()
            .filter_map(|raw| serde_json::from_slice::<Value>(raw).ok())
            .filter(|s| {
                let l = labels_of(s);
                l.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(service)
                    && l.get(LABEL_MANAGED_BY).map(String::as_str) == Some(manager)
            })
            .collect()
    }

    fn endpoints(&self, name: &str) -> Option<Value> {
        self.api.get(r("", "endpoints"), Some("default"), name).ok()
    }
}

/// Waits until `f` holds (controllers act asynchronously).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ips(endpoints: &Value, field: &str) -> Vec<String> {
    endpoints["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s[field].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["ip"].as_str().map(String::from))
        .collect()
}

fn slice_ips(slices: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"] == true)
        .filter_map(|e| e["addresses"][0].as_str().map(String::from))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn endpoints_and_slices_follow_pods_and_services() {
    let env = start().await;
    env.pod("web-0", "10.244.0.5", true).await;
    env.pod("web-1", "10.244.0.6", true).await;
    env.pod("web-2", "10.244.0.7", false).await;
    let svc = env
        .create(
            r("", "services"),
            json!({"metadata": {"name": "web", "labels": {"app": "web"}},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}),
        )
        .await;
    eventually("endpoints with two ready pods", || {
        env.endpoints("web").is_some_and(|e| {
            ips(&e, "addresses") == ["10.244.0.5", "10.244.0.6"]
                && ips(&e, "notReadyAddresses") == ["10.244.0.7"]
        })
    })
    .await;
    let e = env.endpoints("web").expect("endpoints");
    assert_eq!(
        e["subsets"][0]["ports"],
        json!([{"port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(e["metadata"]["labels"], json!({"app": "web"}));
    assert!(e["metadata"]["annotations"][ANNOTATION_TRIGGER_TIME].is_string());
    assert_eq!(e["metadata"]["managedFields"][0]["manager"], json!(MANAGER));

    eventually("one slice with two ready endpoints", || {
        let s = env.slices("web", SLICE_CONTROLLER);
        s.len() == 1 && slice_ips(&s) == ["10.244.0.5", "10.244.0.6"]
    })
    .await;
    let s = &env.slices("web", SLICE_CONTROLLER)[0];
    assert_eq!(s["metadata"]["generateName"], json!("web-"));
    assert_eq!(
        s["metadata"]["ownerReferences"][0]["uid"],
        svc["metadata"]["uid"]
    );
    assert_eq!(s["endpoints"].as_array().map(Vec::len), Some(3));

    // The third pod turns ready; the first one not.
    env.set_ready("web-2", "10.244.0.7", true).await;
    env.set_ready("web-0", "10.244.0.5", false).await;
    eventually("readiness changes reach both", || {
        env.endpoints("web")
            .is_some_and(|e| ips(&e, "addresses") == ["10.244.0.6", "10.244.0.7"])
            && slice_ips(&env.slices("web", SLICE_CONTROLLER)) == ["10.244.0.6", "10.244.0.7"]
    })
    .await;

    // A user deleting the Endpoints gets them back.
    env.api
        .delete(
            r("", "endpoints"),
            Some("default"),
            "web",
            &DeleteOptions::default(),
        )
        .await
        .expect("delete endpoints");
    eventually("endpoints recreated", || env.endpoints("web").is_some()).await;

    // Deleting the Service removes its Endpoints and slices.
    env.api
        .delete(
            r("", "services"),
            Some("default"),
            "web",
            &DeleteOptions::default(),
        )
        .await
        .expect("delete service");
    eventually("endpoints and slices gone", || {
        env.endpoints("web").is_none() && env.slices("web", SLICE_CONTROLLER).is_empty()
    })
    .await;
}

#[tokio::test]
async fn selectorless_services_keep_user_endpoints_and_get_mirrors() {
    let env = start().await;
    env.create(
        r("", "services"),
        json!({"metadata": {"name": "ext"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    env.create(
        r("", "endpoints"),
        json!({"metadata": {"name": "ext"}, "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 8080}]}]}),
    )
    .await;
    eventually("a mirrored slice", || {
        slice_ips(&env.slices("ext", MIRRORING_CONTROLLER)) == ["192.0.2.10"]
    })
    .await;
    // The Endpoints controller left the user's object alone.
    let e = env.endpoints("ext").expect("endpoints");
    assert_eq!(ips(&e, "addresses"), ["192.0.2.10"]);
    assert!(env.slices("ext", SLICE_CONTROLLER).is_empty());

    // The apiserver's own Endpoints are not mirrored.
    env.create(
        r("", "endpoints"),
        json!({"metadata": {"name": "kubernetes", "labels": {LABEL_SKIP_MIRROR: "true"}},
               "subsets": [{"addresses": [{"ip": "192.168.56.10"}], "ports": [{"name": "https", "port": 6443}]}]}),
    )
    .await;
    env.create(
        r("", "services"),
        json!({"metadata": {"name": "kubernetes"}, "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}]}}),
    )
    .await;

    // Deleting the user's Endpoints removes the mirror.
    env.api
        .delete(
            r("", "endpoints"),
            Some("default"),
            "ext",
            &DeleteOptions::default(),
        )
        .await
        .expect("delete endpoints");
    eventually("mirror gone", || {
        env.slices("ext", MIRRORING_CONTROLLER).is_empty()
    })
    .await;
    assert!(env.slices("kubernetes", MIRRORING_CONTROLLER).is_empty());
}

#[tokio::test]
async fn a_selector_typo_gives_empty_endpoints_and_a_placeholder() {
    let env = start().await;
    env.pod("web-0", "10.244.0.5", true).await;
    env.create(
        r("", "services"),
        json!({"metadata": {"name": "web-typo"}, "spec": {"selector": {"app": "wbe"}, "ports": [{"port": 80}]}}),
    )
    .await;
    eventually("empty endpoints and one empty slice", || {
        env.endpoints("web-typo")
            .is_some_and(|e| e.get("subsets").is_none())
            && env
                .slices("web-typo", SLICE_CONTROLLER)
                .first()
                .is_some_and(|s| s["endpoints"].as_array().is_none_or(Vec::is_empty))
    })
    .await;
    // Fixing the selector fills the same slice.
    let services = r("", "services");
    let mut svc = env
        .api
        .get(services, Some("default"), "web-typo")
        .expect("svc");
    let placeholder = env.slices("web-typo", SLICE_CONTROLLER)[0]["metadata"]["name"].clone();
    svc["spec"]["selector"] = json!({"app": "web"});
    env.api
        .update(
            services,
            Some("default"),
            "web-typo",
            svc,
            None,
            &WriteOptions::default(),
        )
        .await
        .expect("fix selector");
    eventually("endpoints filled", || {
        env.endpoints("web-typo")
            .is_some_and(|e| ips(&e, "addresses") == ["10.244.0.5"])
            && slice_ips(&env.slices("web-typo", SLICE_CONTROLLER)) == ["10.244.0.5"]
    })
    .await;
    let slices = env.slices("web-typo", SLICE_CONTROLLER);
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[0]["metadata"]["name"], placeholder);
}
