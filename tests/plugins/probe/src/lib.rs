//! `probe`: a plugin for host tests. Its actions poke at the host's
//! capabilities (outbound HTTP, secrets, config, kv, events) and report
//! exactly what the host answered, so tests can assert on typed errors.
//! Its webhooks need no signature: the `x-probe-id` header is the event id.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "integration",
});

use exports::switchyard::plugin::plugin::{
    ActionSpec, CallContext, ConfigKey, Delivery, Event, Guest, JobReport,
    PluginManifest as Manifest, Verified, WebhookRequest,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use switchyard::plugin::types::PluginError;
use switchyard::plugin::{config, events, http, kv, log, secrets};

/// The version probe reports: a build with the `v2` feature stands in for
/// a newer release of the same plugin in hot-swap tests.
const VERSION: &str = if cfg!(feature = "v2") {
    "0.2.0-test"
} else {
    env!("CARGO_PKG_VERSION")
};

struct Probe;

fn action(name: &str) -> ActionSpec {
    ActionSpec {
        name: name.into(),
        description: format!("test action {name}"),
    }
}

impl Guest for Probe {
    fn manifest() -> Manifest {
        Manifest {
            name: "probe".into(),
            version: VERSION.into(),
            wit_version: "0.1.0".into(),
            description: "Exercises host capabilities for tests".into(),
            jobs: Vec::new(),
            subscriptions: vec!["probe.ping".into()],
            actions: [
                "fetch", "config", "hmac", "kv-get", "kv-set", "emit", "counter",
            ]
            .map(action)
            .to_vec(),
            config: vec![ConfigKey {
                name: "api_token".into(),
                secret: true,
                required: false,
                description: "a secret to try to leak".into(),
            }],
            hosts: Vec::new(),
            routes: Vec::new(),
        }
    }

    fn verify_webhook(_ctx: CallContext, req: WebhookRequest) -> Result<Verified, String> {
        let id = header(&req.headers, "x-probe-id").ok_or("missing x-probe-id")?;
        Ok(Verified {
            event_id: id,
            event_type: "probe.webhook".into(),
        })
    }

    fn handle_webhook(_ctx: CallContext, delivery: Delivery) -> Result<String, PluginError> {
        // A test makes an event fail by setting `fail/<event id>` first.
        let fail = kv::get(&format!("fail/{}", delivery.event_id))
            .ok()
            .flatten();
        match fail.as_deref() {
            Some(b"retryable") => {
                return Err(PluginError::Retryable(format!(
                    "told to fail (attempt {})",
                    delivery.attempt
                )));
            }
            Some(b"permanent") => {
                return Err(PluginError::Permanent("told to fail for good".into()));
            }
            _ => {}
        }
        let key = format!("handled/{}", delivery.event_id);
        let count = kv::increment(&key, 1).map_err(|e| PluginError::Retryable(format!("{e:?}")))?;
        Ok(format!(
            "probe {VERSION} handled {} ({count})",
            delivery.event_id
        ))
    }

    fn handle_event(_ctx: CallContext, event: Event) -> Result<String, PluginError> {
        let key = format!("event/{}", event.id);
        kv::set(&key, event.data.as_bytes(), None)
            .map_err(|e| PluginError::Retryable(format!("{e:?}")))?;
        Ok(format!("stored {}", event.name))
    }

    fn run_job(_ctx: CallContext, name: String) -> Result<JobReport, PluginError> {
        Err(PluginError::Unsupported(name))
    }

    fn call_action(ctx: CallContext, name: String, input: String) -> Result<String, PluginError> {
        let input: Value =
            serde_json::from_str(&input).map_err(|e| PluginError::InvalidInput(e.to_string()))?;
        let output = match name.as_str() {
            "fetch" => fetch(&input),
            "config" => json!(config::all()),
            "hmac" => hmac(&input),
            "kv-get" => kv_get(&input),
            "kv-set" => kv_set(&input),
            "emit" => emit(&input),
            "counter" => counter(),
            _ => return Err(PluginError::Unsupported(name)),
        };
        log::log(
            log::Level::Info,
            "probe action",
            &[("action".into(), name), ("tenant".into(), ctx.tenant)],
        );
        Ok(output.to_string())
    }
}

/// Counts calls in guest memory: with a fresh instance per call it always
/// answers 1, which is what the host test checks.
fn counter() -> Value {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    json!({ "calls": CALLS.fetch_add(1, Ordering::SeqCst) + 1 })
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn text(input: &Value, key: &str) -> String {
    input[key].as_str().unwrap_or_default().to_owned()
}

/// `{"url": …, "bearer": secret?}` → `{"status": …, "body": …}` or
/// `{"error": kind, "message": …}`.
fn fetch(input: &Value) -> Value {
    let credential = input["bearer"]
        .as_str()
        .map(|name| http::Credential::Bearer(name.into()));
    let request = http::Request {
        method: http::Method::Get,
        url: text(input, "url"),
        headers: Vec::new(),
        body: None,
        timeout_ms: Some(5_000),
        credential,
    };
    match http::fetch(&request) {
        Ok(response) => json!({
            "status": response.status,
            "body": String::from_utf8_lossy(&response.body),
        }),
        Err(err) => {
            let (kind, message) = match err {
                http::Error::Denied(m) => ("denied", m),
                http::Error::Timeout => ("timeout", String::new()),
                http::Error::Connect(m) => ("connect", m),
                http::Error::TooLarge(n) => ("too-large", n.to_string()),
                http::Error::Invalid(m) => ("invalid", m),
            };
            json!({ "error": kind, "message": message })
        }
    }
}

fn hmac(input: &Value) -> Value {
    match secrets::hmac_sha256(&text(input, "secret"), text(input, "message").as_bytes()) {
        Ok(mac) => json!({ "mac": mac.iter().map(|b| format!("{b:02x}")).collect::<String>() }),
        Err(err) => json!({ "error": format!("{err:?}") }),
    }
}

fn kv_get(input: &Value) -> Value {
    match kv::get(&text(input, "key")) {
        Ok(value) => json!({ "value": value.map(|v| String::from_utf8_lossy(&v).into_owned()) }),
        Err(err) => json!({ "error": format!("{err:?}") }),
    }
}

fn kv_set(input: &Value) -> Value {
    match kv::set(&text(input, "key"), text(input, "value").as_bytes(), None) {
        Ok(()) => json!({ "ok": true }),
        Err(err) => json!({ "error": format!("{err:?}") }),
    }
}

fn emit(input: &Value) -> Value {
    match events::emit(&text(input, "name"), &input["data"].to_string()) {
        Ok(()) => json!({ "ok": true }),
        Err(err) => json!({ "error": format!("{err:?}") }),
    }
}

export!(Probe);
