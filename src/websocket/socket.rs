//! [`WebSocket`]: the connection layer over an upgraded [`IoStream`] (Tornado's
//! `WebSocketHandler` / `WebSocketClientConnection` protocol core, shared by both roles).
//!
//! Reading is demand-driven: one message is decoded, handed to the user from the loop,
//! and the next is read only once the user is done with it (the future `on_message`
//! returned resolved, or `read_message` took it). A slow consumer therefore holds the
//! peer back through TCP instead of queueing messages. Control frames are handled while
//! reading: pings answered (see [`backpressure`] for the write side's limits), close
//! frames answered and the connection closed.

mod backpressure;
mod outgoing;
#[cfg(test)]
mod write_tests;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::close::{self, is_valid_code, write_close_payload};
use super::deflate::{Compressor, DeflateParams, Inflater};
use super::frame::{encode, Decoder, Encoded, Incoming, Opcode, ProtocolError, Role};
use super::handshake::mask_key;
use super::message::Message;
use super::options::WebSocketOptions;
use super::text::Text;
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Handle, TimerId};
use crate::stream::{CustomRead, IoStream};

/// What an [`on_message`](WebSocket::on_message) callback returns: `()` to take the next
/// message at once, or a [`Future<()>`] to hold the next message back until it resolves
/// (Tornado awaits what `on_message` returns). Returning the future of a
/// [`send`](WebSocket::send) makes an echo wait until its reply was written.
pub trait Flow {
    /// The future to wait for, if any.
    fn into_wait(self) -> Option<Future<()>>;
}

impl Flow for () {
    fn into_wait(self) -> Option<Future<()>> {
        None
    }
}

impl Flow for Future<()> {
    fn into_wait(self) -> Option<Future<()>> {
        Some(self)
    }
}

impl Flow for Option<Future<()>> {
    fn into_wait(self) -> Option<Future<()>> {
        self
    }
}

type OnMessage = Box<dyn FnMut(&WebSocket, Message) -> Option<Future<()>>>;
type OnControl = Box<dyn FnMut(&WebSocket, Bytes)>;
type OnClose = Box<dyn FnOnce(u16, String)>;

impl Callbacks {
    fn has_control(&self, ping: bool) -> bool {
        self.control
            .as_ref()
            .is_some_and(|c| c[usize::from(!ping)].is_some())
    }

    fn control(&mut self, ping: bool) -> &mut Option<OnControl> {
        &mut self.control.get_or_insert_with(Default::default)[usize::from(!ping)]
    }
}

#[derive(Default)]
struct Callbacks {
    on_message: Option<OnMessage>,
    /// `on_ping` and `on_pong` (boxed: rarely set).
    control: Option<Box<[Option<OnControl>; 2]>>,
    on_close: Option<OnClose>,
}

/// Per-connection settings taken from [`WebSocketOptions`].
struct Config {
    /// Client or server (here, where it fills padding, not in `Inner`).
    role: Role,
    /// `usize::MAX`: unbounded.
    max_write_buffer_size: usize,
    /// Milliseconds (`u32`, not `Duration`: 12 bytes instead of 48 per connection).
    close_timeout_ms: u32,
    /// 0: no keep-alive pings.
    ping_interval_ms: u32,
    /// 0: no pong deadline.
    ping_timeout_ms: u32,
    /// 0: an incomplete message may stall forever.
    message_timeout_ms: u32,
    /// 0: reading may wait for the writes to drain indefinitely.
    write_timeout_ms: u32,
}

/// Most bytes one connection inflates per turn of the loop (about 0.1 ms of work); then
/// the rest of its message waits for the next turn and other connections run.
const INFLATE_STEP: usize = 256 * 1024;

fn millis(d: Duration) -> u32 {
    d.as_millis().clamp(1, u128::from(u32::MAX)) as u32
}

fn ms(n: u32) -> Option<Duration> {
    (n > 0).then(|| Duration::from_millis(u64::from(n)))
}

struct State {
    decoder: Decoder,
    /// The compressor, and the messages being compressed in steps (boxed: only with
    /// permessage-deflate).
    compression: Option<Box<outgoing::Compression>>,
    /// A read is registered with the stream.
    reading: bool,
    /// A delivered message is not done with yet: reading waits.
    held: bool,
    /// Inflating a message paused for this turn; a callback goes on (reading waits).
    inflating: bool,
    /// Our writes do not drain (a pong waits behind them, or they fill the write
    /// limit): reading waits for them.
    paused: bool,
    /// Pull style: the one message read ahead, waiting for `read_message`.
    /// `read_message` and `closed()` state (boxed: most connections use callbacks).
    pull: Option<Box<Pull>>,
    close_sent: bool,
    /// Set once: the close code and reason reported.
    result: Option<Box<(u16, String)>>,
    /// The peer's close frame arrived (the closing handshake completed).
    clean: bool,
    /// Timers most connections never arm (boxed: 8 bytes while idle).
    timers: Option<Box<Timers>>,
    /// The reactor owns a live connection through this timer (it never fires): the
    /// connection survives its handles being dropped, until its stream is closed (so a
    /// queued close frame still goes out), and is freed with the reactor.
    owner: Option<TimerId>,
}

