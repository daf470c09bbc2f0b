//! Echo ping-pong load generator: `--conns N` connections to an echo server, each sending
//! a `--size`-byte message (default 64) and waiting for all of it to come back before
//! sending the next, for `--secs` seconds. One thread, epoll (the `polling` crate), so
//! the client costs little CPU per message and works the same against any server.
//!
//! ```sh
//! cargo run --release --example echo_load -- --port 9000 --conns 100 --secs 10 [--server-pid PID]
//! ```
//! Prints one line: `RESULT msgs=.. secs=.. msgs_per_s=.. client_us_per_msg=..` and, with
//! `--server-pid`, `srv_cpu_pct=.. srv_us_per_msg=..` (utime+stime from `/proc/PID/stat`).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let host: String = arg(&args, "--host", "127.0.0.1".to_string());
    let port: u16 = arg(&args, "--port", 9000);
    let conns: usize = arg(&args, "--conns", 100);
    let secs: f64 = arg(&args, "--secs", 10.0);
    let warmup: f64 = arg(&args, "--warmup", 1.0);
    let size: usize = arg(&args, "--size", 64);
    let server_pid: u32 = arg(&args, "--server-pid", 0);
    let msg = vec![b'x'; size];

    let poller = Poller::new()?;
    let mut cs = Vec::with_capacity(conns);
    for i in 0..conns {
        let s = TcpStream::connect((host.as_str(), port))?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        // SAFETY: the stream outlives its registration (level-triggered; deleted below).
        unsafe { poller.add_with_mode(&s, Event::readable(i), PollMode::Level)? };
        cs.push(Conn { s, got: 0 });
    }
    for c in &mut cs {
        c.s.write_all(&msg)?;
    }
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
            s0 = ticks(server_pid);
            n0 = count;
        }
        if now >= end {
            break;
        }
        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let c = &mut cs[ev.key];
            loop {
                match c.s.read(&mut buf) {
                    Ok(0) => {
                        eprintln!("server closed connection {}", ev.key);
                        std::process::exit(1);
                    }
                    Ok(n) => {
                        c.got += n;
                        if c.got >= size {
                            c.got -= size;
                            count += 1;
                            c.s.write_all(&msg)?; // 64 bytes always fit the socket buffer
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let msgs = count - n0;
    let ccpu = (self_cpu() - c0).as_secs_f64();
    let mut line = format!(
        "RESULT conns={conns} size={size} msgs={msgs} secs={wall:.2} msgs_per_s={:.0} client_us_per_msg={:.2}",
        msgs as f64 / wall,
        1e6 * ccpu / msgs as f64
    );
    if let (Some(a), Some(b)) = (s0, ticks(server_pid)) {
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
    for c in &cs {
        poller.delete(&c.s)?;
    }
    Ok(())
}
