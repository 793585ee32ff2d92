//! End to end: the real host binary runs the real `stripe-connect.wasm`
//! against the Medusa and Stripe simulators, through its admin actions,
//! route aliases, webhook events and the `process-vendor-payouts` job. Each
//! test checks what the Stripe simulator received (path, auth, form
//! parameters, idempotency key, `Stripe-Account`) and what Medusa holds
//! afterwards.

use serde_json::{Value, json};
use switchyard_sim::RecordedRequest;
use switchyard_sim::medusa::{DEMO_STRIPE_ACCOUNT, Medusa};
use switchyard_sim::stripe::{Stripe, webhook};
use switchyard_tests::marketplace::{Marketplace, Settings};
use switchyard_tests::{Host, fixtures, now_secs};

const SECRET: &str = "whsec_e2e_actions";
const ADMIN: &str = "admin-token-actions";
const CLIENT_ID: &str = "ca_e2e_platform";
const DEMO_VENDOR: &str = "vendor_01DEMO";
const NEW_VENDOR: &str = "vendor_01NOSTRIPE";
const DEMO_PAYOUT: &str = "payout_01DEMO";
const JOB: &str = "/admin/api/jobs/stripe-connect/acme/process-vendor-payouts";

/// The demo marketplace and a Stripe whose demo account is onboarded and
/// whose platform holds $10,000; the tenant claims the route aliases.
async fn setup() -> Marketplace {
    let config = format!(
        r#"stripe_client_id = "{CLIENT_ID}"
onboarding_refresh_url = "https://market.example/stripe/refresh"
onboarding_return_url = "https://market.example/stripe/done""#
    );
    let marketplace = Marketplace::start(Settings {
        admin_token: ADMIN,
        webhook_secret: SECRET,
        binding: "route_aliases = true",
        config: &config,
        host_args: &[],
    })
    .await;
    marketplace.stripe.seed_demo();
    marketplace
}

/// Runs an action of the plugin for tenant `acme`; the `result` on success.
async fn action(host: &Host, name: &str, input: Value) -> (u16, Value) {
    let (status, body) = host
        .action(ADMIN, &format!("stripe-connect/acme/{name}"), input)
        .await;
    let result = if status == 200 {
        body["result"].clone()
    } else {
        body
    };
    (status, result)
}

