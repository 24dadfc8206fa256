//! Node networking for pods, bridge-CNI style: one Linux bridge (`k1s0`)
//! holding the gateway address of the node's pod CIDR, one network
//! namespace per pod pinned at DATA_DIR/netns/<uid>, a veth pair from the
//! bridge to the pod's `eth0`, IPAM persisted in DATA_DIR/node.redb, and a
//! small nftables table that masquerades pod traffic leaving the node.
//!
//! `plan`, `ipam` and the text of `nft` are pure; `link` (netlink), `netns`,
//! `sysctl` and the nft applier touch the kernel, always from short-lived
//! worker threads placed in the right namespace: the node's namespace is the
//! one the thread calling [`NodeNetwork::new`] was in (or, for [`reset`],
//! the calling thread's), so tests can run all of it inside a throwaway
//! namespace.

mod bridge;
mod error;
pub mod ipam;
mod link;
mod netns;
pub mod nft;
pub mod plan;
mod pod;
mod sysctl;

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::state::NodeState;
pub use error::NetError;
use ipam::Pool;

/// Bridge name used by k1s.
pub const DEFAULT_BRIDGE: &str = "k1s0";

/// Addresses and places of the node's pod network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    pub data_dir: PathBuf,
    pub bridge: String,
    /// This node's share of the cluster CIDR; the bridge takes its first host.
    pub pod_cidr: Ipv4Net,
    /// All pod addresses of the cluster: traffic to them is not masqueraded.
    pub cluster_cidr: Ipv4Net,
    /// Routed onto the bridge so it never leaves the node.
    pub service_cidr: Ipv4Net,
}

impl NetConfig {
    /// The kubeadm-default address plan (DESIGN §2) under `data_dir`.
    pub fn with_defaults(data_dir: impl Into<PathBuf>) -> NetConfig {
        NetConfig {
            data_dir: data_dir.into(),
            bridge: DEFAULT_BRIDGE.to_string(),
            pod_cidr: Ipv4Net::new_assert(Ipv4Addr::new(10, 244, 0, 0), 24),
            cluster_cidr: Ipv4Net::new_assert(Ipv4Addr::new(10, 244, 0, 0), 16),
            service_cidr: Ipv4Net::new_assert(Ipv4Addr::new(10, 96, 0, 0), 12),
        }
    }

    /// Checks that the addresses fit together.
    pub fn validate(&self) -> Result<Pool, NetError> {
        if !plan::valid_ifname(&self.bridge) {
            return Err(NetError::Config(format!(
                "bridge name {:?} is not a valid interface name",
                self.bridge
            )));
        }
        let pool = Pool::new(self.pod_cidr).map_err(|e| NetError::Config(e.to_string()))?;
        if !self.cluster_cidr.contains(&pool.net()) {
            return Err(NetError::Config(format!(
                "pod CIDR {} is not inside the cluster CIDR {}",
                pool.net(),
                self.cluster_cidr.trunc()
            )));
        }
        let service = self.service_cidr.trunc();
        if service.contains(&self.cluster_cidr.network())
            || self.cluster_cidr.contains(&service.network())
        {
            return Err(NetError::Config(format!(
                "service CIDR {service} overlaps the cluster CIDR {}",
                self.cluster_cidr.trunc()
            )));
        }
        Ok(pool)
    }
}

/// A pod's network, as the runtime and the kubelet need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodNet {
    /// The pinned namespace file to `setns` into.
    pub netns: PathBuf,
    /// The pod IP (status.podIP).
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// Host end of the veth pair, a port of the bridge.
    pub host_veth: String,
}

/// The node's pod network: the bridge, and one namespace + veth + IP per pod.
pub struct NodeNetwork {
    cfg: NetConfig,
    pool: Pool,
    state: Arc<NodeState>,
    node_ns: Arc<File>,
    locks: Arc<PodLocks>,
}

