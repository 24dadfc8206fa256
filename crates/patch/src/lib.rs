//! Patch algorithms of the API server, over `serde_json::Value`:
//!
//! * [`merge_patch`] — JSON merge patch (RFC 7396);
//! * [`json_patch`] — JSON patch (RFC 6902) with kube-apiserver's semantics and wording;
//! * [`strategic_merge`] — strategic merge patch for built-in kinds;
//! * [`apply`] / [`record_update`] — server-side apply and `metadata.managedFields`.
//!
//! List and map semantics come from a [`PatchSchema`]; [`BuiltinSchema`]
//! covers every kind k1s serves.

mod error;
pub mod fieldpath;
mod gofmt;
mod json_patch;
mod merge_patch;
mod schema;
mod smp;
mod ssa;

pub use error::{ApplyError, Conflict, PatchError, GENERIC_422_MESSAGE};
pub use json_patch::{json_patch, MAX_OPERATIONS};
pub use merge_patch::{json_merge_patch, merge_patch};
pub use schema::{
    BuiltinSchema, ListStrategy, ListType, MapKey, MapStrategy, PatchSchema, ResetFields,
    UntypedSchema, Zero,
};
pub use smp::strategic_merge;
pub use ssa::{apply, record_update, FieldManager};
