//! [`Semaphore`] and [`BoundedSemaphore`] (Tornado's `locks.Semaphore`,
//! `locks.BoundedSemaphore`), and the [`SemaphoreGuard`] an acquire resolves with.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::waiters::{park, Waiters};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::Handle;

/// What an acquire resolves with: a guard that releases the permit when dropped.
pub(crate) trait Permit: Sized + 'static {
    fn new(sem: Shared<Self>) -> Self;
}

pub(crate) struct SemState<G: 'static> {
    value: usize,
    /// `Some(initial)` for a bounded semaphore.
    bound: Option<usize>,
    waiters: Waiters<G>,
}

/// A semaphore's state, parameterised by the guard type its waiters receive.
pub(crate) type Shared<G> = Rc<RefCell<SemState<G>>>;

pub(crate) fn new_shared<G>(value: usize, bounded: bool) -> Shared<G> {
    Rc::new(RefCell::new(SemState {
        value,
        bound: bounded.then_some(value),
        waiters: Waiters::new(),
    }))
}

#[track_caller]
pub(crate) fn acquire<G: Permit>(
    sem: &Shared<G>,
    timeout: Option<(&Handle, Duration)>,
) -> Future<G> {
    match try_acquire(sem) {
        Some(guard) => Future::ready(guard),
        None => park(
            sem,
            |s| &mut s.waiters,
            (),
            timeout,
            |f| f.set_error(Error::Timeout),
        ),
    }
}

pub(crate) fn try_acquire<G: Permit>(sem: &Shared<G>) -> Option<G> {
    let mut s = sem.borrow_mut();
    // While a waiter is pending the value is 0: a permit never jumps the queue.
    if s.value == 0 {
        return None;
    }
    s.value -= 1;
    drop(s);
    Some(G::new(sem.clone()))
}

/// Adds a permit: hands it straight to the first pending waiter, or counts it.
pub(crate) fn release<G: Permit>(sem: &Shared<G>) -> Result<()> {
    let next = {
        let mut s = sem.borrow_mut();
        if s.bound.is_some_and(|b| s.value >= b) {
            return Err(Error::invalid_state("semaphore released too many times"));
        }
        match s.waiters.pop_pending() {
            Some((waiter, ())) => Some(waiter),
            None => {
                s.value += 1;
                None
            }
        }
    };
    if let Some(waiter) = next {
        waiter.set_result(G::new(sem.clone()));
    }
    Ok(())
}

pub(crate) fn value<G>(sem: &Shared<G>) -> usize {
    sem.borrow().value
}

pub(crate) fn debug<G>(sem: &Shared<G>, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let s = sem.borrow();
    f.debug_struct(name)
        .field("value", &s.value)
        .field("waiters", &s.waiters.len())
        .finish()
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping it releases the permit
/// (Tornado's `async with sem:`). A waiter that was parked gets it next.
#[must_use = "dropping the guard releases the permit at once"]
pub struct SemaphoreGuard {
    sem: Shared<SemaphoreGuard>,
}

impl Permit for SemaphoreGuard {
    fn new(sem: Shared<Self>) -> Self {
        SemaphoreGuard { sem }
    }
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        if let Err(e) = release(&self.sem) {
            // Only possible when `release` was also called by hand on a bounded semaphore.
            log::error!("dropping a semaphore guard: {e}");
        }
    }
}

impl fmt::Debug for SemaphoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}

/// A counter of permits: [`acquire`](Self::acquire) takes one or waits, in FIFO order,
/// until one is released (Tornado's `locks.Semaphore`).
///
/// `acquire` resolves with a [`SemaphoreGuard`] that gives the permit back when dropped.
/// [`release`](Self::release) adds a permit by hand. Cloning gives another handle to the
/// same semaphore.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::locks::Semaphore;
/// let mut reactor = squall::Reactor::new()?;
/// let sem = Semaphore::new(1);
/// let first = reactor.run_until(&sem.acquire())?; // a permit was free
/// let second = sem.acquire(); // parked: no permit left
/// assert!(!second.is_done());
/// drop(first); // the permit goes to the parked waiter
/// let _guard = reactor.run_until(&second)?;
/// assert_eq!(sem.value(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    sem: Shared<SemaphoreGuard>,
}

impl Semaphore {
    /// A semaphore with `value` permits.
    pub fn new(value: usize) -> Self {
        Semaphore {
            sem: new_shared(value, false),
        }
    }

    /// A future of a permit: resolved at once if one is free, else when one is released
    /// to this waiter (waiters are served in the order they asked).
    ///
    /// Cancelling the future ([`Future::cancel`]) withdraws the request.
    #[track_caller]
    pub fn acquire(&self) -> Future<SemaphoreGuard> {
        acquire(&self.sem, None)
    }

    /// Like [`acquire`](Self::acquire), but the future fails with [`Error::Timeout`] if
    /// no permit reached it within `timeout`; the next waiter is served instead.
    #[track_caller]
    pub fn acquire_timeout(&self, handle: &Handle, timeout: Duration) -> Future<SemaphoreGuard> {
        acquire(&self.sem, Some((handle, timeout)))
    }

    /// A permit now, or `None` without waiting.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard> {
        try_acquire(&self.sem)
    }

    /// Adds a permit (gives it to the first pending waiter, if any). Guards do this
    /// when dropped; call it by hand only for permits you count yourself.
    pub fn release(&self) {
        // Unbounded: cannot fail.
        let _ = release(&self.sem);
    }

    /// Permits free now.
    pub fn value(&self) -> usize {
        value(&self.sem)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug(&self.sem, "Semaphore", f)
    }
}

/// A [`Semaphore`] that refuses to be released above its initial value (Tornado's
/// `locks.BoundedSemaphore`): releasing more often than acquiring is a bug it reports.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::locks::BoundedSemaphore;
/// let sem = BoundedSemaphore::new(1);
/// assert!(matches!(sem.release(), Err(squall::Error::InvalidState(_))));
/// let guard = sem.try_acquire().expect("one permit");
/// assert_eq!(sem.value(), 0);
/// drop(guard);
/// assert_eq!(sem.value(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    sem: Shared<SemaphoreGuard>,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, never more.
    pub fn new(value: usize) -> Self {
        BoundedSemaphore {
            sem: new_shared(value, true),
        }
    }

    /// As [`Semaphore::acquire`].
    #[track_caller]
    pub fn acquire(&self) -> Future<SemaphoreGuard> {
        acquire(&self.sem, None)
    }

    /// As [`Semaphore::acquire_timeout`].
    #[track_caller]
    pub fn acquire_timeout(&self, handle: &Handle, timeout: Duration) -> Future<SemaphoreGuard> {
        acquire(&self.sem, Some((handle, timeout)))
    }

    /// As [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Option<SemaphoreGuard> {
        try_acquire(&self.sem)
    }

    /// Adds a permit by hand.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if that would exceed the initial value.
    pub fn release(&self) -> Result<()> {
        release(&self.sem)
    }

    /// Permits free now.
    pub fn value(&self) -> usize {
        value(&self.sem)
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug(&self.sem, "BoundedSemaphore", f)
    }
}
