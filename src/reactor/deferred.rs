//! The thread's one queue of deferred done-callbacks.
//!
//! A future's done-callbacks are queued here, in order, and run by whichever reactor is
//! *running* on this thread (`Inner::iterate` drains the queue), never inside the call
//! that resolved the future (or added the callback). No reactor is recorded as
//! "current": a reactor built first, or idle, never captures them.
//!
//! While no reactor exists on the thread at all, nothing would ever drain the queue, so
//! the outermost `defer` drains it at once, in a loop (a trampoline): still never
//! recursively, so a chain of a million futures uses constant stack.
//!
//! The queue holds [`Deferred`] tasks (a future implements it to run its callbacks, so
//! queueing costs no allocation): this module knows nothing of futures.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;

use crate::error::panic_message;

/// Work deferred to the loop: run once, by value.
pub(crate) trait Deferred {
    fn run(self: Rc<Self>);
    /// Drops the work unrun (the last reactor on the thread was dropped), leaving its
    /// owner able to schedule again.
    fn discard(self: Rc<Self>);
}

/// A deferred task and where it was scheduled from.
pub(crate) type Task = (Rc<dyn Deferred>, &'static Location<'static>);

struct Queue {
    tasks: RefCell<VecDeque<Task>>,
    /// Reactors alive on this thread; while there is one, it (or another) will run.
    reactors: Cell<usize>,
    /// A trampoline is draining the queue (an inner `defer` only pushes).
    draining: Cell<bool>,
}

thread_local! {
    static QUEUE: Queue = const {
        Queue {
            tasks: RefCell::new(VecDeque::new()),
            reactors: Cell::new(0),
            draining: Cell::new(false),
        }
    };
}

/// Queues `f` to run after the current call returns: under the running reactor, or
/// from the trampoline when no reactor exists on this thread.
pub(crate) fn defer(f: Rc<dyn Deferred>, loc: &'static Location<'static>) {
    // During thread teardown the queue may be gone: then `f` is dropped unrun.
    let _ = QUEUE.try_with(|q| {
        q.tasks.borrow_mut().push_back((f, loc));
        if q.reactors.get() == 0 && !q.draining.get() {
            trampoline(q);
        }
    });
}

fn trampoline(q: &Queue) {
    q.draining.set(true);
    loop {
        let next = q.tasks.borrow_mut().pop_front();
        let Some((f, loc)) = next else { break };
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f.run())) {
            log::error!(
                "Exception in done-callback scheduled at {loc}: panicked: {}",
                panic_message(&*p)
            );
        }
    }
    q.draining.set(false);
}

/// The next deferred task, for the running reactor.
pub(crate) fn pop() -> Option<Task> {
    QUEUE
        .try_with(|q| q.tasks.borrow_mut().pop_front())
        .ok()
        .flatten()
}

/// True if deferred closures wait to run (the running reactor must not block).
pub(crate) fn has_pending() -> bool {
    QUEUE
        .try_with(|q| !q.tasks.borrow().is_empty())
        .unwrap_or(false)
}

/// Closures queued now.
pub(crate) fn pending() -> usize {
    QUEUE.try_with(|q| q.tasks.borrow().len()).unwrap_or(0)
}

/// Counts a reactor built on this thread.
pub(crate) fn reactor_built() {
    let _ = QUEUE.try_with(|q| q.reactors.set(q.reactors.get() + 1));
}

/// Counts a reactor dropped. While another reactor lives on the thread, closures still
/// queued stay queued for whichever runs next. When the last one goes, they are dropped
/// unrun, as the reactor drops its own callbacks: nothing would run them, and what they
/// captured (streams, sockets) is freed now — never run by the code that dropped it.
pub(crate) fn reactor_dropped() {
    let _ = QUEUE.try_with(|q| {
        let left = q.reactors.get().saturating_sub(1);
        q.reactors.set(left);
        if left > 0 || q.draining.get() {
            return;
        }
        // Dropping a task may resolve more futures: they queue here, and are dropped too.
        q.draining.set(true);
        loop {
            let next = q.tasks.borrow_mut().pop_front();
            let Some((f, _)) = next else { break };
            f.discard();
        }
        q.draining.set(false);
    });
}
