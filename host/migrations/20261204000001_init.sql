-- The durable inbox: every accepted webhook and every domain event, one row
-- per (plugin, tenant) that must process it.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('webhook', 'event')),
    plugin          TEXT NOT NULL,
    tenant          TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    source          TEXT NOT NULL,
    headers         TEXT NOT NULL,
    body            BLOB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    received_at     INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    plugin_version  TEXT,
    result          TEXT,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    UNIQUE (kind, plugin, tenant, event_id)
);

CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_by_owner ON deliveries (plugin, tenant, received_at);

-- Plugin key-value data, scoped by the host to (plugin, tenant).
CREATE TABLE kv (
    plugin     TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (plugin, tenant, key)
);

CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
