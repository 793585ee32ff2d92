//! `netprobe`: a test plugin that GETs whatever URL it is given and
//! reports the host's answer by the WIT's error kind. The host's
//! outbound-guard tests use it to show that loopback, link-local (the
//! cloud metadata address), private addresses and names that resolve to
//! them are refused even when a tenant's allowlist names them.

use serde_json::{Value, json};
use switchyard_plugin_sdk::http::{HttpError, Request};
use switchyard_plugin_sdk::{
    Context, Delivery, Manifest, Plugin, PluginError, Verified, WebhookRequest, export_plugin,
};

/// Below the host's default call deadline, so an upstream that never
/// answers shows up as `timeout` rather than failing the whole call.
const TIMEOUT_MS: u32 = 5_000;

struct Netprobe;

impl Plugin for Netprobe {
    fn manifest() -> Manifest {
        Manifest::new(
            "netprobe",
            env!("CARGO_PKG_VERSION"),
            "GETs any URL it is given",
        )
        .action(
            "run",
            "GETs `url` and reports the status or the host's error",
        )
    }

    fn verify_webhook(_ctx: &Context, request: WebhookRequest) -> Result<Verified, String> {
        let event_id = request.header("x-probe-id").ok_or("missing x-probe-id")?;
        let event_type = "netprobe.webhook".to_owned();
        Ok(Verified {
            event_id: event_id.to_owned(),
            event_type,
        })
    }

    fn handle_webhook(_ctx: &Context, delivery: Delivery) -> Result<String, PluginError> {
        probe(&delivery.body)
    }

    fn call_action(_ctx: &Context, _name: &str, input: &str) -> Result<String, PluginError> {
        probe(input.as_bytes())
    }
}

/// `{"url": …}` → `{"status": …}` or `{"error": kind, "message": …}`, with
/// the kind spelled as the variant of the WIT's `http.error`.
fn probe(input: &[u8]) -> Result<String, PluginError> {
    let input: Value =
        serde_json::from_slice(input).map_err(|e| PluginError::invalid_input(e.to_string()))?;
    let url = input["url"]
        .as_str()
        .ok_or_else(|| PluginError::invalid_input("no url"))?;
    let answer = match Request::get(url).timeout_ms(TIMEOUT_MS).send() {
        Ok(response) => json!({ "status": response.status }),
        Err(error) => {
            let (kind, message) = match error {
                HttpError::Denied(m) => ("denied", m),
                HttpError::Timeout => ("timeout", String::new()),
                HttpError::Connect(m) => ("connect", m),
                HttpError::TooLarge(n) => ("too-large", n.to_string()),
                HttpError::Invalid(m) => ("invalid", m),
            };
            json!({ "error": kind, "message": message })
        }
    };
    Ok(answer.to_string())
}

export_plugin!(Netprobe);
