//! End to end: the durable inbox. Acknowledged webhooks survive SIGKILL and
//! are processed exactly once; failures back off on the host's clock and
//! end dead; dead deliveries are replayed from the admin API and the CLI; a
//! locked database answers 503 and stores nothing.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on any broken step")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};
use switchyard_tests::{Host, HostBuilder, eventually};

const ADMIN: &str = "admin-token-inbox";

/// 2027-01-15T08:00:00Z, where the fixed-clock tests start.
const T0_SECS: u64 = 1_800_000_000;

fn probe_config(extra: &str) -> String {
    format!("admin_token = {{ env = \"ADMIN_TOKEN\" }}\n{extra}\n[tenants.acme.plugins.probe]\n")
}

async fn probe_host(extra: &str, args: &[&str]) -> Host {
    let mut builder = HostBuilder::new(&probe_config(extra))
        .plugin("probe")
        .env("ADMIN_TOKEN", ADMIN);
    for arg in args {
        builder = builder.arg(arg);
    }
    builder.start().await
}

async fn post_event(host: &Host, event_id: &str) -> (u16, Value) {
    let response = host
        .post(
            "/webhooks/probe/acme",
            &[("x-probe-id", event_id)],
            b"{}".to_vec(),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn open_db(host: &Host) -> SqliteConnection {
    let options = SqliteConnectOptions::new().filename(host.database());
    SqliteConnection::connect_with(&options).await.unwrap()
}

/// The stored delivery of `event_id`, once `ready` holds for it.
async fn delivery_when(host: &Host, event_id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = host.admin_get("/admin/api/deliveries", ADMIN).await;
        let found = list["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event_id"] == event_id)
            .cloned();
        if let Some(d) = found.filter(|d| ready(d)) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "{event_id} never got there: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn counter(host: &Host, event_id: &str) -> Value {
    let key = json!({ "key": format!("handled/{event_id}") });
    host.action(ADMIN, "probe/acme/kv-get", key).await.1["result"]["value"].clone()
}

async fn set_clock(host: &Host, at_ms: i64) {
    let (status, answer) = host
        .admin_post("/admin/api/clock", ADMIN, json!({ "set_ms": at_ms }))
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn failures_back_off_on_the_host_clock_then_go_dead_and_replay_revives_them() {
    let t0 = i64::try_from(T0_SECS * 1000).unwrap();
    let host = probe_host("max_attempts = 3", &["--fixed-clock", &T0_SECS.to_string()]).await;
    let fail = json!({ "key": "fail/evt-r", "value": "retryable" });
    host.action(ADMIN, "probe/acme/kv-set", fail).await;

    assert_eq!(post_event(&host, "evt-r").await.0, 200);
    // Attempt n is followed by a wait of 2^(n-1) s, less up to half of it.
    let mut now = t0;
    for (attempt, full_ms) in [(1, 1_000), (2, 2_000)] {
        let d = delivery_when(&host, "evt-r", |d| {
            d["attempts"] == attempt && d["status"] == "pending"
        })
        .await;
        let wait = d["next_attempt_at_ms"].as_i64().unwrap() - now;
        assert!(
            (full_ms / 2..=full_ms).contains(&wait),
            "attempt {attempt}: waits {wait} ms"
        );

        // Not a millisecond early: nothing happens until the clock gets there.
        set_clock(&host, now + wait - 1).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let early = delivery_when(&host, "evt-r", |_| true).await;
        assert_eq!(early["attempts"], attempt, "{early}");
        now += wait;
        set_clock(&host, now).await;
    }
    let dead = delivery_when(&host, "evt-r", |d| d["status"] == "dead").await;
    assert_eq!(dead["attempts"], 3);
    let error = dead["last_error"].as_str().unwrap();
    assert!(error.contains("gave up after 3 attempts"), "{error}");
    // The same event again is acknowledged as a duplicate; it stays dead.
    let (_, again) = post_event(&host, "evt-r").await;
    assert_eq!(
        (again["status"].as_str(), &again["delivery"]),
        (Some("duplicate"), &dead["id"])
    );

    // A permanent failure is dead at once.
    let fail = json!({ "key": "fail/evt-p", "value": "permanent" });
    host.action(ADMIN, "probe/acme/kv-set", fail).await;
    post_event(&host, "evt-p").await;
    let dead_p = delivery_when(&host, "evt-p", |d| d["status"] == "dead").await;
    assert_eq!(dead_p["attempts"], 1);
    assert_eq!(counter(&host, "evt-p").await, Value::Null);

    // Fixed upstream: the admin API replays the first, which then succeeds.
    host.action(
        ADMIN,
        "probe/acme/kv-set",
        json!({ "key": "fail/evt-r", "value": "" }),
    )
    .await;
    let path = format!(
        "/admin/api/deliveries/{}/replay",
        dead["id"].as_str().unwrap()
    );
    let (status, replayed) = host.admin_post(&path, ADMIN, json!({})).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["delivery"]["attempts"], 0);
    delivery_when(&host, "evt-r", |d| d["status"] == "done").await;
    assert_eq!(counter(&host, "evt-r").await, "1");
    let (status, answer) = host.admin_post(&path, ADMIN, json!({})).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("not_replayable"))
    );
    let (status, _) = host
        .admin_post("/admin/api/deliveries/dlv_nope/replay", ADMIN, json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_cli_lists_and_replays_dead_deliveries_while_the_host_is_down() {
    let mut host = probe_host("", &[]).await;
    let fail = json!({ "key": "fail/evt-cli", "value": "permanent" });
    host.action(ADMIN, "probe/acme/kv-set", fail).await;
    post_event(&host, "evt-cli").await;
    let dead = delivery_when(&host, "evt-cli", |d| d["status"] == "dead").await;
    let id = dead["id"].as_str().unwrap();
    host.action(
        ADMIN,
        "probe/acme/kv-set",
        json!({ "key": "fail/evt-cli", "value": "" }),
    )
    .await;
    host.kill();

    let listed = host.run_command(&["deliveries", "list", "--status", "dead"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{text}");
    let line = text.lines().find(|l| l.starts_with(id)).unwrap_or_default();
    assert!(line.contains("dead") && line.contains("evt-cli"), "{text}");

    // With nobody reading its output (`| head -0`), the command still
    // replays every id and still fails for the unknown one.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let unread = std::process::Command::new(switchyard_tests::host_binary())
        .args(["deliveries", "replay", "dlv_missing", id, "--config"])
        .arg(host.dir().join("plugins.toml"))
        .stdout(writer)
        .output()
        .unwrap();
    assert!(!unread.status.success(), "an unknown id fails the command");
    let listed = host.run_command(&["deliveries", "list", "--status", "pending"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.lines().any(|l| l.starts_with(id)),
        "not replayed: {text}"
    );

    let replayed = host.run_command(&["deliveries", "replay", id, "dlv_missing"]);
    let text = String::from_utf8_lossy(&replayed.stdout);
    assert!(!replayed.status.success(), "{text}");
    assert!(
        text.contains(&format!("{id}: not replayed, it is pending")),
        "{text}"
    );
    assert!(text.contains("dlv_missing: no such delivery"), "{text}");

    host.restart().await;
    delivery_when(&host, "evt-cli", |d| d["status"] == "done").await;
    assert_eq!(counter(&host, "evt-cli").await, "1");
}

#[tokio::test]
async fn a_locked_database_answers_503_and_stores_nothing() {
    let host = probe_host("store_busy_timeout_ms = 200", &[]).await;
    assert_eq!(post_event(&host, "evt-before").await.0, 200);

    let mut lock = open_db(&host).await;
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .unwrap();
    let started = Instant::now();
    let (status, answer) = post_event(&host, "evt-locked").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("store_unavailable")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up only after {:?}",
        started.elapsed()
    );
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();

    // Nothing was stored: the retry is a first, not a duplicate.
    let (status, answer) = post_event(&host, "evt-locked").await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
}

/// How each request of the kill test ended.
#[derive(Default)]
struct Outcomes {
    acknowledged: BTreeSet<String>,
    refused: BTreeSet<String>,
    unanswered: BTreeSet<String>,
}

/// Posts fresh events until `stop`; every fifth is too large and must be
/// refused with 413 before anything is stored.
async fn post_until_stopped(
    url: String,
    ids: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Outcomes>>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    while !stop.load(Ordering::Relaxed) {
        let n = ids.fetch_add(1, Ordering::Relaxed);
        let id = format!("evt-{n:06}");
        let body = if n.is_multiple_of(5) {
            vec![b'x'; 2048]
        } else {
            b"{}".to_vec()
        };
        let sent = client
            .post(format!("{url}/webhooks/probe/acme"))
            .header("x-probe-id", &id)
            .body(body)
            .send()
            .await;
        let mut out = out.lock().unwrap();
        match sent {
            Ok(r) if r.status().is_success() => out.acknowledged.insert(id),
            Ok(_) => out.refused.insert(id),
            Err(_) => {
                out.unanswered.insert(id);
                return;
            }
        };
    }
}

async fn counters(db: &mut SqliteConnection) -> BTreeMap<String, String> {
    let rows =
        sqlx::query("SELECT key, value FROM kv WHERE plugin = 'probe' AND key LIKE 'handled/%'")
            .fetch_all(db)
            .await
            .unwrap();
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let value: Vec<u8> = row.get(1);
            (
                key["handled/".len()..].to_owned(),
                String::from_utf8(value).unwrap(),
            )
        })
        .collect()
}

async fn wait_until_all_done(db: &mut SqliteConnection) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let open: i64 = sqlx::query("SELECT COUNT(*) FROM deliveries WHERE status <> 'done'")
            .fetch_one(&mut *db)
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} deliveries never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills the host at random moments while webhooks are posted and
/// processed. Whatever got a 2xx is processed exactly once; whatever got an
/// error answer never is; a request cut off by the kill got no answer, so
/// its sender retries it, and it is processed at most once.
/// `SWITCHYARD_KILL_ITERATIONS` runs more rounds than CI's quick form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_webhook_is_processed_exactly_once_across_kills() {
    let rounds: usize = std::env::var("SWITCHYARD_KILL_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let extra = "call_timeout_ms = 2000\nmax_attempts = 100\nmax_body_bytes = 1024";
    let mut host = probe_host(extra, &[]).await;
    let ids = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(Outcomes::default()));
    for _ in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let posters: Vec<_> = (0..16)
            .map(|_| {
                let args = (host.url.clone(), ids.clone(), stop.clone(), out.clone());
                tokio::spawn(post_until_stopped(args.0, args.1, args.2, args.3))
            })
            .collect();
        // A random moment, and not before this round has had ten answers,
        // so that every round kills a host at work.
        let acknowledged = out.lock().unwrap().acknowledged.len();
        let pause = rand::rng().random_range(50..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        eventually("ten acknowledged webhooks", || {
            out.lock().unwrap().acknowledged.len() >= acknowledged + 10
        })
        .await;
        host.kill();
        stop.store(true, Ordering::Relaxed);
        for poster in posters {
            poster.await.unwrap();
        }
        host.restart().await;
    }

    let mut db = open_db(&host).await;
    wait_until_all_done(&mut db).await;
    let counters = counters(&mut db).await;
    let out = out.lock().unwrap();
    assert!(!out.refused.is_empty(), "no request was refused");
    for id in &out.acknowledged {
        assert_eq!(
            counters.get(id).map(String::as_str),
            Some("1"),
            "acknowledged {id}"
        );
    }
    for id in &out.refused {
        assert_eq!(counters.get(id), None, "refused {id} was processed");
    }
    for id in &out.unanswered {
        let count = counters.get(id).map_or("0", String::as_str);
        assert!(
            count == "0" || count == "1",
            "unanswered {id} processed {count} times"
        );
    }
    let unexpected: Vec<&String> = counters
        .keys()
        .filter(|id| !out.acknowledged.contains(*id) && !out.unanswered.contains(*id))
        .collect();
    assert!(
        unexpected.is_empty(),
        "processed but never sent: {unexpected:?}"
    );
}
