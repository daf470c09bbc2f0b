//! One HTTP/1.1 connection: the server's driver of the sans-IO h1 [`Connection`] core
//! (heads, framing, body pipeline, keep-alive). It feeds the core from an [`IoStream`],
//! dispatches requests one at a time, and holds what is the server's: timeouts, the body
//! delegate and `100 Continue`, panics, graceful shutdown (Tornado's
//! `HTTP1ServerConnection`).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};

use super::link::ResponseLink;
use super::request::{apply_xheaders, Request};
use super::responder::Responder;
use super::{BodyDelegate, Shared};
use crate::error::Error;
use crate::http::h1::{
    consume_gzip_encoding, write_server_response_head, Connection, Event, Framing, ParseErrorKind,
    RequestHead, Server as H1Server, ServerFields, CONTINUE_100,
};
use crate::reactor::TimerId;
use crate::stream::{CustomRead, IoStream};
use crate::telemetry::hooks as metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    Idle,
    Header,
    Body,
}

/// The current request's body delegate (made by the factory from its head) and the
/// pieces taken from the core for it, not delivered yet (the list's room is kept from
/// piece to piece).
struct Delegated {
    delegate: Box<dyn BodyDelegate>,
    pending: Vec<Bytes>,
}

struct State {
    /// The sans-IO read side: heads, framing, body pipeline, keep-alive.
    core: Connection<H1Server>,
    /// A body delegate for the body being read, if the factory made one.
    delegated: Option<Box<Delegated>>,
    timer: Option<TimerId>,
    timer_at: Duration,
    deadline: Option<(Duration, Timeout)>,
    /// The current responder's `on_connection_close` callback: taken and run (from the
    /// loop) if the connection closes, dropped when the response finishes.
    on_close: Option<Box<dyn FnOnce()>>,
    /// A request was dispatched and its response is not finished yet.
    responding: bool,
}

pub(crate) struct Conn {
    pub(crate) stream: IoStream,
    shared: Weak<Shared>,
    /// This connection's key in the server's slab.
    key: usize,
    peer: SocketAddr,
    st: RefCell<State>,
    /// The parser callback handed to the stream for every request.
    reader: RefCell<Option<CustomRead>>,
}

/// Queued response bytes beyond which the next pipelined request waits until the
/// client has read what is queued.
const WRITE_HIGH_WATER: usize = 64 * 1024;

impl Conn {
    pub(crate) fn start(shared: &Rc<Shared>, stream: IoStream, peer: SocketAddr) {
        let conn = {
            let mut conns = shared.conns.borrow_mut();
            let entry = conns.vacant_entry();
            let conn = Rc::new(Conn {
                stream,
                shared: Rc::downgrade(shared),
                key: entry.key(),
                peer,
                reader: RefCell::new(None),
                st: RefCell::new(State {
                    core: Connection::new(H1Server, &shared.limits),
                    delegated: None,
                    timer: None,
                    timer_at: Duration::ZERO,
                    deadline: None,
                    on_close: None,
                    responding: false,
                }),
            });
            entry.insert(conn.clone());
            conn
        };
        let weak = Rc::downgrade(&conn);
        conn.stream.set_close_callback(move |_| {
            if let Some(conn) = weak.upgrade() {
                Conn::on_closed(&conn);
            }
        });
        // End-of-file does not close the stream: the requests that came before it are
        // answered first (the parser sees `closed = true`), and `on_eof` decides about a
        // response still owed.
        let weak = Rc::downgrade(&conn);
        conn.stream.set_eof_callback(move || {
            if let Some(conn) = weak.upgrade() {
                Conn::on_eof(&conn);
            }
        });
        {
            // A connection that has not sent a byte yet is bounded by both timeouts,
            // whichever ends first: `header_timeout` (a client is not kept for a long idle
            // timeout) and `idle_connection_timeout` (Tornado's header timeout for the
            // first request). Once bytes of a head arrive, `header_timeout` alone applies.
            let mut st = conn.st.borrow_mut();
            let o = &shared.options;
            let first = match (o.idle_connection_timeout, o.header_timeout) {
                (Some(idle), Some(header)) if idle < header => Timeout::Idle,
                (Some(_), None) => Timeout::Idle,
                _ => Timeout::Header,
            };
            Conn::set_deadline(&conn, &mut st, first);
        }
        Conn::read_next(&conn);
    }

