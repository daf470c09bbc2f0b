//! Coordination between callbacks on one loop (Tornado's `tornado.locks`): [`Lock`],
//! [`Semaphore`], [`BoundedSemaphore`], [`Event`] and [`Condition`].
//!
//! These are not thread locks: everything runs on the reactor's thread, and a "wait" is
//! a [`Future`](crate::Future) that resolves later, on which you chain done-callbacks.
//! Every primitive follows the same rules:
//!
//! - **FIFO.** Waiters are served in the order they parked.
//! - **Optional timeouts.** Each wait has a `*_timeout(&handle, duration)` form; a
//!   timed-out wait fails with [`Error::Timeout`](crate::Error::Timeout) (a
//!   [`Condition`] wait resolves with `false` instead, as Tornado's does).
//! - **No lost wake-ups.** A waiter that timed out or was cancelled
//!   ([`Future::cancel`](crate::Future::cancel), e.g. when its client left) is skipped:
//!   the wake-up goes to the next waiter. Its entry is freed on the next loop iteration.
//! - **Deferred.** `notify`, `set` and a guard's drop only resolve futures; the waiters'
//!   done-callbacks run from the loop, never inside that call.
//! - **Guards.** [`Lock::acquire`] and [`Semaphore::acquire`] resolve with a guard that
//!   releases when dropped (Tornado's `async with lock:`).
//!
//! Cloning a primitive gives another handle to the same one, so each callback can own
//! its copy. A pending waiter keeps its done-callbacks (and what they captured) alive
//! until it is served, times out or is cancelled.
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use squall::locks::Lock;
//!
//! let mut reactor = squall::Reactor::new()?;
//! let lock = Lock::new();
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let mut last = None;
//! for i in 0..3 {
//!     let log = log.clone();
//!     let done = lock.acquire().map(move |guard| {
//!         let _guard = guard?; // held until the end of this callback
//!         log.borrow_mut().push(i);
//!         Ok(())
//!     });
//!     last = Some(done);
//! }
//! reactor.run_until(&last.unwrap())?;
//! assert_eq!(*log.borrow(), [0, 1, 2]); // served in order
//! # Ok(()) }
//! ```

mod condition;
mod event;
mod lock;
mod semaphore;
pub(crate) mod waiters;

pub use condition::Condition;
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
