//! Double-submit protection. Every form that changes something carries a random nonce; the
//! first POST with a nonce claims it, and a second one (a double click, a reload of the result
//! page, the back button) does not repeat the action: it is sent where the first one went, or
//! told the form was already submitted. A claim released without completing (the form had
//! errors) lets the same form be corrected and sent again.
//!
//! Nonces are remembered in this process's memory for an hour. With several nodes a repeat
//! that lands on another node is not caught; actions are written so that a repeat is harmless
//! where that is cheap (a tariff version number is taken once, by the store's unique key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REMEMBER_FOR: Duration = Duration::from_secs(3600);
const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Clone)]
enum State {
    InFlight,
    /// Done; where the first submission was redirected, if anywhere.
    Done(Option<String>),
}

#[derive(Default, Clone)]
pub(crate) struct Nonces {
    seen: Arc<Mutex<HashMap<String, (Instant, State)>>>,
}

/// What a POST should do with its nonce.
pub(crate) enum Claim {
    /// First time: go ahead; complete or drop the guard.
    Fresh(NonceGuard),
    /// Done before, and it redirected there: redirect again.
    Redirect(String),
    /// Done before (or still running) without a place to send the user.
    AlreadySubmitted,
}

impl Nonces {
    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, State)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn claim(&self, nonce: &str) -> Claim {
        let now = Instant::now();
        let mut seen = self.seen();
        if seen.len() >= MAX_ENTRIES {
            seen.retain(|_, (at, _)| now.duration_since(*at) < REMEMBER_FOR);
        }
        match seen.get(nonce) {
            Some((at, state)) if now.duration_since(*at) < REMEMBER_FOR => match state {
                State::Done(Some(to)) => Claim::Redirect(to.clone()),
                State::Done(None) | State::InFlight => Claim::AlreadySubmitted,
            },
            _ => {
                seen.insert(nonce.to_owned(), (now, State::InFlight));
                Claim::Fresh(NonceGuard {
                    nonces: self.clone(),
                    nonce: nonce.to_owned(),
                    done: false,
                })
            }
        }
    }
}

/// A claimed nonce. Dropping it without [`NonceGuard::complete`] releases the nonce.
pub(crate) struct NonceGuard {
    nonces: Nonces,
    nonce: String,
    done: bool,
}

impl NonceGuard {
    /// The action happened; a repeat goes to `redirect_to` (or is refused when `None`).
    pub(crate) fn complete(mut self, redirect_to: Option<String>) {
        self.done = true;
        self.nonces.seen().insert(
            self.nonce.clone(),
            (Instant::now(), State::Done(redirect_to)),
        );
    }
}

impl Drop for NonceGuard {
    fn drop(&mut self) {
        if !self.done {
            self.nonces.seen().remove(&self.nonce);
        }
    }
}

/// What a form handler does about its nonce.
pub(crate) enum Proceed {
    /// Go ahead, then complete the guard.
    Go(NonceGuard),
    /// A repeat: answer with this instead.
    Repeat(axum::response::Response),
}

/// Claims the nonce of a posted form; a form without one is malformed.
pub(crate) fn claim_form(
    nonces: &Nonces,
    form: &crate::form::FormData,
) -> Result<Proceed, crate::error::ConsoleError> {
    let nonce = form.get("nonce");
    if nonce.is_empty() || nonce.len() > 100 {
        return Err(crate::error::ConsoleError::BadRequest(
            "form without a nonce".into(),
        ));
    }
    Ok(match nonces.claim(nonce) {
        Claim::Fresh(g) => Proceed::Go(g),
        Claim::Redirect(to) => Proceed::Repeat(crate::auth::redirect(&to)),
        Claim::AlreadySubmitted => {
            use axum::response::IntoResponse as _;
            Proceed::Repeat(crate::error::ConsoleError::AlreadySubmitted.into_response())
        }
    })
}

/// [`claim_form`] in a handler: the guard when the form is fresh; on a repeat the handler
/// returns at once with the answer to it (the page the first submission led to, or the
/// "already submitted" page).
macro_rules! claim_or_return {
    ($nonces:expr, $form:expr) => {
        match $crate::nonce::claim_form($nonces, $form)? {
            $crate::nonce::Proceed::Go(guard) => guard,
            $crate::nonce::Proceed::Repeat(answer) => return Ok(answer),
        }
    };
}
pub(crate) use claim_or_return;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_used_once_and_released_on_failure() {
        let n = Nonces::default();
        let Claim::Fresh(g) = n.claim("a") else {
            panic!("first claim must be fresh")
        };
        assert!(matches!(n.claim("a"), Claim::AlreadySubmitted));
        drop(g);
        let Claim::Fresh(g) = n.claim("a") else {
            panic!("a released nonce is fresh again")
        };
        g.complete(Some("/console/tariffs/T1".into()));
        assert!(matches!(n.claim("a"), Claim::Redirect(to) if to == "/console/tariffs/T1"));
        let Claim::Fresh(g) = n.claim("b") else {
            panic!("other nonces are independent")
        };
        g.complete(None);
        assert!(matches!(n.claim("b"), Claim::AlreadySubmitted));
    }
}
