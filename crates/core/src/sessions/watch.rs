//! In-process change notification for sessions, without a runtime: a caller that wants to
//! wait for a session's outcome (`POST /v1/sessions` with `wait_s`) takes a [`Listener`]
//! *before* reading the session, then awaits it; the service calls [`Changes::notify`] after
//! every change it writes. Only sessions someone listens to cost anything. Other processes'
//! changes are not seen here; waiters bound every wait and read again.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::ids::SessionId;

#[derive(Default)]
struct Slot {
    generation: u64,
    listeners: usize,
    wakers: Vec<Waker>,
}

/// Who waits for which session.
#[derive(Default)]
pub struct Changes {
    slots: Mutex<HashMap<SessionId, Slot>>,
}

impl Changes {
    fn slots(&self) -> MutexGuard<'_, HashMap<SessionId, Slot>> {
        // Sections under the lock never panic; a poisoned map is still consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes everyone listening to `id`.
    pub fn notify(&self, id: &SessionId) {
        let wakers = {
            let mut slots = self.slots();
            let Some(slot) = slots.get_mut(id) else {
                return;
            };
            slot.generation += 1;
            std::mem::take(&mut slot.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// A future that completes at the next [`Changes::notify`] of `id` after this call.
    pub fn listen(self: &Arc<Self>, id: &SessionId) -> Listener {
        let mut slots = self.slots();
        let slot = slots.entry(id.clone()).or_default();
        slot.listeners += 1;
        Listener {
            changes: Arc::clone(self),
            id: id.clone(),
            seen: slot.generation,
        }
    }

    /// Sessions with listeners now (for tests and metrics).
    pub fn watched(&self) -> usize {
        self.slots().len()
    }
}

/// Completes when its session changed after it was made.
pub struct Listener {
    changes: Arc<Changes>,
    id: SessionId,
    seen: u64,
}

impl Future for Listener {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut slots = self.changes.slots();
        let Some(slot) = slots.get_mut(&self.id) else {
            return Poll::Ready(());
        };
        if slot.generation != self.seen {
            return Poll::Ready(());
        }
        if !slot.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            slot.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut slots = self.changes.slots();
        if let Some(slot) = slots.get_mut(&self.id) {
            slot.listeners = slot.listeners.saturating_sub(1);
            if slot.listeners == 0 {
                slots.remove(&self.id);
            }
        }
    }
}

/// Completes with whichever of two futures completes first (`true` for the first).
pub(crate) struct First<A, B> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
}

pub(crate) fn first<A: Future<Output = ()>, B: Future<Output = ()>>(a: A, b: B) -> First<A, B> {
    First {
        a: Box::pin(a),
        b: Box::pin(b),
    }
}

impl<A: Future<Output = ()>, B: Future<Output = ()>> Future for First<A, B> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if self.a.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        if self.b.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        Poll::Pending
    }
}

/// Completes with the outputs of two futures run together (reads that do not depend on each
/// other cost one wait instead of two).
pub(crate) struct Both<A: Future, B: Future> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
    a_out: Option<A::Output>,
    b_out: Option<B::Output>,
}

pub(crate) fn both<A: Future, B: Future>(a: A, b: B) -> Both<A, B> {
    Both {
        a: Box::pin(a),
        b: Box::pin(b),
        a_out: None,
        b_out: None,
    }
}

impl<A: Future, B: Future> Future for Both<A, B>
where
    A::Output: Unpin,
    B::Output: Unpin,
{
    type Output = (A::Output, B::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.a_out.is_none()
            && let Poll::Ready(out) = this.a.as_mut().poll(cx)
        {
            this.a_out = Some(out);
        }
        if this.b_out.is_none()
            && let Poll::Ready(out) = this.b.as_mut().poll(cx)
        {
            this.b_out = Some(out);
        }
        match (this.a_out.take(), this.b_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                this.a_out = a;
                this.b_out = b;
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(l: &mut Listener, waker: &Waker) -> Poll<()> {
        Pin::new(l).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_listener_completes_on_the_next_change_only() {
        let changes = Arc::new(Changes::default());
        let id = SessionId::parse("s-1").unwrap();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        // A change nobody listens to costs nothing and is not remembered.
        changes.notify(&id);
        let mut l = changes.listen(&id);
        assert!(poll(&mut l, &waker).is_pending());
        assert!(poll(&mut l, &waker).is_pending(), "polled twice, one waker");
        changes.notify(&SessionId::parse("s-2").unwrap());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        changes.notify(&id);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut l, &waker).is_ready());
        assert_eq!(changes.watched(), 1);
        drop(l);
        assert_eq!(changes.watched(), 0, "the last listener frees the slot");
    }

    #[test]
    fn both_waits_for_the_two_and_keeps_their_outputs_apart() {
        let changes = Arc::new(Changes::default());
        let id = SessionId::parse("s-1").unwrap();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        let l = changes.listen(&id);
        let mut j = Box::pin(both(async { 1 }, async move {
            l.await;
            "second"
        }));
        assert!(
            j.as_mut().poll(&mut cx).is_pending(),
            "the second is not done"
        );
        changes.notify(&id);
        assert_eq!(j.as_mut().poll(&mut cx), Poll::Ready((1, "second")));
    }

    #[test]
    fn a_change_between_listen_and_poll_is_not_lost() {
        let changes = Arc::new(Changes::default());
        let id = SessionId::parse("s-1").unwrap();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut l = changes.listen(&id);
        changes.notify(&id);
        assert!(poll(&mut l, &waker).is_ready());
    }
}
