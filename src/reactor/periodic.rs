//! [`PeriodicCallback`]: Tornado's fixed-schedule repeating timer.

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
    timer: Option<TimerId>,
    next: Instant,
    rng: u64,
}

/// Calls a function every `interval` on a fixed schedule. If the loop falls behind (a
/// run took longer than the interval), missed runs are skipped rather than run in a
/// burst, as in Tornado. Optional jitter spreads the runs: each interval is multiplied
/// by a random factor in `1 ± jitter/2`.
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
/// pc.stop();
/// assert_eq!(ticks.get(), 3);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PeriodicCallback {
    state: Rc<RefCell<State>>,
}

impl fmt::Debug for PeriodicCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("PeriodicCallback")
            .field("interval", &s.interval)
            .field("running", &s.running)
            .finish()
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
        let seed = Instant::now().elapsed().subsec_nanos() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        PeriodicCallback {
            state: Rc::new(RefCell::new(State {
                handle: handle.clone(),
                callback: Box::new(callback),
                interval,
                jitter: 0.0,
                running: false,
                timer: None,
                next: Instant::now(),
                rng: seed | 1,
            })),
        }
    }

    /// Sets jitter (0.0 to 1.0): each interval is scaled by a factor in `1 ± jitter/2`.
    pub fn with_jitter(self, jitter: f64) -> Self {
        self.state.borrow_mut().jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Starts the schedule: the first run is one interval from now.
    pub fn start(&self) {
        let mut s = self.state.borrow_mut();
        if s.running {
            return;
        }
        s.running = true;
        s.next = Instant::now();
        drop(s);
        self.schedule_next();
    }

    /// Stops it; a pending run is cancelled.
    pub fn stop(&self) {
        let mut s = self.state.borrow_mut();
        s.running = false;
        if let Some(id) = s.timer.take() {
            let handle = s.handle.clone();
            drop(s);
            handle.cancel_timer(id);
        }
    }

    /// True between [`start`](Self::start) and [`stop`](Self::stop).
    pub fn is_running(&self) -> bool {
        self.state.borrow().running
    }

    fn schedule_next(&self) {
        let mut s = self.state.borrow_mut();
        let now = Instant::now();
        let mut interval = s.interval;
        if s.jitter > 0.0 {
            // xorshift64: enough randomness to spread timers.
            let mut x = s.rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.rng = x;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            interval = interval.mul_f64(1.0 + s.jitter * (unit - 0.5));
        }
        if s.next <= now {
            // Skip missed runs: advance by whole intervals past now.
            let behind = now - s.next;
            let skips = behind.as_nanos() / interval.as_nanos().max(1) + 1;
            let skips = u32::try_from(skips).unwrap_or(u32::MAX);
            s.next += interval.saturating_mul(skips);
        }
        let me = self.clone();
        let handle = s.handle.clone();
        let next = s.next;
        drop(s);
        let id = handle.call_at(next, move || me.run());
        self.state.borrow_mut().timer = Some(id);
    }

    fn run(&self) {
        let callback = {
            let mut s = self.state.borrow_mut();
            s.timer = None;
            if !s.running {
                return;
            }
            std::mem::replace(&mut s.callback, Box::new(|| {}))
        };
        let mut callback = callback;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut callback));
        self.state.borrow_mut().callback = callback;
        if self.state.borrow().running && self.state.borrow().timer.is_none() {
            self.schedule_next();
        }
        if let Err(payload) = result {
            std::panic::resume_unwind(payload);
        }
    }
}
