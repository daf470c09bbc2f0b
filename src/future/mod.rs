//! [`Future<T>`]: squall's placeholder for a result that is not there yet (Tornado's
//! `concurrent.Future`). Not `std::future::Future`: there is no polling and no waker;
//! you chain done-callbacks.
//!
//! Done-callbacks are **deferred**: when a reactor exists on the thread they are queued
//! on its loop, in the order they were added, and never run inside `set_result` or
//! `add_done_callback`. Without a reactor they run from a trampoline on the calling
//! thread (still never recursively), so a chain of a million futures cannot overflow
//! the stack either way.

mod combinators;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

pub use combinators::{chain_future, join_all, with_timeout};

use crate::error::{Error, Result};
use crate::reactor;

type DoneCallback<T> = Box<dyn FnOnce(&Future<T>)>;

/// A future's done-callbacks without a `Vec` allocation for the usual single one.
#[derive(Default)]
enum Callbacks<T: 'static> {
    #[default]
    None,
    One(DoneCallback<T>),
    Many(Vec<DoneCallback<T>>),
}

impl<T: 'static> Callbacks<T> {
    fn push(&mut self, cb: DoneCallback<T>) {
        *self = match std::mem::take(self) {
            Callbacks::None => Callbacks::One(cb),
            Callbacks::One(first) => Callbacks::Many(vec![first, cb]),
            Callbacks::Many(mut v) => {
                v.push(cb);
                Callbacks::Many(v)
            }
        };
    }
}

struct State<T: 'static> {
    result: Option<Result<T>>,
    /// Done-callbacks in the order added; most futures get exactly one.
    callbacks: Callbacks<T>,
    cancelled: bool,
    /// Someone looked at the result (or a callback was attached to do so).
    retrieved: bool,
    /// The result was moved out by `take_result`: the future stays done.
    taken: bool,
}

impl<T> State<T> {
    fn is_done(&self) -> bool {
        self.result.is_some() || self.taken
    }
}

impl<T: 'static> Drop for State<T> {
    fn drop(&mut self) {
        if let (Some(Err(e)), false) = (&self.result, self.retrieved) {
            log::warn!("Future error was never retrieved: {e}");
        }
        // Pending callbacks hold the next futures of a chain: drop them iteratively, so
        // dropping a million-link unresolved chain cannot overflow the stack.
        if !matches!(self.callbacks, Callbacks::None) {
            drop_later(Box::new(std::mem::take(&mut self.callbacks)));
        }
    }
}

/// Anything, boxed, to be dropped by [`drop_later`].
trait Dropped {}
impl<X> Dropped for X {}

type Grave = RefCell<Vec<Box<dyn Dropped>>>;

thread_local! {
    static GRAVE: (Cell<bool>, Grave) = const { (Cell::new(false), RefCell::new(Vec::new())) };
}

/// Drops `b` now, or, if a drop is already in progress on this thread, after it (a loop
/// instead of recursion).
fn drop_later(b: Box<dyn Dropped>) {
    GRAVE.with(|(active, grave)| {
        grave.borrow_mut().push(b);
        if active.replace(true) {
            return;
        }
        loop {
            let next = grave.borrow_mut().pop();
            match next {
                Some(b) => drop(b),
                None => break,
            }
        }
        active.set(false);
    });
}

/// A placeholder for a `Result<T>` that will be set later, with done-callbacks.
///
/// Cloning gives another handle to the same placeholder. `!Send`: it lives on the
/// reactor's thread.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::{Future, Reactor};
/// let mut reactor = Reactor::new()?;
/// let fut: Future<u32> = Future::new();
/// let doubled = fut.map(|r| r.map(|n| n * 2));
/// fut.add_done_callback(|f| assert_eq!(f.result().unwrap().unwrap(), 7));
/// fut.set_result(7);
/// assert_eq!(reactor.run_until(&doubled)?, 14);
/// # Ok(()) }
/// ```
pub struct Future<T: 'static> {
    state: Rc<RefCell<State<T>>>,
}

impl<T: 'static> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            state: self.state.clone(),
        }
    }
}

impl<T: 'static> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        let status = match &s.result {
            None if s.taken => "done (result taken)",
            None => "pending",
            Some(Ok(_)) => "done",
            Some(Err(_)) if s.cancelled => "cancelled",
            Some(Err(_)) => "failed",
        };
        f.debug_struct("Future").field("status", &status).finish()
    }
}

