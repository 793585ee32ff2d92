//! The tenant's plain settings for this plugin. Secrets are not readable
//! here: name them in [`crate::http::Credential`] or [`crate::secrets`].

use core::str::FromStr;

use crate::{PluginError, host};

/// The setting `key`, or none when unset. A value that is empty or only
/// whitespace counts as unset, so a blank line in a config file does not
/// override a default.
pub fn get(key: &str) -> Option<String> {
    host::config_get(key).filter(|v| !v.trim().is_empty())
}

/// The setting `key`, or `default` when unset.
pub fn get_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_owned())
}

/// The setting `key`, or a permanent error naming it: a plugin cannot work
/// around a missing required setting, an operator must add it.
pub fn require(key: &str) -> Result<String, PluginError> {
    get(key).ok_or_else(|| PluginError::permanent(format!("setting {key} is not configured")))
}

/// The setting `key` parsed as `T` (numbers arrive as JSON text, which
/// `FromStr` reads for integers and floats), or `default` when unset. A
/// value that does not parse is a permanent error naming the key.
pub fn parse_or<T: FromStr>(key: &str, default: T) -> Result<T, PluginError> {
    let Some(text) = get(key) else {
        return Ok(default);
    };
    text.trim()
        .parse()
        .map_err(|_| PluginError::permanent(format!("setting {key} has an invalid value")))
}

/// Every setting, as the host holds them.
pub fn all() -> Vec<(String, String)> {
    host::config_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestHost;

    #[test]
    fn blank_values_count_as_unset() {
        let host = TestHost::install();
        host.config("url", "  ");
        assert_eq!(get("url"), None);
        assert_eq!(get_or("url", "https://d"), "https://d");
        assert!(matches!(require("url"), Err(PluginError::Permanent(m)) if m.contains("url")));
    }

    #[test]
    fn parses_numbers_or_names_the_bad_key() {
        let host = TestHost::install();
        host.config("n", "42").config("bad", "4x");
        assert_eq!(parse_or("n", 300u64), Ok(42));
        assert_eq!(parse_or("missing", 300u64), Ok(300));
        assert!(parse_or("bad", 300u64).is_err_and(|e| e.message().contains("bad")));
    }
}
