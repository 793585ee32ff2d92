//! The delivery inbox: webhooks and events stored before they are
//! acknowledged, then claimed, processed and finished by the dispatcher.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::Store;
use super::ingest::{self, IngestError};
use super::txn::DeliveryTxn;

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// Claimed by a worker until its lease runs out.
    Processing,
    /// Processed successfully.
    Done,
    /// Given up on; can be replayed.
    Dead,
}

impl DeliveryStatus {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored or user-given status.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "processing" => Some(Self::Processing),
            "done" => Some(Self::Done),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// A delivery to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// `webhook` or `event`.
    pub kind: &'static str,
    /// The plugin that will process it.
    pub plugin: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// The upstream's id, unique per (kind, plugin, tenant).
    pub event_id: String,
    /// The upstream's event type or event name.
    pub event_type: String,
    /// `webhook`, `medusa`, or the emitting plugin.
    pub source: String,
    /// Received headers worth keeping (no credentials).
    pub headers: Vec<(String, String)>,
    /// The exact received bytes.
    pub body: Vec<u8>,
    /// When it arrived, in Unix milliseconds.
    pub received_at_ms: i64,
}

/// The outcome of storing a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored under this id.
    New(String),
    /// The same event was stored before, under this id.
    Duplicate(String),
}

/// A stored delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The host's id.
    pub id: String,
    /// `webhook` or `event`.
    pub kind: String,
    /// Processing plugin.
    pub plugin: String,
    /// Tenant.
    pub tenant: String,
    /// The upstream's event id.
    pub event_id: String,
    /// The upstream's event type.
    pub event_type: String,
    /// Who sent it.
    pub source: String,
    /// Kept headers.
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// The raw body.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Current status.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Arrival time, Unix milliseconds.
    pub received_at_ms: i64,
    /// Earliest time of the next attempt.
    pub next_attempt_at_ms: i64,
    /// The plugin version of the last attempt.
    pub plugin_version: Option<String>,
    /// The plugin's summary on success.
    pub result: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only this plugin.
    pub plugin: Option<String>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// How an attempt ended, as the store records it.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// Processed; the plugin's summary.
    Done(String),
    /// Failed; try again later.
    Retry {
        /// Why it failed.
        error: String,
        /// When to try again, Unix milliseconds.
        at_ms: i64,
    },
    /// Failed for good.
    Dead(String),
}

impl AttemptOutcome {
    /// The status a delivery gets from this outcome.
    pub fn status(&self) -> DeliveryStatus {
        match self {
            Self::Done(_) => DeliveryStatus::Done,
            Self::Retry { .. } => DeliveryStatus::Pending,
            Self::Dead(_) => DeliveryStatus::Dead,
        }
    }
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The outcome is stored, with the attempt's kv writes and events when
    /// it succeeded.
    Recorded,
    /// The attempt succeeded, but a kv value it based a write on changed
    /// meanwhile: nothing was stored, and the attempt must count as failed.
    Conflict,
    /// The lease ran out and another worker claimed the delivery: nothing
    /// was stored, and the other worker's attempt decides.
    LostClaim,
}

/// What a replay request did.
#[derive(Debug, Clone)]
pub enum Replay {
    /// Reset to pending with no attempts; here as it now stands.
    Replayed(Box<Delivery>),
    /// No delivery has that id.
    NotFound,
    /// The delivery is in a status that replay leaves alone.
    NotReplayable(DeliveryStatus),
}

const COLUMNS: &str = "id, kind, plugin, tenant, event_id, event_type, source, headers, body, \
    status, attempts, received_at, next_attempt_at, plugin_version, result, last_error";

impl Store {
    /// Stores every delivery all or none, through the inbox's group
    /// commit. Repeats of a stored (kind, plugin, tenant, event id) are
    /// reported as duplicates and left as they are, also within one batch.
    pub async fn insert_deliveries(
        &self,
        new: Vec<NewDelivery>,
    ) -> Result<Vec<Inserted>, IngestError> {
        ingest::submit(&self.ingest, new).await
    }

