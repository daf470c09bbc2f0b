//! Reactor micro-benchmarks, squall beside calloop in the same run (issue 2).
//!
//! Run: `cargo bench --bench reactor -- --warm-up-time 1 --measurement-time 3`
//! (see `docs/benchmarks.md` for the figures and what each row measures).
//!
//! | group                | squall                                  | calloop peer                                  |
//! |----------------------|-----------------------------------------|-----------------------------------------------|
//! | `add_callback`       | `Handle::add_callback` + `run_once`     | `LoopHandle::insert_idle` + `dispatch`        |
//! | `timer_fire`         | `call_later(0)` + `run_once`            | `insert_source(Timer::immediate())` + `dispatch` |
//! | `timer_set_cancel`   | `call_at` then `cancel_timer`           | `insert_source(Timer)` then `remove`          |
//! | `future_and_then`    | `Future::and_then` chain                | (no futures in calloop)                       |
//! | `remote`             | `Remote::add_callback` from a thread    | `channel::Sender::send` of a boxed closure    |
//! | `idle_sockets`       | one `run_once` with N idle + 1 ready    | one `dispatch` with N idle + 1 ready          |

use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use calloop::generic::Generic;
use calloop::timer::{TimeoutAction, Timer};
use calloop::{EventLoop, Interest as CInterest, Mode, PostAction};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use squall::{Future, Interest, Reactor};

const CALLBACKS: usize = 10_000;
const TIMERS: usize = 10_000;
const SET_CANCEL: usize = 1_000_000;
const SET_CANCEL_SMALL: usize = 10_000;
const LINKS: usize = 10_000;
const REMOTE_MSGS: usize = 100_000;

fn add_callback(c: &mut Criterion) {
    let mut g = c.benchmark_group("add_callback");
    g.throughput(Throughput::Elements(CALLBACKS as u64));

    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let hits = Rc::new(Cell::new(0usize));
    g.bench_function("squall", |b| {
        b.iter(|| {
            hits.set(0);
            for _ in 0..CALLBACKS {
                let h = hits.clone();
                handle.add_callback(move || h.set(h.get() + 1));
            }
            while hits.get() < CALLBACKS {
                reactor.run_once(Some(Duration::ZERO)).unwrap();
            }
        })
    });

    let mut ev: EventLoop<'_, usize> = EventLoop::try_new().unwrap();
    let lh = ev.handle();
    g.bench_function("calloop_idle", |b| {
        b.iter(|| {
            let mut data = 0usize;
            for _ in 0..CALLBACKS {
                lh.insert_idle(|d: &mut usize| *d += 1);
            }
            while data < CALLBACKS {
                ev.dispatch(Some(Duration::ZERO), &mut data).unwrap();
            }
        })
    });
    g.finish();
}

fn timer_fire(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_fire");
    g.throughput(Throughput::Elements(TIMERS as u64));

    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let hits = Rc::new(Cell::new(0usize));
    g.bench_function("squall", |b| {
        b.iter(|| {
            hits.set(0);
            for _ in 0..TIMERS {
                let h = hits.clone();
                handle.call_later(Duration::ZERO, move || h.set(h.get() + 1));
            }
            while hits.get() < TIMERS {
                reactor.run_once(Some(Duration::ZERO)).unwrap();
            }
        })
    });

    let mut ev: EventLoop<'_, usize> = EventLoop::try_new().unwrap();
    let lh = ev.handle();
    g.bench_function("calloop", |b| {
        b.iter(|| {
            let mut data = 0usize;
            for _ in 0..TIMERS {
                lh.insert_source(Timer::immediate(), |_, _, d: &mut usize| {
                    *d += 1;
                    TimeoutAction::Drop
                })
                .unwrap();
            }
            while data < TIMERS {
                ev.dispatch(Some(Duration::ZERO), &mut data).unwrap();
            }
        })
    });
    g.finish();
}