/// Runs the payout job through the admin API.
async fn run_job(host: &Host) -> Value {
    let (status, report) = host.admin_post(JOB, ADMIN, json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// The POSTs the Stripe simulator received on `path`.
fn posts(stripe: &Stripe, path: &str) -> Vec<RecordedRequest> {
    stripe
        .requests()
        .into_iter()
        .filter(|r| r.is("POST", path))
        .collect()
}

/// `Basic base64("sk_…:")`, as the host attaches the platform key.
fn basic_auth(key: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    format!("Basic {encoded}")
}

fn form(request: &RecordedRequest) -> &Value {
    request.form.as_ref().expect("a form-encoded body")
}

fn vendor(medusa: &Medusa, id: &str) -> Value {
    medusa.vendor(id).expect("vendor exists")
}

fn payout(medusa: &Medusa, id: &str) -> Value {
    medusa.payout(id).expect("payout exists")
}

/// Marks the demo vendor onboarded in Medusa, as `account.updated` would.
fn onboard_demo_vendor(medusa: &Medusa) {
    let mut record = vendor(medusa, DEMO_VENDOR);
    record["onboarding_status"] = json!("complete");
    medusa.insert_vendor(record).expect("vendor stored");
}

#[tokio::test]
async fn oauth_links_a_standard_account_once_per_state() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    let (status, answer) = action(
        &host,
        "oauth-authorize-url",
        json!({"vendor_id": NEW_VENDOR, "redirect_uri": "https://market.example/oauth"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let state = answer["state"].as_str().expect("state").to_owned();
    assert!(state.len() == 64 && state.bytes().all(|b| b.is_ascii_hexdigit()));
    let expected = format!(
        "{}/oauth/authorize?response_type=code&client_id={CLIENT_ID}&scope=read_write\
         &state={state}&redirect_uri=https%3A%2F%2Fmarket.example%2Foauth",
        stripe.base_url()
    );
    assert_eq!(answer["url"], expected);

    let code = stripe.issue_oauth_code(None);
    let input = json!({"state": state, "code": code, "scope": "read_write"});
    let (status, answer) = action(&host, "oauth-complete", input.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let account = answer["account_id"].as_str().expect("account").to_owned();
    assert!(stripe.is_connected(&account));
    let linked = vendor(&medusa, NEW_VENDOR);
    assert_eq!(linked["stripe_account_id"], account.as_str());
    assert_eq!(linked["onboarding_status"], "complete");

    let exchange = posts(&stripe, "/oauth/token");
    assert_eq!(exchange.len(), 1);
    assert_eq!(
        exchange[0].header("authorization"),
        Some(basic_auth(stripe.secret_key()).as_str())
    );
    assert_eq!(form(&exchange[0])["grant_type"], "authorization_code");
    assert_eq!(form(&exchange[0])["code"], code.as_str());

    // The same redirect again: the state is spent, Stripe is not asked.
    let (status, answer) = action(&host, "oauth-complete", input).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "invalid_input");
    assert_eq!(posts(&stripe, "/oauth/token").len(), 1);
}

#[tokio::test]
async fn creates_an_express_account_once_and_an_onboarding_link() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    let input = json!({"vendor_id": NEW_VENDOR, "country": "GB"});
    let (status, answer) = action(&host, "create-express-account", input.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["created"], true);
    let account = answer["account_id"].as_str().expect("account").to_owned();

    let created = posts(&stripe, "/v1/accounts");
    assert_eq!(created.len(), 1);
    let sent = &created[0];
    assert_eq!(
        sent.header("authorization"),
        Some(basic_auth(stripe.secret_key()).as_str())
    );
    assert_eq!(
        sent.header("idempotency-key"),
        Some("express-account-vendor_01NOSTRIPE")
    );
    let params = form(sent);
    assert_eq!(params["type"], "express");
    assert_eq!(params["country"], "GB");
    assert_eq!(params["email"], "hello@harbour.example");
    assert_eq!(params["capabilities"]["transfers"]["requested"], "true");
    assert_eq!(params["metadata"]["vendor_id"], NEW_VENDOR);
    assert_eq!(
        params["settings"]["payouts"]["schedule"]["interval"],
        "manual"
    );
    let stored = stripe.account(&account).expect("account in stripe");
    assert_eq!(stored["metadata"]["vendor_id"], NEW_VENDOR);
    assert_eq!(
        vendor(&medusa, NEW_VENDOR)["stripe_account_id"],
        account.as_str()
    );

    let (_, again) = action(&host, "create-express-account", input).await;
    assert_eq!(again["created"], false);
    assert_eq!(
        posts(&stripe, "/v1/accounts").len(),
        1,
        "a second account was created"
    );

    let (status, link) = action(&host, "onboarding-link", json!({"vendor_id": NEW_VENDOR})).await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/setup/s/{account}/", stripe.base_url())),
        "{url}"
    );
    let links = posts(&stripe, "/v1/account_links");
    let params = form(&links[0]);
    assert_eq!(params["account"], account.as_str());
    assert_eq!(params["type"], "account_onboarding");
    assert_eq!(params["return_url"], "https://market.example/stripe/done");
    assert_eq!(
        params["refresh_url"],
        "https://market.example/stripe/refresh"
    );
}

#[tokio::test]
async fn the_connect_alias_needs_the_admin_token_and_returns_the_link() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    let path = "/admin/integrations/stripe/connect";
    let body = json!({"vendor_id": NEW_VENDOR}).to_string().into_bytes();
    let headers = [("content-type", "application/json")];
    let refused = host.post(path, &headers, body.clone()).await;
    assert_eq!(refused.status(), 401);
    assert!(posts(&stripe, "/v1/accounts").is_empty());

    let bearer = format!("Bearer {ADMIN}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    let response = host.post(path, &headers, body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("json");
    let result = &answer["result"];
    assert_eq!(result["created"], true);
    let account = result["account_id"].as_str().expect("account");
    assert!(result["url"].as_str().is_some_and(|u| u.contains(account)));
    assert_eq!(vendor(&medusa, NEW_VENDOR)["stripe_account_id"], account);
    assert_eq!(posts(&stripe, "/v1/account_links").len(), 1);
}

#[tokio::test]
async fn transfers_gross_minus_the_fee_or_all_of_it_without_one() {
    let Marketplace {
        host,
        stripe,
        medusa: _medusa,
    } = setup().await;
    let input = json!({"vendor_id": DEMO_VENDOR, "amount_decimal": "109.89", "currency": "USD",
        "transfer_group": "order_01DEMO"});
    let (status, answer) = action(&host, "transfer", input).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["gross"].clone(), answer["fee"].clone()),
        (json!(10989), json!(1099))
    );
    assert_eq!(answer["amount_display"], "98.90");

    let input = json!({"vendor_id": DEMO_VENDOR, "amount": 2500, "currency": "usd", "fee": 0,
        "source_transaction": "ch_e2e", "idempotency_key": "manual-2500"});
    let (status, answer) = action(&host, "transfer", input).await;
    assert_eq!(status, 200, "{answer}");

    let sent = posts(&stripe, "/v1/transfers");
    assert_eq!(sent.len(), 2);
    let with_fee = form(&sent[0]);
    assert_eq!(with_fee["amount"], "9890");
    assert_eq!(with_fee["currency"], "usd");
    assert_eq!(with_fee["destination"], DEMO_STRIPE_ACCOUNT);
    assert_eq!(with_fee["transfer_group"], "order_01DEMO");
    assert_eq!(with_fee["metadata"]["platform_fee"], "1099");
    assert_eq!(
        sent[0].header("idempotency-key"),
        Some("transfer-order_01DEMO")
    );
    assert_eq!(sent[0].header("stripe-account"), None);
    let without = form(&sent[1]);
    assert_eq!(without["amount"], "2500");
    assert_eq!(without["source_transaction"], "ch_e2e");
    assert_eq!(sent[1].header("idempotency-key"), Some("manual-2500"));
    assert_eq!(
        stripe.available(Some(DEMO_STRIPE_ACCOUNT), "usd"),
        9890 + 2500
    );
}