    /// Claims a pending delivery that is due, for `lease_ms`. None when
    /// another worker has it or it is not due.
    pub async fn claim_delivery(
        &self,
        id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> sqlx::Result<Option<Delivery>> {
        let sql = format!(
            "UPDATE deliveries SET status = 'processing', attempts = attempts + 1,
                 lease_until = ?, updated_at = ?
             WHERE id = ? AND next_attempt_at <= ?
               AND (status = 'pending' OR (status = 'processing' AND lease_until <= ?))
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .bind(id)
            .bind(now_ms)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| delivery_from_row(&row)).transpose()
    }

    /// Ids of deliveries due for an attempt, including claimed ones whose
    /// worker let the lease run out, oldest first: exactly those
    /// [`Store::claim_delivery`] would claim now.
    pub async fn due_deliveries(&self, now_ms: i64, limit: u32) -> sqlx::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM deliveries
             WHERE next_attempt_at <= ?
               AND (status = 'pending' OR (status = 'processing' AND lease_until <= ?))
             ORDER BY next_attempt_at LIMIT ?",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    /// Records how attempt number `attempt` of delivery `id` ended. A
    /// successful attempt's kv writes and emitted events are committed in
    /// the same transaction, so they happen exactly when the delivery
    /// becomes done; a failed attempt's are dropped.
    pub async fn finish_attempt(
        &self,
        id: &str,
        attempt: u32,
        version: &str,
        outcome: &AttemptOutcome,
        txn: &DeliveryTxn,
        now_ms: i64,
    ) -> sqlx::Result<Finished> {
        let done = matches!(outcome, AttemptOutcome::Done(_));
        self.write_txn(async |conn| {
            if done && !txn.still_valid(conn, now_ms).await? {
                return Ok(Finished::Conflict);
            }
            if !record_outcome(conn, id, attempt, version, outcome, now_ms).await? {
                return Ok(Finished::LostClaim);
            }
            if done {
                txn.apply(conn).await?;
            }
            Ok(Finished::Recorded)
        })
        .await
    }

    /// Resets a dead delivery (or, with `force`, a done one) to pending with
    /// no attempts, due now.
    pub async fn replay_delivery(
        &self,
        id: &str,
        force: bool,
        now_ms: i64,
    ) -> sqlx::Result<Replay> {
        let sql = format!(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,
                 lease_until = NULL, updated_at = ?
             WHERE id = ? AND (status = 'dead' OR (? AND status = 'done'))
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(now_ms)
            .bind(now_ms)
            .bind(id)
            .bind(force)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return Ok(Replay::Replayed(Box::new(delivery_from_row(&row)?)));
        }
        Ok(match self.delivery(id).await? {
            Some(found) => Replay::NotReplayable(found.status),
            None => Replay::NotFound,
        })
    }

    /// One delivery by id.
    pub async fn delivery(&self, id: &str) -> sqlx::Result<Option<Delivery>> {
        let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| delivery_from_row(&row)).transpose()
    }

