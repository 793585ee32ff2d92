//! [`PluginError`]: how a call failed, in the four kinds the host acts on.

use core::fmt;

/// How a call into the plugin failed. The kind tells the host what to do
/// next: retry the delivery later, give up on it, or report bad input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// Worth trying again later: an upstream was down, rate limited us or
    /// answered 5xx, or a host capability was briefly unavailable.
    Retryable(String),
    /// Trying again will not help: a refused request, bad stored data, a
    /// missing setting, a bug.
    Permanent(String),
    /// The input of an action or event is not what the plugin accepts.
    InvalidInput(String),
    /// The action, job or event is not one this plugin offers.
    Unsupported(String),
}

impl PluginError {
    /// A failure worth retrying later.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable(message.into())
    }

    /// A failure that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent(message.into())
    }

    /// Input the plugin does not accept.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// Something this plugin does not offer.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported(message.into())
    }

    /// The human-readable message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable(m) | Self::Permanent(m) | Self::InvalidInput(m) => m,
            Self::Unsupported(m) => m,
        }
    }

    /// True for [`PluginError::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }

    /// Prefixes the message with `context` (`"context: message"`), keeping
    /// the kind, so an error says where it happened as it travels up.
    pub fn context(self, context: impl fmt::Display) -> Self {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            Self::Retryable(m) => Self::Retryable(wrap(m)),
            Self::Permanent(m) => Self::Permanent(wrap(m)),
            Self::InvalidInput(m) => Self::InvalidInput(wrap(m)),
            Self::Unsupported(m) => Self::Unsupported(wrap(m)),
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Retryable(_) => "retryable",
            Self::Permanent(_) => "permanent",
            Self::InvalidInput(_) => "invalid input",
            Self::Unsupported(_) => "unsupported",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl std::error::Error for PluginError {}

/// JSON that does not parse is input the plugin cannot accept; decoding an
/// upstream's answer goes through [`crate::http::Response::json`] instead,
/// which reports a permanent upstream error.
impl From<serde_json::Error> for PluginError {
    fn from(error: serde_json::Error) -> Self {
        Self::InvalidInput(format!("invalid JSON: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind() {
        let error = PluginError::retryable("503").context("GET /admin/vendors");
        assert_eq!(
            error,
            PluginError::Retryable("GET /admin/vendors: 503".into())
        );
        assert!(error.is_retryable());
    }

    #[test]
    fn display_names_the_kind() {
        assert_eq!(PluginError::permanent("no").to_string(), "permanent: no");
    }
}
