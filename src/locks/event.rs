//! [`Event`] (Tornado's `locks.Event`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::waiters::{park, Waiters};
use crate::error::Error;
use crate::future::Future;
use crate::reactor::Handle;

struct State {
    set: bool,
    waiters: Waiters<()>,
}

/// A flag that callbacks can wait for (Tornado's `locks.Event`): false at first;
/// [`set`](Self::set) makes it true and wakes every waiter; [`clear`](Self::clear) makes
/// it false again. While it is true, [`wait`](Self::wait) resolves at once.
///
/// Cloning gives another handle to the same event.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::locks::Event;
/// let mut reactor = squall::Reactor::new()?;
/// let event = Event::new();
/// let waiter = event.wait();
/// let e = event.clone();
/// reactor.handle().add_callback(move || e.set());
/// reactor.run_until(&waiter)?;
/// assert!(event.is_set());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Event {
    state: Rc<RefCell<State>>,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Self {
        Event {
            state: Rc::new(RefCell::new(State {
                set: false,
                waiters: Waiters::new(),
            })),
        }
    }

    /// True once [`set`](Self::set) (until [`clear`](Self::clear)).
    pub fn is_set(&self) -> bool {
        self.state.borrow().set
    }

    /// Sets the flag and resolves every pending waiter (their done-callbacks run on the
    /// loop, not inside this call).
    pub fn set(&self) {
        let waiters = {
            let mut s = self.state.borrow_mut();
            s.set = true;
            s.waiters.take_all()
        };
        for (waiter, ()) in waiters {
            if !waiter.is_done() {
                waiter.set_result(());
            }
        }
    }

    /// Resets the flag: later waits park until the next [`set`](Self::set).
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// A future resolved when the flag is set (at once if it is set now).
    #[track_caller]
    pub fn wait(&self) -> Future<()> {
        self.wait_inner(None)
    }

    /// Like [`wait`](Self::wait), but the future fails with [`Error::Timeout`] if the
    /// event was not set within `timeout`.
    #[track_caller]
    pub fn wait_timeout(&self, handle: &Handle, timeout: Duration) -> Future<()> {
        self.wait_inner(Some((handle, timeout)))
    }

    #[track_caller]
    fn wait_inner(&self, timeout: Option<(&Handle, Duration)>) -> Future<()> {
        if self.is_set() {
            return Future::ready(());
        }
        park(
            &self.state,
            |s| &mut s.waiters,
            (),
            timeout,
            |f| f.set_error(Error::Timeout),
        )
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("Event")
            .field("state", &if s.set { "set" } else { "clear" })
            .field("waiters", &s.waiters.len())
            .finish()
    }
}
