//! Echo ping-pong load generator: `--conns N` connections to an echo server, each sending
//! a `--size`-byte message (default 64) and waiting for all of it to come back before
//! sending the next, for `--secs` seconds. One thread, epoll (the `polling` crate), so
//! the client costs little CPU per message and works the same against any server.
//!
//! ```sh
//! cargo run --release --example echo_load -- --port 9000 --conns 100 --secs 10 [--server-pid PID]
//! ```
//! Prints `RESULT msgs=.. secs=.. msgs_per_s=.. client_us_per_msg=..` and, with
//! `--server-pid`, `srv_cpu_pct=.. srv_us_per_msg=..` (utime+stime from `/proc/PID/stat`);
//! then the round-trip latencies of the measured messages from an HDR histogram:
//! `LATENCY count=N p50_ms=.. p90_ms=.. p99_ms=.. p99.9_ms=.. max_ms=..` (a message's
//! latency is read once per poll wakeup, so it includes the wait for its turn in the
//! batch). While it runs, a progress line on stderr when stderr is a terminal.
//!
//! Flags: `--host HOST` (default 127.0.0.1), `--port N` (default 9000), `--conns N`
//! (default 100), `--secs S` (default 10), `--warmup S` (default 1, not measured),
//! `--size BYTES` (default 64, at most 65536), `--server-pid PID`, `--help`. Exit status:
//! 0 after a run, 2 for a usage error (a message and the usage on stderr), 1 when the
//! server cannot be reached or closes a connection (one line on stderr).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

#[path = "common/loadstats.rs"]
mod loadstats;

use loadstats::{Latencies, Progress};

const USAGE: &str = "\
usage: echo_load [--host HOST] [--port N] [--conns N] [--secs S] [--warmup S] [--size BYTES]
                 [--server-pid PID]
      --host HOST        the echo server's host (default 127.0.0.1)
      --port N           its port (default 9000)
      --conns N          connections, each with one message in flight (default 100)
      --secs S           seconds measured (default 10)
      --warmup S         seconds run before measuring (default 1)
      --size BYTES       message size, 1 to 65536 (default 64)
      --server-pid PID   also report this process's CPU time per message
  -h, --help             this help
";

/// What the command line asked for.
struct Args {
    host: String,
    port: u16,
    conns: usize,
    secs: f64,
    warmup: f64,
    size: usize,
    server_pid: Option<u32>,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 9000,
        conns: 100,
        secs: 10.0,
        warmup: 1.0,
        size: 64,
        server_pid: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("host") => a.host = parser.value()?.string()?,
            Long("port") => a.port = number(&mut parser, "--port")?,
            Long("conns") => a.conns = number(&mut parser, "--conns")?,
            Long("secs") => a.secs = number(&mut parser, "--secs")?,
            Long("warmup") => a.warmup = number(&mut parser, "--warmup")?,
            Long("size") => a.size = number(&mut parser, "--size")?,
            Long("server-pid") => a.server_pid = Some(number(&mut parser, "--server-pid")?),
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    // A day at most: NaN, negatives and huge values are usage errors, not panics.
    const DAY: f64 = 86_400.0;
    if !(a.secs > 0.0 && a.secs <= DAY) {
        return Err(format!(
            "--secs {}: not a number of seconds between 0 and {DAY}",
            a.secs
        )
        .into());
    }
    if !(a.warmup >= 0.0 && a.warmup <= DAY) {
        return Err(format!(
            "--warmup {}: not a number of seconds from 0 to {DAY}",
            a.warmup
        )
        .into());
    }
    if !(1..=100_000).contains(&a.conns) {
        return Err("--conns must be between 1 and 100000".into());
    }
    // A message must fit an empty socket send buffer: writes never wait.
    if !(1..=65_536).contains(&a.size) {
        return Err("--size must be between 1 and 65536".into());
    }
    Ok(a)
}

/// The value of `flag` as a number; the error names the flag.
fn number<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    use lexopt::prelude::*;
    let v = parser.value()?.string()?;
    v.parse().map_err(|e| format!("{flag} {v:?}: {e}").into())
}

