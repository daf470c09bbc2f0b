//! Heap allocations per keep-alive HTTP request (or per echoed message) in steady state,
//! counted by a global allocator.
//!
//! The server (squall's `HttpServer` answering `GET /` with `Hello, world`, as the demo
//! `http_server` does, or the `echo_server` example's echo loop with `--echo`) runs on
//! the main thread; a client thread on a plain blocking `TcpStream` (which allocates
//! nothing per request) sends `--warmup` requests, snapshots the counters, sends `--n`
//! more, snapshots again and stops the reactor.
//!
//! ```sh
//! cargo run --release --example alloc_count -- [--n 100000] [--pipeline 1] [--echo]
//! ```
//! `--idle N [--no-get]`: instead, heap bytes and blocks the server holds per idle
//! connection; with `--ws`, per idle WebSocket connection of the `ws_echo` example's
//! server (each after its handshake and one 32-byte echo, or the handshake alone with
//! `--no-get`). `--sites`: also print allocation sites (slow; use a small `--n`).
//!
//! Prints `RESULT mode=.. allocs_per_req=.. reallocs_per_req=.. bytes_per_req=..`.
//! `--help` lists the options; a bad one is a usage error (exit 2).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use slab::Slab;
use squall::http::HttpServer;
use squall::net::TcpServer;
use squall::stream::IoStream;
use squall::websocket::{accept, WebSocket, WebSocketOptions};
use squall::{Future, Reactor};

struct Counting;

/// `--sites`: while TRACING, each allocation's call site (a backtrace, shortened to the
/// frames of interest) is recorded by address and forgotten when freed, so the end of a
/// window shows both where every allocation came from and which ones are still live.
static TRACING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
type SiteMap = std::collections::HashMap<usize, String>;
static SITES: std::sync::Mutex<Option<(SiteMap, std::collections::HashMap<String, u64>)>> =
    std::sync::Mutex::new(None);
thread_local! {
    static IN_TRACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn site_of_current() -> String {
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    let mut out = Vec::new();
    for line in bt.lines() {
        let l = line.trim();
        if let Some((_, name)) = l.split_once(": ") {
            const SKIP: &[&str] = &[
                "alloc_count::site_of",
                "alloc_count::trace",
                "<alloc_count::Counting",
                "alloc::",
                "<alloc::",
                "core::",
                "<core::",
                "std::",
                "<std::",
                "__rust",
                "__rdl",
            ];
            if SKIP.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            out.push(name.to_string());
            if out.len() == 5 {
                break;
            }
        }
    }
    out.join(" <- ")
}

fn trace_alloc(ptr: *mut u8, size: usize) {
    if !TRACING.load(Relaxed) || IN_TRACE.with(|g| g.replace(true)) {
        return;
    }
    let site = format!("{size:>6} B  {}", site_of_current());
    if let Some((live, all)) = SITES.lock().unwrap().as_mut() {
        *all.entry(site.clone()).or_default() += 1;
        live.insert(ptr as usize, site);
    }
    IN_TRACE.with(|g| g.set(false));
}

fn trace_free(ptr: *mut u8) {
    if !TRACING.load(Relaxed) || IN_TRACE.with(|g| g.replace(true)) {
        return;
    }
    if let Some((live, _)) = SITES.lock().unwrap().as_mut() {
        live.remove(&(ptr as usize));
    }
    IN_TRACE.with(|g| g.set(false));
}

fn start_sites(on: bool) {
    if on {
        *SITES.lock().unwrap() = Some(Default::default());
        TRACING.store(true, Relaxed);
    }
}

/// Prints allocation sites per unit of work (all) and still-live blocks per unit.
fn report_sites(units: f64) {
    TRACING.store(false, Relaxed);
    let Some((live, all)) = SITES.lock().unwrap().take() else {
        return;
    };
    let mut all: Vec<_> = all.into_iter().collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.1));
    println!("allocations per unit, by site:");
    for (site, n) in all {
        println!("  {:8.3}  {site}", n as f64 / units);
    }
    let mut by: std::collections::HashMap<String, u64> = Default::default();
    for site in live.into_values() {
        *by.entry(site).or_default() += 1;
    }
    let mut by: Vec<_> = by.into_iter().collect();
    by.sort_by_key(|e| std::cmp::Reverse(e.1));
    println!("still live at the end, per unit, by site:");
    for (site, n) in by {
        println!("  {:8.3}  {site}", n as f64 / units);
    }
}

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes currently allocated (may wrap below zero transiently: read as i64).
static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        LIVE.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on.
        let p = unsafe { System.alloc(layout) };
        trace_alloc(p, layout.size());
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        LIVE.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        trace_alloc(p, layout.size());
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREES.fetch_add(1, Relaxed);
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        trace_free(ptr);
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        LIVE.fetch_add(new_size as u64, Relaxed);
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        trace_free(ptr);
        // SAFETY: `ptr` came from this allocator with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        trace_alloc(p, new_size);
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> [u64; 4] {
    [
        ALLOCS.load(Relaxed),
        REALLOCS.load(Relaxed),
        FREES.load(Relaxed),
        BYTES.load(Relaxed),
    ]
}