/// Sets `n` timers an hour ahead (distinct, increasing deadlines) and cancels them all,
/// in the order they were set or in reverse. calloop runs only the small sizes: its
/// `insert_source` grows quadratically with the number of live sources (30 000 timers
/// take ~130 ms to insert, 1 000 000 would take minutes per sample).
fn timer_set_cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_set_cancel");
    g.sample_size(10);
    for (order, n, reverse, with_peer) in [
        ("in_order", SET_CANCEL, false, false),
        ("in_order", SET_CANCEL_SMALL, false, true),
        ("reverse", SET_CANCEL_SMALL, true, true),
    ] {
        g.throughput(Throughput::Elements(n as u64));
        let name = format!("{order}/{n}");

        let reactor = Reactor::new().unwrap();
        let handle = reactor.handle();
        let hits = Rc::new(Cell::new(0usize));
        let mut ids = Vec::with_capacity(n);
        g.bench_function(BenchmarkId::new("squall", &name), |b| {
            b.iter(|| {
                let base = Instant::now() + Duration::from_secs(3600);
                for i in 0..n {
                    let h = hits.clone();
                    ids.push(
                        handle.call_at(base + Duration::from_nanos(i as u64), move || {
                            h.set(h.get() + 1)
                        }),
                    );
                }
                if reverse {
                    ids.reverse();
                }
                for id in ids.drain(..) {
                    assert!(handle.cancel_timer(id));
                }
            })
        });
        drop(reactor);
        if !with_peer {
            continue;
        }

        let ev: EventLoop<'_, usize> = EventLoop::try_new().unwrap();
        let lh = ev.handle();
        let mut tokens = Vec::with_capacity(n);
        g.bench_function(BenchmarkId::new("calloop", &name), |b| {
            b.iter(|| {
                let base = Instant::now() + Duration::from_secs(3600);
                for i in 0..n {
                    let t = Timer::from_deadline(base + Duration::from_nanos(i as u64));
                    tokens.push(
                        lh.insert_source(t, |_, _, d: &mut usize| {
                            *d += 1;
                            TimeoutAction::Drop
                        })
                        .unwrap(),
                    );
                }
                if reverse {
                    tokens.reverse();
                }
                for t in tokens.drain(..) {
                    lh.remove(t);
                }
            })
        });
    }
    g.finish();
}

/// A chain of `LINKS` `and_then` links, each returning an already-resolved future:
/// builds the chain, resolves its head and runs the loop until the tail is done.
fn future_and_then(c: &mut Criterion) {
    let mut g = c.benchmark_group("future_and_then");
    g.throughput(Throughput::Elements(LINKS as u64));
    let mut reactor = Reactor::new().unwrap();
    g.bench_function("squall", |b| {
        b.iter(|| {
            let head: Future<u64> = Future::new();
            let mut tail = head.clone();
            for _ in 0..LINKS {
                tail = tail.and_then(|v| Future::ready(v + 1));
            }
            head.set_result(0);
            assert_eq!(reactor.run_until(&tail).unwrap(), LINKS as u64);
        })
    });

    // The same chain on a reactor with one (idle) handler registered: every loop
    // iteration then pays a zero-timeout poll (five syscalls in `polling`).
    let (idle, _peer) = UnixStream::pair().unwrap();
    reactor
        .handle()
        .add_handler(idle, Interest::READABLE, |_s, _ev| {})
        .unwrap();
    g.bench_function("squall_with_handler", |b| {
        b.iter(|| {
            let head: Future<u64> = Future::new();
            let mut tail = head.clone();
            for _ in 0..LINKS {
                tail = tail.and_then(|v| Future::ready(v + 1));
            }
            head.set_result(0);
            assert_eq!(reactor.run_until(&tail).unwrap(), LINKS as u64);
        })
    });
    g.finish();
}

thread_local! {
    static REMOTE_HITS: Cell<u64> = const { Cell::new(0) };
}

