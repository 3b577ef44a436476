-- E-mails never tried: a notification is written `pending` with its first attempt already
-- scheduled a short lease ahead (email_next_attempt_at), so one whose process died before the
-- send is found by the retry task instead of staying `pending` for good. The inline send
-- records its outcome (and clears or reschedules the attempt) well within the lease.

-- The retry task's query now takes `pending` rows as well as `failed` ones.
DROP INDEX partner_notifications_mail_retry_idx;
CREATE INDEX partner_notifications_mail_due_idx
    ON partner_notifications (email_next_attempt_at)
    WHERE email_status IN ('failed', 'pending') AND email_next_attempt_at IS NOT NULL;

-- Notifications left `pending` before this migration had no schedule and were never sent:
-- migrations run before the server sends anything, so none is mid-send: make them due now.
UPDATE partner_notifications
SET email_next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE email_status = 'pending' AND email_next_attempt_at IS NULL;