    /// The stream closed (run from the loop by its close callback): cancel the timer,
    /// forget the connection, and tell a waiting responder.
    fn on_closed(this: &Rc<Conn>) {
        this.cancel_timer();
        let on_close = this.st.borrow_mut().on_close.take();
        if let Some(shared) = this.shared.upgrade() {
            shared.remove_conn(this.key);
        }
        if let Some(f) = on_close {
            f();
        }
    }

    /// The client shut down its writing side, or left (the same FIN). A request being
    /// read was handled by the parser; here, a response still owed is the question.
    /// Without `half_close` the client is taken as gone: close, which tells a parked
    /// responder. With it, the response goes out and the connection closes after it.
    fn on_eof(this: &Rc<Conn>) {
        let Some(shared) = this.shared.upgrade() else {
            return;
        };
        let owed = this.st.borrow().responding;
        if owed && !shared.options.half_close {
            this.stream.close();
        }
    }

    /// End-of-file with no request left to answer: close once the responses already
    /// queued went out. A client that does not read them is cut off after
    /// `idle_connection_timeout` without progress.
    fn finish_after_eof(this: &Rc<Conn>) {
        this.cancel_timer();
        this.st.borrow_mut().core.pause();
        // Nothing left to write (the usual case): the stream closes without a timer.
        if this.stream.writes_pending()
            && let Some(shared) = this.shared.upgrade()
        {
            this.stream
                .set_idle_timeout(shared.options.idle_connection_timeout);
        }
        this.stream.close_after_writes();
    }

    /// Cancels the connection's timer, if armed.
    fn cancel_timer(&self) {
        if let Some(shared) = self.shared.upgrade() {
            self.cancel_timer_on(&shared.handle);
        }
    }

    /// Cancels the connection's timer on `handle` (the server's, also while it drops).
    pub(crate) fn cancel_timer_on(&self, handle: &crate::reactor::Handle) {
        if let Ok(mut st) = self.st.try_borrow_mut() {
            st.deadline = None;
            if let Some(t) = st.timer.take() {
                handle.cancel_timer(t);
            }
        }
    }

    /// Reads the next request, with the connection's one parser callback (made on the
    /// first request, shared after that: no allocation per request).
    fn read_next(this: &Rc<Conn>) {
        let reader = this
            .reader
            .borrow_mut()
            .get_or_insert_with(|| {
                let weak = Rc::downgrade(this);
                Rc::new(move |buf: &mut BytesMut, closed| match weak.upgrade() {
                    Some(conn) => metrics::http_read(conn.counted(), buf, |buf| {
                        Conn::on_data(&conn, buf, closed)
                    }),
                    None => true,
                })
            })
            .clone();
        this.stream.read_callback(reader);
    }

    /// Whether the server counts this connection in its metrics.
    fn counted(&self) -> bool {
        self.shared.upgrade().is_some_and(|s| s.options.metrics)
    }

    /// Graceful shutdown is under way (or the server is gone): no more keep-alive.
    fn closing(&self) -> bool {
        self.shared.upgrade().is_none_or(|s| s.closing.get())
    }

    /// Whether the connection sits between requests (nothing buffered, no handler).
    pub(crate) fn is_idle(&self) -> bool {
        self.st.borrow().core.is_reading_head() && self.stream.buffered() == 0
    }

    /// Graceful shutdown (the server's `closing` flag is set): close now if idle, else
    /// after the current response.
    pub(crate) fn shut_down(this: &Rc<Conn>) {
        if this.is_idle() {
            this.stream.close();
        }
    }

