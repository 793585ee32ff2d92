//! The scheduler's records: where each scheduled job stands and the
//! history of its runs.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::Store;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Its schedule came due.
    Schedule,
    /// The one run the `run-once` policy makes for runs missed while the
    /// host was down.
    CatchUp,
    /// An operator asked for it (`jobs run` or the admin API).
    Manual,
}

impl Trigger {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::CatchUp => "catch-up",
            Self::Manual => "manual",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Still going.
    Running,
    /// The plugin reported success.
    Ok,
    /// The plugin returned an error or trapped.
    Failed,
    /// The run passed the plugin call deadline.
    Timeout,
    /// Not run: the previous run of the same job was still going.
    Skipped,
    /// Not run: due while the host was down, and the job's policy is `skip`.
    Missed,
    /// The host stopped while it was running.
    Interrupted,
}

impl RunOutcome {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Skipped => "skipped",
            Self::Missed => "missed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// A run about to start (or a skip about to be recorded).
#[derive(Debug, Clone)]
pub struct NewJobRun {
    /// Plugin name.
    pub plugin: String,
    /// Tenant name.
    pub tenant: String,
    /// Job name.
    pub job: String,
    /// What started it.
    pub trigger: Trigger,
    /// The scheduled time it is for, Unix milliseconds; none when manual.
    pub scheduled_for_ms: Option<i64>,
    /// When it started, Unix milliseconds.
    pub started_at_ms: i64,
}

/// How a run ended, as recorded.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// The outcome.
    pub outcome: RunOutcome,
    /// Counts the plugin reported.
    pub counts: Vec<(String, u64)>,
    /// The plugin's summary.
    pub summary: Option<String>,
    /// Why it failed or was not run.
    pub error: Option<String>,
}

