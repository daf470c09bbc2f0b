//! The thread's metrics: squall's own, registered in a `prometheus_client` registry the
//! application may add to, and kept in a thread-local (a reactor serves on one thread).

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::histogram::DurationHistogram;
use crate::reactor::{real_coarse, Stats};

/// Label values of [`super::hooks::method_index`]; anything else is `OTHER`.
pub(crate) const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];

/// (method, status) labels of the HTTP request families.
type HttpLabels = ([(&'static str, &'static str); 1], [(&'static str, u16); 1]);

/// Label set resolved once per (method, status) pair: a request finds its counter and
/// histogram by a short scan instead of hashing labels.
struct Resolved {
    method: u8,
    status: u16,
    requests: Counter,
    duration: DurationHistogram,
}

/// Most (method, status) pairs kept resolved; others hash their labels per request.
const RESOLVED_MAX: usize = 32;

/// squall's metrics for this thread.
pub(crate) struct Metrics {
    pub(crate) registry: RefCell<Registry>,
    // Reactor (copied from `Handle::stats` at each scrape).
    iterations: Counter,
    callbacks_run: Counter,
    slow_callbacks: Counter,
    busy: Counter<f64, AtomicU64>,
    lag: Gauge<f64, AtomicU64>,
    handlers: Gauge,
    timers_pending: Gauge,
    callbacks_pending: Gauge,
    // HTTP server.
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, DurationHistogram>,
    resolved: RefCell<Vec<Resolved>>,
    pub(crate) http_bytes_in: Counter,
    pub(crate) http_bytes_out: Counter,
    pub(crate) http_connections: Gauge,
    pub(crate) http_connections_total: Counter,
    // WebSocket.
    pub(crate) ws_connections: Gauge,
    pub(crate) ws_connections_total: Counter,
    pub(crate) ws_received: Counter,
    pub(crate) ws_sent: Counter,
    // TLS.
    tls_handshakes: Counter,
    tls_failures: Family<[(&'static str, Cow<'static, str>); 1], Counter>,
    // HTTP client.
    pub(crate) client_opened: Counter,
    pub(crate) client_reused: Counter,
    pub(crate) client_queued: Counter,
    // Redis.
    pub(crate) redis_reconnects: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let m = Metrics {
            registry: RefCell::new(Registry::default()),
            iterations: Counter::default(),
            callbacks_run: Counter::default(),
            slow_callbacks: Counter::default(),
            busy: Counter::default(),
            lag: Gauge::default(),
            handlers: Gauge::default(),
            timers_pending: Gauge::default(),
            callbacks_pending: Gauge::default(),
            http_requests: Family::default(),
            http_duration: Family::default(),
            resolved: RefCell::new(Vec::new()),
            http_bytes_in: Counter::default(),
            http_bytes_out: Counter::default(),
            http_connections: Gauge::default(),
            http_connections_total: Counter::default(),
            ws_connections: Gauge::default(),
            ws_connections_total: Counter::default(),
            ws_received: Counter::default(),
            ws_sent: Counter::default(),
            tls_handshakes: Counter::default(),
            tls_failures: Family::default(),
            client_opened: Counter::default(),
            client_reused: Counter::default(),
            client_queued: Counter::default(),
            redis_reconnects: Counter::default(),
        };
        m.register();
        m
    }

    fn register(&self) {
        let mut r = self.registry.borrow_mut();
        let s = r.sub_registry_with_prefix("squall");
        s.register(
            "loop_iterations",
            "Reactor loop iterations",
            self.iterations.clone(),
        );
        s.register(
            "callbacks",
            "Callbacks, timers and handlers run by the reactor",
            self.callbacks_run.clone(),
        );
        s.register(
            "slow_callbacks",
            "Callbacks that held the loop longer than the slow-callback threshold",
            self.slow_callbacks.clone(),
        );
        s.register_with_unit(
            "loop_busy",
            "Time the loop spent running callbacks (coarse clock)",
            Unit::Seconds,
            self.busy.clone(),
        );
        s.register_with_unit(
            "loop_lag",
            "Time the last loop iteration spent running callbacks: how long a new event may wait",
            Unit::Seconds,
            self.lag.clone(),
        );
        s.register(
            "handlers",
            "I/O handlers registered (open sockets, pipes, listeners)",
            self.handlers.clone(),
        );
        s.register(
            "timers_pending",
            "Timers pending",
            self.timers_pending.clone(),
        );
        s.register(
            "callbacks_pending",
            "Callbacks queued for the next iteration",
            self.callbacks_pending.clone(),
        );
        s.register(
            "http_requests",
            "HTTP server responses by request method and status",
            self.http_requests.clone(),
        );
        s.register_with_unit(
            "http_request_duration",
            "HTTP server time from a complete request to its finished response (coarse clock)",
            Unit::Seconds,
            self.http_duration.clone(),
        );
        s.register_with_unit(
            "http_received",
            "HTTP server request bytes read",
            Unit::Bytes,
            self.http_bytes_in.clone(),
        );
        s.register_with_unit(
            "http_sent",
            "HTTP server response bytes written",
            Unit::Bytes,
            self.http_bytes_out.clone(),
        );
        s.register(
            "http_open_connections",
            "HTTP server connections open",
            self.http_connections.clone(),
        );
        s.register(
            "http_connections",
            "HTTP server connections accepted",
            self.http_connections_total.clone(),
        );
        s.register(
            "websocket_open_connections",
            "WebSocket connections open",
            self.ws_connections.clone(),
        );
        s.register(
            "websocket_connections",
            "WebSocket connections started",
            self.ws_connections_total.clone(),
        );
        s.register(
            "websocket_messages_received",
            "WebSocket messages received",
            self.ws_received.clone(),
        );
        s.register(
            "websocket_messages_sent",
            "WebSocket messages sent",
            self.ws_sent.clone(),
        );
        s.register(
            "tls_handshakes",
            "TLS handshakes completed",
            self.tls_handshakes.clone(),
        );
        s.register(
            "tls_handshake_failures",
            "TLS handshakes failed, by cause",
            self.tls_failures.clone(),
        );
        s.register(
            "http_client_connections_opened",
            "HTTP client connections opened",
            self.client_opened.clone(),
        );
        s.register(
            "http_client_connections_reused",
            "HTTP client requests sent on an idle pooled connection",
            self.client_reused.clone(),
        );
        s.register(
            "http_client_queued",
            "HTTP client requests that waited in the queue for a free slot",
            self.client_queued.clone(),
        );
        s.register(
            "redis_reconnects",
            "Redis reconnection attempts",
            self.redis_reconnects.clone(),
        );
    }

    /// Counts a finished HTTP response and observes its duration.
    pub(crate) fn http_request(&self, method: u8, status: u16, started: Duration) {
        let took = real_coarse().saturating_sub(started);
        {
            let resolved = self.resolved.borrow();
            if let Some(r) = resolved
                .iter()
                .find(|r| r.status == status && r.method == method)
            {
                r.requests.inc();
                r.duration.observe(took);
                return;
            }
        }
        let labels = (
            [("method", METHODS[usize::from(method & 7)])],
            [("status", status)],
        );
        let requests = self.http_requests.get_or_create_owned(&labels);
        let duration = self.http_duration.get_or_create_owned(&labels);
        requests.inc();
        duration.observe(took);
        let mut resolved = self.resolved.borrow_mut();
        if resolved.len() < RESOLVED_MAX {
            resolved.push(Resolved {
                method,
                status,
                requests,
                duration,
            });
        }
    }

    /// Counts a finished TLS handshake, or its failure by cause.
    pub(crate) fn tls_handshake(&self, failure: Option<&crate::Error>) {
        let Some(e) = failure else {
            self.tls_handshakes.inc();
            return;
        };
        let cause: Cow<'static, str> = match e {
            crate::Error::Tls(t) => Cow::Owned(format!("{:?}", t.kind()).to_lowercase()),
            crate::Error::Timeout => Cow::Borrowed("timeout"),
            _ => Cow::Borrowed("closed"),
        };
        self.tls_failures.get_or_create(&[("cause", cause)]).inc();
    }

    /// Copies the reactor's counters in (before an exposition).
    pub(crate) fn update_reactor(&self, s: &Stats) {
        set_counter(&self.iterations, s.iterations);
        set_counter(&self.callbacks_run, s.callbacks_run);
        set_counter(&self.slow_callbacks, s.slow_callbacks);
        let busy = s.busy.as_secs_f64() - self.busy.get();
        if busy > 0.0 {
            self.busy.inc_by(busy);
        }
        self.lag.set(s.loop_lag.as_secs_f64());
        self.handlers.set(s.handlers as i64);
        self.timers_pending.set(s.timers_pending as i64);
        self.callbacks_pending
            .set((s.callbacks_pending + s.done_callbacks_pending) as i64);
    }
}

/// Raises `c` to `value` (a reactor counter read at scrape time).
fn set_counter(c: &Counter, value: u64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
    }
}

thread_local! {
    static METRICS: Metrics = Metrics::new();
}

/// Runs `f` with this thread's metrics (nothing once the thread is being torn down).
#[inline]
pub(crate) fn with(f: impl FnOnce(&Metrics)) {
    let _ = METRICS.try_with(f);
}