#[tokio::test]
async fn pays_out_from_the_connected_account_and_reads_balances() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    stripe.set_account_balance(DEMO_STRIPE_ACCOUNT, "usd", 20_000);
    let input = json!({"vendor_id": DEMO_VENDOR, "amount": 9890, "currency": "usd",
        "payout_id": DEMO_PAYOUT});
    let (status, answer) = action(&host, "payout", input).await;
    assert_eq!(status, 200, "{answer}");
    let po = answer["payout_id"].as_str().expect("payout id").to_owned();
    let sent = posts(&stripe, "/v1/payouts");
    assert_eq!(sent[0].header("stripe-account"), Some(DEMO_STRIPE_ACCOUNT));
    assert_eq!(
        sent[0].header("idempotency-key"),
        Some("bank-payout-payout_01DEMO")
    );
    assert_eq!(form(&sent[0])["amount"], "9890");
    assert_eq!(form(&sent[0])["metadata"]["payout_id"], DEMO_PAYOUT);

    let (_, platform) = action(&host, "balance", json!({})).await;
    assert_eq!(platform["account_id"], Value::Null);
    let usd = json!({"amount": 1_000_000, "currency": "usd", "amount_display": "10000.00"});
    assert!(
        platform["available"]
            .as_array()
            .expect("list")
            .contains(&usd),
        "{platform}"
    );
    let (_, account) = action(&host, "balance", json!({"vendor_id": DEMO_VENDOR})).await;
    assert_eq!(account["available"][0]["amount"], 20_000 - 9890);
    let balance_reads: Vec<RecordedRequest> = stripe
        .requests()
        .into_iter()
        .filter(|r| r.is("GET", "/v1/balance"))
        .collect();
    assert_eq!(balance_reads[0].header("stripe-account"), None);
    assert_eq!(
        balance_reads[1].header("stripe-account"),
        Some(DEMO_STRIPE_ACCOUNT)
    );

    // The bank confirms the payout; the event finds the marketplace payout.
    let paid = stripe.set_payout_status(&po, "paid", None).expect("payout");
    let event = webhook::event("payout.paid", paid, Some(DEMO_STRIPE_ACCOUNT));
    send(&host, &event, "/admin/integrations/stripe/webhook").await;
    host.wait_for_deliveries(ADMIN, "done", 1).await;
    let settled = payout(&medusa, DEMO_PAYOUT);
    assert_eq!(
        (
            settled["status"].clone(),
            settled["stripe_payout_id"].clone()
        ),
        (json!("paid"), json!(po))
    );
}

