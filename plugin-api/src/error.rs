//! The error a plugin reports to the host.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An error raised by a plugin (or by the SDK on its behalf, e.g. a caught panic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct PluginError {
    /// The class of error.
    pub kind: ErrorKind,
    /// What went wrong, naming the field, page or value at fault.
    pub message: String,
}

impl PluginError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
        }
    }

    /// Bad or missing configuration.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// The device or service answered something that cannot be understood.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// The device or service could not be reached or answered with an error.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }

    /// The plugin does not offer this operation.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
}

/// Classes of plugin error. The host counts [`ErrorKind::Panic`] towards quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad or missing configuration.
    Config,
    /// Unreadable answer from a device or service.
    Protocol,
    /// The needed I/O failed.
    Io,
    /// Operation not offered by this plugin.
    Unsupported,
    /// The plugin panicked; the SDK caught it at the boundary.
    Panic,
    /// Anything else.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Config => "configuration error",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Io => "I/O error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Panic => "panic",
            ErrorKind::Other => "error",
        })
    }
}
