//! [`IoStream`]: a buffered, non-blocking stream over a TCP or Unix socket (Tornado's
//! `IOStream`).
//!
//! Reads return [`Future<Bytes>`](crate::Future); one read may be pending at a time.
//! Data already buffered is served without touching the socket. Writes queue in order
//! and resolve when their bytes reached the kernel. The stream asks the reactor for
//! readiness only while it has something to do, and an idle stream holds no read
//! buffer.
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use squall::{stream::IoStream, Reactor};
//! let mut reactor = Reactor::new()?;
//! let handle = reactor.handle();
//! let (a, b) = std::os::unix::net::UnixStream::pair()?;
//! let (a, b) = (IoStream::new(&handle, a)?, IoStream::new(&handle, b)?);
//! a.write(&b"hello\nworld"[..]);
//! let line = b.read_until(b"\n", Some(1024));
//! assert_eq!(&reactor.run_until(&line)?[..], b"hello\n");
//! # Ok(()) }
//! ```

mod read;
mod socket;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use self::read::{Check, ReadRequest};
pub use self::socket::Socket;
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{coarse_now, Event, Handle, Interest, TimerId, Token};

/// Limits and timeouts of an [`IoStream`].
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Most bytes the read buffer may hold (default 100 MiB, as Tornado). A read that
    /// needs more fails with [`Error::StreamBufferFull`] and closes the stream.
    pub max_buffer_size: usize,
    /// Most bytes queued for writing; a write beyond it fails with
    /// [`Error::StreamBufferFull`] (the stream stays open). `None`: unbounded.
    pub max_write_buffer_size: Option<usize>,
    /// Close the stream with [`Error::Timeout`] after this long without any read or
    /// write progress. Costs one timer per stream, re-armed only when it fires.
    pub idle_timeout: Option<Duration>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            max_buffer_size: 100 * 1024 * 1024,
            max_write_buffer_size: None,
            idle_timeout: None,
        }
    }
}

/// Bytes read from the socket per `read` call (a thread-wide scratch buffer, so idle
/// streams own no read memory).
const READ_CHUNK: usize = 64 * 1024;
/// With no read pending, buffer at most this much (to notice a close) before pausing.
const IDLE_READ_LIMIT: usize = 64 * 1024;
/// Most buffers handed to one `writev`.
const MAX_IOV: usize = 64;
/// Responses to pipelined requests are held back (corked) up to this many bytes.
const CORK_LIMIT: usize = 64 * 1024;

/// Reads per readiness event at most, so one fast sender cannot monopolise the loop.
const READS_PER_EVENT: usize = 8;
/// Empty read buffers kept per thread for reuse, and the capacity range worth keeping.
const POOL_MAX: usize = 256;
const POOL_MIN_CAPACITY: usize = 512;
const POOL_MAX_CAPACITY: usize = 256 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
    /// Released read buffers: idle streams hold none, busy ones reuse these instead of
    /// allocating per request.
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Capacity of a read buffer made when the pool is empty: big enough to be pooled, so a
/// small request does not leave a buffer too small to reuse.
const NEW_BUFFER_CAPACITY: usize = 4096;

fn pool_take() -> BytesMut {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(NEW_BUFFER_CAPACITY))
}

fn pool_put(mut buf: BytesMut) {
    // An empty buffer whose bytes nobody shares any more gets its whole allocation back
    // (`split_to` leaves it at the end of its allocation); one still shared is dropped.
    if buf.try_reclaim(POOL_MIN_CAPACITY)
        && (POOL_MIN_CAPACITY..=POOL_MAX_CAPACITY).contains(&buf.capacity())
    {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(buf);
            }
        });
    }
}

/// A custom read's parser. Shared (`Rc`) so an owner that reads message after message
/// (the HTTP connection) installs the same one each time without allocating.
pub(crate) type CustomRead = Rc<dyn Fn(&mut BytesMut, bool) -> bool>;
type CloseCallback = Box<dyn FnOnce(Option<Error>)>;

enum PendingRead {
    Simple(ReadRequest, Future<Bytes>),
    /// `read_with`: the parser is called with the buffer (and whether the stream is
    /// closed); it returns `true` once it resolved its own future.
    Custom(CustomRead),
}

