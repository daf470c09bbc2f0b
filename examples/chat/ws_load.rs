//! Load check for the chat's WebSocket mode: connects `--clients` WebSocket users to
//! `/chatsocket` (spread over `--ports`), leaves them idle, then sends `--rounds` messages
//! from one more user on the first port and times how long each reaches every user.
//! With `--server-pid`, also the server's RSS per user and its CPU while idle.
//!
//! ```sh
//! cargo run --release --example chat -- --port 8888 & pid=$!
//! cargo run --release --example chat_ws_load -- --ports 8888 --clients 10000 --server-pid $pid
//! ```
//! Speaks only what Tornado's websocket chat demo speaks too (send `{"body": ...}`,
//! receive text frames containing it), so it measures that demo the same way.
//! Prints `RESULT clients=.. rounds=.. p50_ms=.. p99_ms=.. all_ms=.. last_ms=R1/R2/..
//! [per port] [rss_per_user_b=.. idle_cpu_pct=.. bcast_cpu_ms=..]`; exits 1 if a user
//! missed a message. `last_ms`: per round, when the last user got the message;
//! `bcast_cpu_ms`: the server's CPU time (utime + stime) over all the rounds, ÷ rounds.
//! Then every delivery's latency from an HDR histogram:
//! `LATENCY count=N p50_ms=.. p90_ms=.. p99_ms=.. p99.9_ms=.. max_ms=..`. During the rounds,
//! a progress line on stderr when stderr is a terminal (deliveries; errors: missed ones).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::websocket::{connect, Message, WebSocket, WebSocketOptions};
use squall::{Future, Handle, PeriodicCallback, Reactor};

#[path = "../common/loadstats.rs"]
mod loadstats;

use loadstats::{Latencies, Progress};

