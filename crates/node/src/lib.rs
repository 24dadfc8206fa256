//! k1s-node: the pod runner.
//!
//! This crate holds the image half so far: a content-addressed OCI image
//! store (`image`), the pure rules that turn an image config plus a
//! container spec into the process to run (`spec`), and a builder for the
//! small offline test images (`testimages`). Network namespaces and
//! containers are added by their own modules next to these.

pub mod image;
pub mod kubelet;
pub mod logs;
pub mod net;
pub mod pod;
pub mod runtime;
pub mod spec;
pub mod state;
pub mod testimages;