#[derive(Default)]
struct Pull {
    /// The one message read ahead, waiting for `read_message`.
    queued: Option<Message>,
    waiter: Option<Future<Option<Message>>>,
    closed_waiters: Vec<Future<(u16, String)>>,
}

#[derive(Default)]
struct Timers {
    /// `close()` waits this long for the peer's close frame.
    close: Option<TimerId>,
    /// The next keep-alive ping.
    ping: Option<TimerId>,
    /// A ping's pong is due.
    pong: Option<TimerId>,
    /// After the close: drops a stream whose last writes do not drain.
    linger: Option<TimerId>,
    /// Checks that an incomplete message still makes progress.
    stall: Option<TimerId>,
    /// The decoder's progress count when last seen moving, and when that was.
    progress: u32,
    progress_at: Duration,
    /// Reading is paused for writes that do not drain: closes the connection if they
    /// still have not when it fires.
    write_stall: Option<TimerId>,
    /// The pong for the latest ping, waiting for the queued writes to drain.
    pong_due: Option<Bytes>,
    /// The payload of the keep-alive ping whose pong is due (random, so a peer that
    /// does not read cannot answer it blindly).
    keepalive: Option<[u8; 8]>,
    /// A ping sent with [`WebSocket::ping`] after it: a peer may answer only the latest
    /// ping (RFC 6455 §5.5.3), so its pong counts too.
    later_ping: Option<Bytes>,
}

impl State {
    fn t(&mut self) -> &mut Timers {
        self.timers.get_or_insert_with(Default::default)
    }

    fn p(&mut self) -> &mut Pull {
        self.pull.get_or_insert_with(Default::default)
    }

    fn take_queued(&mut self) -> Option<Message> {
        self.pull.as_mut().and_then(|p| p.queued.take())
    }
}

struct Inner {
    handle: Handle,
    stream: IoStream,
    /// The subprotocol and the extensions agreed (boxed: usually neither).
    names: Option<Box<[Option<Box<str>>; 2]>>,
    cfg: Config,
    st: RefCell<State>,
    cb: RefCell<Callbacks>,
    reader: RefCell<Option<CustomRead>>,
}

/// An open WebSocket connection, server or client side. Clone it freely (clones share
/// the connection). The connection lives until it is closed, whether or not handles are
/// kept; callbacks run from the loop, never inside a call you made.
///
/// Receive with callbacks ([`on_message`](Self::on_message), [`on_ping`](Self::on_ping),
/// [`on_pong`](Self::on_pong), [`on_close`](Self::on_close)) or in pull style with
/// [`read_message`](Self::read_message); send with [`send_text`](Self::send_text),
/// [`send_binary`](Self::send_binary), [`ping`](Self::ping), [`close`](Self::close).
#[derive(Clone)]
#[doc(alias = "WebSocketHandler")]
pub struct WebSocket {
    inner: Rc<Inner>,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("WebSocket")
            .field("role", &self.inner.cfg.role)
            .field("protocol", &self.subprotocol())
            .field("close_sent", &st.close_sent)
            .field("closed", &st.result)
            .finish()
    }
}

