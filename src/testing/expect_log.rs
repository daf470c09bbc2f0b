//! A guard asserting what gets logged (Tornado's `ExpectLog`).

use std::cell::RefCell;
use std::sync::Once;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// One active guard's filter and what it saw.
struct Capture {
    id: u64,
    target: String,
    pattern: String,
    matched: usize,
    fail_on_other_warnings: bool,
    others: Vec<String>,
}

thread_local! {
    static CAPTURES: RefCell<Vec<Capture>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The process-wide logger: hands each record to this thread's guards; what none of
/// them takes is printed to stderr at warning level and above.
struct CapturingLogger;

impl Log for CapturingLogger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let text = record.args().to_string();
        let taken = CAPTURES
            .try_with(|c| {
                let Ok(mut caps) = c.try_borrow_mut() else {
                    return false;
                };
                // The innermost guard that matches takes the record.
                if let Some(cap) = caps.iter_mut().rev().find(|cap| {
                    record.target().starts_with(cap.target.as_str()) && text.contains(&cap.pattern)
                }) {
                    cap.matched += 1;
                    return true;
                }
                if record.level() <= Level::Warn {
                    for cap in caps.iter_mut().filter(|c| c.fail_on_other_warnings) {
                        cap.others
                            .push(format!("{} {}: {text}", record.level(), record.target()));
                    }
                }
                false
            })
            .unwrap_or(false);
        if !taken && record.level() <= Level::Warn {
            eprintln!("{} {}: {text}", record.level(), record.target());
        }
    }

    fn flush(&self) {}
}

static LOGGER: CapturingLogger = CapturingLogger;
static INSTALL: Once = Once::new();

/// Installs the capturing logger (once per process).
fn install() {
    INSTALL.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(LevelFilter::Trace);
        }
    });
}

/// While alive, captures the log records of this thread whose target starts with
/// `target` and whose message contains `pattern` (they are not printed); when dropped,
/// panics if none came (unless [`required`](Self::required)`(false)`), or, with
/// [`fail_on_other_warnings`](Self::fail_on_other_warnings), if any other record at
/// warning level or above was logged meanwhile.
///
/// The first `ExpectLog` installs a process-wide [`log`] logger that forwards records to
/// the guards of the thread that logged them (and prints what no guard takes, at warning
/// level and above, to stderr). It replaces any other logger in the test binary: a test
/// binary that uses `ExpectLog` cannot also install `env_logger` or similar (whichever is
/// installed first wins; if another logger got there first, `ExpectLog` sees nothing and
/// its drop panics). Records logged on other threads are not captured.
///
/// ```
/// let expect = squall::testing::ExpectLog::new("squall", "blocked the loop");
/// log::warn!(target: "squall::reactor", "callback blocked the loop for 2s");
/// assert_eq!(expect.count(), 1);
/// drop(expect); // a record came: no panic
/// ```
///
/// ```should_panic
/// let _expect = squall::testing::ExpectLog::new("squall", "never logged");
/// // dropped here: panics, no such record came
/// ```
#[derive(Debug)]
#[must_use = "the guard captures only while it is alive"]
pub struct ExpectLog {
    id: u64,
    required: bool,
}

impl ExpectLog {
    /// Starts capturing records whose target starts with `target` (`""`: any) and
    /// whose message contains `pattern`.
    pub fn new(target: &str, pattern: &str) -> ExpectLog {
        install();
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        CAPTURES.with(|c| {
            c.borrow_mut().push(Capture {
                id,
                target: target.to_string(),
                pattern: pattern.to_string(),
                matched: 0,
                fail_on_other_warnings: false,
                others: Vec::new(),
            })
        });
        ExpectLog { id, required: true }
    }

    /// Whether the drop panics when no matching record came (default `true`).
    ///
    /// ```
    /// let quiet = squall::testing::ExpectLog::new("squall", "maybe").required(false);
    /// drop(quiet); // nothing came, no panic
    /// ```
    pub fn required(mut self, yes: bool) -> ExpectLog {
        self.required = yes;
        self
    }

    /// Whether the drop panics when a record at warning level or above that this guard
    /// did not match was logged meanwhile on this thread (default `false`).
    ///
    /// ```should_panic
    /// let expect = squall::testing::ExpectLog::new("app", "expected").fail_on_other_warnings(true);
    /// log::warn!(target: "app", "expected");
    /// log::error!(target: "app", "something else"); // unexpected: the drop panics
    /// drop(expect);
    /// ```
    pub fn fail_on_other_warnings(self, yes: bool) -> ExpectLog {
        self.with(|c| c.fail_on_other_warnings = yes);
        self
    }

    /// Matching records captured so far.
    ///
    /// ```
    /// let expect = squall::testing::ExpectLog::new("app", "tick");
    /// log::info!(target: "app", "tick");
    /// log::info!(target: "app", "tick");
    /// assert_eq!(expect.count(), 2);
    /// ```
    pub fn count(&self) -> usize {
        self.with(|c| c.matched)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Capture) -> T) -> T {
        CAPTURES.with(|c| {
            let mut caps = c.borrow_mut();
            let cap = caps
                .iter_mut()
                .find(|c| c.id == self.id)
                .expect("an ExpectLog is used on the thread that created it");
            f(cap)
        })
    }
}

impl Drop for ExpectLog {
    fn drop(&mut self) {
        let cap = CAPTURES.try_with(|c| {
            let mut caps = c.borrow_mut();
            let at = caps.iter().position(|c| c.id == self.id)?;
            Some(caps.remove(at))
        });
        let Ok(Some(cap)) = cap else { return };
        if std::thread::panicking() {
            return;
        }
        if self.required && cap.matched == 0 {
            panic!(
                "ExpectLog: no log record with target {:?}… containing {:?}",
                cap.target, cap.pattern
            );
        }
        if cap.fail_on_other_warnings && !cap.others.is_empty() {
            panic!("ExpectLog: unexpected warnings: {:?}", cap.others);
        }
    }
}
