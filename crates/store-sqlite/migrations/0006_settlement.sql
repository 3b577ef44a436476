-- Settlement (issue 7): CDRs (immutable; corrections are credit CDRs), per-partner settlement
-- terms with effective dates, statements (one per partner per period) and the CDRs each holds,
-- partners' settlement reports with their lines, and the reconciliation of each report order by
-- order with the operator's resolutions. Conventions as in 0001: UTC timestamps as fixed-width
-- text, money as decimal text (already rounded to 0.01 CNY), energy as integer Wh, named
-- constraints.
--
-- No foreign keys to sessions or partners: a CDR is a self-contained record (its session and
-- partner are copied into it), and the settlement service checks partners before writing.

CREATE TABLE cdrs (
    -- A compact key (the rowid) for statement membership: a million integer keys are written
    -- and looked up several times faster than text ids.
    seq             INTEGER CONSTRAINT cdrs_pkey PRIMARY KEY,
    id              TEXT    NOT NULL CONSTRAINT cdrs_id_key UNIQUE,
    kind            TEXT    NOT NULL CONSTRAINT cdrs_kind_check
        CHECK (kind IN ('session', 'credit')),
    session_id      TEXT    NOT NULL,
    -- Credits only: the CDR corrected, why, and which operator issued it.
    original_id     TEXT    CONSTRAINT cdrs_original_fk REFERENCES cdrs (id),
    credit_reason   TEXT,
    issued_by       TEXT,
    -- NULL for the operator's own (local) sessions, which go on no statement.
    partner_id      TEXT,
    partner_order_id TEXT,
    station_id      TEXT    NOT NULL,
    charger_id      TEXT    NOT NULL,
    connector_id    TEXT    NOT NULL,
    started_at      TEXT    NOT NULL,
    stopped_at      TEXT    NOT NULL,
    -- Decides the statement period: the stop for a session, the issue time for a credit.
    booked_at       TEXT    NOT NULL,
    meter_start_wh  INTEGER NOT NULL,
    meter_stop_wh   INTEGER NOT NULL,
    energy_wh       INTEGER NOT NULL,
    tariff_id       TEXT    NOT NULL,
    tariff_version  INTEGER NOT NULL,
    time_zone       TEXT    NOT NULL,
    -- JSON: the priced lines per tariff segment and the idle charge.
    lines           TEXT    NOT NULL,
    idle            TEXT,
    electricity_fee TEXT    NOT NULL,
    service_fee     TEXT    NOT NULL,
    idle_fee        TEXT    NOT NULL,
    total           TEXT    NOT NULL,
    currency        TEXT    NOT NULL CONSTRAINT cdrs_currency_check CHECK (currency = 'CNY'),
    meter_anomaly   INTEGER NOT NULL CONSTRAINT cdrs_meter_anomaly_check
        CHECK (meter_anomaly IN (0, 1)),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT cdrs_partner_check CHECK ((partner_id IS NULL) = (partner_order_id IS NULL)),
    CONSTRAINT cdrs_credit_check CHECK ((kind = 'credit') = (original_id IS NOT NULL)
        AND (kind = 'session' OR (credit_reason IS NOT NULL AND issued_by IS NOT NULL)))
) STRICT;

-- Exactly one CDR per session.
CREATE UNIQUE INDEX cdrs_session_key ON cdrs (session_id) WHERE kind = 'session';
-- Partners list their CDRs by time; statements gather them by booking time.
CREATE INDEX cdrs_partner_booked_idx ON cdrs (partner_id, booked_at, id);
CREATE INDEX cdrs_original_idx ON cdrs (original_id) WHERE original_id IS NOT NULL;
-- Reconciliation looks up a partner's orders by its own order id.
CREATE INDEX cdrs_partner_order_idx ON cdrs (partner_id, partner_order_id);

-- A CDR is evidence: never changed, never deleted.
CREATE TRIGGER cdrs_immutable_update BEFORE UPDATE ON cdrs
BEGIN
    SELECT RAISE(ABORT, 'cdrs_immutable');
END;
CREATE TRIGGER cdrs_immutable_delete BEFORE DELETE ON cdrs
BEGIN
    SELECT RAISE(ABORT, 'cdrs_immutable');
END;

-- Revenue-share terms per partner, each in force from its time on (the latest one that has
-- started applies to a session by its start time).
CREATE TABLE settlement_terms (
    partner_id      TEXT    NOT NULL,
    effective_from  TEXT    NOT NULL,
    -- JSON of core's SettlementTerms.
    terms           TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT settlement_terms_pkey PRIMARY KEY (partner_id, effective_from)
) STRICT;

