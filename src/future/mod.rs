//! [`Future<T>`]: squall's placeholder for a result that is not there yet (Tornado's
//! `concurrent.Future`). Not `std::future::Future`: there is no polling and no waker;
//! you chain done-callbacks.
//!
//! # Which loop runs done-callbacks
//!
//! Done-callbacks are **deferred**: they go, in the order they were added, into one
//! queue per thread, which whichever [`Reactor`](crate::Reactor) is *running* on the
//! thread drains — never a reactor merely because it was built first or is idle; no
//! reactor is "current". While a reactor exists on the thread, they never run inside
//! `set_result` or `add_done_callback`; if none is running at that moment, they wait
//! for the next one to run. On a thread with no reactor at all there is no loop to
//! defer to: they run from a trampoline before the outermost `set_result` (or
//! `add_done_callback`) returns, one after the other, never nested — so a chain of a
//! million futures cannot overflow the stack either way.
//!
//! # Who owns the result
//!
//! A result has **one owner**: the first caller of [`Future::take_result`], which moves
//! it out. Everything that consumes a future takes its result: [`Future::map`],
//! [`Future::and_then`], [`chain_future`], [`join_all`], [`with_timeout`] and
//! [`Reactor::run_until`](crate::Reactor::run_until). Everyone else may only *look*,
//! before it is taken: [`Future::result`] (a copy, for `T: Clone`) and
//! [`Future::with_result`] (a borrow, for any `T`) — several done-callbacks can read one
//! result that way, and a last consumer may then take it.
//!
//! After the result was taken, the future stays done and every later take or look gets
//! `Some(Err(Error::InvalidState(..)))`, so a derived future (`map`, `and_then`,
//! `join_all`, ...) built on it fails with [`Error::InvalidState`] instead of staying
//! pending forever.
//!
//! # Cancellation
//!
//! [`Future::cancel`] resolves a pending future with [`Error::Cancelled`] at once; later
//! sets are ignored and no "never retrieved" warning is logged for it. Whether the
//! *operation* behind the future stops too depends on the operation: the list is in the
//! guide (`docs/guide.md`, "Cancellation").

mod combinators;
mod remote;
mod run;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

pub use combinators::{chain_future, join_all, with_timeout};
pub use remote::RemoteSetter;

use crate::error::{Error, Result};
use crate::reactor;

type DoneCallback<T> = Box<dyn FnOnce(&Future<T>)>;

/// A future's done-callbacks without a `Vec` allocation for the usual single one.
#[derive(Default)]
enum Callbacks<T: 'static> {
    #[default]
    None,
    One(DoneCallback<T>),
    /// Two, without a `Vec` (a result's consumer and a cancel hook, say).
    Two(DoneCallback<T>, DoneCallback<T>),
    Many(Vec<DoneCallback<T>>),
}

