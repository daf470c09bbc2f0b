//! The FIFO of parked waiters that every lock and queue shares.
//!
//! A waiter is a pending [`Future`] (plus a payload: a queue's putter parks its item).
//! Waiters are served in the order they parked. A waiter that finished some other way
//! (its timeout fired, or its owner cancelled it) is skipped when the primitive hands
//! out a wake-up, so the wake-up goes to the next waiter instead of being lost, and its
//! entry is freed on the next loop iteration by a done-callback: parked waiters cost
//! O(log n) to free, whatever their position (a `BTreeMap` keyed by arrival order).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use crate::future::Future;
use crate::reactor::Handle;

/// Parked waiters in arrival order.
pub(crate) struct Waiters<X: 'static, P = ()> {
    next: u64,
    map: BTreeMap<u64, (Future<X>, P)>,
}

impl<X: 'static, P> Waiters<X, P> {
    pub(crate) fn new() -> Self {
        Waiters {
            next: 0,
            map: BTreeMap::new(),
        }
    }

    /// Entries not freed yet (a waiter that just timed out counts until the next
    /// iteration).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Removes and returns the first waiter still pending. Finished ones are left for
    /// their own done-callback to free (freeing them here could run a payload's `Drop`
    /// inside the caller's borrow).
    pub(crate) fn pop_pending(&mut self) -> Option<(Future<X>, P)> {
        let key = self
            .map
            .iter()
            .find(|(_, (f, _))| !f.is_done())
            .map(|(k, _)| *k)?;
        self.map.remove(&key)
    }

    /// Removes every entry (pending or not), in arrival order.
    pub(crate) fn take_all(&mut self) -> Vec<(Future<X>, P)> {
        std::mem::take(&mut self.map).into_values().collect()
    }

    fn push(&mut self, fut: Future<X>, payload: P) -> u64 {
        let key = self.next;
        self.next += 1;
        self.map.insert(key, (fut, payload));
        key
    }

    fn remove(&mut self, key: u64) -> Option<(Future<X>, P)> {
        self.map.remove(&key)
    }
}

/// Parks a new waiter at the back of `list(state)` and returns its future.
///
/// With a `timeout`, a timer calls `expire` on the waiter if it is still pending then
/// (failing it with `Timeout`, or resolving a condition's wait with `false`). Whenever
/// the waiter finishes (served, expired, cancelled) a done-callback cancels the timer
/// and frees the entry. That callback holds the state weakly, so a parked waiter does
/// not keep its primitive alive.
#[track_caller]
pub(crate) fn park<S: 'static, X: 'static, P: 'static>(
    state: &Rc<RefCell<S>>,
    list: fn(&mut S) -> &mut Waiters<X, P>,
    payload: P,
    timeout: Option<(&Handle, Duration)>,
    expire: fn(&Future<X>),
) -> Future<X> {
    let fut = Future::new();
    let key = list(&mut state.borrow_mut()).push(fut.clone(), payload);
    let timer = timeout.map(|(handle, delay)| {
        let f = fut.clone();
        let id = handle.call_later(delay, move || {
            if !f.is_done() {
                expire(&f);
            }
        });
        (handle.clone(), id)
    });
    let weak = Rc::downgrade(state);
    fut.add_done_callback(move |_| {
        if let Some((handle, id)) = timer {
            handle.cancel_timer(id);
        }
        if let Some(state) = weak.upgrade() {
            let entry = list(&mut state.borrow_mut()).remove(key);
            drop(entry); // outside the borrow: a payload's Drop may use the primitive
        }
    });
    fut
}

impl<X: 'static, P> Drop for Waiters<X, P> {
    /// The primitive is gone, so nothing can serve a parked waiter any more: cancel each
    /// one (its done-callbacks run on the loop) instead of leaving it pending forever.
    fn drop(&mut self) {
        for (waiter, _) in std::mem::take(&mut self.map).into_values() {
            waiter.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_pending_skips_finished_waiters_in_order() {
        let mut w: Waiters<u32, &str> = Waiters::new();
        let a = Future::new();
        let b = Future::new();
        let c = Future::new();
        w.push(a.clone(), "a");
        w.push(b.clone(), "b");
        w.push(c.clone(), "c");
        a.cancel();
        assert_eq!(w.pop_pending().map(|(_, p)| p), Some("b"));
        assert_eq!(w.pop_pending().map(|(_, p)| p), Some("c"));
        assert!(w.pop_pending().is_none());
        assert_eq!(w.len(), 1, "the cancelled entry waits for its own callback");
    }
}
