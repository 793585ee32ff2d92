//! The delivery inbox: webhooks and events stored before they are
//! acknowledged, then claimed, processed and finished by the dispatcher.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::Store;

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

const COLUMNS: &str = "id, kind, plugin, tenant, event_id, event_type, source, headers, body, \
    status, attempts, received_at, next_attempt_at, plugin_version, result, last_error";

impl Store {
    /// Stores every delivery in one transaction, so a fan-out is all or
    /// nothing. Repeats of a stored (kind, plugin, tenant, event id) are
    /// reported as duplicates and left as they are.
    pub async fn insert_deliveries(&self, new: &[NewDelivery]) -> sqlx::Result<Vec<Inserted>> {
        self.write_txn(async |conn| {
            let mut outcomes = Vec::with_capacity(new.len());
            for delivery in new {
                outcomes.push(insert_one(conn, delivery).await?);
            }
            Ok(outcomes)
        })
        .await
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
    /// worker let the lease run out, oldest first.
    pub async fn due_deliveries(&self, now_ms: i64, limit: u32) -> sqlx::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM deliveries
             WHERE (status = 'pending' AND next_attempt_at <= ?)
                OR (status = 'processing' AND lease_until <= ?)
             ORDER BY next_attempt_at LIMIT ?",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    /// Records how an attempt ended.
    pub async fn finish_attempt(
        &self,
        id: &str,
        version: &str,
        outcome: &AttemptOutcome,
        now_ms: i64,
    ) -> sqlx::Result<()> {
        let (status, result, error, next) = match outcome {
            AttemptOutcome::Done(summary) => ("done", Some(summary.as_str()), None, now_ms),
            AttemptOutcome::Retry { error, at_ms } => {
                ("pending", None, Some(error.as_str()), *at_ms)
            }
            AttemptOutcome::Dead(error) => ("dead", None, Some(error.as_str()), now_ms),
        };
        sqlx::query(
            "UPDATE deliveries SET status = ?, result = ?, last_error = ?, next_attempt_at = ?,
                 plugin_version = ?, lease_until = NULL, updated_at = ?
             WHERE id = ?",
        )
        .bind(status)
        .bind(result)
        .bind(error)
        .bind(next)
        .bind(version)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
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

async fn insert_one(conn: &mut sqlx::SqliteConnection, d: &NewDelivery) -> sqlx::Result<Inserted> {
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
            .insert_deliveries(&[webhook("evt_1")])
            .await
            .expect("insert");
        let again = store
            .insert_deliveries(&[webhook("evt_1")])
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
            .insert_deliveries(&[webhook("evt_1")])
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
            .insert_deliveries(&[webhook("evt_1")])
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
        store
            .finish_attempt(id, "1.0.0", &retry, 2_100)
            .await
            .expect("finish");
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
        store
            .finish_attempt(id, "1.0.1", &AttemptOutcome::Done("ok".into()), 9_100)
            .await
            .expect("done");

        let stored = store.delivery(id).await.expect("read").expect("exists");
        assert_eq!(stored.status, DeliveryStatus::Done);
        assert_eq!(stored.plugin_version.as_deref(), Some("1.0.1"));
        assert_eq!(stored.result.as_deref(), Some("ok"));
        assert_eq!(stored.body, b"{}");
    }
}
