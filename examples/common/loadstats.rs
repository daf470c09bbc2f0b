//! What the load tools share: a live progress line on a terminal and latencies in an HDR
//! histogram, reported as one parseable line.
//!
//! Included by each tool with `#[path = "common/loadstats.rs"] mod loadstats;` (one copy,
//! not one per tool). The progress line goes to stderr and only when stderr is a terminal
//! (`indicatif` hides it otherwise), so redirected output stays free of `\r` redraws.
//!
//! The percentile line reads
//! `LATENCY count=N p50_ms=.. p90_ms=.. p99_ms=.. p99.9_ms=.. max_ms=..`: space-separated
//! `key=value` pairs, milliseconds with three decimals, quantiles never decreasing.

// Each tool uses part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The quantiles the `LATENCY` line reports, with their key names.
pub const QUANTILES: [(f64, &str); 4] = [
    (0.50, "p50_ms"),
    (0.90, "p90_ms"),
    (0.99, "p99_ms"),
    (0.999, "p99.9_ms"),
];

/// Latencies in nanoseconds, from 1 ns to an hour, three significant digits.
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Latencies {
        let hour_ns = 3_600 * 1_000_000_000;
        Latencies {
            hist: Histogram::new_with_bounds(1, hour_ns, 3).expect("valid histogram bounds"),
        }
    }

    /// Counts one latency (longer than an hour counts as an hour).
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.hist.saturating_record(ns);
    }

    /// How many latencies were counted.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at quantile `q` (0.0 to 1.0) in milliseconds; 0 when empty.
    pub fn ms_at(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1e6
    }

    /// The largest latency in milliseconds (at the histogram's precision); 0 when empty.
    pub fn max_ms(&self) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.max() as f64 / 1e6
    }

    /// The `LATENCY count=.. p50_ms=.. p90_ms=.. p99_ms=.. p99.9_ms=.. max_ms=..` line.
    pub fn line(&self) -> String {
        let mut s = format!("LATENCY count={}", self.count());
        for (q, key) in QUANTILES {
            s += &format!(" {key}={:.3}", self.ms_at(q));
        }
        s + &format!(" max_ms={:.3}", self.max_ms())
    }
}

/// A progress line on stderr: done (of the total, if known), rate, errors, elapsed.
/// Drawn only when stderr is a terminal, at most ten times a second.
pub struct Progress {
    bar: ProgressBar,
    total: Option<u64>,
    unit: &'static str,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    /// A progress line counting `unit`s (e.g. "requests") up to `total`, if known.
    pub fn new(total: Option<u64>, unit: &'static str) -> Progress {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        // Everything but the clock is in the message: one redraw per update.
        let style = ProgressStyle::with_template("{elapsed_precise} {msg}");
        bar.set_style(style.expect("valid template"));
        Progress {
            bar,
            total,
            unit,
            start: Instant::now(),
            last: None,
        }
    }

    /// Whether the line is drawn at all (stderr is a terminal).
    pub fn visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Shows `done` units so far and `errors`; cheap when called often (redraws at most
    /// every 100 ms, nothing when hidden).
    pub fn set(&mut self, done: u64, errors: u64) {
        if self.bar.is_hidden() {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        self.draw(now, done, errors);
    }

    fn draw(&self, now: Instant, done: u64, errors: u64) {
        let secs = (now - self.start).as_secs_f64().max(1e-9);
        let of = self.total.map(|n| format!("/{n}")).unwrap_or_default();
        self.bar.set_message(format!(
            "{done}{of} {}, {:.0}/s, {errors} errors",
            self.unit,
            done as f64 / secs
        ));
    }

    /// Draws the final figures and leaves the line on the terminal.
    pub fn finish(&self, done: u64, errors: u64) {
        if self.bar.is_hidden() {
            return;
        }
        self.draw(Instant::now(), done, errors);
        self.bar.finish();
        // The report that follows starts on a line of its own.
        eprintln!();
    }
}
