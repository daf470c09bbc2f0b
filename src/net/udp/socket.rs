//! The socket itself: receive dispatch, the send queue, and the socket options.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::{Rc, Weak};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};

use super::UdpOptions;
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Event, Handle, Interest, Token};

/// Larger than any UDP payload (65 507 bytes over IPv4, 65 527 over IPv6), so no datagram
/// is truncated. One per thread, shared by every socket; each datagram is copied out at
/// its own size.
const SCRATCH_SIZE: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_SIZE]);
}

type DatagramCallback = Rc<RefCell<dyn FnMut(Bytes, SocketAddr)>>;

/// A non-blocking UDP socket on the loop.
///
/// Receive either with a callback ([`on_datagram`](Self::on_datagram)) or one datagram at
/// a time ([`recv_from`](Self::recv_from)); the socket asks the loop for readability only
/// while one of them wants data, and reads at most
/// [`max_datagrams_per_turn`](UdpOptions::max_datagrams_per_turn) datagrams per event.
/// [`send_to`](Self::send_to) sends at once when the kernel has room, and otherwise queues
/// the datagram until it has: its future resolves when the datagram was handed to the
/// kernel. The queue is bounded ([`max_send_queue`](UdpOptions::max_send_queue)); a send
/// beyond it fails with [`Error::QueueFull`] — nothing is dropped silently.
///
/// Cloning gives another handle to the same socket; dropping the last one closes it.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::net::UdpSocket;
/// let mut reactor = squall::Reactor::new()?;
/// let handle = reactor.handle();
/// let server = UdpSocket::bind(&handle, "127.0.0.1:0".parse().unwrap())?;
/// let echo = server.clone();
/// server.on_datagram(move |data, from| {
///     echo.send_to(data, from);
/// });
/// let client = UdpSocket::bind(&handle, "127.0.0.1:0".parse().unwrap())?;
/// client.connect(server.local_addr()?)?;
/// client.send(&b"ping"[..]);
/// let (reply, from) = reactor.run_until(&client.recv_from())?;
/// assert_eq!((&reply[..], from), (&b"ping"[..], server.local_addr()?));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UdpSocket {
    inner: Rc<Inner>,
}

struct Inner {
    handle: Handle,
    state: RefCell<State>,
}

struct State {
    /// `None` once closed.
    socket: Option<Rc<std::net::UdpSocket>>,
    token: Option<Token>,
    interest: Interest,
    options: UdpOptions,
    on_datagram: Option<DatagramCallback>,
    waiters: VecDeque<Future<(Bytes, SocketAddr)>>,
    queue: VecDeque<Queued>,
    /// Memory held by `queue`, payloads plus entries.
    queued: usize,
    full_logged: bool,
}

struct Queued {
    data: Bytes,
    to: Option<SocketAddr>,
    done: Future<()>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.borrow();
        f.debug_struct("UdpSocket")
            .field(
                "local_addr",
                &s.socket.as_ref().and_then(|s| s.local_addr().ok()),
            )
            .field("closed", &s.socket.is_none())
            .field("send_queued", &s.queued)
            .finish()
    }
}

fn raw_send(socket: &std::net::UdpSocket, data: &[u8], to: Option<SocketAddr>) -> io::Result<()> {
    loop {
        let r = match to {
            Some(addr) => socket.send_to(data, addr),
            None => socket.send(data),
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r.map(|_| ()),
        }
    }
}

impl UdpSocket {
    /// Binds `addr` (IPv4 or IPv6; port 0 picks a free port) with default [`UdpOptions`].
    ///
    /// # Errors
    /// [`Error::Io`] from `socket` or `bind` (the message names the address).
    pub fn bind(handle: &Handle, addr: SocketAddr) -> Result<UdpSocket> {
        Self::bind_with(handle, addr, UdpOptions::default())
    }

