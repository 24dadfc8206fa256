//! OCI images: references, a content-addressed blob store with a tag index,
//! import of OCI layouts and docker archives, a registry client, layer
//! unpacking for overlayfs, and the kubelet's pull-policy rules.

pub mod digest;
pub mod error;
pub mod import;
pub mod list;
pub mod manifest;
pub mod policy;
pub mod pull;
pub mod reference;
pub mod store;
pub mod unpack;

mod auth;
mod images;

pub use digest::Digest;
pub use error::ImageError;
pub use images::{ImageStore, PulledImage, RemovedImage};
pub use list::{format_images_table, ImageInfo};
pub use manifest::{ImageConfig, ImageConfigFile};
pub use reference::Reference;
pub use store::ImageRecord;
