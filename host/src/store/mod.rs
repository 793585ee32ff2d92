//! The durable store: SQLite through sqlx, with migrations embedded in the
//! binary. Holds the delivery inbox, the plugins' key-value data and the
//! scheduler's job history.

mod deliveries;
mod ingest;
mod jobs;
mod kv;
mod txn;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

pub use deliveries::{
    AttemptOutcome, Delivery, DeliveryFilter, DeliveryStatus, Finished, Inserted, NewDelivery,
    Replay,
};
pub use ingest::IngestError;
pub use jobs::{JobRun, JobRunFilter, JobScheduleRow, NewJobRun, RunEnd, RunOutcome, Trigger};
pub use kv::{KV_LIST_MAX, KV_MAX_KEY_BYTES, KV_MAX_VALUE_BYTES, KvError, KvScope};
pub use txn::DeliveryTxn;

/// A writer waits this long for SQLite's lock before the store reports
/// itself unavailable (and the router answers 503).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite serialises writers, so a few connections cover readers and one
/// writer without queueing behind each other.
const MAX_CONNECTIONS: u32 = 8;

/// A handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    ingest: tokio::sync::mpsc::Sender<ingest::Job>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs the
    /// migrations, waiting [`DEFAULT_BUSY_TIMEOUT`] for a locked database.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Self::open_with(url, DEFAULT_BUSY_TIMEOUT).await
    }

    /// Opens the database at `url`; a write that cannot get SQLite's lock
    /// within `busy_timeout` fails instead of waiting longer.
    ///
    /// Must run inside a tokio runtime: it starts the inbox's writer task.
    pub async fn open_with(url: &str, busy_timeout: Duration) -> anyhow::Result<Self> {
        create_parent_dir(url)?;
        Self::connect(url, busy_timeout, true).await
    }

    /// Opens the database at `url` only if it is already there: the
    /// commands that inspect a host's store must not leave an empty one
    /// (and its folders) behind when pointed at the wrong config, and must
    /// say so instead of reporting an empty inbox.
    ///
    /// Must run inside a tokio runtime: it starts the inbox's writer task.
    pub async fn open_existing(url: &str, busy_timeout: Duration) -> anyhow::Result<Self> {
        if url.contains(":memory:") {
            bail!("database {url} is in memory: only the host that opened it can see it");
        }
        if let Some(path) = file_path(url)
            && !path.exists()
        {
            bail!(
                "no database at {}: has the host run with this config?",
                path.display()
            );
        }
        Self::connect(url, busy_timeout, false).await
    }

    /// Connects to `url` and runs the migrations; `create` says whether a
    /// missing database file may be created.
    async fn connect(url: &str, busy_timeout: Duration, create: bool) -> anyhow::Result<Self> {
        // NORMAL is crash-safe in WAL mode (a killed process loses nothing
        // committed); the inbox's writer raises it to FULL for its own
        // commits, so an acknowledged webhook also survives a power cut.
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("bad database url {url}"))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        // Each connection to `:memory:` is a database of its own, so an
        // in-memory store (tests) must keep to one.
        let max = if url.contains(":memory:") {
            1
        } else {
            MAX_CONNECTIONS
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open database {url}"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .with_context(|| format!("cannot migrate database {url}"))?;
        let ingest = ingest::spawn(pool.clone());
        Ok(Self { pool, ingest })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Runs `work` inside `BEGIN IMMEDIATE`, so that a read-modify-write
    /// holds the write lock from its first read and never fails to upgrade.
    async fn write_txn<T>(
        &self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        let mut conn = self.pool.acquire().await?;
        in_write_txn(&mut conn, work).await
    }
}

/// Runs `work` on `conn` inside `BEGIN IMMEDIATE` … `COMMIT`, rolling back
/// on any error.
async fn in_write_txn<T>(
    conn: &mut SqliteConnection,
    work: impl AsyncFnOnce(&mut SqliteConnection) -> sqlx::Result<T>,
) -> sqlx::Result<T> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    match work(conn).await {
        Ok(value) => match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(value),
            Err(err) => {
                rollback(conn).await;
                Err(err)
            }
        },
        Err(err) => {
            rollback(conn).await;
            Err(err)
        }
    }
}

async fn rollback(conn: &mut SqliteConnection) {
    // The original error is what the caller needs; a rollback only fails
    // when the connection itself is broken, so it is just logged.
    if let Err(err) = sqlx::query("ROLLBACK").execute(conn).await {
        tracing::debug!(error = %err, "rollback failed");
    }
}

fn create_parent_dir(url: &str) -> anyhow::Result<()> {
    let Some(path) = file_path(url) else {
        return Ok(());
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create database folder {}", parent.display()))?;
    }
    Ok(())
}

/// The file behind a `sqlite://` URL; none for an in-memory database or a
/// URL of another form (which sqlx then judges).
fn file_path(url: &str) -> Option<&Path> {
    let path = url.strip_prefix("sqlite://")?;
    let path = path.split('?').next().unwrap_or(path);
    (path != ":memory:").then(|| Path::new(path))
}