impl<T: 'static> Default for Future<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Future<T> {
    /// A pending future.
    pub fn new() -> Self {
        Future {
            state: Rc::new(RefCell::new(State {
                result: None,
                callbacks: Callbacks::None,
                cancelled: false,
                retrieved: false,
                taken: false,
            })),
        }
    }

    /// A future already resolved with `value`.
    pub fn ready(value: T) -> Self {
        let f = Self::new();
        f.state.borrow_mut().result = Some(Ok(value));
        f
    }

    /// A future already failed with `error`.
    pub fn failed(error: Error) -> Self {
        let f = Self::new();
        f.state.borrow_mut().result = Some(Err(error));
        f
    }

    /// Resolves the future with `value` and schedules its done-callbacks.
    ///
    /// Setting a future twice is a bug in the caller: it is logged with `log::error!`
    /// and the second value is dropped (use [`try_set_result`](Self::try_set_result) to
    /// get [`Error::InvalidState`] instead). On a cancelled future it is silently ignored.
    #[track_caller]
    pub fn set_result(&self, value: T) {
        self.set(Ok(value));
    }

    /// Fails the future with `error`. Same rules as [`set_result`](Self::set_result).
    #[track_caller]
    pub fn set_error(&self, error: Error) {
        self.set(Err(error));
    }

    /// Resolves or fails the future with `result`.
    #[track_caller]
    pub fn set(&self, result: Result<T>) {
        if let Err(e) = self.try_set(result) {
            log::error!("{e} (at {})", Location::caller());
        }
    }

    /// Like [`set_result`](Self::set_result), but reports a second set.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the future was already done (and not cancelled).
    pub fn try_set_result(&self, value: T) -> Result<()> {
        self.try_set(Ok(value))
    }

    /// Sets the result, or reports [`Error::InvalidState`] if it was already set.
    /// A cancelled future ignores the new result and returns `Ok`.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the future was already done and not cancelled.
    pub fn try_set(&self, result: Result<T>) -> Result<()> {
        let callbacks = {
            let mut s = self.state.borrow_mut();
            if s.is_done() {
                if s.cancelled {
                    return Ok(());
                }
                return Err(Error::invalid_state("future already done"));
            }
            s.result = Some(result);
            std::mem::take(&mut s.callbacks)
        };
        if !matches!(callbacks, Callbacks::None) {
            self.schedule(callbacks);
        }
        Ok(())
    }

    /// Cancels a pending future: it fails with [`Error::Cancelled`] and later sets are
    /// ignored. Returns `false` if it was already done.
    pub fn cancel(&self) -> bool {
        if self.is_done() {
            return false;
        }
        {
            let mut s = self.state.borrow_mut();
            s.cancelled = true;
            s.retrieved = true; // whoever cancels knows the outcome: no "never retrieved"
        }
        self.set(Err(Error::Cancelled));
        true
    }

    /// True once a result or an error is set.
    pub fn is_done(&self) -> bool {
        self.state.borrow().is_done()
    }

    /// True if [`cancel`](Self::cancel) resolved it.
    pub fn is_cancelled(&self) -> bool {
        self.state.borrow().cancelled
    }

    /// Moves the result out (`None` if pending or already taken).
    pub fn take_result(&self) -> Option<Result<T>> {
        let mut s = self.state.borrow_mut();
        s.retrieved = true;
        let result = s.result.take();
        s.taken |= result.is_some();
        result
    }

    /// Calls `f` with the future once it is done; if it is already done, on the next
    /// loop iteration. Callbacks run in the order they were added.
    #[track_caller]
    pub fn add_done_callback(&self, f: impl FnOnce(&Future<T>) + 'static) {
        let mut s = self.state.borrow_mut();
        s.retrieved = true;
        if !s.is_done() {
            s.callbacks.push(Box::new(f));
            return;
        }
        drop(s);
        self.schedule(Callbacks::One(Box::new(f)));
    }

    /// Like [`add_done_callback`](Self::add_done_callback), but does not count as
    /// looking at the result: for an operation that watches its own future (e.g. for
    /// [`cancel`](Self::cancel)) without hiding an error nobody retrieved.
    #[track_caller]
    pub(crate) fn watch(&self, f: impl FnOnce(&Future<T>) + 'static) {
        let mut s = self.state.borrow_mut();
        if !s.is_done() {
            s.callbacks.push(Box::new(f));
            return;
        }
        drop(s);
        self.schedule(Callbacks::One(Box::new(f)));
    }

    #[track_caller]
    fn schedule(&self, callbacks: Callbacks<T>) {
        let fut = self.clone();
        let run = move || match callbacks {
            Callbacks::None => {}
            Callbacks::One(cb) => cb(&fut),
            Callbacks::Many(cbs) => {
                let mut rest = cbs.into_iter();
                while let Some(cb) = rest.next() {
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&fut)));
                    if let Err(payload) = ran {
                        // The callbacks after a panicking one still run (on the next turn).
                        let rest: Vec<_> = rest.collect();
                        if !rest.is_empty() {
                            fut.schedule(Callbacks::Many(rest));
                        }
                        std::panic::resume_unwind(payload);
                    }
                }
            }
        };
        match reactor::current() {
            Some(inner) => inner.push_done_callback(Box::new(run), Location::caller()),
            None => trampoline(Box::new(run)),
        }
    }
}

impl<T: Clone + 'static> Future<T> {
    /// A copy of the result (`None` while pending or after it was taken).
    pub fn result(&self) -> Option<Result<T>> {
        let mut s = self.state.borrow_mut();
        s.retrieved = true;
        s.result.clone()
    }
}

type Queue = RefCell<VecDeque<Box<dyn FnOnce()>>>;

thread_local! {
    static TRAMPOLINE: (Cell<bool>, Queue) = const { (Cell::new(false), RefCell::new(VecDeque::new())) };
}

/// Runs done-callbacks when no reactor exists on this thread, iteratively.
fn trampoline(f: Box<dyn FnOnce()>) {
    TRAMPOLINE.with(|(active, queue)| {
        queue.borrow_mut().push_back(f);
        if active.replace(true) {
            return; // an outer call is draining the queue
        }
        loop {
            let next = queue.borrow_mut().pop_front();
            match next {
                Some(f) => {
                    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                        log::error!(
                            "Exception in done-callback: panicked: {}",
                            crate::error::panic_message(&*p)
                        );
                    }
                }
                None => break,
            }
        }
        active.set(false);
    });
}