#[tokio::test]
async fn deauthorize_disconnects_the_account_and_unlinks_the_vendor() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    let (status, answer) = action(&host, "deauthorize", json!({"vendor_id": DEMO_VENDOR})).await;
    assert_eq!(status, 200, "{answer}");
    let sent = posts(&stripe, "/oauth/deauthorize");
    assert_eq!(form(&sent[0])["client_id"], CLIENT_ID);
    assert_eq!(form(&sent[0])["stripe_user_id"], DEMO_STRIPE_ACCOUNT);
    assert!(!stripe.is_connected(DEMO_STRIPE_ACCOUNT));
    let unlinked = vendor(&medusa, DEMO_VENDOR);
    assert_eq!(unlinked["stripe_account_id"], Value::Null);
    assert_eq!(unlinked["onboarding_status"], "pending");
}

/// Signs `event` and posts it to `path`; the host must accept it.
async fn send(host: &Host, event: &Value, path: &str) {
    let body = serde_json::to_vec(event).expect("serialises");
    let header = Stripe::sign_event(SECRET, now_secs(), &body);
    let headers = [
        ("stripe-signature", header.as_str()),
        ("content-type", "application/json"),
    ];
    let response = host.post(path, &headers, body).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

fn fixture_events() -> Vec<Value> {
    let path = fixtures().join("stripe/connect-events.synthesized.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).expect("fixtures")).expect("json");
    doc["events"].as_array().expect("events").clone()
}

/// What Medusa must hold after one event.
type Check = dyn Fn(&Medusa);

#[tokio::test]
async fn processes_every_fixture_event_into_medusa_state() {
    let Marketplace { host, medusa, .. } = setup().await;
    // Payouts the fixture objects belong to: one paid by the fixture
    // transfer (found by its group), one taken to the bank by the fixture
    // payout (found by its Stripe id).
    medusa
        .insert_payout(json!({"id": "payout_fx_transfer", "vendor_id": DEMO_VENDOR,
        "amount": 1100, "currency": "usd", "transfer_group": "ORDER_order_01EXAMPLE"}))
        .expect("payout");
    medusa
        .insert_payout(json!({"id": "payout_fx_bank", "vendor_id": DEMO_VENDOR,
        "amount": 1100, "currency": "usd", "status": "transferred",
        "stripe_transfer_id": "tr_earlier", "stripe_payout_id": "po_1Pgc79B7WZ01zgkWu1KToYf4"}))
        .expect("payout");

    let expectations: [(&str, &Check); 5] = [
        ("account.updated", &|m| {
            assert_eq!(vendor(m, DEMO_VENDOR)["onboarding_status"], "complete")
        }),
        ("transfer.created", &|m| {
            let p = payout(m, "payout_fx_transfer");
            assert_eq!(
                (p["status"].clone(), p["stripe_transfer_id"].clone()),
                (json!("transferred"), json!("tr_1Pgc7BB7WZ01zgkWVJfE40RX"))
            );
        }),
        ("transfer.reversed", &|m| {
            assert_eq!(payout(m, "payout_fx_transfer")["status"], "reversed")
        }),
        ("payout.paid", &|m| {
            assert_eq!(payout(m, "payout_fx_bank")["status"], "paid")
        }),
        ("payout.failed", &|m| {
            let p = payout(m, "payout_fx_bank");
            assert_eq!(p["status"], "failed");
            assert_eq!(p["failure_code"], "account_closed");
            assert_eq!(p["failure_message"], "The bank account has been closed.");
        }),
    ];
    let events = fixture_events();
    for (done, (kind, check)) in expectations.iter().enumerate() {
        let event = events
            .iter()
            .find(|e| e["type"] == *kind)
            .expect("fixture event");
        send(&host, event, "/webhooks/stripe-connect/acme").await;
        host.wait_for_deliveries(ADMIN, "done", done + 1).await;
        check(&medusa);
    }
    // The untouched demo payout stayed pending throughout.
    assert_eq!(payout(&medusa, DEMO_PAYOUT)["status"], "pending");
}

#[tokio::test]
async fn late_and_repeated_events_leave_the_newest_state() {
    let Marketplace { host, medusa, .. } = setup().await;
    let transfer = json!({"id": "tr_e2e_1", "object": "transfer", "amount": 9890,
        "amount_reversed": 0, "created": 1_000, "destination": DEMO_STRIPE_ACCOUNT,
        "transfer_group": DEMO_PAYOUT, "metadata": {"payout_id": DEMO_PAYOUT}, "reversed": false});
    let bank = |status: &str| {
        json!({"id": "po_e2e_1", "object": "payout", "amount": 9890,
        "created": 2_000, "status": status, "metadata": {"payout_id": DEMO_PAYOUT},
        "failure_code": null, "failure_message": null})
    };
    let created = webhook::event("transfer.created", transfer, None);
    let paid = webhook::event("payout.paid", bank("paid"), Some(DEMO_STRIPE_ACCOUNT));

    send(&host, &paid, "/webhooks/stripe-connect/acme").await;
    host.wait_for_deliveries(ADMIN, "done", 1).await;
    // The transfer's creation arrives after its payout was paid, then the
    // paid event once more (a new delivery id for the same state).
    send(&host, &created, "/webhooks/stripe-connect/acme").await;
    let mut again = paid.clone();
    again["id"] = json!(webhook::new_event_id());
    send(&host, &again, "/webhooks/stripe-connect/acme").await;
    host.wait_for_deliveries(ADMIN, "done", 3).await;
    let settled = payout(&medusa, DEMO_PAYOUT);
    assert_eq!(settled["status"], "paid");
    assert_eq!(settled["stripe_payout_id"], "po_e2e_1");
    let writes = medusa
        .requests()
        .into_iter()
        .filter(|r| r.is("POST", "/admin/payouts/payout_01DEMO"))
        .count();
    assert_eq!(writes, 1, "Medusa was written more than once");
}

#[tokio::test]
async fn deauthorization_event_unlinks_the_vendor() {
    let Marketplace { host, medusa, .. } = setup().await;
    let application = json!({"id": CLIENT_ID, "object": "application", "name": "Market"});
    let event = webhook::event(
        "account.application.deauthorized",
        application,
        Some(DEMO_STRIPE_ACCOUNT),
    );
    send(&host, &event, "/admin/integrations/stripe/webhook").await;
    host.wait_for_deliveries(ADMIN, "done", 1).await;
    assert_eq!(
        vendor(&medusa, DEMO_VENDOR)["stripe_account_id"],
        Value::Null
    );
}

#[tokio::test]
async fn the_job_transfers_each_payout_once_in_its_currencys_units() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    onboard_demo_vendor(&medusa);
    stripe.set_platform_balance("jpy", 1_000_000);
    medusa
        .insert_payout(json!({"id": "payout_jpy", "vendor_id": DEMO_VENDOR,
        "amount": 5000, "currency": "jpy"}))
        .expect("payout");

    let report = run_job(&host).await;
    assert_eq!(report["counts"]["transferred"], 2, "{report}");
    assert_eq!(report["counts"]["skipped"], 0, "{report}");
    let again = run_job(&host).await;
    assert_eq!(again["counts"]["transferred"], 0, "{again}");

    let transfers = stripe.transfers();
    assert_eq!(transfers.len(), 2, "one transfer per payout");
    let usd = transfers
        .iter()
        .find(|t| t["currency"] == "usd")
        .expect("usd transfer");
    assert_eq!(
        (usd["amount"].clone(), usd["transfer_group"].clone()),
        (json!(9890), json!(DEMO_PAYOUT))
    );
    let jpy = transfers
        .iter()
        .find(|t| t["currency"] == "jpy")
        .expect("jpy transfer");
    assert_eq!(jpy["amount"], 5000);
    let sent = posts(&stripe, "/v1/transfers");
    assert_eq!(
        sent[0].header("idempotency-key"),
        Some("payout-payout_01DEMO-attempt-1")
    );
    assert_eq!(form(&sent[0])["amount"], "9890");
    assert_eq!(form(&sent[1])["amount"], "5000");
    assert_eq!(form(&sent[0])["metadata"]["payout_id"], DEMO_PAYOUT);
    for id in [DEMO_PAYOUT, "payout_jpy"] {
        let settled = payout(&medusa, id);
        assert_eq!(settled["status"], "transferred");
        assert!(
            settled["stripe_transfer_id"]
                .as_str()
                .is_some_and(|t| t.starts_with("tr_"))
        );
    }
}

#[tokio::test]
async fn the_job_recovers_a_lost_write_back_without_a_second_transfer() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    onboard_demo_vendor(&medusa);
    medusa.fail_next("POST", "/admin/payouts/payout_01DEMO", 1);

    let first = run_job(&host).await;
    assert_eq!(first["counts"]["failed"], 1, "{first}");
    assert_eq!(payout(&medusa, DEMO_PAYOUT)["status"], "pending");
    assert_eq!(stripe.transfers().len(), 1);

    let second = run_job(&host).await;
    assert_eq!(second["counts"]["transferred"], 1, "{second}");
    let settled = payout(&medusa, DEMO_PAYOUT);
    assert_eq!(settled["status"], "transferred");
    assert_eq!(settled["stripe_transfer_id"], stripe.transfers()[0]["id"]);
    assert_eq!(
        stripe.transfers().len(),
        1,
        "the payout was transferred twice"
    );
    assert_eq!(posts(&stripe, "/v1/transfers").len(), 1);
}

