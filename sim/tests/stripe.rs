//! The Stripe simulator over HTTP: auth, form bodies, idempotency,
//! balances, OAuth, onboarding links and signed webhook delivery.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::{Client, RequestBuilder, StatusCode, redirect};
use serde_json::{Value, json};
use switchyard_sim::stripe::{DEMO_ACCOUNT, DEMO_SECRET_KEY, Stripe, StripeConfig, webhook};

async fn demo() -> Stripe {
    let stripe = Stripe::start(StripeConfig::default())
        .await
        .expect("stripe starts");
    stripe.seed_demo();
    stripe
}

fn form(stripe: &Stripe, path: &str, body: &str) -> RequestBuilder {
    Client::new()
        .post(format!("{}{path}", stripe.base_url()))
        .basic_auth(DEMO_SECRET_KEY, Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
}

fn fetch(stripe: &Stripe, path: &str) -> RequestBuilder {
    Client::new()
        .get(format!("{}{path}", stripe.base_url()))
        .bearer_auth(DEMO_SECRET_KEY)
}

async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body read");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn refuses_requests_without_the_secret_key() {
    let stripe = demo().await;
    let url = format!("{}/v1/balance", stripe.base_url());
    for request in [
        Client::new().get(&url),
        Client::new().get(&url).bearer_auth("sk_test_nope_1234"),
    ] {
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(!body.to_string().contains("sk_test_nope_1234"));
    }
    let (status, body) = send(fetch(&stripe, "/v1/balance")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["available"][0]["amount"], 1_000_000);
}

#[tokio::test]
async fn creates_an_express_account_and_an_onboarding_link_that_completes_it() {
    let stripe = demo().await;
    let body = "type=express&country=US&email=v%40example.com\
                &capabilities[transfers][requested]=true&metadata[vendor_id]=vendor_1";
    let (status, account) = send(form(&stripe, "/v1/accounts", body)).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let id = account["id"].as_str().expect("id").to_owned();
    assert_eq!(account["metadata"]["vendor_id"], "vendor_1");

    let link = format!(
        "account={id}&type=account_onboarding&return_url=https://host.test/back\
                        &refresh_url=https://host.test/again"
    );
    let (_, link) = send(form(&stripe, "/v1/account_links", &link)).await;
    let url = link["url"].as_str().expect("url");
    assert!(url.starts_with(&stripe.base_url()));
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client");
    let visit = client.get(url).send().await.expect("visited");
    assert_eq!(visit.status(), StatusCode::SEE_OTHER);
    assert_eq!(visit.headers()["location"], "https://host.test/back");
    assert_eq!(
        stripe.account(&id).expect("exists")["charges_enabled"],
        true
    );
}

