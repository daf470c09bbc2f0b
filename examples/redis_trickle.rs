//! A big Redis reply trickled slowly: how much CPU the client's loop spends decoding it,
//! and how long the loop is held at a time. A fake server thread answers one command
//! with an array of `--elements` integers, sent in 4 KiB pieces at `--rate` bytes/s;
//! the client (squall's `Redis` on a reactor) waits for the reply for at most
//! `--seconds`.
//!
//! ```sh
//! cargo run --release --example redis_trickle -- [--elements 5000000] [--rate 200000] [--seconds 60]
//! ```
//! Prints the bytes sent, the loop thread's CPU time, and the longest gap between the
//! runs of a 10 ms ticker on the same loop.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use squall::redis::{Redis, RedisOptions, Value};
use squall::{with_timeout, PeriodicCallback, Reactor};

const USAGE: &str = "usage: redis_trickle [--elements N] [--rate BYTES_PER_SEC] [--seconds S]";
const PIECE: usize = 4096;

fn thread_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn args() -> Result<(usize, usize, u64), lexopt::Error> {
    use lexopt::prelude::*;
    let (mut elements, mut rate, mut seconds) = (5_000_000, 200_000, 60);
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("elements") => elements = p.value()?.parse()?,
            Long("rate") => rate = p.value()?.parse()?,
            Long("seconds") => seconds = p.value()?.parse()?,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                exit(0);
            }
            arg => return Err(arg.unexpected()),
        }
    }
    Ok((elements, rate.max(PIECE), seconds))
}

fn main() -> squall::Result<()> {
    let (elements, rate, seconds) = args().unwrap_or_else(|e| {
        eprintln!("redis_trickle: {e}\n{USAGE}");
        exit(2);
    });
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (s, st) = (sent.clone(), stop.clone());
    let mut wire = format!("*{elements}\r\n").into_bytes();
    for i in 0..elements {
        wire.extend_from_slice(format!(":{i}\r\n").as_bytes());
    }
    let total = wire.len();
    std::thread::spawn(move || {
        let Ok((mut peer, _)) = listener.accept() else {
            return;
        };
        let _ = peer.set_nodelay(true);
        let _ = peer.read(&mut [0u8; 4096]);
        let start = Instant::now();
        for piece in wire.chunks(PIECE) {
            if st.load(Ordering::Relaxed) || peer.write_all(piece).is_err() {
                return;
            }
            let done = s.fetch_add(piece.len(), Ordering::Relaxed) + piece.len();
            let due = Duration::from_secs_f64(done as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });

    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let gap = Arc::new(std::sync::Mutex::new((Instant::now(), Duration::ZERO)));
    let g = gap.clone();
    let ticker = PeriodicCallback::new(&handle, Duration::from_millis(10), move || {
        let mut g = g.lock().unwrap();
        let now = Instant::now();
        g.1 = g.1.max(now - g.0);
        g.0 = now;
    });
    ticker.start();
    let redis = Redis::connect(
        &handle,
        &format!("redis://127.0.0.1:{port}"),
        RedisOptions::default(),
    )?;
    let cpu = thread_cpu();
    let started = Instant::now();
    let reply = reactor.run_until(&with_timeout(
        &handle,
        Duration::from_secs(seconds),
        &redis.command(&["LRANGE", "l", "0", "-1"]),
    ));
    let (cpu, wall) = (thread_cpu() - cpu, started.elapsed());
    stop.store(true, Ordering::Relaxed);
    let outcome = match reply {
        Ok(Value::Array(items)) => format!("reply of {} elements", items.len()),
        Ok(v) => format!("unexpected reply {v:?}"),
        Err(e) => format!("no reply ({e})"),
    };
    println!(
        "{elements} elements ({total} bytes) at {rate} B/s: {outcome} after {:.1} s, {} bytes sent; \
         loop thread CPU {:.2} s ({:.0}% of wall); longest gap between 10 ms ticks {} ms",
        wall.as_secs_f64(),
        sent.load(Ordering::Relaxed),
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        gap.lock().unwrap().1.as_millis()
    );
    Ok(())
}