impl WebSocket {
    /// Wraps an upgraded stream (the handshake is done).
    pub(crate) fn start(
        handle: &Handle,
        stream: IoStream,
        role: Role,
        options: &WebSocketOptions,
        deflate: Option<DeflateParams>,
        protocol: Option<String>,
    ) -> WebSocket {
        crate::telemetry::hooks::websocket_connection(true);
        let mut decoder = Decoder::new(role, options.max_message_size);
        let compression = deflate.map(|p| {
            decoder.set_inflater(Inflater::new(&p, role));
            decoder.set_inflate_step(INFLATE_STEP);
            Box::new(outgoing::Compression::new(Compressor::new(
                &p,
                role,
                options.compression_level,
            )))
        });
        let inner = Rc::new(Inner {
            handle: handle.clone(),
            stream,
            names: (protocol.is_some() || deflate.is_some()).then(|| {
                Box::new([
                    protocol.map(Into::into),
                    deflate.map(|p| p.to_header().into()),
                ])
            }),
            cfg: Config {
                role,
                max_write_buffer_size: options.max_write_buffer_size.unwrap_or(usize::MAX),
                close_timeout_ms: millis(options.close_timeout),
                ping_interval_ms: options.ping_interval.map_or(0, millis),
                ping_timeout_ms: options
                    .ping_timeout
                    .or(options.ping_interval)
                    .map_or(0, millis),
                message_timeout_ms: options.message_timeout.map_or(0, millis),
                write_timeout_ms: options.write_timeout.map_or(0, millis),
            },
            st: RefCell::new(State {
                decoder,
                compression,
                reading: false,
                held: false,
                inflating: false,
                paused: false,
                pull: None,
                close_sent: false,
                result: None,
                clean: false,
                timers: None,
                owner: None,
            }),
            cb: RefCell::new(Callbacks::default()),
            reader: RefCell::new(None),
        });
        let owned = inner.clone();
        let owner = handle.call_later(Duration::MAX, move || drop(owned));
        inner.st.borrow_mut().owner = Some(owner);
        let weak = Rc::downgrade(&inner);
        inner.stream.set_close_callback(move |_| {
            if let Some(inner) = weak.upgrade() {
                Inner::finish(&inner, close::ABNORMAL, String::new());
                let timers = {
                    let mut st = inner.st.borrow_mut();
                    [st.owner.take(), st.t().linger.take()]
                };
                for t in timers.into_iter().flatten() {
                    inner.handle.cancel_timer(t);
                }
            }
        });
        let weak = Rc::downgrade(&inner);
        let reader: CustomRead = Rc::new(move |buf: &mut BytesMut, closed| match weak.upgrade() {
            Some(inner) => Inner::on_data(&inner, buf, closed),
            None => true,
        });
        *inner.reader.borrow_mut() = Some(reader);
        Inner::arm_ping(&inner);
        Inner::start_reading(&inner);
        WebSocket { inner }
    }

    /// Calls `f` with each message, from the loop. What `f` returns decides when the
    /// next message is read: see [`Flow`].
    ///
    /// ```no_run
    /// # fn f(ws: squall::websocket::WebSocket) {
    /// // An echo that reads the next message once the reply was written.
    /// ws.on_message(|ws, msg| ws.send(msg));
    /// # }
    /// ```
    pub fn on_message<R: Flow>(&self, mut f: impl FnMut(&WebSocket, Message) -> R + 'static) {
        self.inner.cb.borrow_mut().on_message = Some(Box::new(move |ws, m| f(ws, m).into_wait()));
        // A message read ahead for `read_message` goes to the callback now.
        let queued = self.inner.st.borrow_mut().take_queued();
        if let Some(m) = queued {
            let inner = self.inner.clone();
            self.inner
                .handle
                .add_callback(move || Inner::deliver(&inner, m));
        }
    }

    /// Calls `f` with each ping's payload (the pong is sent already).
    pub fn on_ping(&self, f: impl FnMut(&WebSocket, Bytes) + 'static) {
        *self.inner.cb.borrow_mut().control(true) = Some(Box::new(f));
    }

    /// Calls `f` with each pong's payload.
    pub fn on_pong(&self, f: impl FnMut(&WebSocket, Bytes) + 'static) {
        *self.inner.cb.borrow_mut().control(false) = Some(Box::new(f));
    }

    /// Calls `f` once when the connection is closed, with the close code and reason: the
    /// peer's close frame (1005 if it had no code), the code we failed the connection
    /// with (1002, 1007, 1009, 1011), or 1006 when it dropped without a close frame. If
    /// the connection is already closed, `f` runs on the next iteration.
    pub fn on_close(&self, f: impl FnOnce(u16, String) + 'static) {
        let done = self.inner.st.borrow().result.as_deref().cloned();
        match done {
            Some((code, reason)) => self.inner.handle.add_callback(move || f(code, reason)),
            None => self.inner.cb.borrow_mut().on_close = Some(Box::new(f)),
        }
    }

    /// A future resolved with the close code and reason once the connection is closed
    /// (see [`on_close`](Self::on_close)).
    pub fn closed(&self) -> Future<(u16, String)> {
        let mut st = self.inner.st.borrow_mut();
        match &st.result {
            Some(r) => Future::ready((**r).clone()),
            None => {
                let f = Future::new();
                st.p().closed_waiters.push(f.clone());
                f
            }
        }
    }

    /// Pull style (Tornado's `read_message`): the next message, or `None` once the
    /// connection is closed. One read may be pending at a time; not for use together
    /// with [`on_message`](Self::on_message).
    pub fn read_message(&self) -> Future<Option<Message>> {
        let inner = &self.inner;
        let mut st = inner.st.borrow_mut();
        if let Some(m) = st.take_queued() {
            st.held = false;
            drop(st);
            Inner::start_reading(inner);
            return Future::ready(Some(m));
        }
        if st.result.is_some() {
            return Future::ready(None);
        }
        if st.pull.as_ref().is_some_and(|p| p.waiter.is_some()) {
            return Future::failed(Error::invalid_state("a read_message is already pending"));
        }
        let f = Future::new();
        st.p().waiter = Some(f.clone());
        f
    }

