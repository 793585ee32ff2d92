//! End to end: the host's own behaviour (routing, limits, dedupe, events,
//! the outbound guard, secrets, `check`), driven through the `probe` test
//! plugin and the real binary.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on any broken step")]

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchyard_tests::{Host, HostBuilder, now_secs};

const ADMIN: &str = "admin-token-host";
const PROBE_TOKEN: &str = "tok_very_secret_probe_value";
const EVENTS_SECRET: &str = "events-secret-for-tests";

fn probe_config(max_body: usize) -> String {
    format!(
        r#"
admin_token = {{ env = "ADMIN_TOKEN" }}
max_body_bytes = {max_body}
[tenants.acme]
events_secret = {{ env = "EVENTS_SECRET" }}
[tenants.acme.plugins.probe]
allow_hosts = ["127.0.0.1:9", "allowed.invalid"]
allow_private = ["127.0.0.1/32"]
secrets.api_token = {{ env = "PROBE_TOKEN", hosts = ["127.0.0.1:9"] }}
[tenants.other.plugins.probe]
allow_hosts = ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.1", "[::1]"]
"#
    )
}

async fn probe_host() -> Host {
    HostBuilder::new(&probe_config(4096))
        .plugin("probe")
        .env("ADMIN_TOKEN", ADMIN)
        .env("PROBE_TOKEN", PROBE_TOKEN)
        .env("EVENTS_SECRET", EVENTS_SECRET)
        .start()
        .await
}

