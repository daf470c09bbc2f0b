//! [`Condition`] (Tornado's `locks.Condition`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::waiters::{park, Waiters};
use crate::future::Future;
use crate::reactor::Handle;

struct State {
    waiters: Waiters<bool>,
}

/// Lets callbacks park until another notifies them (Tornado's `locks.Condition`), the
/// tool for long-polling: each request parks a [`wait`](Self::wait), a new message
/// calls [`notify_all`](Self::notify_all).
///
/// `wait` resolves with `true` when notified, or with `false` when its timeout passed
/// first ([`wait_timeout`](Self::wait_timeout)). Waiters are woken in the order they
/// parked. A waiter that timed out or was cancelled ([`Future::cancel`], e.g. because its
/// client left) is skipped and freed: `notify(1)` then wakes the next waiter, the
/// wake-up is not lost. Cloning gives another handle to the same condition.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use std::time::Duration;
/// use squall::locks::Condition;
/// let mut reactor = squall::Reactor::new()?;
/// let handle = reactor.handle();
/// let cond = Condition::new();
/// let impatient = cond.wait_timeout(&handle, Duration::from_millis(1));
/// let patient = cond.wait();
/// assert!(!reactor.run_until(&impatient)?); // timed out: false
/// cond.notify(1); // skips the timed-out waiter
/// assert!(reactor.run_until(&patient)?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Condition {
    state: Rc<RefCell<State>>,
}

impl Default for Condition {
    fn default() -> Self {
        Self::new()
    }
}

impl Condition {
    /// A condition with no waiters.
    pub fn new() -> Self {
        Condition {
            state: Rc::new(RefCell::new(State {
                waiters: Waiters::new(),
            })),
        }
    }

    /// A future resolved with `true` by a later [`notify`](Self::notify) or
    /// [`notify_all`](Self::notify_all).
    #[track_caller]
    pub fn wait(&self) -> Future<bool> {
        park(&self.state, |s| &mut s.waiters, (), None, expire)
    }

    /// Like [`wait`](Self::wait), but resolved with `false` if no notification reached
    /// it within `timeout`.
    #[track_caller]
    pub fn wait_timeout(&self, handle: &Handle, timeout: Duration) -> Future<bool> {
        park(
            &self.state,
            |s| &mut s.waiters,
            (),
            Some((handle, timeout)),
            expire,
        )
    }

    /// Wakes up to `n` waiters, oldest first, skipping those that timed out or were
    /// cancelled. Their done-callbacks run on the loop, not inside this call.
    pub fn notify(&self, n: usize) {
        let mut woken = Vec::new();
        {
            let mut s = self.state.borrow_mut();
            while woken.len() < n {
                match s.waiters.pop_pending() {
                    Some((waiter, ())) => woken.push(waiter),
                    None => break,
                }
            }
        }
        for waiter in woken {
            waiter.set_result(true);
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        // One pass over the whole list instead of `notify(usize::MAX)`'s pops.
        let waiters = self.state.borrow_mut().waiters.take_all();
        for (waiter, ()) in waiters {
            if !waiter.is_done() {
                waiter.set_result(true);
            }
        }
    }
}

fn expire(waiter: &Future<bool>) {
    waiter.set_result(false);
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.state.borrow().waiters.len())
            .finish()
    }
}
