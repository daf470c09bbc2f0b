//! [`PeriodicCallback`]: Tornado's fixed-schedule repeating timer.
//!
//! The handles the user holds share one `Guard`; the timer closure holds only the
//! `State`. So dropping the last handle (the guard) stops the schedule, unless it was
//! [`detach`](PeriodicCallback::detach)ed.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Handle, TimerId};

struct State {
    handle: Handle,
    callback: Box<dyn FnMut()>,
    interval: Duration,
    jitter: f64,
    running: bool,
    /// Keeps running when the last handle is dropped.
    detached: bool,
    timer: Option<TimerId>,
    next: Instant,
    rng: fastrand::Rng,
}

type Shared = Rc<RefCell<State>>;

/// What the user's handles share: dropping the last one stops the schedule.
struct Guard {
    state: Shared,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.state.borrow().detached {
            stop(&self.state);
        }
    }
}

/// Calls a function every `interval` on a fixed schedule. If the loop falls behind (a
/// run took longer than the interval), missed runs are skipped rather than run in a
/// burst, as in Tornado. Optional jitter spreads the runs: each interval is multiplied
/// by a random factor in `1 ± jitter/2`, drawn from a generator seeded by the
/// operating system's random source.
///
/// # Lifetime
///
/// A `PeriodicCallback` is a guard, as Rust users expect: clones share one schedule, and
/// dropping the last clone stops it (a pending run is cancelled; a run already in
/// progress finishes). To keep it running without holding a handle, call
/// [`detach`](Self::detach): it then runs until it is stopped from inside its callback
/// or the reactor is dropped. (A callback that captures a clone of its own
/// `PeriodicCallback` holds its own guard: it runs until [`stop`](Self::stop) is
/// called.)
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use squall::{PeriodicCallback, Reactor};
/// let mut reactor = Reactor::new()?;
/// let handle = reactor.handle();
/// let ticks = Rc::new(Cell::new(0));
/// let (t, h) = (ticks.clone(), handle.clone());
/// let pc = PeriodicCallback::new(&handle, Duration::from_millis(2), move || {
///     t.set(t.get() + 1);
///     if t.get() == 3 { h.stop(); }
/// });
/// pc.start();
/// reactor.run()?;
/// drop(pc); // stops it
/// assert_eq!(ticks.get(), 3);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PeriodicCallback {
    guard: Rc<Guard>,
}

impl fmt::Debug for PeriodicCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.guard.state.borrow();
        f.debug_struct("PeriodicCallback")
            .field("interval", &s.interval)
            .field("running", &s.running)
            .field("detached", &s.detached)
            .finish()
    }
}

/// A generator seeded from the operating system (`getrandom`), falling back to
/// `fastrand`'s own seeding if the OS source fails.
fn os_seeded_rng() -> fastrand::Rng {
    let mut seed = [0u8; 8];
    match getrandom::fill(&mut seed) {
        Ok(()) => fastrand::Rng::with_seed(u64::from_ne_bytes(seed)),
        Err(e) => {
            log::debug!("getrandom failed ({e}); jitter seeded by fastrand");
            fastrand::Rng::new()
        }
    }
}

impl PeriodicCallback {
    /// A stopped periodic callback; call [`start`](Self::start).
    ///
    /// # Panics
    /// If `interval` is zero.
    pub fn new(handle: &Handle, interval: Duration, callback: impl FnMut() + 'static) -> Self {
        assert!(
            !interval.is_zero(),
            "PeriodicCallback interval must be positive"
        );
        PeriodicCallback {
            guard: Rc::new(Guard {
                state: Rc::new(RefCell::new(State {
                    handle: handle.clone(),
                    callback: Box::new(callback),
                    interval,
                    jitter: 0.0,
                    running: false,
                    detached: false,
                    timer: None,
                    next: handle.now(),
                    rng: os_seeded_rng(),
                })),
            }),
        }
    }

