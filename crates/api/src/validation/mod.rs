//! Validation with kube-apiserver v1.32's rules and exact messages.
//!
//! `names` holds the format checks other crates reuse (`is_dns1123_label`,
//! …); `meta` the ObjectMeta rules; one module per resource family after
//! that. Every function takes the (normalized, defaulted) object as JSON.

pub mod apps;
pub mod config;
pub mod container;
pub mod endpoints;
pub mod event;
pub mod gorepr;
pub mod ip;
pub mod json;
pub mod meta;
pub mod names;
pub mod pod;
pub mod podupdate;
pub mod service;
pub mod servicespec;
pub mod simple;
pub mod svcfields;

#[cfg(test)]
mod apps_tests;
#[cfg(test)]
mod pod_tests;
#[cfg(test)]
mod service_tests;

pub use names::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_iana_svc_name,
    is_qualified_name, is_valid_label_value, is_valid_port_num,
};
pub use service::{validate_service, ServiceConfig};
