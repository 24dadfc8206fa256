//! The reconcile entry point a watch loop calls with the current Services
//! and EndpointSlices: compute the table, compare with what the kernel
//! holds, apply the smallest transaction (or everything, at start and on
//! drift), then forget stale UDP flows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::apply::{Applier, ApplyError};
use crate::build::ruleset;
use crate::conntrack::stale_udp;
use crate::diff::diff;
use crate::from_k8s;
use crate::listing::Fingerprint;
use crate::model::{Config, EndpointSliceInfo, ServiceInfo};
use crate::nft::Ruleset;
use crate::tx::{Op, Transaction};

/// What one `sync` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// The whole table was (re)loaded.
    pub full: bool,
    /// The kernel's table was missing or differed from the last sync.
    pub drift: bool,
    /// Commands in the transaction.
    pub ops: usize,
    /// Chains created, flushed, filled or deleted.
    pub chains_touched: usize,
    /// Empty stale chains deleted in a separate transaction.
    pub stale_chains_deleted: usize,
    /// Conntrack filters run (UDP flows to forget).
    pub conntrack_filters: usize,
    /// Conntrack entries deleted.
    pub conntrack_deleted: u64,
    /// Conntrack filters not run (tool missing or failing).
    pub conntrack_failed: usize,
}

/// Keeps `table ip <cfg.table>` in line with the Services it is given.
pub struct Proxy {
    cfg: Config,
    applier: Applier,
    /// What the kernel holds, as far as we know; `None` forces a full load.
    current: Option<Ruleset>,
    /// Flushed chains waiting to be deleted, and since when.
    stale: BTreeMap<String, Instant>,
    /// How long a flushed chain waits before deletion (kube-proxy: 1 s);
    /// `None` deletes in the same transaction (fine on kernels >= 6.2).
    pub stale_chain_delay: Option<Duration>,
}

impl Proxy {
    pub fn new(cfg: Config, applier: Applier) -> Proxy {
        Proxy {
            cfg,
            applier,
            current: None,
            stale: BTreeMap::new(),
            stale_chain_delay: Some(Duration::from_secs(1)),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The table as last applied.
    pub fn current(&self) -> Option<&Ruleset> {
        self.current.as_ref()
    }

    /// Chains flushed and still waiting for deletion.
    pub fn stale_chains(&self) -> Vec<String> {
        self.stale.keys().cloned().collect()
    }

    /// Syncs from Services and EndpointSlices in Kubernetes JSON form.
    pub fn sync(&mut self, services: &[Value], slices: &[Value]) -> Result<SyncStats, ApplyError> {
        let services: Vec<ServiceInfo> = services.iter().filter_map(from_k8s::service).collect();
        let slices: Vec<EndpointSliceInfo> = slices
            .iter()
            .filter_map(|s| from_k8s::endpoint_slice(s, &self.cfg.node_name))
            .collect();
        self.sync_model(&services, &slices)
    }

    /// Syncs from the proxy's own input types.
    pub fn sync_model(
        &mut self,
        services: &[ServiceInfo],
        slices: &[EndpointSliceInfo],
    ) -> Result<SyncStats, ApplyError> {
        let new = ruleset(&self.cfg, services, slices);
        let mut stats = SyncStats::default();

        let drifted = match &self.current {
            None => true,
            Some(cur) => self.drifted(cur)?,
        };
        stats.drift = drifted && self.current.is_some();
        let old = self.current.take();

        let mut tx = match (&old, drifted) {
            (Some(cur), false) => {
                stats.stale_chains_deleted = self.delete_stale(&new);
                diff(cur, &new)
            }
            _ => {
                stats.full = true;
                self.stale.clear();
                Transaction::full(&new)
            }
        };
        if !stats.full && self.stale_chain_delay.is_some() {
            let now = Instant::now();
            for c in tx.defer_chain_deletes() {
                self.stale.insert(c, now);
            }
        }
        stats.ops = tx.ops.len();
        stats.chains_touched = tx.touched_chains().len();
        if let Err(e) = self.applier.apply(&tx) {
            // current stays None: the next sync reloads everything.
            tracing::warn!(error = %e, "nft transaction failed");
            return Err(e);
        }
        if stats.full {
            tracing::info!(table = %new.table, ops = stats.ops, drift = stats.drift, "loaded nftables table");
        } else if !tx.is_empty() {
            tracing::debug!(
                ops = stats.ops,
                chains = stats.chains_touched,
                "updated nftables table"
            );
        }

        if let Some(old) = &old {
            self.forget_udp_flows(old, &new, &mut stats);
        }
        self.current = Some(new);
        Ok(stats)
    }

    /// Whether the kernel's table differs from `cur` (plus pending stale chains).
    fn drifted(&self, cur: &Ruleset) -> Result<bool, ApplyError> {
        let Some(listing) = self.applier.list_json(&cur.table)? else {
            tracing::warn!(table = %cur.table, "nftables table is gone, reloading it");
            return Ok(true);
        };
        let stale: Vec<String> = self.stale.keys().cloned().collect();
        let want = Fingerprint::of_ruleset(cur, &stale);
        match Fingerprint::of_listing(&listing) {
            Ok(have) if have == want => Ok(false),
            Ok(_) => {
                tracing::warn!(table = %cur.table, "nftables table was changed behind our back, reloading it");
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read nft listing, reloading the table");
                Ok(true)
            }
        }
    }

    /// Deletes stale chains that waited long enough and are not used again,
    /// in their own transaction so a failure cannot block the sync.
    fn delete_stale(&mut self, new: &Ruleset) -> usize {
        self.stale.retain(|c, _| new.chain(c).is_none());
        let delay = self.stale_chain_delay.unwrap_or_default();
        let ripe: Vec<String> = self
            .stale
            .iter()
            .filter(|(_, since)| since.elapsed() >= delay)
            .map(|(c, _)| c.clone())
            .collect();
        if ripe.is_empty() {
            return 0;
        }
        let mut tx = Transaction::new(&new.table);
        tx.ops.extend(ripe.iter().cloned().map(Op::DeleteChain));
        match self.applier.apply(&tx) {
            Ok(()) => {
                for c in &ripe {
                    self.stale.remove(c);
                }
                ripe.len()
            }
            Err(e) => {
                tracing::info!(error = %e, "stale chains not deleted yet, retrying later");
                0
            }
        }
    }

    fn forget_udp_flows(&self, old: &Ruleset, new: &Ruleset, stats: &mut SyncStats) {
        let filters = stale_udp(old, new);
        if filters.is_empty() {
            return;
        }
        if !self.applier.has_conntrack() {
            tracing::warn!(
                count = filters.len(),
                "conntrack tool missing: stale UDP flows are kept"
            );
            stats.conntrack_failed = filters.len();
            return;
        }
        for f in &filters {
            stats.conntrack_filters += 1;
            match self.applier.conntrack_delete(f) {
                Ok(n) => stats.conntrack_deleted += n,
                Err(e) => {
                    tracing::warn!(error = %e, "deleting stale UDP flows failed");
                    stats.conntrack_failed += 1;
                }
            }
        }
    }

    /// Removes the table (k1s reset, shutdown).
    pub fn remove(&mut self) -> Result<bool, ApplyError> {
        self.current = None;
        self.stale.clear();
        self.applier.delete_table(&self.cfg.table)
    }
}