impl NodeNetwork {
    /// Validates the configuration and remembers the calling thread's
    /// network namespace as the node's: every later call acts there, from
    /// whichever thread it is made.
    pub fn new(cfg: NetConfig, state: Arc<NodeState>) -> Result<NodeNetwork, NetError> {
        let pool = cfg.validate()?;
        Ok(NodeNetwork {
            cfg,
            pool,
            state,
            node_ns: netns::current()?,
            locks: Arc::default(),
        })
    }

    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// The bridge's address, the pods' default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        self.pool.gateway()
    }

    /// Puts the bridge, the service route, the sysctls and the nft table
    /// in place. Idempotent; cheap when everything is already there.
    pub async fn ensure(&self) -> Result<(), NetError> {
        let bridge = plan::bridge_plan(&self.cfg.bridge, &self.pool, self.cfg.service_cidr);
        let (pod_cidr, cluster_cidr) = (self.pool.net(), self.cfg.cluster_cidr);
        let dir = plan::netns_dir(&self.cfg.data_dir);
        netns::run_in(self.node_ns.clone(), move || {
            std::fs::create_dir_all(&dir)
                .map_err(error::io_error(format!("creating {}", dir.display())))?;
            bridge::ensure(&bridge, pod_cidr, cluster_cidr)
        })
        .await
    }

    /// Gives the pod its namespace, veth and IP. Idempotent: a second call
    /// returns the same network and repairs whatever is missing. If a first
    /// setup fails, what it made is removed and the IP given back.
    pub async fn setup_pod(&self, pod_uid: &str) -> Result<PodNet, NetError> {
        check_uid(pod_uid)?;
        // Held by the worker: a caller that stops waiting does not let a
        // second call for the same pod run alongside the first.
        let lock = self.locks.lock(pod_uid).await;
        let state = self.state.clone();
        let node_ns = self.node_ns.clone();
        let (pool, data_dir, bridge) = (
            self.pool,
            self.cfg.data_dir.clone(),
            self.cfg.bridge.clone(),
        );
        let uid = pod_uid.to_string();
        netns::run_in(self.node_ns.clone(), move || {
            let _lock = lock;
            let allocation = state.allocate_tracked(pool.net(), &uid)?;
            let plan = plan::pod_plan(&data_dir, &bridge, &pool, &uid, allocation.ip);
            let result = pod::setup(&plan);
            // Setup leaves this thread in the pod's namespace; come back.
            netns::join(&node_ns)?;
            match result {
                Ok(()) => Ok(PodNet {
                    netns: plan.netns,
                    ip: plan.ip,
                    prefix_len: plan.prefix_len,
                    gateway: plan.gateway,
                    host_veth: plan.host_veth,
                }),
                Err(e) => {
                    if allocation.fresh {
                        let undone = netns::block_on(async {
                            let nl = link::Netlink::connect()?;
                            pod::teardown(&nl, &uid, &plan.host_veth, &plan.netns).await
                        });
                        if let Err(undo) = undone {
                            tracing::warn!(pod_uid = %uid, "cleaning up after a failed network setup: {undo}");
                        } else {
                            state.release(&uid)?;
                        }
                    }
                    Err(e)
                }
            }
        })
        .await
    }

    /// Removes the pod's veth and namespace file and frees its IP.
    /// Idempotent and tolerant of a half-done setup.
    pub async fn teardown_pod(&self, pod_uid: &str) -> Result<(), NetError> {
        check_uid(pod_uid)?;
        let lock = self.locks.lock(pod_uid).await;
        let state = self.state.clone();
        let uid = pod_uid.to_string();
        let netns_file = plan::netns_path(&self.cfg.data_dir, pod_uid);
        netns::run_in(self.node_ns.clone(), move || {
            let _lock = lock;
            netns::block_on(async {
                let nl = link::Netlink::connect()?;
                pod::teardown(&nl, &uid, &plan::host_veth_name(&uid), &netns_file).await
            })?;
            // Only now: an IP must not go to a new pod while the old veth lives.
            state.release(&uid)?;
            Ok(())
        })
        .await
    }

    /// Uids of every pod that has a namespace file or an IP: after a
    /// restart, those not running any more should get `teardown_pod`.
    pub fn known_pods(&self) -> Result<Vec<String>, NetError> {
        let mut uids: BTreeSet<String> = netns::list(&plan::netns_dir(&self.cfg.data_dir))?
            .into_iter()
            .collect();
        uids.extend(self.state.assigned()?.into_iter().map(|(_, uid)| uid));
        Ok(uids.into_iter().collect())
    }
}

