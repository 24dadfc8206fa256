//! k1s's API server: the Kubernetes v1 REST API over HTTPS for kubectl and
//! curl, on top of the store, with one write path for every client.

pub mod alloc;
pub mod api;
mod discovery;
mod filter;
mod handlers;
mod hooks;
mod list;
pub mod metrics;
mod negotiate;
pub mod objects;
mod patch;
pub mod podstreams;
mod proxy;
mod query;
mod request;
mod scale;
mod server;
mod system;
mod tables;
pub mod tls;
mod watch;

pub use api::{Api, ClusterConfig, DeleteOptions, FieldValidation, WriteOptions, Written};
pub use server::{router, serve, ServerHandle};

use std::sync::Arc;
use std::time::Instant;

/// Shared state of every request handler.
#[derive(Clone)]
pub struct AppState {
    pub api: Api,
    /// The admin bearer token.
    pub token: Arc<String>,
    pub metrics: Arc<metrics::Metrics>,
    pub openapi: Arc<k1s_openapi::OpenApi>,
    /// `host:port` clients reach the server at (for `/api`).
    pub server_address: Arc<String>,
    pub started: Instant,
    /// Set once start-up work (built-in objects, repairs) is done: `/readyz` waits for it.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// The node's logs/exec/attach/port-forward; `None` when no node runs here.
    pub pod_streams: Option<Arc<dyn podstreams::PodStreams>>,
}

/// The `gitVersion` k1s reports: a v1.32 server, so kubectl's version skew
/// checks and feature probes behave as against kube-apiserver 1.32.
pub const GIT_VERSION: &str = concat!("v1.32.0-k1s.", env!("CARGO_PKG_VERSION"));