    /// Sends a message; the future resolves when it reached the kernel.
    ///
    /// With compression, a message over 256 KiB is compressed 256 KiB per turn of the
    /// loop and sent as a fragmented message; messages sent meanwhile follow it, in
    /// order, and count against `max_write_buffer_size` while they wait.
    ///
    /// # Errors
    /// The future fails with [`Error::StreamClosed`] once a close frame was sent or the
    /// connection is gone, with [`Error::StreamBufferFull`] when the message would take
    /// the queued memory beyond `max_write_buffer_size`: the peer does not read what it
    /// is sent, so nothing is sent and the connection is closed with 1008 (logged once
    /// per connection). Both are reported through [`on_close`](Self::on_close) too, so
    /// dropping such a failed future logs nothing: a broadcast may ignore it.
    #[doc(alias = "write_message")]
    pub fn send(&self, message: impl Into<Message>) -> Future<()> {
        match message.into() {
            Message::Text(t) => self.send_frame(Opcode::Text, t.into_bytes()),
            Message::Binary(b) => self.send_frame(Opcode::Binary, b),
        }
    }

    /// Sends a text message (see [`send`](Self::send)).
    #[doc(alias = "write_message")]
    pub fn send_text(&self, text: impl Into<Text>) -> Future<()> {
        self.send_frame(Opcode::Text, text.into().into_bytes())
    }

    /// Sends a binary message (see [`send`](Self::send)).
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Future<()> {
        self.send_frame(Opcode::Binary, data.into())
    }

    fn send_frame(&self, opcode: Opcode, payload: Bytes) -> Future<()> {
        crate::telemetry::hooks::websocket_message(false);
        let inner = &self.inner;
        let (payload, rsv1) = {
            let mut st = inner.st.borrow_mut();
            if st.close_sent || st.result.is_some() {
                return Future::failed_quietly(Error::StreamClosed);
            }
            if Inner::sends_in_steps(&st, payload.len()) {
                drop(st);
                return Inner::send_in_steps(inner, opcode, payload);
            }
            match st.compression.as_deref_mut() {
                Some(c) => (c.compressor.compress(&payload), true),
                None => (payload, false),
            }
        };
        match inner.write_frame(opcode, rsv1, payload, true) {
            // A send that fails does so because the connection closed, which is
            // reported (on_close, and a log line for a peer cut): no warning per send.
            Ok(Some(f)) => f.quiet(),
            Ok(None) => Future::ready(()),
            Err(e) => {
                Inner::cut_slow_reader(inner);
                Future::failed_quietly(e)
            }
        }
    }

    /// Sends a ping with `data` (at most 125 bytes); the answer arrives at
    /// [`on_pong`](Self::on_pong).
    ///
    /// # Errors
    /// [`Error::InvalidState`] for more than 125 bytes, [`Error::StreamClosed`] once
    /// closing.
    pub fn ping(&self, data: impl Into<Bytes>) -> Result<()> {
        let data = data.into();
        if data.len() > 125 {
            return Err(Error::invalid_state("ping payload longer than 125 bytes"));
        }
        if self.inner.st.borrow().close_sent {
            return Err(Error::StreamClosed);
        }
        self.inner.note_ping(&data);
        self.inner
            .write_frame(Opcode::Ping, false, data, false)
            .map(drop)
    }