    /// Deliveries matching `filter`, newest first.
    pub async fn list_deliveries(&self, filter: &DeliveryFilter) -> sqlx::Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deliveries
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR plugin = ?2)
               AND (?3 IS NULL OR tenant = ?3)
             ORDER BY received_at DESC, id DESC LIMIT ?4"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.status.map(DeliveryStatus::as_str))
            .bind(filter.plugin.as_deref())
            .bind(filter.tenant.as_deref())
            .bind(i64::from(filter.limit.clamp(1, 1000)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}

/// Stores the outcome only while attempt `attempt` still holds the claim;
/// false when another worker took the delivery over.
async fn record_outcome(
    conn: &mut sqlx::SqliteConnection,
    id: &str,
    attempt: u32,
    version: &str,
    outcome: &AttemptOutcome,
    now_ms: i64,
) -> sqlx::Result<bool> {
    let (result, error, next) = match outcome {
        AttemptOutcome::Done(summary) => (Some(summary.as_str()), None, now_ms),
        AttemptOutcome::Retry { error, at_ms } => (None, Some(error.as_str()), *at_ms),
        AttemptOutcome::Dead(error) => (None, Some(error.as_str()), now_ms),
    };
    let updated = sqlx::query(
        "UPDATE deliveries SET status = ?, result = ?, last_error = ?, next_attempt_at = ?,
             plugin_version = ?, lease_until = NULL, updated_at = ?
         WHERE id = ? AND status = 'processing' AND attempts = ?",
    )
    .bind(outcome.status().as_str())
    .bind(result)
    .bind(error)
    .bind(next)
    .bind(version)
    .bind(now_ms)
    .bind(id)
    .bind(i64::from(attempt))
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Stores one delivery inside the caller's transaction, or reports the
/// stored one with the same (kind, plugin, tenant, event id).
pub(super) async fn insert_one(
    conn: &mut sqlx::SqliteConnection,
    d: &NewDelivery,
) -> sqlx::Result<Inserted> {
    let existing = sqlx::query(
        "SELECT id FROM deliveries WHERE kind = ? AND plugin = ? AND tenant = ? AND event_id = ?",
    )
    .bind(d.kind)
    .bind(&d.plugin)
    .bind(&d.tenant)
    .bind(&d.event_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = existing {
        return Ok(Inserted::Duplicate(row.get(0)));
    }

    let id = new_delivery_id(d.received_at_ms);
    let headers = serde_json::to_string(&d.headers).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(
        "INSERT INTO deliveries (id, kind, plugin, tenant, event_id, event_type, source, headers,
             body, status, attempts, received_at, next_attempt_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
    )
    .bind(&id)
    .bind(d.kind)
    .bind(&d.plugin)
    .bind(&d.tenant)
    .bind(&d.event_id)
    .bind(&d.event_type)
    .bind(&d.source)
    .bind(headers)
    .bind(&d.body)
    .bind(d.received_at_ms)
    .bind(d.received_at_ms)
    .bind(d.received_at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(Inserted::New(id))
}

/// Rows per INSERT statement: 12 parameters each stays far below SQLite's
/// limit of 32766 bound parameters.
const ROWS_PER_STATEMENT: usize = 256;

/// Stores many deliveries inside the caller's transaction with one
/// statement per [`ROWS_PER_STATEMENT`] rows, with the same outcomes as
/// calling [`insert_one`] on each in order: a repeat of a stored event, or
/// of one earlier in `batch`, is a duplicate of the stored row.
pub(super) async fn insert_many(
    conn: &mut sqlx::SqliteConnection,
    batch: &[&NewDelivery],
) -> sqlx::Result<Vec<Inserted>> {
    let ids: Vec<String> = batch
        .iter()
        .map(|d| new_delivery_id(d.received_at_ms))
        .collect();
    let mut stored = std::collections::HashSet::new();
    for (chunk, chunk_ids) in batch
        .chunks(ROWS_PER_STATEMENT)
        .zip(ids.chunks(ROWS_PER_STATEMENT))
    {
        stored.extend(insert_rows(conn, chunk, chunk_ids).await?);
    }
    // Repeats are rare; each costs one lookup of the row that won.
    let mut outcomes = Vec::with_capacity(batch.len());
    for (d, id) in batch.iter().zip(ids) {
        if stored.contains(&id) {
            outcomes.push(Inserted::New(id));
        } else {
            outcomes.push(Inserted::Duplicate(existing_id(conn, d).await?));
        }
    }
    Ok(outcomes)
}

/// Inserts the rows that are not stored yet; returns the ids it stored.
async fn insert_rows(
    conn: &mut sqlx::SqliteConnection,
    batch: &[&NewDelivery],
    ids: &[String],
) -> sqlx::Result<Vec<String>> {
    let mut headers = Vec::with_capacity(batch.len());
    for d in batch {
        headers.push(serde_json::to_string(&d.headers).map_err(|e| sqlx::Error::Encode(e.into()))?);
    }
    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO deliveries (id, kind, plugin, tenant, event_id, event_type, source, headers,
             body, status, attempts, received_at, next_attempt_at, updated_at) ",
    );
    query.push_values(
        batch.iter().zip(ids).zip(&headers),
        |mut row, ((d, id), headers)| {
            row.push_bind(id)
                .push_bind(d.kind)
                .push_bind(&d.plugin)
                .push_bind(&d.tenant)
                .push_bind(&d.event_id)
                .push_bind(&d.event_type)
                .push_bind(&d.source)
                .push_bind(headers)
                .push_bind(&d.body)
                .push("'pending', 0")
                .push_bind(d.received_at_ms)
                .push_bind(d.received_at_ms)
                .push_bind(d.received_at_ms);
        },
    );
    query.push(" ON CONFLICT (kind, plugin, tenant, event_id) DO NOTHING RETURNING id");
    let rows = query.build().fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().map(|row| row.get(0)).collect())
}

async fn existing_id(conn: &mut sqlx::SqliteConnection, d: &NewDelivery) -> sqlx::Result<String> {
    let row = sqlx::query(
        "SELECT id FROM deliveries WHERE kind = ? AND plugin = ? AND tenant = ? AND event_id = ?",
    )
    .bind(d.kind)
    .bind(&d.plugin)
    .bind(&d.tenant)
    .bind(&d.event_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.get(0))
}

/// Ids sort by arrival time and carry 64 random bits, so two hosts (or two
/// requests in the same millisecond) never collide in practice.
fn new_delivery_id(now_ms: i64) -> String {
    format!("dlv_{now_ms:013x}{:016x}", rand::random::<u64>())
}

fn delivery_from_row(row: &SqliteRow) -> sqlx::Result<Delivery> {
    let headers: String = row.try_get("headers")?;
    let status: String = row.try_get("status")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        plugin: row.try_get("plugin")?,
        tenant: row.try_get("tenant")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        source: row.try_get("source")?,
        headers: serde_json::from_str(&headers).map_err(|e| sqlx::Error::Decode(e.into()))?,
        body: row.try_get("body")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        received_at_ms: row.try_get("received_at")?,
        next_attempt_at_ms: row.try_get("next_attempt_at")?,
        plugin_version: row.try_get("plugin_version")?,
        result: row.try_get("result")?,
        last_error: row.try_get("last_error")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::KvScope;

    fn scope() -> KvScope {
        KvScope {
            plugin: "p".into(),
            tenant: "t".into(),
        }
    }

    async fn stored(store: &Store, event_id: &str) -> String {
        let inserted = store
            .insert_deliveries(vec![webhook(event_id)])
            .await
            .expect("insert");
        match &inserted[0] {
            Inserted::New(id) => id.clone(),
            Inserted::Duplicate(id) => panic!("{event_id} was stored before as {id}"),
        }
    }

    #[tokio::test]
    async fn repeats_within_one_batch_are_duplicates_of_the_first() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let batch = vec![webhook("evt_1"), webhook("evt_1"), webhook("evt_2")];
        let inserted = store.insert_deliveries(batch).await.expect("insert");
        let Inserted::New(first) = &inserted[0] else {
            panic!("first is new: {inserted:?}")
        };
        assert_eq!(inserted[1], Inserted::Duplicate(first.clone()));
        assert!(matches!(inserted[2], Inserted::New(_)));
    }

    #[tokio::test]
    async fn concurrent_inserts_share_commits_and_keep_dedupe_exact() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = store.clone();
            let event = format!("evt_{}", i % 16);
            tasks.push(tokio::spawn(async move {
                store.insert_deliveries(vec![webhook(&event)]).await
            }));
        }
        let mut new = 0;
        for task in tasks {
            let inserted = task.await.expect("task").expect("insert");
            new += usize::from(matches!(inserted[0], Inserted::New(_)));
        }
        assert_eq!(new, 16);
    }

    #[tokio::test]
    async fn a_late_worker_that_lost_its_claim_records_nothing() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let id = stored(&store, "evt_1").await;
        store.claim_delivery(&id, 2_000, 500).await.expect("claim");
        store
            .claim_delivery(&id, 2_500, 500)
            .await
            .expect("reclaim");

        let mut txn = DeliveryTxn::new(scope());
        txn.increment(&store, "handled", 1, 2_600)
            .await
            .expect("incr");
        let done = AttemptOutcome::Done("late".into());
        let finished = store.finish_attempt(&id, 1, "1", &done, &txn, 2_700).await;
        assert_eq!(finished.expect("finish"), Finished::LostClaim);
        assert_eq!(
            store.kv_get(&scope(), "handled", 0).await.expect("get"),
            None
        );

        let finished = store.finish_attempt(&id, 2, "1", &done, &txn, 2_800).await;
        assert_eq!(finished.expect("finish"), Finished::Recorded);
        let counter = store.kv_get(&scope(), "handled", 0).await.expect("get");
        assert_eq!(counter.as_deref(), Some(&b"1"[..]));
    }

    #[tokio::test]
    async fn dead_deliveries_are_replayed_and_done_ones_only_by_force() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let id = stored(&store, "evt_1").await;
        store.claim_delivery(&id, 2_000, 500).await.expect("claim");
        let dead = AttemptOutcome::Dead("bad".into());
        let txn = DeliveryTxn::new(scope());
        store
            .finish_attempt(&id, 1, "1", &dead, &txn, 2_100)
            .await
            .expect("dead");

        let Replay::Replayed(replayed) = store
            .replay_delivery(&id, false, 3_000)
            .await
            .expect("replay")
        else {
            panic!("a dead delivery is replayed")
        };
        assert_eq!(
            (replayed.status, replayed.attempts),
            (DeliveryStatus::Pending, 0)
        );
        assert_eq!(replayed.next_attempt_at_ms, 3_000);
        assert!(matches!(
            store
                .replay_delivery(&id, false, 3_000)
                .await
                .expect("replay"),
            Replay::NotReplayable(DeliveryStatus::Pending)
        ));

        store.claim_delivery(&id, 3_000, 500).await.expect("claim");
        let done = AttemptOutcome::Done("ok".into());
        store
            .finish_attempt(&id, 1, "1", &done, &txn, 3_100)
            .await
            .expect("done");
        assert!(matches!(
            store
                .replay_delivery(&id, false, 4_000)
                .await
                .expect("replay"),
            Replay::NotReplayable(DeliveryStatus::Done)
        ));
        assert!(matches!(
            store
                .replay_delivery(&id, true, 4_000)
                .await
                .expect("replay"),
            Replay::Replayed(_)
        ));
        assert!(matches!(
            store
                .replay_delivery("dlv_none", true, 4_000)
                .await
                .expect("replay"),
            Replay::NotFound
        ));
    }

    fn webhook(event_id: &str) -> NewDelivery {
        NewDelivery {
            kind: "webhook",
            plugin: "p".into(),
            tenant: "t".into(),
            event_id: event_id.into(),
            event_type: "account.updated".into(),
            source: "webhook".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
            received_at_ms: 1_000,
        }
    }

    #[tokio::test]
    async fn the_same_event_is_stored_once() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let first = store
            .insert_deliveries(vec![webhook("evt_1")])
            .await
            .expect("insert");
        let again = store
            .insert_deliveries(vec![webhook("evt_1")])
            .await
            .expect("insert");
        let Inserted::New(id) = &first[0] else {
            panic!("first insert is new")
        };
        assert_eq!(again[0], Inserted::Duplicate(id.clone()));
    }

    #[tokio::test]
    async fn a_claim_is_exclusive_until_its_lease_ends() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let inserted = store
            .insert_deliveries(vec![webhook("evt_1")])
            .await
            .expect("insert");
        let Inserted::New(id) = &inserted[0] else {
            panic!("new")
        };

        let claimed = store.claim_delivery(id, 2_000, 500).await.expect("claim");
        assert_eq!(claimed.map(|d| d.attempts), Some(1));
        assert!(
            store
                .claim_delivery(id, 2_100, 500)
                .await
                .expect("claim")
                .is_none()
        );
        assert_eq!(
            store.due_deliveries(2_499, 10).await.expect("due"),
            Vec::<String>::new()
        );
        let due = store.due_deliveries(2_500, 10).await.expect("due");
        assert_eq!(due, std::slice::from_ref(id));
        let reclaimed = store.claim_delivery(id, 2_500, 500).await.expect("claim");
        assert_eq!(reclaimed.map(|d| d.attempts), Some(2));
    }

    #[tokio::test]
    async fn finished_attempts_are_recorded() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let inserted = store
            .insert_deliveries(vec![webhook("evt_1")])
            .await
            .expect("insert");
        let Inserted::New(id) = &inserted[0] else {
            panic!("new")
        };
        store.claim_delivery(id, 2_000, 500).await.expect("claim");

        let retry = AttemptOutcome::Retry {
            error: "upstream 503".into(),
            at_ms: 9_000,
        };
        let txn = DeliveryTxn::new(scope());
        let finished = store
            .finish_attempt(id, 1, "1.0.0", &retry, &txn, 2_100)
            .await;
        assert_eq!(finished.expect("finish"), Finished::Recorded);
        assert!(
            store
                .claim_delivery(id, 8_999, 500)
                .await
                .expect("claim")
                .is_none()
        );
        store
            .claim_delivery(id, 9_000, 500)
            .await
            .expect("claim")
            .expect("due again");
        let done = AttemptOutcome::Done("ok".into());
        let finished = store
            .finish_attempt(id, 2, "1.0.1", &done, &txn, 9_100)
            .await;
        assert_eq!(finished.expect("done"), Finished::Recorded);

        let stored = store.delivery(id).await.expect("read").expect("exists");
        assert_eq!(stored.status, DeliveryStatus::Done);
        assert_eq!(stored.plugin_version.as_deref(), Some("1.0.1"));
        assert_eq!(stored.result.as_deref(), Some("ok"));
        assert_eq!(stored.body, b"{}");
    }
}
