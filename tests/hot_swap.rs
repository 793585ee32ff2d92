//! End to end: plugins replaced while the host serves. A new version is
//! picked up without a restart and without failing a request; a broken file
//! leaves the old version serving and says why.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on any broken step")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_tests::{Host, HostBuilder, eventually, host_binary, plugin};

const ADMIN: &str = "admin-token-swap";
const CONFIG: &str = r#"
admin_token = { env = "ADMIN_TOKEN" }
[tenants.acme.plugins.probe]
"#;

async fn probe_host() -> Host {
    HostBuilder::new(CONFIG)
        .plugin("probe")
        .env("ADMIN_TOKEN", ADMIN)
        .start()
        .await
}

/// Replaces `dest` atomically, as a deploy script should: write a hidden
/// temporary file (which the host ignores), then rename it over.
fn replace(dest: &Path, bytes: &[u8]) {
    let temp = dest.with_file_name(".incoming.wasm.tmp");
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, dest).unwrap();
}

async fn serving_version(host: &Host) -> String {
    let listed = host.admin_get("/admin/api/plugins", ADMIN).await;
    listed["plugins"][0]["manifest"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn wait_for_version(host: &Host, version: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    while serving_version(host).await != version {
        assert!(Instant::now() < deadline, "version {version} never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Instant::now()
}

#[tokio::test]
async fn a_replaced_plugin_serves_new_calls_without_failing_any() {
    let host = Arc::new(probe_host().await);
    assert_eq!(serving_version(&host).await, "0.1.0");

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let stream = {
        let (host, stop, sent) = (host.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let id = format!("evt-{}", sent.fetch_add(1, Ordering::SeqCst));
                let posted = Instant::now();
                let response = host
                    .post(
                        "/webhooks/probe/acme",
                        &[("x-probe-id", &id)],
                        b"{}".to_vec(),
                    )
                    .await;
                answers.push((id, posted, response.status().as_u16()));
            }
            answers
        })
    };

    // Twenty requests before the swap, and twenty sent after it was seen.
    eventually("requests before the swap", || {
        sent.load(Ordering::SeqCst) >= 20
    })
    .await;
    replace(
        &host.dir().join("plugins/probe.wasm"),
        &std::fs::read(plugin("probe-v2")).unwrap(),
    );
    let swapped = wait_for_version(&host, "0.2.0-test").await;
    let at_swap = sent.load(Ordering::SeqCst);
    eventually("requests after the swap", || {
        sent.load(Ordering::SeqCst) >= at_swap + 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let answers = stream.await.unwrap();

    let failed: Vec<_> = answers
        .iter()
        .filter(|(_, _, status)| *status != 200)
        .collect();
    assert!(failed.is_empty(), "failed during the swap: {failed:?}");
    let after: Vec<&String> = answers
        .iter()
        .filter(|(_, t, _)| *t > swapped)
        .map(|(id, ..)| id)
        .collect();

    let done = host.wait_for_deliveries(ADMIN, "done", answers.len()).await;
    let version_of = |id: &str| {
        let deliveries = done["deliveries"].as_array().unwrap();
        let found = deliveries.iter().find(|d| d["event_id"] == id).unwrap();
        found["plugin_version"].as_str().unwrap().to_owned()
    };
    for id in after {
        assert_eq!(
            version_of(id),
            "0.2.0-test",
            "{id} was handled by the old version"
        );
    }
}

#[tokio::test]
async fn a_broken_file_leaves_the_old_version_serving_and_says_why() {
    let host = probe_host().await;
    replace(
        &host.dir().join("plugins/probe.wasm"),
        b"\0asm\x0d\0\x01\0 truncated upload",
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let problems = loop {
        let listed = host.admin_get("/admin/api/plugins", ADMIN).await;
        if listed["problems"].as_array().is_some_and(|p| !p.is_empty()) {
            break listed["problems"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the broken file was never reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let text = problems.to_string();
    assert!(
        text.contains("probe.wasm") && text.contains("still serving the previous version 0.1.0"),
        "{text}"
    );
    assert_eq!(serving_version(&host).await, "0.1.0");

    let response = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", "after-break")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let done = host.wait_for_deliveries(ADMIN, "done", 1).await;
    assert_eq!(done["deliveries"][0]["plugin_version"], "0.1.0");

    let output = std::process::Command::new(host_binary())
        .args(["plugins", "list", "--url", &host.url])
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{listing}");
    assert!(
        listing.contains("still serving the previous version 0.1.0"),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("probe") && l.contains("0.1.0")),
        "{listing}"
    );
}

#[tokio::test]
async fn a_config_change_applies_without_a_restart_and_sighup_reloads() {
    let host = probe_host().await;
    let config = host.dir().join("plugins.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let moved = text.replace(
        "[tenants.acme.plugins.probe]",
        "[tenants.beta.plugins.probe]",
    );
    std::fs::write(&config, moved).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed: Value = host.admin_get("/admin/api/plugins", ADMIN).await;
        if listed["plugins"][0]["tenants"] == serde_json::json!(["beta"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "config change never applied: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = host
        .post(
            "/webhooks/probe/beta",
            &[("x-probe-id", "b1")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(response.status(), 200);

    let hup = std::process::Command::new("kill")
        .args(["-HUP", &host.pid().to_string()])
        .status();
    assert!(hup.unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host.logs().iter().any(|l| l.contains("SIGHUP: reloading")) {
        assert!(Instant::now() < deadline, "SIGHUP was not acted on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        host.post(
            "/webhooks/probe/beta",
            &[("x-probe-id", "b2")],
            b"{}".to_vec()
        )
        .await
        .status()
        .is_success()
    );
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_rebuilt_not_trusted() {
    let mut host = probe_host().await;
    let cache = host.dir().join(".switchyard/cache");
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "one compiled plugin cached: {entries:?}");
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entries[0], bytes).unwrap();

    host.restart().await;
    assert!(
        host.logs()
            .iter()
            .any(|l| l.contains("corrupt cache entry")),
        "corruption unnoticed"
    );
    assert_eq!(serving_version(&host).await, "0.1.0");
    let response = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", "c1")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(response.status(), 200);

    // The rebuilt entry is sound: the next start uses it without complaint.
    let complaints = host
        .logs()
        .iter()
        .filter(|l| l.contains("cache entry"))
        .count();
    host.restart().await;
    let after = host
        .logs()
        .iter()
        .filter(|l| l.contains("cache entry"))
        .count();
    assert_eq!(after, complaints, "the rebuilt entry was not trusted");
}

/// Polls the admin plugin list until `done` holds for it.
async fn listing_when(host: &Host, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = host.admin_get("/admin/api/plugins", ADMIN).await;
        if done(&listed) {
            return listed;
        }
        assert!(Instant::now() < deadline, "never {what}: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_missing_plugins_dir_is_refused_and_a_new_one_is_watched() {
    let host = probe_host().await;
    let config = host.dir().join("plugins.toml");
    let text = std::fs::read_to_string(&config).unwrap();

    // A mistyped folder unloads nothing: the config is refused, and says so.
    let mistyped = text.replace("plugins_dir = \"plugins\"", "plugins_dir = \"nowhere\"");
    std::fs::write(&config, &mistyped).unwrap();
    let listed = listing_when(&host, "refused the config", |l| {
        l["problems"].as_array().is_some_and(|p| !p.is_empty())
    })
    .await;
    let message = listed["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("plugins_dir") && message.contains("nowhere"),
        "{message}"
    );
    assert_eq!(listed["plugins"][0]["tenants"], serde_json::json!(["acme"]));
    let health: Value = reqwest::get(format!("{}/health", host.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["problems"], 1, "{health}");
    let answer = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", "d1")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status(), 200);

    // A folder that exists is taken, the refusal is cleared, and plugins
    // dropped into the new folder are picked up.
    std::fs::create_dir(host.dir().join("moved")).unwrap();
    let moved = host.dir().join("moved/probe.wasm");
    replace(&moved, &std::fs::read(plugin("probe")).unwrap());
    // A setting read only at start-up changes too: it is listed as waiting.
    let text = text.replace(
        "plugins_dir = \"plugins\"",
        "plugins_dir = \"moved\"\nmax_body_bytes = 2048",
    );
    std::fs::write(&config, text).unwrap();
    let listed = listing_when(&host, "took the new folder", |l| {
        l["plugins"][0]["file"]
            .as_str()
            .is_some_and(|f| f.contains("moved"))
    })
    .await;
    let problems = listed["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{listed}");
    assert_eq!(problems[0]["severity"], "warning");
    let waiting = problems[0]["message"].as_str().unwrap();
    assert!(
        waiting.contains("max_body_bytes") && waiting.contains("restart"),
        "{waiting}"
    );
    replace(&moved, &std::fs::read(plugin("probe-v2")).unwrap());
    wait_for_version(&host, "0.2.0-test").await;
}

#[tokio::test]
async fn a_file_that_takes_another_plugins_name_is_refused_and_both_keep_serving() {
    let config = format!("{CONFIG}[tenants.acme.plugins.ticker]\n");
    let host = HostBuilder::new(&config)
        .plugin("probe")
        .plugin("ticker")
        .env("ADMIN_TOKEN", ADMIN)
        .start()
        .await;
    let probe_file = host.dir().join("plugins/probe.wasm");
    replace(&probe_file, &std::fs::read(plugin("ticker")).unwrap());

    let listed = listing_when(&host, "refused the impostor", |l| {
        l["problems"].as_array().is_some_and(|p| !p.is_empty())
    })
    .await;
    let problem = &listed["problems"][0];
    assert_eq!(problem["plugin"], "probe", "{listed}");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains("name ticker") && message.contains("ticker.wasm"),
        "{message}"
    );
    let files: Vec<String> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["manifest"]["name"], p["file"]))
        .collect();
    assert_eq!(files.len(), 2, "{listed}");
    assert!(files[0].contains("\"probe\"") && files[0].contains("probe.wasm"));
    assert!(files[1].contains("\"ticker\"") && files[1].contains("ticker.wasm"));
    let answer = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", "n1")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn writes_beside_the_config_do_not_reload_and_a_remade_plugins_dir_is_watched() {
    let config = format!("database = \"sqlite://beside.db\"\n{CONFIG}");
    let host = HostBuilder::new(&config)
        .plugin("probe")
        .env("ADMIN_TOKEN", ADMIN)
        .start()
        .await;
    assert!(host.dir().join("beside.db").exists());
    for n in 0..20 {
        let id = format!("w{n}");
        let answer = host
            .post(
                "/webhooks/probe/acme",
                &[("x-probe-id", &id)],
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(answer.status(), 200);
    }
    host.wait_for_deliveries(ADMIN, "done", 20).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reloads = host
        .logs()
        .iter()
        .filter(|l| l.contains("config reloaded"))
        .count();
    assert_eq!(reloads, 0, "database writes caused reloads");

    // Removed and made anew, the folder is watched again.
    let plugins = host.dir().join("plugins");
    std::fs::remove_dir_all(&plugins).unwrap();
    listing_when(&host, "refused the missing folder", |l| {
        l["problems"].to_string().contains("cannot be read")
    })
    .await;
    std::fs::create_dir(&plugins).unwrap();
    listing_when(&host, "took the folder back", |l| {
        !l["problems"].to_string().contains("cannot be read")
    })
    .await;
    replace(
        &plugins.join("probe.wasm"),
        &std::fs::read(plugin("probe-v2")).unwrap(),
    );
    wait_for_version(&host, "0.2.0-test").await;
}
