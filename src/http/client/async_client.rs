//! [`AsyncHttpClient`]: the queue (`max_clients`), per-host limits, connecting, the
//! exchange over a pooled or new connection, timeouts and redirects.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use http::Method;

use super::connection::{Parsed, ResponseReader};
use super::plan::Plan;
use super::pool::{self, Pool};
use super::request::{HttpRequest, RequestDefaults};
use super::response::{HttpResponse, TimeInfo, TimeoutStage};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::http::h1::{out_buffer, return_out_buffer};
use crate::net::{Resolver, TcpClient};
use crate::reactor::{Handle, TimerId};
use crate::stream::{CustomRead, IoStream};
use crate::tls::{ClientTlsOptions, TlsConfig};

/// Options of an [`AsyncHttpClient`]: `Default` plus chained setters (the struct is
/// `#[non_exhaustive]`, so a new option breaks nobody).
///
/// ```
/// use std::time::Duration;
/// use squall::http::client::{ClientOptions, RequestDefaults};
///
/// let options = ClientOptions::default()
///     .max_clients(50)
///     .max_connections_per_host(Some(8))
///     .idle_timeout(Duration::from_secs(30))
///     .defaults(RequestDefaults::default().request_timeout(Duration::from_secs(5)));
/// assert_eq!(options.max_clients, 50);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Requests in flight at once (default 10, as Tornado); more wait in a FIFO queue,
    /// at most `min(connect_timeout, request_timeout)`, and the time they wait counts
    /// against their `request_timeout`.
    pub max_clients: usize,
    /// Connections open at once to one `host:port` (default: no limit beyond
    /// `max_clients`). Requests over the limit wait in the queue.
    pub max_connections_per_host: Option<usize>,
    /// Keep connections open for later requests (default `true`).
    pub keep_alive: bool,
    /// Close a pooled connection after this long unused (default 60 s).
    pub idle_timeout: Duration,
    /// Most idle connections kept per `host:port` (default 32).
    pub max_idle_per_host: usize,
    /// Options for requests that do not set them.
    pub defaults: RequestDefaults,
    /// Resolves host names (default: [`DefaultResolver`](crate::net::DefaultResolver)),
    /// e.g. an [`OverrideResolver`](crate::net::OverrideResolver) in tests.
    pub resolver: Option<Rc<dyn Resolver>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_clients: 10,
            max_connections_per_host: None,
            keep_alive: true,
            idle_timeout: Duration::from_secs(60),
            max_idle_per_host: 32,
            defaults: RequestDefaults::default(),
            resolver: None,
        }
    }
}

impl ClientOptions {
    /// Sets [`max_clients`](Self::max_clients) (at least 1 is used).
    pub fn max_clients(mut self, n: usize) -> Self {
        self.max_clients = n;
        self
    }

    /// Sets [`max_connections_per_host`](Self::max_connections_per_host).
    pub fn max_connections_per_host(mut self, n: Option<usize>) -> Self {
        self.max_connections_per_host = n;
        self
    }

    /// Sets [`keep_alive`](Self::keep_alive).
    pub fn keep_alive(mut self, yes: bool) -> Self {
        self.keep_alive = yes;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = t;
        self
    }