    fn on_data(this: &Rc<Conn>, buf: &mut BytesMut, closed: bool) -> bool {
        let Some(shared) = this.shared.upgrade() else {
            this.stream.close();
            return true;
        };
        loop {
            let event = this.st.borrow_mut().core.poll(&shared.limits, buf, closed);
            match event {
                Ok(Event::Message(m)) => {
                    // A complete request: the last pieces (a gunzip stage's tail) go to
                    // the body delegate, then the request to the handler (or the
                    // delegate's `finish`).
                    let delegated = {
                        let mut st = this.st.borrow_mut();
                        st.deadline = None;
                        st.delegated.is_some()
                    };
                    let delegate = if delegated {
                        if !this.deliver(&shared, m.tail) {
                            return true;
                        }
                        this.st.borrow_mut().delegated.take().map(|d| d.delegate)
                    } else {
                        None
                    };
                    let req = this.build_request(&shared, m.head, m.body, m.trailers);
                    Conn::dispatch(this, &shared, req, m.keep_alive, delegate);
                    return true;
                }
                Ok(Event::NeedMore) => {
                    let mut st = this.st.borrow_mut();
                    // Bytes of a head arrived: `header_timeout` bounds the rest of it.
                    if st.core.is_reading_head()
                        && !buf.is_empty()
                        && !matches!(st.deadline, Some((_, Timeout::Header)))
                    {
                        Conn::set_deadline(this, &mut st, Timeout::Header);
                    }
                    return false;
                }
                Ok(Event::Head) => {
                    if !Conn::start_body(this, &shared) {
                        return true;
                    }
                }
                Ok(Event::Data) => {
                    if !this.deliver(&shared, Vec::new()) {
                        return true;
                    }
                }
                Ok(Event::Paused | Event::Closed | Event::Interim(_)) => {
                    if closed {
                        // End-of-file: nothing (complete) is left to answer.
                        Conn::finish_after_eof(this);
                    }
                    return true;
                }
                Err(e) => {
                    this.fail(&e);
                    return true;
                }
            }
        }
    }

    /// A head with a body arrived: the gunzip stage, the body delegate (made by the
    /// factory from the head), `100 Continue`, the body timeout. False if the factory
    /// panicked (the connection is then answered with 500 and closed).
    fn start_body(this: &Rc<Conn>, shared: &Rc<Shared>) -> bool {
        let (gunzip, head, expect_continue) = {
            let mut st = this.st.borrow_mut();
            let Some(head) = st.core.head_mut() else {
                return true;
            };
            // The gunzip stage rewrites the headers before anyone sees them.
            let gunzip =
                shared.options.decompress_request && consume_gzip_encoding(&mut head.headers);
            let copy = shared
                .delegate_factory
                .borrow()
                .is_some()
                .then(|| head.clone());
            (gunzip, copy, head.expect_continue)
        };
        let mut delegate = None;
        if let Some(head) = head
            && let Some(factory) = shared.delegate_factory.borrow_mut().as_mut()
        {
            let req = this.build_request(shared, head, Bytes::new(), None);
            match catch_unwind(AssertUnwindSafe(|| factory(&req))) {
                Ok(d) => delegate = d,
                Err(payload) => {
                    this.fail(&Error::http(500, "body delegate factory panicked"));
                    shared.report_panic(payload);
                    return false;
                }
            }
        }
        if expect_continue {
            this.stream
                .write_and_forget(Bytes::from_static(CONTINUE_100));
        }
        let mut st = this.st.borrow_mut();
        st.core.start_body(delegate.is_some(), gunzip);
        st.delegated = delegate.map(|delegate| {
            Box::new(Delegated {
                delegate,
                pending: Vec::new(),
            })
        });
        Conn::set_deadline(this, &mut st, Timeout::Body);
        true
    }

