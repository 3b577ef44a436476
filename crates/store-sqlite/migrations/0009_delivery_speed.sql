-- Webhook delivery speed (issue 6: 5,000 deliveries/s with p99 under 50 ms). Every index on
-- webhook_deliveries is written on each of a delivery's row writes (insert, claim, result),
-- so only the indexes a query needs are kept (see outbox.rs, each query's plan checked).
--
-- Deliveries in flight were counted through an index on lease_until, which every claim
-- inserted into and every result deleted from. A leased delivery was due when it was
-- claimed, so the claim now counts them in webhook_deliveries_due_idx's range up to now,
-- which holds at most one delivery per (webhook, subject) queue.
DROP INDEX webhook_deliveries_leased_idx;
