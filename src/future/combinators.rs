//! Combinators on [`Future`]: `map`, `and_then`, [`chain_future`], [`join_all`]
//! (Tornado's `gen.multi`) and [`with_timeout`] (`gen.with_timeout`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::Future;
use crate::error::{Error, Result};
use crate::reactor::Handle;

impl<T: 'static> Future<T> {
    /// A future resolved with `f(result)` once this one is done. Takes the result out
    /// of this future (callbacks added later see `None`).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut reactor = squall::Reactor::new()?;
    /// let n = squall::Future::ready(5u32);
    /// let s = n.map(|r| r.map(|n| n.to_string()));
    /// assert_eq!(reactor.run_until(&s)?, "5");
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn map<U: 'static>(&self, f: impl FnOnce(Result<T>) -> Result<U> + 'static) -> Future<U> {
        let out = Future::new();
        let o = out.clone();
        self.add_done_callback(move |fut| o.set(f(taken(fut))));
        out
    }

    /// Chains another asynchronous operation: when this future succeeds with `v`, the
    /// returned future follows `f(v)`; an error skips `f` and passes through.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::time::Duration;
    /// use squall::{Future, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let handle = reactor.handle();
    /// let later = move |n: u32| {
    ///     let f = Future::new();
    ///     let g = f.clone();
    ///     handle.call_later(Duration::from_millis(1), move || g.set_result(n as u64 + 1));
    ///     f
    /// };
    /// let out = Future::ready(41).and_then(later);
    /// assert_eq!(reactor.run_until(&out)?, 42);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn and_then<U: 'static>(&self, f: impl FnOnce(T) -> Future<U> + 'static) -> Future<U> {
        let out = Future::new();
        let o = out.clone();
        self.add_done_callback(move |fut| match taken(fut) {
            Ok(v) => {
                let next = f(v);
                if next.is_done() {
                    // Already resolved: move the result now instead of paying another
                    // loop iteration for `chain_future`'s done-callback. `o`'s own
                    // done-callbacks are still deferred by `set`.
                    if let Some(r) = next.take_result()
                        && !o.is_done()
                    {
                        o.set(r);
                    }
                } else {
                    chain_future(&next, &o);
                }
            }
            Err(e) => o.set_error(e),
        });
        out
    }
}

/// The result of a done future, for a combinator's done-callback: taken out, or
/// [`Error::InvalidState`] if someone else took it first (so the derived future fails
/// instead of staying pending).
fn taken<T: 'static>(fut: &Future<T>) -> Result<T> {
    fut.take_result().unwrap_or_else(|| {
        Err(Error::invalid_state(
            "done-callback ran on a pending future",
        ))
    })
}

/// When `from` is done, moves its result into `to` (unless `to` is already done, e.g.
/// cancelled), as Tornado's `chain_future`.
#[track_caller]
pub fn chain_future<T: 'static>(from: &Future<T>, to: &Future<T>) {
    let to = to.clone();
    from.add_done_callback(move |f| {
        let r = taken(f);
        if !to.is_done() {
            to.set(r);
        }
    });
}

/// Waits for all `futures`; resolves with their results in order (as many values as
/// futures), or with the first error to arrive (later errors are dropped, as
/// `gen.multi` logs and drops them). An input whose result someone else already took
/// counts as an error ([`Error::InvalidState`]).
///
/// ```
/// # fn main() -> squall::Result<()> {
/// let mut reactor = squall::Reactor::new()?;
/// let all = squall::join_all(vec![squall::Future::ready(1), squall::Future::ready(2)]);
/// assert_eq!(reactor.run_until(&all)?, vec![1, 2]);
/// # Ok(()) }
/// ```
#[track_caller]
#[doc(alias = "multi")]
pub fn join_all<T: 'static>(futures: Vec<Future<T>>) -> Future<Vec<T>> {
    let out = Future::new();
    if futures.is_empty() {
        out.set_result(Vec::new());
        return out;
    }
    let slots: Rc<RefCell<Vec<Option<T>>>> =
        Rc::new(RefCell::new((0..futures.len()).map(|_| None).collect()));
    let remaining = Rc::new(Cell::new(futures.len()));
    for (i, fut) in futures.iter().enumerate() {
        let (out, slots, remaining) = (out.clone(), slots.clone(), remaining.clone());
        fut.add_done_callback(move |f| {
            match taken(f) {
                Ok(v) => slots.borrow_mut()[i] = Some(v),
                Err(e) => {
                    if !out.is_done() {
                        out.set_error(e);
                    }
                    return;
                }
            }
            remaining.set(remaining.get() - 1);
            if remaining.get() == 0 && !out.is_done() {
                let values = slots.borrow_mut().drain(..).flatten().collect();
                out.set_result(values);
            }
        });
    }
    out
}

/// A future that follows `future` but fails with [`Error::Timeout`] if it is not done
/// within `timeout`. The timer is cancelled when `future` finishes first. `future`
/// itself is not cancelled (as `gen.with_timeout`).
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use std::time::Duration;
/// let mut reactor = squall::Reactor::new()?;
/// let never: squall::Future<()> = squall::Future::new();
/// let t = squall::with_timeout(&reactor.handle(), Duration::from_millis(5), &never);
/// assert!(matches!(reactor.run_until(&t), Err(squall::Error::Timeout)));
/// # Ok(()) }
/// ```
#[track_caller]
pub fn with_timeout<T: 'static>(
    handle: &Handle,
    timeout: Duration,
    future: &Future<T>,
) -> Future<T> {
    let out = Future::new();
    let o = out.clone();
    let timer = handle.call_later(timeout, move || {
        if !o.is_done() {
            o.set_error(Error::Timeout);
        }
    });
    let (o, h) = (out.clone(), handle.clone());
    future.add_done_callback(move |f| {
        h.cancel_timer(timer);
        let r = taken(f);
        if !o.is_done() {
            o.set(r);
        }
    });
    out
}