    /// Hands `more` and the pieces the core has ready to the body delegate (none go
    /// anywhere without one: the body is then buffered by the core); false if it
    /// panicked (the connection is then answered with 500 and closed).
    fn deliver(&self, shared: &Shared, mut more: Vec<Bytes>) -> bool {
        let mut d = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            let Some(mut d) = st.delegated.take() else {
                return true;
            };
            d.pending.append(&mut more);
            st.core.take_data(&mut d.pending);
            d
        };
        for data in d.pending.drain(..) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| d.delegate.data_received(data)))
            {
                self.fail(&Error::http(500, "body delegate panicked"));
                shared.report_panic(payload);
                return false;
            }
        }
        self.st.borrow_mut().delegated = Some(d);
        true
    }

    #[inline(always)]
    fn build_request(
        &self,
        shared: &Shared,
        head: RequestHead,
        body: Bytes,
        trailers: Option<Box<HeaderMap>>,
    ) -> Request {
        let mut req = Request {
            method: head.method,
            uri: head.uri,
            version: head.version,
            headers: head.headers,
            body,
            trailers,
            remote_addr: self.peer,
            remote_ip: self.peer.ip(),
            protocol: if self.stream.is_tls() {
                "https"
            } else {
                "http"
            },
        };
        if shared.options.xheaders {
            apply_xheaders(&mut req);
        }
        req
    }

    #[inline(always)]
    fn dispatch(
        this: &Rc<Conn>,
        shared: &Rc<Shared>,
        req: Request,
        keep_alive: bool,
        delegate: Option<Box<dyn BodyDelegate>>,
    ) {
        let keep_alive = keep_alive && !shared.options.no_keep_alive && !this.closing();
        this.st.borrow_mut().responding = true;
        let responder = Responder::new(
            this.clone() as Rc<dyn ResponseLink>,
            req.version,
            keep_alive,
            &req.method,
            shared.options.metrics,
        );
        Shared::call_handler(shared, req, responder, delegate);
    }

    /// Called by the [`Responder`] when the response is complete.
    fn response_done(this: &Rc<Conn>, keep_alive: bool) {
        // The response is complete: its close callback will not be needed.
        let on_close = {
            let mut st = this.st.borrow_mut();
            st.responding = false;
            st.on_close.take()
        };
        drop(on_close);
        let mut st = this.st.borrow_mut();
        if !keep_alive || this.closing() {
            st.core.pause();
            drop(st);
            this.stream.close_after_writes();
            return;
        }
        if this.stream.write_buffer_len() > WRITE_HIGH_WATER {
            // The client is not reading its responses (yet): read no further request
            // until they drained, so a pipelining client that never reads cannot pile
            // responses up in memory.
            st.deadline = None;
            drop(st);
            Conn::wait_for_drain(this);
            return;
        }
        st.core.resume();
        Conn::set_deadline(this, &mut st, Timeout::Idle);
        drop(st);
        if this.stream.buffered() == 0 {
            // Nothing to parse now (or we are inside the stream's read callback, which
            // parses what is buffered once it returns): no user code runs in here.
            Conn::read_next(this);
        } else {
            // A pipelined request is buffered: its handler must not run inside the
            // caller's `send`/`finish`. Dispatch it from the loop.
            Conn::read_next_later(this);
        }
    }

    /// Reads the next request once every queued byte reached the kernel. A client that
    /// makes no progress draining them for `idle_connection_timeout` is disconnected.
    fn wait_for_drain(this: &Rc<Conn>) {
        let Some(shared) = this.shared.upgrade() else {
            return;
        };
        this.stream
            .set_idle_timeout(shared.options.idle_connection_timeout);
        let weak = Rc::downgrade(this);
        // An empty write resolves once everything queued before it was written.
        this.stream.write(Bytes::new()).add_done_callback(move |f| {
            let Some(conn) = weak.upgrade() else {
                return;
            };
            if !matches!(f.result(), Some(Ok(()))) {
                return;
            }
            conn.stream.set_idle_timeout(None);
            if conn.closing() {
                conn.stream.close_after_writes();
                return;
            }
            {
                let mut st = conn.st.borrow_mut();
                st.core.resume();
                Conn::set_deadline(&conn, &mut st, Timeout::Idle);
            }
            // A done-callback runs from the loop: no user call is on the stack.
            Conn::read_next(&conn);
        });
    }

    fn read_next_later(this: &Rc<Conn>) {
        let Some(shared) = this.shared.upgrade() else {
            return;
        };
        let weak = Rc::downgrade(this);
        shared.handle.add_callback(move || {
            if let Some(conn) = weak.upgrade() {
                Conn::read_next(&conn);
            }
        });
    }

    /// Answers a malformed or over-limit request and closes the connection.
    fn fail(&self, e: &Error) {
        log::debug!("bad request from {}: {e}", self.peer);
        self.st.borrow_mut().core.pause();
        self.send_error(status_for(e));
    }

    fn send_error(&self, status: StatusCode) {
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = format!("{} {reason}\n", status.as_u16());
        let mut out = BytesMut::new();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let framing = Framing::Length(body.len() as u64);
        let fields = ServerFields::new(false, None);
        write_server_response_head(
            &mut out,
            Version::HTTP_11,
            status,
            &headers,
            framing,
            fields,
        );
        out.extend_from_slice(body.as_bytes());
        self.stream.write_and_forget(out.freeze());
        self.stream.close_after_writes();
    }

    /// Sets the deadline for the current phase. The one timer is re-armed only when the
    /// new deadline is earlier than the armed one; otherwise it re-checks when it fires
    /// (so keep-alive requests cost no timer operations).
    fn set_deadline(this: &Rc<Conn>, st: &mut State, kind: Timeout) {
        let Some(shared) = this.shared.upgrade() else {
            return;
        };
        let o = &shared.options;
        let after = match kind {
            Timeout::Idle => o.idle_connection_timeout,
            Timeout::Header => o.header_timeout,
            Timeout::Body => o.body_timeout,
        };
        let Some(after) = after else {
            st.deadline = None;
            return;
        };
        let at = shared.handle.coarse_now().saturating_add(after); // Duration::MAX: never
        st.deadline = Some((at, kind));
        if st.timer.is_some() && st.timer_at <= at {
            return;
        }
        if let Some(t) = st.timer.take() {
            shared.handle.cancel_timer(t);
        }
        Conn::arm(this, &shared, st, at);
    }

    fn arm(this: &Rc<Conn>, shared: &Shared, st: &mut State, at: Duration) {
        let weak = Rc::downgrade(this);
        let delay = at.saturating_sub(shared.handle.coarse_now());
        st.timer_at = at;
        st.timer = Some(shared.handle.call_later(delay, move || {
            if let Some(conn) = weak.upgrade() {
                Conn::on_timer(&conn);
            }
        }));
    }

    fn on_timer(this: &Rc<Conn>) {
        let Some(shared) = this.shared.upgrade() else {
            return;
        };
        let mut st = this.st.borrow_mut();
        st.timer = None;
        let Some((at, kind)) = st.deadline else {
            return;
        };
        if shared.handle.coarse_now() < at {
            Conn::arm(this, &shared, &mut st, at);
            return;
        }
        st.deadline = None;
        let partial = !st.core.is_reading_head() || this.stream.buffered() > 0;
        st.core.pause();
        drop(st);
        if !partial {
            // Nothing of a request arrived: close quietly (no 408 to a client that may
            // have only opened a connection in advance).
            this.stream.close();
        } else {
            log::debug!("{kind:?} timeout for {}", this.peer);
            this.send_error(StatusCode::REQUEST_TIMEOUT);
        }
    }
}

