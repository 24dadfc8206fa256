//! The reconcile entry point a watch loop calls: with the current Services
//! and EndpointSlices (`sync`, `sync_model`), or with only the Services that
//! changed (`sync_changes`). It loads the whole table at start and after
//! drift or a failure, and otherwise applies only what the changed Services
//! need (see `incremental`), then forgets stale UDP flows.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::apply::{Applier, ApplyError};
use crate::conntrack::stale_udp;
use crate::from_k8s;
use crate::incremental::{Counts, Programmed};
use crate::listing::Fingerprint;
use crate::model::{Config, EndpointSliceInfo, ServiceInfo, ServiceInputs, ServiceKey};
use crate::nft::Ruleset;
use crate::tx::{Op, Transaction};

/// When a sync compares the kernel's table with what it should hold. The
/// listing this takes costs seconds with thousands of Services, so a
/// caller that can tell when someone else touched nftables (see
/// `generation`) checks only then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriftChecks {
    #[default]
    EverySync,
    /// Only after `check_drift_next`.
    OnRequest,
}

/// What one `sync` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// The whole table was (re)loaded.
    pub full: bool,
    /// The kernel's table was missing or differed from the last sync.
    pub drift: bool,
    /// Services whose inputs changed.
    pub changed_services: usize,
    /// Commands in the transaction.
    pub ops: usize,
    /// Chains created, flushed, filled or deleted.
    pub chains_touched: usize,
    /// Empty stale chains deleted (with the sync's own changes).
    pub stale_chains_deleted: usize,
    /// Stale chains that could not be deleted yet (retried later).
    pub stale_chain_failures: usize,
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
    /// Every Service the table should hold.
    state: Programmed,
    /// The kernel holds the table for `state`; `false` forces a full load.
    loaded: bool,
    /// A table was loaded once (later full loads clean up conntrack).
    ever_loaded: bool,
    /// The whole table for `state`, built when asked for.
    snapshot: OnceCell<Ruleset>,
    /// Flushed chains waiting to be deleted, and since when.
    stale: BTreeMap<String, Instant>,
    /// The next sync compares the kernel's table with `state`.
    drift_check_requested: bool,
    /// How long a flushed chain waits before deletion (kube-proxy: 1 s);
    /// `None` deletes in the same transaction (fine on kernels >= 6.2).
    pub stale_chain_delay: Option<Duration>,
    pub drift_checks: DriftChecks,
}

/// Groups Services with their slices, keyed by namespace/name.
fn group(
    services: &[ServiceInfo],
    slices: &[EndpointSliceInfo],
) -> BTreeMap<ServiceKey, ServiceInputs> {
    let mut out: BTreeMap<ServiceKey, ServiceInputs> = services
        .iter()
        .map(|s| {
            (
                (s.namespace.clone(), s.name.clone()),
                ServiceInputs {
                    service: Arc::new(s.clone()),
                    slices: Vec::new(),
                },
            )
        })
        .collect();
    for sl in slices {
        if let Some(i) = out.get_mut(&(sl.namespace.clone(), sl.service_name.clone())) {
            i.slices.push(Arc::new(sl.clone()));
        }
    }
    out
}