const USAGE: &str = "\
usage: alloc_count [--n N] [--warmup N] [--pipeline N] [--echo] [--sites]
       alloc_count --idle N [--no-get] [--echo | --ws]
  --n N          requests measured (default 100000)
  --warmup N     requests before measuring (default 10000)
  --pipeline N   requests written back to back before reading (default 1, at least 1)
  --echo         measure the TCP echo loop instead of the HTTP server
  --sites        also print allocation sites (slow; use a small --n)
  --idle N       instead: heap held per idle connection, over N connections
  --no-get       with --idle: connections that never sent a request (with --ws: the
                 handshake only, no message)
  --ws           with --idle: WebSocket connections to the ws_echo example's server
  -h, --help     this help
";

/// What the command line asked for.
struct Args {
    n: u64,
    warmup: u64,
    pipeline: usize,
    echo: bool,
    sites: bool,
    idle: usize,
    no_get: bool,
    ws: bool,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args {
        n: 100_000,
        warmup: 10_000,
        pipeline: 1,
        echo: false,
        sites: false,
        idle: 0,
        no_get: false,
        ws: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("n") => a.n = parser.value()?.parse()?,
            Long("warmup") => a.warmup = parser.value()?.parse()?,
            Long("pipeline") => a.pipeline = parser.value()?.parse()?,
            Long("echo") => a.echo = true,
            Long("sites") => a.sites = true,
            Long("idle") => a.idle = parser.value()?.parse()?,
            Long("no-get") => a.no_get = true,
            Long("ws") => a.ws = true,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if a.pipeline == 0 {
        return Err("--pipeline must be at least 1".into());
    }
    if a.ws && (a.idle == 0 || a.echo) {
        return Err("--ws goes with --idle, and not with --echo".into());
    }
    Ok(a)
}

/// Reads the echo_server example's loop (the same code, so the count is the example's).
fn echo(stream: IoStream) {
    let s = stream.clone();
    stream
        .read_bytes(64 * 1024, true)
        .add_done_callback(move |f: &Future<Bytes>| {
            if let Some(Ok(data)) = f.take_result() {
                s.write_and_forget(data);
                echo(s.clone());
            }
        });
}

/// Sends `batch` requests per write and reads back `batch` responses of `resp_len`
/// bytes each, `rounds` times. Allocation-free.
fn drive(
    s: &mut TcpStream,
    req: &[u8],
    batch: usize,
    resp_len: usize,
    rounds: u64,
    buf: &mut [u8],
) {
    for _ in 0..rounds {
        s.write_all(req).expect("write");
        let mut need = batch * resp_len;
        while need > 0 {
            let k = need.min(buf.len());
            let n = s.read(&mut buf[..k]).expect("read");
            assert!(n > 0, "server closed");
            need -= n;
        }
    }
}

/// Opens a WebSocket connection: the handshake, then (with `message`) one masked
/// 32-byte binary message and its echo, as `idle_clients --ws --ws-message` does.
fn ws_open(addr: std::net::SocketAddr, message: bool) -> TcpStream {
    const HANDSHAKE: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(HANDSHAKE).expect("write");
    let mut buf = [0u8; 512];
    let mut got = 0;
    while !buf[..got].ends_with(b"\r\n\r\n") {
        let n = s.read(&mut buf[got..]).expect("read");
        assert!(n > 0, "the server closed during the handshake");
        got += n;
    }
    assert!(
        buf.starts_with(b"HTTP/1.1 101"),
        "the handshake was refused"
    );
    if message {
        // FIN + binary, masked, 32 bytes; the all-zero mask leaves the payload as is.
        let mut frame = vec![0x82, 0x80 | 32, 0, 0, 0, 0];
        frame.extend_from_slice(&[b'x'; 32]);
        s.write_all(&frame).expect("write");
        let mut echo = [0u8; 34];
        s.read_exact(&mut echo).expect("read the echo");
    }
    s
}

/// Opens `n` connections (each sending one keep-alive GET and reading the reply when
/// `get`; WebSocket connections with `ws`), then reports the heap bytes and blocks the
/// server holds per connection.
fn idle_conns(
    addr: std::net::SocketAddr,
    n: usize,
    get: bool,
    ws: bool,
    remote: squall::Remote,
    sites: bool,
) {
    const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
    let open = |conns: &mut Vec<TcpStream>, k: usize| {
        let mut buf = [0u8; 512];
        for _ in 0..k {
            if ws {
                conns.push(ws_open(addr, get));
                continue;
            }
            let mut s = TcpStream::connect(addr).expect("connect");
            if get {
                s.write_all(REQ).expect("write");
                let mut got = 0;
                while !buf[..got].ends_with(b"Hello, world") {
                    got += s.read(&mut buf[got..]).expect("read");
                }
            }
            conns.push(s);
        }
    };
    let settle = || std::thread::sleep(std::time::Duration::from_millis(500));
    // Warm-up: pools, slab and timer storage reach their size, then are left to reuse.
    let mut conns = Vec::with_capacity(n);
    open(&mut conns, n.min(200));
    conns.clear();
    settle();
    let (l0, a0, f0) = (
        LIVE.load(Relaxed) as i64,
        ALLOCS.load(Relaxed),
        FREES.load(Relaxed),
    );
    start_sites(sites);
    open(&mut conns, n);
    settle();
    report_sites(n as f64);
    let (l1, a1, f1) = (
        LIVE.load(Relaxed) as i64,
        ALLOCS.load(Relaxed),
        FREES.load(Relaxed),
    );
    println!(
        "RESULT idle_conns={n} get={get} ws={ws} heap_bytes_per_conn={:.1} live_blocks_per_conn={:.2}",
        (l1 - l0) as f64 / n as f64,
        ((a1 - a0) as f64 - (f1 - f0) as f64) / n as f64
    );
    drop(conns);
    remote.stop();
}

fn main() {
    env_logger::init();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprint!("alloc_count: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("alloc_count: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> squall::Result<()> {
    let Args {
        n,
        warmup,
        pipeline,
        echo: echo_mode,
        sites,
        idle,
        no_get,
        ws,
    } = args;

    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let (addr, _http, _tcp);
    if echo_mode {
        let server = TcpServer::new(&handle, |stream, _| {
            let _ = stream.set_nodelay(true);
            echo(stream);
        });
        addr = server.listen("127.0.0.1:0")?;
        _tcp = Some(server);
        _http = None;
    } else if ws {
        // The ws_echo example's server: the same options, bookkeeping and echo.
        let options = WebSocketOptions::default()
            .max_message_size(16 << 20)
            .check_origin(|_, _| true);
        let open: Rc<RefCell<Slab<WebSocket>>> = Rc::default();
        let server = HttpServer::new(&handle, move |req, resp| {
            let Ok(ws) = accept(&req, resp, &options) else {
                return;
            };
            let key = open.borrow_mut().insert(ws.clone());
            let o = open.clone();
            ws.on_close(move |_, _| {
                o.borrow_mut().try_remove(key);
            });
            ws.on_message(|ws, msg| ws.send(msg));
        });
        addr = server.listen("127.0.0.1:0")?;
        _http = Some(server);
        _tcp = None;
    } else {
        let server = HttpServer::new(&handle, |_req, mut resp| {
            resp.set_header_static("content-type", "text/plain");
            resp.send(Bytes::from_static(b"Hello, world"));
        });
        addr = server.listen("127.0.0.1:0")?;
        _http = Some(server);
        _tcp = None;
    }
    let remote = handle.remote();
    if idle > 0 {
        let get = !no_get;
        let client = std::thread::spawn(move || {
            idle_conns(addr, idle, get && !echo_mode, ws, remote, sites)
        });
        reactor.run()?;
        client.join().expect("client thread");
        return Ok(());
    }
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let one: &[u8] = if echo_mode {
            &[b'x'; 64]
        } else {
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
        };
        // Learn the response length from one request.
        s.write_all(one).expect("write");
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        loop {
            got += s.read(&mut buf[got..]).expect("read");
            let done = if echo_mode {
                got == one.len()
            } else {
                buf[..got].ends_with(b"Hello, world")
            };
            if done {
                break;
            }
        }
        let resp_len = got;
        let req = one.repeat(pipeline);
        let rounds = |k: u64| k.div_ceil(pipeline as u64);
        drive(&mut s, &req, pipeline, resp_len, rounds(warmup), &mut buf);
        let a = snapshot();
        start_sites(sites);
        drive(&mut s, &req, pipeline, resp_len, rounds(n), &mut buf);
        let b = snapshot();
        report_sites((rounds(n) * pipeline as u64) as f64);
        remote.stop();
        let reqs = (rounds(n) * pipeline as u64) as f64;
        let per = |i: usize| (b[i] - a[i]) as f64 / reqs;
        println!(
            "RESULT mode={} pipeline={pipeline} requests={reqs} allocs_per_req={:.3} reallocs_per_req={:.3} frees_per_req={:.3} bytes_per_req={:.1} response_bytes={resp_len}",
            if echo_mode { "echo64" } else { "http" },
            per(0),
            per(1),
            per(2),
            per(3)
        );
    });
    reactor.run()?;
    client.join().expect("client thread");
    Ok(())
}
