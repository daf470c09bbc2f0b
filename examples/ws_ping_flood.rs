//! A hostile WebSocket load, bounded in time: clients that send empty pings as fast as
//! they can and never read (reconnecting when the server closes them), beside one
//! normal client that sends a message every 50 ms and times its echo. Reports what was
//! sent, how often the server closed a flooder, the normal client's latency, and, with
//! `--pid`, the server's resident memory (from `/proc`).
//!
//! ```sh
//! cargo run --release --example ws_echo -- --port 8889 &
//! cargo run --release --example ws_ping_flood -- --addr 127.0.0.1:8889 --pid $! --seconds 40
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: ws_ping_flood --addr HOST:PORT [--clients 1] [--seconds 20] [--pid SERVER_PID]";

struct Args {
    addr: SocketAddr,
    clients: usize,
    seconds: u64,
    pid: Option<u32>,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut addr = None;
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8889)),
        clients: 1,
        seconds: 20,
        pid: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("addr") => addr = Some(parser.value()?.parse()?),
            Long("clients") => args.clients = parser.value()?.parse()?,
            Long("seconds") => args.seconds = parser.value()?.parse()?,
            Long("pid") => args.pid = Some(parser.value()?.parse()?),
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    args.addr = addr.ok_or("--addr is required")?;
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ws_ping_flood: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("ws_ping_flood: {e}");
        std::process::exit(1);
    }
}

/// Connects and upgrades; returns the stream past the 101 response.
fn upgrade(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        b"GET /flood HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101 ") {
        return Err(std::io::Error::other("upgrade refused"));
    }
    Ok(s)
}

/// A masked client frame (mask key zero: the payload goes as is).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Counters {
    sent: AtomicU64,
    closed: AtomicU64,
    stop: AtomicBool,
}

/// Floods until told to stop; reconnects when the server closes the connection.
fn flood(addr: SocketAddr, c: &Counters) {
    let batch: Vec<u8> = (0..1000).flat_map(|_| frame(9, b"")).collect();
    while !c.stop.load(Ordering::Relaxed) {
        let Ok(mut s) = upgrade(addr) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
        let mut at = 0; // a write may take part of the batch: go on from there
        while !c.stop.load(Ordering::Relaxed) {
            match s.write(&batch[at..]) {
                Ok(n) => {
                    at = (at + n) % batch.len();
                    c.sent.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => {
                    c.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

fn run(args: &Args) -> std::io::Result<()> {
    let counters = Arc::new(Counters {
        sent: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let rss0 = args.pid.and_then(rss_kib);
    let mut normal = upgrade(args.addr)?;
    let flooders: Vec<_> = (0..args.clients)
        .map(|_| {
            let (c, addr) = (counters.clone(), args.addr);
            std::thread::spawn(move || flood(addr, &c))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut peak = rss0.unwrap_or(0);
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(r) = args.pid.and_then(rss_kib) {
            peak = peak.max(r);
        }
        let t = Instant::now();
        // "ping?" echoed back: a 7-byte unmasked text frame.
        let ok = normal.write_all(&frame(1, b"ping?")).is_ok()
            && normal.read_exact(&mut buf[..7]).is_ok()
            && &buf[2..7] == b"ping?";
        if ok {
            latencies.push(t.elapsed());
        } else {
            failures += 1;
            normal = upgrade(args.addr)?;
        }
    }
    counters.stop.store(true, Ordering::Relaxed);
    for f in flooders {
        let _ = f.join();
    }
    latencies.sort();
    let pct = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{} flooder(s), {} s: {:.1} MB of pings sent ({} pings), server closed a flooder {} times",
        args.clients,
        args.seconds,
        counters.sent.load(Ordering::Relaxed) as f64 / 1e6,
        counters.sent.load(Ordering::Relaxed) / 6,
        counters.closed.load(Ordering::Relaxed)
    );
    println!(
        "normal client: {} echoes, {failures} failed, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        pct(50),
        pct(99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    if let Some(pid) = args.pid {
        let end = rss_kib(pid);
        println!(
            "server RSS: start {} MiB, peak {} MiB, end {} MiB",
            rss0.unwrap_or(0) / 1024,
            peak / 1024,
            end.unwrap_or(0) / 1024
        );
    }
    Ok(())
}