struct State {
    handle: Handle,
    socket: Option<Rc<Socket>>,
    token: Option<Token>,
    interest: Interest,
    options: StreamOptions,
    read_buf: BytesMut,
    read: Option<PendingRead>,
    write_queue: VecDeque<Bytes>,
    write_queued: usize,
    accepted: u64,
    written: u64,
    write_futures: VecDeque<(u64, Future<()>)>,
    closed: bool,
    /// Boxed: rarely set, and every idle stream would otherwise carry its 48 bytes.
    error: Option<Box<Error>>,
    close_callback: Option<CloseCallback>,
    last_activity: Duration,
    idle_timer: Option<TimerId>,
    /// A custom read callback is running (outside the borrow): writes are corked until
    /// it returns, so pipelined responses leave in one `writev`.
    in_read_callback: bool,
    /// Close once the write queue is flushed.
    close_after_writes: bool,
}

struct Shared {
    state: RefCell<State>,
}

/// A buffered non-blocking stream. Cloning gives another handle to the same stream;
/// dropping the last handle closes it.
#[derive(Clone)]
pub struct IoStream {
    shared: Rc<Shared>,
}

impl fmt::Debug for IoStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.state.borrow();
        f.debug_struct("IoStream")
            .field("closed", &s.closed)
            .field("buffered", &s.read_buf.len())
            .field("write_queued", &s.write_queued)
            .finish()
    }
}

/// Work to finish after the state borrow is released.
#[derive(Default)]
struct Finish {
    read: Option<(Future<Bytes>, Result<Bytes>)>,
    writes: Vec<(Future<()>, Result<()>)>,
}

impl IoStream {
    /// Wraps a connected socket with default [`StreamOptions`].
    ///
    /// # Errors
    /// [`Error::Io`] if the socket cannot be made non-blocking or registered.
    pub fn new(handle: &Handle, socket: impl Into<Socket>) -> Result<IoStream> {
        Self::with_options(handle, socket, StreamOptions::default())
    }

