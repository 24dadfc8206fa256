use super::*;
use serde_json::{json, Value};

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"k": name}})
}

fn key(name: &str) -> Key {
    Key::new("configmaps", "default", name)
}

fn put(store: &Store, name: &str) -> Value {
    let (k, obj) = (key(name), cm(name));
    store.write_blocking(move |tx| tx.put(&k, obj)).unwrap()
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn resource_versions_increase_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k1s.redb");
    let last = {
        let store = Store::open(&path).unwrap();
        let a = put(&store, "a");
        let b = put(&store, "b");
        assert!(rv_of(&b) > rv_of(&a));
        assert_eq!(store.current_rv(), rv_of(&b));
        rv_of(&b)
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.current_rv(), last);
    let raw = store.get(&key("b")).unwrap().unwrap();
    let b: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(rv_of(&b), last);
    let c = put(&store, "c");
    assert!(rv_of(&c) > last);
    assert_eq!(store.object_counts(), vec![("configmaps".to_string(), 3)]);
}

#[test]
fn failed_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    put(&store, "a");
    let before = store.current_rv();
    let r: Result<(), StoreError> = store.write_blocking(|tx| {
        tx.put(&key("b"), cm("b"))?;
        tx.allocate("clusterip/10.96.0.20", "default/b");
        Err(StoreError::Backend("rejected".into()))
    });
    assert!(r.is_err());
    assert_eq!(store.current_rv(), before);
    assert!(store.get(&key("b")).unwrap().is_none());
    assert!(store.allocation("clusterip/10.96.0.20").unwrap().is_none());
}

#[test]
fn list_pages_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    for n in ["c", "a", "b", "d"] {
        put(&store, n);
    }
    let other = Key::new("configmaps", "kube-system", "z");
    store
        .write_blocking(move |tx| tx.put(&other, cm("z")))
        .unwrap();
    let page = store
        .list("configmaps", Some("default"), None, Some(3))
        .unwrap();
    let names: Vec<String> = page
        .items
        .iter()
        .map(|raw| {
            serde_json::from_slice::<Value>(raw).unwrap()["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(page.next_key.as_deref(), Some("configmaps/default/d"));
    let rest = store
        .list(
            "configmaps",
            Some("default"),
            page.next_key.as_deref(),
            Some(3),
        )
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_key.is_none());
    assert_eq!(
        store
            .list("configmaps", None, None, None)
            .unwrap()
            .items
            .len(),
        5
    );
    assert_eq!(page.resource_version, store.current_rv());
}

#[test]
fn transaction_reads_its_own_staged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    put(&store, "a");
    let seen = store
        .write_blocking(|tx| -> Result<_, StoreError> {
            tx.put(&key("b"), cm("b"))?;
            tx.delete(&key("a"))?;
            tx.allocate("nodeport/30080", "default/b");
            let names: Vec<String> = tx
                .list("configmaps", Some("default"))?
                .iter()
                .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
                .collect();
            Ok((
                names,
                tx.allocation("nodeport/30080")?,
                tx.allocations("nodeport/")?.len(),
            ))
        })
        .unwrap();
    assert_eq!(seen.0, ["b"]);
    assert_eq!(seen.1.as_deref(), Some("default/b"));
    assert_eq!(seen.2, 1);
    assert_eq!(
        store.allocation("nodeport/30080").unwrap().as_deref(),
        Some("default/b")
    );
}

#[tokio::test]
async fn watch_replays_history_then_streams_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let (k, o) = (key("a"), cm("a"));
    let a = store.write(move |tx| tx.put(&k, o)).await.unwrap();
    let (k, o) = (key("b"), cm("b"));
    store.write(move |tx| tx.put(&k, o)).await.unwrap();
    let mut w = store
        .watch("configmaps", Some("default"), rv_of(&a))
        .unwrap();
    let e = w.next().await.unwrap();
    assert_eq!((e.kind, e.key.name.as_str()), (EventKind::Added, "b"));
    let k = key("a");
    store.write(move |tx| tx.delete(&k)).await.unwrap();
    let e = w.next().await.unwrap();
    assert_eq!((e.kind, e.key.name.as_str()), (EventKind::Deleted, "a"));
    let deleted: Value = serde_json::from_slice(&e.object).unwrap();
    assert_eq!(rv_of(&deleted), e.rv);
    assert!(e.previous.is_some());
}

#[tokio::test]
async fn watch_from_too_old_rv_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_history(&dir.path().join("db"), 2).unwrap();
    for n in ["a", "b", "c", "d"] {
        let (k, o) = (key(n), cm(n));
        store.write(move |tx| tx.put(&k, o)).await.unwrap();
    }
    match store.watch("configmaps", None, 1) {
        Err(WatchError::TooOld {
            requested: 1,
            oldest: 3,
        }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("watch from a compacted rv must fail"),
    }
    assert!(store.watch("configmaps", None, 2).is_ok());
}

#[tokio::test]
async fn watch_filters_other_namespaces_and_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let mut w = store
        .watch("configmaps", Some("default"), store.current_rv())
        .unwrap();
    let other_ns = Key::new("configmaps", "kube-system", "x");
    let other_prefix = Key::new("secrets", "default", "y");
    store
        .write(move |tx| -> Result<(), StoreError> {
            tx.put(&other_ns, cm("x"))?;
            tx.put(&other_prefix, cm("y"))?;
            Ok(())
        })
        .await
        .unwrap();
    put_async(&store, "mine").await;
    let e = w.next().await.unwrap();
    assert_eq!(e.key.name, "mine");
}

async fn put_async(store: &Store, name: &str) {
    let (k, o) = (key(name), cm(name));
    store.write(move |tx| tx.put(&k, o)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_unique_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (k, o) = (key(&format!("cm-{i}")), cm(&format!("cm-{i}")));
            rv_of(&store.write(move |tx| tx.put(&k, o)).await.unwrap())
        }));
    }
    let mut rvs = Vec::new();
    for t in tasks {
        rvs.push(t.await.unwrap());
    }
    rvs.sort();
    rvs.dedup();
    assert_eq!(rvs.len(), 200);
    assert_eq!(store.current_rv(), *rvs.last().unwrap());
}
