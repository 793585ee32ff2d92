//! `log`: plugin log lines, re-emitted through `tracing` with the plugin,
//! tenant and call id added by the host.

use std::fmt::Write as _;

use crate::runtime::bindings::log::{self, Level};
use crate::runtime::state::CallState;

/// Longest message or field text kept; a plugin cannot flood the log with
/// one line.
const MAX_TEXT: usize = 2048;

/// Fields kept per line.
const MAX_FIELDS: usize = 32;

impl log::Host for CallState {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let message = clip(&message);
        let fields = format_fields(&fields);
        let (plugin, tenant, call_id) = (&*self.plugin, self.tenant(), &*self.call_id);
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", plugin, tenant, call_id, fields, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", plugin, tenant, call_id, fields, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", plugin, tenant, call_id, fields, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", plugin, tenant, call_id, fields, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "plugin", plugin, tenant, call_id, fields, "{message}")
            }
        }
        Ok(())
    }
}

fn clip(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `key=value` pairs; values with spaces or quotes are quoted, so the line
/// stays parseable.
fn format_fields(fields: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in fields.iter().take(MAX_FIELDS) {
        if !out.is_empty() {
            out.push(' ');
        }
        let value = clip(value);
        let plain = !value.is_empty() && !value.contains([' ', '"', '=', '\n']);
        let _ = if plain {
            write!(out, "{}={value}", clip(key))
        } else {
            write!(out, "{}={value:?}", clip(key))
        };
    }
    clip(&out).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_when_needed() {
        let fields = [
            ("vendor".into(), "v_1".into()),
            ("note".into(), "two words".into()),
        ];
        assert_eq!(format_fields(&fields), r#"vendor=v_1 note="two words""#);
    }

    #[test]
    fn long_text_is_clipped_on_a_char_boundary() {
        let text = "é".repeat(MAX_TEXT);
        let clipped = clip(&text);
        assert!(clipped.len() <= MAX_TEXT);
        assert!(clipped.chars().all(|c| c == 'é'));
    }
}
