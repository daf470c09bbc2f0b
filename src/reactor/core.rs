//! The loop's shared state and one iteration of it.
//!
//! Every `RefCell` borrow here is released before user code runs: handlers are taken out
//! of their slot while they run, timers and callbacks are popped before they are called.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use polling::{Events, Poller};
use slab::Slab;

use super::clock::{real_coarse, Clock};
use super::deferred;
use super::handlers::Handlers;
use super::remote::{RemoteShared, RemoteTask};
use super::timers::{TimerTask, Timers};
use super::{Event, Token};
use crate::error::{panic_message, Error, Result};

/// A queued callback and where it was scheduled from.
pub(crate) type Task = (Box<dyn FnOnce()>, &'static Location<'static>);

/// The callbacks phase runs at most this many deferred done-callbacks before and again
/// after the batch of plain callbacks, so a chain of futures advances without a poll
/// per link but cannot starve I/O.
const DEFERRED_PER_PASS: usize = 4096;

/// Options fixed when the reactor is built.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) propagate_panics: bool,
    pub(crate) event_capacity: usize,
    pub(crate) slow_callback: Option<Duration>,
    pub(crate) virtual_clock: bool,
    pub(crate) auto_advance: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            propagate_panics: false,
            event_capacity: 1024,
            slow_callback: Some(Duration::from_millis(100)),
            virtual_clock: false,
            auto_advance: false,
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) iterations: Cell<u64>,
    pub(crate) callbacks_run: Cell<u64>,
    /// Readiness events dispatched so far.
    pub(crate) events: Cell<u64>,
    /// Callbacks that ran longer than the slow-callback threshold.
    pub(crate) slow_callbacks: Cell<u64>,
    /// Time spent running callbacks, summed over iterations (coarse clock).
    pub(crate) busy: Cell<Duration>,
    /// Time the last finished iteration spent running callbacks.
    pub(crate) lag: Cell<Duration>,
}

pub(crate) struct Inner {
    pub(crate) poller: Arc<Poller>,
    pub(crate) handlers: RefCell<Handlers>,
    pub(crate) timers: RefCell<Timers>,
    pub(crate) callbacks: RefCell<VecDeque<Task>>,
    pub(crate) remote: Arc<RemoteShared>,
    pub(crate) stopping: Cell<bool>,
    pub(crate) closed: Cell<bool>,
    pub(crate) running: Cell<bool>,
    pub(crate) panic: RefCell<Option<Box<dyn Any + Send>>>,
    pub(crate) counters: Counters,
    pub(crate) options: Options,
    /// Closures parked until another thread fires them through the remote queue
    /// (see `Handle::park`).
    pub(crate) parked: RefCell<Slab<Box<dyn FnOnce()>>>,
    /// The batch of callbacks being run (kept to reuse its allocation).
    spare: RefCell<VecDeque<Task>>,
    /// Coarse clock reading taken when the last callback returned (or the iteration's
    /// wait ended): the start time of the next callback, so each costs one clock read.
    last_tick: Cell<Duration>,
    /// The loop's time, real or virtual.
    pub(crate) clock: Clock,
    /// Coarse clock reading at the end of this iteration's wait.
    iteration_start: Cell<Duration>,
}

impl Inner {
    pub(crate) fn new(options: Options) -> Result<Rc<Inner>> {
        let poller = Arc::new(Poller::new()?);
        let remote = Arc::new(RemoteShared::new(poller.clone()));
        Ok(Rc::new(Inner {
            handlers: RefCell::new(Handlers::new(poller.clone())),
            poller,
            timers: RefCell::new(Timers::default()),
            callbacks: RefCell::new(VecDeque::new()),
            remote,
            stopping: Cell::new(false),
            closed: Cell::new(false),
            running: Cell::new(false),
            panic: RefCell::new(None),
            counters: Counters::default(),
            parked: RefCell::new(Slab::new()),
            spare: RefCell::new(VecDeque::new()),
            last_tick: Cell::new(Duration::ZERO),
            iteration_start: Cell::new(Duration::ZERO),
            clock: Clock::new(options.virtual_clock, options.auto_advance),
            options,
        }))
    }

    pub(crate) fn push_callback(&self, f: Box<dyn FnOnce()>, loc: &'static Location<'static>) {
        if self.closed.get() {
            return; // the reactor is gone: drop the closure now so nothing leaks
        }
        self.callbacks.borrow_mut().push_back((f, loc));
    }

    /// Parks `f` until [`Remote::fire`](super::Remote::fire) runs it on the loop
    /// thread; `None` (and `f` dropped) if the reactor is gone. Each key is fired at
    /// most once by its owner, so a key is never reused while a fire may still name it.
    pub(crate) fn park(&self, f: Box<dyn FnOnce()>) -> Option<usize> {
        if self.closed.get() {
            return None;
        }
        Some(self.parked.borrow_mut().insert(f))
    }