    /// Wraps a connected socket with the given options.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_options(
        handle: &Handle,
        socket: impl Into<Socket>,
        options: StreamOptions,
    ) -> Result<IoStream> {
        Self::from_shared_socket(handle, Rc::new(socket.into()), options)
    }

    pub(crate) fn from_shared_socket(
        handle: &Handle,
        socket: Rc<Socket>,
        options: StreamOptions,
    ) -> Result<IoStream> {
        socket.set_nonblocking()?;
        let idle = options.idle_timeout;
        let shared = Rc::new(Shared {
            state: RefCell::new(State {
                handle: handle.clone(),
                socket: Some(socket.clone()),
                token: None,
                interest: Interest::NONE,
                options,
                read_buf: BytesMut::new(),
                read: None,
                write_queue: VecDeque::new(),
                write_queued: 0,
                accepted: 0,
                written: 0,
                write_futures: VecDeque::new(),
                closed: false,
                error: None,
                close_callback: None,
                last_activity: coarse_now(),
                idle_timer: None,
                in_read_callback: false,
                close_after_writes: false,
            }),
        });
        let weak: Weak<Shared> = Rc::downgrade(&shared);
        let token = handle.add_handler(socket, Interest::NONE, move |_s, ev| {
            if let Some(shared) = weak.upgrade() {
                IoStream { shared }.on_event(ev);
            }
        })?;
        shared.state.borrow_mut().token = Some(token);
        let stream = IoStream { shared };
        if let Some(t) = idle {
            stream.arm_idle_timer(t);
        }
        Ok(stream)
    }

    /// Reads up to and including `delimiter`. With `max_bytes`, fails with
    /// [`Error::UnsatisfiableRead`] (and closes the stream) if the delimiter does not
    /// appear within that many bytes.
    pub fn read_until(&self, delimiter: &[u8], max_bytes: Option<usize>) -> Future<Bytes> {
        self.start_read(ReadRequest::Until {
            delimiter: delimiter.to_vec(),
            max_bytes,
            scanned: 0,
        })
    }

    /// Reads exactly `n` bytes; with `partial`, resolves as soon as 1 to `n` bytes are
    /// there.
    pub fn read_bytes(&self, n: usize, partial: bool) -> Future<Bytes> {
        self.start_read(ReadRequest::Bytes { n, partial })
    }

    /// Reads everything until the peer closes (bounded by `max_buffer_size`).
    pub fn read_until_close(&self) -> Future<Bytes> {
        self.start_read(ReadRequest::UntilClose)
    }

    /// A read driven by your own parser: `parse` is called with the read buffer each
    /// time data arrives (and once more when the stream closes, with `closed = true`);
    /// it consumes what it used (e.g. `buf.split_to(n)`) and returns `Ok(Some(v))` when
    /// done, `Ok(None)` for more data, or an error that fails the read and closes the
    /// stream. This is how the HTTP layer parses heads and bodies in place.
    pub fn read_with<T: 'static>(
        &self,
        parse: impl FnMut(&mut BytesMut, bool) -> Result<Option<T>> + 'static,
    ) -> Future<T> {
        let fut = Future::new();
        let f = fut.clone();
        let weak = Rc::downgrade(&self.shared);
        let parse = RefCell::new(parse);
        let custom: CustomRead =
            Rc::new(move |buf, closed| match (parse.borrow_mut())(buf, closed) {
                Ok(Some(v)) => {
                    f.set_result(v);
                    true
                }
                Ok(None) if closed => {
                    f.set_error(Error::StreamClosed);
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    f.set_error(e.clone());
                    // As documented, a parser error also closes the stream.
                    if let Some(shared) = weak.upgrade() {
                        IoStream { shared }.close_with(Some(e));
                    }
                    true
                }
            });
        self.start(PendingRead::Custom(custom), || fut.clone());
        fut
    }

    /// Crate-internal `read_with` without a future: `parse` returns `true` when it is
    /// done reading (it is called with `closed = true` at most once, last).
    pub(crate) fn read_callback(&self, parse: CustomRead) {
        self.start(PendingRead::Custom(parse), Future::<()>::new);
    }

    fn start_read(&self, req: ReadRequest) -> Future<Bytes> {
        let fut = Future::new();
        self.start(PendingRead::Simple(req, fut.clone()), || fut.clone());
        fut
    }

    fn start<T: 'static>(&self, pending: PendingRead, fut: impl FnOnce() -> Future<T>) {
        let mut finish = Finish::default();
        {
            let mut s = self.shared.state.borrow_mut();
            if s.read.is_some() {
                drop(s);
                if let PendingRead::Simple(_, f) = pending {
                    f.set_error(Error::invalid_state("a read is already pending"));
                } else {
                    fut().set_error(Error::invalid_state("a read is already pending"));
                }
                return;
            }
            s.read = Some(pending);
            s.try_read(&mut finish);
            if s.closed {
                s.settle_read_after_close(&mut finish);
            }
            s.update_interest();
        }
        finish.run();
        self.drive_custom();
    }

    /// Queues `data`; the future resolves when all of it reached the kernel. Writes go
    /// out in order. Fails with [`Error::StreamBufferFull`] beyond
    /// `max_write_buffer_size`, with [`Error::StreamClosed`] on a closed stream.
    pub fn write(&self, data: impl Into<Bytes>) -> Future<()> {
        let fut = Future::new();
        self.write_inner(data.into(), Some(fut.clone()));
        fut
    }

    /// Like [`write`](Self::write) without a future (saves an allocation on hot paths):
    /// failures surface through [`error`](Self::error) and the close callback. Returns
    /// `false` if the data was refused (closed stream, or buffer full).
    pub fn write_and_forget(&self, data: impl Into<Bytes>) -> bool {
        self.write_inner(data.into(), None)
    }

    fn write_inner(&self, data: Bytes, fut: Option<Future<()>>) -> bool {
        let mut finish = Finish::default();
        let accepted = {
            let mut s = self.shared.state.borrow_mut();
            let refused = if s.closed || s.close_after_writes {
                Some(Error::StreamClosed)
            } else if s
                .options
                .max_write_buffer_size
                .is_some_and(|max| s.write_queued + data.len() > max)
            {
                Some(Error::StreamBufferFull)
            } else {
                None
            };
            if let Some(e) = refused {
                if let Some(f) = fut {
                    finish.writes.push((f, Err(e)));
                }
                false
            } else {
                let was_empty = s.write_queue.is_empty();
                s.accepted += data.len() as u64;
                s.write_queued += data.len();
                if !data.is_empty() {
                    if s.write_queue.capacity() == 0 {
                        // One slot, not VecDeque's default four: an idle keep-alive
                        // connection keeps this allocation (32 B instead of 128 B).
                        s.write_queue.reserve_exact(1);
                    }
                    s.write_queue.push_back(data);
                }
                if let Some(f) = fut {
                    let end = s.accepted;
                    s.write_futures.push_back((end, f));
                }
                if was_empty && !s.in_read_callback {
                    s.handle_write(&mut finish);
                }
                s.update_interest();
                true
            }
        };
        finish.run();
        accepted
    }

    /// Closes the stream: pending reads fail with [`Error::StreamClosed`] (except
    /// `read_until_close`, which gets what arrived), queued writes are dropped, the
    /// close callback runs on the next iteration. Idempotent.
    pub fn close(&self) {
        self.close_with(None);
    }

    fn close_with(&self, error: Option<Error>) {
        let mut finish = Finish::default();
        self.shared.state.borrow_mut().close(error, &mut finish);
        finish.run();
        self.drive_custom();
    }

    /// Closes the stream once every queued write reached the kernel (at once if none
    /// is queued). Reads stop now.
    pub fn close_after_writes(&self) {
        let now = {
            let mut s = self.shared.state.borrow_mut();
            s.close_after_writes = true;
            s.write_queue.is_empty() && !s.in_read_callback
        };
        if now {
            self.close();
        }
    }

    /// Runs a pending custom read (`read_with`) on the buffered data, outside the state
    /// borrow so the parser may call back into the stream (write, close, start the next
    /// read). A read started from inside the callback runs next, on what is left in the
    /// buffer; writes made meanwhile go out together when the callback returns.
    fn drive_custom(&self) {
        loop {
            let (parse, mut buf, closed) = {
                let mut s = self.shared.state.borrow_mut();
                if s.in_read_callback {
                    return;
                }
                let runnable = matches!(s.read, Some(PendingRead::Custom(_)))
                    && (!s.read_buf.is_empty() || s.closed);
                if !runnable {
                    return;
                }
                let Some(PendingRead::Custom(parse)) = s.read.take() else {
                    return;
                };
                s.in_read_callback = true;
                (parse, std::mem::take(&mut s.read_buf), s.closed)
            };
            let done = parse(&mut buf, closed) || closed;
            let mut finish = Finish::default();
            let leftover = {
                let mut s = self.shared.state.borrow_mut();
                s.in_read_callback = false;
                if !s.read_buf.is_empty() {
                    buf.extend_from_slice(&s.read_buf);
                }
                s.read_buf = buf;
                let leftover = if done {
                    Some(parse)
                } else if s.read.is_none() {
                    s.read = Some(PendingRead::Custom(parse));
                    None
                } else {
                    Some(parse) // replaced by a newer read
                };
                s.release_empty_buffer();
                s.try_read(&mut finish);
                // Another pipelined message is buffered and its parser is ready: keep the
                // writes corked so the responses leave together in one writev.
                let more = done
                    && !s.closed
                    && !s.close_after_writes
                    && !s.read_buf.is_empty()
                    && matches!(s.read, Some(PendingRead::Custom(_)))
                    && s.write_queue.len() < MAX_IOV
                    && s.write_queued < CORK_LIMIT;
                if !more {
                    if !s.write_queue.is_empty() && !s.closed {
                        s.handle_write(&mut finish);
                    }
                    if s.close_after_writes && s.write_queue.is_empty() {
                        s.close(None, &mut finish);
                    }
                    s.update_interest();
                }
                leftover
            };
            drop(leftover);
            finish.run();
            if !done {
                return;
            }
        }
    }

    /// True once the stream is closed (by us, the peer, an error or a timeout).
    pub fn is_closed(&self) -> bool {
        self.shared.state.borrow().closed
    }

    /// The error that closed the stream, if any.
    pub fn error(&self) -> Option<Error> {
        self.shared.state.borrow().error.as_deref().cloned()
    }

    /// Calls `f` once when the stream closes, with the error that closed it (if any).
    /// If it is already closed, `f` runs on the next iteration.
    pub fn set_close_callback(&self, f: impl FnOnce(Option<Error>) + 'static) {
        let mut s = self.shared.state.borrow_mut();
        if s.closed {
            let e = s.error.as_deref().cloned();
            let handle = s.handle.clone();
            drop(s);
            handle.add_callback(move || f(e));
        } else {
            s.close_callback = Some(Box::new(f));
            s.update_interest();
        }
    }

    /// Bytes buffered and not yet consumed by a read.
    pub fn buffered(&self) -> usize {
        self.shared.state.borrow().read_buf.len()
    }

    /// Bytes queued and not yet written to the kernel.
    pub fn write_buffer_len(&self) -> usize {
        self.shared.state.borrow().write_queued
    }

    /// True while a read is pending.
    pub fn reading(&self) -> bool {
        self.shared.state.borrow().read.is_some()
    }

    /// Sets or clears the idle timeout (see [`StreamOptions::idle_timeout`]).
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        let old = {
            let mut s = self.shared.state.borrow_mut();
            s.options.idle_timeout = timeout;
            s.last_activity = coarse_now();
            s.idle_timer.take().map(|t| (s.handle.clone(), t))
        };
        if let Some((h, t)) = old {
            h.cancel_timer(t);
        }
        if let Some(t) = timeout {
            self.arm_idle_timer(t);
        }
    }

    fn arm_idle_timer(&self, delay: Duration) {
        let weak = Rc::downgrade(&self.shared);
        let handle = self.shared.state.borrow().handle.clone();
        let id = handle.call_later(delay, move || {
            let Some(shared) = weak.upgrade() else { return };
            let stream = IoStream { shared };
            let next = {
                let mut s = stream.shared.state.borrow_mut();
                s.idle_timer = None;
                match s.options.idle_timeout {
                    Some(t) if !s.closed => {
                        let idle = coarse_now().saturating_sub(s.last_activity);
                        Some(t.checked_sub(idle))
                    }
                    _ => None,
                }
            };
            match next {
                Some(Some(rest)) if !rest.is_zero() => stream.arm_idle_timer(rest),
                Some(_) => stream.close_with(Some(Error::Timeout)),
                None => {}
            }
        });
        self.shared.state.borrow_mut().idle_timer = Some(id);
    }

    /// Sets `TCP_NODELAY` (no-op for Unix sockets).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn set_nodelay(&self, yes: bool) -> Result<()> {
        match self.socket()?.as_ref() {
            Socket::Tcp(s) => Ok(s.set_nodelay(yes)?),
            Socket::Unix(_) => Ok(()),
        }
    }

    /// The peer's address (`None` for Unix sockets).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::StreamClosed`] if closed.
    pub fn peer_addr(&self) -> Result<Option<SocketAddr>> {
        Ok(self.socket()?.peer_addr()?)
    }

    /// The local address (`None` for Unix sockets).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::StreamClosed`] if closed.
    pub fn local_addr(&self) -> Result<Option<SocketAddr>> {
        Ok(self.socket()?.local_addr()?)
    }

    /// Half-closes: no more writes from us once the queue is flushed now. The peer sees
    /// EOF; we can still read.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::StreamClosed`] if closed.
    pub fn shutdown_write(&self) -> Result<()> {
        Ok(self.socket()?.shutdown_write()?)
    }

    fn socket(&self) -> Result<Rc<Socket>> {
        self.shared
            .state
            .borrow()
            .socket
            .clone()
            .ok_or(Error::StreamClosed)
    }

    fn on_event(&self, ev: Event) {
        let mut finish = Finish::default();
        {
            let mut s = self.shared.state.borrow_mut();
            if s.closed {
                return;
            }
            if ev.is_writable() {
                s.handle_write(&mut finish);
            }
            // READABLE may still be registered from a read that completed (it is dropped
            // lazily, see `update_interest`): data nobody asked for stays in the kernel,
            // and this wake-up drops the interest for real.
            let wanted = s.desired_interest().is_readable();
            if ev.is_readable() && !s.closed && wanted {
                s.handle_read(&mut finish);
            }
            if ev.is_readable() && !wanted {
                s.set_interest(false);
            } else {
                s.update_interest();
            }
        }
        finish.run();
        self.drive_custom();
    }
}