async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn unknown_plugins_and_tenants_get_404_json() {
    let host = probe_host().await;
    let (status, body) =
        status_and_json(host.post("/webhooks/nope/acme", &[], b"{}".to_vec()).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_plugin"))
    );
    let (status, body) = status_and_json(
        host.post("/webhooks/probe/ghost", &[], b"{}".to_vec())
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_tenant"))
    );
    let (status, body) =
        status_and_json(host.post("/events/ghost", &[], b"{}".to_vec()).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_tenant"))
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_are_not_stored() {
    let host = probe_host().await;
    let big = vec![b'x'; 4097];
    let response = host
        .post("/webhooks/probe/acme", &[("x-probe-id", "big")], big)
        .await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("body_too_large"))
    );

    let fits = vec![b'x'; 4096];
    let response = host
        .post("/webhooks/probe/acme", &[("x-probe-id", "fits")], fits)
        .await;
    assert_eq!(response.status(), 200);
    let list = host.admin_get("/admin/api/deliveries", ADMIN).await;
    let ids: Vec<&str> = list["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["event_id"].as_str())
        .collect();
    assert_eq!(ids, ["fits"]);
}

/// Sends raw bytes on a fresh connection and returns the whole answer.
async fn raw_exchange(host: &Host, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = host.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn malformed_requests_get_json_errors_with_stable_codes() {
    let host = probe_host().await;
    let client = reqwest::Client::new();
    let get = client
        .get(format!("{}/admin/api/jobs?limit=abc", host.url))
        .bearer_auth(ADMIN);
    let (status, body) = status_and_json(get.send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_query"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );

    for limit in ["0", "1001", "abc"] {
        let get = client
            .get(format!("{}/admin/api/deliveries?limit={limit}", host.url))
            .bearer_auth(ADMIN);
        let (status, body) = status_and_json(get.send().await.unwrap()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_query"))
        );
    }

    let bad_utf8 = host.post("/webhooks/probe/%FF", &[], b"{}".to_vec()).await;
    let (status, body) = status_and_json(bad_utf8).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));

    let garbled = client
        .post(format!("{}/admin/api/clock", host.url))
        .bearer_auth(ADMIN)
        .body("{set_ms");
    let (status, body) = status_and_json(garbled.send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_json"))
    );

    // A chunked body that is not chunked encoding is unreadable, not large.
    let answer = raw_exchange(
        &host,
        b"POST /webhooks/probe/acme HTTP/1.1\r\nhost: test\r\nx-probe-id: chunky\r\n\
          transfer-encoding: chunked\r\n\r\nzz\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"unreadable_body\""), "{answer}");

    // Two different ids that are not text must not reach the plugin as one.
    let answer = raw_exchange(
        &host,
        b"POST /webhooks/probe/acme HTTP/1.1\r\nhost: test\r\nx-probe-id: \xff\xfe\r\n\
          content-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"invalid_header\""), "{answer}");

    // Many small headers are fine: the bound is on their size.
    let names: Vec<String> = (0..150).map(|i| format!("x-extra-{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    many.push(("x-probe-id", "many-headers"));
    let answer = host
        .post("/webhooks/probe/acme", &many, b"{}".to_vec())
        .await;
    assert_eq!(answer.status(), 200);

    // Headers are stored with a delivery, so they have a bound of their own.
    let padding = "x".repeat(70 * 1024);
    let padded = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", "padded"), ("x-padding", &padding)],
            b"{}".to_vec(),
        )
        .await;
    let (status, body) = status_and_json(padded).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (431, Some("headers_too_large"))
    );
    let list = host.admin_get("/admin/api/deliveries", ADMIN).await;
    let stored: Vec<&Value> = list["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["event_id"])
        .collect();
    assert_eq!(stored, [&json!("many-headers")], "{list}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_cannot_keep_the_host_up() {
    let mut host = probe_host().await;
    let stalled = host
        .stalled_client(b"POST /webhooks/probe/acme HTTP/1.1\r\nhost: test\r\n")
        .await;
    // Served while the other connection stalls.
    let answer = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", "s1")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status(), 200);

    // Stopping waits a grace period (10 s) for open connections, no more.
    let status = host.terminate(std::time::Duration::from_secs(20)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "still running: {status:?}"
    );
    assert!(
        host.logs()
            .iter()
            .any(|l| l.contains("connections still open"))
    );

    // A second signal does not wait for the grace period.
    host.restart().await;
    let stalled_again = host.stalled_client(b"GET /health HTTP/1.1\r\n").await;
    let first = host.terminate(std::time::Duration::from_millis(500)).await;
    assert!(
        first.is_none(),
        "stopped without waiting for the stalled client"
    );
    let second = host.terminate(std::time::Duration::from_secs(3)).await;
    assert!(second.is_some_and(|s| s.code() == Some(130)), "{second:?}");
    drop((stalled, stalled_again));
}

#[tokio::test]
async fn a_repeated_event_id_is_acknowledged_and_processed_once() {
    let host = probe_host().await;
    for _ in 0..3 {
        let response = host
            .post(
                "/webhooks/probe/acme",
                &[("x-probe-id", "evt-1")],
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    host.wait_for_deliveries(ADMIN, "done", 1).await;
    let (_, answer) = host
        .action(
            ADMIN,
            "probe/acme/kv-get",
            json!({ "key": "handled/evt-1" }),
        )
        .await;
    assert_eq!(answer["result"]["value"], "1", "{answer}");

    // The same id for another tenant is another event.
    let response = host
        .post(
            "/webhooks/probe/other",
            &[("x-probe-id", "evt-1")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status_and_json(response).await.1["status"], "accepted");
}

#[tokio::test]
async fn a_rejected_webhook_gets_400_json_and_is_not_stored() {
    let host = probe_host().await;
    let (status, body) =
        status_and_json(host.post("/webhooks/probe/acme", &[], b"{}".to_vec()).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("signature_rejected"))
    );
    let list = host.admin_get("/admin/api/deliveries", ADMIN).await;
    assert_eq!(list["deliveries"], json!([]));
}

#[tokio::test]
async fn a_host_outside_the_allowlist_is_denied_and_secrets_never_leak() {
    let host = probe_host().await;
    let fetch = |url: &str, bearer: Option<&str>| json!({ "url": url, "bearer": bearer });

    let (status, answer) = host
        .action(
            ADMIN,
            "probe/acme/fetch",
            fetch("http://example.com/", None),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["error"], "denied", "{answer}");
    assert!(
        answer["result"]["message"]
            .as_str()
            .unwrap()
            .contains("example.com")
    );

    // Allowed host, but the secret is bound to another one.
    let to_other = fetch("http://allowed.invalid/", Some("api_token"));
    let (_, answer) = host.action(ADMIN, "probe/acme/fetch", to_other).await;
    assert_eq!(answer["result"]["error"], "denied", "{answer}");

    // Nothing leaks through config, HMAC results or error texts either.
    let (_, config) = host.action(ADMIN, "probe/acme/config", json!({})).await;
    let (_, mac) = host
        .action(
            ADMIN,
            "probe/acme/hmac",
            json!({ "secret": "api_token", "message": "m" }),
        )
        .await;
    let mut expected = <Hmac<Sha256> as Mac>::new_from_slice(PROBE_TOKEN.as_bytes()).unwrap();
    expected.update(b"m");
    assert_eq!(
        mac["result"]["mac"],
        hex::encode(expected.finalize().into_bytes())
    );
    let to_bound = fetch("http://127.0.0.1:9/", Some("api_token"));
    let (_, refused) = host.action(ADMIN, "probe/acme/fetch", to_bound).await;
    assert_eq!(refused["result"]["error"], "connect", "{refused}");

    for answer in [&config, &refused] {
        assert!(
            !answer.to_string().contains(PROBE_TOKEN),
            "leaked in {answer}"
        );
    }
    let logs = host.logs();
    assert!(
        logs.iter().any(|l| l.contains("outbound request")),
        "no outbound log lines captured"
    );
    let leaked: Vec<&String> = logs.iter().filter(|l| l.contains(PROBE_TOKEN)).collect();
    assert!(leaked.is_empty(), "secret in log lines: {leaked:?}");
}

#[tokio::test]
async fn internal_addresses_are_denied_even_when_allowlisted() {
    let host = probe_host().await;
    // Loopback first: if the guard were broken this fails before anything
    // is ever sent towards the metadata or private addresses below.
    let targets = [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://[::1]:9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
    ];
    for url in targets {
        let (status, answer) = host
            .action(ADMIN, "probe/other/fetch", json!({ "url": url }))
            .await;
        assert_eq!(status, 200);
        assert_eq!(answer["result"]["error"], "denied", "{url}: {answer}");
        assert!(
            answer["result"]["message"]
                .as_str()
                .unwrap()
                .contains("allow_private")
        );
    }
}

#[tokio::test]
async fn tenants_cannot_see_each_others_kv() {
    let host = probe_host().await;
    let (_, set) = host
        .action(
            ADMIN,
            "probe/acme/kv-set",
            json!({ "key": "k", "value": "acme-only" }),
        )
        .await;
    assert_eq!(set["result"]["ok"], true);
    let (_, other) = host
        .action(ADMIN, "probe/other/kv-get", json!({ "key": "k" }))
        .await;
    assert_eq!(other["result"]["value"], Value::Null);
    let (_, own) = host
        .action(ADMIN, "probe/acme/kv-get", json!({ "key": "k" }))
        .await;
    assert_eq!(own["result"]["value"], "acme-only");
}

fn sign_event(secret: &str, t: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&switchyard_signature::signed_payload(t, body));
    switchyard_signature::format_header(t, &[&mac.finalize().into_bytes()])
}

#[tokio::test]
async fn medusa_events_are_verified_stored_and_fanned_out() {
    let host = probe_host().await;
    let body = br#"{"id":"mevt_1","name":"probe.ping","data":{"id":"prod_1"}}"#.to_vec();
    let header = sign_event(EVENTS_SECRET, now_secs(), &body);
    let headers = [("switchyard-signature", header.as_str())];

    let (status, answer) =
        status_and_json(host.post("/events/acme", &headers, body.clone()).await).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["deliveries"][0]["plugin"], "probe");
    host.wait_for_deliveries(ADMIN, "done", 1).await;
    let (_, stored) = host
        .action(ADMIN, "probe/acme/kv-get", json!({ "key": "event/mevt_1" }))
        .await;
    assert_eq!(stored["result"]["value"], r#"{"id":"prod_1"}"#);

    let (_, again) = status_and_json(host.post("/events/acme", &headers, body.clone()).await).await;
    assert_eq!(again["deliveries"][0]["duplicate"], true);
    assert_eq!(again["status"], "duplicate");

    let forged = sign_event("not-the-secret", now_secs(), &body);
    let headers = [("switchyard-signature", forged.as_str())];
    let (status, _) = status_and_json(host.post("/events/acme", &headers, body).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn plugins_emit_events_to_other_subscribers_only() {
    let host = probe_host().await;
    let emit = json!({ "name": "probe.ping", "data": { "from": "probe" } });
    let (_, answer) = host.action(ADMIN, "probe/acme/emit", emit).await;
    assert_eq!(answer["result"]["ok"], true, "{answer}");
    // The emitter is the only subscriber, and it does not receive its own
    // event, so nothing is stored.
    let list = host.admin_get("/admin/api/deliveries", ADMIN).await;
    assert_eq!(list["deliveries"], json!([]));

    let bad = json!({ "name": "Not A Name", "data": {} });
    let (_, answer) = host.action(ADMIN, "probe/acme/emit", bad).await;
    assert!(
        answer["result"]["error"]
            .as_str()
            .unwrap()
            .contains("Invalid"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_admin_api_wants_its_token() {
    let host = probe_host().await;
    let answer = host.admin_get("/admin/api/plugins", "wrong").await;
    assert_eq!(answer["error"], "unauthorized");
    let answer = host.admin_get("/admin/api/plugins", ADMIN).await;
    assert_eq!(answer["plugins"][0]["manifest"]["name"], "probe");
}

const STRIPE_TENANT: &str = r#"
[tenants.acme.plugins.stripe-connect]
config = { medusa_url = "http://127.0.0.1:9" }
[tenants.acme.plugins.stripe-connect.secrets]
stripe_webhook_secret = { env = "ACME_STRIPE_WHSEC" }
stripe_secret_key = { env = "ACME_STRIPE_KEY" }
medusa_api_key = { env = "ACME_MEDUSA_KEY" }
"#;

#[test]
fn a_reader_that_goes_away_ends_a_command_quietly() {
    // The pipe's reading end is closed before the command starts, so its
    // first line of output meets a broken pipe, as with `| head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let builder = HostBuilder::new("");
    let config = builder.write_config("127.0.0.1:0");
    let output = std::process::Command::new(switchyard_tests::host_binary())
        .args(["check", "--config"])
        .arg(config)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn check_names_the_tenant_plugin_and_key_of_a_missing_secret() {
    let builder = HostBuilder::new(STRIPE_TENANT)
        .plugin("stripe-connect")
        .env("ACME_STRIPE_KEY", "sk_test_x")
        .env("ACME_MEDUSA_KEY", "sk_medusa_x");
    let output = builder.run_command(&["check"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "check passed:\n{text}");
    let line = text
        .lines()
        .find(|l| l.contains("stripe_webhook_secret"))
        .unwrap_or_default();
    for part in ["tenant acme", "plugin stripe-connect", "ACME_STRIPE_WHSEC"] {
        assert!(line.contains(part), "{part:?} not in {line:?}\n{text}");
    }

    let complete = builder.env("ACME_STRIPE_WHSEC", "whsec_x");
    let output = complete.run_command(&["check"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn check_refuses_overrides_under_names_that_match_nothing() {
    let config = "[plugins.tiker]\nfuel = 1000\n\
                  [tenants.acme.plugins.ticker.jobs.tock]\nenabled = false\n";
    let builder = HostBuilder::new(config).plugin("ticker");
    let output = builder.run_command(&["check"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "check passed:\n{text}");
    let job = text
        .lines()
        .find(|l| l.contains("jobs.tock"))
        .unwrap_or_default();
    assert!(
        job.starts_with("error:") && job.contains("its jobs: tick"),
        "{text}"
    );
    let limits = text.lines().find(|l| l.contains("plugins.tiker"));
    assert!(limits.is_some_and(|l| l.starts_with("warning:")), "{text}");

    // The typo is reported, but the tenant keeps the plugin.
    let listed = builder.run_command(&["plugins", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    let row = text.lines().find(|l| l.starts_with("ticker"));
    assert!(row.is_some_and(|r| r.contains("acme")), "{text}");
}

#[tokio::test]
async fn a_bad_plugin_file_is_named_and_the_others_still_serve() {
    let builder = HostBuilder::new(&probe_config(4096)).plugin("probe");
    let bad = builder
        .write_config("127.0.0.1:0")
        .parent()
        .unwrap()
        .join("plugins/broken.wasm");
    std::fs::write(&bad, b"\0asm but not really").unwrap();

    let output = builder.run_command(&["check"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        text.lines()
            .any(|l| l.contains("broken.wasm") && l.starts_with("error")),
        "{text}"
    );

    let host = builder.env("ADMIN_TOKEN", ADMIN).start().await;
    let response = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", "still-works")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let listed = host.admin_get("/admin/api/plugins", ADMIN).await;
    let problem = &listed["problems"][0];
    assert!(
        problem["file"].to_string().contains("broken.wasm"),
        "{listed}"
    );
    let message = problem["message"].as_str().unwrap();
    assert!(!message.contains('\n'), "one line: {message:?}");
}

#[tokio::test]
async fn the_cli_calls_actions_on_a_running_host() {
    let host = probe_host().await;
    let cli = |action: &str, input: &str| {
        std::process::Command::new(switchyard_tests::host_binary())
            .args([
                "actions", "call", "probe", action, "--tenant", "acme", "--url", &host.url,
            ])
            .args(["--input", input])
            .env("SWITCHYARD_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap()
    };
    let output = cli("kv-set", r#"{"key": "from-cli", "value": "yes"}"#);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["ok"], true);
    let (_, stored) = host
        .action(ADMIN, "probe/acme/kv-get", json!({ "key": "from-cli" }))
        .await;
    assert_eq!(stored["result"]["value"], "yes");

    let refused = cli("no-such-action", "{}");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown_action"));
}