    /// Starts the closing handshake with `code` (1000 normal, 1001 going away, or
    /// 3000–4999 for applications) and `reason` (cut to 123 bytes): sends a close frame,
    /// waits up to `close_timeout` for the peer's, then drops the connection. Messages
    /// arriving meanwhile still reach [`on_message`](Self::on_message) (pull style
    /// discards them). Messages sent before it are sent before the close frame, a large
    /// compressed one still being sent in steps included. Idempotent.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a code that may not be sent.
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        if !is_valid_code(code) {
            return Err(Error::invalid_state("invalid close code"));
        }
        let inner = &self.inner;
        // Messages being sent in steps go out first, then the close frame.
        let deferred = {
            let mut st = inner.st.borrow_mut();
            if st.close_sent || st.result.is_some() {
                return Ok(());
            }
            let deferred = st.close_after_outgoing(code, reason);
            st.close_sent |= deferred;
            deferred
        };
        if !deferred && !inner.send_close(Some((code, reason))) {
            return Ok(());
        }
        let weak = Rc::downgrade(inner);
        let timeout = ms(inner.cfg.close_timeout_ms).unwrap_or_default();
        let timer = inner.handle.call_later(timeout, move || {
            if let Some(inner) = weak.upgrade() {
                inner.st.borrow_mut().t().close = None;
                inner.stream.close();
                Inner::finish(&inner, close::ABNORMAL, "close timeout".into());
            }
        });
        inner.st.borrow_mut().t().close = Some(timer);
        Inner::start_reading(inner);
        Ok(())
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.st.borrow().result.is_some()
    }

    /// The close code and reason, once closed.
    pub fn close_reason(&self) -> Option<(u16, String)> {
        self.inner.st.borrow().result.as_deref().cloned()
    }

    /// True when the closing handshake completed: the peer's close frame arrived
    /// (whoever started it), as opposed to a dropped connection or one we failed.
    pub fn is_clean_close(&self) -> bool {
        let st = self.inner.st.borrow();
        st.clean && st.result.is_some()
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.names.as_ref().and_then(|n| n[0].as_deref())
    }

    /// The negotiated `Sec-WebSocket-Extensions` value (permessage-deflate), if any.
    pub fn extensions(&self) -> Option<&str> {
        self.inner.names.as_ref().and_then(|n| n[1].as_deref())
    }

    /// The underlying stream (addresses, `TCP_NODELAY`).
    pub fn stream(&self) -> &IoStream {
        &self.inner.stream
    }
}

impl Inner {
    /// Frames and queues `payload` as a whole message or control frame. Returns the
    /// write's future when asked for one.
    fn write_frame(
        &self,
        opcode: Opcode,
        rsv1: bool,
        payload: Bytes,
        want_future: bool,
    ) -> Result<Option<Future<()>>> {
        self.write_piece(opcode, true, rsv1, payload, want_future)
    }

    /// Frames and queues one frame of a message (`fin`: its last). Returns the write's
    /// future when asked for one.
    ///
    /// # Errors
    /// [`Error::StreamBufferFull`] when it would take the queued memory beyond
    /// `max_write_buffer_size` (nothing is queued).
    fn write_piece(
        &self,
        opcode: Opcode,
        fin: bool,
        rsv1: bool,
        payload: Bytes,
        want_future: bool,
    ) -> Result<Option<Future<()>>> {
        let total = payload.len() + 14;
        // Counted as the stream counts it (real cost), a large payload as two writes.
        let needed =
            IoStream::write_cost_of(total, want_future) + IoStream::write_cost_of(1, false);
        if self
            .cfg
            .max_write_buffer_size
            .checked_sub(self.stream.write_buffer_cost())
            .is_none_or(|room| needed > room)
        {
            return Err(Error::StreamBufferFull);
        }
        let key = (self.cfg.role == Role::Client).then(mask_key);
        let Encoded { head: first, tail } = encode(opcode, fin, rsv1, payload, key);
        let last = tail.unwrap_or_default();
        let split = !last.is_empty();
        let fut = if !split {
            if want_future {
                Some(self.stream.write(first))
            } else {
                self.stream.write_and_forget(first);
                None
            }
        } else if want_future {
            // Header and payload are queued as one write: one system call when the
            // queue was empty, and never a header without its payload.
            Some(self.stream.write_pair(first, last))
        } else {
            // A future only when asked for: an idle connection then holds no queue of
            // write futures, and a message costs no allocation for one.
            self.stream.write_pair_and_forget(first, last);
            None
        };
        Ok(fut)
    }

    /// Sends a close frame at once unless one was sent. Returns whether it sent one.
    /// A close frame that waited for messages being sent in steps goes now instead
    /// (with this payload), and the rest of those messages is dropped.
    fn send_close(&self, payload: Option<(u16, &str)>) -> bool {
        let dropped = {
            let mut st = self.st.borrow_mut();
            if (st.close_sent && !st.close_due()) || st.result.is_some() {
                return false;
            }
            st.close_sent = true;
            st.drop_outgoing()
        };
        outgoing::fail_all(dropped);
        let mut p = BytesMut::new();
        if let Some((code, reason)) = payload {
            write_close_payload(&mut p, code, reason);
        }
        self.write_close(p.freeze());
        true
    }

    /// Queues a close frame with `payload`.
    fn write_close(&self, payload: Bytes) {
        // Past the write limit or not: the close frame must go out (one chunk: a close
        // payload is at most 125 bytes).
        let key = (self.cfg.role == Role::Client).then(mask_key);
        let frame = encode(Opcode::Close, true, false, payload, key);
        self.stream.write_and_forget(frame.head);
    }