impl ResponseLink for Conn {
    fn stream(&self) -> &IoStream {
        &self.stream
    }

    fn closing(&self) -> bool {
        Conn::closing(self)
    }

    fn server_header(&self) -> Option<Rc<str>> {
        self.shared.upgrade()?.options.server_header.clone()
    }

    fn max_write_buffer_size(&self) -> Option<usize> {
        self.shared.upgrade()?.options.max_write_buffer_size
    }

    fn set_on_close(self: Rc<Self>, f: Box<dyn FnOnce()>) {
        self.st.borrow_mut().on_close = Some(f);
        if self.stream.is_closed() {
            // Closed already: its close callback may have run. Run `f` from the loop,
            // unless the response finishes first.
            if let Some(shared) = self.shared.upgrade() {
                let weak = Rc::downgrade(&self);
                shared.handle.add_callback(move || {
                    let f = weak
                        .upgrade()
                        .and_then(|c| c.st.borrow_mut().on_close.take());
                    if let Some(f) = f {
                        f();
                    }
                });
            }
        }
    }

    fn detach(self: Rc<Self>) -> IoStream {
        self.cancel_timer();
        let on_close = {
            let mut st = self.st.borrow_mut();
            st.core.pause();
            st.responding = false;
            st.on_close.take()
        };
        drop(on_close);
        // Replaces the server's close callback (the stream keeps one slot), and gives
        // end-of-file its default meaning again (it closes the stream).
        self.stream.set_close_callback(|_| {});
        self.stream.clear_eof_callback();
        self.stream.set_idle_timeout(None);
        if let Some(shared) = self.shared.upgrade() {
            shared.remove_conn(self.key);
        }
        self.stream.clone()
    }

    fn response_done(self: Rc<Self>, keep_alive: bool) {
        Conn::response_done(&self, keep_alive);
    }
}

/// The status the server answers a request with that failed with `e`: the one place
/// where parse-error kinds become statuses.
fn status_for(e: &Error) -> StatusCode {
    match e {
        Error::HttpParse { kind, .. } => match kind {
            ParseErrorKind::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ParseErrorKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ParseErrorKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ParseErrorKind::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            ParseErrorKind::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            _ => StatusCode::BAD_REQUEST,
        },
        Error::Http { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
        }
        _ => StatusCode::BAD_REQUEST,
    }
}
