//! [`Handle`]: every scheduling call on the loop.

use std::fmt;
use std::os::fd::AsFd;
use std::panic::Location;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use super::core::Inner;
use super::handlers::{Bound, Dispatch};
use super::{Event, Interest, Remote, TimerId, Token};
use crate::error::{Error, Result};

/// A clonable, single-thread handle to a [`Reactor`](crate::Reactor): add callbacks,
/// timers and handlers, stop the loop. Cheap to clone; `!Send`.
///
/// Calls on a handle whose reactor was dropped do nothing (closures are dropped at once,
/// `add_handler` fails with [`Error::InvalidState`]).
#[derive(Clone)]
#[doc(alias = "IOLoop")]
pub struct Handle {
    pub(crate) inner: Rc<Inner>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// Counters describing a reactor, from [`Handle::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Loop iterations run so far.
    pub iterations: u64,
    /// Callbacks and timers run so far.
    pub callbacks_run: u64,
    /// Handlers registered now.
    pub handlers: usize,
    /// Timers pending now.
    pub timers_pending: usize,
    /// Callbacks queued for the next iteration.
    pub callbacks_pending: usize,
    /// Done-callbacks of futures waiting to run on this thread (one queue per thread,
    /// drained by whichever reactor runs).
    pub done_callbacks_pending: usize,
    /// Callbacks that held the loop longer than the slow-callback threshold (see
    /// [`ReactorBuilder::slow_callback_threshold`](crate::reactor::Builder::slow_callback_threshold);
    /// zero when it is off).
    pub slow_callbacks: u64,
    /// Time spent running callbacks so far, by the coarse clock (millisecond
    /// resolution; zero when the slow-callback threshold is off).
    pub busy: Duration,
    /// Time the last finished iteration spent running callbacks: how long an event that
    /// became ready meanwhile may have waited (the loop lag).
    pub loop_lag: Duration,
}

impl Handle {
    /// Runs `f` on the next loop iteration (never inside this call).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut reactor = squall::Reactor::new()?;
    /// let handle = reactor.handle();
    /// let h = handle.clone();
    /// handle.add_callback(move || h.stop());
    /// reactor.run()?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    #[doc(alias = "spawn_callback")]
    pub fn add_callback(&self, f: impl FnOnce() + 'static) {
        self.inner.push_callback(Box::new(f), Location::caller());
    }

