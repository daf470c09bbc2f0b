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

mod buffer;
#[cfg(test)]
mod half_close_tests;
mod peer_check;
mod read;
#[cfg(test)]
mod read_bound_tests;
mod socket;
mod state;
mod tls;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use self::buffer::{CORK_LIMIT, MAX_IOV};
use self::read::ReadRequest;
pub use self::socket::Socket;
pub use self::socket::TlsSocket;
pub(crate) use self::state::CustomRead;
use self::state::{Closing, Finish, IdleTimeout, PendingRead, Shared, State, Timers};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Event, Handle, Interest, Token};

/// Limits and timeouts of an [`IoStream`]. Start from `Default` and change what you
/// need with the setters named after each field (or assign the public fields): new settings can be
/// added without breaking anyone.
///
/// ```
/// use std::time::Duration;
/// use squall::stream::StreamOptions;
/// let options = StreamOptions::default()
///     .max_buffer_size(64 * 1024)
///     .idle_timeout(Some(Duration::from_secs(30)));
/// assert_eq!(options.max_buffer_size, 64 * 1024);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Most bytes the read buffer may hold (default 100 MiB, as Tornado). The stream
    /// takes from the socket only what fits and leaves the rest in the kernel, so many
    /// small reads may consume far more than this in total; only a read that *needs*
    /// more (a `read_bytes` larger than the limit, a delimiter not within it, a
    /// `read_until_close` of a longer stream) fails with [`Error::StreamBufferFull`]
    /// and closes the stream.
    pub max_buffer_size: usize,
    /// Most memory queued writes may take; a write beyond it fails with
    /// [`Error::StreamBufferFull`] (the stream stays open). `None`: unbounded. Each
    /// write counts at its real cost, payload plus per-write overhead (see
    /// [`IoStream::write_buffer_cost`]), so many tiny writes cannot hold far more memory
    /// than the limit says.
    pub max_write_buffer_size: Option<usize>,
    /// Close the stream with [`Error::Timeout`] after this long without any read or
    /// write progress. Costs one timer per stream, re-armed only when it fires, and
    /// cancelled when the stream closes. A huge value (up to `Duration::MAX`) means
    /// "never".
    pub idle_timeout: Option<Duration>,
}

impl StreamOptions {
    /// Sets [`max_buffer_size`](Self::max_buffer_size).
    #[must_use]
    pub fn max_buffer_size(mut self, bytes: usize) -> Self {
        self.max_buffer_size = bytes;
        self
    }

    /// Sets [`max_write_buffer_size`](Self::max_write_buffer_size).
    #[must_use]
    pub fn max_write_buffer_size(mut self, bytes: Option<usize>) -> Self {
        self.max_write_buffer_size = bytes;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }
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

const ALREADY_READING: &str = "a read is already pending";

/// Registers the stream's socket with the reactor; the handler holds the stream weakly.
fn register(
    handle: &Handle,
    socket: Rc<Socket>,
    interest: Interest,
    weak: Weak<Shared>,
) -> Result<Token> {
    handle.add_handler(socket, interest, move |_s, ev| {
        if let Some(shared) = weak.upgrade() {
            IoStream { shared }.on_event(ev);
        }
    })
}

/// A buffered non-blocking stream. Cloning gives another handle to the same stream;
/// dropping the last handle closes it.
#[derive(Clone)]
#[doc(alias = "IOStream")]
pub struct IoStream {
    shared: Rc<Shared>,
}

/// Armed around a custom parser: dropped only if it panics (see `drive_custom`).
struct ParserPanic<'a>(&'a IoStream);

impl Drop for ParserPanic<'_> {
    fn drop(&mut self) {
        // Unwinding: no borrow of the state is live here (the parser runs outside it).
        let Ok(mut s) = self.0.shared.state.try_borrow_mut() else {
            return;
        };
        s.in_read_callback = false;
        let handle = s.handle.clone();
        drop(s);
        let stream = self.0.clone();
        handle.add_callback(move || {
            stream.close_with(Some(Error::Panicked("a read_with parser panicked".into())));
        });
    }
}

