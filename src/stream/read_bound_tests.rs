//! The read path never holds more than `max_buffer_size`, whatever the peer sends.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::{IoStream, StreamOptions};
use crate::reactor::Reactor;

/// A bound that is no multiple of any buffer or chunk size.
const BOUND: usize = 5_003;
const SENT: usize = 40_000;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// A stream over one end of a loopback TCP connection, and the other end.
fn stream_and_peer(reactor: &Reactor, options: StreamOptions) -> (IoStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (sock, _) = listener.accept().unwrap();
    let stream = IoStream::with_options(&reactor.handle(), sock, options).unwrap();
    (stream, peer)
}

#[test]
fn a_stream_holds_at_most_max_buffer_size_and_loses_nothing() {
    let mut reactor = Reactor::new().unwrap();
    let options = StreamOptions::default().max_buffer_size(BOUND);
    let (stream, mut peer) = stream_and_peer(&reactor, options);
    // Watching for a close makes an idle stream read ahead, up to its bound.
    stream.set_close_callback(|_| {});
    let data: Vec<u8> = (0..SENT).map(pattern).collect();
    peer.write_all(&data).unwrap(); // fits the socket buffers: the kernel holds the rest

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut most = 0;
    while stream.buffered() < BOUND && Instant::now() < deadline {
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
        most = most.max(stream.buffered());
    }
    // More turns with data waiting in the kernel: the buffer does not grow past the bound.
    for _ in 0..20 {
        reactor.run_once(Some(Duration::from_millis(1))).unwrap();
        most = most.max(stream.buffered());
    }
    assert_eq!(stream.buffered(), BOUND);
    assert_eq!(most, BOUND);

    // Reading it all back, a bound at a time, gives every byte in order.
    let mut got = Vec::new();
    while got.len() < SENT {
        let n = BOUND.min(SENT - got.len());
        let chunk = reactor.run_until(&stream.read_bytes(n, false)).unwrap();
        assert!(stream.buffered() <= BOUND);
        got.extend_from_slice(&chunk);
    }
    assert!(got == data, "the bytes read differ from the bytes sent");
}

/// Turns the loop until `stream` has buffered `n` bytes (or 30 s pass).
fn buffer_until(reactor: &mut Reactor, stream: &IoStream, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stream.buffered() < n && Instant::now() < deadline {
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(stream.buffered(), n);
}

fn read_capacity(stream: &IoStream) -> usize {
    stream.shared.state.borrow().read_buf.capacity()
}

#[test]
fn a_peer_that_sends_a_little_more_than_a_buffer_and_stalls_gets_no_larger_one() {
    // A slow client's partial head: one byte past a new 4 KiB buffer. The buffer grows by
    // doubling (8 KiB), not by a whole 64 KiB read for the one byte.
    let mut reactor = Reactor::new().unwrap();
    let (stream, mut peer) = stream_and_peer(&reactor, StreamOptions::default());
    let pending = stream.read_until(b"\r\n\r\n", Some(1 << 20));
    peer.write_all(&[b'a'; 4097]).unwrap();
    buffer_until(&mut reactor, &stream, 4097);
    assert!(!pending.is_done());
    let capacity = read_capacity(&stream);
    assert!(capacity <= 8 * 1024, "{capacity} B held for 4 097 B sent");
}
