-- Events (issue 6): the transactional outbox. An event is written once, in the transaction of
-- the state change that causes it; every partner feed that may see it gets a row with the
-- feed's next sequence number, and every enabled webhook of those feeds that subscribes to the
-- type gets a delivery. Workers claim deliveries with a lease, so a crashed worker's deliveries
-- come back. A feed is one partner's view through one environment of its credentials
-- (sandbox or production). Conventions as in 0001.

CREATE TABLE events (
    -- UUIDv7.
    id              TEXT    NOT NULL CONSTRAINT events_pkey PRIMARY KEY,
    event_type      TEXT    NOT NULL,
    -- Ordering key: connector:<id>, session:<id>, reservation:<id>, partner:<id>.
    subject         TEXT    NOT NULL,
    -- JSON object: the payload.
    data            TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX events_created_idx ON events (created_at);

CREATE TABLE event_feed_heads (
    partner_id      TEXT    NOT NULL CONSTRAINT event_feed_heads_partner_fk
        REFERENCES partners (id),
    environment     TEXT    NOT NULL CONSTRAINT event_feed_heads_environment_check
        CHECK (environment IN ('sandbox', 'production')),
    -- The seq of the newest row written (the next gets last_seq + 1).
    last_seq        INTEGER NOT NULL,
    -- Rows up to this seq were purged: a cursor below it has expired.
    purged_through  INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT event_feed_heads_pkey PRIMARY KEY (partner_id, environment)
) STRICT, WITHOUT ROWID;

CREATE TABLE event_feed (
    partner_id      TEXT    NOT NULL,
    environment     TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    event_id        TEXT    NOT NULL CONSTRAINT event_feed_event_fk REFERENCES events (id),
    -- Copied from the event so that type filters need not read it.
    event_type      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    CONSTRAINT event_feed_pkey PRIMARY KEY (partner_id, environment, seq)
) STRICT, WITHOUT ROWID;

CREATE INDEX event_feed_event_idx ON event_feed (event_id);
CREATE INDEX event_feed_created_idx ON event_feed (created_at);

CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    partner_id      TEXT    NOT NULL CONSTRAINT webhooks_partner_fk REFERENCES partners (id),
    environment     TEXT    NOT NULL CONSTRAINT webhooks_environment_check
        CHECK (environment IN ('sandbox', 'production')),
    url             TEXT    NOT NULL,
    -- The subscribed types, space-separated with a space before the first and after the last
    -- (' a b '), so that "is t subscribed" is instr(event_types, ' t ') > 0.
    event_types     TEXT    NOT NULL,
    enabled         INTEGER NOT NULL CONSTRAINT webhooks_enabled_check CHECK (enabled IN (0, 1)),
    -- Standard Webhooks secret (whsec_…). Kept in clear: signing needs it.
    secret          TEXT    NOT NULL,
    previous_secret TEXT,
    previous_secret_until TEXT,
    -- First failure since the last success.
    failing_since   TEXT,
    last_error      TEXT,
    -- Set when we disabled it for failing too long.
    disabled_at     TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT webhooks_partner_environment_key UNIQUE (partner_id, environment)
) STRICT;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL CONSTRAINT webhook_deliveries_webhook_fk
        REFERENCES webhooks (id),
    event_id        TEXT    NOT NULL CONSTRAINT webhook_deliveries_event_fk
        REFERENCES events (id),
    event_type      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    -- The event's seq in the webhook's feed; NULL for test events (not in the feed).
    seq             INTEGER,
    state           TEXT    NOT NULL CONSTRAINT webhook_deliveries_state_check
        CHECK (state IN ('pending', 'delivered', 'dead')),
    -- Every attempt ever made (numbers the attempt rows).
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- The retry round: starts when the delivery is created or replayed; the backoff counts the
    -- attempts of the round and gives up when the round is older than the retry window.
    round_started_at TEXT   NOT NULL,
    round_attempts  INTEGER NOT NULL DEFAULT 0,
    -- When the next attempt is due. NULL while an older delivery of the same webhook and
    -- subject is pending: only a queue's head is ever due, and finishing it makes the next one
    -- due, so the due index holds at most one delivery per queue.
    next_attempt_at TEXT,
    -- Held by a worker until then; NULL when nobody holds it.
    lease_until     TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- The head of each (webhook, subject) queue: a delivery may be attempted only when no older
-- pending one of the same subject exists.
CREATE INDEX webhook_deliveries_queue_idx
    ON webhook_deliveries (webhook_id, subject, id) WHERE state = 'pending';
-- What is due.
CREATE INDEX webhook_deliveries_due_idx
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
-- The partner's delivery log, newest first.
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
-- Deliveries in flight, counted per webhook to bound each endpoint's share of the workers.
CREATE INDEX webhook_deliveries_leased_idx
    ON webhook_deliveries (webhook_id, lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    delivery_id     INTEGER NOT NULL CONSTRAINT webhook_attempts_delivery_fk
        REFERENCES webhook_deliveries (id),
    number          INTEGER NOT NULL,
    at              TEXT    NOT NULL,
    -- HTTP status, when a response arrived.
    status          INTEGER,
    latency_ms      INTEGER NOT NULL,
    error           TEXT,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, number)
) STRICT, WITHOUT ROWID;
