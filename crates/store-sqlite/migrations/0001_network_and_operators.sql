-- Network data (tariffs, stations, chargers, connectors with their live state), operator
-- accounts, their bearer tokens and the audit trail.
--
-- Conventions for every table of this store:
-- * Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.mmmZ' (fixed width, so text order is time
--   order); the default below produces exactly that format.
-- * Money, prices and powers are decimal TEXT (SQLite has no exact decimal type); energy is
--   INTEGER Wh; ids are TEXT.
-- * Constraints carry explicit names, the same ones the PostgreSQL store uses. SQLite does not
--   put constraint names in its UNIQUE error messages, so src/lib.rs maps the column list back
--   to the name; keep that table in step with this file.
-- * Tables are STRICT so a wrongly typed bind fails instead of being stored.

CREATE TABLE tariffs (
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    effective_from  TEXT    NOT NULL,
    -- JSON array of core's TariffSegment (start/end 'HH:MM', label, prices as decimal strings).
    segments        TEXT    NOT NULL,
    idle_price_per_minute TEXT,
    idle_grace_minutes    INTEGER,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT tariffs_id_version_key PRIMARY KEY (id, version),
    CONSTRAINT tariffs_version_positive CHECK (version >= 1),
    CONSTRAINT tariffs_idle_fee_complete
        CHECK ((idle_price_per_minute IS NULL) = (idle_grace_minutes IS NULL))
) STRICT;

CREATE TABLE stations (
    id              TEXT    NOT NULL CONSTRAINT stations_pkey PRIMARY KEY,
    name            TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    area_code       TEXT    NOT NULL,
    province        TEXT    NOT NULL,
    city            TEXT    NOT NULL,
    district        TEXT    NOT NULL,
    -- WGS-84; GCJ-02 is derived on the way out.
    lat             REAL    NOT NULL,
    lng             REAL    NOT NULL,
    -- JSON of core's OpeningHours.
    opening_hours   TEXT    NOT NULL,
    parking         TEXT,
    service_phone   TEXT    NOT NULL,
    -- JSON array of URLs.
    photos          TEXT    NOT NULL DEFAULT '[]',
    status          TEXT    NOT NULL CONSTRAINT stations_status_check
        CHECK (status IN ('planned', 'operational', 'maintenance', 'closed')),
    -- Points at a tariff id, whatever its version. A FOREIGN KEY needs a unique target, which
    -- (id) alone is not in tariffs, so the triggers below enforce it under the same name.
    tariff_id       TEXT    NOT NULL,
    sandbox         INTEGER NOT NULL DEFAULT 0 CONSTRAINT stations_sandbox_check
        CHECK (sandbox IN (0, 1)),
    retired_at      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TRIGGER stations_tariff_fk_insert BEFORE INSERT ON stations
WHEN NOT EXISTS (SELECT 1 FROM tariffs WHERE id = NEW.tariff_id)
BEGIN
    SELECT RAISE(ABORT, 'stations_tariff_fk');
END;

CREATE TRIGGER stations_tariff_fk_update BEFORE UPDATE OF tariff_id ON stations
WHEN NOT EXISTS (SELECT 1 FROM tariffs WHERE id = NEW.tariff_id)
BEGIN
    SELECT RAISE(ABORT, 'stations_tariff_fk');
END;

CREATE INDEX stations_tariff_idx ON stations (tariff_id);

CREATE TABLE chargers (
    id              TEXT    NOT NULL CONSTRAINT chargers_pkey PRIMARY KEY,
    station_id      TEXT    NOT NULL CONSTRAINT chargers_station_fk REFERENCES stations (id),
    vendor          TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    serial          TEXT,
    current_type    TEXT    NOT NULL CONSTRAINT chargers_current_type_check
        CHECK (current_type IN ('AC', 'DC')),
    max_power_kw    TEXT    NOT NULL,
    firmware        TEXT,
    registration    TEXT    NOT NULL CONSTRAINT chargers_registration_check
        CHECK (registration IN ('provisioned', 'registered', 'disabled')),
    -- Argon2 PHC string of the OCPP basic-auth password; NULL: the charger cannot connect.
    ocpp_password_hash TEXT,
    last_boot_at    TEXT,
    last_seen_at    TEXT,
    retired_at      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX chargers_station_idx ON chargers (station_id, id);

CREATE TABLE connectors (
    id              TEXT    NOT NULL CONSTRAINT connectors_pkey PRIMARY KEY,
    charger_id      TEXT    NOT NULL CONSTRAINT connectors_charger_fk REFERENCES chargers (id),
    number          INTEGER NOT NULL CONSTRAINT connectors_number_check
        CHECK (number BETWEEN 1 AND 99),
    standard        TEXT    NOT NULL CONSTRAINT connectors_standard_check
        CHECK (standard IN ('gbt_ac', 'gbt_dc', 'type2', 'ccs2', 'chademo', 'chaoji')),
    max_power_kw    TEXT    NOT NULL,
    voltage_v       INTEGER NOT NULL,
    current_a       INTEGER NOT NULL,
    -- Live state (core's ConnectorState): partner-visible status, the finer OCPP status behind
    -- it, when the status last changed and the sequence number that grows with each change.
    status          TEXT    NOT NULL DEFAULT 'offline' CONSTRAINT connectors_status_check
        CHECK (status IN ('available', 'occupied', 'charging', 'reserved', 'unavailable',
                          'faulted', 'offline')),
    ocpp_status     TEXT,
    status_changed_at TEXT  NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    status_seq      INTEGER NOT NULL DEFAULT 0 CONSTRAINT connectors_status_seq_check
        CHECK (status_seq >= 0),
    retired_at      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT connectors_charger_number_key UNIQUE (charger_id, number)
) STRICT;

-- Incremental feeds ("what changed since") filter on updated_at.
CREATE INDEX connectors_updated_idx ON connectors (updated_at);

CREATE TABLE operators (
    id              TEXT    NOT NULL CONSTRAINT operators_pkey PRIMARY KEY,
    -- Normalised (trimmed, lower-case) by core's Email, so plain equality is enough.
    email           TEXT    NOT NULL CONSTRAINT operators_email_key UNIQUE,
    role            TEXT    NOT NULL CONSTRAINT operators_role_check
        CHECK (role IN ('admin', 'reviewer', 'operations', 'finance')),
    password_hash   TEXT    NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0 CONSTRAINT operators_disabled_check
        CHECK (disabled IN (0, 1)),
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE operator_tokens (
    -- Hex SHA-256 of the bearer token; the token itself is never stored.
    token_sha256    TEXT    NOT NULL CONSTRAINT operator_tokens_pkey PRIMARY KEY,
    operator_id     TEXT    NOT NULL CONSTRAINT operator_tokens_operator_fk
        REFERENCES operators (id) ON DELETE CASCADE,
    expires_at      TEXT    NOT NULL,
    revoked_at      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX operator_tokens_operator_idx ON operator_tokens (operator_id);

CREATE TABLE audit_log (
    id              TEXT    NOT NULL CONSTRAINT audit_log_pkey PRIMARY KEY,
    at              TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    object          TEXT    NOT NULL,
    -- JSON text, never secrets.
    details         TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- list_audit reads newest first, keyed by (at, id).
CREATE INDEX audit_log_at_idx ON audit_log (at, id);
