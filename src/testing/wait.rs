//! Running a reactor until a condition holds, bounded in real time.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::reactor::{real_now, Reactor};

/// Longest the loop waits for I/O between two checks of the condition: a condition set
/// by another thread (a peer in a thread, a child process) is seen within this time.
const POLL: Duration = Duration::from_millis(20);

/// Runs `reactor` until `condition` holds, checking it before each loop iteration, and
/// fails with [`Error::Timeout`] if it still does not after `limit` of **real** time. For
/// tests that wait on something other than a [`Future`](crate::Future) (a counter, a
/// peer thread's message, a close callback having run); for a future, use
/// [`Reactor::run_until_timeout`] (the loop's clock) or this with
/// `|| future.is_done()` (real time).
///
/// The bound is real time even under a
/// [virtual clock](crate::reactor::Builder::virtual_clock), which does not move while
/// the loop waits: a test that forgot to advance the clock fails instead of hanging.
/// Between checks the loop waits for I/O at most 20 ms, so a condition another thread
/// makes true is seen promptly.
///
/// # Errors
/// [`Error::Timeout`] when `limit` passes first; the loop's own errors
/// ([`Reactor::run_once`]).
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use squall::testing::wait_until;
///
/// let mut reactor = squall::Reactor::new()?;
/// let fired = Rc::new(Cell::new(0));
/// let f = fired.clone();
/// reactor.handle().call_later(Duration::from_millis(5), move || f.set(f.get() + 1));
/// wait_until(&mut reactor, Duration::from_secs(10), || fired.get() == 1)?;
///
/// // A condition that never holds ends in `Timeout`, not a hang.
/// let r = wait_until(&mut reactor, Duration::from_millis(30), || fired.get() == 2);
/// assert!(matches!(r, Err(squall::Error::Timeout)));
/// # Ok(()) }
/// ```
pub fn wait_until(
    reactor: &mut Reactor,
    limit: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = real_now().checked_add(limit);
    while !condition() {
        let left = match deadline {
            Some(d) => d.saturating_duration_since(real_now()),
            None => POLL,
        };
        if left.is_zero() {
            return Err(Error::Timeout);
        }
        reactor.run_once(Some(left.min(POLL)))?;
    }
    Ok(())
}
