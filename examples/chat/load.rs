//! Load check for the chat demo: parks `--clients` long-poll requests on a running chat
//! server, posts one message and measures how long it takes to reach every one of them;
//! with `--server-pid`, also the server's resident memory per parked waiter.
//!
//! ```sh
//! cargo run --release --example chat -- --port 8888 &
//! cargo run --release --example chat_load -- --port 8888 --clients 10000 --server-pid $!
//! ```
//! Prints `RESULT clients=.. delivered=.. deliver_all_ms=.. [rss_idle_kb=.. rss_parked_kb=..
//! bytes_per_waiter=..]`, then how long the message took to reach each client (from the
//! post to its answer) from an HDR histogram:
//! `LATENCY count=N p50_ms=.. p90_ms=.. p99_ms=.. p99.9_ms=.. max_ms=..`; exits 1 if a
//! client got no answer within `--timeout` seconds. While waiting, a progress line on
//! stderr when stderr is a terminal (answers so far; errors: connections closed first).
//! Needs a descriptor limit above `--clients` in both processes (`ulimit -n`).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

#[path = "../common/loadstats.rs"]
mod loadstats;

use loadstats::{Latencies, Progress};

const USAGE: &str = "usage: chat_load [--host HOST] [--port PORT] [--clients N] [--server-pid PID] [--timeout SECS]";

struct Args {
    host: String,
    port: u16,
    clients: usize,
    pid: Option<u32>,
    timeout: u64,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 8888,
        clients: 10_000,
        pid: None,
        timeout: 120,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("host") => a.host = p.value()?.string()?,
            Long("port") => a.port = p.value()?.parse()?,
            Long("clients") => a.clients = p.value()?.parse()?,
            Long("server-pid") => a.pid = Some(p.value()?.parse()?),
            Long("timeout") => a.timeout = p.value()?.parse()?,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(a)
}

fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn form_request(path: &str, form: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
}

/// The body of a complete response in `buf`, if it is complete.
fn complete_body(buf: &[u8]) -> Option<&[u8]> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head
        .split("content-length:")
        .nth(1)?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()?;
    buf.get(end..end + len)
}

/// One request on a fresh blocking connection; returns the response body.
fn exchange(addr: &str, req: &str) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(body) = complete_body(&buf) {
            return Ok(body.to_vec());
        }
        match s.read(&mut tmp)? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

fn main() {
    let a = parse_args().unwrap_or_else(|e| {
        eprintln!("chat_load: {e}\n{USAGE}");
        std::process::exit(2);
    });
    match run(&a) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("chat_load: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the check; `Ok(false)` when some client got no answer in time.
fn run(a: &Args) -> std::io::Result<bool> {
    let addr = format!("{}:{}", a.host, a.port);
    let rss_idle = a.pid.and_then(|p| proc_status(p, "VmRSS:"));
    let fds_idle = a.pid.map_or(0, open_fds);
    let first: serde_json::Value = serde_json::from_slice(&exchange(
        &addr,
        &form_request("/a/message/new", "body=start"),
    )?)?;
    let cursor = first["id"].as_str().unwrap_or_default().to_string();
    let poller = Poller::new()?;
    let req = form_request("/a/message/updates", &format!("cursor={cursor}"));
    let mut conns = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        let mut s = TcpStream::connect(&addr)?;
        s.write_all(req.as_bytes())?;
        s.set_nonblocking(true)?;
        // SAFETY: each socket is deleted from the poller before it is dropped (below).
        unsafe { poller.add(&s, Event::readable(i))? };
        conns.push((s, Vec::new(), false, false));
    }
    // Wait (bounded) until the server holds every connection and its memory settles.
    let settle_deadline = Instant::now() + Duration::from_secs(30);
    let mut rss_parked = None;
    if let Some(pid) = a.pid {
        while open_fds(pid) < fds_idle + a.clients && Instant::now() < settle_deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut last = 0;
        while Instant::now() < settle_deadline {
            std::thread::sleep(Duration::from_millis(200));
            let now = proc_status(pid, "VmRSS:").unwrap_or(0);
            if now == last {
                break;
            }
            last = now;
        }
        rss_parked = Some(if last == 0 {
            proc_status(pid, "VmRSS:").unwrap_or(0)
        } else {
            last
        });
    }
    let start = Instant::now();
    exchange(&addr, &form_request("/a/message/new", "body=ping"))?;
    let deadline = start + Duration::from_secs(a.timeout);
    let (mut delivered, mut events) = (0, Events::new());
    let (mut latencies, mut closed) = (Latencies::new(), 0u64);
    let mut progress = Progress::new(Some(a.clients as u64), "delivered");
    let mut tmp = vec![0u8; 16 * 1024];
    while delivered + (closed as usize) < a.clients && Instant::now() < deadline {
        progress.set(delivered as u64, closed);
        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(500)))?;
        for ev in events.iter() {
            let (s, buf, done, eof) = &mut conns[ev.key];
            loop {
                match s.read(&mut tmp) {
                    Ok(0) => {
                        *eof = true;
                        break;
                    }
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        *eof = true;
                        break;
                    }
                }
            }
            if !*done && complete_body(buf).is_some_and(|b| b.windows(4).any(|w| w == b"ping")) {
                *done = true;
                delivered += 1;
                latencies.record(start.elapsed());
            } else if !*done && *eof {
                *done = true;
                closed += 1;
            } else if !*done {
                poller.modify(&*s, Event::readable(ev.key))?;
            }
        }
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    progress.finish(delivered as u64, closed);
    for (s, ..) in &conns {
        poller.delete(s)?;
    }
    let mut line = format!(
        "RESULT clients={} delivered={delivered} deliver_all_ms={ms:.1}",
        a.clients
    );
    if let (Some(idle), Some(parked)) = (rss_idle, rss_parked) {
        let per = (parked.saturating_sub(idle) * 1024) as f64 / a.clients as f64;
        line += &format!(" rss_idle_kb={idle} rss_parked_kb={parked} bytes_per_waiter={per:.0}");
    }
    println!("{line}");
    println!("{}", latencies.line());
    Ok(delivered == a.clients)
}