impl Finish {
    fn run(mut self) {
        if let Some((f, r)) = self.read.take() {
            f.set(r);
        }
        for (f, r) in self.writes.drain(..) {
            f.set(r);
        }
    }
}

impl State {
    fn touch(&mut self) {
        if self.options.idle_timeout.is_some() {
            self.last_activity = coarse_now();
        }
    }

    fn desired_interest(&self) -> Interest {
        let mut i = Interest::NONE;
        let wants_read = self.read.is_some()
            || (self.close_callback.is_some() && self.read_buf.len() < IDLE_READ_LIMIT);
        if wants_read && !self.close_after_writes {
            i |= Interest::READABLE;
        }
        if !self.write_queue.is_empty() {
            i |= Interest::WRITABLE;
        }
        i
    }

    /// Brings the registered interest in line with what the stream needs, except that
    /// READABLE is dropped lazily: a read that just completed is usually followed by the
    /// next one within the iteration (a done-callback starts it), and dropping then
    /// re-adding READABLE costs two `epoll_ctl` per message. If none follows, the next
    /// readable event finds nothing wanted and drops it then (`on_event`).
    fn update_interest(&mut self) {
        self.set_interest(true);
    }

    fn set_interest(&mut self, lazy: bool) {
        // Inside a read callback, writes are corked and `drive_custom` settles the
        // interest once it returns: no WRITABLE on/off around every response.
        if self.closed || self.in_read_callback {
            return;
        }
        let mut want = self.desired_interest();
        if lazy && self.interest.is_readable() && !self.close_after_writes {
            want |= Interest::READABLE;
        }
        if want != self.interest {
            if let Some(token) = self.token {
                match self.handle.update_handler(token, want) {
                    Ok(()) => self.interest = want,
                    Err(e) => log::error!("could not update stream interest: {e}"),
                }
            }
        }
    }

