-- Meter readings as the charger reported them: one row per report (a MeterValues message, or a
-- StopTransaction's transactionData) with its samples as a JSON array, instead of one row per
-- sample. A MeterValues message carries five samples or more (energy, power, current,
-- voltage, SoC), and a table row, an index entry and two foreign-key checks per sample were
-- the largest part of the charger write path; readers always want a transaction's samples
-- together.
--
-- samples: [{"at": "<RFC 3339 UTC>", "kind": "<measurement kind>", "value": "<decimal>",
--            "phase": "<label>" | null | absent, "context": "<context>" | null | absent}, ...]
-- written by the store's code only (its readers report anything else as a corrupt value).

CREATE TABLE ocpp_meter_values (
    id              INTEGER PRIMARY KEY,
    charger_id      TEXT    NOT NULL CONSTRAINT ocpp_meter_values_charger_fk
        REFERENCES chargers (id),
    -- NULL: the charger's main meter (OCPP connector 0) or a stop's transaction data.
    connector_number INTEGER,
    -- The transaction the samples belong to when it is one we issued to this charger.
    transaction_id  INTEGER CONSTRAINT ocpp_meter_values_transaction_fk
        REFERENCES ocpp_transactions (id),
    -- The transaction id as the charger sent it (kept for unlinked samples).
    reported_transaction_id INTEGER,
    source          TEXT    NOT NULL CONSTRAINT ocpp_meter_values_source_check
        CHECK (source IN ('meter_values', 'stop_transaction')),
    samples         TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX ocpp_meter_values_transaction_idx
    ON ocpp_meter_values (transaction_id) WHERE transaction_id IS NOT NULL;

-- Earlier samples keep their order: one report each.
INSERT INTO ocpp_meter_values (charger_id, connector_number, transaction_id,
    reported_transaction_id, source, samples, received_at, created_at)
SELECT charger_id, connector_number, transaction_id, reported_transaction_id, source,
       json_array(json_object('at', sampled_at, 'kind', kind, 'value', value,
                              'phase', phase, 'context', context)),
       received_at, created_at
FROM ocpp_meter_samples ORDER BY sampled_at, id;

DROP TABLE ocpp_meter_samples;
