//! Node-local state in DATA_DIR/node.redb: pod IP assignments (IPAM) and the
//! kubelet's sandbox records. Each call is one fsync'ed redb transaction, so
//! an assignment survives a crash the moment `allocate` returns and two pods
//! can never hold the same address.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::net::ipam::Pool;

/// Assigned address (as u32) -> pod uid.
const IPAM_BY_IP: TableDefinition<u32, &str> = TableDefinition::new("ipam_by_ip");
/// Pod uid -> assigned address (as u32).
const IPAM_BY_POD: TableDefinition<&str, u32> = TableDefinition::new("ipam_by_pod");
/// Pool CIDR -> the address handed out last (where the next search starts).
const IPAM_LAST: TableDefinition<&str, u32> = TableDefinition::new("ipam_last");
/// Pod uid -> the kubelet's sandbox record (JSON).
const SANDBOXES: TableDefinition<&str, &[u8]> = TableDefinition::new("sandboxes");

/// File name of the node state database inside DATA_DIR.
pub const STATE_FILE: &str = "node.redb";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("node state {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("node state {path} is in use by another process (is k1s server running?)")]
    InUse { path: PathBuf },
    /// host-local's wording, as kubelet shows it in the sandbox error.
    #[error("failed to allocate for range 0: no IP addresses available in range set: {range_set}")]
    Exhausted { range_set: String },
    #[error(transparent)]
    Pool(#[from] crate::net::ipam::PoolTooSmall),
    #[error("creating {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The node's local database. Cheap to share behind an `Arc`; calls block
/// for one small transaction (fsync included).
pub struct NodeState {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState")
            .field("path", &self.path)
            .finish()
    }
}

impl NodeState {
    /// Opens (or creates) DATA_DIR/node.redb.
    pub fn open(data_dir: &Path) -> Result<NodeState, StateError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StateError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(STATE_FILE);
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StateError::InUse { path: path.clone() },
            other => StateError::Db {
                path: path.clone(),
                message: other.to_string(),
            },
        })?;
        let state = NodeState { db, path };
        state.write(|txn| {
            txn.open_table(IPAM_BY_IP)?;
            txn.open_table(IPAM_BY_POD)?;
            txn.open_table(IPAM_LAST)?;
            txn.open_table(SANDBOXES)?;
            Ok(())
        })?;
        Ok(state)
    }

    /// Whether DATA_DIR holds a node state file (without creating one).
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(STATE_FILE).is_file()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db_error(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Runs `f` in one write transaction and commits it.
    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, TxError>,
    ) -> Result<T, StateError> {
        let txn = self.db.begin_write().map_err(|e| self.db_error(e))?;
        let out = match f(&txn) {
            Ok(out) => out,
            Err(TxError::Db(e)) => return Err(self.db_error(e)),
            Err(TxError::State(e)) => return Err(e),
        };
        txn.commit().map_err(|e| self.db_error(e))?;
        Ok(out)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
        f(&txn).map_err(|e| self.db_error(e))
    }

    // ---- IPAM ----

    /// The pod's address in `pod_cidr`: the one it already holds, else the
    /// next free one after the last handed out (host-local order).
    pub fn allocate(&self, pod_cidr: Ipv4Net, pod_uid: &str) -> Result<Ipv4Addr, StateError> {
        self.allocate_tracked(pod_cidr, pod_uid).map(|a| a.ip)
    }

    /// Like `allocate`, also telling whether the address is new to the pod
    /// (so a failed setup can give it back).
    pub(crate) fn allocate_tracked(
        &self,
        pod_cidr: Ipv4Net,
        pod_uid: &str,
    ) -> Result<Allocation, StateError> {
        let pool = Pool::new(pod_cidr)?;
        let pool_key = pool.net().to_string();
        self.write(|txn| {
            let mut by_ip = txn.open_table(IPAM_BY_IP)?;
            let mut by_pod = txn.open_table(IPAM_BY_POD)?;
            let mut last = txn.open_table(IPAM_LAST)?;

            let held = by_pod.get(pod_uid)?.map(|g| Ipv4Addr::from(g.value()));
            if let Some(ip) = held {
                if pool.is_assignable(ip) {
                    return Ok(Allocation { ip, fresh: false });
                }
                // Left over from another pod CIDR: give it back, pick anew.
                by_ip.remove(u32::from(ip))?;
                by_pod.remove(pod_uid)?;
            }

            let last_ip = last
                .get(pool_key.as_str())?
                .map(|g| Ipv4Addr::from(g.value()));
            let net = pool.net();
            let taken: std::collections::BTreeSet<Ipv4Addr> = by_ip
                .range(u32::from(net.network())..=u32::from(net.broadcast()))?
                .map(|entry| entry.map(|(k, _)| Ipv4Addr::from(k.value())))
                .collect::<Result<_, _>>()?;
            let ip = pool
                .next_free(last_ip, |a| taken.contains(&a))
                .ok_or_else(|| {
                    TxError::State(StateError::Exhausted {
                        range_set: pool.range_set(),
                    })
                })?;
            by_ip.insert(u32::from(ip), pod_uid)?;
            by_pod.insert(pod_uid, u32::from(ip))?;
            last.insert(pool_key.as_str(), u32::from(ip))?;
            Ok(Allocation { ip, fresh: true })
        })
    }

    /// Frees the pod's address; returns it, or `None` if it held none.
    pub fn release(&self, pod_uid: &str) -> Result<Option<Ipv4Addr>, StateError> {
        self.write(|txn| {
            let mut by_ip = txn.open_table(IPAM_BY_IP)?;
            let mut by_pod = txn.open_table(IPAM_BY_POD)?;
            let held = by_pod.remove(pod_uid)?.map(|g| g.value());
            if let Some(n) = held {
                by_ip.remove(n)?;
            }
            Ok(held.map(Ipv4Addr::from))
        })
    }

    /// The pod's address, if it holds one.
    pub fn assigned_ip(&self, pod_uid: &str) -> Result<Option<Ipv4Addr>, StateError> {
        self.read(|txn| {
            let by_pod = txn.open_table(IPAM_BY_POD)?;
            let got = by_pod.get(pod_uid)?.map(|g| Ipv4Addr::from(g.value()));
            Ok(got)
        })
    }

    /// Every assignment, in address order.
    pub fn assigned(&self) -> Result<Vec<(Ipv4Addr, String)>, StateError> {
        self.read(|txn| {
            let by_ip = txn.open_table(IPAM_BY_IP)?;
            let mut out = Vec::new();
            for entry in by_ip.iter()? {
                let (ip, uid) = entry?;
                out.push((Ipv4Addr::from(ip.value()), uid.value().to_string()));
            }
            Ok(out)
        })
    }

    /// Start-up repair: frees the addresses of every pod not in `live`;
    /// returns what was freed.
    pub fn release_all_except<S: AsRef<str>>(
        &self,
        live: &[S],
    ) -> Result<Vec<(Ipv4Addr, String)>, StateError> {
        let live: std::collections::HashSet<&str> = live.iter().map(AsRef::as_ref).collect();
        self.write(|txn| {
            let mut by_ip = txn.open_table(IPAM_BY_IP)?;
            let mut by_pod = txn.open_table(IPAM_BY_POD)?;
            let mut dead = Vec::new();
            for entry in by_ip.iter()? {
                let (ip, uid) = entry?;
                if !live.contains(uid.value()) {
                    dead.push((Ipv4Addr::from(ip.value()), uid.value().to_string()));
                }
            }
            for (ip, uid) in &dead {
                by_ip.remove(u32::from(*ip))?;
                by_pod.remove(uid.as_str())?;
            }
            Ok(dead)
        })
    }

    // ---- sandbox records ----

    /// Stores (or replaces) the pod's sandbox record.
    pub fn put_sandbox(&self, pod_uid: &str, record: &[u8]) -> Result<(), StateError> {
        self.write(|txn| {
            txn.open_table(SANDBOXES)?.insert(pod_uid, record)?;
            Ok(())
        })
    }

    pub fn get_sandbox(&self, pod_uid: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.read(|txn| {
            let table = txn.open_table(SANDBOXES)?;
            let got = table.get(pod_uid)?.map(|g| g.value().to_vec());
            Ok(got)
        })
    }

    /// Every sandbox record, in uid order.
    pub fn list_sandboxes(&self) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        self.read(|txn| {
            let table = txn.open_table(SANDBOXES)?;
            let mut out = Vec::new();
            for entry in table.iter()? {
                let (uid, record) = entry?;
                out.push((uid.value().to_string(), record.value().to_vec()));
            }
            Ok(out)
        })
    }

    /// Removes the pod's sandbox record; `false` if there was none.
    pub fn remove_sandbox(&self, pod_uid: &str) -> Result<bool, StateError> {
        self.write(|txn| {
            let removed = txn.open_table(SANDBOXES)?.remove(pod_uid)?.is_some();
            Ok(removed)
        })
    }
}

