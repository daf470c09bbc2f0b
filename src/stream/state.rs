//! The stream's state behind its `RefCell`, and the work it does with the borrow held:
//! reading into the buffer, completing simple reads, writing the queue, closing. Work
//! that must run without the borrow (resolving futures) is collected in [`Finish`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use super::buffer::{
    pool_put, pool_take, IDLE_READ_LIMIT, MAX_IOV, MIN_READ, NEW_BUFFER_CAPACITY, READS_PER_EVENT,
    READ_CHUNK,
};
use super::read::{Check, ReadRequest};
use super::{Socket, StreamOptions};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Handle, Interest, TimerId, Token};

/// A custom read's parser. Shared (`Rc`) so an owner that reads message after message
/// (the HTTP connection) installs the same one each time without allocating.
pub(crate) type CustomRead = Rc<dyn Fn(&mut BytesMut, bool) -> bool>;
pub(super) type CloseCallback = Box<dyn FnOnce(Option<Error>)>;
pub(super) type EofCallback = Box<dyn FnOnce()>;

pub(super) enum PendingRead {
    Simple(ReadRequest, Future<Bytes>),
    /// `read_with`: the parser is called with the buffer (and whether the stream is
    /// closed); it returns `true` once it resolved its own future.
    Custom(CustomRead),
}

/// What one queued write costs beside its payload: its `Bytes` in the queue's ring
/// (which holds up to twice the entries in use), and the allocator's share of the
/// payload's block and of the header `Bytes` adds to a buffer frozen with spare
/// capacity (a minimum chunk each, plus rounding).
pub(crate) const WRITE_ENTRY_COST: usize = 2 * std::mem::size_of::<Bytes>() + 2 * 32;
/// What a write's future costs while pending: its slot in the queue of futures (doubled,
/// as above) and the future's own allocation.
pub(crate) const WRITE_FUTURE_COST: usize =
    2 * std::mem::size_of::<(u64, Future<()>)>() + Future::<()>::heap_cost();
/// A drained queue whose ring grew beyond this many slots gives its memory back.
const KEEP_SLOTS: usize = 16;

/// The memory a write of `len` bytes adds to the queue, with its future or not.
pub(crate) fn write_cost(len: usize, with_future: bool) -> usize {
    let entry = if len > 0 { len + WRITE_ENTRY_COST } else { 0 };
    entry + if with_future { WRITE_FUTURE_COST } else { 0 }
}

pub(crate) struct State {
    /// The stream itself, for registering its socket again (see `set_interest`).
    pub(super) me: Weak<Shared>,
    pub(super) handle: Handle,
    pub(super) socket: Option<Rc<Socket>>,
    pub(super) token: Option<Token>,
    pub(super) interest: Interest,
    /// [`StreamOptions::max_buffer_size`].
    pub(super) max_buffer_size: usize,
    /// [`StreamOptions::max_write_buffer_size`]; `usize::MAX`: unbounded.
    pub(super) max_write_buffer_size: usize,
    pub(super) read_buf: BytesMut,
    pub(super) read: Option<PendingRead>,
    pub(super) write_queue: VecDeque<Bytes>,
    pub(super) write_queued: usize,
    /// Pending write futures (boxed, and only while some wait: a write whose bytes reach
    /// the kernel at once resolves without one).
    pub(super) waits: Option<Box<WriteWaits>>,
    pub(super) closed: bool,
    /// Boxed: rarely set, and every idle stream would otherwise carry its 48 bytes.
    pub(super) error: Option<Box<Error>>,
    pub(super) close_callback: Option<CloseCallback>,
    /// The idle timeout and the peer check (boxed: most streams never have either).
    pub(super) timers: Option<Box<Timers>>,
    /// A custom read callback is running (outside the borrow): writes are corked until
    /// it returns, so pipelined responses leave in one `writev`.
    pub(super) in_read_callback: bool,
    /// Close once the write queue is flushed.
    pub(super) close_after_writes: bool,
    /// Set by `IoStream::set_eof_callback`: the peer's end-of-file does not close the
    /// stream, it runs this instead (once).
    pub(super) eof_callback: Option<EofCallback>,
    /// End-of-file was read and the stream kept open for writing: nothing more is read.
    pub(super) read_eof: bool,
    /// The peer's shutdown was seen behind unread bytes while reading was paused (see
    /// `peer_check`) and the end-of-file callback ran: reaching that end-of-file later
    /// ends reads without calling back again.
    pub(super) peer_shut_down: bool,
}

