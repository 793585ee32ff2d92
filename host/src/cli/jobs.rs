//! `switchyard jobs list|run`: the schedule and history straight from the
//! database, and a run now through a running host (the plugin has to run
//! inside the host).

use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};

use super::deliveries::open_store;
use super::out::{clip, outln, print_table, utc};
use super::remote::AdminApi;
use super::{JobRunArgs, JobsListArgs};
use crate::config::Config;
use crate::store::{JobRun, JobRunFilter, JobScheduleRow};

/// Columns of the schedule table.
const SCHEDULE_COLUMNS: [&str; 7] = [
    "PLUGIN",
    "TENANT",
    "JOB",
    "SCHEDULE",
    "TIMEZONE",
    "MISSED",
    "NEXT DUE (UTC)",
];

/// Columns of the run history table.
const RUN_COLUMNS: [&str; 8] = [
    "PLUGIN",
    "TENANT",
    "JOB",
    "TRIGGER",
    "OUTCOME",
    "STARTED (UTC)",
    "MS",
    "RESULT",
];

pub(super) async fn list(args: JobsListArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config.config)?;
    let store = open_store(&config).await?;
    let schedules = store
        .list_job_schedules()
        .await
        .context("cannot list jobs")?;
    let filter = JobRunFilter {
        limit: args.limit,
        ..JobRunFilter::default()
    };
    let runs = store
        .list_job_runs(&filter)
        .await
        .context("cannot list job runs")?;
    if args.json {
        outln!("{:#}", json!({ "jobs": schedules, "runs": runs }));
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = schedules.iter().map(schedule_row).collect();
    print_table(&SCHEDULE_COLUMNS, &rows);
    outln!();
    let rows: Vec<Vec<String>> = runs.iter().map(run_row).collect();
    print_table(&RUN_COLUMNS, &rows);
    Ok(ExitCode::SUCCESS)
}

fn schedule_row(s: &JobScheduleRow) -> Vec<String> {
    let next = match (s.enabled, s.next_due_at_ms) {
        (false, _) => "off".to_owned(),
        (true, Some(ms)) => utc(ms),
        (true, None) => "-".to_owned(),
    };
    vec![
        s.plugin.clone(),
        s.tenant.clone(),
        s.job.clone(),
        s.schedule.clone(),
        s.timezone.clone(),
        s.missed.clone(),
        next,
    ]
}

fn run_row(r: &JobRun) -> Vec<String> {
    let took = r
        .finished_at_ms
        .map_or_else(|| "-".to_owned(), |f| (f - r.started_at_ms).to_string());
    let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let result = r.error.clone().unwrap_or_else(|| counts.join(" "));
    vec![
        r.plugin.clone(),
        r.tenant.clone(),
        r.job.clone(),
        r.trigger.clone(),
        r.outcome.clone(),
        utc(r.started_at_ms),
        took,
        clip(&result, 60),
    ]
}

/// Runs the job now through the host's admin API and prints its report.
pub(super) async fn run(args: JobRunArgs) -> anyhow::Result<ExitCode> {
    let api = AdminApi::locate(&args.host)?;
    let path = ["jobs", &args.plugin, &args.tenant, &args.job];
    let body = api
        .post(&path, &json!({}))
        .await
        .with_context(|| format!("{} did not run", args.job))?;
    let counts = body["counts"].as_object().cloned().unwrap_or_default();
    let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    outln!("{} ran: {}", args.job, text(&body["summary"]));
    if !counts.is_empty() {
        outln!("counts: {}", counts.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}
