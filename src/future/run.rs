//! Running a reactor until a [`Future`] is done: [`Reactor::run_until`] and its bounded
//! sibling [`Reactor::run_until_timeout`] (Tornado's `IOLoop.run_sync`).
//!
//! They live with the futures (as `impl Reactor` blocks) so that the loop itself knows
//! nothing of futures: the `reactor` module does not import this one.

use std::time::Duration;

use super::Future;
use crate::error::{Error, Result};
use crate::reactor::Reactor;

impl Reactor {
    /// Runs until `future` is done and returns its result (taken out of the future).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut reactor = squall::Reactor::new()?;
    /// let f = reactor.handle().run_in_executor(|| 6 * 7);
    /// assert_eq!(reactor.run_until(&f)?, 42);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The future's error; [`Error::InvalidState`] if the loop was stopped first or the
    /// result had already been taken.
    pub fn run_until<T: 'static>(&mut self, future: &Future<T>) -> Result<T> {
        while !future.is_done() {
            if self.take_stop() {
                return Err(stopped());
            }
            self.run_once(None)?;
        }
        take(future)
    }

    /// Like [`run_until`](Self::run_until), but gives up after `timeout` with
    /// [`Error::Timeout`] (Tornado's `run_sync(timeout=...)`). The future is left as it
    /// is (not cancelled) and the loop stays usable: run it again to go on waiting.
    /// A `timeout` too large to represent waits without limit.
    ///
    /// The timeout is measured by the loop's clock: under a
    /// [virtual clock](crate::reactor::Builder::virtual_clock) it passes when
    /// [`Handle::advance`](crate::Handle::advance) or auto-advance moves time past it
    /// (auto-advance stops at it), never by waiting in real time.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// let mut reactor = squall::Reactor::new()?;
    /// let never: squall::Future<u8> = squall::Future::new();
    /// let r = reactor.run_until_timeout(&never, Duration::from_millis(5));
    /// assert!(matches!(r, Err(squall::Error::Timeout)));
    /// never.set_result(1);
    /// assert_eq!(reactor.run_until(&never)?, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`] when `timeout` passes first; otherwise as
    /// [`run_until`](Self::run_until).
    pub fn run_until_timeout<T: 'static>(
        &mut self,
        future: &Future<T>,
        timeout: Duration,
    ) -> Result<T> {
        let handle = self.handle();
        let Some(deadline) = handle.deadline_after(timeout) else {
            return self.run_until(future);
        };
        // A virtual clock moves only by advancing: a timer at the deadline makes
        // auto-advance stop there rather than jump past it.
        let marker = handle
            .is_virtual_clock()
            .then(|| handle.call_at(deadline, || {}));
        let result = self.run_until_deadline(future, deadline);
        if let Some(id) = marker {
            handle.cancel_timer(id);
        }
        result
    }

    fn run_until_deadline<T: 'static>(
        &mut self,
        future: &Future<T>,
        deadline: std::time::Instant,
    ) -> Result<T> {
        let handle = self.handle();
        while !future.is_done() {
            if self.take_stop() {
                return Err(stopped());
            }
            let left = deadline.saturating_duration_since(handle.now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            self.run_once(Some(left))?;
        }
        take(future)
    }
}

fn stopped() -> Error {
    Error::invalid_state("the loop stopped before the future was done")
}

fn take<T: 'static>(future: &Future<T>) -> Result<T> {
    future
        .take_result()
        .unwrap_or_else(|| Err(Error::invalid_state("the future is still pending")))
}
