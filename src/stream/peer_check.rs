//! Noticing that the peer left while reading is paused.
//!
//! A stream watching its peer (a close or end-of-file callback set) with no read pending
//! reads ahead only so far ([`IDLE_READ_LIMIT`](super::buffer::IDLE_READ_LIMIT)); once
//! that is full it stops asking for readable events, and the peer's end-of-file waits in
//! the kernel behind bytes nobody reads. epoll could report it (`EPOLLRDHUP`), but the
//! poller registers no such interest. So in that state only, a timer asks the kernel
//! every [`PEER_CHECK_INTERVAL`] with a non-blocking `poll` for `POLLRDHUP`, reading
//! nothing: the read-ahead bound holds. When the peer has shut down, the stream does what
//! reading that end-of-file would have done: it closes, or, with an end-of-file callback,
//! runs that callback (the bytes before the end-of-file stay readable).

use std::rc::Rc;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::state::{Closing, Finish, Shared, State};

/// How often a paused stream asks whether its peer shut down (reactor clock).
pub(super) const PEER_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What the kernel says about the peer of a paused stream.
enum Peer {
    Present,
    /// It shut down its sending side (`POLLRDHUP`): end-of-file behind unread bytes.
    ShutDown,
    /// The connection is gone (hang-up or error).
    Gone,
}

impl State {
    /// Reading is paused because the read-ahead is full, while someone watches the peer.
    fn paused_watching_peer(&self) -> bool {
        !self.closed
            && !self.read_eof
            && !self.peer_shut_down
            && self.read.is_none()
            && (self.close_callback.is_some() || self.eof_callback.is_some())
            && self.socket.is_some()
            && self.tls_interest().is_none()
            && self.read_buf.len() >= self.read_limit()
    }

    /// Arms the peer check if the stream is paused watching its peer and none is armed.
    /// Cheap when not needed; called wherever the interest is settled.
    #[inline]
    pub(super) fn arm_peer_check(&mut self) {
        if self.read.is_some() || self.closed {
            return; // the usual case: not paused
        }
        self.arm_paused_peer_check();
    }

    fn arm_paused_peer_check(&mut self) {
        let armed = self.timers.as_ref().is_some_and(|t| t.peer_check.is_some());
        if armed || !self.paused_watching_peer() {
            return;
        }
        let weak = self.me.clone();
        let id = self.handle.call_later(PEER_CHECK_INTERVAL, move || {
            if let Some(shared) = weak.upgrade() {
                check_peer(shared);
            }
        });
        self.timers().peer_check = Some(id);
    }

    /// Cancels the peer check (the stream closes).
    pub(super) fn cancel_peer_check(&mut self) {
        if let Some(t) = self.timers.as_mut().and_then(|t| t.peer_check.take()) {
            self.handle.cancel_timer(t);
        }
    }

    fn poll_peer(&self) -> Peer {
        let Some(socket) = &self.socket else {
            return Peer::Gone;
        };
        let mut fds = [PollFd::new(&**socket, PollFlags::RDHUP)];
        match poll(
            &mut fds,
            Some(&Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        ) {
            Ok(0) => Peer::Present,
            Ok(_) => {
                let got = fds[0].revents();
                if got.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                    Peer::Gone
                } else if got.contains(PollFlags::RDHUP) {
                    Peer::ShutDown
                } else {
                    Peer::Present
                }
            }
            Err(e) => {
                log::debug!("could not poll a paused stream's peer: {e}");
                Peer::Present
            }
        }
    }
}

/// The timer's work: ask once, act, and re-arm while still paused.
fn check_peer(shared: Rc<Shared>) {
    let mut finish = Finish::default();
    {
        let mut s = shared.state.borrow_mut();
        if let Some(t) = s.timers.as_mut() {
            t.peer_check = None;
        }
        if !s.paused_watching_peer() {
            return; // reading resumed; a later pause arms a new check
        }
        match s.poll_peer() {
            Peer::Present => {}
            Peer::Gone => s.close(None, &mut finish),
            Peer::ShutDown => match s.eof_callback.take() {
                Some(cb) => {
                    // Reading goes on when a read asks for it; the end-of-file it then
                    // reaches ends reads without calling back again (`read_eof`).
                    s.peer_shut_down = true;
                    finish.eof = Some(Box::new(Closing::eof(cb, s.handle.clone())));
                }
                None => s.close(None, &mut finish),
            },
        }
        s.arm_peer_check();
    }
    finish.run();
}