struct Args {
    ports: Vec<u16>,
    clients: usize,
    rounds: usize,
    pid: Option<u32>,
    idle_secs: u64,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args {
        ports: vec![8888],
        clients: 1000,
        rounds: 5,
        pid: None,
        idle_secs: 5,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("ports") => {
                let v = p.value()?.string()?;
                a.ports = v
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--ports: {e}"))?;
            }
            Long("clients") => a.clients = p.value()?.parse()?,
            Long("rounds") => a.rounds = p.value()?.parse()?,
            Long("server-pid") => a.pid = Some(p.value()?.parse()?),
            Long("idle-secs") => a.idle_secs = p.value()?.parse()?,
            Short('h') | Long("help") => {
                println!("usage: chat_ws_load [--ports P1,P2] [--clients N] [--rounds R] [--server-pid PID] [--idle-secs S]");
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
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Per round: when it was sent, and each user's delivery time.
#[derive(Default)]
struct Round {
    marker: String,
    sent: Option<Instant>,
    got: Vec<Option<Duration>>,
    left: usize,
    done: Option<Future<()>>,
}

type Shared = Rc<RefCell<Round>>;

fn run_until_timeout<T: Clone + 'static>(
    reactor: &mut Reactor,
    f: &Future<T>,
    secs: u64,
) -> squall::Result<T> {
    let t = squall::with_timeout(&reactor.handle(), Duration::from_secs(secs), f);
    reactor.run_until(&t)
}

/// Connects `n` users, at most 200 handshakes in flight.
fn connect_all(
    handle: &Handle,
    urls: &[String],
    n: usize,
    round: &Shared,
) -> Future<Vec<WebSocket>> {
    let all = Rc::new(RefCell::new(Vec::with_capacity(n)));
    let done = Future::new();
    let next = Rc::new(std::cell::Cell::new(0usize));
    fn start(
        h: Handle,
        urls: Rc<Vec<String>>,
        n: usize,
        next: Rc<std::cell::Cell<usize>>,
        all: Rc<RefCell<Vec<WebSocket>>>,
        round: Shared,
        done: Future<Vec<WebSocket>>,
    ) {
        let i = next.get();
        if i >= n {
            return;
        }
        next.set(i + 1);
        let url = &urls[i % urls.len()];
        connect(&h, url, WebSocketOptions::default()).add_done_callback(move |f| {
            match f.take_result() {
                Some(Ok(ws)) => {
                    let r = round.clone();
                    ws.on_message(move |_, m| {
                        let Message::Text(t) = m else { return };
                        let mut r = r.borrow_mut();
                        if r.marker.is_empty()
                            || !t.contains(r.marker.as_str())
                            || r.got[i].is_some()
                        {
                            return;
                        }
                        r.got[i] = r.sent.map(|s| s.elapsed());
                        r.left -= 1;
                        if r.left == 0
                            && let Some(d) = r.done.take()
                        {
                            d.set_result(());
                        }
                    });
                    all.borrow_mut().push(ws);
                    if all.borrow().len() == n {
                        done.set_result(std::mem::take(&mut *all.borrow_mut()));
                    } else {
                        start(h, urls, n, next, all, round, done);
                    }
                }
                other => {
                    eprintln!("chat_ws_load: connect {i}: {other:?}");
                    done.set_error(squall::Error::StreamClosed);
                }
            }
        });
    }
    let urls = Rc::new(urls.to_vec());
    for _ in 0..200.min(n) {
        start(
            handle.clone(),
            urls.clone(),
            n,
            next.clone(),
            all.clone(),
            round.clone(),
            done.clone(),
        );
    }
    done
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() -> squall::Result<()> {
    let a = parse_args().unwrap_or_else(|e| {
        eprintln!("chat_ws_load: {e}");
        std::process::exit(2);
    });
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let urls: Vec<String> = a
        .ports
        .iter()
        .map(|p| format!("ws://127.0.0.1:{p}/chatsocket"))
        .collect();
    let rss0 = a.pid.and_then(|p| proc_status(p, "VmRSS:"));
    let round: Shared = Rc::default();
    round.borrow_mut().got = vec![None; a.clients];
    let t = Instant::now();
    let users = run_until_timeout(
        &mut reactor,
        &connect_all(&handle, &urls, a.clients, &round),
        300,
    )?;
    let sender = run_until_timeout(
        &mut reactor,
        &connect(&handle, &urls[0], WebSocketOptions::default()),
        30,
    )?;
    eprintln!(
        "{} users connected in {:.1} s",
        users.len(),
        t.elapsed().as_secs_f64()
    );
    // Idle: let join batches drain, then measure memory and CPU over `idle_secs`.
    let settle: Future<()> = Future::new();
    let s = settle.clone();
    handle.call_later(Duration::from_secs(2), move || s.set_result(()));
    reactor.run_until(&settle)?;
    let mut extra = String::new();
    if let Some(pid) = a.pid {
        let (rss1, c0) = (proc_status(pid, "VmRSS:"), cpu_ticks(pid));
        let idle: Future<()> = Future::new();
        let i = idle.clone();
        handle.call_later(Duration::from_secs(a.idle_secs), move || i.set_result(()));
        reactor.run_until(&idle)?;
        let c1 = cpu_ticks(pid);
        if let (Some(r0), Some(r1)) = (rss0, rss1) {
            extra += &format!(
                " rss_per_user_b={}",
                r1.saturating_sub(r0) / a.clients as u64
            );
        }
        if let (Some(c0), Some(c1)) = (c0, c1) {
            let pct = (c1 - c0) as f64 / 100.0 / a.idle_secs as f64 * 100.0; // 100 ticks/s
            extra += &format!(" idle_cpu_pct={pct:.2}");
        }
    }
    let mut all: Vec<Duration> = Vec::new();
    let mut per_port: Vec<Vec<Duration>> = vec![Vec::new(); a.ports.len()];
    let mut missed = 0;
    let mut last_ms: Vec<String> = Vec::new();
    let cpu_start = a.pid.and_then(cpu_ticks);
    let mut latencies = Latencies::new();
    let total = (a.clients * a.rounds) as u64;
    let progress = Rc::new(RefCell::new(Progress::new(Some(total), "deliveries")));
    // Deliveries and misses of the rounds already over.
    let before = Rc::new(std::cell::Cell::new((0u64, 0u64)));
    let ticker = {
        let (p, r, b) = (progress.clone(), round.clone(), before.clone());
        PeriodicCallback::new(&handle, Duration::from_millis(250), move || {
            let (done, missed) = b.get();
            let r = r.borrow();
            let now = (r.got.len() - r.left) as u64;
            p.borrow_mut().set(done + now, missed);
        })
    };
    if progress.borrow().visible() {
        ticker.start();
    }
    for n in 0..a.rounds {
        let done = Future::new();
        {
            let mut r = round.borrow_mut();
            r.marker = format!("load-{}-{n}", std::process::id());
            r.got.iter_mut().for_each(|g| *g = None);
            r.left = a.clients;
            r.done = Some(done.clone());
            r.sent = Some(Instant::now());
        }
        let body = format!("{{\"body\": \"{}\"}}", round.borrow().marker);
        sender.send_text(body);
        let _ = run_until_timeout(&mut reactor, &done, 60);
        let r = round.borrow();
        let last = r.got.iter().flatten().max().copied().unwrap_or_default();
        last_ms.push(format!("{:.0}", last.as_secs_f64() * 1000.0));
        for (i, g) in r.got.iter().enumerate() {
            match g {
                Some(d) => {
                    all.push(*d);
                    latencies.record(*d);
                    per_port[i % a.ports.len()].push(*d);
                }
                None => missed += 1,
            }
        }
        before.set((all.len() as u64, missed as u64));
    }
    ticker.stop();
    progress.borrow().finish(all.len() as u64, missed as u64);
    if let (Some(c0), Some(c1)) = (cpu_start, a.pid.and_then(cpu_ticks)) {
        let ms = (c1 - c0) as f64 * 10.0 / a.rounds.max(1) as f64; // 100 ticks/s
        extra += &format!(" bcast_cpu_ms={ms:.0}");
    }
    all.sort();
    let ports: String = per_port
        .iter_mut()
        .zip(&a.ports)
        .map(|(v, p)| {
            v.sort();
            if v.is_empty() {
                String::new()
            } else {
                format!(
                    " port{p}_p50_ms={:.1} port{p}_p99_ms={:.1}",
                    percentile(v, 0.5),
                    percentile(v, 0.99)
                )
            }
        })
        .collect();
    if all.is_empty() {
        eprintln!("chat_ws_load: no message delivered");
        std::process::exit(1);
    }
    println!(
        "RESULT clients={} rounds={} p50_ms={:.1} p99_ms={:.1} all_ms={:.1} last_ms={}{ports}{extra} missed={missed}",
        a.clients,
        a.rounds,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().unwrap().as_secs_f64() * 1000.0,
        last_ms.join("/"),
    );
    println!("{}", latencies.line());
    drop(users);
    std::process::exit(i32::from(missed > 0));
}
