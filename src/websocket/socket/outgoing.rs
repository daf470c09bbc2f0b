//! Compressed sends in bounded steps: no connection's message holds the loop for long.
//!
//! - A message of at most [`COMPRESS_STEP`] bytes is compressed in one call and sent as
//!   one frame, at once (as an uncompressed one is).
//! - A larger one is compressed [`COMPRESS_STEP`] bytes per turn of the loop and sent as
//!   a fragmented message: the first frame carries the opcode and RSV1, continuation
//!   frames follow, the last has FIN. Other connections run between the steps, and
//!   control frames (pongs, pings) may go out between the fragments.
//! - Messages stay in order: a send made while one is in progress is queued behind it,
//!   and what waits there (its uncompressed payload and its bookkeeping) counts against
//!   `max_write_buffer_size` with what the stream holds. A send beyond that closes the
//!   connection with 1008, as a full write buffer does. The message in progress is held
//!   as the caller handed it over, as a send in one call holds it while compressing.
//! - `close()` while messages are in progress or queued sends them first, then the close
//!   frame (as everything a send accepted precedes the close frame). A close frame from
//!   the peer, or a failed connection, is answered at once: the rest is dropped (never
//!   followed by data of another message) and its futures fail with `StreamClosed`.
//! - A send's future resolves once its last frame reached the kernel.

use std::collections::VecDeque;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::super::close::write_close_payload;
use super::super::deflate::Compressor;
use super::super::frame::Opcode;
use super::{Inner, State};
use crate::error::Error;
use crate::future::{chain_future, Future};
use crate::stream::IoStream;

/// Most message bytes one connection compresses per turn of the loop, the inflating
/// step's size: at level 6, about 0.2 ms of work for text, about 1 ms for data that
/// hardly compresses.
pub(super) const COMPRESS_STEP: usize = 256 * 1024;

/// What a small message counts for within a turn's step: compressing even an empty one
/// costs a compressor reset.
const SMALL_CHARGE: usize = 4 * 1024;

/// A message accepted by `send`, waiting or in progress.
struct Job {
    opcode: Opcode,
    payload: Bytes,
    /// Bytes of `payload` compressed and written so far.
    at: usize,
    /// What it counts for against the write limit while it waits (0 once started).
    cost: usize,
    done: Future<()>,
}

/// The messages of a compressed connection being sent in steps, in order: the first is
/// in progress.
#[derive(Default)]
struct Outgoing {
    jobs: VecDeque<Job>,
    /// What the waiting jobs count for against `max_write_buffer_size`.
    queued_cost: usize,
    /// `close()` was called: its close frame's payload, sent after the jobs.
    close_due: Option<Bytes>,
}

/// The send side of a connection with permessage-deflate.
pub(super) struct Compression {
    pub(super) compressor: Compressor,
    /// Messages being sent in steps (boxed: only while a large message is sent).
    outgoing: Option<Box<Outgoing>>,
}

impl Compression {
    pub(super) fn new(compressor: Compressor) -> Self {
        Compression {
            compressor,
            outgoing: None,
        }
    }
}

/// What a message waiting behind another costs: its payload and queue entry as the
/// stream counts a write with a future, plus its slot here (doubled: a ring's slack).
fn job_cost(len: usize) -> usize {
    IoStream::write_cost_of(len, true) + 2 * std::mem::size_of::<Job>()
}

impl State {
    /// Drops the messages being sent (the connection closes or answers a close): returns
    /// their futures, to fail once the state is no longer borrowed.
    pub(super) fn drop_outgoing(&mut self) -> Vec<Future<()>> {
        let Some(c) = self.compression.as_deref_mut() else {
            return Vec::new();
        };
        let Some(out) = c.outgoing.take() else {
            return Vec::new();
        };
        c.compressor.abandon();
        out.jobs.into_iter().map(|j| j.done).collect()
    }

    /// A close frame waits for messages being sent in steps.
    pub(super) fn close_due(&self) -> bool {
        self.compression
            .as_ref()
            .and_then(|c| c.outgoing.as_ref())
            .is_some_and(|o| o.close_due.is_some())
    }

    /// With messages being sent in steps, arranges for the close frame (`code` and
    /// `reason`) to follow them and returns `true`; else returns `false`.
    pub(super) fn close_after_outgoing(&mut self, code: u16, reason: &str) -> bool {
        let Some(out) = self
            .compression
            .as_deref_mut()
            .and_then(|c| c.outgoing.as_deref_mut())
        else {
            return false;
        };
        let mut p = BytesMut::new();
        write_close_payload(&mut p, code, reason);
        out.close_due = Some(p.freeze());
        true
    }
}

