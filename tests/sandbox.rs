//! End to end: hostile plugins (spinning, hogging memory, trapping,
//! panicking, probing internal addresses, hunting for secrets, built against
//! another WIT version) each get their typed error, while a well-behaved
//! plugin keeps answering during and after them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tests::{Host, HostBuilder};

const ADMIN: &str = "admin-token-sandbox";
const SECRET: &str = "tok_sandbox_secret_value_42";

fn hostile_host() -> HostBuilder {
    let config = r#"
admin_token = { env = "ADMIN_TOKEN" }
[plugins.spin]
timeout_ms = 500
[plugins.hog]
memory_mb = 16
[tenants.acme.plugins.spin]
[tenants.acme.plugins.hog]
[tenants.acme.plugins.trap]
[tenants.acme.plugins.panicker]
[tenants.acme.plugins.probe]
config = { note = "acme-only" }
[tenants.other.plugins.probe]
[tenants.acme.plugins.netprobe]
allow_hosts = ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.1"]
[tenants.acme.plugins.exfil]
allow_hosts = ["127.0.0.1:9", "bound.invalid"]
allow_private = ["127.0.0.1/32"]
secrets.api_token = { env = "EXFIL_SECRET", hosts = ["bound.invalid"] }
"#;
    let mut builder = HostBuilder::new(config)
        .env("ADMIN_TOKEN", ADMIN)
        .env("EXFIL_SECRET", SECRET);
    for plugin in [
        "spin",
        "hog",
        "trap",
        "panicker",
        "probe",
        "netprobe",
        "exfil",
        "other-wit",
    ] {
        builder = builder.plugin(plugin);
    }
    builder
}

async fn run(host: &Host, plugin: &str, input: Value) -> (u16, Value) {
    host.action(ADMIN, &format!("{plugin}/acme/run"), input)
        .await
}

#[tokio::test]
async fn each_hostile_plugin_fails_alone_with_its_typed_error() {
    let host = hostile_host().start().await;
    let cases = [
        ("spin", 504, "plugin_timeout"),
        ("hog", 502, "plugin_memory_limit"),
        ("trap", 502, "plugin_trapped"),
        ("panicker", 502, "plugin_trapped"),
    ];
    let hostile = cases.map(|(plugin, status, code)| {
        let host = &host;
        async move {
            let (got, body) = run(host, plugin, json!({})).await;
            assert_eq!(
                (got, body["error"].as_str()),
                (status, Some(code)),
                "{plugin}: {body}"
            );
        }
    });

    // While they misbehave (`spin` for its whole 500 ms deadline), the
    // well-behaved plugin keeps answering.
    let hostile_done = std::sync::atomic::AtomicBool::new(false);
    let steady = async {
        let mut answered = 0;
        while !hostile_done.load(std::sync::atomic::Ordering::SeqCst) {
            let (status, body) = host.action(ADMIN, "probe/acme/counter", json!({})).await;
            assert_eq!(status, 200, "{body}");
            answered += 1;
        }
        answered
    };
    let hostile = async {
        futures_join_all(hostile).await;
        hostile_done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (answered, ()) = tokio::join!(steady, hostile);
    assert!(answered >= 3, "the probe answered only {answered} times");

    // And afterwards, everything still works, hostile ones included.
    let (status, _) = host.action(ADMIN, "probe/acme/counter", json!({})).await;
    assert_eq!(status, 200);
    let (_, again) = run(&host, "trap", json!({})).await;
    assert_eq!(again["error"], "plugin_trapped");

    let metrics = reqwest::get(format!("{}/health/metrics", host.url))
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    for outcome in ["timeout", "memory_limit", "trap"] {
        assert!(
            metrics.contains(&format!("outcome=\"{outcome}\"")),
            "no {outcome} metric"
        );
    }
    let logs = host.logs().join("\n");
    assert!(
        logs.contains("deliberate panic in the guest"),
        "the panic message was not logged"
    );
    assert!(logs.contains(r#""kind":"memory_limit""#) && logs.contains(r#""plugin":"hog""#));
}

/// `join_all` without a futures dependency: the four calls run at once.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: [F; 4]) {
    let [a, b, c, d] = futures;
    tokio::join!(a, b, c, d);
}

#[tokio::test]
async fn no_memory_survives_from_one_call_to_the_next() {
    let host = hostile_host().start().await;
    for _ in 0..3 {
        let (_, body) = host.action(ADMIN, "probe/acme/counter", json!({})).await;
        assert_eq!(body["result"]["calls"], 1, "{body}");
    }
}

#[tokio::test]
async fn internal_addresses_are_refused_after_resolution() {
    let host = hostile_host().start().await;
    // Loopback first: a broken guard fails here before anything is sent
    // towards the metadata or private addresses.
    for url in [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
    ] {
        let (status, body) = run(&host, "netprobe", json!({ "url": url })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["error"], "denied", "{url}: {body}");
    }
}

#[tokio::test]
async fn a_plugin_cannot_obtain_a_secret_value() {
    let host = hostile_host().start().await;
    // Port 9 (discard) has no listener here: what matters is what the host
    // refuses before connecting, and that nothing it answers holds the value.
    let input = json!({
        "allowed_url": "http://127.0.0.1:9/",
        "other_url": "http://bound.invalid/",
    });
    let (status, body) = run(&host, "exfil", input).await;
    assert_eq!(status, 200, "{body}");
    let report = body.to_string();
    assert!(report.contains("denied"), "no request was denied: {report}");
    assert!(
        !report.contains(SECRET),
        "secret leaked in the answer: {report}"
    );

    // Config of another tenant is out of reach too.
    let (_, other) = host.action(ADMIN, "probe/other/config", json!({})).await;
    assert_eq!(other["result"], json!([]), "{other}");
    let (_, own) = host.action(ADMIN, "probe/acme/config", json!({})).await;
    assert_eq!(own["result"], json!([["note", "acme-only"]]));

    let leaked: Vec<String> = host
        .logs()
        .into_iter()
        .filter(|l| l.contains(SECRET))
        .collect();
    assert!(leaked.is_empty(), "secret in logs: {leaked:?}");
    let metrics = reqwest::get(format!("{}/health/metrics", host.url))
        .await
        .unwrap();
    assert!(!metrics.text().await.unwrap().contains(SECRET));
}

#[tokio::test]
async fn a_plugin_built_for_another_wit_version_is_refused_by_name() {
    let host = hostile_host().start().await;
    let listed = host.admin_get("/admin/api/plugins", ADMIN).await;
    let problems = listed["problems"].to_string();
    for part in ["other-wit", "switchyard:plugin@0.2.0", "supports 0.1.0"] {
        assert!(problems.contains(part), "{part:?} not in {problems}");
    }
    let names: Vec<&str> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["manifest"]["name"].as_str())
        .collect();
    assert!(!names.contains(&"other-wit"));
    assert!(names.contains(&"probe"));
}

#[tokio::test]
async fn a_plugin_out_of_fuel_fails_with_its_own_error() {
    let config = r#"
admin_token = { env = "ADMIN_TOKEN" }
[plugins.spin]
fuel = 5000000
timeout_ms = 5000
[tenants.acme.plugins.spin]
"#;
    let host = HostBuilder::new(config)
        .plugin("spin")
        .env("ADMIN_TOKEN", ADMIN)
        .start()
        .await;
    let started = Instant::now();
    let (status, body) = run(&host, "spin", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("plugin_fuel_exhausted")),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "fuel ran out only at the deadline"
    );
}
