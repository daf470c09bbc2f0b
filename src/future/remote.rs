//! [`RemoteSetter`]: complete a [`Future`] from another thread (built on
//! [`Remote`](crate::Remote)).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Future;
use crate::error::{Error, Result};
use crate::reactor::{Handle, Remote};

/// The `Send` half of [`Handle::remote_future`]: resolves its future on the loop thread
/// from any thread, through the reactor's [`Remote`] queue.
///
/// Each setter resolves its future once: the `set*` methods consume it. A setter
/// dropped without a result fails the future with [`Error::InvalidState`], so a worker
/// that gives up or panics never leaves the loop waiting forever. If the reactor is gone
/// the result is dropped (`set` returns `false`).
///
/// This is the one bridge from threads to the loop: the executor
/// ([`Handle::run_in_executor`]) uses it, and so can a user's own worker thread.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// let mut reactor = squall::Reactor::new()?;
/// let (future, setter) = reactor.handle().remote_future::<String>();
/// let worker = std::thread::spawn(move || setter.set_result("from a thread".into()));
/// assert_eq!(reactor.run_until(&future)?, "from a thread");
/// worker.join().unwrap();
/// # Ok(()) }
/// ```
pub struct RemoteSetter<T: Send + 'static> {
    remote: Remote,
    /// The loop-side closure that moves the result into the future (`None` when the
    /// reactor was already gone at creation).
    key: Option<usize>,
    slot: Arc<Slot<T>>,
}

/// What the two halves share.
struct Slot<T> {
    result: Mutex<Option<Result<T>>>,
    /// The future was cancelled on the loop thread.
    cancelled: AtomicBool,
}

impl<T: Send + 'static> fmt::Debug for RemoteSetter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSetter").finish_non_exhaustive()
    }
}

impl Handle {
    /// A pending future and the [`RemoteSetter`] that resolves it from another thread.
    /// The future's done-callbacks run on this loop's thread, deferred as usual.
    ///
    /// If the reactor is already gone the future fails at once with
    /// [`Error::InvalidState`].
    pub fn remote_future<T: Send + 'static>(&self) -> (Future<T>, RemoteSetter<T>) {
        let future = Future::new();
        let slot = Arc::new(Slot {
            result: Mutex::new(None),
            cancelled: AtomicBool::new(false),
        });
        let s = slot.clone();
        // Tells the other thread about a cancel (without counting as a look at the
        // result: a failure nobody reads is still reported).
        future.add_done_callback_unobserved(move |f| {
            if f.is_cancelled() {
                s.cancelled.store(true, Ordering::Release);
            }
        });
        let (f, s) = (future.clone(), slot.clone());
        let key = self.park(Box::new(move || {
            let result = s.result.lock().unwrap_or_else(|p| p.into_inner()).take();
            // Ignored if the future was cancelled meanwhile.
            f.set(result.unwrap_or_else(|| {
                Err(Error::invalid_state(
                    "the remote setter was dropped without a result",
                ))
            }));
        }));
        if key.is_none() {
            future.set_error(Error::invalid_state("the reactor was dropped"));
        }
        let setter = RemoteSetter {
            remote: self.remote(),
            key,
            slot,
        };
        (future, setter)
    }
}

impl<T: Send + 'static> RemoteSetter<T> {
    /// Resolves the future with `value`. Returns `false` if the reactor is gone (the
    /// value is dropped).
    pub fn set_result(self, value: T) -> bool {
        self.set(Ok(value))
    }

    /// Fails the future with `error`. Returns `false` if the reactor is gone.
    pub fn set_error(self, error: Error) -> bool {
        self.set(Err(error))
    }

    /// Resolves or fails the future with `result`. Returns `false` if the reactor is
    /// gone.
    pub fn set(mut self, result: Result<T>) -> bool {
        *self.slot.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        self.fire()
    }

    /// True once the future was cancelled on the loop thread (shortly after
    /// [`Future::cancel`], when the loop has run its done-callbacks): the work can stop
    /// early; a later `set` is ignored.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut reactor = squall::Reactor::new()?;
    /// let (future, setter) = reactor.handle().remote_future::<u8>();
    /// future.cancel();
    /// reactor.run_once(Some(std::time::Duration::ZERO))?;
    /// assert!(setter.is_cancelled());
    /// # Ok(()) }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.slot.cancelled.load(Ordering::Acquire)
    }

    fn fire(&mut self) -> bool {
        match self.key.take() {
            Some(key) => self.remote.fire(key),
            None => false,
        }
    }
}

impl<T: Send + 'static> Drop for RemoteSetter<T> {
    fn drop(&mut self) {
        // Not set: the loop side finds no result and fails the future.
        self.fire();
    }
}
