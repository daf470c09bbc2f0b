//! What squall's own tests share beyond the public harness (`squall::testing`, which
//! they use for free ports, stream pairs, `wait_until` and `TestServer`). Here: socket
//! pairs for handler tests, descriptor counting, bounded waits that name what they
//! waited for, a peer thread beside the loop, drop probes, held ports; and one submodule
//! per kind of peer only these tests need:
//!
//! | module | what |
//! |--------|------|
//! | `process` | the examples built and run, their `listening on` line, waits on children that kill instead of hanging, `/proc` memory |
//! | `net` | streams over TCP or Unix sockets and the raw peers that feed them |
//! | `http` | HTTP/1.x over blocking sockets for the server tests |
//! | `raw_server` | a misbehaving-on-purpose HTTP server for the client tests |
//! | `ws` | a WebSocket echo server and a raw frame peer |
//! | `tls` | certificates made with `rcgen` and the configurations built from them |
//! | `python` | Tornado, `http.server`, `websockets` and Playwright peers |
//! | `redis` | a `redis-server` of the test's own |
//! | `deploy` | nginx on the documented configuration, in front of example backends |
//! | `log` | every log record of the binary, by level |
//!
//! Each test file includes it with `mod support;`; a binary compiles all of it and uses a
//! part (hence `dead_code` allowed).
#![allow(dead_code)]

pub mod deploy;
pub mod http;
pub mod log;
pub mod net;
pub mod process;
pub mod python;
pub mod raw_server;
pub mod redis;
pub mod tls;
pub mod ws;

mod port;
mod server_thread;

use std::cell::Cell;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use squall::testing::wait_until;
use squall::{Future, Handle, Interest, Reactor, Token};

#[allow(unused_imports)]
pub use port::ReservedPort;
#[allow(unused_imports)]
pub use server_thread::ServerThread;

/// Longest any single wait in a test may take before the test fails: a hang guard,
/// generous for a loaded 2-core machine, never the thing a test measures.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// A fresh reactor and a handle to it: the start of most tests.
pub fn reactor() -> (Reactor, Handle) {
    let reactor = Reactor::new().expect("Reactor::new");
    let handle = reactor.handle();
    (reactor, handle)
}

/// Runs the loop until `f` is done and returns its result; fails the test after
/// [`WAIT_LIMIT`] instead of hanging.
#[track_caller]
pub fn wait<T: 'static>(reactor: &mut Reactor, f: &Future<T>) -> squall::Result<T> {
    if wait_until(reactor, WAIT_LIMIT, || f.is_done()).is_err() {
        panic!("future not done within {WAIT_LIMIT:?}");
    }
    f.take_result().expect("result already taken")
}

/// Runs the loop until `f` is done; it must have failed with `Error::Timeout`.
#[track_caller]
pub fn assert_times_out<T: 'static>(reactor: &mut Reactor, f: &Future<T>) {
    let r = wait(reactor, f);
    assert!(
        matches!(r, Err(squall::Error::Timeout)),
        "not a timeout: {:?}",
        r.err()
    );
}

/// Runs the loop until `done()` holds; fails the test, naming `what` it waited for,
/// after [`WAIT_LIMIT`].
#[track_caller]
pub fn run_until(reactor: &mut Reactor, what: &str, done: impl FnMut() -> bool) {
    if wait_until(reactor, WAIT_LIMIT, done).is_err() {
        panic!("timed out waiting for: {what}");
    }
}

/// Runs `peer` in a thread while the reactor runs; returns what it returned. The loop
/// stops when the peer is done (or panicked: the panic is the test's), or after
/// [`WAIT_LIMIT`].
pub fn with_peer<T: Send + 'static>(
    reactor: &mut Reactor,
    peer: impl FnOnce() -> T + Send + 'static,
) -> T {
    /// Stops the loop when dropped: when the peer returns or unwinds.
    struct StopOnDrop(squall::Remote);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.stop();
        }
    }
    let guard = StopOnDrop(reactor.handle().remote());
    let t = std::thread::spawn(move || {
        let _guard = guard;
        peer()
    });
    let h = reactor.handle();
    let bound = reactor.handle().call_later(WAIT_LIMIT, move || h.stop());
    reactor.run().expect("reactor");
    reactor.handle().cancel_timer(bound);
    match t.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Runs the loop for `d` (a timer on the reactor ends it).