    /// Binds `addr` with `options` (`SO_REUSEPORT`, buffer sizes, bounds).
    ///
    /// # Errors
    /// As [`bind`](Self::bind).
    pub fn bind_with(handle: &Handle, addr: SocketAddr, options: UdpOptions) -> Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if options.reuse_address {
            socket.set_reuse_address(true)?;
        }
        if options.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            socket.set_only_v6(options.ipv6_only)?;
        }
        if let Some(n) = options.recv_buffer_size {
            socket.set_recv_buffer_size(n)?;
        }
        if let Some(n) = options.send_buffer_size {
            socket.set_send_buffer_size(n)?;
        }
        socket
            .bind(&addr.into())
            .map_err(|e| io::Error::new(e.kind(), format!("bind udp {addr}: {e}")))?;
        Self::from_std(handle, socket.into(), options)
    }

    /// Wraps a bound standard socket (made non-blocking here).
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be made non-blocking or registered with the loop.
    pub fn from_std(
        handle: &Handle,
        socket: std::net::UdpSocket,
        options: UdpOptions,
    ) -> Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        let socket = Rc::new(socket);
        let inner = Rc::new(Inner {
            handle: handle.clone(),
            state: RefCell::new(State {
                socket: Some(socket.clone()),
                token: None,
                interest: Interest::NONE,
                options,
                on_datagram: None,
                waiters: VecDeque::new(),
                queue: VecDeque::new(),
                queued: 0,
                full_logged: false,
            }),
        });
        let weak: Weak<Inner> = Rc::downgrade(&inner);
        let token = handle.add_handler(socket, Interest::NONE, move |_, ev| {
            if let Some(inner) = weak.upgrade() {
                inner.on_event(ev);
            }
        })?;
        inner.state.borrow_mut().token = Some(token);
        Ok(UdpSocket { inner })
    }

    /// Calls `f` with every datagram received and its sender, from the loop, until
    /// [`clear_on_datagram`](Self::clear_on_datagram) or [`close`](Self::close). Pending
    /// [`recv_from`](Self::recv_from) futures are served first. Replaces an earlier
    /// callback.
    pub fn on_datagram(&self, f: impl FnMut(Bytes, SocketAddr) + 'static) {
        let cb: DatagramCallback = Rc::new(RefCell::new(f));
        let old = {
            let mut s = self.inner.state.borrow_mut();
            if s.socket.is_none() {
                return;
            }
            s.on_datagram.replace(cb)
        };
        drop(old);
        self.inner.update_interest();
    }

    /// Stops calling the [`on_datagram`](Self::on_datagram) callback (and drops it).
    pub fn clear_on_datagram(&self) {
        let old = self.inner.state.borrow_mut().on_datagram.take();
        drop(old);
        self.inner.update_interest();
    }

    /// The next datagram and its sender. Several may be pending; they are served in order.
    /// Fails with [`Error::StreamClosed`] if the socket is closed first, with
    /// [`Error::Io`] for an error the socket reports (an ICMP "port unreachable" on a
    /// connected socket, for example).
    pub fn recv_from(&self) -> Future<(Bytes, SocketAddr)> {
        let socket = {
            let s = self.inner.state.borrow();
            match &s.socket {
                None => return Future::failed(Error::StreamClosed),
                Some(sock) if s.waiters.is_empty() => Some(sock.clone()),
                Some(_) => None,
            }
        };
        if let Some(socket) = socket {
            match recv(&socket) {
                Ok(got) => return Future::ready(got),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Future::failed(e.into()),
            }
        }
        let fut = Future::new();
        self.inner.state.borrow_mut().waiters.push_back(fut.clone());
        self.inner.update_interest();
        fut
    }

    /// Sends one datagram to `to`. Resolves once the kernel took it: at once when its send
    /// buffer has room, otherwise when the loop finds room (datagrams leave in order).
    /// Fails with [`Error::QueueFull`] if queueing it would exceed
    /// [`max_send_queue`](UdpOptions::max_send_queue), with [`Error::Io`] for the kernel's
    /// refusal (a datagram too large, an unreachable network), with
    /// [`Error::StreamClosed`] if the socket is closed before it was sent.
    pub fn send_to(&self, data: impl Into<Bytes>, to: SocketAddr) -> Future<()> {
        self.inner.send(data.into(), Some(to))
    }

    /// Sends one datagram to the peer set by [`connect`](Self::connect); as
    /// [`send_to`](Self::send_to).
    pub fn send(&self, data: impl Into<Bytes>) -> Future<()> {
        self.inner.send(data.into(), None)
    }

    /// Fixes the peer: [`send`](Self::send) goes to it, and only its datagrams are received.
    ///
    /// # Errors
    /// [`Error::Io`] from `connect`; [`Error::StreamClosed`] if closed.
    pub fn connect(&self, peer: SocketAddr) -> Result<()> {
        Ok(self.socket()?.connect(peer)?)
    }

    /// The bound address (with the port chosen for port 0).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::StreamClosed`] if closed.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket()?.local_addr()?)
    }

    /// The peer set by [`connect`](Self::connect).
    ///
    /// # Errors
    /// [`Error::Io`] (`NotConnected` when there is none); [`Error::StreamClosed`] if closed.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket()?.peer_addr()?)
    }

    /// Joins an IPv4 multicast group on the interface with address `interface`
    /// (`Ipv4Addr::UNSPECIFIED`: the kernel's choice).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> Result<()> {
        Ok(self.socket()?.join_multicast_v4(&group, &interface)?)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    /// As [`join_multicast_v4`](Self::join_multicast_v4).
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> Result<()> {
        Ok(self.socket()?.leave_multicast_v4(&group, &interface)?)
    }

    /// Joins an IPv6 multicast group on the interface with index `interface` (0: the
    /// kernel's choice).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> Result<()> {
        Ok(self.socket()?.join_multicast_v6(&group, interface)?)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    /// As [`join_multicast_v6`](Self::join_multicast_v6).
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> Result<()> {
        Ok(self.socket()?.leave_multicast_v6(&group, interface)?)
    }

    /// Whether multicast datagrams we send to a group we joined come back to us (IPv4).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn set_multicast_loop_v4(&self, on: bool) -> Result<()> {
        Ok(self.socket()?.set_multicast_loop_v4(on)?)
    }

    /// Whether multicast datagrams we send to a group we joined come back to us (IPv6).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn set_multicast_loop_v6(&self, on: bool) -> Result<()> {
        Ok(self.socket()?.set_multicast_loop_v6(on)?)
    }

    /// Hop limit of IPv4 multicast datagrams we send (default 1: this network only).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> Result<()> {
        Ok(self.socket()?.set_multicast_ttl_v4(ttl)?)
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    ///
    /// # Errors
    /// [`Error::Io`] from `setsockopt`; [`Error::StreamClosed`] if closed.
    pub fn set_broadcast(&self, on: bool) -> Result<()> {
        Ok(self.socket()?.set_broadcast(on)?)
    }

    /// Bytes (at real cost) waiting in the send queue for room in the kernel.
    pub fn send_queued(&self) -> usize {
        self.inner.state.borrow().queued
    }

    /// True once [`close`](Self::close)d.
    pub fn is_closed(&self) -> bool {
        self.inner.state.borrow().socket.is_none()
    }

    /// Closes the socket: pending `recv_from`s and queued sends fail with
    /// [`Error::StreamClosed`], the callback is dropped, the descriptor is released.
    pub fn close(&self) {
        self.inner.close();
    }

    fn socket(&self) -> Result<Rc<std::net::UdpSocket>> {
        self.inner
            .state
            .borrow()
            .socket
            .clone()
            .ok_or(Error::StreamClosed)
    }
}