#[tokio::test]
async fn idempotency_replays_refuses_mismatches_and_skips_validation_errors() {
    let stripe = demo().await;
    let body = "amount=9890&currency=usd&destination=acct_1PgafTB7WZ01zgkW&transfer_group=p1";
    let keyed = |body: &str| form(&stripe, "/v1/transfers", body).header("idempotency-key", "k1");

    let (status, invalid) = send(keyed("currency=usd")).await;
    assert_eq!(
        (status, invalid["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("parameter_missing"))
    );
    let first = keyed(body).send().await.expect("sent");
    assert_eq!(first.headers().get("idempotent-replayed"), None);
    let first: Value = serde_json::from_str(&first.text().await.expect("body")).expect("json");
    let replay = keyed(body).send().await.expect("sent");
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = serde_json::from_str(&replay.text().await.expect("body")).expect("json");
    assert_eq!(first["id"], replay["id"]);
    assert_eq!(stripe.transfers().len(), 1);
    assert_eq!(stripe.available(None, "usd"), 1_000_000 - 9890);

    let (status, mismatch) = send(keyed(
        "amount=1&currency=usd&destination=acct_1PgafTB7WZ01zgkW",
    ))
    .await;
    assert_eq!(
        (status, mismatch["error"]["type"].clone()),
        (StatusCode::BAD_REQUEST, json!("idempotency_error"))
    );
}

#[tokio::test]
async fn insufficient_funds_is_kept_under_its_key_until_keys_are_forgotten() {
    let stripe = demo().await;
    stripe.set_platform_balance("usd", 100);
    let body = "amount=9890&currency=usd&destination=acct_1PgafTB7WZ01zgkW";
    let keyed = || form(&stripe, "/v1/transfers", body).header("idempotency-key", "payout_01DEMO");
    for _ in 0..2 {
        let (status, error) = send(keyed()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"]["code"], "balance_insufficient");
    }
    stripe.set_platform_balance("usd", 10_000);
    assert_eq!(
        send(keyed()).await.1["error"]["code"],
        "balance_insufficient"
    );
    stripe.forget_idempotency_keys();
    let (status, transfer) = send(keyed()).await;
    assert_eq!(
        (status, transfer["amount"].clone()),
        (StatusCode::OK, json!(9890))
    );
    assert_eq!(stripe.available(Some(DEMO_ACCOUNT), "usd"), 9890);
}

#[tokio::test]
async fn connected_account_payouts_and_balances_follow_stripe_account() {
    let stripe = demo().await;
    stripe.set_account_balance(DEMO_ACCOUNT, "usd", 5000);
    let payout = form(&stripe, "/v1/payouts", "amount=3000&currency=usd")
        .header("stripe-account", DEMO_ACCOUNT);
    let (status, payout) = send(payout).await;
    assert_eq!(
        (status, payout["status"].clone()),
        (StatusCode::OK, json!("pending"))
    );
    let balance = fetch(&stripe, "/v1/balance").header("stripe-account", DEMO_ACCOUNT);
    assert_eq!(send(balance).await.1["available"][0]["amount"], 2000);
    let platform_list = send(fetch(&stripe, "/v1/payouts")).await.1;
    assert_eq!(platform_list["data"], json!([]));
    let unknown = fetch(&stripe, "/v1/payouts").header("stripe-account", "acct_unknown");
    assert_eq!(send(unknown).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn oauth_connects_standard_accounts_with_flat_errors() {
    let stripe = demo().await;
    let code = stripe.issue_oauth_code(None);
    let exchange = format!("grant_type=authorization_code&code={code}");
    let (status, token) = send(form(&stripe, "/oauth/token", &exchange)).await;
    assert_eq!(status, StatusCode::OK);
    let account = token["stripe_user_id"]
        .as_str()
        .expect("account")
        .to_owned();
    assert_eq!(
        stripe.account(&account).expect("created")["type"],
        "standard"
    );

    let (status, error) = send(form(&stripe, "/oauth/token", &exchange)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({"error": "invalid_grant", "error_description": error["error_description"]})
    );

    let deauthorize = format!("client_id=ca_demo&stripe_user_id={account}");
    let (status, body) = send(form(&stripe, "/oauth/deauthorize", &deauthorize)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"stripe_user_id": account}))
    );
    assert!(!stripe.is_connected(&account));
}

#[tokio::test]
async fn lists_page_with_starting_after() {
    let stripe = demo().await;
    for amount in 1..=3 {
        let body = format!("amount={amount}&currency=usd&destination={DEMO_ACCOUNT}");
        assert_eq!(
            send(form(&stripe, "/v1/transfers", &body)).await.0,
            StatusCode::OK
        );
    }
    let (_, first) = send(fetch(&stripe, "/v1/transfers?limit=2")).await;
    assert_eq!(
        (
            first["has_more"].clone(),
            first["data"][0]["amount"].clone()
        ),
        (json!(true), json!(3))
    );
    let last_id = first["data"][1]["id"].as_str().expect("id");
    let (_, rest) = send(fetch(
        &stripe,
        &format!("/v1/transfers?limit=2&starting_after={last_id}"),
    ))
    .await;
    assert_eq!(
        (rest["has_more"].clone(), rest["data"][0]["amount"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(rest["url"], "/v1/transfers");
}

/// What a webhook receiver saw.
type Deliveries = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receiver() -> (String, Deliveries) {
    let seen = Deliveries::default();
    let store = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| async move {
            store.lock().expect("not poisoned").push((headers, body));
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn sends_events_signed_for_every_secret_over_the_exact_bytes() {
    let (url, seen) = receiver().await;
    let event = webhook::event("payout.paid", json!({"id": "po_1"}), Some(DEMO_ACCOUNT));
    let response = Stripe::send_event(&url, &["whsec_old", "whsec_new"], &event, 1_767_225_600)
        .await
        .expect("delivered");
    assert_eq!(response.status(), StatusCode::OK);

    let deliveries = seen.lock().expect("not poisoned").clone();
    let (headers, body) = &deliveries[0];
    let header = headers["stripe-signature"].to_str().expect("ascii");
    let parsed = switchyard_signature::SignatureHeader::parse(header).expect("parses");
    assert_eq!(parsed.timestamp, 1_767_225_600);
    assert_eq!(parsed.v1.len(), 2);
    assert_eq!(
        header,
        Stripe::signature_header(&["whsec_old", "whsec_new"], 1_767_225_600, body)
    );
    assert_eq!(serde_json::from_slice::<Value>(body).expect("json"), event);
}
