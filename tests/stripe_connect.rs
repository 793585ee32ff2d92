//! End to end: the real host binary runs the real `stripe-connect.wasm`
//! against the Medusa and Stripe simulators, fed with the real-shaped
//! Stripe events from the shared fixtures.

use serde_json::Value;
use switchyard_sim::medusa::{DEMO_STRIPE_ACCOUNT, Medusa};
use switchyard_sim::stripe::Stripe;
use switchyard_tests::marketplace::{Marketplace, Settings};
use switchyard_tests::{Host, eventually, fixtures, now_secs};

const SECRET: &str = "whsec_e2e_current";
const OLD_SECRET: &str = "whsec_e2e_previous";
const ADMIN: &str = "admin-token-e2e";
const WEBHOOK: &str = "/webhooks/stripe-connect/acme";

async fn setup() -> Marketplace {
    setup_with(&[]).await
}

async fn setup_with(host_args: &[&str]) -> Marketplace {
    Marketplace::start(Settings {
        admin_token: ADMIN,
        webhook_secret: SECRET,
        binding: "",
        config: "",
        host_args,
    })
    .await
}

/// The `account.updated` event of the shared fixtures, as sent bytes.
fn account_updated() -> Vec<u8> {
    let path = fixtures().join("stripe/connect-events.synthesized.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).expect("fixtures")).expect("json");
    let events = doc["events"].as_array().expect("events");
    let event = events
        .iter()
        .find(|e| e["type"] == "account.updated")
        .expect("account.updated");
    assert_eq!(event["account"], DEMO_STRIPE_ACCOUNT);
    serde_json::to_vec(event).expect("serialises")
}

fn with_id(body: &[u8], id: &str) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(body).expect("json");
    event["id"] = Value::String(id.into());
    serde_json::to_vec(&event).expect("serialises")
}

async fn post_signed(host: &Host, body: &[u8], header: &str) -> (u16, Value) {
    let headers = [
        ("stripe-signature", header),
        ("content-type", "application/json"),
    ];
    let response = host.post(WEBHOOK, &headers, body.to_vec()).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn approvals(medusa: &Medusa) -> usize {
    let path = "/admin/vendors/vendor_01DEMO";
    let approving = |r: &switchyard_sim::RecordedRequest| {
        r.is("POST", path) && r.field("onboarding_status") == Some(&Value::from("complete"))
    };
    medusa.requests().iter().filter(|r| approving(r)).count()
}

fn onboarding_status(medusa: &Medusa) -> Value {
    medusa.vendor("vendor_01DEMO").expect("demo vendor")["onboarding_status"].clone()
}

#[tokio::test]
async fn approves_the_vendor_once_for_a_repeated_account_updated() {
    let Marketplace { host, medusa, .. } = setup().await;
    let body = account_updated();
    assert_eq!(onboarding_status(&medusa), "pending");

    let header = Stripe::sign_event(SECRET, now_secs(), &body);
    let (status, answer) = post_signed(&host, &body, &header).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted");
    host.wait_for_deliveries(ADMIN, "done", 1).await;
    assert_eq!(onboarding_status(&medusa), "complete");
    assert_eq!(approvals(&medusa), 1);

    // The same event again is acknowledged and not processed again.
    let (status, answer) = post_signed(&host, &body, &header).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "duplicate");

    // A new event with the same account state finds the vendor approved.
    let again = with_id(&body, "evt_e2e_second_update");
    let header = Stripe::sign_event(SECRET, now_secs(), &again);
    assert_eq!(post_signed(&host, &again, &header).await.0, 200);
    host.wait_for_deliveries(ADMIN, "done", 2).await;
    assert_eq!(
        approvals(&medusa),
        1,
        "the vendor was approved more than once"
    );
}

#[tokio::test]
async fn rejects_a_body_changed_by_one_byte_and_changes_nothing() {
    let Marketplace { host, medusa, .. } = setup().await;
    let body = account_updated();
    let header = Stripe::sign_event(SECRET, now_secs(), &body);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|&b| b == b'{').expect("json") + 1;
    tampered.insert(at, b' ');

    let (status, answer) = post_signed(&host, &tampered, &header).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "signature_rejected");

    let stored = host.admin_get("/admin/api/deliveries", ADMIN).await;
    assert_eq!(stored["deliveries"], Value::Array(Vec::new()));
    assert_eq!(onboarding_status(&medusa), "pending");
    assert!(
        medusa.requests().is_empty(),
        "medusa was called: {:?}",
        medusa.requests()
    );
}

#[tokio::test]
async fn rejects_timestamps_301_seconds_in_the_past_or_future() {
    // The host's clock stands still, so the skews are exact.
    let now = now_secs();
    let Marketplace { host, medusa, .. } = setup_with(&["--fixed-clock", &now.to_string()]).await;
    let body = account_updated();
    for skew in [-301_i64, 301] {
        let t = now.saturating_add_signed(skew);
        let header = Stripe::sign_event(SECRET, t, &body);
        let (status, answer) = post_signed(&host, &body, &header).await;
        assert_eq!(status, 400, "skew {skew}: {answer}");
    }
    // Well inside the window is accepted, so the refusals above were the
    // clock's doing.
    let header = Stripe::sign_event(SECRET, now - 200, &body);
    assert_eq!(post_signed(&host, &body, &header).await.0, 200);
    host.wait_for_deliveries(ADMIN, "done", 1).await;
    eventually("vendor approval", || {
        onboarding_status(&medusa) == "complete"
    })
    .await;
}

#[tokio::test]
async fn accepts_two_v1_signatures_when_only_the_second_matches() {
    let Marketplace { host, .. } = setup().await;
    let body = account_updated();
    let header = Stripe::signature_header(&[OLD_SECRET, SECRET], now_secs(), &body);
    assert_eq!(header.matches("v1=").count(), 2);
    let (status, answer) = post_signed(&host, &body, &header).await;
    assert_eq!(status, 200, "{answer}");

    let only_old = Stripe::sign_event(OLD_SECRET, now_secs(), &body);
    assert_eq!(post_signed(&host, &body, &only_old).await.0, 400);
}

#[tokio::test]
async fn rejects_malformed_signature_headers() {
    let Marketplace { host, .. } = setup().await;
    let body = account_updated();
    let valid = Stripe::sign_event(SECRET, now_secs(), &body);
    let v1 = valid.split_once(",v1=").expect("v1").1.to_owned();
    let t = now_secs();
    for header in [
        String::new(),
        format!("v1={v1}"),
        format!("t={t}"),
        format!("t={t},v0={v1}"),
        format!("t=soon,v1={v1}"),
        format!("t={t},v1=not-hex"),
    ] {
        let (status, answer) = post_signed(&host, &body, &header).await;
        assert_eq!(status, 400, "header {header:?} got {answer}");
        assert_eq!(answer["error"], "signature_rejected");
    }
}
