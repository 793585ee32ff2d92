//! The durable store: SQLite through sqlx, with migrations embedded in the
//! binary. Holds the delivery inbox and the plugins' key-value data.

mod deliveries;
mod kv;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

pub use deliveries::{
    AttemptOutcome, Delivery, DeliveryFilter, DeliveryStatus, Inserted, NewDelivery,
};
pub use kv::{KV_LIST_MAX, KV_MAX_KEY_BYTES, KV_MAX_VALUE_BYTES, KvError, KvScope};

/// A writer waits this long for SQLite's lock before the store reports
/// itself unavailable (and the router answers 503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite serialises writers, so a few connections cover readers and one
/// writer without queueing behind each other.
const MAX_CONNECTIONS: u32 = 8;

/// A handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs the
    /// migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        create_parent_dir(url)?;
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("bad database url {url}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
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
        Ok(Self { pool })
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
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        match work(&mut conn).await {
            Ok(value) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(value)
            }
            Err(err) => {
                // The original error matters more than a failed rollback,
                // and dropping a connection mid-transaction rolls it back.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(err)
            }
        }
    }
}

fn create_parent_dir(url: &str) -> anyhow::Result<()> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    let path = path.split('?').next().unwrap_or(path);
    if path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create database folder {}", parent.display()))?;
    }
    Ok(())
}
