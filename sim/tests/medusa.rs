//! The Medusa simulator over HTTP: auth, envelopes, write-backs and what
//! the request log shows.

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use switchyard_sim::medusa::{DEMO_API_KEY, Medusa, MedusaConfig};

async fn demo() -> Medusa {
    Medusa::start(MedusaConfig::demo())
        .await
        .expect("medusa starts")
}

fn authed(request: RequestBuilder) -> RequestBuilder {
    request.basic_auth(DEMO_API_KEY, Some(""))
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

async fn get(medusa: &Medusa, path: &str) -> (StatusCode, Value) {
    send(authed(
        Client::new().get(format!("{}{path}", medusa.base_url())),
    ))
    .await
}

async fn post(medusa: &Medusa, path: &str, body: &Value) -> (StatusCode, Value) {
    let request = Client::new().post(format!("{}{path}", medusa.base_url()));
    send(
        authed(request)
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn refuses_missing_and_wrong_keys_with_plain_unauthorized() {
    let medusa = demo().await;
    let url = format!("{}/admin/vendors", medusa.base_url());
    let client = Client::new();
    let cases = [
        client.get(&url),
        client.get(&url).basic_auth("sk_wrong", Some("")),
        client.get(&url).bearer_auth(DEMO_API_KEY),
    ];
    for request in cases {
        assert_eq!(
            send(request).await,
            (StatusCode::UNAUTHORIZED, json!("Unauthorized"))
        );
    }
    let raw = client
        .get(&url)
        .header("authorization", format!("Basic {DEMO_API_KEY}"));
    assert_eq!(send(raw).await.0, StatusCode::OK);
    assert_eq!(medusa.requests().len(), 4);
}

#[tokio::test]
async fn lists_vendors_with_filters_and_paging() {
    let medusa = demo().await;
    let (status, body) = get(&medusa, "/admin/vendors?tenant_id=demo&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["count"].clone(), body["limit"].clone()),
        (json!(2), json!(1))
    );
    let path = "/admin/vendors?stripe_account_id=acct_1PgafTB7WZ01zgkW";
    let (_, body) = get(&medusa, path).await;
    assert_eq!(body["vendors"][0]["id"], "vendor_01DEMO");
    assert_eq!(body["vendors"][0]["onboarding_status"], "pending");
    assert_eq!(body["vendors"][0]["commission_rate_bps"], 1000);
    let (status, body) = get(&medusa, "/admin/vendors?limit=lots").await;
    assert_eq!(
        (status, body["type"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_data"))
    );
}

#[tokio::test]
async fn vendor_write_back_is_recorded_and_validated() {
    let medusa = demo().await;
    let before = medusa.vendor("vendor_01DEMO").expect("seeded")["updated_at"].clone();
    let body = json!({"onboarding_status": "complete", "metadata": {"stripe_onboarded": "yes"}});
    let (status, answer) = post(&medusa, "/admin/vendors/vendor_01DEMO", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["vendor"]["onboarding_status"], "complete");
    assert_ne!(answer["vendor"]["updated_at"], before);

    let completions = medusa.requests().into_iter().filter(|request| {
        request.is("POST", "/admin/vendors/vendor_01DEMO")
            && request.field("onboarding_status") == Some(&json!("complete"))
    });
    assert_eq!(completions.count(), 1);

    let (status, answer) = post(&medusa, "/admin/vendors/vendor_09NONE", &body).await;
    assert_eq!(
        (status, answer["type"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let bad_status = json!({"onboarding_status": "approved"});
    let (status, _) = post(&medusa, "/admin/vendors/vendor_01DEMO", &bad_status).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let request = authed(Client::new().post(format!("{}/admin/vendors/x", medusa.base_url())));
    let (status, answer) = send(request.body("{not json")).await;
    assert_eq!(
        (status, answer["type"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_data"))
    );
}

#[tokio::test]
async fn payouts_are_idempotent_and_settle() {
    let medusa = demo().await;
    let body = json!({"vendor_id": "vendor_01DEMO", "amount": 500, "currency": "usd",
        "order_ids": ["order_01DEMO"], "transfer_group": "group_1"});
    let create = || {
        let request = Client::new().post(format!("{}/admin/payouts", medusa.base_url()));
        authed(request)
            .header("idempotency-key", "payout-key-1")
            .body(body.to_string())
    };
    let (_, first) = send(create()).await;
    let (_, second) = send(create()).await;
    assert_eq!(first["payout"]["id"], second["payout"]["id"]);
    assert_eq!(first["payout"]["status"], "pending");
    assert_eq!(medusa.payouts().len(), 2);

    let id = first["payout"]["id"].as_str().expect("id");
    let update = json!({"status": "transferred", "stripe_transfer_id": "tr_1"});
    let (status, answer) = post(&medusa, &format!("/admin/payouts/{id}"), &update).await;
    assert_eq!(
        (status, answer["payout"]["status"].clone()),
        (StatusCode::OK, json!("transferred"))
    );
    let (_, pending) = get(
        &medusa,
        "/admin/payouts?vendor_id=vendor_01DEMO&status=pending",
    )
    .await;
    assert_eq!(pending["payouts"][0]["id"], "payout_01DEMO");
    assert_eq!(pending["count"], 1);
}

#[tokio::test]
async fn demo_balance_matches_the_pending_payout() {
    let medusa = demo().await;
    let (status, body) = get(&medusa, "/admin/vendors/vendor_01DEMO/balance?currency=usd").await;
    assert_eq!(status, StatusCode::OK);
    let expected = json!({"currency": "usd", "earned": 9890, "pending": 9890, "paid_out": 0,
        "available": 0});
    assert_eq!(body["balance"], expected);
}

#[tokio::test]
async fn products_and_orders_use_medusa_envelopes() {
    let medusa = demo().await;
    let (_, products) = get(&medusa, "/admin/products?fields=id,title&q=mug").await;
    assert_eq!(products["count"], 1);
    assert_eq!(products["limit"], 50);
    let (_, orders) = get(&medusa, "/admin/orders?status[]=completed").await;
    assert_eq!(
        (orders["count"].clone(), orders["limit"].clone()),
        (json!(1), json!(15))
    );
    let metadata = json!({"metadata": {"seo_title": "Mug", "vendor_id": ""}});
    let (_, product) = post(&medusa, "/admin/products/prod_01DEMOMUG", &metadata).await;
    assert_eq!(product["product"]["metadata"], json!({"seo_title": "Mug"}));
    let (status, _) = get(&medusa, "/admin/orders/order_missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn starts_empty_without_the_demo_seed() {
    let medusa = Medusa::start(MedusaConfig::default())
        .await
        .expect("starts");
    assert!(medusa.vendors().is_empty());
    let vendor = medusa
        .insert_vendor(json!({"name": "New", "tenant_id": "t"}))
        .expect("valid");
    assert_eq!(vendor["status"], "active");
    assert!(medusa.insert_vendor(json!({"nmae": "typo"})).is_err());
}

#[tokio::test]
async fn fail_next_answers_500_the_asked_number_of_times_then_recovers() {
    let medusa = demo().await;
    let path = "/admin/payouts/payout_01DEMO";
    medusa.fail_next("POST", path, 1);
    let body = json!({"status": "transferred", "stripe_transfer_id": "tr_1"});
    let (status, answer) = post(&medusa, path, &body).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer["type"], "database_error");
    assert_eq!(
        medusa.payout("payout_01DEMO").expect("seeded")["status"],
        "pending"
    );
    // Reads of the same path are not affected, and the next write works.
    assert_eq!(get(&medusa, path).await.0, StatusCode::OK);
    let (status, answer) = post(&medusa, path, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["payout"]["status"], "transferred");
}
