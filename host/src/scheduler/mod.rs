//! The scheduler: every (plugin, tenant, job) on its own cron schedule, in
//! its own task, so one slow or failing job never delays another.
//!
//! A run never overlaps the previous run of the same job: when a job is due
//! while its last run is still going, the due time is recorded as skipped.
//! Runs get the plugin call deadline. Each run is recorded with its start,
//! end, outcome, the counts the plugin reported and its error. The latest
//! due time handled is stored, so after a restart the runs missed while the
//! host was down follow the job's policy: `skip` records them as missed,
//! `run-once` runs the job once for all of them.
//!
//! A hot reload re-plans the jobs: a job whose schedule, time zone, policy
//! and switch are unchanged keeps its task; a changed one gets a new task
//! that starts counting from the reload (it inherits the no-overlap lock, so
//! a run still going blocks the new schedule's first run as it would have
//! blocked the old one's); a job whose plugin or tenant is gone stops.

pub mod schedule;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError};

use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, JobSettings};
use crate::runtime::bindings::types::PluginError;
use crate::runtime::{CallError, Runtime};
use crate::store::{JobScheduleRow, NewJobRun, RunEnd, RunOutcome, Trigger};
use schedule::{MissedPolicy, Schedule};

/// Due times counted when working out what was missed; a per-second
/// schedule after a long outage is reported as "at least" this many.
const MISSED_COUNT_CAP: usize = 10_000;

/// Names one job of one plugin for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct JobKey {
    /// Plugin name.
    pub plugin: String,
    /// Tenant name.
    pub tenant: String,
    /// Job name.
    pub job: String,
}

impl std::fmt::Display for JobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.plugin, self.tenant, self.job)
    }
}

/// One job as the scheduler runs it.
#[derive(Debug)]
struct Slot {
    key: JobKey,
    /// The schedule in force; none when disabled or unparsable.
    schedule: Option<Schedule>,
    schedule_text: String,
    timezone: String,
    missed: MissedPolicy,
    enabled: bool,
    /// Held while a run is going; `try_lock` is the no-overlap rule.
    running: Arc<Mutex<()>>,
    /// Next due time, Unix milliseconds; 0 when none.
    next_due_ms: AtomicI64,
    /// Cancelled when a reload replaces or removes this job's plan.
    retired: CancellationToken,
}

/// Where a job's task starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Its next due time, already worked out and stored.
    Planned(i64),
    /// Count from this time, storing the first due time in the task.
    From(i64),
}

/// A job's current state, for the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
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
    pub missed: &'static str,
    /// False when the tenant turned the schedule off (or it does not parse).
    pub enabled: bool,
    /// When it is next due, Unix milliseconds.
    pub next_due_ms: Option<i64>,
    /// True while a run is going.
    pub running: bool,
}

/// How a run went, as recorded, and why it failed when it did.
#[derive(Debug)]
pub struct RunRecord {
    /// The run's id in the history; none when even recording it failed.
    pub id: Option<String>,
    /// What was recorded.
    pub end: RunEnd,
    /// The plugin's error or the host's, when the call failed.
    pub failure: Option<Failure>,
}

/// Why a run's call failed.
#[derive(Debug)]
pub enum Failure {
    /// The plugin returned an error.
    Plugin(PluginError),
    /// The call failed in the host: deadline, limit, trap, overload.
    Call(CallError),
}

/// Runs every scheduled job.
pub struct Scheduler {
    runtime: Arc<Runtime>,
    /// The jobs in force. Swapped whole by a reload; readers clone an
    /// `Arc<Slot>` out and never hold the lock across an await.
    slots: std::sync::Mutex<BTreeMap<JobKey, Arc<Slot>>>,
    /// Cancelled when the host stops: no job starts after that.
    stopped: CancellationToken,
}

impl Scheduler {
    /// Reads every job of every running (plugin, tenant) from the loaded
    /// plugins and the config's overrides. Problems (an override naming no
    /// job, a manifest schedule that does not parse) are logged and that
    /// job's schedule is off.
    pub fn new(runtime: Arc<Runtime>, config: &Config) -> Arc<Self> {
        let slots = plan_jobs(&runtime, config)
            .into_iter()
            .map(|(key, slot)| (key, Arc::new(slot)))
            .collect();
        Arc::new(Self {
            runtime,
            slots: std::sync::Mutex::new(slots),
            stopped: CancellationToken::new(),
        })
    }