CREATE TABLE statements (
    seq             INTEGER CONSTRAINT statements_pkey PRIMARY KEY,
    id              TEXT    NOT NULL CONSTRAINT statements_id_key UNIQUE,
    partner_id      TEXT    NOT NULL,
    cycle           TEXT    NOT NULL CONSTRAINT statements_cycle_check
        CHECK (cycle IN ('daily', 'weekly', 'monthly')),
    -- Local dates (in time_zone), end exclusive, and the same bounds as UTC instants.
    period_start    TEXT    NOT NULL,
    period_end      TEXT    NOT NULL,
    time_zone       TEXT    NOT NULL,
    starts_at       TEXT    NOT NULL,
    ends_at         TEXT    NOT NULL,
    state           TEXT    NOT NULL CONSTRAINT statements_state_check
        CHECK (state IN ('draft', 'reported', 'reconciled', 'disputed', 'confirmed', 'settled')),
    -- Set once the period has ended and the statement stopped gathering CDRs.
    closed_at       TEXT,
    -- JSON of core's StatementSummary: terms applied and totals.
    summary         TEXT    NOT NULL,
    line_count      INTEGER NOT NULL,
    latest_report_id TEXT,
    confirmed_at    TEXT,
    settled_at      TEXT,
    payment_reference TEXT,
    -- Bumped by every change: a write names the version it read (optimistic concurrency).
    version         INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT statements_partner_period_key UNIQUE (partner_id, period_start)
) STRICT;

CREATE INDEX statements_partner_idx ON statements (partner_id, period_start);

-- Which CDRs a statement holds, by their compact keys: a CDR sits on at most one statement
-- (the primary key). No foreign keys: rows are only written by the store from existing CDRs and
-- statements (an INSERT … SELECT), and checking two references per row would double the cost
-- of gathering a million CDRs.
CREATE TABLE statement_cdrs (
    cdr_seq         INTEGER CONSTRAINT statement_cdrs_pkey PRIMARY KEY,
    statement_seq   INTEGER NOT NULL
) STRICT;

-- A statement's lines in CDR order (pages, exports, totals).
CREATE INDEX statement_cdrs_statement_idx ON statement_cdrs (statement_seq, cdr_seq);

-- A partner's settlement report for a statement; the latest one counts.
CREATE TABLE settlement_reports (
    id              TEXT    NOT NULL CONSTRAINT settlement_reports_pkey PRIMARY KEY,
    statement_id    TEXT    NOT NULL CONSTRAINT settlement_reports_statement_fk
        REFERENCES statements (id),
    partner_id      TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,
    format          TEXT    NOT NULL CONSTRAINT settlement_reports_format_check
        CHECK (format IN ('json', 'csv')),
    line_count      INTEGER NOT NULL,
    -- The totals the partner declared, as it wrote them.
    total_energy_wh INTEGER NOT NULL,
    total_amount    TEXT    NOT NULL,
    -- JSON of core's ReconciliationSummary.
    summary         TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX settlement_reports_statement_idx ON settlement_reports (statement_id, received_at);

-- Reconciliation items of a report, one per order compared (in the order produced).
CREATE TABLE reconciliation_items (
    report_id       TEXT    NOT NULL CONSTRAINT reconciliation_items_report_fk
        REFERENCES settlement_reports (id),
    seq             INTEGER NOT NULL,
    category        TEXT    NOT NULL CONSTRAINT reconciliation_items_category_check
        CHECK (category IN ('matched', 'energy_mismatch', 'amount_mismatch',
                            'missing_on_partner', 'missing_on_operator', 'duplicate')),
    order_id        TEXT,
    cdr_id          TEXT,
    -- 1-based line of the partner's report, when the item comes from one.
    report_line     INTEGER,
    our_energy_wh   INTEGER,
    their_energy_wh INTEGER,
    our_amount      TEXT,
    their_amount    TEXT,
    -- The operator's resolution of a discrepancy.
    resolution      TEXT    CONSTRAINT reconciliation_items_resolution_check
        CHECK (resolution IN ('accept_ours', 'accept_theirs', 'credit')),
    resolution_reason TEXT,
    resolved_by     TEXT,
    resolved_at     TEXT,
    credit_cdr_id   TEXT    CONSTRAINT reconciliation_items_credit_fk REFERENCES cdrs (id),
    CONSTRAINT reconciliation_items_pkey PRIMARY KEY (report_id, seq)
) STRICT, WITHOUT ROWID;

CREATE INDEX reconciliation_items_open_idx ON reconciliation_items (report_id, category)
    WHERE category <> 'matched';
