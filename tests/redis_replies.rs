//! The Redis client's reply reader against a fake server (a plain `TcpListener` thread):
//! a big reply trickled in small pieces is decoded once, without holding the loop, and a
//! reply beyond the configured bounds fails its command and the connection is made
//! again.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use squall::redis::{Redis, RedisOptions, Value};
use squall::testing::bind_unused_port;
use squall::{with_timeout, Error, Future, PeriodicCallback, Reactor};

const LIMIT: Duration = Duration::from_secs(60);

/// CPU time (user + system) this thread has used.
fn thread_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Reads one command (the client sends each in one write; a partial read only means the
/// reply starts a little early, which the client does not mind).
fn read_command(peer: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    matches!(peer.read(&mut buf), Ok(n) if n > 0)
}

#[test]
fn a_big_reply_trickled_in_small_pieces_is_decoded_once_without_holding_the_loop() {
    const N: usize = 1_000_000;
    const PIECE: usize = 4096;
    let (listener, port) = bind_unused_port().unwrap();
    let server = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_nodelay(true).unwrap();
        assert!(read_command(&mut peer));
        let mut wire = format!("*{N}\r\n").into_bytes();
        for i in 0..N {
            wire.extend_from_slice(format!(":{i}\r\n").as_bytes());
        }
        // Trickled: a small piece, then a pause, so that the client gets many small reads.
        for piece in wire.chunks(PIECE) {
            if peer.write_all(piece).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let _ = read_command(&mut peer); // until the client leaves
    });

    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    // A ticker on the same loop: the longest gap between its runs is how long the loop
    // was held.
    let last = Arc::new(std::sync::Mutex::new((Instant::now(), Duration::ZERO)));
    let l = last.clone();
    let ticker = PeriodicCallback::new(&handle, Duration::from_millis(10), move || {
        let mut l = l.lock().unwrap();
        let now = Instant::now();
        l.1 = l.1.max(now - l.0);
        l.0 = now;
    });
    ticker.start();
    let redis = Redis::connect(
        &handle,
        &format!("redis://127.0.0.1:{port}"),
        RedisOptions::default(),
    )
    .unwrap();
    let cpu = thread_cpu();
    let started = Instant::now();
    let reply = reactor
        .run_until(&with_timeout(
            &handle,
            LIMIT,
            &redis.command(&["LRANGE", "l", "0", "-1"]),
        ))
        .expect("the reply");
    let cpu = thread_cpu() - cpu;
    let wall = started.elapsed();
    ticker.stop();
    let Value::Array(items) = reply else {
        panic!("not an array")
    };
    assert_eq!(items.len(), N);
    for (i, v) in items.iter().enumerate() {
        assert_eq!(v, &Value::Integer(i as i64));
    }
    let held = last.lock().unwrap().1;
    eprintln!("{N} elements in {PIECE}-byte pieces: loop CPU {cpu:?}, wall {wall:?}, longest gap between ticks {held:?}");
    // Decoding 4 MB once costs well under a second of CPU even on a slow, busy machine;
    // re-parsing the buffered reply on each of the ~1 000 reads costs tens of seconds.
    // CPU time of this thread, not wall time: other load on the machine does not count.
    assert!(cpu < Duration::from_secs(4), "loop CPU {cpu:?}");
    // Generous: a single read of 4 KiB is decoded in microseconds.
    assert!(held < Duration::from_secs(2), "loop held {held:?}");
    drop(redis);
    server.join().unwrap();
}

#[test]
fn a_reply_beyond_its_bounds_fails_the_command_and_the_connection_is_made_again() {
    let (listener, port) = bind_unused_port().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    let server = std::thread::spawn(move || {
        // First connection: a 100-element array for a client that allows 10. The server
        // then goes on sending (it would, for a big reply); the client must hang up.
        let (mut peer, _) = listener.accept().unwrap();
        a.fetch_add(1, Ordering::SeqCst);
        assert!(read_command(&mut peer));
        let mut wire = b"*100\r\n".to_vec();
        wire.extend_from_slice(&b":1\r\n".repeat(100));
        peer.write_all(&wire).unwrap();
        let _ = read_command(&mut peer); // returns when the client closes
                                         // Second connection: a normal reply.
        let (mut peer, _) = listener.accept().unwrap();
        a.fetch_add(1, Ordering::SeqCst);
        assert!(read_command(&mut peer));
        peer.write_all(b"+PONG\r\n").unwrap();
        let _ = read_command(&mut peer);
    });

    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let options = RedisOptions::default()
        .max_reply_elements(10)
        .reconnect_min(Duration::from_millis(20))
        .reconnect_max(Duration::from_millis(100));
    assert_eq!(options.max_reply_elements, 10);
    let redis = Redis::connect(&handle, &format!("redis://127.0.0.1:{port}"), options).unwrap();
    let first = redis.command(&["LRANGE", "l", "0", "-1"]);
    let err = reactor
        .run_until(&with_timeout(&handle, LIMIT, &first))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Redis(m) if m.contains("reply too large")),
        "{err:?}"
    );
    // The connection is made again after the back-off; commands work on it.
    let deadline = Instant::now() + LIMIT;
    while !redis.is_connected() || accepted.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "no reconnection");
        let tick = Future::new();
        let t = tick.clone();
        handle.call_later(Duration::from_millis(10), move || t.set_result(()));
        reactor.run_until(&tick).unwrap();
    }
    reactor
        .run_until(&with_timeout(&handle, LIMIT, &redis.ping()))
        .expect("PING on the new connection");
    drop(redis);
    server.join().unwrap();
}
