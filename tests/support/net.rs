//! Streams and the raw peers that feed them, over 127.0.0.1 or Unix-domain sockets (the
//! stream and TCP tests run each case over both): a peer that trickles bytes on the
//! reactor, partial reads collected, a listener that never answers.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use squall::stream::{IoStream, StreamOptions};
use squall::{Future, Handle};

use super::tcp_pair;

/// Which kind of socket a stream wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Unix,
}

pub const KINDS: [Kind; 2] = [Kind::Tcp, Kind::Unix];

/// How a peer sends its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Everything in one `write`.
    Burst,
    /// One byte per loop iteration (`add_callback`).
    PerIteration,
    /// One byte per timer tick (1 ms).
    PerTick,
}

pub const DELIVERIES: [Delivery; 3] = [Delivery::Burst, Delivery::PerIteration, Delivery::PerTick];

/// The raw end of a connection that a test drives by hand.
#[derive(Debug)]
pub enum Peer {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Peer {
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Peer::Tcp(s) => s.set_read_timeout(d),
            Peer::Unix(s) => s.set_read_timeout(d),
        }
    }
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Peer::Tcp(s) => s.read(buf),
            Peer::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Peer::Tcp(s) => s.write(buf),
            Peer::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A stream under test and the raw peer that feeds it.
pub fn stream_and_peer(handle: &Handle, kind: Kind) -> (IoStream, Peer) {
    stream_and_peer_with(handle, kind, StreamOptions::default())
}

pub fn stream_and_peer_with(
    handle: &Handle,
    kind: Kind,
    options: StreamOptions,
) -> (IoStream, Peer) {
    match kind {
        Kind::Tcp => {
            let (a, b) = tcp_pair();
            (
                IoStream::with_options(handle, a, options).unwrap(),
                Peer::Tcp(b),
            )
        }
        Kind::Unix => {
            let (a, b) = UnixStream::pair().unwrap();
            (
                IoStream::with_options(handle, a, options).unwrap(),
                Peer::Unix(b),
            )
        }
    }
}

/// Two connected streams whose kernel buffers are shrunk to `bytes` (so a test can
/// fill them with little data; TCP loopback otherwise grows them to megabytes).
pub fn stream_pair_small_buffers(
    handle: &Handle,
    kind: Kind,
    bytes: usize,
) -> (IoStream, IoStream) {
    fn shrink(s: &impl std::os::fd::AsFd, bytes: usize) {
        let s = socket2::SockRef::from(s);
        s.set_send_buffer_size(bytes).unwrap();
        s.set_recv_buffer_size(bytes).unwrap();
    }
    match kind {
        Kind::Tcp => {
            let (a, b) = tcp_pair();
            shrink(&a, bytes);
            shrink(&b, bytes);
            (
                IoStream::new(handle, a).unwrap(),
                IoStream::new(handle, b).unwrap(),
            )
        }
        Kind::Unix => {
            let (a, b) = UnixStream::pair().unwrap();
            shrink(&a, bytes);
            shrink(&b, bytes);
            (
                IoStream::new(handle, a).unwrap(),
                IoStream::new(handle, b).unwrap(),
            )
        }
    }
}

/// A peer shared with callbacks on the reactor; `take()` it to close it.
pub type SharedPeer = Rc<RefCell<Option<Peer>>>;

pub fn shared(peer: Peer) -> SharedPeer {
    Rc::new(RefCell::new(Some(peer)))
}

/// Closes the shared peer (drops its socket).
pub fn close_peer(peer: &SharedPeer) {
    drop(peer.borrow_mut().take());
}

/// Sends `data` from `peer` as `delivery` says, then closes the peer if `close`. The
/// future resolves once the last byte was written (and the peer closed).
pub fn send(
    handle: &Handle,
    peer: &SharedPeer,
    data: &[u8],
    delivery: Delivery,
    close: bool,
) -> Future<()> {
    let done = Future::new();
    if delivery == Delivery::Burst {
        if let Some(p) = peer.borrow_mut().as_mut() {
            p.write_all(data).expect("peer write");
        }
        if close {
            close_peer(peer);
        }
        done.set_result(());
        return done;
    }
    trickle_step(
        handle.clone(),
        peer.clone(),
        Rc::new(data.to_vec()),
        0,
        delivery,
        close,
        done.clone(),
    );
    done
}