/// Removes everything node networking made, in the calling thread's
/// network namespace: every pod's veth and namespace file (from
/// DATA_DIR/netns and the state database), every port of the bridge, the
/// bridge (with its address and the service route), the nft table, and the
/// IP assignments. Idempotent. Fails if DATA_DIR/node.redb is open
/// elsewhere (a running server).
pub async fn reset(data_dir: &Path, bridge: &str) -> Result<(), NetError> {
    let state = if NodeState::exists(data_dir) {
        Some(NodeState::open(data_dir)?)
    } else {
        None
    };
    let mut uids: BTreeSet<String> = netns::list(&plan::netns_dir(data_dir))?
        .into_iter()
        .collect();
    if let Some(state) = &state {
        uids.extend(state.assigned()?.into_iter().map(|(_, uid)| uid));
    }
    let (netns_dir, bridge) = (plan::netns_dir(data_dir), bridge.to_string());
    netns::run_in(netns::current()?, move || {
        netns::block_on(async {
            let nl = link::Netlink::connect()?;
            for uid in &uids {
                pod::teardown(&nl, uid, &plan::host_veth_name(uid), &netns_dir.join(uid)).await?;
            }
            bridge::remove(&nl, &bridge).await
        })?;
        nft::delete()?;
        if let Some(state) = &state {
            state.release_all_except::<&str>(&[])?;
        }
        match std::fs::remove_dir(&netns_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(error::io_error(format!("removing {}", netns_dir.display()))(e))
            }
            _ => Ok(()),
        }
    })
    .await
}

fn check_uid(pod_uid: &str) -> Result<(), NetError> {
    if plan::valid_pod_uid(pod_uid) {
        Ok(())
    } else {
        Err(NetError::InvalidUid(pod_uid.to_string()))
    }
}

/// One async lock per pod uid, so concurrent setup/teardown calls for the
/// same pod run one after the other while different pods proceed in parallel.
#[derive(Default)]
struct PodLocks {
    held: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct PodLockGuard {
    locks: Arc<PodLocks>,
    uid: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl PodLocks {
    async fn lock(self: &Arc<Self>, uid: &str) -> PodLockGuard {
        let mutex = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(uid.to_string())
            .or_default()
            .clone();
        let guard = mutex.clone().lock_owned().await;
        PodLockGuard {
            locks: self.clone(),
            uid: uid.to_string(),
            mutex,
            guard: Some(guard),
        }
    }
}

impl Drop for PodLockGuard {
    fn drop(&mut self) {
        self.guard.take();
        let mut held = self
            .locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's copy and ours: nobody else is waiting, forget the uid.
        if Arc::strong_count(&self.mutex) == 2 {
            held.remove(&self.uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_matches_the_address_plan() {
        let cfg = NetConfig::with_defaults("/var/lib/k1s");
        assert_eq!(cfg.bridge, "k1s0");
        assert_eq!(cfg.pod_cidr.to_string(), "10.244.0.0/24");
        assert_eq!(cfg.cluster_cidr.to_string(), "10.244.0.0/16");
        assert_eq!(cfg.service_cidr.to_string(), "10.96.0.0/12");
        let pool = cfg.validate().unwrap();
        assert_eq!(pool.gateway().to_string(), "10.244.0.1");
    }

    #[test]
    fn inconsistent_configs_are_rejected() {
        let mut cfg = NetConfig::with_defaults("/d");
        cfg.pod_cidr = "10.245.0.0/24".parse().unwrap();
        assert_eq!(
            cfg.validate().unwrap_err().to_string(),
            "invalid network configuration: pod CIDR 10.245.0.0/24 is not inside the cluster CIDR 10.244.0.0/16"
        );

        let mut cfg = NetConfig::with_defaults("/d");
        cfg.service_cidr = "10.0.0.0/8".parse().unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("overlaps"));

        let mut cfg = NetConfig::with_defaults("/d");
        cfg.bridge = "a-very-long-bridge-name".into();
        assert!(cfg.validate().is_err());

        let mut cfg = NetConfig::with_defaults("/d");
        cfg.pod_cidr = "10.244.0.0/31".parse().unwrap();
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn pod_net_serializes_for_sandbox_records() {
        let net = PodNet {
            netns: "/var/lib/k1s/netns/u1".into(),
            ip: "10.244.0.2".parse().unwrap(),
            prefix_len: 24,
            gateway: "10.244.0.1".parse().unwrap(),
            host_veth: "veth01234567".into(),
        };
        let json = serde_json::to_string(&net).unwrap();
        assert_eq!(
            json,
            r#"{"netns":"/var/lib/k1s/netns/u1","ip":"10.244.0.2","prefixLen":24,"gateway":"10.244.0.1","hostVeth":"veth01234567"}"#
        );
        assert_eq!(serde_json::from_str::<PodNet>(&json).unwrap(), net);
    }

    #[tokio::test]
    async fn pod_locks_serialize_one_uid_and_forget_it_afterwards() {
        let locks = Arc::new(PodLocks::default());
        {
            let _a = locks.lock("a").await;
            let _b = locks.lock("b").await; // another uid does not wait
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("a"))
                    .await
                    .is_err()
            );
        }
        assert!(locks.held.lock().unwrap().is_empty());
    }
}
