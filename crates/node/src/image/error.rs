//! One error type for the image store.

use std::io;
use std::path::{Path, PathBuf};

use super::digest::{Digest, DigestError};
use super::reference::RefError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Reference(#[from] RefError),
    #[error("{0}")]
    Digest(#[from] DigestError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("unexpected commit digest {actual}, expected {expected}: failed precondition")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("unexpected size {actual} for {digest}, expected {expected}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    /// Malformed manifests, configs, layouts.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}: not found")]
    NotFound(String),
    /// A layer entry that would write outside its directory.
    #[error("refusing layer entry {path:?}: {why}")]
    Unsafe { path: PathBuf, why: String },
    /// Registry and transport failures, worded like containerd's.
    #[error("{0}")]
    Registry(String),
}

impl ImageError {
    pub fn io(context: impl Into<String>, source: io::Error) -> ImageError {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn invalid(msg: impl Into<String>) -> ImageError {
        ImageError::Invalid(msg.into())
    }

    /// True when a registry or store said the thing does not exist
    /// (gRPC NotFound in the kubelet's message).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ImageError::NotFound(_))
    }
}

/// `.ctx(...)` for io::Result, naming the path or step that failed.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError>;
    fn at(self, path: &Path) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(context(), e))
    }

    fn at(self, path: &Path) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(path.display().to_string(), e))
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