fn trickle_step(
    handle: Handle,
    peer: SharedPeer,
    data: Rc<Vec<u8>>,
    i: usize,
    delivery: Delivery,
    close: bool,
    done: Future<()>,
) {
    if i == data.len() {
        if close {
            close_peer(&peer);
        }
        done.set_result(());
        return;
    }
    if let Some(p) = peer.borrow_mut().as_mut() {
        p.write_all(&data[i..=i]).expect("peer write");
    }
    let h = handle.clone();
    let next = move || trickle_step(h, peer, data, i + 1, delivery, close, done);
    match delivery {
        Delivery::PerTick => {
            handle.call_later(Duration::from_millis(1), next);
        }
        _ => handle.add_callback(next),
    }
}

/// A future resolved by the stream's close callback with the error it was given, and a
/// counter of how often the callback ran.
pub fn on_close(stream: &IoStream) -> (Future<Option<squall::Error>>, Rc<std::cell::Cell<u32>>) {
    let f = Future::new();
    let count = Rc::new(std::cell::Cell::new(0));
    let (g, c) = (f.clone(), count.clone());
    stream.set_close_callback(move |e| {
        c.set(c.get() + 1);
        if !g.is_done() {
            g.set_result(e);
        }
    });
    (f, count)
}

/// Reads everything from a stream by chaining partial reads (each at most `chunk`),
/// until the peer closes. Resolves with the bytes and the sizes of the pieces.
pub fn collect_partial(stream: &IoStream, chunk: usize) -> Future<(Vec<u8>, Vec<usize>)> {
    let out = Future::new();
    collect_step(stream.clone(), chunk, Vec::new(), Vec::new(), out.clone());
    out
}

fn collect_step(
    stream: IoStream,
    chunk: usize,
    mut acc: Vec<u8>,
    mut sizes: Vec<usize>,
    out: Future<(Vec<u8>, Vec<usize>)>,
) {
    let s = stream.clone();
    stream
        .read_bytes(chunk, true)
        .add_done_callback(move |f| match f.take_result() {
            Some(Ok(piece)) => {
                sizes.push(piece.len());
                acc.extend_from_slice(&piece);
                collect_step(s, chunk, acc, sizes, out);
            }
            Some(Err(squall::Error::StreamClosed)) => out.set_result((acc, sizes)),
            Some(Err(e)) => out.set_error(e),
            None => out.set_error(squall::Error::invalid_state("read result taken")),
        });
}

/// A listener on `bind` (port 0) with backlog 1 that never accepts, filled with plain
/// connections until one no longer completes (the kernel drops SYNs to a full accept
/// queue): connects to it hang. `None` if `bind` cannot be bound (e.g. no IPv6).
/// Keep all three parts alive while the test needs the hang.
pub fn unanswered_listener(
    bind: &str,
) -> Option<(socket2::Socket, std::net::SocketAddr, Vec<TcpStream>)> {
    use socket2::{Domain, Socket, Type};
    let bind: std::net::SocketAddr = bind.parse().expect("bind address");
    let listener = Socket::new(Domain::for_address(bind), Type::STREAM, None).ok()?;
    listener.bind(&bind.into()).ok()?;
    listener.listen(1).expect("listen");
    let addr = listener.local_addr().ok()?.as_socket()?;
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                return Some((listener, addr, fillers));
            }
            Err(e) => panic!("filler connect: {e}"),
        }
    }
    panic!("the kernel kept completing handshakes to a full backlog-1 listener on {addr}");
}

/// Echoes lines (up to 1 KiB each) until the peer closes.
pub fn echo_lines(stream: IoStream) {
    let s = stream.clone();
    stream
        .read_until(b"\n", Some(1024))
        .add_done_callback(move |f| {
            if let Some(Ok(line)) = f.take_result() {
                s.write(line);
                echo_lines(s.clone());
            }
        });
}
