-- Charging sessions and reservations (issue 5): what partners start, watch, stop and reserve
-- through the Open API, and the sessions the operator's own users start at the charger
-- (origin 'local', never shown to partners). Rows are changed by compare-and-set on `version`;
-- `next_check_at` tells the sessions service's sweep when to look at a row again (timeouts,
-- limits, expiries). Conventions as in 0001.

CREATE TABLE sessions (
    id              TEXT    NOT NULL CONSTRAINT sessions_pkey PRIMARY KEY,
    origin          TEXT    NOT NULL CONSTRAINT sessions_origin_check
        CHECK (origin IN ('partner', 'local')),
    partner_id      TEXT    CONSTRAINT sessions_partner_fk REFERENCES partners (id),
    -- Unique per partner: makes a start idempotent.
    partner_order_id TEXT,
    user_ref        TEXT,
    station_id      TEXT    NOT NULL CONSTRAINT sessions_station_fk REFERENCES stations (id),
    charger_id      TEXT    NOT NULL CONSTRAINT sessions_charger_fk REFERENCES chargers (id),
    connector_id    TEXT    NOT NULL CONSTRAINT sessions_connector_fk REFERENCES connectors (id),
    connector_number INTEGER NOT NULL,
    -- The station's tariff when the session was requested; the version in force at the start
    -- prices it.
    tariff_id       TEXT    NOT NULL,
    reservation_id  TEXT,
    limit_kind      TEXT    CONSTRAINT sessions_limit_kind_check
        CHECK (limit_kind IN ('energy_wh', 'amount', 'duration_s')),
    limit_value     TEXT,
    state           TEXT    NOT NULL CONSTRAINT sessions_state_check
        CHECK (state IN ('pending', 'starting', 'charging', 'stopping', 'completed', 'failed')),
    failure_reason  TEXT    CONSTRAINT sessions_failure_reason_check
        CHECK (failure_reason IN ('connector_not_found', 'connector_unavailable',
                                  'connector_reserved', 'charger_offline', 'charger_rejected',
                                  'charger_timeout', 'start_timeout', 'partner_suspended',
                                  'limit_invalid')),
    failure_detail  TEXT,
    -- The tag sent in RemoteStartTransaction (OCPP IdToken: case-insensitive).
    id_tag          TEXT    NOT NULL COLLATE NOCASE,
    transaction_id  INTEGER CONSTRAINT sessions_transaction_fk REFERENCES ocpp_transactions (id),
    accepted_at     TEXT,
    started_at      TEXT,
    meter_start_wh  INTEGER,
    meter_last_wh   INTEGER,
    metered_at      TEXT,
    energy_wh       INTEGER NOT NULL DEFAULT 0,
    power_w         INTEGER,
    -- Decimal text.
    soc_percent     TEXT,
    -- JSON of core's SessionCost: a running estimate while charging, final once completed.
    cost            TEXT,
    stop_requested_at TEXT,
    stop_requested_by TEXT  CONSTRAINT sessions_stop_requested_by_check
        CHECK (stop_requested_by IN ('partner', 'limit')),
    stopped_at      TEXT,
    -- The charger's reason (local, remote, ev_disconnected, …) or ours (energy_limit,
    -- amount_limit, duration_limit, connection_lost).
    stop_reason     TEXT,
    charger_offline_since TEXT,
    review_required INTEGER NOT NULL DEFAULT 0 CONSTRAINT sessions_review_required_check
        CHECK (review_required IN (0, 1)),
    review_reason   TEXT,
    next_check_at   TEXT,
    updated_event_at TEXT,
    version         INTEGER NOT NULL CONSTRAINT sessions_version_check CHECK (version >= 1),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT sessions_partner_complete
        CHECK ((origin = 'partner') = (partner_id IS NOT NULL AND partner_order_id IS NOT NULL)),
    CONSTRAINT sessions_limit_complete CHECK ((limit_kind IS NULL) = (limit_value IS NULL))
) STRICT;

CREATE UNIQUE INDEX sessions_partner_order_key
    ON sessions (partner_id, partner_order_id) WHERE partner_id IS NOT NULL;
-- The claim: at most one partner session that is not over per connector, so two concurrent
-- starts on one connector have exactly one winner whatever the timing.
CREATE UNIQUE INDEX sessions_connector_active_key
    ON sessions (connector_id)
    WHERE origin = 'partner' AND state IN ('pending', 'starting', 'charging', 'stopping');
CREATE UNIQUE INDEX sessions_transaction_key
    ON sessions (transaction_id) WHERE transaction_id IS NOT NULL;
CREATE INDEX sessions_partner_idx ON sessions (partner_id, id) WHERE partner_id IS NOT NULL;
CREATE INDEX sessions_next_check_idx
    ON sessions (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX sessions_active_idx
    ON sessions (charger_id, connector_id) WHERE state NOT IN ('completed', 'failed');
CREATE INDEX sessions_id_tag_idx ON sessions (id_tag, created_at);

CREATE TABLE reservations (
    -- The OCPP reservationId (an integer; AUTOINCREMENT never reuses one).
    ocpp_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL CONSTRAINT reservations_id_key UNIQUE,
    partner_id      TEXT    NOT NULL CONSTRAINT reservations_partner_fk REFERENCES partners (id),
    partner_order_id TEXT   NOT NULL,
    station_id      TEXT    NOT NULL CONSTRAINT reservations_station_fk REFERENCES stations (id),
    charger_id      TEXT    NOT NULL CONSTRAINT reservations_charger_fk REFERENCES chargers (id),
    connector_id    TEXT    NOT NULL CONSTRAINT reservations_connector_fk
        REFERENCES connectors (id),
    connector_number INTEGER NOT NULL,
    id_tag          TEXT    NOT NULL COLLATE NOCASE,
    state           TEXT    NOT NULL CONSTRAINT reservations_state_check
        CHECK (state IN ('pending', 'active', 'used', 'cancelled', 'expired', 'failed')),
    failure_reason  TEXT,
    failure_detail  TEXT,
    duration_s      INTEGER NOT NULL CONSTRAINT reservations_duration_check CHECK (duration_s > 0),
    expires_at      TEXT    NOT NULL,
    ended_at        TEXT,
    session_id      TEXT,
    cancel_requested_at TEXT,
    next_check_at   TEXT,
    version         INTEGER NOT NULL CONSTRAINT reservations_version_check CHECK (version >= 1),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT reservations_partner_order_key UNIQUE (partner_id, partner_order_id)
) STRICT;

-- At most one reservation that holds a connector (pending or active).
CREATE UNIQUE INDEX reservations_connector_active_key
    ON reservations (connector_id) WHERE state IN ('pending', 'active');
CREATE INDEX reservations_next_check_idx
    ON reservations (next_check_at) WHERE next_check_at IS NOT NULL;