/// Fails the futures of dropped messages.
pub(super) fn fail_all(dropped: Vec<Future<()>>) {
    for f in dropped {
        f.set_error(Error::StreamClosed);
    }
}

impl Inner {
    /// Whether a compressed send of `len` bytes goes through the step queue: it is
    /// large, or a message is in progress already.
    pub(super) fn sends_in_steps(st: &State, len: usize) -> bool {
        st.compression
            .as_ref()
            .is_some_and(|c| c.outgoing.is_some() || len > COMPRESS_STEP)
    }

    /// Queues a data message behind those in progress, or starts it in steps.
    pub(super) fn send_in_steps(this: &Rc<Inner>, opcode: Opcode, payload: Bytes) -> Future<()> {
        let done = Future::new().quiet();
        let first = {
            let mut st = this.st.borrow_mut();
            let Some(c) = st.compression.as_deref_mut() else {
                return Future::failed_quietly(Error::invalid_state("no compression"));
            };
            let mut job = Job {
                opcode,
                payload,
                at: 0,
                cost: 0,
                done: done.clone(),
            };
            match c.outgoing.as_deref_mut() {
                Some(out) => {
                    job.cost = job_cost(job.payload.len());
                    let full = this
                        .cfg
                        .max_write_buffer_size
                        .checked_sub(this.stream.write_buffer_cost() + out.queued_cost)
                        .is_none_or(|room| job.cost > room);
                    if full {
                        drop(st);
                        Inner::cut_slow_reader(this);
                        return Future::failed_quietly(Error::StreamBufferFull);
                    }
                    out.queued_cost += job.cost;
                    out.jobs.push_back(job);
                    false
                }
                None => {
                    let mut out = Box::<Outgoing>::default();
                    out.jobs.push_back(job);
                    c.outgoing = Some(out);
                    true
                }
            }
        };
        if first {
            Inner::send_step(this);
        }
        done
    }

    /// One turn's share of the queue: compresses and writes about [`COMPRESS_STEP`]
    /// bytes (one piece of a large message, or small messages up to that much), then
    /// lets other connections run and goes on from the loop.
    fn send_step(this: &Rc<Inner>) {
        let mut budget = COMPRESS_STEP;
        loop {
            let (opcode, fin, rsv1, data, done) = {
                let mut st = this.st.borrow_mut();
                let Some(Compression {
                    compressor: c,
                    outgoing: Some(out),
                }) = st.compression.as_deref_mut()
                else {
                    return; // dropped: the connection closed
                };
                let Some(job) = out.jobs.front_mut() else {
                    // All out: a close() that waited for them goes now.
                    let close = out.close_due.take();
                    if let Some(c) = st.compression.as_deref_mut() {
                        c.outgoing = None;
                    }
                    drop(st);
                    if let Some(p) = close {
                        this.write_close(p);
                    }
                    return;
                };
                let first = job.at == 0;
                let left = job.payload.len() - job.at;
                let whole = first && left <= COMPRESS_STEP;
                let charge = if whole {
                    left.max(SMALL_CHARGE)
                } else {
                    COMPRESS_STEP
                };
                if charge > budget {
                    drop(st);
                    let inner = this.clone();
                    this.handle.add_callback(move || Inner::send_step(&inner));
                    return;
                }
                budget -= charge;
                if first {
                    out.queued_cost -= job.cost;
                    job.cost = 0;
                }
                let n = left.min(COMPRESS_STEP);
                let piece = &job.payload[job.at..job.at + n];
                job.at += n;
                let last = job.at == job.payload.len();
                let data = if whole {
                    c.compress(piece)
                } else {
                    c.compress_piece(piece, last)
                };
                let opcode = if first {
                    job.opcode
                } else {
                    Opcode::Continuation
                };
                let done = if last {
                    out.jobs.pop_front().map(|j| j.done)
                } else {
                    None
                };
                (opcode, last, first, data, done)
            };
            match this.write_piece(opcode, fin, rsv1, data, done.is_some()) {
                Ok(Some(w)) => {
                    if let Some(d) = done {
                        chain_future(&w, &d);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // The peer does not read: this message fails as a send in one
                    // piece would, the connection closes (1008), the rest is dropped.
                    let d = done.or_else(|| {
                        let mut st = this.st.borrow_mut();
                        let out = st.compression.as_deref_mut()?.outgoing.as_deref_mut()?;
                        out.jobs.pop_front().map(|j| j.done)
                    });
                    if let Some(d) = d {
                        d.set_error(e);
                    }
                    Inner::cut_slow_reader(this);
                    let dropped = this.st.borrow_mut().drop_outgoing();
                    fail_all(dropped);
                    return;
                }
            }
        }
    }
}
