//! Structured logging through the host, which adds plugin, tenant and call
//! ids. Never log secrets or whole bodies: log ids and decisions.

use crate::host;

/// Severity, as in `tracing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Decisions worth seeing while debugging.
    Debug,
    /// Lifecycle and outcomes.
    Info,
    /// A recovered failure or something unexpected.
    Warn,
    /// Something an operator must act on.
    Error,
}

/// Emits one line at `level` with key-value `fields`.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    host::log(level, message, fields);
}

/// Emits a trace line.
pub fn trace(message: &str, fields: &[(&str, &str)]) {
    log(Level::Trace, message, fields);
}

/// Emits a debug line.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(Level::Debug, message, fields);
}

/// Emits an info line.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields);
}

/// Emits a warning.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields);
}

/// Emits an error line.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(Level::Error, message, fields);
}
