//! [`Lock`] (Tornado's `locks.Lock`) and its [`LockGuard`].

use std::fmt;
use std::time::Duration;

use super::semaphore::{self, Permit, Shared};
use crate::future::Future;
use crate::reactor::Handle;

/// A mutual-exclusion lock for callbacks on one loop (Tornado's `locks.Lock`): at most
/// one holder at a time, the others parked in FIFO order.
///
/// [`acquire`](Self::acquire) resolves with a [`LockGuard`]; the lock is released when the
/// guard is dropped (Tornado's `async with lock:`), and handed to the next pending
/// waiter. There is no `release` to call by hand and so no way to release a lock twice.
/// Cloning gives another handle to the same lock.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::locks::Lock;
/// let mut reactor = squall::Reactor::new()?;
/// let lock = Lock::new();
/// let guard = reactor.run_until(&lock.acquire())?;
/// assert!(lock.is_locked());
/// let next = lock.acquire(); // parked behind `guard`
/// drop(guard);
/// let _guard = reactor.run_until(&next)?; // handed over in order
/// assert!(lock.is_locked());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lock {
    sem: Shared<LockGuard>,
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Self {
        Lock {
            sem: semaphore::new_shared(1, true),
        }
    }

    /// A future of the lock: resolved at once if it is free, else when every earlier
    /// waiter had it. Cancelling the future ([`Future::cancel`]) withdraws the request.
    #[track_caller]
    pub fn acquire(&self) -> Future<LockGuard> {
        semaphore::acquire(&self.sem, None)
    }

    /// Like [`acquire`](Self::acquire), but the future fails with
    /// [`Error::Timeout`](crate::Error::Timeout) if the lock did not reach it within
    /// `timeout`; the next waiter is served instead.
    #[track_caller]
    pub fn acquire_timeout(&self, handle: &Handle, timeout: Duration) -> Future<LockGuard> {
        semaphore::acquire(&self.sem, Some((handle, timeout)))
    }

    /// The lock now, or `None` without waiting.
    pub fn try_acquire(&self) -> Option<LockGuard> {
        semaphore::try_acquire(&self.sem)
    }

    /// True while someone holds the lock.
    pub fn is_locked(&self) -> bool {
        semaphore::value(&self.sem) == 0
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.is_locked() {
            "locked"
        } else {
            "unlocked"
        };
        f.debug_struct("Lock").field("state", &s).finish()
    }
}

/// Holding this means holding the [`Lock`]; dropping it releases the lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard {
    sem: Shared<LockGuard>,
}

impl Permit for LockGuard {
    fn new(sem: Shared<Self>) -> Self {
        LockGuard { sem }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // A lock's semaphore has exactly one permit and only guards release it, so this
        // cannot exceed the bound.
        let _ = semaphore::release(&self.sem);
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