    /// Sets jitter (0.0 to 1.0): each interval is scaled by a random factor in
    /// `1 ± jitter/2`.
    pub fn jitter(self, jitter: f64) -> Self {
        let jitter = if jitter.is_nan() { 0.0 } else { jitter };
        self.guard.state.borrow_mut().jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Starts the schedule: the first run is one interval from now.
    pub fn start(&self) {
        let state = &self.guard.state;
        let mut s = state.borrow_mut();
        if s.running {
            return;
        }
        s.running = true;
        s.next = s.handle.now();
        drop(s);
        schedule_next(state);
    }

    /// Stops it; a pending run is cancelled.
    pub fn stop(&self) {
        stop(&self.guard.state);
    }

    /// True between [`start`](Self::start) and [`stop`](Self::stop).
    pub fn is_running(&self) -> bool {
        self.guard.state.borrow().running
    }

    /// Lets the schedule outlive its handles: dropping this one (and every clone) no
    /// longer stops it. It runs until stopped (from a clone kept inside the callback)
    /// or until the reactor is dropped.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let mut reactor = squall::Reactor::new()?;
    /// let handle = reactor.handle();
    /// let (ticks, h) = (Rc::new(Cell::new(0)), handle.clone());
    /// let t = ticks.clone();
    /// let pc = squall::PeriodicCallback::new(&handle, Duration::from_millis(1), move || {
    ///     t.set(t.get() + 1);
    ///     if t.get() == 2 { h.stop(); }
    /// });
    /// pc.start();
    /// pc.detach(); // no handle left, still running
    /// reactor.run()?;
    /// assert_eq!(ticks.get(), 2);
    /// # Ok(()) }
    /// ```
    pub fn detach(self) {
        self.guard.state.borrow_mut().detached = true;
    }
}

fn stop(state: &Shared) {
    let mut s = state.borrow_mut();
    s.running = false;
    if let Some(id) = s.timer.take() {
        let handle = s.handle.clone();
        drop(s);
        handle.cancel_timer(id); // drops the timer's closure outside the borrow
    }
}

fn schedule_next(state: &Shared) {
    let mut s = state.borrow_mut();
    let now = s.handle.now();
    let mut interval = s.interval;
    if s.jitter > 0.0 {
        let unit = s.rng.f64();
        interval = interval.mul_f64(1.0 + s.jitter * (unit - 0.5));
    }
    let interval = interval.max(Duration::from_nanos(1));
    if s.next <= now {
        // Skip missed runs: advance by whole intervals past now.
        let behind = now - s.next;
        let skips = behind.as_nanos() / interval.as_nanos() + 1;
        let skips = u32::try_from(skips).unwrap_or(u32::MAX);
        let step = interval.saturating_mul(skips);
        match s.next.checked_add(step) {
            Some(next) => s.next = next,
            None => return, // an interval too long for the clock: the next run is never
        }
    }
    let handle = s.handle.clone();
    let next = s.next;
    drop(s);
    let me = state.clone();
    let id = handle.call_at(next, move || run(&me));
    state.borrow_mut().timer = Some(id);
}

fn run(state: &Shared) {
    let mut callback = {
        let mut s = state.borrow_mut();
        s.timer = None;
        if !s.running {
            return;
        }
        std::mem::replace(&mut s.callback, Box::new(|| {}))
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut callback));
    state.borrow_mut().callback = callback;
    let again = {
        let s = state.borrow();
        s.running && s.timer.is_none()
    };
    if again {
        schedule_next(state);
    }
    if let Err(payload) = result {
        std::panic::resume_unwind(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_generators_are_seeded_independently() {
        // The old seed (nanoseconds between two clock reads) repeated across callbacks
        // built together; OS-seeded generators do not (a collision is a 2^-64 event).
        let firsts: Vec<u64> = (0..8).map(|_| os_seeded_rng().u64(..)).collect();
        for (i, a) in firsts.iter().enumerate() {
            assert!(
                !firsts[i + 1..].contains(a),
                "two generators repeated: {firsts:?}"
            );
        }
    }
}