/// Write futures waiting for their bytes to reach the kernel. `accepted` and `written`
/// count bytes from the moment this was made (when `accepted - written` bytes were
/// queued); a future resolves once `written` reaches its mark.
#[derive(Default)]
pub(super) struct WriteWaits {
    pub(super) accepted: u64,
    pub(super) written: u64,
    pub(super) futures: VecDeque<(u64, Future<()>)>,
}

/// A stream's rarely used timers.
#[derive(Default)]
pub(super) struct Timers {
    pub(super) idle: Option<IdleTimeout>,
    /// The timer asking whether the peer shut down while reading is paused.
    pub(super) peer_check: Option<TimerId>,
}

/// An idle timeout: its length, when the stream last made progress, and its timer.
pub(super) struct IdleTimeout {
    pub(super) timeout: Duration,
    pub(super) last_activity: Duration,
    pub(super) timer: Option<TimerId>,
}

pub(crate) struct Shared {
    pub(super) state: RefCell<State>,
}

/// Work to finish after the state borrow is released.
#[derive(Default)]
pub(super) struct Finish {
    pub(super) read: Option<(Future<Bytes>, Result<Bytes>)>,
    pub(super) writes: Vec<(Future<()>, Result<()>)>,
    /// The close callback, if the stream closed: it runs after the done-callbacks of
    /// the reads and writes the close settled (see [`Closing`]). Boxed, as `eof`: both
    /// are rare, and a `Finish` is made (and dropped) several times per request.
    pub(super) closing: Option<Box<Closing>>,
    /// The end-of-file callback, if the peer shut down its side: scheduled like the
    /// close callback, and before it.
    pub(super) eof: Option<Box<Closing>>,
    /// An end-of-file callback the stream no longer needs (it closed): dropped after the
    /// state borrow is released, in case its captures hold the stream.
    pub(super) unused_eof: Option<EofCallback>,
}

impl Finish {
    /// Settles the futures, then schedules the close callback behind their
    /// done-callbacks.
    pub(super) fn run(&mut self) {
        let eof = self.eof.take();
        let closing = self.closing.take();
        self.settle();
        if let Some(e) = eof {
            (*e).schedule();
        }
        if let Some(c) = closing {
            (*c).schedule();
        }
    }

    /// Settles the futures only; the caller schedules `closing` itself (after a custom
    /// read it still has to run).
    pub(super) fn settle(&mut self) {
        if let Some((f, r)) = self.read.take() {
            f.set(r);
        }
        if !self.writes.is_empty() {
            for (f, r) in self.writes.drain(..) {
                f.set(r);
            }
        }
        drop(self.unused_eof.take());
    }

    /// Nothing to settle or schedule (the usual case: a check is cheaper than the work).
    pub(super) fn is_empty(&self) -> bool {
        self.read.is_none()
            && self.writes.is_empty()
            && self.closing.is_none()
            && self.eof.is_none()
            && self.unused_eof.is_none()
    }
}

/// A close callback waiting to be scheduled, with the error it gets.
pub(super) struct Closing(CloseCallback, Option<Error>, Handle);

impl Closing {
    /// The end-of-file callback, to be scheduled as a close callback is.
    pub(super) fn eof(cb: EofCallback, handle: Handle) -> Closing {
        Closing(Box::new(move |_| cb()), None, handle)
    }

    /// Queues the close callback behind the done-callbacks of every future settled
    /// before it (as Tornado runs the last read's callbacks before the close callback:
    /// the last data is processed before teardown code runs): a done-callback of a
    /// future resolved now hands it to the loop, so it also never runs inside the
    /// current call.
    pub(super) fn schedule(self) {
        let Closing(cb, error, handle) = self;
        let fired = Future::new();
        fired.add_done_callback(move |_: &Future<()>| handle.add_callback(move || cb(error)));
        fired.set_result(());
    }
}

impl State {
    pub(super) fn touch(&mut self) {
        if let Some(idle) = self.timers.as_mut().and_then(|t| t.idle.as_mut()) {
            idle.last_activity = self.handle.coarse_now();
        }
    }

    /// The idle timeout, if the stream has one.
    pub(super) fn idle(&mut self) -> Option<&mut IdleTimeout> {
        self.timers.as_mut().and_then(|t| t.idle.as_mut())
    }

    /// The rarely used timers, made on first use.
    pub(super) fn timers(&mut self) -> &mut Timers {
        self.timers.get_or_insert_with(Default::default)
    }

