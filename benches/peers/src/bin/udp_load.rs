//! UDP echo load: C client sockets (one thread each), each keeping W datagrams of B bytes
//! in flight against an echo server for S seconds; a datagram not answered within 50 ms
//! counts as lost and is replaced. Last line:
//! `datagrams=N lost=L secs=S per_s=R`; with `--server-pid P`, the line before it is the
//! server's CPU over the run, `srv_cpu_us_per_datagram=X`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use squall_peers::Args;

const USAGE: &str = "udp_load [--clients 2] [--window 16] [--size 64] [--secs 5] [--server-pid PID] --addr HOST:PORT";

fn server_ticks(pid: Option<u32>) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn client(addr: SocketAddr, window: usize, size: usize, stop: &AtomicBool) -> (u64, u64) {
    let local = if addr.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
    let s = UdpSocket::bind(local).expect("bind");
    s.connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let msg = vec![b'x'; size];
    let mut buf = vec![0u8; 64 * 1024];
    let (mut got, mut lost) = (0u64, 0u64);
    for _ in 0..window {
        let _ = s.send(&msg);
    }
    while !stop.load(Ordering::Relaxed) {
        match s.recv(&mut buf) {
            Ok(n) if n == size => {
                got += 1;
                let _ = s.send(&msg);
            }
            Ok(_) => {}
            Err(_) => {
                // Nothing for 50 ms: the window was lost; refill it.
                lost += window as u64;
                for _ in 0..window {
                    let _ = s.send(&msg);
                }
            }
        }
    }
    (got, lost)
}

fn main() {
    let args = Args::parse(&[]);
    args.usage_if_help(USAGE);
    let addr: SocketAddr = args.str_or("addr", "127.0.0.1:9000").parse().expect("--addr HOST:PORT");
    let clients: usize = args.get("clients", 2);
    let window: usize = args.get("window", 16);
    let size: usize = args.get("size", 64);
    let secs: f64 = args.get("secs", 5.0);
    let pid: Option<u32> = args.has("server-pid").then(|| args.get("server-pid", 0));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let ticks0 = server_ticks(pid);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || client(addr, window, size, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let ticks1 = server_ticks(pid);
    let elapsed = t0.elapsed().as_secs_f64();
    let (mut got, mut lost) = (0, 0);
    for t in threads {
        let (g, l) = t.join().unwrap();
        got += g;
        lost += l;
    }
    if let (Some(a), Some(b)) = (ticks0, ticks1) {
        let hz = 100.0; // USER_HZ on Linux
        let us = (b - a) as f64 / hz * 1e6;
        println!("srv_cpu_us_per_datagram={:.2} srv_cpu_s={:.2}", us / got.max(1) as f64, us / 1e6);
    }
    println!("datagrams={got} lost={lost} secs={elapsed:.2} per_s={:.0}", got as f64 / elapsed);
}
