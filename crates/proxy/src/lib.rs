//! k1s service proxy, modeled on kube-proxy's nftables mode.
//!
//! Pure part: `from_k8s` turns Services and EndpointSlices into small input
//! types (`model`), `build::ruleset` computes the whole `table ip k1s`
//! (`nft`), `render`/`json` print it, `diff::diff` computes the smallest
//! transaction between two tables, `trace` follows a packet through it and
//! `conntrack::stale_udp` says which UDP flows to forget. At scale,
//! `tracker` keeps the inputs from watch events, `incremental` builds and
//! diffs only the Services that changed, `netlink` encodes the transaction
//! as the batch nft would send, and `metrics` renders kube-proxy's metrics.
//! `batching` bounds what one commit holds.
//! Kernel part: `apply::Applier` sends batches and runs `nft` and
//! `conntrack`, `proxy::Proxy` ties it all together for a watch loop.

pub mod apply;
pub mod batching;
pub mod build;
pub mod conntrack;
pub mod diff;
pub mod endpoints;
pub mod from_k8s;
pub mod generation;
pub mod incremental;
pub mod json;
pub mod listing;
pub mod metrics;
pub mod model;
pub mod names;
pub mod netlink;
pub mod nft;
pub mod plan;
pub mod proxy;
pub mod render;
pub mod sim;
pub mod skeleton;
pub mod trace;
pub mod tracker;
pub mod tx;

pub use apply::{Applier, ApplyError};
pub use build::ruleset;
pub use conntrack::{stale_udp, ConntrackFilter};
pub use diff::diff;
pub use model::{
    Config, EndpointInfo, EndpointSliceInfo, Protocol, ServiceInfo, ServiceInputs, ServiceKey,
    ServicePortInfo, SlicePort,
};
pub use nft::Ruleset;
pub use proxy::{DriftChecks, Proxy, SyncStats};
pub use trace::{trace, trace_with, Fate, Packet, Trace};
pub use tx::{Op, Transaction};
