//! Errors, shaped like the Status objects kube-apiserver returns for them.

use thiserror::Error;

/// Message kube-apiserver puts in a 422 built by `NewGenericServerResponse`;
/// the library's own text travels as the `UnexpectedServerResponse` cause.
pub const GENERIC_422_MESSAGE: &str =
    "the server rejected our request due to an error in our request";

/// A patch that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatchError {
    /// 400 BadRequest with this message (malformed patch document).
    #[error("{0}")]
    BadRequest(String),
    /// 422 Invalid: Status message is [`GENERIC_422_MESSAGE`], with one cause
    /// `{reason: "UnexpectedServerResponse", message: <this text>}`.
    #[error("{0}")]
    Unprocessable(String),
    /// 413 RequestEntityTooLarge; the Status message is `Request entity too large: <this text>`.
    #[error("{0}")]
    TooLarge(String),
    /// 500 with an empty reason: kube-apiserver returns these library errors unwrapped.
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Unprocessable(_) => 422,
            PatchError::TooLarge(_) => 413,
            PatchError::Internal(_) => 500,
        }
    }

    /// Status `reason` (empty for 500, as StatusReasonUnknown).
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Unprocessable(_) => "Invalid",
            PatchError::TooLarge(_) => "RequestEntityTooLarge",
            PatchError::Internal(_) => "",
        }
    }

    /// Status `message`.
    pub fn status_message(&self) -> String {
        match self {
            PatchError::Unprocessable(_) => GENERIC_422_MESSAGE.to_string(),
            PatchError::TooLarge(m) => format!("Request entity too large: {m}"),
            PatchError::BadRequest(m) | PatchError::Internal(m) => m.clone(),
        }
    }

    /// The `details.causes` entry (`reason`, `message`) that accompanies a 422.
    pub fn cause(&self) -> Option<(&'static str, &str)> {
        match self {
            PatchError::Unprocessable(m) => Some(("UnexpectedServerResponse", m.as_str())),
            _ => None,
        }
    }
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// `"kubectl-client-side-apply" using v1`, as kube-apiserver prints managers.
    pub manager: String,
    /// `.spec.ports[port=80,protocol="TCP"].targetPort`.
    pub field: String,
}

/// A server-side apply that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApplyError {
    /// 409 Conflict (reason `Conflict`); each conflict becomes a cause
    /// `{reason: "FieldManagerConflict", message: "conflict with <manager>", field}`.
    #[error("{message}")]
    Conflict {
        message: String,
        conflicts: Vec<Conflict>,
    },
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 500 with an empty reason.
    #[error("{0}")]
    Internal(String),
}

impl ApplyError {
    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflict { .. } => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::Internal(_) => 500,
        }
    }

    /// Status `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::Conflict { .. } => "Conflict",
            ApplyError::BadRequest(_) => "BadRequest",
            ApplyError::Internal(_) => "",
        }
    }

    /// Status `details.causes` as (reason, message, field).
    pub fn causes(&self) -> Vec<(&'static str, String, String)> {
        match self {
            ApplyError::Conflict { conflicts, .. } => conflicts
                .iter()
                .map(|c| {
                    (
                        "FieldManagerConflict",
                        format!("conflict with {}", c.manager),
                        c.field.clone(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}
