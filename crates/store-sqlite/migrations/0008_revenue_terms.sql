-- Revenue share per fee (issue 7): a contract's `revenue_share` was one fraction applied to every
-- fee alike; it becomes the partner's commission rate on each fee,
-- {"electricity": "…", "service": "…", "idle": "…"}. Contracts stored before keep what they
-- meant: the one rate on every fee. Later terms are scheduled in settlement_terms (0006), each
-- with its effective date.
--
-- Contracts are JSON in two places: the partner's current contract and each approval decision.
-- A scalar (the old form, stored as a JSON string) is replaced; an object is left alone, so the
-- migration is safe on data written by either version.

UPDATE partners
SET contract = json_set(contract, '$.revenue_share', json_object(
        'electricity', json_extract(contract, '$.revenue_share'),
        'service', json_extract(contract, '$.revenue_share'),
        'idle', json_extract(contract, '$.revenue_share'))),
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE contract IS NOT NULL
  AND json_type(contract, '$.revenue_share') IN ('text', 'real', 'integer');

UPDATE partner_application_decisions
SET contract = json_set(contract, '$.revenue_share', json_object(
        'electricity', json_extract(contract, '$.revenue_share'),
        'service', json_extract(contract, '$.revenue_share'),
        'idle', json_extract(contract, '$.revenue_share'))),
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE contract IS NOT NULL
  AND json_type(contract, '$.revenue_share') IN ('text', 'real', 'integer');

-- Scheduled terms are looked up per partner in effective order; the primary key
-- (partner_id, effective_from) already serves that, so no index is added.
