//! [`Remote`]: the one way into a reactor from another thread.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use polling::Poller;

/// Work sent to the loop thread: a closure, or the key of a closure parked there (see
/// `Handle::park`), which the loop runs itself.
pub(crate) enum RemoteTask {
    Call(Box<dyn FnOnce() + Send>),
    Unpark(usize),
}

pub(crate) struct RemoteShared {
    poller: Arc<Poller>,
    queue: Mutex<Vec<RemoteTask>>,
    /// Set when the queue went from empty to non-empty (or a stop was asked): the
    /// poller was notified once, and further senders need not notify again.
    pending: AtomicBool,
    stop: AtomicBool,
    closed: AtomicBool,
}

impl RemoteShared {
    pub(crate) fn new(poller: Arc<Poller>) -> Self {
        RemoteShared {
            poller,
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn send(&self, task: RemoteTask) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
        self.wake();
        true
    }

    fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel)
            && let Err(e) = self.poller.notify()
        {
            log::error!("could not wake the reactor: {e}");
        }
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes the queued tasks (and a pending stop request, applied by the caller).
    pub(crate) fn take(&self) -> Vec<RemoteTask> {
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn take_stop(&self) -> bool {
        self.stop.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        drop(self.take());
    }
}

/// A `Send + Sync` handle to a reactor: schedule callbacks on its thread, or stop it,
/// from any thread. Wake-ups are coalesced: many sends between two iterations cost
/// one notification.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// let mut reactor = squall::Reactor::new()?;
/// let remote = reactor.handle().remote();
/// std::thread::spawn(move || remote.add_callback(move || {
///     // runs on the reactor's thread
/// }));
/// let remote = reactor.handle().remote();
/// remote.stop();
/// reactor.run()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Remote {
    pub(crate) shared: Arc<RemoteShared>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

impl Remote {
    /// Runs `f` on the reactor's thread in its next iteration. Returns `false` (and drops
    /// `f`) if the reactor is gone.
    pub fn add_callback(&self, f: impl FnOnce() + Send + 'static) -> bool {
        self.shared.send(RemoteTask::Call(Box::new(f)))
    }

    /// Asks the reactor to stop: `run` returns after the current iteration.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake();
    }

    /// Runs the closure parked under `key` (see `Handle::park`) on the loop thread.
    /// Returns `false` if the reactor is gone.
    pub(crate) fn fire(&self, key: usize) -> bool {
        self.shared.send(RemoteTask::Unpark(key))
    }
}