pub fn run_for(reactor: &mut Reactor, d: Duration) {
    let f = Future::new();
    let g = f.clone();
    reactor.handle().call_later(d, move || g.set_result(()));
    wait(reactor, &f).unwrap();
}

/// Runs a few loop iterations without waiting (lets deferred callbacks and frees run).
pub fn turn(reactor: &mut Reactor) {
    for _ in 0..3 {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
    }
}

/// Number of descriptors open in this process (entries of /proc/self/fd, minus the one
/// `read_dir` itself holds while listing).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
        - 1
}

/// Number of descriptors open in process `pid` (another process: nothing to subtract).
pub fn open_fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

/// A connected, non-blocking Unix socket pair, for sources given to
/// `Handle::add_handler` as they are.
pub fn unix_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A connected TCP pair on 127.0.0.1 (port chosen by the OS): the accepted end first,
/// then the connecting end. `TCP_NODELAY` on both, so single bytes travel as single
/// segments; blocking, as std makes them (an `IoStream` makes its socket non-blocking;
/// a source given to `add_handler` raw needs `set_nonblocking`).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (server, client)
}

/// A TCP socket bound to 127.0.0.1 on a free port, not yet listening: set its options
/// (buffer sizes, which accepted sockets inherit), then `listen` or leave it refusing.
pub fn bound_loopback_socket() -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&addr.into()).unwrap();
    s
}

/// Registers `source` for reading with a handler that drains it, bumps `calls` and then
/// runs `then` with the count so far; returns the token.
pub fn counting_handler(
    handle: &Handle,
    source: UnixStream,
    calls: &Counter,
    mut then: impl FnMut(usize) + 'static,
) -> Token {
    let c = calls.clone();
    handle
        .add_handler(source, Interest::READABLE, move |s, _ev| {
            drain(s);
            c.bump();
            then(c.get());
        })
        .expect("add_handler")
}

/// Reads everything available without blocking; returns the byte count.
pub fn drain(r: &mut impl io::Read) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// A shared counter for closures on the loop thread.
#[derive(Clone, Default, Debug)]
pub struct Counter(Rc<Cell<usize>>);

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn bump(&self) {
        self.0.set(self.0.get() + 1);
    }
    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// Counts how many of its clones' originals were dropped: capture a `DropProbe` in a
/// closure, and `drops()` tells whether the closure was freed.
#[derive(Debug)]
pub struct DropProbe(Arc<AtomicUsize>);

impl DropProbe {
    pub fn new() -> (DropProbe, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        (DropProbe(n.clone()), n)
    }
    pub fn another(count: &Arc<AtomicUsize>) -> DropProbe {
        DropProbe(count.clone())
    }
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn drops(count: &Arc<AtomicUsize>) -> usize {
    count.load(Ordering::SeqCst)
}

/// A deterministic generator (xorshift64) for tests that feed random input: a failure
/// reproduces from the printed seed. The seed must not be 0.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (not 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `msg` with 1 to 6 random mutations: a byte removed, replaced or inserted (taken
    /// from `nasty`), a run of random bytes inserted, and with `flip_bits` a bit flipped.
    pub fn mutate(&mut self, msg: &[u8], nasty: &[u8], flip_bits: bool) -> Vec<u8> {
        let mut m = msg.to_vec();
        for _ in 0..1 + self.below(6) {
            let at = self.below(m.len() + 1);
            let mut kind = self.below(if flip_bits { 5 } else { 4 });
            if !flip_bits && kind >= 2 {
                kind += 1; // no bit flips: the same draws mean the next kinds
            }
            match kind {
                0 if at < m.len() => {
                    m.remove(at);
                }
                1 if at < m.len() => m[at] = nasty[self.below(nasty.len())],
                2 if at < m.len() => m[at] ^= 1 << self.below(8),
                3 => m.insert(at, nasty[self.below(nasty.len())]),
                _ => {
                    let extra: Vec<u8> = (0..self.below(40)).map(|_| self.next() as u8).collect();
                    m.splice(at..at, extra);
                }
            }
        }
        m
    }
}
