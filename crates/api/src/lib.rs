//! k1s's API types and rules: the resource registry, Status errors, field
//! errors and per-resource strategies. Pure code: no I/O, no clocks.

pub mod field;
pub mod resource;
mod rules;
pub mod status;
pub mod strategy;

pub use field::{FieldError, Path};
pub use resource::ResourceInfo;
pub use status::{ApiError, ApiResult};
pub use strategy::Strategy;

/// Re-export of the Kubernetes object types k1s is built on (v1.32).
pub use k8s_openapi;