/// An address handed to a pod, and whether this call handed it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allocation {
    pub ip: Ipv4Addr,
    pub fresh: bool,
}

/// Failure inside a write transaction: a storage error, or a decision
/// (exhaustion) that aborts it.
enum TxError {
    Db(redb::Error),
    State(StateError),
}

impl<E: Into<redb::Error>> From<E> for TxError {
    fn from(e: E) -> TxError {
        TxError::Db(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn same_pod_same_address_and_distinct_pods_distinct_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let s = NodeState::open(dir.path()).unwrap();
        let net = cidr("10.244.0.0/24");
        let a = s.allocate(net, "a").unwrap();
        let b = s.allocate(net, "b").unwrap();
        assert_eq!(a, ip("10.244.0.2"));
        assert_eq!(b, ip("10.244.0.3"));
        assert_eq!(s.allocate(net, "a").unwrap(), a);
        assert_eq!(s.assigned_ip("b").unwrap(), Some(b));
        assert_eq!(
            s.assigned().unwrap(),
            vec![(a, "a".to_string()), (b, "b".to_string())]
        );
    }

    #[test]
    fn exhaustion_reuse_after_wraparound_and_persistence_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let net = cidr("10.9.0.0/29"); // usable .2-.6
        {
            let s = NodeState::open(dir.path()).unwrap();
            for i in 0..5 {
                s.allocate(net, &format!("p{i}")).unwrap();
            }
            let err = s.allocate(net, "p5").unwrap_err();
            assert_eq!(
                err.to_string(),
                "failed to allocate for range 0: no IP addresses available in range set: 10.9.0.1-10.9.0.6"
            );
            assert_eq!(s.release("p1").unwrap(), Some(ip("10.9.0.3")));
            assert_eq!(s.release("p1").unwrap(), None);
        }
        // Reopen: assignments and the search position survive.
        let s = NodeState::open(dir.path()).unwrap();
        assert_eq!(s.assigned_ip("p4").unwrap(), Some(ip("10.9.0.6")));
        assert_eq!(s.assigned().unwrap().len(), 4);
        // The search wraps after .6 and finds the freed .3.
        assert_eq!(s.allocate(net, "p5").unwrap(), ip("10.9.0.3"));
    }