/// One recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    /// The run's id.
    pub id: String,
    /// Plugin name.
    pub plugin: String,
    /// Tenant name.
    pub tenant: String,
    /// Job name.
    pub job: String,
    /// `schedule`, `catch-up` or `manual`.
    pub trigger: String,
    /// The scheduled time it was for.
    pub scheduled_for_ms: Option<i64>,
    /// Start, Unix milliseconds.
    pub started_at_ms: i64,
    /// End, Unix milliseconds; none while running.
    pub finished_at_ms: Option<i64>,
    /// `running`, `ok`, `failed`, `timeout`, `skipped`, `missed` or
    /// `interrupted`.
    pub outcome: String,
    /// Counts the plugin reported.
    pub counts: BTreeMap<String, u64>,
    /// The plugin's summary.
    pub summary: Option<String>,
    /// The error, or why it was not run.
    pub error: Option<String>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct JobRunFilter {
    /// Only this plugin.
    pub plugin: Option<String>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this job.
    pub job: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Where one scheduled job stands.
#[derive(Debug, Clone, Serialize)]
pub struct JobScheduleRow {
    /// Plugin name.
    pub plugin: String,
    /// Tenant name.
    pub tenant: String,
    /// Job name.
    pub job: String,
    /// The cron schedule in force.
    pub schedule: String,
    /// The tenant's time zone.
    pub timezone: String,
    /// `skip` or `run-once`.
    pub missed: String,
    /// False when the tenant turned the job off.
    pub enabled: bool,
    /// The latest scheduled time dealt with.
    pub last_due_at_ms: Option<i64>,
    /// When it is next due.
    pub next_due_at_ms: Option<i64>,
}

const RUN_COLUMNS: &str = "id, plugin, tenant, job, trigger, scheduled_for, started_at, \
    finished_at, outcome, counts, summary, error";

impl Store {
    /// Records a run as started; returns its id.
    pub async fn start_job_run(&self, run: &NewJobRun) -> sqlx::Result<String> {
        self.insert_job_run(run, None).await
    }

    /// Records a run that did not happen (skipped or missed) in one
    /// statement, so no reader ever sees it as running.
    pub async fn record_job_run(&self, run: &NewJobRun, end: &RunEnd) -> sqlx::Result<String> {
        self.insert_job_run(run, Some(end)).await
    }

    /// Inserts a run, running when `end` is none, else already ended at its
    /// start time.
    async fn insert_job_run(&self, run: &NewJobRun, end: Option<&RunEnd>) -> sqlx::Result<String> {
        let id = format!(
            "run_{:013x}{:08x}",
            run.started_at_ms,
            rand::random::<u32>()
        );
        let counts = end.map(|e| counts_json(&e.counts)).transpose()?;
        sqlx::query(
            "INSERT INTO job_runs (id, plugin, tenant, job, trigger, scheduled_for, started_at,
                 finished_at, outcome, counts, summary, error)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, '{}'), ?, ?)",
        )
        .bind(&id)
        .bind(&run.plugin)
        .bind(&run.tenant)
        .bind(&run.job)
        .bind(run.trigger.as_str())
        .bind(run.scheduled_for_ms)
        .bind(run.started_at_ms)
        .bind(end.map(|_| run.started_at_ms))
        .bind(end.map_or("running", |e| e.outcome.as_str()))
        .bind(counts)
        .bind(end.and_then(|e| e.summary.as_deref()))
        .bind(end.and_then(|e| e.error.as_deref()))
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Records how run `id` ended.
    pub async fn finish_job_run(&self, id: &str, end: &RunEnd, now_ms: i64) -> sqlx::Result<()> {
        let counts = counts_json(&end.counts)?;
        sqlx::query(
            "UPDATE job_runs SET outcome = ?, finished_at = ?, counts = ?, summary = ?, error = ?
             WHERE id = ?",
        )
        .bind(end.outcome.as_str())
        .bind(now_ms)
        .bind(counts)
        .bind(end.summary.as_deref())
        .bind(end.error.as_deref())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks runs left `running` by a host that stopped as interrupted;
    /// returns how many.
    pub async fn interrupt_running_jobs(&self, now_ms: i64) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "UPDATE job_runs SET outcome = 'interrupted', finished_at = ?,
                 error = 'the host stopped during the run'
             WHERE outcome = 'running'",
        )
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Runs matching `filter`, newest first.
    pub async fn list_job_runs(&self, filter: &JobRunFilter) -> sqlx::Result<Vec<JobRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM job_runs
             WHERE (?1 IS NULL OR plugin = ?1) AND (?2 IS NULL OR tenant = ?2)
               AND (?3 IS NULL OR job = ?3)
             ORDER BY started_at DESC, id DESC LIMIT ?4"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.plugin.as_deref())
            .bind(filter.tenant.as_deref())
            .bind(filter.job.as_deref())
            .bind(i64::from(filter.limit.clamp(1, 1000)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The stored state of one scheduled job.
    pub async fn job_schedule(
        &self,
        plugin: &str,
        tenant: &str,
        job: &str,
    ) -> sqlx::Result<Option<JobScheduleRow>> {
        let row = sqlx::query(
            "SELECT plugin, tenant, job, schedule, timezone, missed, enabled, last_due_at,
                 next_due_at
             FROM job_schedules WHERE plugin = ? AND tenant = ? AND job = ?",
        )
        .bind(plugin)
        .bind(tenant)
        .bind(job)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| schedule_from_row(&row)).transpose()
    }

    /// Every scheduled job the host has kept, by plugin, tenant and job.
    pub async fn list_job_schedules(&self) -> sqlx::Result<Vec<JobScheduleRow>> {
        let rows = sqlx::query(
            "SELECT plugin, tenant, job, schedule, timezone, missed, enabled, last_due_at,
                 next_due_at
             FROM job_schedules ORDER BY plugin, tenant, job",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Stores where a scheduled job stands.
    pub async fn save_job_schedule(&self, row: &JobScheduleRow, now_ms: i64) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO job_schedules (plugin, tenant, job, schedule, timezone, missed, enabled,
                 last_due_at, next_due_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (plugin, tenant, job) DO UPDATE SET
                 schedule = excluded.schedule, timezone = excluded.timezone,
                 missed = excluded.missed, enabled = excluded.enabled,
                 last_due_at = excluded.last_due_at, next_due_at = excluded.next_due_at,
                 updated_at = excluded.updated_at",
        )
        .bind(&row.plugin)
        .bind(&row.tenant)
        .bind(&row.job)
        .bind(&row.schedule)
        .bind(&row.timezone)
        .bind(&row.missed)
        .bind(row.enabled)
        .bind(row.last_due_at_ms)
        .bind(row.next_due_at_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a job the running host no longer schedules (its plugin or
    /// tenant is gone) as off, keeping its last due time.
    pub async fn stop_job_schedule(
        &self,
        plugin: &str,
        tenant: &str,
        job: &str,
        now_ms: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE job_schedules SET enabled = 0, next_due_at = NULL, updated_at = ?
             WHERE plugin = ? AND tenant = ? AND job = ?",
        )
        .bind(now_ms)
        .bind(plugin)
        .bind(tenant)
        .bind(job)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A run's counts as stored: a JSON object in key order.
fn counts_json(counts: &[(String, u64)]) -> sqlx::Result<String> {
    let counts: BTreeMap<&str, u64> = counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    serde_json::to_string(&counts).map_err(|e| sqlx::Error::Encode(e.into()))
}

fn run_from_row(row: &SqliteRow) -> sqlx::Result<JobRun> {
    let counts: String = row.try_get("counts")?;
    Ok(JobRun {
        id: row.try_get("id")?,
        plugin: row.try_get("plugin")?,
        tenant: row.try_get("tenant")?,
        job: row.try_get("job")?,
        trigger: row.try_get("trigger")?,
        scheduled_for_ms: row.try_get("scheduled_for")?,
        started_at_ms: row.try_get("started_at")?,
        finished_at_ms: row.try_get("finished_at")?,
        outcome: row.try_get("outcome")?,
        counts: serde_json::from_str(&counts).map_err(|e| sqlx::Error::Decode(e.into()))?,
        summary: row.try_get("summary")?,
        error: row.try_get("error")?,
    })
}

fn schedule_from_row(row: &SqliteRow) -> sqlx::Result<JobScheduleRow> {
    Ok(JobScheduleRow {
        plugin: row.try_get("plugin")?,
        tenant: row.try_get("tenant")?,
        job: row.try_get("job")?,
        schedule: row.try_get("schedule")?,
        timezone: row.try_get("timezone")?,
        missed: row.try_get("missed")?,
        enabled: row.try_get("enabled")?,
        last_due_at_ms: row.try_get("last_due_at")?,
        next_due_at_ms: row.try_get("next_due_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(trigger: Trigger, at: i64) -> NewJobRun {
        NewJobRun {
            plugin: "p".into(),
            tenant: "t".into(),
            job: "sync".into(),
            trigger,
            scheduled_for_ms: Some(at),
            started_at_ms: at,
        }
    }

    #[tokio::test]
    async fn runs_are_recorded_with_counts_and_listed_newest_first() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let id = store
            .start_job_run(&run(Trigger::Schedule, 1_000))
            .await
            .expect("start");
        let end = RunEnd {
            outcome: RunOutcome::Ok,
            counts: vec![("synced".into(), 3)],
            summary: Some("3 synced".into()),
            error: None,
        };
        store
            .finish_job_run(&id, &end, 1_500)
            .await
            .expect("finish");
        let skipped = RunEnd {
            outcome: RunOutcome::Skipped,
            counts: Vec::new(),
            summary: None,
            error: Some("still running".into()),
        };
        store
            .record_job_run(&run(Trigger::Schedule, 2_000), &skipped)
            .await
            .expect("skip");

        let filter = JobRunFilter {
            limit: 10,
            ..JobRunFilter::default()
        };
        let runs = store.list_job_runs(&filter).await.expect("list");
        let outcomes: Vec<&str> = runs.iter().map(|r| r.outcome.as_str()).collect();
        assert_eq!(outcomes, ["skipped", "ok"]);
        assert_eq!(runs[1].counts["synced"], 3);
        assert_eq!(runs[1].finished_at_ms, Some(1_500));
    }

    #[tokio::test]
    async fn runs_left_running_by_a_stopped_host_are_marked_interrupted() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        store
            .start_job_run(&run(Trigger::Manual, 1_000))
            .await
            .expect("start");
        assert_eq!(store.interrupt_running_jobs(5_000).await.expect("sweep"), 1);
        let filter = JobRunFilter {
            limit: 10,
            ..JobRunFilter::default()
        };
        let runs = store.list_job_runs(&filter).await.expect("list");
        assert_eq!(runs[0].outcome, "interrupted");
    }
}
