-- Durable e-mail retries: a notification whose e-mail failed records how many attempts were made
-- and when to try next, so the retry task finds it again after a restart (it used to be held in
-- memory, and a restart left the notification `failed` for good).
--
-- email_next_attempt_at is set only while a retry is scheduled: NULL once sent, when the last
-- attempt failed, and for notifications that never had a mailer.

ALTER TABLE partner_notifications ADD COLUMN email_attempts INTEGER NOT NULL DEFAULT 0
    CONSTRAINT partner_notifications_email_attempts_check CHECK (email_attempts >= 0);
ALTER TABLE partner_notifications ADD COLUMN email_next_attempt_at TEXT;

-- E-mails that failed before this migration lost their in-memory schedule: count the one
-- failed attempt we know of and make them due at once.
UPDATE partner_notifications
SET email_attempts = 1,
    email_next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE email_status = 'failed';

-- The retry task's query: failed e-mails by due time. Partial, so it holds only the few that
-- wait, never the bulk of sent notifications.
CREATE INDEX partner_notifications_mail_retry_idx
    ON partner_notifications (email_next_attempt_at)
    WHERE email_status = 'failed' AND email_next_attempt_at IS NOT NULL;