    /// Runs (and forgets) the closure parked under `key`.
    pub(crate) fn unpark(&self, key: usize) {
        let f = self.parked.borrow_mut().try_remove(key);
        if let Some(f) = f {
            f();
        }
    }

    /// Sets a timer; `None` is "never" (see [`deadline_after`](super::deadline_after)).
    pub(crate) fn insert_timer(
        &self,
        deadline: Option<Instant>,
        task: TimerTask,
    ) -> super::TimerId {
        if self.closed.get() {
            // Never fires; an id that no timer will ever match.
            return super::TimerId {
                index: usize::MAX,
                seq: std::num::NonZeroU64::MAX,
            };
        }
        let mut timers = self.timers.borrow_mut();
        match deadline {
            Some(at) => timers.insert(at, task),
            None => timers.insert_never(task),
        }
    }

    /// Runs user code, containing a panic (logged, or saved to re-raise after the
    /// iteration when panics propagate).
    ///
    /// Slow-callback detection reads the coarse clock once per callback: the reading
    /// taken when one callback returns is the start of the next (see `last_tick`).
    pub(crate) fn guard(&self, loc: &'static Location<'static>, f: impl FnOnce()) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            if self.options.propagate_panics {
                let mut slot = self.panic.borrow_mut();
                if slot.is_none() {
                    *slot = Some(payload);
                }
            } else {
                log::error!(
                    "Exception in callback scheduled at {loc}: panicked: {}",
                    panic_message(&*payload)
                );
            }
        }
        if let Some(limit) = self.options.slow_callback {
            let now = real_coarse();
            let took = now.saturating_sub(self.last_tick.replace(now));
            if took > limit {
                let c = &self.counters.slow_callbacks;
                c.set(c.get() + 1);
                log::warn!("callback scheduled at {loc} blocked the loop for {took:?}");
            }
        }
    }

    /// Restarts the slow-callback clock (after the wait, before any callback runs).
    fn reset_tick(&self) {
        if self.options.slow_callback.is_some() {
            let now = real_coarse();
            self.last_tick.set(now);
            self.iteration_start.set(now);
        }
    }

    /// The iteration's callbacks are done: its busy time is the last callback's end
    /// (read when it returned) minus the end of the wait; no clock read of its own.
    fn end_tick(&self) {
        if self.options.slow_callback.is_some() {
            let busy = self
                .last_tick
                .get()
                .saturating_sub(self.iteration_start.get());
            self.counters.lag.set(busy);
            let total = &self.counters.busy;
            total.set(total.get() + busy);
        }
    }

    /// One iteration: wait for I/O (at most `timeout`), run handlers, remote callbacks,
    /// due timers and the callbacks queued before this iteration began.
    pub(crate) fn run_once(
        self: &Rc<Self>,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if self.running.replace(true) {
            return Err(Error::invalid_state("the reactor is already running"));
        }
        let result = self.iterate(events, timeout);
        self.running.set(false);
        if let Some(payload) = self.panic.borrow_mut().take() {
            std::panic::resume_unwind(payload);
        }
        result
    }

    fn iterate(&self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        self.counters
            .iterations
            .set(self.counters.iterations.get() + 1);
        let busy =
            !self.callbacks.borrow().is_empty() || deferred::has_pending() || self.stopping.get();
        // Under a virtual clock the wait never runs down a timer in real time: due timers
        // make it zero; with auto-advance a future timer makes it a zero-timeout probe,
        // after which (no event, no remote work) the clock jumps to that timer.
        let mut jump_to = None;
        let wait = if busy {
            Some(Duration::ZERO)
        } else {
            let next = self.timers.borrow_mut().next_deadline();
            let now = self.clock.now();
            if self.clock.is_virtual() {
                match next {
                    Some(at) if at <= now => Some(Duration::ZERO),
                    Some(at) if self.clock.auto_advance() => {
                        jump_to = Some(at);
                        Some(Duration::ZERO)
                    }
                    _ => timeout,
                }
            } else {
                let until_timer = next.map(|d| d.saturating_duration_since(now));
                match (until_timer, timeout) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        };
        events.clear();
        // A zero-timeout poll with no handler registered could only report the poller's
        // own wake-up, and remote work is found through `RemoteShared::has_pending`
        // anyway: skip its five syscalls (timerfd_settime, epoll_ctl, epoll_wait, eventfd
        // read, epoll_ctl). A pending wake-up stays in the eventfd for the next real wait.
        let nothing_to_poll = wait == Some(Duration::ZERO) && self.handlers.borrow().is_empty();
        if !nothing_to_poll
            && let Err(e) = self.poller.wait(events, wait)
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            return Err(e.into());
        }
        if let Some(at) = jump_to
            && events.is_empty()
            && !self.remote.has_pending()
        {
            self.clock.advance_to(at);
        }
        self.reset_tick();
        let c = &self.counters.events;
        c.set(c.get() + events.len() as u64);
        for ev in events.iter() {
            if let Some(token) = Token::from_key(ev.key) {
                self.dispatch(token, Event::new(ev.readable, ev.writable));
            }
            if self.panic.borrow().is_some() {
                return Ok(());
            }
        }
        self.run_remote();
        self.run_timers();
        self.run_callbacks();
        self.end_tick();
        Ok(())
    }

    fn dispatch(&self, token: Token, ev: Event) {
        let taken = self.handlers.borrow_mut().take(token, ev);
        let Some((mut running, ev, loc)) = taken else {
            return;
        };
        self.guard(loc, || running.dispatch(ev));
        let removed = self.handlers.borrow_mut().put_back(token, running);
        // Removed while it ran: drop it (and its source) outside the borrow.
        drop(removed);
    }

    fn run_remote(&self) {
        if !self.remote.has_pending() {
            return;
        }
        // Take (which clears `pending`) before reading the stop flag, so a stop that
        // lands in between still finds `pending` clear and wakes the next wait.
        let tasks = self.remote.take();
        if self.remote.take_stop() {
            self.stopping.set(true);
        }
        for task in tasks {
            match task {
                RemoteTask::Call(f) => self.guard(Location::caller(), f),
                RemoteTask::Unpark(key) => self.guard(Location::caller(), || self.unpark(key)),
            }
        }
    }

    fn run_timers(&self) {
        if self.timers.borrow().len() == 0 {
            return;
        }
        let now = self.clock.now();
        // Pop one at a time, so a timer cancelled by an earlier one in this batch does
        // not run; only timers set before this point run now (one that re-arms itself
        // with zero delay runs next iteration).
        let limit = self.timers.borrow().next_seq();
        loop {
            let task = self.timers.borrow_mut().pop_due_before(now, limit);
            let Some((f, loc)) = task else { break };
            self.guard(loc, f);
            self.count_callback();
        }
    }

    /// The callbacks phase: deferred done-callbacks (queued by the handlers, remote
    /// tasks and timers of this iteration, or before it), then the callbacks added
    /// before this phase began, then the done-callbacks those queued — so a chain of
    /// futures advances several links per iteration, at most [`DEFERRED_PER_PASS`] per
    /// pass.
    fn run_callbacks(&self) {
        if !self.run_deferred() {
            return;
        }
        let mut batch = std::mem::take(&mut *self.spare.borrow_mut());
        std::mem::swap(&mut batch, &mut *self.callbacks.borrow_mut());
        while let Some((f, loc)) = batch.pop_front() {
            self.guard(loc, f);
            self.count_callback();
            if self.panic.borrow().is_some() {
                // Propagating: keep what did not run, in order, for a later iteration.
                let mut queue = self.callbacks.borrow_mut();
                while let Some(t) = batch.pop_back() {
                    queue.push_front(t);
                }
                *self.spare.borrow_mut() = batch;
                return;
            }
        }
        *self.spare.borrow_mut() = batch;
        self.run_deferred();
    }

    /// Runs up to [`DEFERRED_PER_PASS`] of the thread's deferred done-callbacks (those
    /// queued meanwhile included). Returns `false` if a panic is to be propagated.
    fn run_deferred(&self) -> bool {
        for _ in 0..DEFERRED_PER_PASS {
            let Some((task, loc)) = deferred::pop() else {
                break;
            };
            self.guard(loc, || task.run());
            self.count_callback();
            if self.panic.borrow().is_some() {
                return false;
            }
        }
        true
    }

    /// Nothing to run now: no callback or done-callback queued, no remote work, no timer
    /// due (by the loop's clock).
    pub(crate) fn quiet(&self) -> bool {
        let due = self
            .timers
            .borrow_mut()
            .next_deadline()
            .is_some_and(|at| at <= self.clock.now());
        self.callbacks.borrow().is_empty()
            && !deferred::has_pending()
            && !self.remote.has_pending()
            && !due
    }

    fn count_callback(&self) {
        let c = &self.counters.callbacks_run;
        c.set(c.get() + 1);
    }

    /// Drops everything the loop holds, outside any borrow (closures may capture handles).
    pub(crate) fn close(&self) {
        self.closed.set(true);
        let handlers = self.handlers.borrow_mut().drain();
        drop(handlers);
        let timers = self.timers.borrow_mut().drain();
        drop(timers);
        loop {
            let batch = std::mem::take(&mut *self.callbacks.borrow_mut());
            if batch.is_empty() {
                break;
            }
            drop(batch);
        }
        drop(std::mem::take(&mut *self.spare.borrow_mut()));
        let parked: Vec<_> = self.parked.borrow_mut().drain().collect();
        drop(parked);
        self.remote.close();
    }
}
