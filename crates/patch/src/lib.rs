//! Patch algorithms.
