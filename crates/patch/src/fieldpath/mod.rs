//! Field paths and sets of them, as structured-merge-diff models ownership,
//! with the `fieldsV1` encoding of `metadata.managedFields`.

mod element;
mod serialize;
mod set;

pub use element::{compare_values, path_string, PathElement};
pub use set::Set;