/// Another thread sends `REMOTE_MSGS` closures; the loop thread runs until all ran.
fn remote(c: &mut Criterion) {
    let mut g = c.benchmark_group("remote");
    g.throughput(Throughput::Elements(REMOTE_MSGS as u64));
    g.sample_size(10);

    let mut reactor = Reactor::new().unwrap();
    let remote = reactor.handle().remote();
    g.bench_function("squall", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                REMOTE_HITS.with(|h| h.set(0));
                let r = remote.clone();
                let sender = std::thread::spawn(move || {
                    for i in 0..REMOTE_MSGS as u64 {
                        r.add_callback(move || {
                            std::hint::black_box(i);
                            REMOTE_HITS.with(|h| h.set(h.get() + 1))
                        });
                    }
                });
                while REMOTE_HITS.with(|h| h.get()) < REMOTE_MSGS as u64 {
                    reactor.run_once(None).unwrap();
                }
                sender.join().unwrap();
            }
            start.elapsed()
        })
    });
    drop(reactor);

    type Job = Box<dyn FnOnce(&mut u64) + Send>;
    let mut ev: EventLoop<'_, u64> = EventLoop::try_new().unwrap();
    let (tx, rx) = calloop::channel::channel::<Job>();
    ev.handle()
        .insert_source(rx, |e, _, d: &mut u64| {
            if let calloop::channel::Event::Msg(f) = e {
                f(d);
            }
        })
        .unwrap();
    g.bench_function("calloop_channel", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let mut data = 0u64;
                let tx = tx.clone();
                let sender = std::thread::spawn(move || {
                    for i in 0..REMOTE_MSGS as u64 {
                        let job: Job = Box::new(move |d: &mut u64| {
                            std::hint::black_box(i);
                            *d += 1
                        });
                        tx.send(job).unwrap();
                    }
                });
                while data < REMOTE_MSGS as u64 {
                    ev.dispatch(None, &mut data).unwrap();
                }
                sender.join().unwrap();
            }
            start.elapsed()
        })
    });
    g.finish();
}

/// Raises the soft descriptor limit to the hard one; returns the hard limit.
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_max
    }
}

/// `idle` socket pairs whose registered end never becomes ready, plus one pair with a
/// byte waiting that nobody reads (ready on every level-triggered iteration).
fn socket_pairs(idle: usize) -> (Vec<(UnixStream, UnixStream)>, (UnixStream, UnixStream)) {
    let pairs = (0..idle)
        .map(|_| {
            let (a, b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            (a, b)
        })
        .collect();
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.write_all(b"x").unwrap();
    (pairs, (a, b))
}

/// One loop iteration with `n` idle registered sockets and one ready one.
fn idle_sockets(c: &mut Criterion) {
    let hard = raise_fd_limit();
    // Two descriptors per pair, plus headroom for pollers, eventfds and the harness.
    let big = ((hard as usize).saturating_sub(1_000) / 2).min(100_000);
    let mut g = c.benchmark_group("idle_sockets");
    g.throughput(Throughput::Elements(1));
    for n in [10, big] {
        {
            let mut reactor = Reactor::new().unwrap();
            let handle = reactor.handle();
            let (pairs, (ready, _peer)) = socket_pairs(n);
            let mut keep = Vec::with_capacity(n);
            for (a, b) in pairs {
                handle
                    .add_handler(a, Interest::READABLE, |_s, _ev| {})
                    .unwrap();
                keep.push(b);
            }
            let fired = Rc::new(Cell::new(0u64));
            let f = fired.clone();
            handle
                .add_handler(ready, Interest::READABLE, move |_s, ev| {
                    assert!(ev.is_readable());
                    f.set(f.get() + 1);
                })
                .unwrap();
            g.bench_function(BenchmarkId::new("squall", n), |b| {
                b.iter(|| reactor.run_once(Some(Duration::ZERO)).unwrap())
            });
            assert!(fired.get() > 0);
        }
        {
            let mut ev: EventLoop<'_, u64> = EventLoop::try_new().unwrap();
            let lh = ev.handle();
            let (pairs, (ready, _peer)) = socket_pairs(n);
            let mut keep = Vec::with_capacity(n);
            for (a, b) in pairs {
                lh.insert_source(Generic::new(a, CInterest::READ, Mode::Level), |_, _, _| {
                    Ok(PostAction::Continue)
                })
                .unwrap();
                keep.push(b);
            }
            lh.insert_source(
                Generic::new(ready, CInterest::READ, Mode::Level),
                |r, _, d: &mut u64| {
                    assert!(r.readable);
                    *d += 1;
                    Ok(PostAction::Continue)
                },
            )
            .unwrap();
            let mut fired = 0u64;
            g.bench_function(BenchmarkId::new("calloop", n), |b| {
                b.iter(|| ev.dispatch(Some(Duration::ZERO), &mut fired).unwrap())
            });
            assert!(fired > 0);
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = add_callback, timer_fire, timer_set_cancel, future_and_then, remote, idle_sockets
}
criterion_main!(benches);