    fn start_reading(this: &Rc<Inner>) {
        let reader = {
            let mut st = this.st.borrow_mut();
            if st.reading
                || st.inflating
                || st.paused
                || st.result.is_some()
                || (st.held && !st.close_sent)
            {
                return;
            }
            st.reading = true;
            this.reader.borrow().clone()
        };
        if let Some(r) = reader {
            this.stream.read_callback(r);
        }
    }

    /// The stream's read callback: decodes until a message is complete (then reading
    /// pauses until the user is done with it) or the connection ends.
    fn on_data(this: &Rc<Inner>, buf: &mut BytesMut, closed: bool) -> bool {
        this.st.borrow_mut().decoder.start_turn();
        // Pings within one read share a pong; a pong still waiting from an earlier
        // read means the peer does not take what we write: stop reading it.
        let mut first = true;
        loop {
            if !closed && Inner::pause_if_backed_up(this, std::mem::take(&mut first)) {
                return true;
            }
            let next = this.st.borrow_mut().decoder.decode(buf);
            match next {
                Ok(Some(Incoming::Message(m))) => {
                    crate::telemetry::hooks::websocket_message(true);
                    let mut st = this.st.borrow_mut();
                    if st.close_sent && this.cb.borrow().on_message.is_none() {
                        continue; // closing in pull style: data is discarded
                    }
                    st.reading = false;
                    st.held = true;
                    drop(st);
                    let inner = this.clone();
                    this.handle.add_callback(move || Inner::deliver(&inner, m));
                    return true;
                }
                Ok(Some(Incoming::Ping(data))) => {
                    if !this.st.borrow().close_sent {
                        Inner::answer_ping(this, data.clone());
                    }
                    Inner::control_callback(this, data, true);
                }
                Ok(Some(Incoming::Pong(data))) => {
                    let t = this.answered(&data);
                    if let Some(t) = t {
                        this.handle.cancel_timer(t);
                    }
                    Inner::control_callback(this, data, false);
                }
                Ok(Some(Incoming::Close(c))) => {
                    {
                        let mut st = this.st.borrow_mut();
                        st.reading = false;
                        st.clean = true;
                    }
                    let (code, reason) = match c {
                        Some((code, reason)) => {
                            this.send_close(Some((code, &reason)));
                            (code, reason)
                        }
                        None => {
                            this.send_close(None);
                            (close::NO_STATUS, String::new())
                        }
                    };
                    Inner::finish(this, code, reason);
                    this.stream.close_after_writes();
                    return true;
                }
                Ok(None) => {
                    let (paused, in_message) = {
                        let st = this.st.borrow();
                        (st.decoder.paused(), st.decoder.in_message())
                    };
                    if paused {
                        if closed {
                            // The peer is gone: finish what arrived without yielding.
                            this.st.borrow_mut().decoder.start_turn();
                            continue;
                        }
                        // This turn's inflating is done: other connections run before
                        // the rest of the message is inflated.
                        {
                            let mut st = this.st.borrow_mut();
                            st.reading = false;
                            st.inflating = true;
                        }
                        let inner = this.clone();
                        this.handle.add_callback(move || Inner::resume(&inner));
                        return true;
                    }
                    if closed {
                        this.st.borrow_mut().reading = false;
                        Inner::finish(this, close::ABNORMAL, String::new());
                    } else if in_message {
                        Inner::watch_stall(this);
                    }
                    return closed;
                }
                Err(e) => {
                    this.st.borrow_mut().reading = false;
                    Inner::fail(this, e);
                    return true;
                }
            }
        }
    }

    /// Goes on with a message whose inflating paused (from the loop): a finished message
    /// is delivered as usual; reading resumes when the decoder needs bytes again.
    fn resume(this: &Rc<Inner>) {
        {
            let mut st = this.st.borrow_mut();
            st.inflating = false;
            if st.result.is_some() {
                return;
            }
            st.reading = true;
        }
        let mut none = BytesMut::new();
        if !Inner::on_data(this, &mut none, false) {
            this.st.borrow_mut().reading = false;
            Inner::start_reading(this);
        }
    }

    /// An incomplete message is waiting for bytes: notes whether it moved since last
    /// seen, and arms the check that fails the connection once it has not moved for
    /// `message_timeout`.
    fn watch_stall(this: &Rc<Inner>) {
        let Some(timeout) = ms(this.cfg.message_timeout_ms) else {
            return;
        };
        let mut st = this.st.borrow_mut();
        let progress = st.decoder.progress();
        let t = st.t();
        if t.progress != progress || t.stall.is_none() {
            t.progress = progress;
            t.progress_at = this.handle.coarse_now();
        }
        if t.stall.is_none() {
            drop(st);
            Inner::arm_stall(this, timeout);
        }
    }

