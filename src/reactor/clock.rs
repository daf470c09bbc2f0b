//! The loop's clock: real, or virtual (moved only by [`Handle::advance`] and, when
//! asked for, by auto-advance). Every time reading in squall goes through here.
//!
//! [`Handle::advance`]: super::Handle::advance

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

/// A virtual clock: a base captured when the reactor was built plus an offset.
struct Virtual {
    base: Instant,
    wall_base: SystemTime,
    coarse_base: Duration,
    offset: Cell<Duration>,
    auto_advance: bool,
}

/// The reactor's clock.
pub(crate) struct Clock {
    virt: Option<Virtual>,
}

impl Clock {
    /// A real clock, or a virtual one (standing still until advanced) when `virtual_clock`.
    pub(crate) fn new(virtual_clock: bool, auto_advance: bool) -> Clock {
        let virt = virtual_clock.then(|| Virtual {
            base: Instant::now(),
            wall_base: SystemTime::now(),
            coarse_base: real_coarse(),
            offset: Cell::new(Duration::ZERO),
            auto_advance,
        });
        Clock { virt }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.virt.is_some()
    }

    pub(crate) fn auto_advance(&self) -> bool {
        self.virt.as_ref().is_some_and(|v| v.auto_advance)
    }

    /// The loop's monotonic time.
    pub(crate) fn now(&self) -> Instant {
        match &self.virt {
            Some(v) => v.base + v.offset.get(),
            None => Instant::now(),
        }
    }

    /// The loop's wall-clock time (the `Date` header, cookie expiry, signed values).
    pub(crate) fn wall(&self) -> SystemTime {
        match &self.virt {
            Some(v) => v.wall_base + v.offset.get(),
            None => SystemTime::now(),
        }
    }

    /// A cheap millisecond-resolution reading, comparable only with other readings of
    /// this clock (stream activity, HTTP server deadlines).
    pub(crate) fn coarse(&self) -> Duration {
        match &self.virt {
            Some(v) => v.coarse_base + v.offset.get(),
            None => real_coarse(),
        }
    }

    /// Moves virtual time forward by `by` (no-op on a real clock). Returns `false` on a
    /// real clock.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        let Some(v) = &self.virt else {
            return false;
        };
        let next = v.offset.get().saturating_add(by);
        // Keep `base + offset` representable.
        if v.base.checked_add(next).is_some() {
            v.offset.set(next);
        }
        true
    }

    /// Moves virtual time to `at` if that is later than now (auto-advance).
    pub(crate) fn advance_to(&self, at: Instant) {
        if let Some(v) = &self.virt {
            let target = at.saturating_duration_since(v.base);
            if target > v.offset.get() {
                v.offset.set(target);
            }
        }
    }

    /// The instant `delay` from now, or `None` ("never") when beyond what [`Instant`]
    /// can represent.
    pub(crate) fn deadline_after(&self, delay: Duration) -> Option<Instant> {
        self.now().checked_add(delay)
    }
}

/// Reads a cheap monotonic clock (millisecond resolution): the real clock behind the
/// slow-callback detector, and the loop's coarse time when the clock is real.
///
/// Through the C library's `clock_gettime(CLOCK_MONOTONIC_COARSE)`, which answers from
/// the vDSO without a system call, and which tools that run the program on a synthetic
/// CPU (valgrind, which hides the vDSO) or preload an allocator (heaptrack) support. A
/// vDSO lookup of our own (as rustix's) finds the real vDSO through `PR_GET_AUXV` and
/// crashes under valgrind.
pub(crate) fn real_coarse() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call, the only
    // memory `clock_gettime` writes.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    debug_assert_eq!(
        rc, 0,
        "CLOCK_MONOTONIC_COARSE exists on every supported kernel"
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Real monotonic time, for code that has no reactor (a bound on a blocking helper
/// thread, a test harness's wall-time limit).
pub(crate) fn real_now() -> Instant {
    Instant::now()
}
