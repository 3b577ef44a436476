-- Charging transactions as chargers report them over OCPP 1.6 (StartTransaction, MeterValues,
-- StopTransaction), their meter samples, stops for transactions we never issued, messages we
-- answered but parked for review, and the id tags chargers may start with (tags bound to a
-- pending session, and operator-configured tags). Conventions as in 0001.

CREATE TABLE ocpp_transactions (
    -- The transaction id we issue: AUTOINCREMENT never reuses an id and starts at 1, so 0 and
    -- negative sentinels are never issued (OCPP 1.6 §4.8; the store keeps ids ≤ 2^31-1).
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id      TEXT    NOT NULL CONSTRAINT ocpp_transactions_charger_fk
        REFERENCES chargers (id),
    -- NULL when the charger named a connector that cannot exist; the start is recorded anyway.
    connector_number INTEGER,
    -- As received; compared case-insensitively where tags are looked up.
    id_tag          TEXT    NOT NULL,
    -- The verdict given in StartTransaction.conf, replayed for a retransmitted start.
    tag_status      TEXT    NOT NULL CONSTRAINT ocpp_transactions_tag_status_check
        CHECK (tag_status IN ('accepted', 'blocked', 'expired', 'invalid', 'concurrent_tx')),
    tag_expires_at  TEXT,
    parent_id_tag   TEXT,
    -- The partner session the tag was bound to, if any.
    session_id      TEXT,
    reservation_id  INTEGER,
    meter_start_wh  INTEGER NOT NULL,
    -- The charger's clock.
    started_at      TEXT    NOT NULL,
    start_received_at TEXT  NOT NULL,
    -- Highest energy register reading seen after the start.
    meter_last_wh   INTEGER,
    meter_last_at   TEXT,
    meter_stop_wh   INTEGER,
    stopped_at      TEXT,
    stop_reason     TEXT    CONSTRAINT ocpp_transactions_stop_reason_check
        CHECK (stop_reason IN ('local', 'remote', 'ev_disconnected', 'de_authorized',
                               'emergency_stop', 'hard_reset', 'soft_reset', 'power_loss',
                               'reboot', 'unlock_command', 'other')),
    stop_id_tag     TEXT,
    stop_received_at TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT ocpp_transactions_stop_complete
        CHECK ((stopped_at IS NULL) = (meter_stop_wh IS NULL))
) STRICT;

-- Retransmitted starts are found by what the charger sent (R-T6).
CREATE INDEX ocpp_transactions_start_idx
    ON ocpp_transactions (charger_id, started_at, meter_start_wh);
CREATE INDEX ocpp_transactions_session_idx
    ON ocpp_transactions (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX ocpp_transactions_open_idx
    ON ocpp_transactions (charger_id, id) WHERE stopped_at IS NULL;

CREATE TABLE ocpp_meter_samples (
    id              INTEGER PRIMARY KEY,
    charger_id      TEXT    NOT NULL CONSTRAINT ocpp_meter_samples_charger_fk
        REFERENCES chargers (id),
    -- NULL: the charger's main meter (OCPP connector 0) or a stop's transaction data.
    connector_number INTEGER,
    -- The transaction the samples belong to when it is one we issued to this charger.
    transaction_id  INTEGER CONSTRAINT ocpp_meter_samples_transaction_fk
        REFERENCES ocpp_transactions (id),
    -- The transaction id as the charger sent it (kept for unlinked samples).
    reported_transaction_id INTEGER,
    source          TEXT    NOT NULL CONSTRAINT ocpp_meter_samples_source_check
        CHECK (source IN ('meter_values', 'stop_transaction')),
    sampled_at      TEXT    NOT NULL,
    kind            TEXT    NOT NULL CONSTRAINT ocpp_meter_samples_kind_check
        CHECK (kind IN ('energy_import_register_wh', 'power_import_w', 'soc_percent',
                        'voltage_v', 'current_import_a')),
    -- Decimal text in the kind's unit (integer for Wh and W).
    value           TEXT    NOT NULL,
    phase           TEXT,
    context         TEXT,
    received_at     TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX ocpp_meter_samples_transaction_idx
    ON ocpp_meter_samples (transaction_id, sampled_at) WHERE transaction_id IS NOT NULL;

-- Stops for transaction ids we did not issue to that charger (OCPP 1.6 §4.10: a stop cannot be
-- refused). A retransmission of the same stop is ignored.
CREATE TABLE ocpp_orphan_stops (
    id              INTEGER PRIMARY KEY,
    charger_id      TEXT    NOT NULL CONSTRAINT ocpp_orphan_stops_charger_fk
        REFERENCES chargers (id),
    transaction_id  INTEGER NOT NULL,
    id_tag          TEXT,
    meter_stop_wh   INTEGER NOT NULL,
    stopped_at      TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT ocpp_orphan_stops_key UNIQUE (charger_id, transaction_id, stopped_at, meter_stop_wh)
) STRICT;

-- Messages answered but not usable as sent (bad meter values, impossible connectors, …).
CREATE TABLE ocpp_parked_messages (
    id              INTEGER PRIMARY KEY,
    charger_id      TEXT    NOT NULL CONSTRAINT ocpp_parked_messages_charger_fk
        REFERENCES chargers (id),
    action          TEXT    NOT NULL,
    -- The payload as received (JSON text).
    payload         TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX ocpp_parked_messages_received_idx ON ocpp_parked_messages (received_at, id);

-- A tag bound to a partner session before RemoteStartTransaction; used up by the start.
CREATE TABLE id_tag_bindings (
    -- OCPP IdToken is case-insensitive (CiString20).
    id_tag          TEXT    NOT NULL COLLATE NOCASE CONSTRAINT id_tag_bindings_pkey PRIMARY KEY,
    session_id      TEXT    NOT NULL CONSTRAINT id_tag_bindings_session_key UNIQUE,
    charger_id      TEXT    NOT NULL CONSTRAINT id_tag_bindings_charger_fk
        REFERENCES chargers (id),
    connector_number INTEGER,
    expires_at      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Operator-configured tags (staff cards, test and demo tags).
CREATE TABLE local_id_tags (
    id_tag          TEXT    NOT NULL COLLATE NOCASE CONSTRAINT local_id_tags_pkey PRIMARY KEY,
    status          TEXT    NOT NULL CONSTRAINT local_id_tags_status_check
        CHECK (status IN ('accepted', 'blocked', 'expired', 'invalid', 'concurrent_tx')),
    expires_at      TEXT,
    parent_id_tag   TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
