//! End to end: the scheduler. Each job runs in its own task on its own
//! schedule, never overlaps itself, keeps time whatever other plugins' jobs
//! do, follows the tenant's time zone across DST, follows its missed-run
//! policy after a restart, and records every run.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on any broken step")]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tests::{Host, HostBuilder};

const ADMIN: &str = "admin-token-scheduler";

async fn start(config: &str, args: &[&str]) -> Host {
    let config = format!("admin_token = {{ env = \"SWITCHYARD_ADMIN_TOKEN\" }}\n{config}");
    let mut builder = HostBuilder::new(&config)
        .plugin("sleeper")
        .plugin("ticker")
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN);
    for arg in args {
        builder = builder.arg(arg);
    }
    builder.start().await
}

async fn jobs(host: &Host) -> Value {
    host.admin_get("/admin/api/jobs?limit=500", ADMIN).await
}

fn runs_of<'a>(jobs: &'a Value, plugin: &str, tenant: &str) -> Vec<&'a Value> {
    let mut runs: Vec<&Value> = jobs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["plugin"] == plugin && r["tenant"] == tenant)
        .collect();
    runs.reverse();
    runs
}

/// The ticker's job of `tenant` in a job list.
fn job<'a>(jobs: &'a Value, tenant: &str) -> Option<&'a Value> {
    jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["tenant"] == tenant)
}

/// Waits until `plugin`'s runs for `tenant` satisfy `done`.
async fn runs_when(
    host: &Host,
    plugin: &str,
    tenant: &str,
    done: impl Fn(&[&Value]) -> bool,
) -> Value {
    let what = format!("{plugin}/{tenant} runs");
    jobs_when(host, &what, |list| done(&runs_of(list, plugin, tenant))).await
}

/// Waits until the job list satisfies `done`.
async fn jobs_when(host: &Host, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = jobs(host).await;
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what} never got there: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ms(run: &Value, field: &str) -> i64 {
    run[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} missing in {run}"))
}

#[tokio::test]
async fn a_job_that_outlasts_its_tick_never_overlaps_and_other_plugins_keep_time() {
    let host = start(
        "[tenants.acme.plugins.sleeper]\n[tenants.acme.plugins.ticker]\n",
        &[],
    )
    .await;

    // A run by hand while a nap is going is refused and recorded as skipped.
    // A nap may end between the look and the request: then the run by hand
    // is a nap of its own, and the next try meets one going.
    loop {
        runs_when(&host, "sleeper", "acme", |runs| {
            runs.iter().any(|r| r["outcome"] == "running")
        })
        .await;
        let (status, answer) = host
            .admin_post("/admin/api/jobs/sleeper/acme/nap", ADMIN, json!({}))
            .await;
        if status == 409 {
            assert_eq!(answer["error"], "job_running", "{answer}");
            break;
        }
        assert_eq!(status, 200, "{answer}");
    }

    // Due times during a nap are recorded as skipped; watched until two
    // naps ran and the ticker ticked five times.
    let list = jobs_when(&host, "two naps, three skips, five ticks", |list| {
        let naps = runs_of(list, "sleeper", "acme");
        let ended = |outcome: &str| naps.iter().filter(|r| r["outcome"] == outcome).count();
        let ticks = runs_of(list, "ticker", "acme");
        ended("ok") >= 2 && ended("skipped") >= 3 && ticks.len() >= 6
    })
    .await;
    let naps = runs_of(&list, "sleeper", "acme");
    let ran: Vec<&&Value> = naps.iter().filter(|r| r["outcome"] != "skipped").collect();
    for pair in ran.windows(2) {
        let finished = pair[0]["finished_at_ms"].as_i64().unwrap_or(i64::MAX);
        assert!(
            ms(pair[1], "started_at_ms") >= finished,
            "naps overlap: {pair:?}"
        );
    }
    assert!(
        naps.iter()
            .any(|r| r["outcome"] == "skipped" && r["trigger"] == "manual")
    );

    // Meanwhile the ticker ran every second, on time, and never skipped.
    let mut ticks = runs_of(&list, "ticker", "acme");
    ticks.retain(|r| r["outcome"] != "running");
    assert!(ticks.iter().all(|r| r["outcome"] == "ok"), "{list}");
    for tick in &ticks {
        let late = ms(tick, "started_at_ms") - ms(tick, "scheduled_for_ms");
        // Under a second late: a nap (2.5 s) never held a tick back.
        assert!((0..1_000).contains(&late), "tick {late} ms late: {tick}");
    }
    let due: Vec<i64> = ticks.iter().map(|t| ms(t, "scheduled_for_ms")).collect();
    assert!(
        due.windows(2).all(|w| w[1] - w[0] == 1_000),
        "ticks missed: {due:?}"
    );
    assert_eq!(ticks.last().unwrap()["counts"]["ticks"], ticks.len());
}