/// utime+stime of a process in clock ticks.
fn ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU time of this process (user + system).
fn self_cpu() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Conn {
    s: TcpStream,
    got: usize,
    /// When the message in flight was sent.
    sent: Instant,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprint!("echo_load: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("echo_load: {e}");
        std::process::exit(1);
    }
}

/// Runs the load and prints the result line; `Err` is the line to print.
fn run(args: Args) -> Result<(), String> {
    let Args {
        host,
        port,
        conns,
        secs,
        warmup,
        size,
        server_pid,
    } = args;
    let msg = vec![b'x'; size];
    let target = format!("{host}:{port}");
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("{what}: {e}")
    };

    let poller = Poller::new().map_err(io("epoll"))?;
    let mut cs = Vec::with_capacity(conns);
    for i in 0..conns {
        let s = TcpStream::connect((host.as_str(), port))
            .map_err(io(&format!("cannot connect to {target}")))?;
        s.set_nodelay(true).map_err(io("setsockopt"))?;
        s.set_nonblocking(true).map_err(io("fcntl"))?;
        // SAFETY: the stream outlives its registration (level-triggered; deleted below).
        unsafe { poller.add_with_mode(&s, Event::readable(i), PollMode::Level) }
            .map_err(io("epoll"))?;
        cs.push(Conn {
            s,
            got: 0,
            sent: Instant::now(),
        });
    }
    for c in &mut cs {
        c.s.write_all(&msg).map_err(io("write"))?;
        c.sent = Instant::now();
    }
    let mut latencies = Latencies::new();
    let mut progress = Progress::new(None, "msgs");
    let mut events = Events::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut count: u64 = 0;
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(warmup);
    let end = warm_end + Duration::from_secs_f64(secs);
    let mut measuring = false;
    let (mut t0, mut c0, mut s0, mut n0) = (start, Duration::ZERO, None, 0);
    loop {
        let now = Instant::now();
        if !measuring && now >= warm_end {
            measuring = true;
            t0 = now;
            c0 = self_cpu();
            s0 = server_pid.and_then(ticks);
            n0 = count;
        }
        if now >= end {
            break;
        }
        progress.set(count, 0);
        events.clear();
        poller
            .wait(&mut events, Some(Duration::from_millis(100)))
            .map_err(io("epoll"))?;
        // One clock read per wakeup: the messages of a batch share it.
        let woke = Instant::now();
        for ev in events.iter() {
            let c = &mut cs[ev.key];
            loop {
                match c.s.read(&mut buf) {
                    Ok(0) => return Err(format!("{target} closed connection {}", ev.key)),
                    Ok(n) => {
                        c.got += n;
                        if c.got >= size {
                            c.got -= size;
                            count += 1;
                            if measuring {
                                latencies.record(woke - c.sent);
                            }
                            // The previous message came back whole: the send buffer is
                            // empty, and a message (at most 64 KiB) fits it.
                            c.s.write_all(&msg).map_err(io("write"))?;
                            c.sent = woke;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("read from {target}: {e}")),
                }
            }
        }
    }
    progress.finish(count, 0);
    let wall = t0.elapsed().as_secs_f64();
    let msgs = count - n0;
    let ccpu = (self_cpu() - c0).as_secs_f64();
    let mut line = format!(
        "RESULT conns={conns} size={size} msgs={msgs} secs={wall:.2} msgs_per_s={:.0} client_us_per_msg={:.2}",
        msgs as f64 / wall,
        1e6 * ccpu / msgs as f64
    );
    if let (Some(a), Some(b)) = (s0, server_pid.and_then(ticks)) {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let cpu = (b - a) as f64 / hz;
        line += &format!(
            " srv_cpu_pct={:.0} srv_us_per_msg={:.2}",
            100.0 * cpu / wall,
            1e6 * cpu / msgs as f64
        );
    }
    println!("{line}");
    println!("{}", latencies.line());
    for c in &cs {
        poller.delete(&c.s).map_err(io("epoll"))?;
    }
    Ok(())
}
