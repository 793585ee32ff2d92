//! Sending webhook events the way Stripe does: the exact JSON bytes,
//! signed in a `Stripe-Signature: t=…,v1=…` header with one `v1` per
//! endpoint secret (two while a secret is being rolled).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::clock::unix_secs;
use crate::ids;

/// The API version the synthesized fixture events are rendered in.
pub const API_VERSION: &str = "2026-08-26.dahlia";

/// How long a delivery may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The raw `v1` signature: HMAC-SHA256 of `{timestamp}.{body}` keyed with
/// the whole secret string (`whsec_…`) as bytes.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(&switchyard_signature::signed_payload(timestamp, body));
    mac.finalize().into_bytes().to_vec()
}

/// `t={timestamp},v1=…[,v1=…]`, one `v1` per secret, in order.
pub fn signature_header(secrets: &[&str], timestamp: u64, body: &[u8]) -> String {
    let signatures: Vec<Vec<u8>> = secrets
        .iter()
        .map(|secret| signature(secret, timestamp, body))
        .collect();
    let borrowed: Vec<&[u8]> = signatures.iter().map(Vec::as_slice).collect();
    switchyard_signature::format_header(timestamp, &borrowed)
}

/// Posts `body` as is to `url`, signed for each of `secrets` at `timestamp`.
pub async fn send_payload(
    url: &str,
    secrets: &[&str],
    body: Vec<u8>,
    timestamp: u64,
) -> anyhow::Result<reqwest::Response> {
    let header = signature_header(secrets, timestamp, &body);
    let client = reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .build()
        .context("building the webhook client")?;
    client
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("User-Agent", "Stripe/1.0 (switchyard-sim)")
        .header("Stripe-Signature", header)
        .body(body)
        .send()
        .await
        .with_context(|| format!("posting the event to {url}"))
}

/// Serialises `event` once and posts those bytes with [`send_payload`].
pub async fn send_event(
    url: &str,
    secrets: &[&str],
    event: &Value,
    timestamp: u64,
) -> anyhow::Result<reqwest::Response> {
    let body = serde_json::to_vec(event).context("serialising the event")?;
    send_payload(url, secrets, body, timestamp).await
}

/// A new `evt_…` id.
pub fn new_event_id() -> String {
    ids::stripe("evt")
}

/// An event envelope around `object`: a new `evt_…` id, `created` now,
/// and a top-level `account` for an event on a connected account.
pub fn event(kind: &str, object: Value, account: Option<&str>) -> Value {
    let mut event = json!({
        "id": new_event_id(),
        "object": "event",
        "api_version": API_VERSION,
        "created": unix_secs(),
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind
    });
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    event
}

/// The first event of type `kind` in a fixture file shaped
/// `{"events": [...]}`, such as `connect-events.synthesized.json`.
pub fn fixture_event(path: &Path, kind: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the event fixtures at {}", path.display()))?;
    let document: Value = serde_json::from_str(&text)
        .with_context(|| format!("parsing the event fixtures at {}", path.display()))?;
    let events = document["events"]
        .as_array()
        .with_context(|| format!("{} has no `events` array", path.display()))?;
    let found = events.iter().find(|event| event["type"] == kind);
    found.cloned().with_context(|| {
        let known: Vec<&str> = events
            .iter()
            .filter_map(|event| event["type"].as_str())
            .collect();
        format!(
            "no {kind} event in {}; it has {}",
            path.display(),
            known.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_signature::SignatureHeader;

    #[test]
    fn agrees_with_the_shared_signature_vectors() {
        // Where this checkout is at run time: a binary built by another
        // checkout sharing the target dir keeps that checkout's path.
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let path = std::path::Path::new(&dir)
            .join("../../shared/fixtures/stripe/webhook-signature-vectors.synthesized.json");
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let doc: Value = serde_json::from_str(&text).expect("valid JSON");
        let secret = doc["secret"].as_str().expect("secret");
        let payload = doc["payload"].as_str().expect("payload").as_bytes();
        let timestamp = doc["timestamp"].as_u64().expect("timestamp");
        let ours = signature_header(&[secret], timestamp, payload);
        let cases = doc["cases"].as_array().expect("cases");
        let case = |name: &str| {
            let found = cases
                .iter()
                .find(|case| case["name"] == name)
                .expect("case present");
            found["header"].as_str().expect("header").to_owned()
        };
        assert_eq!(ours, case("single_v1_valid"));
        let previous = doc["previous_secret"].as_str().expect("previous secret");
        let rolled = signature_header(&[previous, secret], timestamp, payload);
        assert_eq!(rolled, case("rotation_two_v1_first_old"));
    }

    #[test]
    fn carries_one_v1_per_secret() {
        let header = signature_header(&["whsec_old", "whsec_new"], 42, b"{}");
        let parsed = SignatureHeader::parse(&header).expect("parses");
        assert_eq!(parsed.timestamp, 42);
        assert_eq!(
            parsed.v1,
            [
                signature("whsec_old", 42, b"{}"),
                signature("whsec_new", 42, b"{}")
            ]
        );
    }

    #[test]
    fn wraps_objects_in_an_event_envelope() {
        let event = event("payout.paid", json!({"id": "po_1"}), Some("acct_1"));
        assert_eq!(event["account"], "acct_1");
        assert_eq!(event["data"]["object"]["id"], "po_1");
        assert!(
            event["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("evt_"))
        );
    }
}