impl fmt::Debug for IoStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.state.borrow();
        f.debug_struct("IoStream")
            .field("closed", &s.closed)
            .field("read_eof", &s.read_eof)
            .field("buffered", &s.read_buf.len())
            .field("write_queued", &s.write_queued)
            .finish()
    }
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
        Self::from_nonblocking(handle, socket, options, Interest::NONE)
    }

    /// Wraps a socket that is already non-blocking (e.g. accepted with `SOCK_NONBLOCK`),
    /// registered with `interest` from the start: no system call beyond the one
    /// registration.
    pub(crate) fn from_nonblocking(
        handle: &Handle,
        socket: Rc<Socket>,
        options: StreamOptions,
        interest: Interest,
    ) -> Result<IoStream> {
        let idle = options.idle_timeout;
        let now = handle.coarse_now();
        let shared = Rc::new_cyclic(|me| Shared {
            state: RefCell::new(State {
                me: me.clone(),
                handle: handle.clone(),
                socket: Some(socket.clone()),
                token: None,
                interest: Interest::NONE,
                max_buffer_size: options.max_buffer_size,
                max_write_buffer_size: options.max_write_buffer_size.unwrap_or(usize::MAX),
                read_buf: BytesMut::new(),
                read: None,
                write_queue: VecDeque::new(),
                write_queued: 0,
                waits: None,
                closed: false,
                error: None,
                close_callback: None,
                timers: idle.map(|timeout| {
                    Box::new(Timers {
                        idle: Some(IdleTimeout {
                            timeout,
                            last_activity: now,
                            timer: None,
                        }),
                        peer_check: None,
                    })
                }),
                in_read_callback: false,
                close_after_writes: false,
                eof_callback: None,
                read_eof: false,
                peer_shut_down: false,
            }),
        });
        let token = register(handle, socket, interest, Rc::downgrade(&shared))?;
        {
            let mut s = shared.state.borrow_mut();
            s.token = Some(token);
            s.interest = interest;
        }
        let stream = IoStream { shared };
        if let Some(t) = idle {
            stream.arm_idle_timer(t);
        }
        Ok(stream)
    }

    /// Reads up to and including `delimiter`. With `max_bytes`, fails with
    /// [`Error::UnsatisfiableRead`] (and closes the stream) if the delimiter does not
    /// appear within that many bytes.
    #[must_use = "a dropped read still consumes the stream's next bytes"]
    pub fn read_until(&self, delimiter: &[u8], max_bytes: Option<usize>) -> Future<Bytes> {
        self.start_read(ReadRequest::Until {
            delimiter: delimiter.into(),
            max_bytes: max_bytes.unwrap_or(usize::MAX),
            scanned: 0,
        })
    }

    /// Reads exactly `n` bytes; with `partial`, resolves as soon as 1 to `n` bytes are
    /// there.
    #[must_use = "a dropped read still consumes the stream's next bytes"]
    pub fn read_bytes(&self, n: usize, partial: bool) -> Future<Bytes> {
        self.start_read(ReadRequest::Bytes { n, partial })
    }

    /// Reads everything until the peer closes (bounded by `max_buffer_size`).
    #[must_use = "a dropped read still consumes the stream's next bytes"]
    pub fn read_until_close(&self) -> Future<Bytes> {
        self.start_read(ReadRequest::UntilClose)
    }

    /// A read driven by your own parser: `parse` is called with the read buffer each
    /// time data arrives (and once more when the stream closes, with `closed = true`);
    /// it consumes what it used (e.g. `buf.split_to(n)`) and returns `Ok(Some(v))` when
    /// done, `Ok(None)` for more data, or an error that fails the read and closes the
    /// stream. This is how the HTTP layer parses heads and bodies in place. A parser
    /// that panics closes the stream with [`Error::Panicked`] (the loop's panic policy
    /// applies to the panic itself).
    #[must_use = "a dropped read still consumes the stream's next bytes"]
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
        if self.start(PendingRead::Custom(custom)).is_err() {
            fut.set_error(Error::invalid_state(ALREADY_READING));
        }
        fut
    }

    /// Crate-internal `read_with` without a future: `parse` returns `true` when it is
    /// done reading (it is called with `closed = true` at most once, last).
    pub(crate) fn read_callback(&self, parse: CustomRead) {
        if self.start(PendingRead::Custom(parse)).is_err() {
            log::error!("IoStream: {ALREADY_READING}");
        }
    }

    fn start_read(&self, req: ReadRequest) -> Future<Bytes> {
        let fut = Future::new();
        if self.start(PendingRead::Simple(req, fut.clone())).is_err() {
            fut.set_error(Error::invalid_state(ALREADY_READING));
        }
        fut
    }

    /// Makes `pending` the stream's read and serves it from the buffer if it can.
    /// Hands it back if another read is pending (one read at a time, as Tornado).
    fn start(&self, pending: PendingRead) -> std::result::Result<(), PendingRead> {
        let mut finish;
        {
            let mut s = self.shared.state.borrow_mut();
            if s.read.is_some() {
                return Err(pending);
            }
            if s.in_read_callback && s.tls().is_none() && matches!(pending, PendingRead::Custom(_))
            {
                // The next parser, set from inside the current one (a server's next
                // request): `drive_custom` runs it on what is buffered and settles the
                // interest once the current parser returns.
                s.read = Some(pending);
                return Ok(());
            }
            finish = Finish::default();
            s.read = Some(pending);
            s.try_read(&mut finish);
            s.tls_read_buffered(&mut finish);
            if s.closed || s.read_eof {
                s.settle_read_after_close(&mut finish);
            }
            s.update_interest();
        }
        self.complete(&mut finish);
        self.tls_after_read();
        Ok(())
    }

    /// Settles what a state change finished, runs a custom read on what is buffered,
    /// and only then schedules the close callback (so a custom read's last result is
    /// processed before it, as a simple read's is).
    fn complete(&self, finish: &mut Finish) {
        let mut closing = finish.closing.take();
        let eof = finish.eof.take();
        if !finish.is_empty() {
            finish.settle();
        }
        // (The custom read may yet close the stream: its close callback is then due.)
        self.drive_custom(&mut closing);
        if let Some(e) = eof {
            (*e).schedule();
        }
        if let Some(c) = closing {
            (*c).schedule();
        }
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
        self.write_chunks([data], fut)
    }

    /// Queues `head` then `tail` as one write: accepted or refused together, and when
    /// nothing else is queued they reach the kernel in one vectored system call (a
    /// frame header and the payload it is not copied into, for instance). Returns
    /// `false` if refused, like [`write_and_forget`](Self::write_and_forget).
    pub(crate) fn write_pair_and_forget(&self, head: Bytes, tail: Bytes) -> bool {
        self.write_chunks([head, tail], None)
    }

    /// [`write_pair_and_forget`](Self::write_pair_and_forget) with a future that
    /// resolves once both reached the kernel, as [`write`](Self::write)'s.
    pub(crate) fn write_pair(&self, head: Bytes, tail: Bytes) -> Future<()> {
        let fut = Future::new();
        self.write_chunks([head, tail], Some(fut.clone()));
        fut
    }

    #[inline]
    fn write_chunks<const N: usize>(&self, chunks: [Bytes; N], fut: Option<Future<()>>) -> bool {
        if fut.is_none() && self.shared.state.borrow().in_read_callback {
            return self.queue_corked(chunks);
        }
        let mut finish = Finish::default();
        let accepted = {
            let mut s = self.shared.state.borrow_mut();
            if let Some(e) = s.refusal(&chunks, fut.is_some()) {
                if let Some(f) = fut {
                    finish.writes.push((f, Err(e)));
                }
                false
            } else {
                let was_empty = s.write_queue.is_empty();
                s.enqueue(chunks);
                let wrote = was_empty && !s.in_read_callback;
                if wrote {
                    s.handle_write(&mut finish);
                }
                if let Some(f) = fut {
                    if wrote && s.closed {
                        // The write failed and closed the stream (which fails every
                        // pending write this way).
                        finish.writes.push((f, Err(Error::StreamClosed)));
                    } else if wrote && s.write_queued == 0 {
                        // All of it reached the kernel already: no queue entry.
                        finish.writes.push((f, Ok(())));
                    } else {
                        // Resolves once everything queued now (this write last) is
                        // written.
                        let w = s.waits();
                        let end = w.accepted;
                        w.futures.push_back((end, f));
                    }
                }
                s.update_interest();
                true
            }
        };
        finish.run();
        self.settle_custom_read_later();
        accepted
    }

    /// A write without a future from inside a read callback (a server's response): only
    /// queued, as nothing can settle now. The writes go out together when the callback
    /// returns (`drive_custom`).
    fn queue_corked<const N: usize>(&self, chunks: [Bytes; N]) -> bool {
        let mut s = self.shared.state.borrow_mut();
        let accepted = s.refusal(&chunks, false).is_none();
        if accepted {
            s.enqueue(chunks);
        }
        accepted
    }

    /// Resolves once at most `max_queued` bytes are still waiting to be written (on the
    /// next iteration if that already holds); fails with [`Error::StreamClosed`] if the
    /// stream closes first. This is backpressure in one line: stop producing (e.g.
    /// reading from the peer you echo to) while [`write_buffer_len`](Self::write_buffer_len)
    /// is above a high-water mark, resume when this resolves.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::{stream::IoStream, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = IoStream::new(&reactor.handle(), a)?;
    /// a.write_and_forget(vec![0u8; 4 << 20]); // more than the kernel takes at once
    /// assert!(a.write_buffer_len() > 0);
    /// let drained = a.drained_to(0);
    /// let reader = std::thread::spawn(move || {
    ///     std::io::copy(&mut &b, &mut std::io::sink())
    /// });
    /// reactor.run_until(&drained)?;
    /// assert_eq!(a.write_buffer_len(), 0);
    /// drop(a);
    /// assert_eq!(reader.join().unwrap()?, 4 << 20);
    /// # Ok(()) }
    /// ```
    pub fn drained_to(&self, max_queued: usize) -> Future<()> {
        let fut = Future::new();
        let outcome = {
            let mut s = self.shared.state.borrow_mut();
            if s.closed {
                Some(Err(Error::StreamClosed))
            } else if s.write_queued <= max_queued {
                Some(Ok(()))
            } else {
                // Written bytes are counted from the stream's start: at most `max_queued`
                // are queued once `written` reaches this mark. The write futures resolve
                // in order of their marks, so it goes in its sorted place.
                let w = s.waits();
                let mark = w.accepted - max_queued as u64;
                let at = w.futures.partition_point(|(end, _)| *end <= mark);
                w.futures.insert(at, (mark, fut.clone()));
                None
            }
        };
        if let Some(r) = outcome {
            fut.set(r);
        }
        fut
    }

    /// A write that failed closed the stream: a pending `read_with` parser gets the
    /// data read before the close and the close itself from the loop (not inside the
    /// caller's `write`), instead of waiting for an event that will never come.
    fn settle_custom_read_later(&self) {
        let s = self.shared.state.borrow();
        if !(s.closed && matches!(s.read, Some(PendingRead::Custom(_)))) {
            return;
        }
        let weak = Rc::downgrade(&self.shared);
        s.handle.add_callback(move || {
            if let Some(shared) = weak.upgrade() {
                IoStream { shared }.complete(&mut Finish::default());
            }
        });
    }

    /// Closes the stream: pending reads fail with [`Error::StreamClosed`] (except
    /// `read_until_close`, which gets what arrived), queued writes are dropped and their
    /// futures fail, the idle timer is cancelled. The close callback runs from the loop,
    /// after the done-callbacks of those reads and writes. Idempotent.
    pub fn close(&self) {
        self.close_with(None);
    }

    fn close_with(&self, error: Option<Error>) {
        let mut finish = Finish::default();
        self.shared.state.borrow_mut().close(error, &mut finish);
        self.complete(&mut finish);
    }

    /// Closes the stream once every queued write reached the kernel (at once if none
    /// is queued). Reads stop now.
    pub fn close_after_writes(&self) {
        let now = {
            let mut s = self.shared.state.borrow_mut();
            s.close_after_writes = true;
            s.write_queue.is_empty() && !s.tls_wants_write() && !s.in_read_callback
        };
        if now {
            self.close();
        }
    }

    /// Runs a pending custom read (`read_with`) on the buffered data, outside the state
    /// borrow so the parser may call back into the stream (write, close, start the next
    /// read). A read started from inside the callback runs next, on what is left in the
    /// buffer; writes made meanwhile go out together when the callback returns. If the
    /// stream closes meanwhile, the close callback is left in `closing` for the caller
    /// to schedule after the parser's last call.
    fn drive_custom(&self, closing: &mut Option<Box<Closing>>) {
        loop {
            let (parse, mut buf, closed) = {
                let mut s = self.shared.state.borrow_mut();
                if s.in_read_callback {
                    return;
                }
                let ended = s.closed || s.read_eof;
                let runnable = matches!(s.read, Some(PendingRead::Custom(_)))
                    && (!s.read_buf.is_empty() || ended);
                if !runnable {
                    return;
                }
                let Some(PendingRead::Custom(parse)) = s.read.take() else {
                    return;
                };
                s.in_read_callback = true;
                (parse, std::mem::take(&mut s.read_buf), ended)
            };
            // A parser that panics (the loop catches it) must not leave the stream
            // believing a callback still runs: writes would queue forever. The stream
            // is closed from the loop with the panic as its error, as Tornado closes a
            // stream whose callback raised.
            let unwinding = ParserPanic(self);
            let done = parse(&mut buf, closed) || closed;
            std::mem::forget(unwinding);
            let mut finish = Finish::default();
            let (leftover, replaced) = {
                let mut s = self.shared.state.borrow_mut();
                s.in_read_callback = false;
                if !s.read_buf.is_empty() {
                    buf.extend_from_slice(&s.read_buf);
                }
                s.read_buf = buf;
                let replaced = !done && s.read.is_some();
                let leftover = if done || replaced {
                    Some(parse) // finished, or replaced by a newer read
                } else {
                    s.read = Some(PendingRead::Custom(parse));
                    None
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
                    if s.close_after_writes && s.write_queue.is_empty() && !s.tls_wants_write() {
                        s.close(None, &mut finish);
                    }
                    s.update_interest();
                }
                (leftover, replaced)
            };
            drop(leftover);
            if let Some(c) = finish.closing.take() {
                *closing = Some(c);
            }
            finish.settle();
            // A stream closed meanwhile calls a still pending parser once more, with
            // `closed = true` (the loop's next turn). A parser replaced by a newer read
            // hands that read what is buffered now.
            if !done && !replaced && !self.is_closed() {
                return;
            }
        }
    }

    /// The reactor handle this stream is registered with.
    pub(crate) fn handle(&self) -> Handle {
        self.shared.state.borrow().handle.clone()
    }

    /// True once the stream is closed (by us, the peer, an error or a timeout).
    pub fn is_closed(&self) -> bool {
        self.shared.state.borrow().closed
    }

    /// The error that closed the stream, if any.
    pub fn error(&self) -> Option<Error> {
        self.shared.state.borrow().error.as_deref().cloned()
    }

    /// Calls `f` once when the stream closes, with the error that closed it (if any),
    /// from the loop and after the done-callbacks of the reads and writes the close
    /// completed (so the last data is processed before teardown). If it is already
    /// closed, `f` runs on the next iteration.
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

    /// Whether input is waiting that no read has taken: bytes buffered, or bytes or an
    /// end of stream (or an error) in the kernel, checked now with a non-blocking peek,
    /// without the loop running. For pools deciding whether an idle connection is clean.
    pub(crate) fn has_unread_input(&self) -> bool {
        let s = self.shared.state.borrow();
        if !s.read_buf.is_empty() {
            return true;
        }
        let Some(socket) = &s.socket else {
            return true;
        };
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
        match socket2::SockRef::from(&**socket).peek(&mut byte) {
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            Ok(_) => true, // data, or 0: the peer closed
        }
    }

    /// Keeps the stream open for writing when the peer shuts down its writing side
    /// (half-close: `shutdown(SHUT_WR)`), and calls `f` once when that end-of-file is
    /// read. Without it, end-of-file closes the stream.
    ///
    /// At end-of-file the stream stops reading and ends the pending read as a close
    /// would (`read_until_close` gets what arrived, a `read_with` parser is called with
    /// `closed = true`, other reads are served from the buffer or fail with
    /// [`Error::StreamClosed`]; so do reads started later), but it stays open: writes go
    /// on until you [`close`](Self::close) it (or
    /// [`close_after_writes`](Self::close_after_writes)). `f` runs from the loop, after
    /// the done-callbacks of the read it ended. End-of-file is noticed while a read is
    /// pending or a close callback or this callback is set.
    ///
    /// The trade-off: on the wire a half-close is the same FIN as a peer that left. Such
    /// a stream learns that the peer is gone only when a write fails (the peer's kernel
    /// answers it with a reset); then it closes with that error as usual. Set this only
    /// if you will write soon after end-of-file or close the stream.
    ///
    /// A second call replaces the callback. If end-of-file was already read, `f` runs on
    /// the next iteration; on a closed stream it never runs (the close callback tells).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use std::io::{Read, Write};
    /// use squall::{stream::IoStream, Future, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = IoStream::new(&reactor.handle(), a)?;
    /// let eof = Future::new();
    /// let e = eof.clone();
    /// a.set_eof_callback(move || e.set_result(()));
    /// b.write_all(b"question")?;
    /// b.shutdown(std::net::Shutdown::Write)?; // the peer is done sending
    /// assert_eq!(&reactor.run_until(&a.read_until_close())?[..], b"question");
    /// reactor.run_until(&eof)?;
    /// assert!(a.is_read_closed() && !a.is_closed());
    /// reactor.run_until(&a.write(&b"answer"[..]))?; // still writable
    /// a.close();
    /// let mut got = String::new();
    /// b.read_to_string(&mut got)?;
    /// assert_eq!(got, "answer");
    /// # Ok(()) }
    /// ```
    pub fn set_eof_callback(&self, f: impl FnOnce() + 'static) {
        let mut s = self.shared.state.borrow_mut();
        if s.closed {
            return;
        }
        if s.read_eof {
            let handle = s.handle.clone();
            drop(s);
            handle.add_callback(f);
        } else {
            let old = s.eof_callback.replace(Box::new(f));
            s.update_interest();
            drop(s);
            drop(old);
        }
    }

    /// Removes the end-of-file callback: end-of-file closes the stream again (an
    /// end-of-file already read stays read, see [`is_read_closed`](Self::is_read_closed)).
    pub fn clear_eof_callback(&self) {
        let old = self.shared.state.borrow_mut().eof_callback.take();
        drop(old);
    }

    /// True once nothing more will be read: the peer's end-of-file was read (see
    /// [`set_eof_callback`](Self::set_eof_callback)) or the stream is closed.
    pub fn is_read_closed(&self) -> bool {
        let s = self.shared.state.borrow();
        s.read_eof || s.closed
    }

    /// Bytes buffered and not yet consumed by a read.
    pub fn buffered(&self) -> usize {
        self.shared.state.borrow().read_buf.len()
    }

    /// Bytes queued and not yet written to the kernel.
    pub fn write_buffer_len(&self) -> usize {
        self.shared.state.borrow().write_queued
    }

    /// Whether anything is still to be written: queued writes, or TLS records the
    /// session holds (a `close_notify`, ciphertext the socket did not take).
    pub(crate) fn writes_pending(&self) -> bool {
        let s = self.shared.state.borrow();
        !s.write_queue.is_empty() || s.tls_wants_write()
    }

    /// The memory the queued writes take: their bytes plus what each queued write and
    /// each pending write future costs beside them (its queue slot and allocations).
    /// This is what [`StreamOptions::max_write_buffer_size`] bounds.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::{stream::IoStream, Reactor};
    /// let reactor = Reactor::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = IoStream::new(&reactor.handle(), a)?;
    /// a.write_and_forget(vec![0u8; 8 << 20]); // more than the kernel takes at once
    /// for _ in 0..1000 {
    ///     a.write_and_forget(&b"hi"[..]);
    /// }
    /// // 2 bytes each, but each queued write costs far more than 2 bytes.
    /// assert!(a.write_buffer_cost() >= a.write_buffer_len() + 1000 * 64);
    /// # Ok(()) }
    /// ```
    pub fn write_buffer_cost(&self) -> usize {
        self.shared.state.borrow().write_cost()
    }

    /// The memory a write of `len` bytes would add to [`write_buffer_cost`](Self::write_buffer_cost).
    pub(crate) fn write_cost_of(len: usize, with_future: bool) -> usize {
        state::write_cost(len, with_future)
    }

    /// True while a read is pending.
    pub fn reading(&self) -> bool {
        self.shared.state.borrow().read.is_some()
    }

    /// Sets or clears the idle timeout (see [`StreamOptions::idle_timeout`]). On a
    /// closed stream it arms nothing.
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        let (old, closed) = {
            let mut s = self.shared.state.borrow_mut();
            let old = s.idle().and_then(|i| i.timer.take());
            let idle = timeout.map(|timeout| IdleTimeout {
                timeout,
                last_activity: s.handle.coarse_now(),
                timer: None,
            });
            if idle.is_some() || s.timers.is_some() {
                s.timers().idle = idle;
            }
            (old.map(|t| (s.handle.clone(), t)), s.closed)
        };
        if let Some((h, t)) = old {
            h.cancel_timer(t);
        }
        if let (Some(t), false) = (timeout, closed) {
            self.arm_idle_timer(t);
        }
    }

    /// Arms the idle timer, unless `delay` reaches beyond any representable instant
    /// (e.g. `Duration::MAX`): that timeout is "never", and needs no timer.
    fn arm_idle_timer(&self, delay: Duration) {
        let handle = self.shared.state.borrow().handle.clone();
        if handle.deadline_after(delay).is_none() {
            return;
        }
        let weak = Rc::downgrade(&self.shared);
        let id = handle.call_later(delay, move || {
            let Some(shared) = weak.upgrade() else { return };
            let stream = IoStream { shared };
            let next = {
                let mut s = stream.shared.state.borrow_mut();
                let now = s.handle.coarse_now();
                let closed = s.closed;
                match s.idle() {
                    Some(i) if !closed => {
                        i.timer = None;
                        let idle = now.saturating_sub(i.last_activity);
                        Some(i.timeout.checked_sub(idle))
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
        match self.shared.state.borrow_mut().idle() {
            Some(i) => i.timer = Some(id),
            None => {
                handle.cancel_timer(id);
            }
        }
    }

    /// Sets `TCP_NODELAY` (no-op for Unix sockets and pipes).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn set_nodelay(&self, yes: bool) -> Result<()> {
        match self.socket()?.as_ref() {
            Socket::Tcp(s) => Ok(s.set_nodelay(yes)?),
            Socket::Unix(_) | Socket::Pipe(_) => Ok(()),
            Socket::Tls(t) => match t.inner() {
                Socket::Tcp(s) => Ok(s.set_nodelay(yes)?),
                _ => Ok(()),
            },
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
        if self.tls_on_event() {
            return;
        }
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
        self.complete(&mut finish);
        self.tls_after_read();
    }
}