fn recv(socket: &std::net::UdpSocket) -> io::Result<(Bytes, SocketAddr)> {
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        loop {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => return Ok((Bytes::copy_from_slice(&buf[..n]), from)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    })
}

impl Inner {
    fn on_event(&self, ev: Event) {
        if ev.is_writable() {
            self.flush();
        }
        if ev.is_readable() {
            self.read_some();
        }
        self.update_interest();
    }

    /// Reads up to `max_datagrams_per_turn` datagrams, while someone wants them.
    fn read_some(&self) {
        let max = self.state.borrow().options.max_datagrams_per_turn;
        for _ in 0..max {
            let socket = {
                let mut s = self.state.borrow_mut();
                while s.waiters.front().is_some_and(Future::is_done) {
                    s.waiters.pop_front(); // cancelled by its holder
                }
                match &s.socket {
                    Some(sock) if !s.waiters.is_empty() || s.on_datagram.is_some() => sock.clone(),
                    _ => return,
                }
            };
            match recv(&socket) {
                Ok((data, from)) => self.deliver(data, from),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let waiter = self.state.borrow_mut().waiters.pop_front();
                    match waiter {
                        Some(w) => {
                            let _ = w.try_set(Err(e.into()));
                        }
                        None => log::debug!("udp receive error: {e}"),
                    }
                }
            }
        }
    }

    fn deliver(&self, data: Bytes, from: SocketAddr) {
        let waiter = self.state.borrow_mut().waiters.pop_front();
        if let Some(w) = waiter {
            let _ = w.try_set_result((data, from));
            return;
        }
        let cb = self.state.borrow().on_datagram.clone();
        if let Some(cb) = cb {
            // A callback that re-enters the loop cannot run itself again; skip then.
            if let Ok(mut f) = cb.try_borrow_mut() {
                f(data, from);
            }
        }
    }

    fn send(&self, data: Bytes, to: Option<SocketAddr>) -> Future<()> {
        let mut s = self.state.borrow_mut();
        let Some(socket) = s.socket.clone() else {
            return Future::failed(Error::StreamClosed);
        };
        if s.queue.is_empty() {
            match raw_send(&socket, &data, to) {
                Ok(()) => return Future::ready(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Future::failed(e.into()),
            }
        }
        let cost = data.len() + std::mem::size_of::<Queued>();
        if s.queued + cost > s.options.max_send_queue {
            if !s.full_logged {
                s.full_logged = true;
                log::warn!(
                    "udp send queue full ({} of {} bytes): refusing datagrams",
                    s.queued,
                    s.options.max_send_queue
                );
            }
            return Future::failed(Error::QueueFull);
        }
        let done = Future::new();
        s.queued += cost;
        s.queue.push_back(Queued {
            data,
            to,
            done: done.clone(),
        });
        drop(s);
        self.update_interest();
        done
    }

    /// Sends queued datagrams while the kernel takes them.
    fn flush(&self) {
        let mut s = self.state.borrow_mut();
        let Some(socket) = s.socket.clone() else {
            return;
        };
        while let Some(q) = s.queue.front() {
            let r = raw_send(&socket, &q.data, q.to);
            if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                break;
            }
            let q = s.queue.pop_front().expect("front exists");
            s.queued -= q.data.len() + std::mem::size_of::<Queued>();
            let _ = q.done.try_set(r.map_err(Error::from));
        }
        if s.queue.is_empty() {
            s.full_logged = false;
        }
    }

    fn update_interest(&self) {
        let mut s = self.state.borrow_mut();
        let Some(token) = s.token else {
            return;
        };
        let mut want = Interest::NONE;
        if s.on_datagram.is_some() || !s.waiters.is_empty() {
            want |= Interest::READABLE;
        }
        if !s.queue.is_empty() {
            want |= Interest::WRITABLE;
        }
        if want != s.interest {
            s.interest = want;
            drop(s);
            if let Err(e) = self.handle.update_handler(token, want) {
                log::debug!("udp: cannot update readiness interest: {e}");
            }
        }
    }

    fn close(&self) {
        let (token, waiters, queue, cb, socket) = {
            let mut s = self.state.borrow_mut();
            s.queued = 0;
            (
                s.token.take(),
                std::mem::take(&mut s.waiters),
                std::mem::take(&mut s.queue),
                s.on_datagram.take(),
                s.socket.take(),
            )
        };
        if let Some(token) = token {
            let _ = self.handle.remove_handler(token);
        }
        drop((cb, socket));
        for w in waiters {
            let _ = w.try_set(Err(Error::StreamClosed));
        }
        for q in queue {
            let _ = q.done.try_set(Err(Error::StreamClosed));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}