    /// The options this stream was made with (as changed since).
    pub(super) fn options(&self) -> StreamOptions {
        StreamOptions {
            max_buffer_size: self.max_buffer_size,
            max_write_buffer_size: (self.max_write_buffer_size != usize::MAX)
                .then_some(self.max_write_buffer_size),
            idle_timeout: self
                .timers
                .as_ref()
                .and_then(|t| t.idle.as_ref())
                .map(|i| i.timeout),
        }
    }

    /// The write futures, made on first use: their byte counts start from the bytes
    /// queued now.
    pub(super) fn waits(&mut self) -> &mut WriteWaits {
        let queued = self.write_queued as u64;
        self.waits.get_or_insert_with(|| {
            Box::new(WriteWaits {
                accepted: queued,
                ..WriteWaits::default()
            })
        })
    }

    /// Pending write futures.
    fn pending_waits(&self) -> usize {
        self.waits.as_ref().map_or(0, |w| w.futures.len())
    }

    /// The queued writes' real memory cost: payload plus per-entry and per-future
    /// overhead (see [`WRITE_ENTRY_COST`], [`WRITE_FUTURE_COST`]). The write limit
    /// bounds this, not the payload alone.
    pub(super) fn write_cost(&self) -> usize {
        self.write_queued
            + self.write_queue.len() * WRITE_ENTRY_COST
            + self.pending_waits() * WRITE_FUTURE_COST
    }

    /// Gives back the rings' memory once drained, if a burst grew them.
    fn shrink_write_queues(&mut self) {
        if self.write_queue.is_empty() && self.write_queue.capacity() > KEEP_SLOTS {
            self.write_queue = VecDeque::new();
        }
        if self.waits.as_ref().is_some_and(|w| w.futures.is_empty()) {
            // Made again by the next write that must wait: an idle stream holds none.
            self.waits = None;
        }
    }

    pub(super) fn desired_interest(&self) -> Interest {
        if let Some(i) = self.tls_interest() {
            return i;
        }
        let mut i = Interest::NONE;
        let watches_peer = self.close_callback.is_some() || self.eof_callback.is_some();
        let wants_read =
            self.read.is_some() || (watches_peer && self.read_buf.len() < self.read_limit());
        if wants_read && !self.close_after_writes && !self.read_eof {
            i |= Interest::READABLE;
        }
        if !self.write_queue.is_empty() || self.tls_wants_write() {
            i |= Interest::WRITABLE;
        }
        i
    }

    /// Why a write of `chunks` (with a future if `with_future`) is refused, if it is:
    /// the stream is closed or closing, or it would take the queue beyond
    /// `max_write_buffer_size` (each chunk is a queue entry; the future is counted once).
    pub(super) fn refusal(&self, chunks: &[Bytes], with_future: bool) -> Option<Error> {
        let cost = chunks
            .iter()
            .map(|c| write_cost(c.len(), false))
            .sum::<usize>()
            + write_cost(0, with_future);
        if self.closed || self.close_after_writes {
            Some(Error::StreamClosed)
        } else if self.write_cost() + cost > self.max_write_buffer_size {
            Some(Error::StreamBufferFull)
        } else {
            None
        }
    }

    /// Queues an accepted write's chunks (empty ones take no entry).
    pub(super) fn enqueue<const N: usize>(&mut self, chunks: [Bytes; N]) {
        let len: usize = chunks.iter().map(Bytes::len).sum();
        if let Some(w) = self.waits.as_mut() {
            w.accepted += len as u64;
        }
        self.write_queued += len;
        let slots = chunks.iter().filter(|c| !c.is_empty()).count();
        if self.write_queue.capacity() == 0 && slots > 0 {
            // As many slots as this write needs, not VecDeque's default four: an idle
            // keep-alive connection keeps this allocation (32 B for one).
            self.write_queue.reserve_exact(slots);
        }
        for data in chunks {
            if !data.is_empty() {
                self.write_queue.push_back(data);
            }
        }
    }

    /// Brings the registered interest in line with what the stream needs, except that
    /// READABLE is dropped lazily: a read that just completed is usually followed by the
    /// next one within the iteration (a done-callback starts it), and dropping then
    /// re-adding READABLE costs two `epoll_ctl` per message. If none follows, the next
    /// readable event finds nothing wanted and drops it then (`on_event`).
    pub(super) fn update_interest(&mut self) {
        self.set_interest(true);
    }

