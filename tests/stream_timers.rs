//! Timers and memory of streams over many lifetimes: 20 000 connect/close cycles through
//! `TcpServer` and `TcpClient`, every stream with an idle timeout and every connect with
//! a deadline, leave the reactor's pending timers, handlers and callbacks and the
//! process's resident memory at their baseline. Huge (`Duration::MAX`) timeouts mean
//! "never" and panic nowhere. A file of its own, so no other test moves the RSS.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use squall::net::{TcpClient, TcpServer};
use squall::stream::{IoStream, StreamOptions};
use squall::{Future, Handle, Reactor};
use support::net::echo_lines;
use support::{run_for, run_until, wait};

const CYCLES: usize = 20_000;
/// Cycles run side by side (each chain connects again once its last cycle is done).
const CHAINS: usize = 8;
/// How much the resident set may grow over the cycles: far below what one leaked
/// timer, handler or stream per cycle would cost (20 000 × ≥ 200 B ≥ 4 MB).
const RSS_SLACK: usize = 2 * 1024 * 1024;

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    support::process::rss_kib(std::process::id()) * 1024
}

/// What the reactor holds, for comparison against a baseline.
fn held(h: &Handle) -> (usize, usize, usize) {
    let s = h.stats();
    (s.timers_pending, s.handlers, s.callbacks_pending)
}

/// One cycle: connect (with a deadline), wait for the server's close, close too.
fn cycle(client: &TcpClient, port: u16) -> Future<()> {
    client
        .connect("127.0.0.1", port, Some(Duration::from_secs(10)))
        .and_then(|stream| {
            stream.read_until_close().map(move |r| {
                assert!(r?.is_empty());
                stream.close();
                Ok(())
            })
        })
}

fn chain(client: TcpClient, port: u16, left: usize, done: Future<usize>, count: usize) {
    if left == 0 {
        done.set_result(count);
        return;
    }
    cycle(&client, port).add_done_callback(move |f| match f.take_result() {
        Some(Ok(())) => chain(client, port, left - 1, done, count + 1),
        Some(Err(e)) => done.set_error(e),
        None => done.set_error(squall::Error::invalid_state("cycle result taken")),
    });
}

/// Runs `n` cycles in [`CHAINS`] chains; returns how many completed.
fn run_cycles(reactor: &mut Reactor, client: &TcpClient, port: u16, n: usize) -> usize {
    let chains: Vec<Future<usize>> = (0..CHAINS)
        .map(|_| {
            let done = Future::new();
            chain(client.clone(), port, n / CHAINS, done.clone(), 0);
            done
        })
        .collect();
    chains.iter().map(|c| wait(reactor, c).unwrap()).sum()
}

/// A server that counts its open streams in `live` and hands each to `serve`.
fn counted_server(h: &Handle, live: &Rc<Cell<usize>>, serve: fn(IoStream)) -> TcpServer {
    let l = live.clone();
    TcpServer::new(h, move |stream: IoStream, _| {
        l.set(l.get() + 1);
        let l = l.clone();
        stream.set_close_callback(move |_| l.set(l.get() - 1));
        serve(stream);
    })
}

#[test]
fn connect_close_cycles_leave_timers_and_memory_at_baseline() {
    let (mut reactor, h) = support::reactor();
    let live = Rc::new(Cell::new(0usize));
    // The server closes first, so the TIME_WAIT states stay on its side and the
    // client's ephemeral ports are free again at once.
    let server = counted_server(&h, &live, |stream| stream.close());
    server.set_stream_options(StreamOptions::default().idle_timeout(Some(Duration::from_secs(60))));
    let port = server.listen("127.0.0.1:0").unwrap().port();
    let mut client = TcpClient::new(&h);
    client.set_stream_options(StreamOptions::default().idle_timeout(Some(Duration::from_secs(60))));

    // Warm up (thread-locals, pools, slabs at their working size), then measure.
    assert_eq!(run_cycles(&mut reactor, &client, port, 2_000), 2_000);
    run_until(&mut reactor, "every connection closed", || live.get() == 0);
    run_for(&mut reactor, Duration::from_millis(10));
    let base = held(&h);
    let base_rss = rss();

    assert_eq!(run_cycles(&mut reactor, &client, port, CYCLES), CYCLES);
    run_until(&mut reactor, "every connection closed", || live.get() == 0);
    run_for(&mut reactor, Duration::from_millis(10));

    assert_eq!(held(&h), base, "(timers, handlers, callbacks) pending");
    assert_eq!(base.0, 0, "a timer outlived its stream or connect");
    let grown = rss().saturating_sub(base_rss);
    assert!(
        grown < RSS_SLACK,
        "RSS grew by {grown} B over {CYCLES} cycles ({base_rss} B before)"
    );
}

/// `Duration::MAX` as a server's stream timeout, a client's stream timeout and a
/// connect deadline: connections are served (no `Instant` overflow anywhere), and the
/// timers are gone once the streams close.
#[test]
fn duration_max_timeouts_mean_never() {
    let (mut reactor, h) = support::reactor();
    let never = StreamOptions::default().idle_timeout(Some(Duration::MAX));
    let live = Rc::new(Cell::new(0usize));
    let server = counted_server(&h, &live, echo_lines);
    server.set_stream_options(never.clone());
    let port = server.listen("127.0.0.1:0").unwrap().port();
    let mut client = TcpClient::new(&h);
    client.set_stream_options(never);

    for _ in 0..3 {
        let stream = wait(
            &mut reactor,
            &client.connect("127.0.0.1", port, Some(Duration::MAX)),
        )
        .unwrap();
        stream.write(&b"still there?\n"[..]);
        let line = wait(&mut reactor, &stream.read_until(b"\n", Some(64))).unwrap();
        assert_eq!(&line[..], b"still there?\n");
        stream.set_idle_timeout(Some(Duration::MAX));
        stream.write(&b"yes\n"[..]);
        let line = wait(&mut reactor, &stream.read_until(b"\n", Some(64))).unwrap();
        assert_eq!(&line[..], b"yes\n");
        assert!(!stream.is_closed());
        stream.close();
        // A timeout set on a closed stream arms nothing.
        stream.set_idle_timeout(Some(Duration::MAX));
    }
    run_until(&mut reactor, "every connection closed", || live.get() == 0);
    assert_eq!(h.stats().timers_pending, 0, "a timer outlived its stream");
}

/// Every timer a stream armed is gone when it closes, however it closed.
#[test]
fn a_closed_stream_holds_no_timer() {
    let (mut reactor, h) = support::reactor();
    let idle = StreamOptions::default().idle_timeout(Some(Duration::from_secs(60)));
    // Closed by us, by the peer, by dropping the last handle, by a failed read.
    for how in 0..4 {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let stream = IoStream::with_options(&h, a, idle.clone()).unwrap();
        assert_eq!(h.stats().timers_pending, 1, "case {how}");
        match how {
            0 => stream.close(),
            1 => {
                drop(b);
                let r = wait(&mut reactor, &stream.read_until_close()).unwrap();
                assert!(r.is_empty());
            }
            2 => drop(stream),
            _ => {
                std::io::Write::write_all(&mut &b, b"toolongline\n").unwrap();
                let r = wait(&mut reactor, &stream.read_until(b"\n", Some(4)));
                assert!(matches!(r, Err(squall::Error::UnsatisfiableRead(_))));
            }
        }
        assert_eq!(h.stats().timers_pending, 0, "case {how}");
    }
    assert_eq!(h.stats().timers_pending, 0);
}