    fn arm_stall(this: &Rc<Inner>, after: Duration) {
        let weak = Rc::downgrade(this);
        let t = this.handle.call_later(after, move || {
            let Some(inner) = weak.upgrade() else { return };
            let Some(timeout) = ms(inner.cfg.message_timeout_ms) else {
                return;
            };
            let left = {
                let mut st = inner.st.borrow_mut();
                st.t().stall = None;
                if st.result.is_some() || !st.decoder.in_message() || st.inflating {
                    return; // over, between messages (re-armed by the next), or busy
                }
                let progress = st.decoder.progress();
                let now = inner.handle.coarse_now();
                let t = st.t();
                if t.progress != progress {
                    t.progress = progress;
                    t.progress_at = now;
                }
                timeout.checked_sub(now.saturating_sub(t.progress_at))
            };
            match left {
                Some(left) if !left.is_zero() => Inner::arm_stall(&inner, left),
                _ => {
                    log::info!("WebSocket: incomplete message stalled for {timeout:?}, closing");
                    inner.st.borrow_mut().decoder.abort();
                    Inner::fail(
                        &inner,
                        ProtocolError::new(close::POLICY_VIOLATION, "message timeout"),
                    );
                }
            }
        });
        this.st.borrow_mut().t().stall = Some(t);
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with the error's code,
    /// then the TCP connection closes.
    fn fail(this: &Rc<Inner>, e: ProtocolError) {
        log::debug!("WebSocket failed: {e}");
        this.send_close(Some((e.code, e.reason)));
        Inner::finish(this, e.code, e.reason.to_owned());
        Inner::linger(this);
    }

    /// A lingering close, as HTTP servers make after an error: closing a socket that
    /// still holds unread input makes the kernel answer with a reset, which can destroy
    /// our close frame before the peer reads it (it would see 1006, not the code). So
    /// once the close frame is out our side is shut down, and what the peer still sends
    /// is read and discarded until it closes; the linger timer armed by `finish` (the
    /// close timeout) bounds the wait.
    fn linger(this: &Rc<Inner>) {
        let stream = this.stream.clone();
        this.stream.drained_to(0).add_done_callback(move |f| {
            if matches!(f.take_result(), Some(Ok(()))) {
                let _ = stream.shutdown_write();
            }
        });
        if this.st.borrow().reading {
            return; // the connection's own reader goes on until the peer closes
        }
        let stream = this.stream.clone();
        this.stream
            .read_callback(Rc::new(move |buf: &mut BytesMut, closed: bool| {
                buf.clear();
                if closed {
                    stream.close();
                }
                closed
            }));
    }

    fn control_callback(this: &Rc<Inner>, data: Bytes, ping: bool) {
        if !this.cb.borrow().has_control(ping) {
            return;
        }
        let inner = this.clone();
        this.handle.add_callback(move || {
            let ws = WebSocket {
                inner: inner.clone(),
            };
            let taken = inner.cb.borrow_mut().control(ping).take();
            if let Some(mut f) = taken {
                f(&ws, data);
                let mut cb = inner.cb.borrow_mut();
                let slot = cb.control(ping);
                if slot.is_none() {
                    *slot = Some(f);
                }
            }
        });
    }

    /// Hands a message to the user (called from the loop).
    fn deliver(this: &Rc<Inner>, m: Message) {
        let taken = this.cb.borrow_mut().on_message.take();
        if let Some(mut f) = taken {
            let ws = WebSocket {
                inner: this.clone(),
            };
            let wait = f(&ws, m);
            {
                let mut cb = this.cb.borrow_mut();
                if cb.on_message.is_none() {
                    cb.on_message = Some(f);
                }
            }
            match wait {
                Some(w) if !w.is_done() => {
                    let inner = this.clone();
                    w.add_done_callback(move |_| Inner::release(&inner));
                }
                _ => Inner::release(this),
            }
            return;
        }
        let waiter = this
            .st
            .borrow_mut()
            .pull
            .as_mut()
            .and_then(|p| p.waiter.take());
        match waiter {
            Some(w) => {
                w.set_result(Some(m));
                Inner::release(this);
            }
            None => this.st.borrow_mut().p().queued = Some(m),
        }
    }

    fn release(this: &Rc<Inner>) {
        this.st.borrow_mut().held = false;
        Inner::start_reading(this);
    }

    fn arm_ping(this: &Rc<Inner>) {
        let Some(every) = ms(this.cfg.ping_interval_ms) else {
            return;
        };
        let weak = Rc::downgrade(this);
        let t = this.handle.call_later(every, move || {
            let Some(inner) = weak.upgrade() else { return };
            inner.st.borrow_mut().t().ping = None;
            if inner.st.borrow().result.is_some() {
                return;
            }
            let waiting = inner.st.borrow_mut().t().pong.is_some();
            if !waiting && !inner.st.borrow().close_sent {
                let id = inner.keepalive_id();
                let _ = inner.write_frame(Opcode::Ping, false, Bytes::copy_from_slice(&id), false);
                if let Some(timeout) = ms(inner.cfg.ping_timeout_ms) {
                    Inner::arm_pong_timeout(&inner, timeout);
                }
            }
            Inner::arm_ping(&inner);
        });
        this.st.borrow_mut().t().ping = Some(t);
    }

    /// Fails the connection if no pong arrives within `timeout`. While the user holds a
    /// message back nothing is read, so the pong may be waiting unread: the peer is not
    /// blamed for that, the wait starts over.
    fn arm_pong_timeout(this: &Rc<Inner>, timeout: Duration) {
        let weak = Rc::downgrade(this);
        let t = this.handle.call_later(timeout, move || {
            let Some(inner) = weak.upgrade() else { return };
            let held = {
                let mut st = inner.st.borrow_mut();
                st.t().pong = None;
                st.held && !st.reading
            };
            if held {
                Inner::arm_pong_timeout(&inner, timeout);
                return;
            }
            log::debug!("WebSocket: ping not answered, closing");
            Inner::fail(
                &inner,
                ProtocolError::new(close::INTERNAL_ERROR, "ping timeout"),
            );
            inner.stream.close();
        });
        this.st.borrow_mut().t().pong = Some(t);
    }

    /// Records the end of the connection once: wakes `read_message`, `closed()` and
    /// `on_close`, cancels the timers and lets the reactor drop the connection.
    fn finish(this: &Rc<Inner>, code: u16, reason: String) {
        let (waiter, waiters, timers, dropped) = {
            let mut st = this.st.borrow_mut();
            if st.result.is_some() {
                return;
            }
            st.result = Some(Box::new((code, reason.clone())));
            let dropped = st.drop_outgoing();
            crate::telemetry::hooks::websocket_connection(false);
            let t = st.t();
            let timers: Vec<TimerId> = [
                t.close.take(),
                t.ping.take(),
                t.pong.take(),
                t.stall.take(),
                t.write_stall.take(),
            ]
            .into_iter()
            .flatten()
            .collect();
            (
                st.pull.as_mut().and_then(|p| p.waiter.take()),
                st.pull
                    .as_mut()
                    .map(|p| std::mem::take(&mut p.closed_waiters))
                    .unwrap_or_default(),
                timers,
                dropped,
            )
        };
        outgoing::fail_all(dropped);
        for t in timers {
            this.handle.cancel_timer(t);
        }
        if !this.stream.is_closed() {
            // The stream closes once its last writes (our close frame) are out; a peer
            // that does not read them is dropped after the close timeout.
            let weak = Rc::downgrade(this);
            let linger = ms(this.cfg.close_timeout_ms).unwrap_or_default();
            let t = this.handle.call_later(linger, move || {
                if let Some(inner) = weak.upgrade() {
                    inner.st.borrow_mut().t().linger = None;
                    inner.stream.close();
                }
            });
            this.st.borrow_mut().t().linger = Some(t);
        }
        if let Some(w) = waiter {
            w.set_result(None);
        }
        for w in waiters {
            w.set_result((code, reason.clone()));
        }
        let on_close = this.cb.borrow_mut().on_close.take();
        if let Some(f) = on_close {
            this.handle.add_callback(move || f(code, reason));
        }
        // Callbacks may hold handles to this connection: drop them once it is over
        // (after the pending deliveries, which take them out while they run).
        let inner = this.clone();
        this.handle.add_callback(move || {
            let mut cb = inner.cb.borrow_mut();
            cb.on_message = None;
            cb.control = None;
        });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle went away while open (only possible once the reactor
        // dropped the owner timer): the stream closes with us.
        self.stream.close();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn idle_connection_state_is_small() {
        let sizes = (
            std::mem::size_of::<super::Inner>(),
            std::mem::size_of::<super::State>(),
            std::mem::size_of::<super::Decoder>(),
            std::mem::size_of::<super::Config>(),
            std::mem::size_of::<super::Callbacks>(),
        );
        // An idle connection's own state (besides its stream): what is rarely used is
        // boxed (timers, deflate, pull-style state, a message in progress) and the settings
        // are compact: 248 B, from 656 B; 264 B with the write and stalled-message
        // timeouts (two u32 settings); 248 B again with the owner timer's id in one word
        // less and the role in the settings' padding.
        assert!(
            sizes.0 <= 248,
            "Inner, State, Decoder, Config, Callbacks: {sizes:?}"
        );
    }
}