    pub(super) fn set_interest(&mut self, lazy: bool) {
        // Inside a read callback, writes are corked and `drive_custom` settles the
        // interest once it returns: no WRITABLE on/off around every response.
        if self.closed || self.in_read_callback {
            return;
        }
        self.arm_peer_check();
        let mut want = self.desired_interest();
        if lazy && self.interest.is_readable() && !self.close_after_writes && !self.read_eof {
            want |= Interest::READABLE;
        }
        if self.read_eof && want == Interest::NONE {
            // Half-closed with nothing to write: leave the poller. A silent registration
            // is not silent here, epoll reports a peer's reset or hang-up whatever the
            // interest (level-triggered: on every poll). The next write finds that out.
            if let Some(token) = self.token.take()
                && let Err(e) = self.handle.remove_handler(token)
            {
                log::debug!("stream handler already gone: {e}");
            }
            self.interest = Interest::NONE;
            return;
        }
        match self.token {
            Some(token) if want != self.interest => match self.handle.update_handler(token, want) {
                Ok(()) => self.interest = want,
                Err(e) => log::error!("could not update stream interest: {e}"),
            },
            Some(_) => {}
            None => {
                // Left the poller while half-closed (above): register again.
                let Some(socket) = self.socket.clone() else {
                    return;
                };
                match super::register(&self.handle, socket, want, self.me.clone()) {
                    Ok(token) => {
                        self.token = Some(token);
                        self.interest = want;
                    }
                    Err(e) => log::error!("could not register the stream again: {e}"),
                }
            }
        }
    }

    /// Most bytes the read buffer may hold now: `max_buffer_size` while a read is
    /// pending; with none, enough to notice a close (and never more than the limit).
    pub(super) fn read_limit(&self) -> usize {
        let max = self.max_buffer_size;
        if self.read.is_some() {
            max
        } else {
            max.min(IDLE_READ_LIMIT)
        }
    }