    fn handle_read(&mut self, finish: &mut Finish) {
        let Some(socket) = self.socket.clone() else {
            return;
        };
        for _ in 0..READS_PER_EVENT {
            let got = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let r = socket.read(&mut scratch);
                if let Ok(n) = r {
                    if n > 0 && self.read_buf.capacity() == 0 {
                        self.read_buf = pool_take();
                    }
                    self.read_buf.extend_from_slice(&scratch[..n]);
                }
                r
            });
            match got {
                Ok(0) => {
                    self.try_read(finish);
                    self.close(None, finish);
                    return;
                }
                Ok(n) => {
                    self.touch();
                    if self.read_buf.len() > self.options.max_buffer_size {
                        self.try_read(finish);
                        if self.read_buf.len() > self.options.max_buffer_size {
                            // As documented, the read fails with the cause (closing
                            // would fail it with StreamClosed, or hand read_until_close
                            // a silently truncated buffer).
                            if let Some(PendingRead::Simple(_, f)) =
                                self.read.take_if(|r| matches!(r, PendingRead::Simple(..)))
                            {
                                finish.read = Some((f, Err(Error::StreamBufferFull)));
                            }
                            self.close(Some(Error::StreamBufferFull), finish);
                            return;
                        }
                    }
                    if n < READ_CHUNK {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.try_read(finish);
                    self.close(Some(e.into()), finish);
                    return;
                }
            }
        }
        self.try_read(finish);
    }

    /// Completes the pending read if the buffer satisfies it.
    fn try_read(&mut self, finish: &mut Finish) {
        match self.read.as_mut() {
            None => {}
            // Custom parsers run outside the borrow, in `IoStream::drive_custom`.
            Some(PendingRead::Custom(_)) => {}
            Some(PendingRead::Simple(req, _)) => match req.check(&self.read_buf) {
                Check::NotYet => {}
                Check::Ready(n) => {
                    let data = self.read_buf.split_to(n).freeze();
                    self.release_empty_buffer();
                    if let Some(PendingRead::Simple(_, f)) = self.read.take() {
                        finish.read = Some((f, Ok(data)));
                    }
                }
                Check::Unsatisfiable => {
                    let e = Error::UnsatisfiableRead("delimiter not found within max_bytes".into());
                    if let Some(PendingRead::Simple(_, f)) = self.read.take() {
                        finish.read = Some((f, Err(e.clone())));
                    }
                    self.close(Some(e), finish);
                }
            },
        }
    }

    /// An idle stream holds no read memory (not even an empty `BytesMut` of capacity 0,
    /// which still pins the allocation it was split from).
    fn release_empty_buffer(&mut self) {
        if self.read_buf.is_empty() {
            pool_put(std::mem::take(&mut self.read_buf));
        }
    }

    /// A read started or still pending on a closed stream: serve it from the buffer,
    /// or fail it.
    fn settle_read_after_close(&mut self, finish: &mut Finish) {
        match self.read.take() {
            None => {}
            Some(PendingRead::Simple(ReadRequest::UntilClose, f)) => {
                let data = self.read_buf.split().freeze();
                finish.read = Some((f, Ok(data)));
            }
            Some(PendingRead::Simple(mut req, f)) => {
                let r = match req.check(&self.read_buf) {
                    Check::Ready(n) => Ok(self.read_buf.split_to(n).freeze()),
                    _ => Err(Error::StreamClosed),
                };
                finish.read = Some((f, r));
            }
            Some(custom @ PendingRead::Custom(_)) => self.read = Some(custom),
        }
    }

    fn handle_write(&mut self, finish: &mut Finish) {
        let Some(socket) = self.socket.clone() else {
            return;
        };
        while !self.write_queue.is_empty() {
            let r = if self.write_queue.len() == 1 {
                socket.write(&self.write_queue[0])
            } else {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let mut n = 0;
                for chunk in self.write_queue.iter().take(MAX_IOV) {
                    iov[n] = IoSlice::new(chunk);
                    n += 1;
                }
                socket.write_vectored(&iov[..n])
            };
            match r {
                Ok(0) => {
                    self.close(
                        Some(io::Error::from(io::ErrorKind::WriteZero).into()),
                        finish,
                    );
                    return;
                }
                Ok(mut n) => {
                    self.touch();
                    self.written += n as u64;
                    self.write_queued -= n;
                    while n > 0 {
                        let front = &mut self.write_queue[0];
                        if front.len() <= n {
                            n -= front.len();
                            self.write_queue.pop_front();
                        } else {
                            front.advance(n);
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.close(Some(e.into()), finish);
                    return;
                }
            }
        }
        while let Some((end, _)) = self.write_futures.front() {
            if *end > self.written {
                break;
            }
            if let Some((_, f)) = self.write_futures.pop_front() {
                finish.writes.push((f, Ok(())));
            }
        }
        if self.close_after_writes && self.write_queue.is_empty() && !self.in_read_callback {
            self.close(None, finish);
        }
    }

    fn close(&mut self, error: Option<Error>, finish: &mut Finish) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Some(e) = &error {
            log::debug!("stream closed: {e}");
            self.error = Some(Box::new(e.clone()));
        }
        self.settle_read_after_close(finish);
        for (_, f) in self.write_futures.drain(..) {
            finish.writes.push((f, Err(Error::StreamClosed)));
        }
        self.write_queue.clear();
        self.write_queued = 0;
        if let Some(token) = self.token.take() {
            // Deregisters the fd and drops the handler's copy of the socket.
            if let Err(e) = self.handle.remove_handler(token) {
                log::debug!("stream handler already gone: {e}");
            }
        }
        self.socket = None; // closes the descriptor (the handler's copy is gone)
        if let Some(t) = self.idle_timer.take() {
            self.handle.cancel_timer(t);
        }
        if let Some(cb) = self.close_callback.take() {
            // Like Tornado, the close callback runs on the next iteration.
            self.handle.add_callback(move || cb(error));
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let mut finish = Finish::default();
        let custom = match self.state.try_borrow_mut() {
            Ok(mut s) => {
                s.close(None, &mut finish);
                match s.read.take() {
                    Some(PendingRead::Custom(parse)) => {
                        Some((parse, std::mem::take(&mut s.read_buf)))
                    }
                    _ => None,
                }
            }
            Err(_) => None,
        };
        finish.run();
        if let Some((parse, mut buf)) = custom {
            parse(&mut buf, true);
        }
    }
}