/// 2026-03-29T00:59:00Z: 01:59 in Berlin, a minute before clocks go from
/// 02:00 CET to 03:00 CEST.
const BEFORE_SPRING_GAP: u64 = 1_774_745_940;

#[tokio::test]
async fn a_daily_job_in_a_named_zone_runs_right_after_the_spring_gap() {
    let config = r#"
[tenants.acme]
timezone = "Europe/Berlin"
[tenants.acme.plugins.ticker.jobs.tick]
schedule = "0 30 2 * * *"
"#;
    let host = start(config, &["--fixed-clock", &BEFORE_SPRING_GAP.to_string()]).await;
    let list = jobs(&host).await;
    let tick = job(&list, "acme").unwrap();
    assert_eq!(tick["timezone"], "Europe/Berlin");
    // 02:30 does not exist on 29 March in Berlin: the run is due at 03:00
    // CEST, 01:00 UTC.
    let gap_end_ms = 1_774_746_000_000_i64;
    assert_eq!(tick["next_due_ms"], gap_end_ms, "{list}");

    let (status, _) = host
        .admin_post("/admin/api/clock", ADMIN, json!({ "set_ms": gap_end_ms }))
        .await;
    assert_eq!(status, 200);
    let list = runs_when(&host, "ticker", "acme", |runs| {
        runs.first().is_some_and(|r| r["outcome"] != "running")
    })
    .await;
    let run = runs_of(&list, "ticker", "acme")[0].clone();
    assert_eq!(
        (run["outcome"].as_str(), ms(&run, "scheduled_for_ms")),
        (Some("ok"), gap_end_ms)
    );
    // The next run is the next day at 02:30 CEST, 00:30 UTC.
    let list = jobs(&host).await;
    let tick = job(&list, "acme").unwrap();
    assert_eq!(tick["next_due_ms"], 1_774_830_600_000_i64, "{list}");
}

/// 2026-06-01T10:30:00Z and 15:30 the same day.
const MORNING: u64 = 1_780_309_800;
const AFTERNOON: u64 = 1_780_327_800;

#[tokio::test]
async fn runs_missed_while_the_host_was_down_follow_each_jobs_policy() {
    let config = r#"
[tenants.skips.plugins.ticker.jobs.tick]
schedule = "0 0 * * * *"
missed = "skip"
[tenants.catches-up.plugins.ticker.jobs.tick]
schedule = "0 0 * * * *"
missed = "run-once"
"#;
    let mut host = start(config, &["--fixed-clock", &MORNING.to_string()]).await;
    let eleven_ms = 1_780_311_600_000_i64;
    host.admin_post("/admin/api/clock", ADMIN, json!({ "set_ms": eleven_ms }))
        .await;
    for tenant in ["skips", "catches-up"] {
        runs_when(&host, "ticker", tenant, |runs| {
            runs.iter().any(|r| r["outcome"] == "ok")
        })
        .await;
    }

    // Down from 11:00 to 15:30: 12:00, 13:00, 14:00 and 15:00 were missed.
    host.restart_with_args(&["--fixed-clock", &AFTERNOON.to_string()])
        .await;
    let three_pm_ms = 1_780_326_000_000_i64;
    let list = runs_when(&host, "ticker", "skips", |runs| runs.len() >= 2).await;
    let missed = runs_of(&list, "ticker", "skips")[1].clone();
    assert_eq!(missed["outcome"], "missed", "{list}");
    assert_eq!(ms(&missed, "scheduled_for_ms"), three_pm_ms);
    assert!(
        missed["error"].as_str().unwrap().contains("4 run(s)"),
        "{missed}"
    );

    let list = runs_when(&host, "ticker", "catches-up", |runs| {
        runs.get(1).is_some_and(|r| r["outcome"] != "running")
    })
    .await;
    let caught_up = runs_of(&list, "ticker", "catches-up")[1].clone();
    assert_eq!(
        (caught_up["trigger"].as_str(), caught_up["outcome"].as_str()),
        (Some("catch-up"), Some("ok"))
    );
    assert_eq!(ms(&caught_up, "scheduled_for_ms"), three_pm_ms);
    // Exactly one run for all four, then back on schedule at 16:00.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(runs_of(&jobs(&host).await, "ticker", "catches-up").len(), 2);
    let list = jobs(&host).await;
    let tick = job(&list, "catches-up").unwrap();
    assert_eq!(tick["next_due_ms"], three_pm_ms + 3_600_000);
}

