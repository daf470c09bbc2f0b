//! The event loop (Tornado's `IOLoop`): [`Reactor`], [`Handle`], [`Remote`], timers,
//! [`PeriodicCallback`] and signals.
//!
//! One iteration, in order: wait for I/O (no longer than the next timer, not at all if
//! callbacks are queued), call ready handlers, run callbacks sent by other threads, run
//! the timers that are due (one at a time, only those set before the phase began), then
//! the callbacks phase: the thread's deferred done-callbacks, the callbacks queued before
//! the phase began, and the done-callbacks those queued. See `docs/architecture.md`.

mod clock;
mod core;
mod deferred;
mod handle;
mod handlers;
mod interest;
mod periodic;
mod remote;
mod signal;
mod timers;
mod token;

use std::fmt;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use polling::Events;

#[cfg(feature = "metrics")]
pub(crate) use self::clock::real_coarse;
pub(crate) use self::clock::real_now;
pub(crate) use self::core::Inner;
pub(crate) use self::deferred::{defer, Deferred};
pub use self::handle::{Handle, Stats};
pub use self::interest::{Event, Interest};
pub use self::periodic::PeriodicCallback;
pub use self::remote::Remote;
pub use self::token::{TimerId, Token};
use crate::error::Result;

/// The event loop. Owns every handler, timer and queued callback; dropping it drops them
/// all (so closures that captured a [`Handle`] are freed).
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use std::time::Duration;
/// use squall::{Future, Reactor};
///
/// let mut reactor = Reactor::new()?;
/// let handle = reactor.handle();
/// let answer: Future<u32> = Future::new();
/// let f = answer.clone();
/// handle.call_later(Duration::from_millis(10), move || f.set_result(42));
/// assert_eq!(reactor.run_until(&answer)?, 42);
/// # Ok(()) }
/// ```
#[doc(alias = "IOLoop")]
pub struct Reactor {
    inner: Rc<Inner>,
    events: Events,
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("stats", &self.handle().stats())
            .finish()
    }
}

/// Options for a [`Reactor`]: `Reactor::builder().propagate_panics(true).build()?`.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// let reactor = squall::Reactor::builder()
///     .propagate_panics(true)
///     .event_capacity(256)
///     .build()?;
/// # drop(reactor);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Builder {
    options: self::core::Options,
}

impl Builder {
    /// If `true`, a panicking callback's panic is re-raised from `run`/`run_once` (after
    /// the handler or callback that panicked has been put back or dropped). Default
    /// `false`: the panic is logged with `log::error!` and the loop goes on.
    pub fn propagate_panics(mut self, yes: bool) -> Self {
        self.options.propagate_panics = yes;
        self
    }

