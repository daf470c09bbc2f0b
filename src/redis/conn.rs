//! The connection both client types share: connect, handshake (AUTH, SELECT), a read loop
//! that decodes replies in batches, and reconnection with exponential back-off.
//!
//! The reactor holds only `Weak` references to a connection (in the stream's callbacks,
//! the connect future's callback and the back-off timer), so dropping the last client
//! frees it, closes its socket and fails what was still pending.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::resp::{self, Value};
use super::{RedisOptions, Target};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::net::TcpClient;
use crate::reactor::{Handle, TimerId};
use crate::stream::IoStream;

/// Who waits for a reply.
pub(super) enum Waiter {
    /// A caller's command.
    User(Future<Value>),
    /// A handshake command (AUTH, SELECT): an error reply drops the connection.
    Handshake(&'static str),
}

/// What a subscriber connection keeps across reconnections.
#[derive(Default)]
pub(super) struct Subscriptions {
    pub(super) channels: BTreeSet<Bytes>,
    pub(super) waiters: HashMap<Bytes, Vec<Future<()>>>,
    pub(super) on_message: Option<Box<dyn FnMut(Bytes, Bytes)>>,
}

pub(super) struct Inner {
    pub(super) handle: Handle,
    target: Target,
    pub(super) options: RedisOptions,
    pub(super) stream: Option<IoStream>,
    /// Bumped on every connection attempt: callbacks of an older connection are ignored.
    generation: u64,
    connecting: bool,
    closed: bool,
    backoff: Duration,
    timer: Option<TimerId>,
    /// Sent, awaiting their replies in order.
    pub(super) sent: VecDeque<Waiter>,
    /// Issued while no connection is up: sent on the next connect, failed if it fails.
    pub(super) queued: VecDeque<(Bytes, Future<Value>)>,
    /// `Some` for a subscriber connection.
    pub(super) subs: Option<Subscriptions>,
}

pub(super) type Shared = Rc<RefCell<Inner>>;

impl Inner {
    pub(super) fn new(
        handle: &Handle,
        target: Target,
        options: RedisOptions,
        subs: Option<Subscriptions>,
    ) -> Shared {
        let backoff = options.reconnect_min;
        let shared = Rc::new(RefCell::new(Inner {
            handle: handle.clone(),
            target,
            options,
            stream: None,
            generation: 0,
            connecting: false,
            closed: false,
            backoff,
            timer: None,
            sent: VecDeque::new(),
            queued: VecDeque::new(),
            subs,
        }));
        connect(&shared);
        shared
    }

    pub(super) fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends `wire` now, or queues it until a connection is up.
    pub(super) fn send(&mut self, wire: Bytes, waiter: Future<Value>) {
        if self.closed {
            waiter.set_error(Error::StreamClosed);
        } else if let Some(stream) = &self.stream {
            if stream.write_and_forget(wire) {
                self.sent.push_back(Waiter::User(waiter));
            } else {
                waiter.set_error(stream.error().unwrap_or(Error::StreamBufferFull));
            }
        } else if self.queued.len() >= self.options.max_queued {
            waiter.set_error(Error::StreamBufferFull);
        } else {
            self.queued.push_back((wire, waiter));
        }
    }

    /// Writes a command whose reply nobody awaits (SUBSCRIBE: its confirmation arrives as
    /// a push). Returns false if there is no connection: it is then sent on connect.
    pub(super) fn send_push_command(&mut self, args: &[&[u8]]) -> bool {
        match &self.stream {
            Some(stream) => {
                let mut wire = BytesMut::new();
                resp::encode_command(&mut wire, args);
                stream.write_and_forget(wire.freeze())
            }
            None => false,
        }
    }

    pub(super) fn close(&mut self) {
        self.closed = true;
        if let Some(t) = self.timer.take() {
            self.handle.cancel_timer(t);
        }
        if let Some(stream) = self.stream.take() {
            stream.close();
        }
        self.fail_all(Error::StreamClosed);
    }