impl Proxy {
    pub fn new(cfg: Config, applier: Applier) -> Proxy {
        Proxy {
            cfg,
            applier,
            state: Programmed::default(),
            loaded: false,
            ever_loaded: false,
            snapshot: OnceCell::new(),
            stale: BTreeMap::new(),
            drift_check_requested: false,
            stale_chain_delay: Some(Duration::from_secs(1)),
            drift_checks: DriftChecks::EverySync,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The table as last applied (built on first use after a change).
    pub fn current(&self) -> Option<&Ruleset> {
        self.loaded.then(|| self.table())
    }

    fn table(&self) -> &Ruleset {
        self.snapshot.get_or_init(|| self.state.ruleset(&self.cfg))
    }

    /// Sizes of the table as last applied.
    pub fn counts(&self) -> Counts {
        self.state.counts()
    }

    /// The Services the table holds (or will hold after a failed sync is retried).
    pub fn services(&self) -> &BTreeMap<ServiceKey, ServiceInputs> {
        self.state.services()
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

    /// Syncs from the proxy's own input types (all Services).
    pub fn sync_model(
        &mut self,
        services: &[ServiceInfo],
        slices: &[EndpointSliceInfo],
    ) -> Result<SyncStats, ApplyError> {
        let mut want = group(services, slices);
        let have = self.state.services();
        let mut changes: BTreeMap<ServiceKey, Option<ServiceInputs>> = have
            .keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| (k.clone(), None))
            .collect();
        want.retain(|k, v| have.get(k) != Some(v));
        changes.extend(want.into_iter().map(|(k, v)| (k, Some(v))));
        self.sync_changes(changes)
    }

    /// Syncs after the given Services changed (`None`: deleted, or nothing
    /// the proxy programs any more). Services not named stay as they are.
    pub fn sync_changes(
        &mut self,
        changes: BTreeMap<ServiceKey, Option<ServiceInputs>>,
    ) -> Result<SyncStats, ApplyError> {
        let mut stats = SyncStats::default();
        if self.loaded
            && (self.drift_check_requested || self.drift_checks == DriftChecks::EverySync)
        {
            self.drift_check_requested = false;
            match self.drifted() {
                Ok(false) => {}
                Ok(true) => {
                    stats.drift = true;
                    self.loaded = false;
                }
                Err(e) => {
                    // Cannot tell: load everything, which reports the error if nft is broken.
                    tracing::warn!(error = %e, "cannot list the nftables table, reloading it");
                    self.loaded = false;
                }
            }
        }
        if !changes.is_empty() {
            self.snapshot = OnceCell::new();
        }

        let mut ripe = Vec::new();
        let (mut tx, before_after) = if !self.loaded {
            stats.full = true;
            stats.changed_services = changes.len();
            // Only the changed Services matter for conntrack, and only
            // once there was a table whose flows can be stale.
            let before_after = if self.ever_loaded {
                let step = self.state.update(&self.cfg, changes);
                Some((step.old, step.new))
            } else {
                self.state.merge(changes);
                None
            };
            let services = std::mem::take(&mut self.state).into_services();
            let (state, rs) = Programmed::load(&self.cfg, services);
            self.state = state;
            self.stale.clear();
            let tx = Transaction::full(&rs);
            self.snapshot = OnceCell::from(rs);
            (tx, before_after)
        } else {
            let step = self.state.update(&self.cfg, changes);
            stats.changed_services = step.changed;
            // A flushed chain brought back by this change must stay.
            self.stale.retain(|c, _| step.new.chain(c).is_none());
            ripe = self.ripe_stale_chains();
            (step.tx, Some((step.old, step.new)))
        };
        if !stats.full && self.stale_chain_delay.is_some() {
            let now = Instant::now();
            for c in tx.defer_chain_deletes() {
                self.stale.insert(c, now);
            }
        }
        stats.ops = tx.ops.len();
        stats.chains_touched = tx.touched_chains().len();
        if let Err(e) = self.apply_with_stale(&tx, &ripe, &mut stats) {
            // The next sync reloads everything.
            self.loaded = false;
            tracing::warn!(error = %e, "nft transaction failed");
            return Err(e);
        }
        if stats.full {
            tracing::info!(table = %self.cfg.table, ops = stats.ops, drift = stats.drift, "loaded nftables table");
        } else if !tx.is_empty() {
            tracing::debug!(
                ops = stats.ops,
                chains = stats.chains_touched,
                "updated nftables table"
            );
        }
        self.loaded = true;
        if let (true, Some((old, new))) = (self.ever_loaded, &before_after) {
            self.forget_udp_flows(old, new, &mut stats);
        }
        self.ever_loaded = true;
        Ok(stats)
    }

    /// Whether the next sync loads the whole table (at start, after a
    /// failure or drift) rather than changing it.
    pub fn needs_full_load(&self) -> bool {
        !self.loaded
    }

    /// Whether the next sync is this proxy's first load and the kernel has
    /// no table yet (a fresh node, a reboot, `k1s reset`): nothing is being
    /// replaced, so the load may go in several commits (see `batching`).
    /// With a table left by an earlier run the load must stay one atomic
    /// replacement, and so it does after a failure or drift.
    pub fn loads_into_empty_kernel(&self) -> bool {
        !self.loaded
            && !self.ever_loaded
            && matches!(self.applier.table_exists(&self.cfg.table), Ok(false))
    }

    /// Makes the next sync compare the kernel's table with what it should hold.
    pub fn check_drift_next(&mut self) {
        self.drift_check_requested = true;
    }

    /// Whether the kernel's table differs from the one last applied (plus
    /// pending stale chains).
    fn drifted(&self) -> Result<bool, ApplyError> {
        Ok(match self.applier.list_json(&self.cfg.table)? {
            None => {
                tracing::warn!(table = %self.cfg.table, "nftables table is gone, reloading it");
                true
            }
            Some(listing) => {
                let stale: Vec<String> = self.stale.keys().cloned().collect();
                let want = Fingerprint::of_ruleset(self.table(), &stale);
                match Fingerprint::of_listing(&listing) {
                    Ok(have) if have == want => false,
                    Ok(_) => {
                        tracing::warn!(table = %self.cfg.table, "nftables table was changed behind our back, reloading it");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read nft listing, reloading the table");
                        true
                    }
                }
            }
        })
    }

    /// Stale chains that waited long enough to be deleted.
    fn ripe_stale_chains(&self) -> Vec<String> {
        let delay = self.stale_chain_delay.unwrap_or_default();
        self.stale
            .iter()
            .filter(|(_, since)| since.elapsed() >= delay)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Applies `tx` and deletes the `ripe` stale chains in the same commit
    /// (with thousands of Services a commit costs far more than what it
    /// holds). Should the kernel refuse the deletions (older ones keep a
    /// chain referenced for a moment), `tx` goes alone and they wait.
    fn apply_with_stale(
        &mut self,
        tx: &Transaction,
        ripe: &[String],
        stats: &mut SyncStats,
    ) -> Result<(), ApplyError> {
        if ripe.is_empty() {
            return self.applier.apply(tx);
        }
        let mut with = tx.clone();
        with.ops.extend(ripe.iter().cloned().map(Op::DeleteChain));
        match self.applier.apply(&with) {
            Ok(()) => {
                for c in ripe {
                    self.stale.remove(c);
                }
                stats.stale_chains_deleted = ripe.len();
                Ok(())
            }
            Err(e) => {
                tracing::info!(error = %e, "stale chains not deleted yet, retrying later");
                stats.stale_chain_failures = ripe.len();
                self.applier.apply(tx)
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
        self.loaded = false;
        self.stale.clear();
        self.applier.delete_table(&self.cfg.table)
    }
}
