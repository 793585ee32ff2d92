//! `switchyard jobs list|run`: the schedule and history straight from the
//! database, and a run now through a running host (the plugin has to run
//! inside the host).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::deliveries::{clip, open_store, utc};
use super::out::outln;
use super::{JobRunArgs, JobsListArgs};
use crate::config::Config;
use crate::store::JobRunFilter;

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
        outln!(
            "{:#}",
            serde_json::json!({ "jobs": schedules, "runs": runs })
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<16} {:<10} {:<16} {:<16} {:<16} {:<8} {:<19}",
        "PLUGIN",
        "TENANT",
        "JOB",
        "SCHEDULE",
        "TIMEZONE",
        "MISSED",
        "NEXT DUE (UTC)"
    );
    for s in &schedules {
        let next = match (s.enabled, s.next_due_at_ms) {
            (false, _) => "off".to_owned(),
            (true, Some(ms)) => utc(ms),
            (true, None) => "-".to_owned(),
        };
        outln!(
            "{:<16} {:<10} {:<16} {:<16} {:<16} {:<8} {next}",
            s.plugin,
            s.tenant,
            s.job,
            s.schedule,
            s.timezone,
            s.missed
        );
    }
    outln!();
    outln!(
        "{:<16} {:<10} {:<16} {:<9} {:<11} {:<19} {:>8}  RESULT",
        "PLUGIN",
        "TENANT",
        "JOB",
        "TRIGGER",
        "OUTCOME",
        "STARTED (UTC)",
        "MS"
    );
    for r in &runs {
        let took = r
            .finished_at_ms
            .map_or_else(|| "-".to_owned(), |f| (f - r.started_at_ms).to_string());
        let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let result = r.error.clone().unwrap_or_else(|| counts.join(" "));
        outln!(
            "{:<16} {:<10} {:<16} {:<9} {:<11} {:<19} {:>8}  {}",
            r.plugin,
            r.tenant,
            r.job,
            r.trigger,
            r.outcome,
            utc(r.started_at_ms),
            took,
            clip(&result, 60)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn run(args: JobRunArgs) -> anyhow::Result<ExitCode> {
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => host_url(&args.config.config)?,
    };
    let url = format!(
        "{base}/admin/api/jobs/{}/{}/{}",
        args.plugin, args.tenant, args.job
    );
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.token)
        .send()
        .await
        .with_context(|| format!("cannot reach the host at {base}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let body: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{url} did not answer JSON"))?;
    if status.is_success() {
        let counts = body["counts"].as_object().cloned().unwrap_or_default();
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        outln!(
            "{} ran: {}",
            args.job,
            body["summary"].as_str().unwrap_or("")
        );
        if !counts.is_empty() {
            outln!("counts: {}", counts.join(" "));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let code = body["error"].as_str().unwrap_or("error");
    let message = body["message"].as_str().unwrap_or("");
    eprintln!("{} did not run: {code} ({status}): {message}", args.job);
    Ok(ExitCode::FAILURE)
}

/// The running host's address from the config's `listen`, or the default
/// address when there is no config file.
fn host_url(config: &Path) -> anyhow::Result<String> {
    if !config.exists() {
        return Ok(format!("http://{}", crate::config::DEFAULT_LISTEN));
    }
    Ok(format!("http://{}", Config::load(config)?.listen))
}
