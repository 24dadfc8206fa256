//! The single writer: batches concurrent write requests into one durable redb
//! transaction (group commit) and publishes their events in order.

use crate::key::Key;
use crate::watch::{self, Event, EventKind, Hub};
use crate::{StoreError, ALLOCATIONS, META, OBJECTS, RV_KEY};
use redb::{Database, ReadableTable, Table};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Requests folded into one transaction at most.
const MAX_BATCH: usize = 256;

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn for<'a, 't> FnOnce(&mut WriteTx<'a, 't>) -> (bool, Completion) + Send>;

pub(crate) struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(db: Arc<Database>, hub: Arc<Mutex<Hub>>, rv: u64) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("k1s-store-writer".into())
            .spawn(move || run(db, hub, rx, rv))
            .expect("spawning the store writer thread");
        Writer {
            jobs: Mutex::new(Some(tx)),
            thread: Some(thread),
        }
    }

    fn enqueue<T, E, F>(
        &self,
        f: F,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, E>>, StoreError>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'a, 't> FnOnce(&mut WriteTx<'a, 't>) -> Result<T, E> + Send + 'static,
    {
        let (done, wait) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |tx| {
            let result = f(tx);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |commit| {
                let result = match commit {
                    Err(e) if ok => Err(E::from(e)),
                    _ => result,
                };
                let _ = done.send(result);
            });
            (ok, completion)
        });
        let guard = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let sender = guard.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)?;
        Ok(wait)
    }

    pub(crate) async fn submit<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'a, 't> FnOnce(&mut WriteTx<'a, 't>) -> Result<T, E> + Send + 'static,
    {
        let wait = self.enqueue(f)?;
        wait.await
            .unwrap_or_else(|_| Err(StoreError::Closed.into()))
    }

    pub(crate) fn submit_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'a, 't> FnOnce(&mut WriteTx<'a, 't>) -> Result<T, E> + Send + 'static,
    {
        let wait = self.enqueue(f)?;
        wait.blocking_recv()
            .unwrap_or_else(|_| Err(StoreError::Closed.into()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the writer thread after the queued jobs;
        // joining it releases the database file before the store is gone.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(db: Arc<Database>, hub: Arc<Mutex<Hub>>, rx: mpsc::Receiver<Job>, mut rv: u64) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(jobs.len());
        match commit_batch(&db, jobs, rv, &mut completions) {
            Ok((events, next_rv)) => {
                rv = next_rv;
                watch::lock(&hub).publish(events);
                for c in completions {
                    c(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!("store commit failed: {e}");
                for c in completions {
                    c(Err(StoreError::Backend(e.to_string())));
                }
            }
        }
    }
}

/// Runs each job against staged state on top of one redb transaction; only
/// successful jobs' changes are written. Returns the events and the last rv.
fn commit_batch(
    db: &Database,
    jobs: Vec<Job>,
    mut rv: u64,
    completions: &mut Vec<Completion>,
) -> Result<(Vec<Event>, u64), StoreError> {
    let txn = db.begin_write()?;
    let mut events = Vec::new();
    {
        let mut objects = txn.open_table(OBJECTS)?;
        let mut allocations = txn.open_table(ALLOCATIONS)?;
        let mut failure = None;
        for job in jobs {
            if failure.is_some() {
                // The batch is lost anyway: fail the remaining jobs without running them.
                let (_, c) = job(&mut WriteTx::poisoned());
                completions.push(c);
                continue;
            }
            let mut wtx = WriteTx::new(&objects, &allocations, rv);
            let (ok, completion) = job(&mut wtx);
            completions.push(completion);
            if !ok {
                continue;
            }
            let staged = wtx.into_staged();
            if let Err(e) = apply(&mut objects, &mut allocations, &staged) {
                failure = Some(e);
                continue;
            }
            rv = staged.rv;
            events.extend(staged.events);
        }
        if let Some(e) = failure {
            return Err(e);
        }
        txn.open_table(META)?.insert(RV_KEY, rv)?;
    }
    txn.commit()?;
    Ok((events, rv))
}

fn apply(
    objects: &mut Table<&str, &[u8]>,
    allocations: &mut Table<&str, &str>,
    staged: &Staged,
) -> Result<(), StoreError> {
    for (k, v) in &staged.objects {
        match v {
            Some(bytes) => objects.insert(k.as_str(), bytes.as_slice())?,
            None => objects.remove(k.as_str())?,
        };
    }
    for (k, v) in &staged.allocations {
        match v {
            Some(owner) => allocations.insert(k.as_str(), owner.as_str())?,
            None => allocations.remove(k.as_str())?,
        };
    }
    Ok(())
}

struct Staged {
    objects: BTreeMap<String, Option<Vec<u8>>>,
    allocations: BTreeMap<String, Option<String>>,
    events: Vec<Event>,
    rv: u64,
}

/// One write request's view of the store: reads see its own staged changes.
pub struct WriteTx<'a, 't> {
    objects: Option<&'a Table<'t, &'static str, &'static [u8]>>,
    allocations: Option<&'a Table<'t, &'static str, &'static str>>,
    staged: Staged,
}

impl<'a, 't> WriteTx<'a, 't> {
    fn new(
        objects: &'a Table<'t, &'static str, &'static [u8]>,
        allocations: &'a Table<'t, &'static str, &'static str>,
        rv: u64,
    ) -> Self {
        WriteTx {
            objects: Some(objects),
            allocations: Some(allocations),
            staged: Staged {
                objects: BTreeMap::new(),
                allocations: BTreeMap::new(),
                events: Vec::new(),
                rv,
            },
        }
    }

    /// A transaction whose every operation fails (used once a batch is lost).
    fn poisoned() -> Self {
        WriteTx {
            objects: None,
            allocations: None,
            staged: Staged {
                objects: BTreeMap::new(),
                allocations: BTreeMap::new(),
                events: Vec::new(),
                rv: 0,
            },
        }
    }

    fn into_staged(self) -> Staged {
        self.staged
    }

    fn table(&self) -> Result<&'a Table<'t, &'static str, &'static [u8]>, StoreError> {
        self.objects
            .ok_or_else(|| StoreError::Backend("transaction aborted".into()))
    }

    fn alloc_table(&self) -> Result<&'a Table<'t, &'static str, &'static str>, StoreError> {
        self.allocations
            .ok_or_else(|| StoreError::Backend("transaction aborted".into()))
    }

    /// The resourceVersion the next mutation will get.
    pub fn next_rv(&self) -> u64 {
        self.staged.rv + 1
    }

    pub fn get_raw(&self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let k = key.encode();
        if let Some(v) = self.staged.objects.get(&k) {
            return Ok(v.clone());
        }
        Ok(self.table()?.get(k.as_str())?.map(|g| g.value().to_vec()))
    }

    pub fn get(&self, key: &Key) -> Result<Option<Value>, StoreError> {
        match self.get_raw(key)? {
            Some(raw) => Ok(Some(serde_json::from_slice(&raw)?)),
            None => Ok(None),
        }
    }

    /// Objects under `prefix` (in `namespace`), including staged changes.
    pub fn list(&self, prefix: &str, namespace: Option<&str>) -> Result<Vec<Value>, StoreError> {
        let scope = Key::scan_prefix(prefix, namespace);
        let mut merged: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for entry in self.table()?.range(scope.as_str()..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(scope.as_str()) {
                break;
            }
            merged.insert(k.value().to_string(), v.value().to_vec());
        }
        for (k, v) in self.staged.objects.range(scope.clone()..) {
            if !k.starts_with(scope.as_str()) {
                break;
            }
            match v {
                Some(bytes) => merged.insert(k.clone(), bytes.clone()),
                None => merged.remove(k),
            };
        }
        merged
            .values()
            .map(|raw| serde_json::from_slice(raw).map_err(StoreError::from))
            .collect()
    }

    /// Stores `obj` under `key` with the next resourceVersion; returns it as stored.
    pub fn put(&mut self, key: &Key, mut obj: Value) -> Result<Value, StoreError> {
        let previous = self.get_raw(key)?;
        let rv = self.staged.rv + 1;
        set_resource_version(&mut obj, rv);
        let bytes = serde_json::to_vec(&obj)?;
        let kind = if previous.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        self.stage(key, Some(bytes.clone()), kind, previous, rv);
        Ok(obj)
    }

    /// Removes the object at `key`; returns its last state (with the
    /// deletion's resourceVersion), or `None` when there was none.
    pub fn delete(&mut self, key: &Key) -> Result<Option<Value>, StoreError> {
        let Some(previous) = self.get_raw(key)? else {
            return Ok(None);
        };
        let rv = self.staged.rv + 1;
        let mut obj: Value = serde_json::from_slice(&previous)?;
        set_resource_version(&mut obj, rv);
        let bytes = serde_json::to_vec(&obj)?;
        self.staged.objects.insert(key.encode(), None);
        self.staged.events.push(Event {
            rv,
            kind: EventKind::Deleted,
            key: key.clone(),
            object: bytes.into(),
            previous: Some(previous.into()),
        });
        self.staged.rv = rv;
        Ok(Some(obj))
    }

    fn stage(
        &mut self,
        key: &Key,
        bytes: Option<Vec<u8>>,
        kind: EventKind,
        previous: Option<Vec<u8>>,
        rv: u64,
    ) {
        let object: Arc<[u8]> = bytes.clone().unwrap_or_default().into();
        self.staged.objects.insert(key.encode(), bytes);
        self.staged.events.push(Event {
            rv,
            kind,
            key: key.clone(),
            object,
            previous: previous.map(Into::into),
        });
        self.staged.rv = rv;
    }

    /// Who holds allocation `key` (e.g. `clusterip/10.96.0.15`).
    pub fn allocation(&self, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(v) = self.staged.allocations.get(key) {
            return Ok(v.clone());
        }
        Ok(self.alloc_table()?.get(key)?.map(|g| g.value().to_string()))
    }

    pub fn allocate(&mut self, key: &str, owner: &str) {
        self.staged
            .allocations
            .insert(key.to_string(), Some(owner.to_string()));
    }

    pub fn release(&mut self, key: &str) {
        self.staged.allocations.insert(key.to_string(), None);
    }

    /// All allocations whose key starts with `prefix`, with staged changes.
    pub fn allocations(&self, prefix: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let mut out = BTreeMap::new();
        for entry in self.alloc_table()?.range(prefix..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.insert(k.value().to_string(), v.value().to_string());
        }
        for (k, v) in self.staged.allocations.range(prefix.to_string()..) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(owner) => out.insert(k.clone(), owner.clone()),
                None => out.remove(k),
            };
        }
        Ok(out)
    }
}

fn set_resource_version(obj: &mut Value, rv: u64) {
    if let Some(map) = obj.as_object_mut() {
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
    }
}
