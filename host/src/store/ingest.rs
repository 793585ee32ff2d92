//! Group commit for the inbox: one writer task takes every queued insert,
//! commits them in a single transaction with one fsync, then answers each
//! waiter. Under load a batch grows by itself while the previous commit is
//! syncing, so durable ingest scales with concurrency without adding
//! latency when the host is idle.

use std::fmt;

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::deliveries::{Inserted, NewDelivery, insert_many};
use super::in_write_txn;

/// Inserts waiting for the writer; past this, senders wait their turn.
const QUEUE: usize = 4096;

/// Most requests one transaction commits, so one batch never holds the
/// write lock for long.
const MAX_BATCH: usize = 512;

/// Why a batch could not be committed. Nothing of it was stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct IngestError(String);

impl From<String> for IngestError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

/// One request: its deliveries are stored all or none.
pub(super) struct Job {
    deliveries: Vec<NewDelivery>,
    reply: oneshot::Sender<Result<Vec<Inserted>, IngestError>>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("deliveries", &self.deliveries.len())
            .finish_non_exhaustive()
    }
}

/// Starts the writer; it stops when every sender is gone.
pub(super) fn spawn(pool: SqlitePool) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel(QUEUE);
    tokio::spawn(writer(pool, receiver));
    sender
}

/// Queues `deliveries` and waits for the commit that includes them.
pub(super) async fn submit(
    sender: &mpsc::Sender<Job>,
    deliveries: Vec<NewDelivery>,
) -> Result<Vec<Inserted>, IngestError> {
    let (reply, answer) = oneshot::channel();
    let job = Job { deliveries, reply };
    let gone = || IngestError("the inbox writer has stopped".into());
    sender.send(job).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}

async fn writer(pool: SqlitePool, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&pool, batch).await;
    }
}

/// Commits the batch and answers every waiter: each gets its own outcomes,
/// or all get the error and nothing is stored.
async fn commit(pool: &SqlitePool, batch: Vec<Job>) {
    let (jobs, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|j| (j.deliveries, j.reply)).unzip();
    match store_all(pool, &jobs).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A waiter that gave up (client gone) needs no answer.
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, requests = replies.len(), "inbox commit failed");
            let err = IngestError(err.to_string());
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}

async fn store_all(
    pool: &SqlitePool,
    jobs: &[Vec<NewDelivery>],
) -> sqlx::Result<Vec<Vec<Inserted>>> {
    let mut conn = pool.acquire().await?;
    // FULL makes this commit fsync the log: what we acknowledge survives a
    // power cut, not just a crash. Set per batch because the connection
    // goes back to a pool whose other users do not need it.
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *conn)
        .await?;
    let all: Vec<&NewDelivery> = jobs.iter().flatten().collect();
    let stored = in_write_txn(&mut conn, async |conn| insert_many(conn, &all).await).await;
    // Hand each request back its own outcomes, in order.
    let stored = stored.map(|flat| {
        let mut flat = flat.into_iter();
        let per_job = jobs
            .iter()
            .map(|job| flat.by_ref().take(job.len()).collect());
        per_job.collect()
    });
    let restored = sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut *conn)
        .await;
    if let Err(err) = restored {
        tracing::debug!(error = %err, "cannot restore synchronous = NORMAL");
    }
    stored
}