#[tokio::test]
async fn the_job_skips_vendors_not_onboarded_and_waits_for_funds() {
    let Marketplace {
        host,
        medusa,
        stripe,
    } = setup().await;
    medusa
        .insert_payout(json!({"id": "payout_nostripe", "vendor_id": NEW_VENDOR,
        "amount": 700, "currency": "usd"}))
        .expect("payout");
    let skipped = run_job(&host).await;
    assert_eq!(skipped["counts"]["skipped"], 2, "{skipped}");
    assert!(
        skipped["summary"]
            .as_str()
            .is_some_and(|s| s.contains(NEW_VENDOR))
    );

    onboard_demo_vendor(&medusa);
    stripe.set_platform_balance("usd", 100);
    let short = run_job(&host).await;
    assert_eq!(short["counts"]["insufficient_funds"], 1, "{short}");
    assert_eq!(payout(&medusa, DEMO_PAYOUT)["status"], "pending");

    stripe.set_platform_balance("usd", 1_000_000);
    let funded = run_job(&host).await;
    assert_eq!(funded["counts"]["transferred"], 1, "{funded}");
    let keys: Vec<String> = posts(&stripe, "/v1/transfers")
        .iter()
        .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert_eq!(
        keys,
        [
            "payout-payout_01DEMO-attempt-1",
            "payout-payout_01DEMO-attempt-2"
        ]
    );
    assert_eq!(stripe.transfers().len(), 1);
}
