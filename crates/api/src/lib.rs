//! k1s's API types and rules: the resource registry, Status errors, field
//! errors and per-resource strategies. Pure code: no I/O, no clocks.

pub mod convert;
pub mod defaults;
pub mod field;
pub mod fieldsel;
pub mod quantity;
pub mod resource;
mod rules;
pub mod selector;
pub mod status;
pub mod strategy;
pub mod table;
pub mod validation;

pub use field::{FieldError, Path};
pub use resource::ResourceInfo;
pub use status::{ApiError, ApiResult};
pub use strategy::Strategy;

/// Re-export of the Kubernetes object types k1s is built on (v1.32).
pub use k8s_openapi;
