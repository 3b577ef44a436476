//! Lock-out after repeated failed logins: after `max_failures` wrong passwords for one e-mail
//! within `lock_for`, that e-mail cannot log in for `lock_for`, whatever the password. Unknown
//! e-mails are counted too, so the lock does not reveal which accounts exist.
//!
//! The counts live in this process's memory: a restart forgets them, and with several nodes
//! each node counts on its own (an attacker spread over N nodes gets N × `max_failures`
//! tries). A store port would lift both limits; argon2's cost already bounds the rate.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// How many failures lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lock_for: TimeDelta,
}

impl Default for LockoutPolicy {
    /// 5 failures lock for 15 minutes.
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_for: TimeDelta::minutes(15),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Failures older than `lock_for` no longer count.
    first_failure: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

/// Beyond this many tracked e-mails, entries that no longer matter are dropped, so a flood of
/// made-up e-mails cannot grow memory without bound.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct Lockout {
    policy: LockoutPolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Lockout {
    pub(crate) fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves plain counters behind; they are still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When `key` is locked at `now`, until when.
    pub(crate) fn locked_until(&self, key: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries()
            .get(key)
            .and_then(|e| e.locked_until)
            .filter(|until| *until > now)
    }

    /// Counts a failure; returns the end of the lock when this failure started one.
    pub(crate) fn record_failure(&self, key: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            let horizon = now - self.policy.lock_for;
            entries.retain(|_, e| {
                e.locked_until.is_some_and(|u| u > now) || e.first_failure > horizon
            });
        }
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            first_failure: now,
            locked_until: None,
        });
        let expired_lock = entry.locked_until.is_some_and(|u| u <= now);
        if expired_lock || now - entry.first_failure > self.policy.lock_for {
            *entry = Entry {
                failures: 0,
                first_failure: now,
                locked_until: None,
            };
        }
        entry.failures += 1;
        if entry.failures >= self.policy.max_failures {
            let until = now + self.policy.lock_for;
            entry.locked_until = Some(until);
            return Some(until);
        }
        None
    }

    /// A successful login clears the count.
    pub(crate) fn record_success(&self, key: &str) {
        self.entries().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + TimeDelta::minutes(min)
    }

    #[test]
    fn the_fifth_failure_locks_for_fifteen_minutes() {
        let l = Lockout::new(LockoutPolicy::default());
        for _ in 0..4 {
            assert_eq!(l.record_failure("a@x.cn", t(0)), None);
        }
        assert_eq!(l.locked_until("a@x.cn", t(0)), None);
        assert_eq!(l.record_failure("a@x.cn", t(1)), Some(t(16)));
        assert_eq!(l.locked_until("a@x.cn", t(10)), Some(t(16)));
        assert_eq!(l.locked_until("b@x.cn", t(10)), None);
        assert_eq!(l.locked_until("a@x.cn", t(16)), None);
        // After the lock the count starts again.
        assert_eq!(l.record_failure("a@x.cn", t(17)), None);
    }

    #[test]
    fn old_failures_and_successes_reset_the_count() {
        let l = Lockout::new(LockoutPolicy::default());
        for _ in 0..4 {
            l.record_failure("a@x.cn", t(0));
        }
        assert_eq!(l.record_failure("a@x.cn", t(30)), None);
        for _ in 0..3 {
            l.record_failure("a@x.cn", t(31));
        }
        l.record_success("a@x.cn");
        assert_eq!(l.record_failure("a@x.cn", t(32)), None);
    }
}