    /// Marks runs a stopped host left behind as interrupted, deals with the
    /// runs each job missed meanwhile, then starts one task per job. Every
    /// job knows its next due time when this returns.
    pub async fn start(self: &Arc<Self>) {
        let services = self.runtime.services();
        match services
            .store
            .interrupt_running_jobs(services.now_ms())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "job runs cut short by the last stop"),
            Err(err) => tracing::warn!(error = %err, "cannot close job runs of the last stop"),
        }
        let slots: Vec<Arc<Slot>> = self.lock().values().cloned().collect();
        for slot in &slots {
            let (last, run_missed) = match &slot.schedule {
                Some(schedule) => self.catch_up(slot, schedule).await,
                None => (services.now_ms(), false),
            };
            // Stored before the catch-up run starts: a host killed during
            // that run does not catch the same due time up again.
            let due = self.advance(slot, last).await;
            if run_missed {
                self.spawn_execute(slot.clone(), Trigger::CatchUp, last);
            }
            // A job that is off, or whose schedule has no later date, has
            // nothing to wait for.
            if let Some(due) = due {
                self.spawn_drive(slot.clone(), Start::Planned(due));
            }
        }
        tracing::info!(jobs = slots.len(), "scheduler started");
    }

    /// Re-plans the jobs after a reload swapped in a new registry and
    /// `config`: unchanged jobs keep running untouched, changed and new ones
    /// start counting from now (the old plan's due times say nothing about
    /// what the new one missed), removed ones stop. Runs in flight finish
    /// either way.
    pub fn reload(self: &Arc<Self>, config: &Config) {
        let mut planned = plan_jobs(&self.runtime, config);
        let now = self.runtime.services().now_ms();
        let mut slots = self.lock();
        let mut next = BTreeMap::new();
        for (key, old) in std::mem::take(&mut *slots) {
            match planned.remove(&key) {
                Some(new) if new.same_plan(&old) => {
                    next.insert(key, old);
                }
                Some(mut new) => {
                    tracing::info!(
                        job = %key, schedule = %new.schedule_text, timezone = %new.timezone,
                        enabled = new.enabled, "job schedule changed"
                    );
                    old.retired.cancel();
                    new.running = old.running.clone();
                    let new = Arc::new(new);
                    new.plan_after(now);
                    self.spawn_drive(new.clone(), Start::From(now));
                    next.insert(key, new);
                }
                None => {
                    tracing::info!(job = %key, "job removed");
                    old.retired.cancel();
                    self.spawn_stop(key);
                }
            }
        }
        for (key, new) in planned {
            tracing::info!(job = %key, schedule = %new.schedule_text, "job added");
            let new = Arc::new(new);
            new.plan_after(now);
            self.spawn_drive(new.clone(), Start::From(now));
            next.insert(key, new);
        }
        *slots = next;
    }

    /// Starts no more runs, for a host that is stopping; runs already
    /// going finish on their own.
    pub fn stop(&self) {
        self.stopped.cancel();
        tracing::info!("scheduler stopped");
    }

    /// Every job and where it stands.
    pub fn jobs(&self) -> Vec<JobStatus> {
        self.lock().values().map(|slot| slot.status()).collect()
    }

    /// True when `key` names a job of a running plugin and tenant.
    pub fn has_job(&self, key: &JobKey) -> bool {
        self.lock().contains_key(key)
    }

    /// Runs the job now, by hand, with the same bookkeeping and no-overlap
    /// rule as a scheduled run. None when there is no such job.
    pub async fn run_now(&self, key: &JobKey) -> Option<RunRecord> {
        let slot = self.lock().get(key).cloned()?;
        Some(self.execute(&slot, Trigger::Manual, None).await)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<JobKey, Arc<Slot>>> {
        // The map is replaced whole, so a panic elsewhere cannot leave it
        // half-written: a poisoned lock still holds a sound map.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that a removed job is no longer scheduled.
    fn spawn_stop(&self, key: JobKey) {
        let services = self.runtime.services().clone();
        tokio::spawn(async move {
            let now = services.now_ms();
            let stopped = services
                .store
                .stop_job_schedule(&key.plugin, &key.tenant, &key.job, now)
                .await;
            if let Err(err) = stopped {
                tracing::warn!(job = %key, error = %err, "cannot record that the job stopped");
            }
        });
    }

    /// Starts the job's task, which waits for each due time and starts a
    /// run; cancelled, store writes included, when a reload retires the job
    /// or the host stops.
    fn spawn_drive(self: &Arc<Self>, slot: Arc<Slot>, start: Start) {
        let this = self.clone();
        tokio::spawn(async move {
            let (retired, stopped) = (slot.retired.clone(), this.stopped.clone());
            tokio::select! {
                biased;
                () = stopped.cancelled() => {}
                () = retired.cancelled() => {}
                () = this.drive(slot, start) => {}
            }
        });
    }

    /// One job's life: wait for each due time and start a run.
    async fn drive(self: &Arc<Self>, slot: Arc<Slot>, start: Start) {
        let mut due = match start {
            Start::Planned(due) => Some(due),
            Start::From(last) => self.advance(&slot, last).await,
        };
        let Some(schedule) = slot.schedule.clone() else {
            return;
        };
        let clock = self.runtime.services().clock.clone();
        while let Some(at) = due {
            clock.sleep_until_ms(u64::try_from(at).unwrap_or(0)).await;

            // A clock that jumped (a suspended machine, a test) may have
            // passed several due times: the run is for the latest one.
            let now = self.runtime.services().now_ms();
            let passed = schedule.due_between(at, now, MISSED_COUNT_CAP);
            let last = passed.last().copied().unwrap_or(at);
            if !passed.is_empty() {
                let why = format!("{} due time(s) passed while the clock jumped", passed.len());
                self.record_missed(&slot, at, &why).await;
            }

            // Stored before the run starts: a host killed during the run
            // does not catch the same due time up again.
            due = self.advance(&slot, last).await;
            self.spawn_execute(slot.clone(), Trigger::Schedule, last);
        }
    }

    /// Works out the next due time after `last` and stores both, so the
    /// next start knows where the job stands. A job that is off stores
    /// neither.
    async fn advance(&self, slot: &Slot, last: i64) -> Option<i64> {
        let due = slot.plan_after(last);
        let last = slot.schedule.is_some().then_some(last);
        self.save(slot, last, due).await;
        due
    }

    /// Starts a run for `due` in its own task, unless the host is stopping
    /// or a reload retired the job meanwhile.
    fn spawn_execute(self: &Arc<Self>, slot: Arc<Slot>, trigger: Trigger, due: i64) {
        if self.stopped.is_cancelled() || slot.retired.is_cancelled() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.execute(&slot, trigger, Some(due)).await;
        });
    }

    /// Deals with due times that passed while the host was down, following
    /// the job's policy. Returns the latest due time dealt with and whether
    /// the policy wants it run now.
    async fn catch_up(&self, slot: &Slot, schedule: &Schedule) -> (i64, bool) {
        let services = self.runtime.services();
        let now = services.now_ms();
        let k = &slot.key;
        let stored = match services
            .store
            .job_schedule(&k.plugin, &k.tenant, &k.job)
            .await
        {
            Ok(stored) => stored,
            Err(err) => {
                tracing::warn!(job = %k, error = %err, "cannot read the job's last due time");
                None
            }
        };
        // A job seen for the first time starts from now: nothing was missed.
        let Some(last) = stored.and_then(|row| row.last_due_at_ms) else {
            return (now, false);
        };
        let missed = schedule.due_between(last, now, MISSED_COUNT_CAP);
        let Some(&latest) = missed.last() else {
            return (last, false);
        };
        let count = if missed.len() == MISSED_COUNT_CAP {
            format!("at least {}", missed.len())
        } else {
            missed.len().to_string()
        };
        tracing::info!(job = %k, missed = %count, policy = slot.missed.as_str(), "runs missed");
        match slot.missed {
            MissedPolicy::Skip => {
                let why = format!("{count} run(s) due while the host was down (policy skip)");
                self.record_missed(slot, latest, &why).await;
                (latest, false)
            }
            MissedPolicy::RunOnce => (latest, true),
        }
    }

    /// Runs the job unless its previous run is still going, and records it.
    async fn execute(&self, slot: &Slot, trigger: Trigger, due: Option<i64>) -> RunRecord {
        let services = self.runtime.services();
        let run = NewJobRun {
            plugin: slot.key.plugin.clone(),
            tenant: slot.key.tenant.clone(),
            job: slot.key.job.clone(),
            trigger,
            scheduled_for_ms: due,
            started_at_ms: services.now_ms(),
        };
        let Ok(_running) = slot.running.clone().try_lock_owned() else {
            return self.record_skipped(slot, &run).await;
        };
        let id = match services.store.start_job_run(&run).await {
            Ok(id) => Some(id),
            Err(err) => {
                tracing::warn!(job = %slot.key, error = %err, "cannot record the run's start");
                None
            }
        };
        let (end, failure) = self.call(&slot.key).await;
        if let Some(id) = &id
            && let Err(err) = services
                .store
                .finish_job_run(id, &end, services.now_ms())
                .await
        {
            tracing::warn!(job = %slot.key, run = %id, error = %err, "cannot record the run's end");
        }
        report(&slot.key, trigger, &end);
        RunRecord { id, end, failure }
    }

    /// Calls `run-job` and turns the answer into what the history keeps.
    async fn call(&self, key: &JobKey) -> (RunEnd, Option<Failure>) {
        let registry = self.runtime.services().registry.load();
        let Some((plugin, binding)) = registry.binding(&key.plugin, &key.tenant) else {
            let error = format!(
                "plugin {} is not running for tenant {}",
                key.plugin, key.tenant
            );
            return (ended(RunOutcome::Failed, Some(error)), None);
        };
        match self.runtime.run_job(plugin, binding, key.job.clone()).await {
            Ok(Ok(report)) => {
                let end = RunEnd {
                    outcome: RunOutcome::Ok,
                    counts: report.counts,
                    summary: Some(report.summary),
                    error: None,
                };
                (end, None)
            }
            Ok(Err(err)) => {
                let end = ended(RunOutcome::Failed, Some(plugin_error_text(&err)));
                (end, Some(Failure::Plugin(err)))
            }
            Err(err) => {
                let outcome = match err {
                    CallError::Timeout(_) => RunOutcome::Timeout,
                    _ => RunOutcome::Failed,
                };
                (
                    ended(outcome, Some(err.to_string())),
                    Some(Failure::Call(err)),
                )
            }
        }
    }

    async fn record_skipped(&self, slot: &Slot, run: &NewJobRun) -> RunRecord {
        let why = "the previous run of this job was still going".to_owned();
        let end = ended(RunOutcome::Skipped, Some(why));
        let id = match self
            .runtime
            .services()
            .store
            .record_job_run(run, &end)
            .await
        {
            Ok(id) => Some(id),
            Err(err) => {
                tracing::warn!(job = %slot.key, error = %err, "cannot record a skipped run");
                None
            }
        };
        report(&slot.key, run.trigger, &end);
        RunRecord {
            id,
            end,
            failure: None,
        }
    }

    async fn record_missed(&self, slot: &Slot, due: i64, why: &str) {
        let services = self.runtime.services();
        let run = NewJobRun {
            plugin: slot.key.plugin.clone(),
            tenant: slot.key.tenant.clone(),
            job: slot.key.job.clone(),
            trigger: Trigger::Schedule,
            scheduled_for_ms: Some(due),
            started_at_ms: services.now_ms(),
        };
        let end = ended(RunOutcome::Missed, Some(why.to_owned()));
        if let Err(err) = services.store.record_job_run(&run, &end).await {
            tracing::warn!(job = %slot.key, error = %err, "cannot record missed runs");
        }
    }

    async fn save(&self, slot: &Slot, last: Option<i64>, next: Option<i64>) {
        let row = JobScheduleRow {
            plugin: slot.key.plugin.clone(),
            tenant: slot.key.tenant.clone(),
            job: slot.key.job.clone(),
            schedule: slot.schedule_text.clone(),
            timezone: slot.timezone.clone(),
            missed: slot.missed.as_str().to_owned(),
            enabled: slot.enabled,
            last_due_at_ms: last,
            next_due_at_ms: next,
        };
        let services = self.runtime.services();
        if let Err(err) = services
            .store
            .save_job_schedule(&row, services.now_ms())
            .await
        {
            tracing::warn!(job = %slot.key, error = %err, "cannot store the job's due times");
        }
    }
}

