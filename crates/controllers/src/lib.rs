//! In-process controllers. Each decides in a pure function what should
//! change and applies it through [`k1s_apiserver::Api`] — the same write
//! path kubectl uses; none of them writes the store directly.

pub mod informer;
pub mod namespace;