#[tokio::test]
async fn the_cli_runs_a_job_through_the_host_and_lists_the_history() {
    let config = "[tenants.acme.plugins.ticker.jobs.tick]\nenabled = false\n";
    let host = start(config, &[]).await;
    // Without --url the command finds the host at the config's `listen`.
    let ran = host.run_command(&["jobs", "run", "ticker", "tick", "--tenant", "acme"]);
    let text = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(text.contains("ticks=1"), "{text}");

    let url = host.url.clone();
    let unknown = host.run_command(&[
        "jobs", "run", "ticker", "nope", "--tenant", "acme", "--url", &url,
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown_job"));

    let listed = host.run_command(&["jobs", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{text}");
    let schedule = text
        .lines()
        .find(|l| l.starts_with("ticker"))
        .unwrap_or_default();
    assert!(
        schedule.contains("off"),
        "a disabled job has no next due time: {text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("manual") && l.contains("ok")),
        "{text}"
    );
}

#[tokio::test]
async fn a_config_reload_replans_schedules_without_a_restart() {
    let config = r#"
[tenants.acme.plugins.ticker.jobs.tick]
schedule = "0 0 * * * *"
[tenants.gone.plugins.ticker.jobs.tick]
schedule = "0 0 * * * *"
"#;
    let host = start(config, &["--fixed-clock", &MORNING.to_string()]).await;
    let eleven_ms = 1_780_311_600_000_i64;
    let list = jobs(&host).await;
    assert_eq!(job(&list, "acme").unwrap()["next_due_ms"], eleven_ms);

    // Hourly at :00 becomes hourly at :45; tenant `gone` loses the plugin;
    // tenant `new` gains it.
    let path = host.dir().join("plugins.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace("schedule = \"0 0 * * * *\"", "schedule = \"0 45 * * * *\"")
        .replace(
            "[tenants.gone.plugins.ticker.jobs.tick]",
            "[tenants.new.plugins.ticker.jobs.tick]",
        );
    std::fs::write(&path, text).unwrap();

    let quarter_to_ms = 1_780_310_700_000_i64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let list = loop {
        let list = jobs(&host).await;
        if job(&list, "acme").is_some_and(|j| j["schedule"] == "0 45 * * * *") {
            break list;
        }
        assert!(Instant::now() < deadline, "schedule never reloaded: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(job(&list, "gone").is_none(), "{list}");
    // The stored schedules, which `switchyard jobs list` reads, agree.
    let stored = || {
        let listed = host.run_command(&["jobs", "list", "--json"]);
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
        job(&listed, "gone").cloned().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored()["enabled"] != false {
        assert!(
            Instant::now() < deadline,
            "still stored as on: {}",
            stored()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored()["next_due_at_ms"].is_null(), "{}", stored());
    for tenant in ["acme", "new"] {
        let next = &job(&list, tenant).unwrap()["next_due_ms"];
        assert_eq!(next, quarter_to_ms, "{list}");
    }

    // At 10:45 the new schedule runs, once, for each tenant that has it.
    let set_clock = |ms: i64| host.admin_post("/admin/api/clock", ADMIN, json!({ "set_ms": ms }));
    set_clock(quarter_to_ms).await;
    for tenant in ["acme", "new"] {
        let list = runs_when(&host, "ticker", tenant, |runs| {
            runs.first().is_some_and(|r| r["outcome"] == "ok")
        })
        .await;
        let runs = runs_of(&list, "ticker", tenant);
        assert_eq!(runs.len(), 1, "{list}");
        assert_eq!(ms(runs[0], "scheduled_for_ms"), quarter_to_ms);
    }

    // At 11:00 the old schedule would have run; its task is gone.
    set_clock(eleven_ms).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let list = jobs(&host).await;
    assert_eq!(runs_of(&list, "ticker", "acme").len(), 1, "{list}");
    assert!(runs_of(&list, "ticker", "gone").is_empty(), "{list}");
    let next = &job(&list, "acme").unwrap()["next_due_ms"];
    assert_eq!(next, quarter_to_ms + 3_600_000, "{list}");

    // The filters apply to the jobs as well as to the runs.
    let only = host.admin_get("/admin/api/jobs?tenant=new", ADMIN).await;
    let tenants: Vec<&Value> = only["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["tenant"])
        .collect();
    assert_eq!(tenants, [&json!("new")], "{only}");
    assert!(
        only["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant"] == "new")
    );
}

#[tokio::test]
async fn a_stopping_host_starts_no_more_job_runs() {
    let mut host = start("[tenants.acme.plugins.ticker]\n", &[]).await;
    runs_when(&host, "ticker", "acme", |runs| {
        runs.iter().any(|r| r["outcome"] == "ok")
    })
    .await;
    // A stalled client keeps the host in its shutdown grace for 10 s, time
    // for ten more ticks if the scheduler kept going.
    let stalled = host.stalled_client(b"GET /health HTTP/1.1\r\n").await;

    let status = host.terminate(Duration::from_secs(20)).await;
    assert!(status.is_some(), "the host did not stop");
    let logs = host.logs();
    let stop = logs
        .iter()
        .position(|l| l.contains("shutting down"))
        .unwrap();
    let after = logs[stop..]
        .iter()
        .filter(|l| l.contains("job run finished"))
        .count();
    assert!(
        after <= 1,
        "{after} runs finished after the stop:\n{}",
        logs[stop..].join("\n")
    );
    drop(stalled);
}