impl Slot {
    /// Sets and returns the next due time after `last`; none when the job
    /// is off or its schedule has no later date.
    fn plan_after(&self, last: i64) -> Option<i64> {
        let due = self.schedule.as_ref().and_then(|s| s.next_after(last));
        self.next_due_ms.store(due.unwrap_or(0), Ordering::Relaxed);
        due
    }

    fn new(
        key: JobKey,
        default: &str,
        settings: Option<&JobSettings>,
        zone: chrono_tz::Tz,
    ) -> Self {
        let text = settings
            .and_then(|s| s.schedule.clone())
            .unwrap_or_else(|| default.to_owned());
        let enabled = settings.is_none_or(|s| s.enabled);
        let schedule = match Schedule::parse(&text, zone) {
            Ok(schedule) => enabled.then_some(schedule),
            Err(reason) => {
                tracing::error!(job = %key, reason, "job schedule does not parse; not scheduled");
                None
            }
        };
        Self {
            enabled: schedule.is_some(),
            key,
            schedule,
            schedule_text: text,
            timezone: zone.name().to_owned(),
            missed: settings.map(|s| s.missed).unwrap_or_default(),
            running: Arc::new(Mutex::new(())),
            next_due_ms: AtomicI64::new(0),
            retired: CancellationToken::new(),
        }
    }