    fn fail_all(&mut self, error: Error) {
        for w in self.sent.drain(..) {
            if let Waiter::User(f) = w {
                f.set_error(error.clone());
            }
        }
        for (_, f) in self.queued.drain(..) {
            f.set_error(error.clone());
        }
        if let Some(subs) = &mut self.subs {
            for (_, ws) in subs.waiters.drain() {
                for f in ws {
                    f.set_error(error.clone());
                }
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

fn connect(shared: &Shared) {
    let (handle, host, port, timeout, generation) = {
        let mut s = shared.borrow_mut();
        if s.closed || s.connecting || s.stream.is_some() {
            return;
        }
        s.connecting = true;
        s.generation += 1;
        (
            s.handle.clone(),
            s.target.host.clone(),
            s.target.port,
            s.options.connect_timeout,
            s.generation,
        )
    };
    let weak = Rc::downgrade(shared);
    TcpClient::new(&handle)
        .connect(&host, port, Some(timeout))
        .add_done_callback(move |f| {
            if let (Some(shared), Some(result)) = (weak.upgrade(), f.take_result()) {
                on_connect(&shared, generation, result);
            }
        });
}

fn on_connect(shared: &Shared, generation: u64, result: Result<IoStream>) {
    let mut s = shared.borrow_mut();
    if s.generation != generation || s.closed {
        return;
    }
    s.connecting = false;
    let stream = match result {
        Ok(stream) => stream,
        Err(e) => {
            log::warn!(
                "redis {}:{}: connect failed: {e}",
                s.target.host,
                s.target.port
            );
            // Commands issued while down fail now rather than wait for a server that
            // may never come back; subscriptions are kept and renewed on reconnect.
            for (_, f) in s.queued.drain(..) {
                f.set_error(e.clone());
            }
            drop(s);
            schedule_reconnect(shared);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut wire = BytesMut::new();
    if let Some(password) = &s.target.password {
        match &s.target.username {
            Some(user) => resp::encode_command(&mut wire, &[&b"AUTH"[..], user, password]),
            None => resp::encode_command(&mut wire, &[&b"AUTH"[..], password]),
        }
        s.sent.push_back(Waiter::Handshake("AUTH"));
    }
    if s.target.db != 0 {
        let db = s.target.db.to_string();
        resp::encode_command(&mut wire, &["SELECT", &db]);
        s.sent.push_back(Waiter::Handshake("SELECT"));
    }
    if let Some(subs) = &s.subs
        && !subs.channels.is_empty()
    {
        let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
        args.extend(subs.channels.iter().map(|c| &c[..]));
        resp::encode_command(&mut wire, &args);
    }
    let queued: Vec<_> = s.queued.drain(..).collect();
    for (cmd, f) in queued {
        wire.extend_from_slice(&cmd);
        s.sent.push_back(Waiter::User(f));
    }
    if !wire.is_empty() {
        stream.write_and_forget(wire.freeze());
    }
    let weak = Rc::downgrade(shared);
    stream.set_close_callback(move |e| {
        if let Some(shared) = weak.upgrade() {
            lost(&shared, generation, e);
        }
    });
    s.stream = Some(stream.clone());
    // One decoder per connection, kept across reads: a reply that arrives in many reads
    // is parsed once, where it stopped.
    let decoder = Rc::new(RefCell::new(resp::Decoder::new(
        s.options.max_reply_bytes,
        s.options.max_reply_elements,
    )));
    drop(s);
    read_loop(shared, &stream, generation, decoder);
}

fn read_loop(
    shared: &Shared,
    stream: &IoStream,
    generation: u64,
    decoder: Rc<RefCell<resp::Decoder>>,
) {
    let weak = Rc::downgrade(shared);
    let d = decoder.clone();
    stream
        .read_with(move |buf: &mut BytesMut, _closed| {
            let mut d = d.borrow_mut();
            let mut values = Vec::new();
            while let Some(v) = d.decode(buf)? {
                values.push(v);
            }
            Ok((!values.is_empty()).then_some(values))
        })
        .add_done_callback(move |f| {
            let Some(shared) = weak.upgrade() else { return };
            match f.take_result() {
                Some(Ok(values)) => {
                    let more = dispatch(&shared, generation, values);
                    let stream = shared.borrow().stream.clone();
                    if let (true, Some(stream)) = (more, stream) {
                        read_loop(&shared, &stream, generation, decoder);
                    }
                }
                Some(Err(e)) => lost(&shared, generation, Some(e)),
                None => {}
            }
        });
}

/// Delivers replies and pushes. Returns false when the connection was dropped.
fn dispatch(shared: &Shared, generation: u64, values: Vec<Value>) -> bool {
    {
        let mut s = shared.borrow_mut();
        if s.generation != generation || s.stream.is_none() {
            return false;
        }
        // Replies arrive: the server is healthy, the next loss starts a fresh back-off.
        s.backoff = s.options.reconnect_min;
    }
    for v in values {
        if shared.borrow().generation != generation || shared.borrow().stream.is_none() {
            return false; // closed from inside a message callback
        }
        if let Some((channel, payload)) = push(shared, &v) {
            // The user's callback runs without any borrow held: it may subscribe,
            // publish or close from inside.
            let cb = shared
                .borrow_mut()
                .subs
                .as_mut()
                .and_then(|s| s.on_message.take());
            if let Some(mut cb) = cb {
                cb(channel, payload);
                let mut s = shared.borrow_mut();
                if let Some(subs) = s.subs.as_mut() {
                    subs.on_message.get_or_insert(cb);
                }
            }
            continue;
        }
        if is_push(&v) && shared.borrow().subs.is_some() {
            continue;
        }
        let waiter = shared.borrow_mut().sent.pop_front();
        match (waiter, v) {
            (Some(Waiter::User(f)), Value::Error(msg)) => f.set_error(Error::Redis(msg.into())),
            (Some(Waiter::User(f)), v) => f.set_result(v),
            (Some(Waiter::Handshake(cmd)), Value::Error(msg)) => {
                let e = Error::Redis(format!("{cmd} failed: {msg}").into());
                log::error!("redis: {e}");
                lost(shared, generation, Some(e));
                return false;
            }
            (Some(Waiter::Handshake(_)), _) => {}
            (None, _) => {
                let e = Error::Redis("protocol error: a reply nobody asked for".into());
                log::error!("redis: {e}");
                lost(shared, generation, Some(e));
                return false;
            }
        }
    }
    shared.borrow().generation == generation && shared.borrow().stream.is_some()
}

fn kind(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Array(items) => items.first().and_then(Value::as_bytes),
        _ => None,
    }
}

fn is_push(v: &Value) -> bool {
    matches!(
        kind(v),
        Some(
            b"message"
                | b"pmessage"
                | b"subscribe"
                | b"unsubscribe"
                | b"psubscribe"
                | b"punsubscribe"
                | b"pong"
        )
    )
}

/// Handles a subscriber's push: resolves subscription waiters; returns a message's
/// channel and payload.
fn push(shared: &Shared, v: &Value) -> Option<(Bytes, Bytes)> {
    let Value::Array(items) = v else { return None };
    let mut s = shared.borrow_mut();
    let subs = s.subs.as_mut()?;
    match (kind(v)?, items.get(1), items.get(2)) {
        (b"message", Some(Value::Bulk(ch)), Some(Value::Bulk(payload))) => {
            Some((ch.clone(), payload.clone()))
        }
        (b"subscribe", Some(Value::Bulk(ch)), _) => {
            for f in subs.waiters.remove(ch).unwrap_or_default() {
                f.set_result(());
            }
            None
        }
        _ => None,
    }
}

/// The connection of `generation` is gone: fail what was sent (it may or may not have
/// run) and reconnect after the back-off.
fn lost(shared: &Shared, generation: u64, error: Option<Error>) {
    {
        let mut s = shared.borrow_mut();
        if s.generation != generation || s.closed {
            return;
        }
        let Some(stream) = s.stream.take() else {
            return;
        };
        stream.close();
        let e = error.unwrap_or(Error::StreamClosed);
        log::warn!(
            "redis {}:{}: connection lost: {e}",
            s.target.host,
            s.target.port
        );
        for w in s.sent.drain(..) {
            if let Waiter::User(f) = w {
                f.set_error(e.clone());
            }
        }
    }
    schedule_reconnect(shared);
}

fn schedule_reconnect(shared: &Shared) {
    let mut s = shared.borrow_mut();
    if s.closed {
        return;
    }
    crate::telemetry::hooks::redis_reconnect();
    let delay = s.backoff;
    s.backoff = (s.backoff * 2).min(s.options.reconnect_max);
    let weak: Weak<RefCell<Inner>> = Rc::downgrade(shared);
    let handle = s.handle.clone();
    s.timer = Some(handle.call_later(delay, move || {
        if let Some(shared) = weak.upgrade() {
            shared.borrow_mut().timer = None;
            connect(&shared);
        }
    }));
}
