//! Stripe webhooks: verifying them before the host stores them, and
//! dispatching stored ones by event type.

use switchyard_plugin_sdk::signature::verify_timestamped;
use switchyard_plugin_sdk::{Delivery, PluginError, Verified, WebhookRequest, log, metrics};

use crate::event::StripeEvent;
use crate::payout_state::Status;
use crate::settings::{self, WEBHOOK_SECRETS};
use crate::{account_updated, deauthorized, payout_events};

/// The header Stripe signs webhooks in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// Event types counted under their own name; the rest count as `other`, so
/// a label never takes a value Stripe did not document.
const KNOWN_TYPES: &[&str] = &[
    "account.updated",
    "account.application.deauthorized",
    "capability.updated",
    "transfer.created",
    "transfer.updated",
    "transfer.reversed",
    "transfer.failed",
    "payout.created",
    "payout.paid",
    "payout.failed",
    "payout.canceled",
    "payout.updated",
    "balance.available",
];

/// Checks the `Stripe-Signature` over the raw body against the platform and
/// Connect signing secrets the tenant configured, within the tolerance,
/// then names the event. Nothing is written and nothing is called but the
/// host's clock and HMAC.
pub fn verify(request: &WebhookRequest) -> Result<Verified, String> {
    let header = request
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| format!("missing {SIGNATURE_HEADER} header"))?;
    let tolerance = settings::webhook_tolerance_secs().map_err(|e| e.message().to_owned())?;
    verify_timestamped(header, &request.body, &WEBHOOK_SECRETS, tolerance)?;
    let event = StripeEvent::parse(&request.body)?;
    Ok(Verified {
        event_id: event.id,
        event_type: event.kind,
    })
}

/// Processes a stored delivery by event type.
pub fn handle(delivery: &Delivery) -> Result<String, PluginError> {
    let event = StripeEvent::parse(&delivery.body).map_err(PluginError::invalid_input)?;
    let kind = event.kind.as_str();
    let label = KNOWN_TYPES
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("other");
    metrics::counter("stripe_webhooks_total", 1, &[("type", label)]);
    log::debug("stripe event", &[("event_id", &event.id), ("type", label)]);
    match kind {
        "account.updated" => account_updated::handle(&event),
        "account.application.deauthorized" => deauthorized::handle(&event),
        "transfer.created" => payout_events::handle_transfer(&event, Status::Transferred),
        // Stripe no longer sends `transfer.failed`; older API versions
        // did, and it meant the same as a reversal.
        "transfer.reversed" | "transfer.failed" => {
            payout_events::handle_transfer(&event, Status::Reversed)
        }
        "payout.paid" => payout_events::handle_payout(&event, Status::Paid),
        "payout.failed" => payout_events::handle_payout(&event, Status::Failed),
        other => Ok(format!("ignored: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{posts, setup, vendor};
    use switchyard_plugin_sdk::testing::{TestHost, hmac_sha256};

    const BODY: &str = r#"{"id":"evt_9","object":"event","type":"payout.created","created":1}"#;

    fn signed(host: &TestHost, secret: &[u8], body: &str, age_secs: u64) -> WebhookRequest {
        let t = host.now_ms() / 1000 - age_secs;
        let sig = hmac_sha256(secret, format!("{t}.{body}").as_bytes());
        let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        WebhookRequest {
            path: "/admin/integrations/stripe/webhook".into(),
            headers: vec![("stripe-signature".into(), format!("t={t},v1={hex}"))],
            body: body.as_bytes().to_vec(),
            ..WebhookRequest::default()
        }
    }

    #[test]
    fn verifies_with_the_platform_or_the_connect_secret() {
        let (host, _) = setup(Vec::new(), true);
        let verified = verify(&signed(&host, b"whsec_p", BODY, 0)).unwrap();
        assert_eq!(
            (verified.event_id.as_str(), verified.event_type.as_str()),
            ("evt_9", "payout.created")
        );
        assert!(verify(&signed(&host, b"whsec_c", BODY, 0)).is_err());
        host.secret("stripe_connect_webhook_secret", b"whsec_c");
        assert!(verify(&signed(&host, b"whsec_c", BODY, 0)).is_ok());
    }

    #[test]
    fn rejects_missing_tampered_and_stale_signatures() {
        let (host, _) = setup(Vec::new(), true);
        let mut request = signed(&host, b"whsec_p", BODY, 0);
        request.body = BODY.replace("evt_9", "evt_8").into_bytes();
        assert!(verify(&request).is_err());
        request.headers.clear();
        assert_eq!(
            verify(&request),
            Err("missing Stripe-Signature header".to_owned())
        );
        assert!(verify(&signed(&host, b"whsec_p", BODY, 301)).is_err());
        host.config("webhook_tolerance_seconds", "600");
        assert!(verify(&signed(&host, b"whsec_p", BODY, 301)).is_ok());
    }

    #[test]
    fn rejects_a_signed_body_that_is_not_a_stripe_event() {
        let (host, _) = setup(Vec::new(), true);
        let outcome = verify(&signed(&host, b"whsec_p", r#"{"hello":"world"}"#, 0));
        assert!(outcome.is_err_and(|e| e.starts_with("body is not a Stripe event")));
    }

    fn delivery(body: &str) -> Delivery {
        Delivery {
            body: body.as_bytes().to_vec(),
            attempt: 1,
            ..Delivery::default()
        }
    }

    #[test]
    fn ignores_types_it_does_not_handle_yet_and_counts_them() {
        let (host, _) = setup(Vec::new(), true);
        assert_eq!(
            handle(&delivery(BODY)),
            Ok("ignored: payout.created".to_owned())
        );
        let odd = r#"{"id":"evt_1","type":"radar.early_fraud_warning.created"}"#;
        assert!(handle(&delivery(odd)).is_ok());
        assert_eq!(
            host.counter("stripe_webhooks_total", &[("type", "payout.created")]),
            1
        );
        assert_eq!(
            host.counter("stripe_webhooks_total", &[("type", "other")]),
            1
        );
        assert!(matches!(
            handle(&delivery("[]")),
            Err(PluginError::InvalidInput(_))
        ));
    }

    #[test]
    fn handles_the_shared_account_updated_fixture_end_to_end() {
        // Where this checkout is at run time: a binary built by another
        // checkout sharing the target dir keeps that checkout's path.
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let path = std::path::Path::new(&dir)
            .join("../../../shared/fixtures/stripe/connect-events.synthesized.json");
        let text = std::fs::read_to_string(path).expect("fixtures are in ../shared");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let event = doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "account.updated");
        let body = event.unwrap().to_string();

        let account = "acct_1PgafTB7WZ01zgkW";
        let (host, vendors) = setup(vec![vendor("ven_1", Some(account), "pending")], true);
        let verified = verify(&signed(&host, b"whsec_p", &body, 0)).unwrap();
        assert_eq!(verified.event_type, "account.updated");
        let summary = handle(&delivery(&body)).unwrap();
        assert_eq!(summary, format!("approved vendor ven_1 ({account})"));
        assert_eq!(vendors.borrow()[0]["onboarding_status"], "complete");
        assert_eq!(posts(&host).len(), 1);
    }
}