    /// True when both would run the job at the same times.
    fn same_plan(&self, other: &Slot) -> bool {
        self.schedule_text == other.schedule_text
            && self.timezone == other.timezone
            && self.missed == other.missed
            && self.enabled == other.enabled
    }

    fn status(&self) -> JobStatus {
        let next = self.next_due_ms.load(Ordering::Relaxed);
        JobStatus {
            plugin: self.key.plugin.clone(),
            tenant: self.key.tenant.clone(),
            job: self.key.job.clone(),
            schedule: self.schedule_text.clone(),
            timezone: self.timezone.clone(),
            missed: self.missed.as_str(),
            enabled: self.enabled,
            next_due_ms: (next > 0).then_some(next),
            running: self.running.try_lock().is_err(),
        }
    }
}

/// Every job of every running (plugin, tenant), with the schedule the
/// manifest gives it unless the tenant's config overrides it.
fn plan_jobs(runtime: &Runtime, config: &Config) -> BTreeMap<JobKey, Slot> {
    let registry = runtime.services().registry.load();
    let mut slots = BTreeMap::new();
    for binding in registry.bindings() {
        let Some(plugin) = registry.plugin(&binding.plugin) else {
            continue;
        };
        let zone = config
            .tenants
            .get(&binding.tenant)
            .map_or(chrono_tz::UTC, |t| t.timezone);
        // Overrides naming no job are the registry's to report; they match
        // nothing here.
        let overrides = &binding.settings.jobs;
        for spec in &plugin.manifest.jobs {
            let key = JobKey {
                plugin: binding.plugin.clone(),
                tenant: binding.tenant.clone(),
                job: spec.name.clone(),
            };
            let slot = Slot::new(key.clone(), &spec.schedule, overrides.get(&spec.name), zone);
            slots.insert(key, slot);
        }
    }
    slots
}

fn ended(outcome: RunOutcome, error: Option<String>) -> RunEnd {
    RunEnd {
        outcome,
        counts: Vec::new(),
        summary: None,
        error,
    }
}

fn plugin_error_text(err: &PluginError) -> String {
    match err {
        PluginError::Retryable(m) => format!("retryable: {m}"),
        PluginError::Permanent(m) => format!("permanent: {m}"),
        PluginError::InvalidInput(m) => format!("invalid input: {m}"),
        PluginError::Unsupported(m) => format!("unsupported: {m}"),
    }
}

fn report(key: &JobKey, trigger: Trigger, end: &RunEnd) {
    let (outcome, trigger) = (end.outcome.as_str(), trigger.as_str());
    let error = end.error.as_deref().unwrap_or("");
    match end.outcome {
        RunOutcome::Ok => tracing::info!(job = %key, trigger, outcome, "job run finished"),
        RunOutcome::Skipped | RunOutcome::Missed => {
            tracing::info!(job = %key, trigger, outcome, reason = error, "job not run")
        }
        _ => tracing::warn!(job = %key, trigger, outcome, error, "job run failed"),
    }
}
