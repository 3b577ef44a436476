-- Sessions: stops the charger never confirms, and idle (occupancy) time (issue 5, issue 7).
--
-- - state 'finishing': the transaction is over (energy final) but the connector is still
--   occupied and the tariff bills idle time; the session waits for the connector to be freed
--   (or the idle cap). It still holds the connector's claim: the vehicle is there.
-- - charging_finished_at: when the idle clock started (the vehicle reported full, or the stop);
--   freed_at: when the connector was freed (or the cap was reached).
-- - stop_attempts: RemoteStopTransaction sent again for a stop accepted but not confirmed.
--
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt (the documented
-- create-copy-drop-rename procedure); no table refers to `sessions`, and its indexes are
-- created again below, the claim now including 'finishing'.

CREATE TABLE sessions_new (
    id              TEXT    NOT NULL CONSTRAINT sessions_pkey PRIMARY KEY,
    origin          TEXT    NOT NULL CONSTRAINT sessions_origin_check
        CHECK (origin IN ('partner', 'local')),
    partner_id      TEXT    CONSTRAINT sessions_partner_fk REFERENCES partners (id),
    partner_order_id TEXT,
    user_ref        TEXT,
    station_id      TEXT    NOT NULL CONSTRAINT sessions_station_fk REFERENCES stations (id),
    charger_id      TEXT    NOT NULL CONSTRAINT sessions_charger_fk REFERENCES chargers (id),
    connector_id    TEXT    NOT NULL CONSTRAINT sessions_connector_fk REFERENCES connectors (id),
    connector_number INTEGER NOT NULL,
    tariff_id       TEXT    NOT NULL,
    reservation_id  TEXT,
    limit_kind      TEXT    CONSTRAINT sessions_limit_kind_check
        CHECK (limit_kind IN ('energy_wh', 'amount', 'duration_s')),
    limit_value     TEXT,
    state           TEXT    NOT NULL CONSTRAINT sessions_state_check
        CHECK (state IN ('pending', 'starting', 'charging', 'stopping', 'finishing',
                         'completed', 'failed')),
    failure_reason  TEXT    CONSTRAINT sessions_failure_reason_check
        CHECK (failure_reason IN ('connector_not_found', 'connector_unavailable',
                                  'connector_reserved', 'charger_offline', 'charger_rejected',
                                  'charger_timeout', 'start_timeout', 'partner_suspended',
                                  'limit_invalid')),
    failure_detail  TEXT,
    id_tag          TEXT    NOT NULL COLLATE NOCASE,
    transaction_id  INTEGER CONSTRAINT sessions_transaction_fk REFERENCES ocpp_transactions (id),
    accepted_at     TEXT,
    started_at      TEXT,
    meter_start_wh  INTEGER,
    meter_last_wh   INTEGER,
    metered_at      TEXT,
    energy_wh       INTEGER NOT NULL DEFAULT 0,
    power_w         INTEGER,
    soc_percent     TEXT,
    cost            TEXT,
    stop_requested_at TEXT,
    stop_requested_by TEXT  CONSTRAINT sessions_stop_requested_by_check
        CHECK (stop_requested_by IN ('partner', 'limit')),
    stopped_at      TEXT,
    -- Adds stop_unconfirmed to the reasons of 0005.
    stop_reason     TEXT,
    charger_offline_since TEXT,
    review_required INTEGER NOT NULL DEFAULT 0 CONSTRAINT sessions_review_required_check
        CHECK (review_required IN (0, 1)),
    review_reason   TEXT,
    next_check_at   TEXT,
    updated_event_at TEXT,
    charging_finished_at TEXT,
    freed_at        TEXT,
    stop_attempts   INTEGER NOT NULL DEFAULT 0 CONSTRAINT sessions_stop_attempts_check
        CHECK (stop_attempts >= 0),
    version         INTEGER NOT NULL CONSTRAINT sessions_version_check CHECK (version >= 1),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT sessions_partner_complete
        CHECK ((origin = 'partner') = (partner_id IS NOT NULL AND partner_order_id IS NOT NULL)),
    CONSTRAINT sessions_limit_complete CHECK ((limit_kind IS NULL) = (limit_value IS NULL))
) STRICT;

INSERT INTO sessions_new (
    id, origin, partner_id, partner_order_id, user_ref, station_id, charger_id, connector_id,
    connector_number, tariff_id, reservation_id, limit_kind, limit_value, state,
    failure_reason, failure_detail, id_tag, transaction_id, accepted_at, started_at,
    meter_start_wh, meter_last_wh, metered_at, energy_wh, power_w, soc_percent, cost,
    stop_requested_at, stop_requested_by, stopped_at, stop_reason, charger_offline_since,
    review_required, review_reason, next_check_at, updated_event_at, version, created_at,
    updated_at
)
SELECT
    id, origin, partner_id, partner_order_id, user_ref, station_id, charger_id, connector_id,
    connector_number, tariff_id, reservation_id, limit_kind, limit_value, state,
    failure_reason, failure_detail, id_tag, transaction_id, accepted_at, started_at,
    meter_start_wh, meter_last_wh, metered_at, energy_wh, power_w, soc_percent, cost,
    stop_requested_at, stop_requested_by, stopped_at, stop_reason, charger_offline_since,
    review_required, review_reason, next_check_at, updated_event_at, version, created_at,
    updated_at
FROM sessions;

DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;

CREATE UNIQUE INDEX sessions_partner_order_key
    ON sessions (partner_id, partner_order_id) WHERE partner_id IS NOT NULL;
-- The claim: at most one partner session that is not over per connector (a `finishing`
-- session's vehicle still occupies it).
CREATE UNIQUE INDEX sessions_connector_active_key
    ON sessions (connector_id)
    WHERE origin = 'partner' AND state IN ('pending', 'starting', 'charging', 'stopping',
                                           'finishing');
CREATE UNIQUE INDEX sessions_transaction_key
    ON sessions (transaction_id) WHERE transaction_id IS NOT NULL;
CREATE INDEX sessions_partner_idx ON sessions (partner_id, id) WHERE partner_id IS NOT NULL;
CREATE INDEX sessions_next_check_idx
    ON sessions (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX sessions_active_idx
    ON sessions (charger_id, connector_id) WHERE state NOT IN ('completed', 'failed');
CREATE INDEX sessions_id_tag_idx ON sessions (id_tag, created_at);