    #[test]
    fn a_freed_address_goes_to_the_back_of_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let s = NodeState::open(dir.path()).unwrap();
        let net = cidr("10.244.0.0/24");
        assert_eq!(s.allocate(net, "a").unwrap(), ip("10.244.0.2"));
        s.release("a").unwrap();
        assert_eq!(s.allocate(net, "b").unwrap(), ip("10.244.0.3"));
    }

    #[test]
    fn an_address_from_an_old_pod_cidr_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let s = NodeState::open(dir.path()).unwrap();
        assert_eq!(
            s.allocate(cidr("10.1.0.0/24"), "a").unwrap(),
            ip("10.1.0.2")
        );
        assert_eq!(
            s.allocate(cidr("10.244.0.0/24"), "a").unwrap(),
            ip("10.244.0.2")
        );
        assert_eq!(s.assigned().unwrap(), vec![(ip("10.244.0.2"), "a".into())]);
    }

    #[test]
    fn release_all_except_keeps_only_live_pods() {
        let dir = tempfile::tempdir().unwrap();
        let s = NodeState::open(dir.path()).unwrap();
        let net = cidr("10.244.0.0/24");
        for uid in ["a", "b", "c"] {
            s.allocate(net, uid).unwrap();
        }
        let freed = s.release_all_except(&["b"]).unwrap();
        assert_eq!(
            freed,
            vec![
                (ip("10.244.0.2"), "a".into()),
                (ip("10.244.0.4"), "c".into())
            ]
        );
        assert_eq!(s.assigned().unwrap(), vec![(ip("10.244.0.3"), "b".into())]);
        assert_eq!(s.assigned_ip("a").unwrap(), None);
    }

    #[test]
    fn sandbox_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = NodeState::open(dir.path()).unwrap();
            s.put_sandbox("b", br#"{"n":2}"#).unwrap();
            s.put_sandbox("a", br#"{"n":1}"#).unwrap();
            s.put_sandbox("a", br#"{"n":3}"#).unwrap();
        }
        let s = NodeState::open(dir.path()).unwrap();
        assert_eq!(s.get_sandbox("a").unwrap().unwrap(), br#"{"n":3}"#);
        assert_eq!(s.get_sandbox("zz").unwrap(), None);
        let all = s.list_sandboxes().unwrap();
        assert_eq!(
            all.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(s.remove_sandbox("a").unwrap());
        assert!(!s.remove_sandbox("a").unwrap());
        assert_eq!(s.list_sandboxes().unwrap().len(), 1);
    }

    #[test]
    fn exists_does_not_create_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!NodeState::exists(dir.path()));
        NodeState::open(dir.path()).unwrap();
        assert!(NodeState::exists(dir.path()));
    }
}
