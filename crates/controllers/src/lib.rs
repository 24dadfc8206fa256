//! In-process controllers. Each decides in a pure function what should
//! change and applies it through [`k1s_apiserver::Api`] — the same write
//! path kubectl uses; none of them writes the store directly.

pub mod cache;
pub mod deployment;
pub mod endpoint_controllers;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslicemirroring;
pub mod endpointutil;
pub mod events;
pub mod gc;
pub mod informer;
pub mod namespace;
pub mod owner;
pub mod replicaset;
pub mod scheduler;
pub mod servicelb;
pub mod workload;
pub mod workqueue;
