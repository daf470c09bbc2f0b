//! The write side's limits: what a peer that sends but does not read may cost.
//!
//! - Pongs are coalesced (RFC 6455 §5.5.3 allows answering only the latest ping): a
//!   ping is answered at once when nothing is queued, otherwise its pong waits for the
//!   queue to drain and replaces any pong still waiting. A ping flood queues one pong.
//! - Reading waits while our writes do not drain (a pong waits behind them, or they
//!   fill `max_write_buffer_size`): the peer is held back through TCP. If they still
//!   have not drained after `write_timeout`, the connection is closed with 1008.
//! - A send refused because the write buffer is full closes the connection with 1008,
//!   logged once per connection.
//! - Only a pong carrying the keep-alive ping's (random) payload, or the payload of a
//!   ping sent after it, answers the keep-alive ping: unsolicited pongs do not keep a
//!   peer that never reads alive.

use std::rc::Rc;

use bytes::Bytes;

use super::super::close;
use super::super::frame::{Opcode, ProtocolError};
use super::super::handshake::mask_key;
use super::{ms, Inner};
use crate::future::Future;
use crate::reactor::TimerId;

impl Inner {
    /// Answers a ping: at once if nothing is queued, else once the queue drained
    /// (replacing a pong already waiting).
    pub(super) fn answer_ping(this: &Rc<Inner>, data: Bytes) {
        let first = {
            let mut st = this.st.borrow_mut();
            let waiting = st.timers.as_ref().is_some_and(|t| t.pong_due.is_some());
            if !waiting && this.stream.write_buffer_len() == 0 {
                drop(st);
                let _ = this.write_frame(Opcode::Pong, false, data, false);
                return;
            }
            st.t().pong_due.replace(data).is_none()
        };
        if first {
            let weak = Rc::downgrade(this);
            this.stream
                .drained_to(0)
                .add_done_callback(move |f: &Future<()>| {
                    let Some(inner) = weak.upgrade() else { return };
                    let due = inner.st.borrow_mut().t().pong_due.take();
                    let open = !inner.st.borrow().close_sent;
                    if let (Some(data), Some(Ok(())), true) = (due, f.result(), open) {
                        let _ = inner.write_frame(Opcode::Pong, false, data, false);
                    }
                });
        }
    }

    /// Stops reading while our writes do not drain: returns `true` (the read callback
    /// is done) after arranging to read again once they did, and to close the
    /// connection if that takes longer than `write_timeout`. Backed up means: the
    /// queue is at the write limit, or (`at_start`: when a read callback begins, as
    /// writes made inside one are only flushed after it) a pong from an earlier read
    /// still waits behind unwritten data.
    pub(super) fn pause_if_backed_up(this: &Rc<Inner>, at_start: bool) -> bool {
        let backed_up = {
            let st = this.st.borrow();
            let pong_waits = at_start
                && st.timers.as_ref().is_some_and(|t| t.pong_due.is_some())
                && this.stream.write_buffer_len() > 0;
            st.result.is_none()
                && (pong_waits || this.stream.write_buffer_cost() >= this.cfg.max_write_buffer_size)
        };
        if !backed_up {
            return false;
        }
        {
            let mut st = this.st.borrow_mut();
            st.reading = false;
            st.paused = true;
        }
        log::debug!("WebSocket: writes do not drain, reading paused");
        if let Some(timeout) = ms(this.cfg.write_timeout_ms) {
            let weak = Rc::downgrade(this);
            let t = this.handle.call_later(timeout, move || {
                let Some(inner) = weak.upgrade() else { return };
                inner.st.borrow_mut().t().write_stall = None;
                if inner.st.borrow().result.is_some() {
                    return;
                }
                log::warn!(
                    "WebSocket {}: the peer does not read what it is sent for {timeout:?}, closing (1008)",
                    inner.peer()
                );
                Inner::fail(
                    &inner,
                    ProtocolError::new(close::POLICY_VIOLATION, "write timeout"),
                );
                inner.stream.close();
            });
            this.replace_stall_timer(Some(t));
        }
        let weak = Rc::downgrade(this);
        this.stream
            .drained_to(0)
            .add_done_callback(move |_: &Future<()>| {
                let Some(inner) = weak.upgrade() else { return };
                inner.st.borrow_mut().paused = false;
                inner.replace_stall_timer(None);
                Inner::start_reading(&inner);
            });
        true
    }

    fn replace_stall_timer(&self, t: Option<TimerId>) {
        let old = std::mem::replace(&mut self.st.borrow_mut().t().write_stall, t);
        if let Some(old) = old {
            self.handle.cancel_timer(old);
        }
    }

    /// A send was refused because the write buffer is full: the peer does not read
    /// what it is sent. Closes the connection with 1008, logging it once.
    pub(super) fn cut_slow_reader(this: &Rc<Inner>) {
        {
            let st = this.st.borrow();
            // A close frame still waiting for messages in progress is not sent yet.
            if (st.close_sent && !st.close_due()) || st.result.is_some() {
                return;
            }
        }
        log::warn!(
            "WebSocket {}: write buffer full (the peer does not read), closing (1008)",
            this.peer()
        );
        Inner::fail(
            this,
            ProtocolError::new(close::POLICY_VIOLATION, "write buffer full"),
        );
        // Its close frame waits behind what it does not read: drop it now.
        this.stream.close();
    }

    /// A fresh random payload for the keep-alive ping, remembered until its pong.
    pub(super) fn keepalive_id(&self) -> [u8; 8] {
        let (a, b) = (mask_key(), mask_key());
        let id = [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]];
        let mut st = self.st.borrow_mut();
        let t = st.t();
        t.keepalive = Some(id);
        t.later_ping = None;
        id
    }

    /// Remembers a ping sent by the user while the keep-alive ping waits for its pong.
    pub(super) fn note_ping(&self, data: &Bytes) {
        let mut st = self.st.borrow_mut();
        if let Some(t) = st.timers.as_mut().filter(|t| t.pong.is_some()) {
            t.later_ping = Some(data.clone());
        }
    }

    /// The pong timer to cancel if `pong` answers the keep-alive ping (or a ping sent
    /// after it), else `None`.
    pub(super) fn answered(&self, pong: &[u8]) -> Option<TimerId> {
        let mut st = self.st.borrow_mut();
        let t = st.timers.as_mut()?;
        let ours = t.keepalive.is_some_and(|id| id[..] == *pong)
            || t.later_ping.as_ref().is_some_and(|p| p[..] == *pong);
        if !ours {
            return None;
        }
        t.keepalive = None;
        t.later_ping = None;
        t.pong.take()
    }

    fn peer(&self) -> String {
        match self.stream.peer_addr() {
            Ok(Some(a)) => a.to_string(),
            _ => "(unknown peer)".to_owned(),
        }
    }
}
