//! k1s's durable object store on redb.
//!
//! - Objects are JSON documents keyed `prefix/namespace/name`.
//! - One cluster-wide resourceVersion counter, persisted with every commit;
//!   each object mutation gets the next value.
//! - Writes run on one writer thread that batches concurrent requests into a
//!   single fsync'ed redb transaction (group commit). A request's changes are
//!   staged and only reach redb when its closure succeeds, so a rejected write
//!   changes nothing.
//! - Committed changes become [`Event`]s: kept in a bounded history (watch
//!   resume, `410 Gone` when too old) and fanned out to subscribers.
//! - Allocations (ClusterIPs, NodePorts, pod IPs) live in their own table and
//!   are written in the same transaction as the object that owns them.

mod key;
mod watch;
mod writer;

pub use key::Key;
pub use watch::{Event, EventKind, WatchError, Watcher};
pub use writer::WriteTx;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const ALLOCATIONS: TableDefinition<&str, &str> = TableDefinition::new("allocations");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RV_KEY: &str = "resourceVersion";

/// Events kept for watch resume. A watch from an older resourceVersion gets 410 Gone.
pub const DEFAULT_HISTORY: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("the store is shutting down")]
    Closed,
}

macro_rules! backend_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Backend(e.to_string())
            }
        }
    )*};
}
backend_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Raw JSON objects in key order.
    pub items: Vec<Vec<u8>>,
    /// The store's resourceVersion when the page was read.
    pub resource_version: u64,
    /// Storage key of the first object not returned, when `limit` cut the list.
    pub next_key: Option<String>,
}

pub struct Store {
    db: Arc<Database>,
    shared: Arc<Mutex<watch::Hub>>,
    writer: writer::Writer,
}

impl Store {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with_history(path, DEFAULT_HISTORY)
    }

    pub fn open_with_history(path: &Path, history: usize) -> Result<Store, StoreError> {
        let db = Arc::new(Database::create(path)?);
        let (rv, counts) = {
            let txn = db.begin_write()?;
            let rv = {
                let meta = txn.open_table(META)?;
                let rv = meta.get(RV_KEY)?.map(|g| g.value()).unwrap_or(0);
                rv
            };
            let mut counts: HashMap<String, i64> = HashMap::new();
            {
                let objects = txn.open_table(OBJECTS)?;
                for entry in objects.iter()? {
                    let (k, _) = entry?;
                    if let Some(key) = Key::decode(k.value()) {
                        *counts.entry(key.prefix).or_default() += 1;
                    }
                }
                txn.open_table(ALLOCATIONS)?;
            }
            txn.commit()?;
            (rv, counts)
        };
        let shared = Arc::new(Mutex::new(watch::Hub::new(rv, history, counts)));
        let writer = writer::Writer::start(db.clone(), shared.clone(), rv);
        Ok(Store { db, shared, writer })
    }

    /// The latest committed resourceVersion.
    pub fn current_rv(&self) -> u64 {
        watch::lock(&self.shared).current_rv()
    }

    /// Object counts per storage prefix (for `apiserver_storage_objects`).
    pub fn object_counts(&self) -> Vec<(String, i64)> {
        let mut v: Vec<_> = watch::lock(&self.shared)
            .counts()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort();
        v
    }

    /// Reads one object's raw JSON.
    pub fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OBJECTS)?;
        let got = table
            .get(key.encode().as_str())?
            .map(|g| g.value().to_vec());
        Ok(got)
    }

    /// Lists objects under `prefix` (optionally one namespace), in key order,
    /// starting at `start_key` (inclusive), at most `limit` of them.
    pub fn list(
        &self,
        prefix: &str,
        namespace: Option<&str>,
        start_key: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ListPage, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let resource_version = meta.get(RV_KEY)?.map(|g| g.value()).unwrap_or(0);
        let table = txn.open_table(OBJECTS)?;
        let scope = Key::scan_prefix(prefix, namespace);
        let from = match start_key {
            Some(s) if s > scope.as_str() => s.to_string(),
            _ => scope.clone(),
        };
        let mut items = Vec::new();
        let mut next_key = None;
        for entry in table.range(from.as_str()..)? {
            let (k, v) = entry?;
            let k = k.value();
            if !k.starts_with(scope.as_str()) {
                break;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                next_key = Some(k.to_string());
                break;
            }
            items.push(v.value().to_vec());
        }
        Ok(ListPage {
            items,
            resource_version,
            next_key,
        })
    }

    /// Reads an allocation's owner.
    pub fn allocation(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ALLOCATIONS)?;
        let got = table.get(key)?.map(|g| g.value().to_string());
        Ok(got)
    }

    /// Runs `f` on the writer thread inside a transaction and returns its
    /// result once the transaction is durable. When `f` fails nothing it
    /// staged is written.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut WriteTx<'_, '_>) -> Result<T, E> + Send + 'static,
    {
        self.writer.submit(f).await
    }

    /// Blocking variant of [`Store::write`] for non-async callers (start-up, tests).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut WriteTx<'_, '_>) -> Result<T, E> + Send + 'static,
    {
        self.writer.submit_blocking(f)
    }

    /// Starts a watch of `prefix` (optionally one namespace) delivering every
    /// event with a resourceVersion greater than `after`.
    pub fn watch(
        &self,
        prefix: &str,
        namespace: Option<&str>,
        after: u64,
    ) -> Result<Watcher, WatchError> {
        let mut w = watch::lock(&self.shared).subscribe(prefix, namespace, after)?;
        w.attach(self.shared.clone());
        Ok(w)
    }
}

#[cfg(test)]
mod tests;
