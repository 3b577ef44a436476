-- Partners (issue 4): applicant accounts, applications with their revisions and decisions,
-- partners with their contract, OAuth2 client credentials, hashed secrets, access tokens (by
-- SHA-256 only) and notifications. Then the catalog revision: triggers on the network tables
-- that let the in-memory partner catalog fetch only what changed. Conventions as in 0001.

CREATE TABLE partners (
    id              TEXT    NOT NULL CONSTRAINT partners_pkey PRIMARY KEY,
    -- Company name of the latest application revision.
    name            TEXT    NOT NULL,
    application_id  TEXT    NOT NULL,
    -- The applicant account's e-mail (normalised), where notifications go.
    email           TEXT    NOT NULL,
    status          TEXT    NOT NULL CONSTRAINT partners_status_check
        CHECK (status IN ('applicant', 'active', 'suspended')),
    -- JSON of core's Contract; set on approval.
    contract        TEXT,
    suspended_at    TEXT,
    suspension_reason TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE partner_accounts (
    partner_id      TEXT    NOT NULL CONSTRAINT partner_accounts_pkey PRIMARY KEY
        CONSTRAINT partner_accounts_partner_fk REFERENCES partners (id),
    -- Normalised by core's Email.
    email           TEXT    NOT NULL CONSTRAINT partner_accounts_email_key UNIQUE,
    -- Argon2 PHC string.
    password_hash   TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE partner_applications (
    id              TEXT    NOT NULL CONSTRAINT partner_applications_pkey PRIMARY KEY,
    partner_id      TEXT    NOT NULL CONSTRAINT partner_applications_partner_key UNIQUE
        CONSTRAINT partner_applications_partner_fk REFERENCES partners (id),
    status          TEXT    NOT NULL CONSTRAINT partner_applications_status_check
        CHECK (status IN ('pending', 'approved', 'rejected')),
    -- Number of the latest revision.
    revision        INTEGER NOT NULL CONSTRAINT partner_applications_revision_check
        CHECK (revision >= 1),
    -- The unified social credit code of the latest revision: one application per company.
    uscc            TEXT    NOT NULL CONSTRAINT partner_applications_uscc_key UNIQUE,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- The review queue: list by status in id (= creation) order.
CREATE INDEX partner_applications_status_idx ON partner_applications (status, id);

CREATE TABLE partner_application_revisions (
    application_id  TEXT    NOT NULL CONSTRAINT partner_application_revisions_application_fk
        REFERENCES partner_applications (id),
    number          INTEGER NOT NULL,
    -- JSON of the form's fields, re-validated by core on the way out.
    form            TEXT    NOT NULL,
    submitted_at    TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT partner_application_revisions_pkey PRIMARY KEY (application_id, number)
) STRICT;

CREATE TABLE partner_application_decisions (
    id              TEXT    NOT NULL CONSTRAINT partner_application_decisions_pkey PRIMARY KEY,
    application_id  TEXT    NOT NULL CONSTRAINT partner_application_decisions_application_fk
        REFERENCES partner_applications (id),
    revision        INTEGER NOT NULL,
    outcome         TEXT    NOT NULL CONSTRAINT partner_application_decisions_outcome_check
        CHECK (outcome IN ('approved', 'rejected')),
    reason          TEXT,
    -- The operator account id.
    decided_by      TEXT    NOT NULL,
    decided_at      TEXT    NOT NULL,
    -- JSON of core's Contract, for approvals.
    contract        TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT partner_application_decisions_reason_check
        CHECK (outcome = 'approved' OR reason IS NOT NULL),
    CONSTRAINT partner_application_decisions_contract_check
        CHECK (outcome = 'rejected' OR contract IS NOT NULL)
) STRICT;

CREATE INDEX partner_application_decisions_application_idx
    ON partner_application_decisions (application_id, decided_at, id);

CREATE TABLE partner_credentials (
    client_id       TEXT    NOT NULL CONSTRAINT partner_credentials_pkey PRIMARY KEY,
    partner_id      TEXT    NOT NULL CONSTRAINT partner_credentials_partner_fk
        REFERENCES partners (id),
    environment     TEXT    NOT NULL CONSTRAINT partner_credentials_environment_check
        CHECK (environment IN ('sandbox', 'production')),
    -- Space-delimited OAuth2 scopes (RFC 6749 §3.3) the client may ask for.
    scopes          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX partner_credentials_partner_idx ON partner_credentials (partner_id, client_id);

CREATE TABLE partner_secrets (
    id              TEXT    NOT NULL CONSTRAINT partner_secrets_pkey PRIMARY KEY,
    client_id       TEXT    NOT NULL CONSTRAINT partner_secrets_client_fk
        REFERENCES partner_credentials (client_id),
    -- Hex SHA-256 of the secret (256 random bits; the secret itself is never stored).
    secret_sha256   TEXT    NOT NULL,
    -- End of the grace period after a rotation.
    expires_at      TEXT,
    revoked_at      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX partner_secrets_client_idx ON partner_secrets (client_id, created_at);

CREATE TABLE partner_tokens (
    -- Hex SHA-256 of the access token; the token itself is never stored.
    token_sha256    TEXT    NOT NULL CONSTRAINT partner_tokens_pkey PRIMARY KEY,
    client_id       TEXT    NOT NULL CONSTRAINT partner_tokens_client_fk
        REFERENCES partner_credentials (client_id),
    secret_id       TEXT    NOT NULL CONSTRAINT partner_tokens_secret_fk
        REFERENCES partner_secrets (id),
    partner_id      TEXT    NOT NULL CONSTRAINT partner_tokens_partner_fk
        REFERENCES partners (id),
    environment     TEXT    NOT NULL CONSTRAINT partner_tokens_environment_check
        CHECK (environment IN ('sandbox', 'production')),
    scopes          TEXT    NOT NULL,
    issued_at       TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL,
    -- Set by a suspension of the partner.
    revoked_at      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Suspension revokes by partner; housekeeping purges by expiry.
CREATE INDEX partner_tokens_partner_idx ON partner_tokens (partner_id);
CREATE INDEX partner_tokens_expires_idx ON partner_tokens (expires_at);

CREATE TABLE partner_notifications (
    id              TEXT    NOT NULL CONSTRAINT partner_notifications_pkey PRIMARY KEY,
    partner_id      TEXT    NOT NULL CONSTRAINT partner_notifications_partner_fk
        REFERENCES partners (id),
    kind            TEXT    NOT NULL CONSTRAINT partner_notifications_kind_check
        CHECK (kind IN ('application_received', 'application_resubmitted',
                        'application_approved', 'application_rejected', 'partner_suspended',
                        'partner_resumed', 'secret_rotated', 'secret_revoked')),
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    email_to        TEXT    NOT NULL,
    email_status    TEXT    NOT NULL CONSTRAINT partner_notifications_email_status_check
        CHECK (email_status IN ('not_configured', 'pending', 'sent', 'failed')),
    at              TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX partner_notifications_partner_idx ON partner_notifications (partner_id, id);

-- ---------------------------------------------------------------------------------------------
-- The catalog revision. Partner reads are answered from memory; to stay current the catalog
-- asks "what changed since revision n". Every partner-visible change to a station, charger,
-- connector (including live status) or tariff advances the single revision and stamps the
-- station or tariff it affects in catalog_changes (one row per station/tariff, so the table
-- stays as small as the network). The WHEN clauses skip writes that change nothing a partner
-- sees (idempotent re-imports, heartbeats), so they cost no reload. Stamps are written as
-- DELETE + INSERT, not INSERT OR REPLACE: inside a trigger, the conflict policy of the statement
-- that fired it (an upsert's ABORT) would override the REPLACE.

CREATE TABLE catalog_revision (
    id              INTEGER NOT NULL CONSTRAINT catalog_revision_pkey PRIMARY KEY
        CONSTRAINT catalog_revision_single_check CHECK (id = 1),
    revision        INTEGER NOT NULL
) STRICT;

INSERT INTO catalog_revision (id, revision) VALUES (1, 1);

CREATE TABLE catalog_changes (
    kind            TEXT    NOT NULL CONSTRAINT catalog_changes_kind_check
        CHECK (kind IN ('station', 'tariff')),
    key             TEXT    NOT NULL,
    revision        INTEGER NOT NULL,
    CONSTRAINT catalog_changes_pkey PRIMARY KEY (kind, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX catalog_changes_revision_idx ON catalog_changes (revision);

CREATE TRIGGER catalog_stations_insert AFTER INSERT ON stations
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = NEW.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', NEW.id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_stations_update AFTER UPDATE ON stations
WHEN OLD.name IS NOT NEW.name OR OLD.address IS NOT NEW.address
  OR OLD.area_code IS NOT NEW.area_code OR OLD.province IS NOT NEW.province
  OR OLD.city IS NOT NEW.city OR OLD.district IS NOT NEW.district
  OR OLD.lat IS NOT NEW.lat OR OLD.lng IS NOT NEW.lng
  OR OLD.opening_hours IS NOT NEW.opening_hours OR OLD.parking IS NOT NEW.parking
  OR OLD.service_phone IS NOT NEW.service_phone OR OLD.photos IS NOT NEW.photos
  OR OLD.status IS NOT NEW.status OR OLD.tariff_id IS NOT NEW.tariff_id
  OR OLD.sandbox IS NOT NEW.sandbox OR OLD.retired_at IS NOT NEW.retired_at
  OR OLD.id IS NOT NEW.id
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = OLD.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', OLD.id, (SELECT revision FROM catalog_revision WHERE id = 1));
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = NEW.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', NEW.id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_stations_delete AFTER DELETE ON stations
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = OLD.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', OLD.id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_chargers_insert AFTER INSERT ON chargers
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = NEW.station_id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', NEW.station_id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_chargers_update AFTER UPDATE ON chargers
WHEN OLD.station_id IS NOT NEW.station_id OR OLD.vendor IS NOT NEW.vendor
  OR OLD.model IS NOT NEW.model OR OLD.serial IS NOT NEW.serial
  OR OLD.current_type IS NOT NEW.current_type OR OLD.max_power_kw IS NOT NEW.max_power_kw
  OR OLD.firmware IS NOT NEW.firmware OR OLD.retired_at IS NOT NEW.retired_at
  OR OLD.id IS NOT NEW.id
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = OLD.station_id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', OLD.station_id, (SELECT revision FROM catalog_revision WHERE id = 1));
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = NEW.station_id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', NEW.station_id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_chargers_delete AFTER DELETE ON chargers
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station' AND key = OLD.station_id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('station', OLD.station_id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_connectors_insert AFTER INSERT ON connectors
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station'
        AND key IN (SELECT station_id FROM chargers WHERE id = NEW.charger_id);
    INSERT INTO catalog_changes (kind, key, revision)
        SELECT DISTINCT 'station', station_id, (SELECT revision FROM catalog_revision WHERE id = 1)
        FROM chargers WHERE id = NEW.charger_id;
END;

CREATE TRIGGER catalog_connectors_update AFTER UPDATE ON connectors
WHEN OLD.charger_id IS NOT NEW.charger_id OR OLD.number IS NOT NEW.number
  OR OLD.standard IS NOT NEW.standard OR OLD.max_power_kw IS NOT NEW.max_power_kw
  OR OLD.voltage_v IS NOT NEW.voltage_v OR OLD.current_a IS NOT NEW.current_a
  OR OLD.status IS NOT NEW.status OR OLD.status_changed_at IS NOT NEW.status_changed_at
  OR OLD.status_seq IS NOT NEW.status_seq OR OLD.retired_at IS NOT NEW.retired_at
  OR OLD.id IS NOT NEW.id
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station'
        AND key IN (SELECT station_id FROM chargers WHERE id IN (OLD.charger_id, NEW.charger_id));
    INSERT INTO catalog_changes (kind, key, revision)
        SELECT DISTINCT 'station', station_id, (SELECT revision FROM catalog_revision WHERE id = 1)
        FROM chargers WHERE id IN (OLD.charger_id, NEW.charger_id);
END;

CREATE TRIGGER catalog_connectors_delete AFTER DELETE ON connectors
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'station'
        AND key IN (SELECT station_id FROM chargers WHERE id = OLD.charger_id);
    INSERT INTO catalog_changes (kind, key, revision)
        SELECT DISTINCT 'station', station_id, (SELECT revision FROM catalog_revision WHERE id = 1)
        FROM chargers WHERE id = OLD.charger_id;
END;

CREATE TRIGGER catalog_tariffs_insert AFTER INSERT ON tariffs
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'tariff' AND key = NEW.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('tariff', NEW.id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_tariffs_update AFTER UPDATE ON tariffs
WHEN OLD.name IS NOT NEW.name OR OLD.effective_from IS NOT NEW.effective_from
  OR OLD.segments IS NOT NEW.segments
  OR OLD.idle_price_per_minute IS NOT NEW.idle_price_per_minute
  OR OLD.idle_grace_minutes IS NOT NEW.idle_grace_minutes
  OR OLD.id IS NOT NEW.id OR OLD.version IS NOT NEW.version
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'tariff' AND key = OLD.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('tariff', OLD.id, (SELECT revision FROM catalog_revision WHERE id = 1));
    DELETE FROM catalog_changes WHERE kind = 'tariff' AND key = NEW.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('tariff', NEW.id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;

CREATE TRIGGER catalog_tariffs_delete AFTER DELETE ON tariffs
BEGIN
    UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1;
    DELETE FROM catalog_changes WHERE kind = 'tariff' AND key = OLD.id;
    INSERT INTO catalog_changes (kind, key, revision)
        VALUES ('tariff', OLD.id, (SELECT revision FROM catalog_revision WHERE id = 1));
END;
