-- The scheduler: where each (plugin, tenant, job) stands, and every run.

-- One row per scheduled job, kept by the running host. `last_due_at` is the
-- latest scheduled time the host has dealt with (run, skipped or recorded
-- as missed), which is how a restart knows what it missed.
CREATE TABLE job_schedules (
    plugin      TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    job         TEXT NOT NULL,
    schedule    TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    missed      TEXT NOT NULL CHECK (missed IN ('skip', 'run-once')),
    enabled     INTEGER NOT NULL,
    last_due_at INTEGER,
    next_due_at INTEGER,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (plugin, tenant, job)
);

-- Run history: one row per run, skip or missed stretch.
CREATE TABLE job_runs (
    id            TEXT PRIMARY KEY,
    plugin        TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    job           TEXT NOT NULL,
    trigger       TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'manual')),
    scheduled_for INTEGER,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    outcome       TEXT NOT NULL CHECK (outcome IN
                      ('running', 'ok', 'failed', 'timeout', 'skipped', 'missed', 'interrupted')),
    counts        TEXT NOT NULL DEFAULT '{}',
    summary       TEXT,
    error         TEXT
);

CREATE INDEX job_runs_by_job ON job_runs (plugin, tenant, job, started_at);
CREATE INDEX job_runs_recent ON job_runs (started_at);
CREATE INDEX job_runs_running ON job_runs (outcome) WHERE outcome = 'running';