impl<T: 'static> Callbacks<T> {
    fn push(&mut self, cb: DoneCallback<T>) {
        *self = match std::mem::take(self) {
            Callbacks::None => Callbacks::One(cb),
            Callbacks::One(first) => Callbacks::Two(first, cb),
            Callbacks::Two(first, second) => Callbacks::Many(vec![first, second, cb]),
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
    /// The result is out on loan to `with_result`'s closure (it comes back).
    lent: bool,
    /// A run of the callbacks is queued on the thread's deferred queue: callbacks added
    /// meanwhile join it instead of queueing another.
    scheduled: bool,
}

impl<T> State<T> {
    fn is_done(&self) -> bool {
        self.result.is_some() || self.taken || self.lent
    }

    /// What a look or a take gets when the result is not in its slot.
    fn missing(&self) -> Option<Result<T>> {
        if self.taken {
            Some(Err(Error::invalid_state(
                "the future's result was already taken",
            )))
        } else if self.lent {
            Some(Err(Error::invalid_state(
                "the future's result is borrowed by with_result",
            )))
        } else {
            None
        }
    }
}

impl<T: 'static> Drop for State<T> {
    fn drop(&mut self) {
        // A cancelled future was dealt with by whoever cancelled it: nothing to report.
        if let (Some(Err(e)), false) = (&self.result, self.retrieved || self.cancelled)
            && !matches!(e, Error::Cancelled)
        {
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
    let mut b = Some(b);
    let _ = GRAVE.try_with(|(active, grave)| {
        let Some(b) = b.take() else { return };
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
    drop(b); // only during thread teardown, when the grave is gone
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
            None if s.lent => "done (result borrowed)",
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
                lent: false,
                scheduled: false,
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

    /// A future already failed with `error` whose failure was reported already (logged
    /// once for its connection): dropping it unread logs no "never retrieved" warning.
    pub(crate) fn failed_quietly(error: Error) -> Self {
        Self::failed(error).quiet()
    }

    /// Marks a failure of this future as reported elsewhere (once for its connection,
    /// and to its close callback): dropping it unread logs no "never retrieved" warning.
    pub(crate) fn quiet(self) -> Self {
        self.state.borrow_mut().retrieved = true;
        self
    }

    /// Heap bytes one pending future of this type costs (its shared state and the
    /// allocator's header), for memory accounting.
    pub(crate) const fn heap_cost() -> usize {
        std::mem::size_of::<RefCell<State<T>>>() + 2 * std::mem::size_of::<usize>() + 16
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
    #[track_caller]
    pub fn try_set(&self, result: Result<T>) -> Result<()> {
        let mut s = self.state.borrow_mut();
        if s.is_done() {
            if s.cancelled {
                return Ok(());
            }
            return Err(Error::invalid_state("future already done"));
        }
        s.result = Some(result);
        self.schedule(s);
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

    /// Moves the result out: `None` while pending; once taken, every later call gets
    /// `Some(Err(`[`Error::InvalidState`]`))` (see "Who owns the result" in the
    /// [module docs](crate::future)).
    ///
    /// ```
    /// let f = squall::Future::ready(String::from("once"));
    /// assert_eq!(f.take_result().unwrap().unwrap(), "once");
    /// assert!(matches!(f.take_result(), Some(Err(squall::Error::InvalidState(_)))));
    /// ```
    pub fn take_result(&self) -> Option<Result<T>> {
        let mut s = self.state.borrow_mut();
        s.retrieved = true;
        match s.result.take() {
            Some(r) => {
                s.taken = true;
                Some(r)
            }
            None => s.missing(),
        }
    }

    /// Calls `f` with a borrow of the result, for any `T`, without taking it: `None`
    /// while pending. Several done-callbacks can read one result this way; after it was
    /// taken, `f` sees `Err(`[`Error::InvalidState`]`)`.
    ///
    /// `f` may use the future itself (add callbacks, look): the result is lent out of
    /// the future for the duration of the call, so inside `f` this future's
    /// `take_result` and `result` see `Err(InvalidState)` rather than panicking.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::{Future, Reactor};
    /// struct Big(Vec<u8>); // not Clone
    /// let mut reactor = Reactor::new()?;
    /// let f = Future::ready(Big(vec![1, 2, 3]));
    /// f.add_done_callback(|f| {
    ///     let len = f.with_result(|r| r.as_ref().map(|b| b.0.len()).unwrap_or(0));
    ///     assert_eq!(len, Some(3));
    /// });
    /// f.add_done_callback(|f| assert_eq!(f.with_result(|r| r.is_ok()), Some(true)));
    /// let last = f.map(|r| r.map(|b| b.0.into_iter().sum::<u8>()));
    /// assert_eq!(reactor.run_until(&last)?, 6);
    /// # Ok(()) }
    /// ```
    pub fn with_result<R>(&self, f: impl FnOnce(&Result<T>) -> R) -> Option<R> {
        let lent = {
            let mut s = self.state.borrow_mut();
            s.retrieved = true;
            match s.result.take() {
                Some(r) => {
                    s.lent = true;
                    r
                }
                None => return s.missing().map(|r| f(&r)),
            }
        };
        /// Puts the result back even if `f` panics.
        struct Loan<'a, T: 'static> {
            state: &'a RefCell<State<T>>,
            result: Option<Result<T>>,
        }
        impl<T: 'static> Drop for Loan<'_, T> {
            fn drop(&mut self) {
                let mut s = self.state.borrow_mut();
                s.lent = false;
                s.result = self.result.take();
            }
        }
        let loan = Loan {
            state: &self.state,
            result: Some(lent),
        };
        loan.result.as_ref().map(f)
    }

    /// Calls `f` with the future once it is done (deferred, see the
    /// [module docs](crate::future)); if it is already done, from the loop soon after
    /// this call returns. Callbacks run in the order they were added.
    #[track_caller]
    pub fn add_done_callback(&self, f: impl FnOnce(&Future<T>) + 'static) {
        let mut s = self.state.borrow_mut();
        s.retrieved = true;
        s.callbacks.push(Box::new(f));
        if s.is_done() {
            self.schedule(s);
        }
    }

    /// `add_done_callback` for the crate's own bookkeeping: it does not count as
    /// looking at the result, so an error nobody else reads is still reported.
    #[track_caller]
    pub(crate) fn add_done_callback_unobserved(&self, f: impl FnOnce(&Future<T>) + 'static) {
        let mut s = self.state.borrow_mut();
        s.callbacks.push(Box::new(f));
        if s.is_done() {
            self.schedule(s);
        }
    }

    /// Queues a run of the done-callbacks of this (done) future on the thread's
    /// deferred queue, unless one is queued already or there is nothing to run. The
    /// queue entry is the future's own `Rc`: no allocation per hop of a chain.
    #[track_caller]
    fn schedule(&self, mut s: std::cell::RefMut<'_, State<T>>) {
        if s.scheduled || matches!(s.callbacks, Callbacks::None) {
            return;
        }
        s.scheduled = true;
        drop(s);
        let task: Rc<dyn reactor::Deferred> = self.state.clone();
        reactor::defer(task, Location::caller());
    }
}

/// A queued run of a done future's callbacks (see [`Future::schedule`]).
impl<T: 'static> reactor::Deferred for RefCell<State<T>> {
    fn discard(self: Rc<Self>) {
        let callbacks = {
            let mut s = self.borrow_mut();
            s.scheduled = false;
            std::mem::take(&mut s.callbacks)
        };
        drop(callbacks);
    }

    fn run(self: Rc<Self>) {
        let fut = Future { state: self };
        let callbacks = {
            let mut s = fut.state.borrow_mut();
            s.scheduled = false;
            std::mem::take(&mut s.callbacks)
        };
        match callbacks {
            Callbacks::None => {}
            Callbacks::One(cb) => cb(&fut),
            Callbacks::Two(first, second) => run_callbacks(&fut, [first, second].into_iter()),
            Callbacks::Many(cbs) => run_callbacks(&fut, cbs.into_iter()),
        }
    }
}

/// Runs `cbs` in order. The callbacks after a panicking one still run (on the next
/// turn), before any added meanwhile.
fn run_callbacks<T: 'static>(fut: &Future<T>, mut rest: impl Iterator<Item = DoneCallback<T>>) {
    while let Some(cb) = rest.next() {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(fut)));
        if let Err(payload) = ran {
            let mut s = fut.state.borrow_mut();
            let mut all: Vec<_> = rest.collect();
            match std::mem::take(&mut s.callbacks) {
                Callbacks::None => {}
                Callbacks::One(cb) => all.push(cb),
                Callbacks::Two(a, b) => all.extend([a, b]),
                Callbacks::Many(v) => all.extend(v),
            }
            if !all.is_empty() {
                s.callbacks = Callbacks::Many(all);
                fut.schedule(s);
            }
            std::panic::resume_unwind(payload);
        }
    }
}

impl<T: Clone + 'static> Future<T> {
    /// A copy of the result: `None` while pending, `Some(Err(`[`Error::InvalidState`]`))`
    /// after it was taken. For a `T` that is not `Clone`, see
    /// [`with_result`](Self::with_result).
    pub fn result(&self) -> Option<Result<T>> {
        let mut s = self.state.borrow_mut();
        s.retrieved = true;
        match &s.result {
            Some(r) => Some(r.clone()),
            None => s.missing(),
        }
    }
}