    /// How many readiness events one wait can return (default 1024).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.options.event_capacity = n.max(1);
        self
    }

    /// Callbacks that block the loop longer than this are logged with the place they
    /// were scheduled from (default 100 ms; `None` turns the check off). Measured in
    /// real time even under a [virtual clock](Self::virtual_clock): advancing the clock
    /// inside a callback is not a stall.
    pub fn slow_callback_threshold(mut self, limit: Option<Duration>) -> Self {
        self.options.slow_callback = limit;
        self
    }

    /// If `true`, the reactor's clock is virtual: it starts at the real time of
    /// [`build`](Self::build) and then stands still, moved only by
    /// [`Handle::advance`] (and by auto-advance, see [`auto_advance`](Self::auto_advance)).
    /// Everything in squall reads time from its reactor ([`Handle::now`],
    /// [`Handle::wall_time`]), so timers, timeouts, periodic callbacks, back-offs and the
    /// `Date` header all follow it. Sockets stay real. Default `false`.
    ///
    /// Without auto-advance a virtual loop never waits for a timer: it waits for I/O only
    /// (as long as the `run_once` timeout allows, or forever under `run`), and timers fire
    /// once `advance` has moved the clock past them.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let mut reactor = squall::Reactor::builder().virtual_clock(true).build()?;
    /// let handle = reactor.handle();
    /// let fired = Rc::new(Cell::new(false));
    /// let f = fired.clone();
    /// handle.call_later(Duration::from_secs(3600), move || f.set(true));
    /// reactor.run_once(Some(Duration::ZERO))?;
    /// assert!(!fired.get());
    /// handle.advance(Duration::from_secs(3600)); // an hour, at once
    /// reactor.run_once(Some(Duration::ZERO))?;
    /// assert!(fired.get());
    /// # Ok(()) }
    /// ```
    pub fn virtual_clock(mut self, yes: bool) -> Self {
        self.options.virtual_clock = yes;
        self
    }

    /// With a [virtual clock](Self::virtual_clock) (which this turns on when `true`):
    /// when the loop has nothing to do now, jump the clock to the next timer (tokio's
    /// auto-advance). Default `false`.
    ///
    /// Exactly when: an iteration with no callback or done-callback queued, no stop
    /// pending and no timer already due, but a timer pending, polls the OS with a zero
    /// timeout; if that poll returned no event and no other thread sent work, the clock
    /// moves to the earliest timer's deadline and that timer runs in the same iteration.
    /// With no timer pending the loop waits for I/O as usual.
    ///
    /// So a test whose sockets all live on this loop (a server and its client, a
    /// [`stream_pair`](crate::testing::stream_pair)) never sees a spurious timeout: data
    /// written on loopback is readable before the next poll. A peer that answers from
    /// another thread or process takes real time to answer, during which the loop looks
    /// idle and the clock jumps to the next timer (an idle or ping timeout may fire
    /// first): for such tests leave auto-advance off and move time with
    /// [`Handle::advance`] by hand.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// let mut reactor = squall::Reactor::builder().auto_advance(true).build()?;
    /// let handle = reactor.handle();
    /// let start = handle.now();
    /// let done = squall::Future::new();
    /// let d = done.clone();
    /// handle.call_later(Duration::from_secs(86_400), move || d.set_result(()));
    /// reactor.run_until(&done)?; // returns at once: the clock jumped a day
    /// assert_eq!(handle.now() - start, Duration::from_secs(86_400));
    /// # Ok(()) }
    /// ```
    pub fn auto_advance(mut self, yes: bool) -> Self {
        self.options.auto_advance = yes;
        if yes {
            self.options.virtual_clock = true;
        }
        self
    }

    /// Builds the reactor.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the OS poller cannot be created (e.g. out of descriptors).
    pub fn build(self) -> Result<Reactor> {
        let capacity = NonZeroUsize::new(self.options.event_capacity).unwrap_or(NonZeroUsize::MIN);
        let inner = Inner::new(self.options)?;
        deferred::reactor_built();
        Ok(Reactor {
            inner,
            events: Events::with_capacity(capacity),
        })
    }
}

impl Reactor {
    /// A reactor with default options.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if the OS poller cannot be created.
    pub fn new() -> Result<Reactor> {
        Builder::default().build()
    }

    /// Options: panic policy, event capacity, slow-callback threshold.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A handle for scheduling work on this reactor.
    pub fn handle(&self) -> Handle {
        Handle {
            inner: self.inner.clone(),
        }
    }

    /// Runs until [`Handle::stop`] or [`Remote::stop`].
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if waiting on the poller fails; [`Error::InvalidState`](crate::Error::InvalidState) if called
    /// from inside a callback of this reactor.
    #[doc(alias = "start")]
    pub fn run(&mut self) -> Result<()> {
        loop {
            if self.inner.stopping.replace(false) {
                return Ok(());
            }
            self.run_once(None)?;
        }
    }

    /// Runs exactly one iteration, waiting for I/O at most `timeout` (`None`: until
    /// something happens). For embedding squall in another loop: wait on this reactor's
    /// descriptor (it implements [`AsFd`]) and call `run_once(Some(Duration::ZERO))`.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_once(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.inner.run_once(&mut self.events, timeout)
    }

    /// Takes a pending stop request (`run_until` ends on it).
    pub(crate) fn take_stop(&self) -> bool {
        self.inner.stopping.replace(false)
    }
}

impl AsFd for Reactor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.poller.as_fd()
    }
}

impl AsRawFd for Reactor {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.poller.as_raw_fd()
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.inner.close();
        deferred::reactor_dropped();
    }
}
