//! Defaulting (kube-apiserver's `SetDefaults_*` for core/v1, apps/v1 and
//! discovery/v1) and the registry-side preparation of writes (status
//! resets, Service clusterIP/IP-family handling, Namespace finalizers).

pub mod apps;
pub mod misc;
pub mod pod;
pub mod qos;
pub mod service;

pub use service::{default_service, prepare_service_create, prepare_service_update};