    /// Reads from the socket at most what the buffer can still hold, leaving the rest
    /// in the kernel (backpressure on the peer). A pending read that already saw a full
    /// buffer needs more than `max_buffer_size`: one byte more tells whether the peer
    /// has it (the read fails with `StreamBufferFull`) or closed (the read is settled
    /// as closed, e.g. `read_until_close` gets the full buffer).
    pub(super) fn handle_read(&mut self, finish: &mut Finish) {
        let Some(socket) = self.socket.clone() else {
            return;
        };
        for i in 0..READS_PER_EVENT {
            let room = self.read_limit().saturating_sub(self.read_buf.len());
            let want = if room > 0 {
                room.min(READ_CHUNK)
            } else if i == 0 && self.read.is_some() {
                1
            } else {
                break;
            };
            let fresh = self.read_buf.capacity() == 0;
            if fresh {
                self.read_buf = pool_take();
            }
            // A later read of the same event follows one that filled the buffer: more
            // may be queued in the kernel right now (a large message). Asking how much
            // lets the buffer grow once by that, not double (and copy) its way up.
            let want = self.reserve_read(want, || if i > 0 { socket.queued() } else { 0 });
            let got = socket.read_into(&mut self.read_buf, want);
            if fresh && self.read_buf.is_empty() {
                // Nothing came: an idle stream keeps holding no buffer.
                pool_put(std::mem::take(&mut self.read_buf));
            }
            match got {
                Ok(0) => {
                    self.try_read(finish);
                    if let Some(cb) = self.eof_callback.take() {
                        // Half-close: reads end as at a close, writes go on.
                        self.read_eof = true;
                        self.settle_read_after_close(finish);
                        finish.eof = Some(Box::new(Closing::eof(cb, self.handle.clone())));
                    } else if self.peer_shut_down {
                        // Its callback already ran (see `peer_check`).
                        self.read_eof = true;
                        self.settle_read_after_close(finish);
                    } else {
                        self.close(None, finish);
                    }
                    return;
                }
                Ok(n) => {
                    self.touch();
                    if self.read_buf.len() > self.max_buffer_size {
                        // Only the probe gets here: the pending read needs more than the
                        // limit. As documented, it fails with the cause (closing would
                        // fail it with StreamClosed, or hand read_until_close a silently
                        // truncated buffer).
                        if let Some(PendingRead::Simple(_, f)) =
                            self.read.take_if(|r| matches!(r, PendingRead::Simple(..)))
                        {
                            finish.read = Some((f, Err(Error::StreamBufferFull)));
                        }
                        self.close(Some(Error::StreamBufferFull), finish);
                        return;
                    }
                    if n < want {
                        break; // the socket is drained
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

    /// Makes room in the read buffer for the next socket read of at most `want` bytes
    /// and returns how many it will ask for (1 to `want`). The socket writes straight
    /// into the buffer's spare capacity; the buffer grows only when its spare room is
    /// small, so a small request does not make it large. It grows by doubling (from
    /// `NEW_BUFFER_CAPACITY`), or, if more than that is `queued` in the kernel (asked
    /// only here, where the buffer must grow), by what is queued and a little more, so
    /// one read takes it all: a large message already received is copied once on its
    /// way in, not at every doubling. Never by more than `want`, and never beyond
    /// doubling unless the peer really sent the bytes.
    fn reserve_read(&mut self, want: usize, queued: impl FnOnce() -> usize) -> usize {
        let len = self.read_buf.len();
        let spare = self.read_buf.capacity() - len;
        if spare < want.min(MIN_READ) {
            let doubling = len.max(NEW_BUFFER_CAPACITY);
            let grow = doubling.max(queued().saturating_add(MIN_READ));
            self.read_buf.reserve(want.min(grow));
        }
        want.min(self.read_buf.capacity() - self.read_buf.len())
    }

    /// Completes the pending read if the buffer satisfies it.
    pub(super) fn try_read(&mut self, finish: &mut Finish) {
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
    #[inline]
    pub(super) fn release_empty_buffer(&mut self) {
        if self.read_buf.is_empty() {
            pool_put(std::mem::take(&mut self.read_buf));
        }
    }

    /// A read started or still pending on a closed stream (or one that read the peer's
    /// end-of-file): serve it from the buffer, or fail it. A custom read stays pending:
    /// its parser is called with `closed = true`.
    pub(super) fn settle_read_after_close(&mut self, finish: &mut Finish) {
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

    pub(super) fn handle_write(&mut self, finish: &mut Finish) {
        let Some(socket) = self.socket.clone() else {
            return;
        };
        if !self.tls_flush(finish) {
            return;
        }
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
                    if let Some(w) = self.waits.as_mut() {
                        w.written += n as u64;
                    }
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
                    // A peer that stopped reading may have answered first (an HTTP
                    // server's early 413): a pending read gets what it sent.
                    if self.read.is_some() {
                        self.handle_read(finish);
                    }
                    self.close(Some(e.into()), finish);
                    return;
                }
            }
        }
        if let Some(w) = self.waits.as_mut() {
            while let Some((end, _)) = w.futures.front() {
                if *end > w.written {
                    break;
                }
                if let Some((_, f)) = w.futures.pop_front() {
                    finish.writes.push((f, Ok(())));
                }
            }
        }
        self.shrink_write_queues();
        if self.close_after_writes
            && self.write_queue.is_empty()
            && !self.tls_wants_write()
            && !self.in_read_callback
        {
            self.close(None, finish);
        }
    }

    pub(super) fn close(&mut self, error: Option<Error>, finish: &mut Finish) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Some(e) = &error {
            log::debug!("stream closed: {e}");
            self.error = Some(Box::new(e.clone()));
        }
        self.settle_read_after_close(finish);
        if let Some(mut w) = self.waits.take() {
            for (_, f) in w.futures.drain(..) {
                finish.writes.push((f, Err(Error::StreamClosed)));
            }
        }
        self.write_queue.clear();
        self.write_queued = 0;
        self.tls_on_close(error.as_ref());
        if let Some(token) = self.token.take() {
            // Deregisters the fd and drops the handler's copy of the socket.
            if let Err(e) = self.handle.remove_handler(token) {
                log::debug!("stream handler already gone: {e}");
            }
        }
        self.socket = None; // closes the descriptor (the handler's copy is gone)
        if let Some(t) = self.idle().and_then(|i| i.timer.take()) {
            self.handle.cancel_timer(t);
        }
        self.cancel_peer_check();
        finish.unused_eof = self.eof_callback.take();
        if let Some(cb) = self.close_callback.take() {
            // Like Tornado, the close callback runs from the loop, after the read and
            // write futures settled here (see `Closing::schedule`).
            finish.closing = Some(Box::new(Closing(cb, error, self.handle.clone())));
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
        let closing = finish.closing.take();
        finish.settle();
        if let Some((parse, mut buf)) = custom {
            parse(&mut buf, true);
        }
        if let Some(c) = closing {
            (*c).schedule();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_idle_stream_holds_little_state() {
        // What every connection holds for its stream (inside its `Rc`): the rarely used
        // parts (write futures, the idle timeout, an error) are boxed, the limits are
        // two words, and tokens and timer ids fit their options: 240 B, from 376 B.
        let size = std::mem::size_of::<super::Shared>();
        assert!(size <= 240, "the stream's state is {size} B");
    }
}