    /// Sets [`max_idle_per_host`](Self::max_idle_per_host).
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// Sets [`defaults`](Self::defaults).
    pub fn defaults(mut self, defaults: RequestDefaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// Sets [`resolver`](Self::resolver).
    pub fn resolver(mut self, resolver: Rc<dyn Resolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("max_clients", &self.max_clients)
            .field("max_connections_per_host", &self.max_connections_per_host)
            .field("keep_alive", &self.keep_alive)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_idle_per_host", &self.max_idle_per_host)
            .field("defaults", &self.defaults)
            .field("resolver", &self.resolver.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// A non-blocking HTTP/1.1 client on a squall reactor (Tornado's `AsyncHTTPClient`).
///
/// [`fetch`](Self::fetch) returns a [`Future<HttpResponse>`]: it resolves `Ok` with any
/// complete response (404 included) and fails with a matchable [`Error`] for transport
/// failures ([`Error::Io`], [`Error::Resolve`]), timeouts ([`Error::HttpTimeout`]), protocol
/// violations and limits ([`Error::HttpFetch`], Tornado's 599) and TLS failures
/// ([`Error::Tls`], naming the cause). `https://` URLs are verified against the
/// system roots unless [`RequestDefaults::tls`](super::RequestDefaults::tls) or the
/// request says otherwise. Cloning gives another handle to the same client (same
/// queue and pool).
///
/// ```no_run
/// # fn main() -> squall::Result<()> {
/// use squall::http::client::AsyncHttpClient;
/// let mut reactor = squall::Reactor::new()?;
/// let client = AsyncHttpClient::new(&reactor.handle());
/// let response = reactor.run_until(&client.fetch("http://127.0.0.1:8888/"))?;
/// println!("{} {:?}", response.status, response.body);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[doc(alias = "AsyncHTTPClient")]
pub struct AsyncHttpClient {
    inner: Rc<Inner>,
}

impl fmt::Debug for AsyncHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.borrow();
        f.debug_struct("AsyncHttpClient")
            .field("active", &s.active)
            .field("queued", &s.queue.len())
            .field("idle_connections", &s.pool.idle_count())
            .finish()
    }
}

struct Inner {
    handle: Handle,
    options: ClientOptions,
    tcp: TcpClient,
    state: RefCell<State>,
    /// Client TLS configurations built so far, per settings (building one reads files).
    tls_configs: RefCell<Vec<(ClientTlsOptions, TlsConfig)>>,
}

impl Drop for Inner {
    /// The last handle is gone while requests wait in the queue (running ones keep the
    /// client alive): fail them rather than leave their futures pending forever.
    fn drop(&mut self) {
        let queued = std::mem::take(&mut self.state.get_mut().queue);
        for f in queued {
            let mut fb = f.borrow_mut();
            fb.phase = Phase::Done;
            if let Some(t) = fb.timer.take() {
                self.handle.cancel_timer(t);
            }
            if !fb.result.is_done() {
                fb.result.set_error(Error::Cancelled);
            }
        }
    }
}

#[derive(Default)]
struct State {
    active: usize,
    queue: VecDeque<FetchRef>,
    pool: Pool<Link>,
    next_conn_id: u64,
    sweep: Option<TimerId>,
}

type FetchRef = Rc<RefCell<Fetch>>;

/// A connection of this client: the stream and its [`Link`].
type Conn = pool::Conn<Link>;

/// What a connection keeps from request to request: its one read callback, made when
/// it opens, the exchange that callback serves now, and the timer that bounds the
/// exchanges of a reused connection (no allocation per request).
struct Link {
    current: Rc<RefCell<Option<Exchange>>>,
    reader: CustomRead,
    /// The connection's request timer and when it fires, if armed. It is armed for the
    /// first exchange that needs it and, when it fires, re-armed for the exchange then
    /// running (if any): one timer per `request_timeout`, not one per request.
    timer: Rc<Cell<Option<(TimerId, Instant)>>>,
    /// To cancel that timer when the connection goes.
    handle: Handle,
}

impl Drop for Link {
    /// The connection is gone (closed, or dropped from the pool): its timer goes too,
    /// rather than stay pending until it fires for nothing.
    fn drop(&mut self) {
        if let Some((id, _)) = self.timer.take() {
            self.handle.cancel_timer(id);
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Link")
    }
}

impl Link {
    fn new(handle: &Handle) -> Link {
        let current: Rc<RefCell<Option<Exchange>>> = Rc::default();
        let slot = current.clone();
        let reader: CustomRead = Rc::new(move |buf, closed| on_data(&slot, buf, closed));
        Link {
            current,
            reader,
            timer: Rc::default(),
            handle: handle.clone(),
        }
    }
}

/// Makes sure the connection's timer fires at `at` or before.
fn arm_link_timer(
    inner: &Rc<Inner>,
    current: &Rc<RefCell<Option<Exchange>>>,
    timer: &Rc<Cell<Option<(TimerId, Instant)>>>,
    at: Instant,
) {
    match timer.get() {
        Some((_, armed)) if armed <= at => return, // it re-arms itself for `at`
        Some((id, _)) => {
            inner.handle.cancel_timer(id);
        }
        None => {}
    }
    let weak = (
        Rc::downgrade(inner),
        Rc::downgrade(current),
        Rc::downgrade(timer),
    );
    let id = inner.handle.call_at(at, move || {
        if let (Some(inner), Some(current), Some(timer)) =
            (weak.0.upgrade(), weak.1.upgrade(), weak.2.upgrade())
        {
            on_link_timer(&inner, &current, &timer);
        }
    });
    timer.set(Some((id, at)));
}

/// The connection's timer fired: time out the exchange on it if its deadline passed,
/// else wait for that deadline (nothing to wait for when the connection is idle).
fn on_link_timer(
    inner: &Rc<Inner>,
    current: &Rc<RefCell<Option<Exchange>>>,
    timer: &Rc<Cell<Option<(TimerId, Instant)>>>,
) {
    timer.set(None);
    let running = current
        .borrow()
        .as_ref()
        .and_then(|x| Some((x.deadline?, x.fetch.clone())));
    let Some((deadline, f)) = running else {
        return;
    };
    if deadline > inner.handle.now() {
        arm_link_timer(inner, current, timer, deadline);
    } else {
        on_timeout(inner, &f);
    }
}

/// The request a connection reads the response to.
struct Exchange {
    inner: Rc<Inner>,
    fetch: FetchRef,
    reader: ResponseReader,
    /// Writes the body held for `100 Continue` when it arrives.
    writer: Option<IoStream>,
    /// When the request times out, if the connection's timer watches it (else the
    /// fetch's own timer does).
    deadline: Option<Instant>,
}

enum Phase {
    Queued,
    Connecting,
    Exchanging { conn: Conn, reused: bool },
    Done,
}

/// One hop of a fetch: queued, connecting, exchanging, done.
struct Fetch {
    plan: Plan,
    result: Future<HttpResponse>,
    /// When `fetch` was called (redirects included in `request_time`).
    started: Instant,
    hop_start: Instant,
    dispatched: Option<Instant>,
    connected: Option<Instant>,
    timer: Option<TimerId>,
    phase: Phase,
    retried: bool,
}

impl AsyncHttpClient {
    /// A client with default [`ClientOptions`].
    pub fn new(handle: &Handle) -> Self {
        Self::with_options(handle, ClientOptions::default())
    }

    /// A client with `options`.
    pub fn with_options(handle: &Handle, options: ClientOptions) -> Self {
        let tcp = match &options.resolver {
            Some(r) => TcpClient::with_resolver(handle, r.clone()),
            None => TcpClient::new(handle),
        };
        AsyncHttpClient {
            inner: Rc::new(Inner {
                handle: handle.clone(),
                options: ClientOptions {
                    max_clients: options.max_clients.max(1),
                    ..options
                },
                tcp,
                state: RefCell::new(State::default()),
                tls_configs: RefCell::new(Vec::new()),
            }),
        }
    }

    /// The options this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Starts fetching `request` (a URL string, a [`Url`](url::Url) or an
    /// [`HttpRequest`]); the future resolves with the complete response.
    ///
    /// Never panics and never blocks; invalid requests fail the future.
    /// [`Future::cancel`] on the returned future cancels the fetch (see the
    /// [module docs](super)): its connection is closed or it leaves the
    /// queue, and its slot is freed on the next loop iteration.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::http::client::AsyncHttpClient;
    /// let mut reactor = squall::Reactor::new()?;
    /// let client = AsyncHttpClient::new(&reactor.handle());
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let url = format!("http://{}/", listener.local_addr()?);
    /// let f = client.fetch(url.as_str());
    /// assert!(f.cancel());
    /// assert!(matches!(reactor.run_until(&f), Err(squall::Error::Cancelled)));
    /// # Ok(()) }
    /// ```
    pub fn fetch(&self, request: impl Into<HttpRequest>) -> Future<HttpResponse> {
        let result = Future::new();
        match Plan::new(request.into(), &self.inner.options.defaults) {
            Ok(plan) => start_hop(&self.inner, plan, result.clone(), self.inner.handle.now()),
            Err(e) => result.set_error(e),
        }
        result
    }

    /// Requests running now (at most `max_clients`).
    pub fn active(&self) -> usize {
        self.inner.state.borrow().active
    }

    /// Requests waiting for a slot.
    pub fn queued(&self) -> usize {
        self.inner.state.borrow().queue.len()
    }

    /// Idle keep-alive connections held now.
    pub fn idle_connections(&self) -> usize {
        self.inner.state.borrow().pool.idle_count()
    }

    /// Closes the idle keep-alive connections (requests in flight go on; Tornado's
    /// `close`).
    pub fn close_idle(&self) {
        self.inner.state.borrow_mut().pool.close_idle();
    }
}

fn start_hop(inner: &Rc<Inner>, plan: Plan, result: Future<HttpResponse>, started: Instant) {
    let fetch = Rc::new(RefCell::new(Fetch {
        plan,
        result: result.clone(),
        started,
        hop_start: started,
        dispatched: None,
        connected: None,
        timer: None,
        phase: Phase::Queued,
        retried: false,
    }));
    // `Future::cancel` on the fetch's future cancels the fetch (without counting as a
    // look at its result).
    let (weak, f) = (Rc::downgrade(inner), Rc::downgrade(&fetch));
    result.add_done_callback_unobserved(move |r| {
        if let (true, Some(inner), Some(f)) = (r.is_cancelled(), weak.upgrade(), f.upgrade()) {
            on_cancel(&inner, &f);
        }
    });
    queue_hop(inner, fetch);
}

/// Arms the hop's queue timeout (`min(connect_timeout, request_timeout)`, as Tornado)
/// and queues it.
fn queue_hop(inner: &Rc<Inner>, fetch: FetchRef) {
    inner.state.borrow_mut().queue.push_back(fetch.clone());
    dispatch(inner);
    // Still waiting for a slot (one that started has its request timer instead).
    let mut fb = fetch.borrow_mut();
    if matches!(fb.phase, Phase::Queued) {
        crate::telemetry::hooks::client_queued();
        let wait = fb.plan.request_timeout.min(fb.plan.connect_timeout);
        let deadline = fb.hop_start.checked_add(wait);
        arm_timer(inner, &fetch, &mut fb, deadline);
    }
}

/// Replaces the fetch's timer with one at `deadline` (none if it is too far to
/// represent).
fn arm_timer(inner: &Rc<Inner>, f: &FetchRef, fb: &mut Fetch, deadline: Option<Instant>) {
    cancel_timer(inner, fb);
    if let Some(at) = deadline {
        let (weak, f) = (Rc::downgrade(inner), f.clone());
        fb.timer = Some(inner.handle.call_at(at, move || {
            if let Some(inner) = weak.upgrade() {
                on_timeout(&inner, &f);
            }
        }));
    }
}

/// Starts queued fetches while slots are free, in FIFO order (a fetch whose host is at
/// `max_connections_per_host` lets later ones for other hosts pass).
fn dispatch(inner: &Rc<Inner>) {
    loop {
        let next = {
            let mut st = inner.state.borrow_mut();
            if st.active >= inner.options.max_clients || st.queue.is_empty() {
                return;
            }
            let limit = inner.options.max_connections_per_host;
            let pos = match limit {
                None => Some(0),
                Some(_) => st
                    .queue
                    .iter()
                    .position(|f| st.pool.has_capacity(f.borrow().plan.pool_key(), limit)),
            };
            let Some(pos) = pos else { return };
            let f = st.queue.remove(pos);
            if f.is_some() {
                st.active += 1;
            }
            f
        };
        if let Some(f) = next {
            start(inner, f);
        }
    }
}

fn start(inner: &Rc<Inner>, f: FetchRef) {
    let mut fb = f.borrow_mut();
    fb.dispatched.get_or_insert_with(|| inner.handle.now());
    let conn = {
        let mut st = inner.state.borrow_mut();
        let key = fb.plan.pool_key();
        let conn = st.pool.checkout(
            key,
            inner.options.idle_timeout,
            inner.handle.now(),
            // Only a request sent again if the connection turns out closed may skip
            // the look at an idle connection's socket (see `Pool::checkout`).
            (idempotent(&fb.plan.method) && !fb.retried)
                .then(|| inner.handle.iteration())
                .flatten(),
        );
        if conn.is_none() {
            st.pool.opening(key);
        }
        conn
    };
    if let Some(conn) = conn {
        // The connection's timer bounds the request (see `Link`): the queue's goes.
        cancel_timer(inner, &mut fb);
        fb.phase = Phase::Exchanging { conn, reused: true };
        drop(fb);
        exchange(inner, &f);
        return;
    }
    // Out of the queue: the request timeout runs from the start of the hop.
    let deadline = fb.hop_start.checked_add(fb.plan.request_timeout);
    arm_timer(inner, &f, &mut fb, deadline);
    fb.phase = Phase::Connecting;
    let timeout = Some(fb.plan.connect_timeout);
    let connecting = if fb.plan.is_https() {
        let tls = fb.plan.tls.as_ref();
        match tls_config(inner, tls.unwrap_or(&inner.options.defaults.tls)) {
            Ok(config) => inner
                .tcp
                .connect_tls(fb.plan.host(), fb.plan.port, timeout, &config),
            Err(e) => Future::failed(e),
        }
    } else {
        inner.tcp.connect(fb.plan.host(), fb.plan.port, timeout)
    };
    drop(fb);
    let inner = inner.clone();
    connecting.add_done_callback(move |c| on_connected(&inner, &f, c.take_result()));
}

/// The client configuration for `options`, built once per client.
fn tls_config(inner: &Inner, options: &ClientTlsOptions) -> Result<TlsConfig> {
    let mut configs = inner.tls_configs.borrow_mut();
    if let Some((_, c)) = configs.iter().find(|(o, _)| o == options) {
        return Ok(c.clone());
    }
    let config = TlsConfig::client(options)?;
    configs.push((options.clone(), config.clone()));
    Ok(config)
}

fn on_connected(inner: &Rc<Inner>, f: &FetchRef, r: Option<Result<IoStream>>) {
    let r = r.unwrap_or(Err(Error::Cancelled));
    let mut fb = f.borrow_mut();
    if !matches!(fb.phase, Phase::Connecting) {
        if let Ok(s) = r {
            s.close(); // the fetch timed out meanwhile
        }
        return;
    }
    let stream = match r {
        Ok(s) => s,
        Err(e) => {
            fb.phase = Phase::Done;
            drop(fb);
            release(inner, f, None);
            let e = match e {
                Error::Timeout => Error::HttpTimeout {
                    stage: TimeoutStage::Connecting,
                },
                e => e,
            };
            fail(inner, f, e);
            dispatch(inner);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let id = {
        let mut st = inner.state.borrow_mut();
        st.next_conn_id += 1;
        st.next_conn_id
    };
    // Bookkeeping for when the connection dies while idle in the pool.
    let (weak, key) = (Rc::downgrade(inner), fb.plan.pool_key().to_owned());
    stream.set_close_callback(move |_| {
        if let Some(inner) = weak.upgrade() {
            let freed = inner.state.borrow_mut().pool.closed(&key, id);
            if freed && inner.options.max_connections_per_host.is_some() {
                dispatch(&inner);
            }
        }
    });
    fb.connected = Some(inner.handle.now());
    fb.phase = Phase::Exchanging {
        conn: Conn {
            stream,
            id,
            link: Link::new(&inner.handle),
        },
        reused: false,
    };
    drop(fb);
    exchange(inner, f);
}

/// Writes the request and reads the response on the fetch's connection.
fn exchange(inner: &Rc<Inner>, f: &FetchRef) {
    let mut guard = f.borrow_mut();
    let fb = &mut *guard;
    let Phase::Exchanging { conn, .. } = &fb.phase else {
        return;
    };
    let (stream, current) = (conn.stream.clone(), conn.link.current.clone());
    let (reader, timer) = (conn.link.reader.clone(), conn.link.timer.clone());
    let mut out = out_buffer();
    let encoded = fb.plan.encode(&mut out);
    let head = out.split().freeze();
    return_out_buffer(out);
    let rest = match encoded {
        Ok(rest) => rest,
        Err(e) => {
            let conn = take_conn(&mut fb.phase);
            let (inner, f) = (inner.clone(), f.clone());
            // Outside the borrow of the fetch.
            inner.handle.clone().add_callback(move || {
                release(&inner, &f, conn);
                fail(&inner, &f, e);
                dispatch(&inner);
            });
            return;
        }
    };
    let (now, held) = match rest {
        Some(body) if !fb.plan.expect_continue => (Some(body), None),
        held => (None, held),
    };
    // Without a timer of its own (on a reused connection), the connection's bounds it.
    let deadline = match fb.timer {
        None => fb.hop_start.checked_add(fb.plan.request_timeout),
        Some(_) => None,
    };
    *current.borrow_mut() = Some(Exchange {
        inner: inner.clone(),
        fetch: f.clone(),
        reader: ResponseReader::new(&fb.plan, held),
        writer: fb.plan.expect_continue.then(|| stream.clone()),
        deadline,
    });
    if let Some(at) = deadline {
        arm_link_timer(inner, &current, &timer, at);
    }
    // The read may finish at once (a closed stream): the fetch is not borrowed then.
    drop(guard);
    stream.read_callback(reader);
    // Written after the read is pending: a server that answers early and stops reading
    // (a 413 during an upload) makes a write fail, and the stream then hands the read
    // what the server sent before closing.
    stream.write_and_forget(head);
    if let Some(body) = now {
        stream.write_and_forget(body);
    }
}

/// The connection's read callback: feeds the current exchange's reader and, once the
/// response is complete (or failed), ends the exchange. Returns `true` when done reading.
fn on_data(current: &RefCell<Option<Exchange>>, buf: &mut bytes::BytesMut, closed: bool) -> bool {
    let mut slot = current.borrow_mut();
    let Some(x) = slot.as_mut() else {
        return true;
    };
    if x.reader.first_byte.is_none() && !buf.is_empty() {
        x.reader.first_byte = Some(x.inner.handle.now());
    }
    let r = x.reader.feed(buf, closed);
    if let (Some(body), Some(s)) = (x.reader.send_now.take(), &x.writer) {
        let s = s.clone();
        x.inner.handle.add_callback(move || {
            s.write_and_forget(body);
        });
    }
    if !closed && matches!(r, Ok(None)) {
        return false;
    }
    // (The exchange is dropped where it is: moving the reader out costs a copy.)
    let (inner, fetch) = (x.inner.clone(), x.fetch.clone());
    *slot = None;
    drop(slot);
    on_response(&inner, &fetch, r);
    true
}

fn take_conn(phase: &mut Phase) -> Option<Conn> {
    match std::mem::replace(phase, Phase::Done) {
        Phase::Exchanging { conn, .. } => Some(conn),
        _ => None,
    }
}

/// The exchange ended: `Ok(Some(..))` a complete response, `Ok(None)` the connection
/// closed first.
fn on_response(inner: &Rc<Inner>, f: &FetchRef, r: Result<Option<Parsed>>) {
    let (conn, reused) = {
        let mut fb = f.borrow_mut();
        match std::mem::replace(&mut fb.phase, Phase::Done) {
            Phase::Exchanging { conn, reused } => (conn, reused),
            other => {
                fb.phase = other; // timed out: already settled
                return;
            }
        }
    };
    match r {
        Ok(Some(parsed)) => {
            let reusable = parsed.reusable
                && inner.options.keep_alive
                && !conn.stream.is_closed()
                && conn.stream.write_buffer_len() == 0;
            if reusable {
                let mut st = inner.state.borrow_mut();
                st.active -= 1;
                let fb = f.borrow();
                let (key, max) = (fb.plan.pool_key(), inner.options.max_idle_per_host);
                st.pool
                    .checkin(key, conn, max, inner.handle.now(), inner.handle.iteration());
                drop((st, fb));
                arm_sweep(inner);
            } else {
                release(inner, f, Some(conn));
            }
            complete(inner, f, parsed);
        }
        r => {
            let e = r.err().unwrap_or(Error::StreamClosed);
            let e = match (&e, conn.stream.error()) {
                (Error::StreamClosed, Some(io)) => io,
                _ => e,
            };
            release(inner, f, Some(conn));
            let retry = {
                let fb = f.borrow();
                reused && !fb.retried && idempotent(&fb.plan.method) && stale(&e)
            };
            if retry {
                let mut fb = f.borrow_mut();
                fb.retried = true;
                fb.phase = Phase::Queued;
                // The connection's timer bounded it: its own does until it starts again.
                if fb.timer.is_none() {
                    let deadline = fb.hop_start.checked_add(fb.plan.request_timeout);
                    arm_timer(inner, f, &mut fb, deadline);
                }
                drop(fb);
                inner.state.borrow_mut().queue.push_front(f.clone());
            } else {
                fail(inner, f, e);
            }
        }
    }
    dispatch(inner);
}

/// A reused connection that failed before any response byte: the server closed it
/// while it was idle. The request is sent again once on a new connection.
fn stale(e: &Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(e, Error::StreamClosed)
        || matches!(
            e.io_kind(),
            Some(BrokenPipe | ConnectionReset | ConnectionAborted)
        )
}

fn idempotent(m: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
    ]
    .contains(m)
}

/// Frees the fetch's slot and its connection (closed).
fn release(inner: &Rc<Inner>, f: &FetchRef, conn: Option<Conn>) {
    // The exchange ends first (dropped once its slot's borrow is released): closing the
    // stream runs its read callback at once, which then finds nothing to read for.
    let ended = conn
        .as_ref()
        .and_then(|c| c.link.current.try_borrow_mut().ok()?.take());
    drop(ended);
    let mut st = inner.state.borrow_mut();
    st.active -= 1;
    st.pool.discard(f.borrow().plan.pool_key(), conn);
}

fn cancel_timer(inner: &Inner, fb: &mut Fetch) {
    if let Some(t) = fb.timer.take() {
        inner.handle.cancel_timer(t);
    }
}

fn fail(inner: &Rc<Inner>, f: &FetchRef, e: Error) {
    let mut fb = f.borrow_mut();
    fb.phase = Phase::Done;
    cancel_timer(inner, &mut fb);
    let result = fb.result.clone();
    drop(fb);
    if !result.is_done() {
        result.set_error(e);
    }
}

/// A complete response: follow a redirect or resolve the fetch.
fn complete(inner: &Rc<Inner>, f: &FetchRef, parsed: Parsed) {
    let mut fb = f.borrow_mut();
    cancel_timer(inner, &mut fb);
    let redirect =
        fb.plan.follows(parsed.status) && parsed.headers.contains_key(http::header::LOCATION);
    if redirect && fb.plan.redirects_left > 0 {
        let location = parsed.headers.get(http::header::LOCATION);
        if let Err(e) = fb.plan.redirect(parsed.status, location) {
            let result = fb.result.clone();
            drop(fb);
            result.set_error(e);
            return;
        }
        // Same fetch, next hop: fresh timings, full request_timeout again (as Tornado).
        fb.hop_start = inner.handle.now();
        fb.dispatched = None;
        fb.connected = None;
        fb.retried = false;
        fb.phase = Phase::Queued;
        drop(fb);
        queue_hop(inner, f.clone());
        return;
    }
    let now = inner.handle.now();
    let since = |t: Option<Instant>, from: Instant| {
        t.map_or(Duration::ZERO, |t| t.saturating_duration_since(from))
    };
    let dispatched = fb.dispatched.unwrap_or(fb.hop_start);
    let time_info = TimeInfo {
        queue: dispatched.saturating_duration_since(fb.hop_start),
        connect: since(fb.connected, dispatched),
        first_byte: since(parsed.first_byte, fb.hop_start),
        total: now.saturating_duration_since(fb.hop_start),
    };
    let response = HttpResponse {
        status: parsed.status,
        reason: parsed.reason,
        version: parsed.version,
        headers: parsed.headers,
        trailers: parsed.trailers,
        body: parsed.body,
        effective_url: fb.plan.take_url(),
        request_time: now.saturating_duration_since(fb.started),
        time_info,
    };
    let result = fb.result.clone();
    let max_redirects = fb.plan.max_redirects;
    drop(fb);
    if redirect {
        // Out of redirects: the last 3xx stays reachable inside the error.
        let message = format!("too many redirects (max_redirects = {max_redirects})");
        result.set_error(response.into_error(message));
    } else {
        result.set_result(response);
    }
}

fn on_timeout(inner: &Rc<Inner>, f: &FetchRef) {
    f.borrow_mut().timer = None;
    let Some(stage) = abandon(inner, f) else {
        return;
    };
    fail(inner, f, Error::HttpTimeout { stage });
    dispatch(inner);
}

/// The fetch's future was cancelled: leave the queue or close the connection, free the
/// slot, let the next fetch start.
fn on_cancel(inner: &Rc<Inner>, f: &FetchRef) {
    if abandon(inner, f).is_some() {
        let mut fb = f.borrow_mut();
        fb.phase = Phase::Done;
        cancel_timer(inner, &mut fb);
        drop(fb);
        dispatch(inner);
    }
}

/// Stops a fetch wherever it is (queue, connect, exchange), freeing its slot and
/// closing its connection; `None` if it was already done.
fn abandon(inner: &Rc<Inner>, f: &FetchRef) -> Option<TimeoutStage> {
    let phase = std::mem::replace(&mut f.borrow_mut().phase, Phase::Done);
    match phase {
        Phase::Done => None,
        Phase::Queued => {
            inner.state.borrow_mut().queue.retain(|q| !Rc::ptr_eq(q, f));
            Some(TimeoutStage::Queue)
        }
        Phase::Connecting => {
            release(inner, f, None);
            Some(TimeoutStage::Connecting)
        }
        Phase::Exchanging { conn, .. } => {
            release(inner, f, Some(conn));
            Some(TimeoutStage::Request)
        }
    }
}

/// Keeps one timer that closes connections idle for `idle_timeout`.
fn arm_sweep(inner: &Rc<Inner>) {
    let mut st = inner.state.borrow_mut();
    if st.sweep.is_some() {
        return;
    }
    let weak: Weak<Inner> = Rc::downgrade(inner);
    let delay = inner.options.idle_timeout;
    st.sweep = Some(inner.handle.call_later(delay, move || sweep(&weak)));
}

fn sweep(weak: &Weak<Inner>) {
    let Some(inner) = weak.upgrade() else { return };
    let mut st = inner.state.borrow_mut();
    st.sweep = None;
    if let Some(next) = st
        .pool
        .expire(inner.options.idle_timeout, inner.handle.now())
    {
        let w = weak.clone();
        st.sweep = Some(inner.handle.call_at(next, move || sweep(&w)));
    }
}