    /// Runs `f` once, `delay` from now. Returns an id for [`cancel_timer`](Self::cancel_timer).
    /// A `delay` too large for the clock (`Duration::MAX`) means never: the timer stays
    /// pending (and cancellable) but never fires, and the loop never wakes for it.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// let mut reactor = squall::Reactor::new()?;
    /// let h = reactor.handle();
    /// reactor.handle().call_later(Duration::from_millis(5), move || h.stop());
    /// reactor.run()?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> TimerId {
        let deadline = self.inner.clock.deadline_after(delay);
        self.inner
            .insert_timer(deadline, (Box::new(f), Location::caller()))
    }

    /// Runs `f` once at `deadline` (or on the next iteration if it has passed).
    /// Timers with equal deadlines fire in the order they were set.
    #[track_caller]
    #[doc(alias = "add_timeout")]
    pub fn call_at(&self, deadline: Instant, f: impl FnOnce() + 'static) -> TimerId {
        self.inner
            .insert_timer(Some(deadline), (Box::new(f), Location::caller()))
    }

    /// Cancels a pending timer. Returns `true` if it was still pending (it will not run),
    /// `false` if it already ran or was cancelled. O(log n).
    #[doc(alias = "remove_timeout")]
    pub fn cancel_timer(&self, id: TimerId) -> bool {
        let task = self.inner.timers.borrow_mut().cancel(id);
        task.is_some() // the closure is dropped here, outside the borrow
    }

    /// The loop's time (Tornado's `IOLoop.time()`): the monotonic clock timers use, real
    /// or [virtual](crate::reactor::Builder::virtual_clock). Same as [`now`](Self::now).
    pub fn time(&self) -> Instant {
        self.inner.clock.now()
    }

    /// The loop's time: real, or virtual (the build time plus every
    /// [`advance`](Self::advance) and auto-advance since). Everything in squall that
    /// measures time reads it here.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// let reactor = squall::Reactor::builder().virtual_clock(true).build()?;
    /// let handle = reactor.handle();
    /// let t0 = handle.now();
    /// handle.advance(Duration::from_secs(30));
    /// assert_eq!(handle.now() - t0, Duration::from_secs(30));
    /// # Ok(()) }
    /// ```
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// The loop's wall-clock time: [`SystemTime::now`] on a real clock; on a virtual one,
    /// the wall time at build plus the virtual time elapsed since. The `Date` header,
    /// cookie expiry and signed-value timestamps use it.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// let reactor = squall::Reactor::builder().virtual_clock(true).build()?;
    /// let handle = reactor.handle();
    /// let w0 = handle.wall_time();
    /// handle.advance(Duration::from_secs(86_400));
    /// assert_eq!(handle.wall_time().duration_since(w0).unwrap(), Duration::from_secs(86_400));
    /// # Ok(()) }
    /// ```
    pub fn wall_time(&self) -> SystemTime {
        self.inner.clock.wall()
    }

    /// True if this reactor's clock is virtual.
    pub fn is_virtual_clock(&self) -> bool {
        self.inner.clock.is_virtual()
    }

    /// Moves a virtual clock forward by `by`, at once: [`now`](Self::now) reads the new
    /// time on return, and every timer now due fires on the next loop iteration, in
    /// deadline order (each seeing the new time). A [`PeriodicCallback`](crate::PeriodicCallback)
    /// that missed several runs runs once and keeps its schedule, as on a real clock
    /// after a stall; advance by one interval at a time to see every run.
    ///
    /// # Panics
    /// On a real clock (time cannot be moved there).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::{cell::RefCell, rc::Rc, time::Duration};
    /// let mut reactor = squall::Reactor::builder().virtual_clock(true).build()?;
    /// let handle = reactor.handle();
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// for s in [3, 1, 2] {
    ///     let l = log.clone();
    ///     handle.call_later(Duration::from_secs(s), move || l.borrow_mut().push(s));
    /// }
    /// handle.advance(Duration::from_secs(2));
    /// reactor.run_once(Some(Duration::ZERO))?;
    /// assert_eq!(*log.borrow(), [1, 2]);
    /// handle.advance(Duration::from_secs(1));
    /// reactor.run_once(Some(Duration::ZERO))?;
    /// assert_eq!(*log.borrow(), [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn advance(&self, by: Duration) {
        assert!(
            self.inner.clock.advance(by),
            "Handle::advance needs a reactor built with a virtual clock"
        );
    }

    /// The current loop iteration while the loop runs (inside a callback), `None`
    /// outside it. Two equal readings mean no poll happened in between.
    pub(crate) fn iteration(&self) -> Option<u64> {
        let inner = &self.inner;
        inner.running.get().then(|| inner.counters.iterations.get())
    }

    /// A cheap millisecond-resolution reading of the loop's clock, comparable only with
    /// other readings of it (stream activity, HTTP server deadlines).
    pub(crate) fn coarse_now(&self) -> Duration {
        self.inner.clock.coarse()
    }

    /// The instant `delay` from the loop's now, or `None` ("never") when that is beyond
    /// what [`Instant`] can represent (`Duration::MAX` and similar): timers, timeouts and
    /// deadlines built from user-supplied durations use this instead of `now + delay`,
    /// which panics on overflow.
    pub(crate) fn deadline_after(&self, delay: Duration) -> Option<Instant> {
        self.inner.clock.deadline_after(delay)
    }

    /// Registers `source` with the loop. `callback` is called with `&mut source` on each
    /// iteration while the source is ready for an interest it holds (level-triggered).
    /// The reactor owns `source` and drops it on [`remove_handler`](Self::remove_handler)
    /// or when the reactor is dropped.
    ///
    /// # Errors
    /// [`Error::Io`] if the descriptor cannot be registered (the source is dropped);
    /// [`Error::InvalidState`] if the reactor is gone.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::io::{Read, Write};
    /// use squall::{Interest, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let handle = reactor.handle();
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let h = handle.clone();
    /// handle.add_handler(a, Interest::READABLE, move |sock, ev| {
    ///     assert!(ev.is_readable());
    ///     let mut buf = [0u8; 16];
    ///     let n = sock.read(&mut buf).unwrap();
    ///     assert_eq!(&buf[..n], b"ping");
    ///     h.stop();
    /// })?;
    /// b.write_all(b"ping")?;
    /// reactor.run()?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn add_handler<S, F>(&self, source: S, interest: Interest, callback: F) -> Result<Token>
    where
        S: AsFd + 'static,
        F: FnMut(&mut S, Event) + 'static,
    {
        if self.inner.closed.get() {
            return Err(Error::invalid_state("the reactor was dropped"));
        }
        let bound: Box<dyn Dispatch> = Box::new(Bound { source, callback });
        let inserted = self
            .inner
            .handlers
            .borrow_mut()
            .insert(bound, interest, Location::caller());
        inserted.map_err(|(e, bound)| {
            drop(bound); // outside the borrow: dropping the source may run user code
            e
        })
    }

    /// Changes what a handler waits for. [`Interest::NONE`] pauses it.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a stale token; [`Error::Io`] if epoll refuses.
    pub fn update_handler(&self, token: Token, interest: Interest) -> Result<()> {
        self.inner.handlers.borrow_mut().update(token, interest)
    }

    /// Removes a handler and drops its source (at once, or when its running callback
    /// returns, if it removes itself). It never runs again.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a stale token.
    pub fn remove_handler(&self, token: Token) -> Result<()> {
        let handler = self.inner.handlers.borrow_mut().remove(token)?;
        drop(handler); // outside the borrow: dropping the source may run user code
        Ok(())
    }

    /// Parks `f` on this loop until [`Remote::fire`] names the returned key from any
    /// thread; `None` if the reactor is gone. The building block of
    /// [`Handle::remote_future`].
    pub(crate) fn park(&self, f: Box<dyn FnOnce()>) -> Option<usize> {
        self.inner.park(f)
    }

    /// A `Send + Sync` handle for other threads.
    pub fn remote(&self) -> Remote {
        Remote {
            shared: self.inner.remote.clone(),
        }
    }

    /// Stops the loop: [`Reactor::run`](crate::Reactor::run) returns after the current
    /// iteration (at once if called before `run`).
    pub fn stop(&self) {
        self.inner.stopping.set(true);
    }

    /// Counters: iterations, callbacks run, handlers, pending timers and callbacks.
    pub fn stats(&self) -> Stats {
        Stats {
            iterations: self.inner.counters.iterations.get(),
            callbacks_run: self.inner.counters.callbacks_run.get(),
            handlers: self.inner.handlers.borrow().len(),
            timers_pending: self.inner.timers.borrow().len(),
            callbacks_pending: self.inner.callbacks.borrow().len(),
            done_callbacks_pending: super::deferred::pending(),
            slow_callbacks: self.inner.counters.slow_callbacks.get(),
            busy: self.inner.counters.busy.get(),
            loop_lag: self.inner.counters.lag.get(),
        }
    }
}
