//! Embedding squall in a host loop: a fake 60 Hz "game loop" owns the thread and gives
//! squall its idle time each frame, while squall serves a TCP echo with callbacks.
//!
//! The host waits for the next frame with `run_once(Some(time_left))`, so squall's
//! handlers and timers run in the gaps. One frame shows the other way to embed: the
//! host waits on the reactor's descriptor (`Reactor` implements `AsFd`) with `poll(2)`,
//! then runs one iteration with `run_once(Some(Duration::ZERO))`.
//!
//! Run with `cargo run --example embed`; it ends by itself after one second. It takes no
//! arguments (`--help` says so; anything else is a usage error, exit 2).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::{Interest, Reactor};

const FRAME: Duration = Duration::from_micros(16_667);
const FRAMES: u32 = 60;

const USAGE: &str = "\
usage: embed
  runs a 60 Hz host loop for one second that gives squall its idle time, while squall
  serves a TCP echo on 127.0.0.1 (a free port); takes no arguments
  -h, --help  this help
";

fn parse() -> Result<(), lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    if let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(())
}

fn main() {
    env_logger::init();
    if let Err(e) = parse() {
        eprint!("embed: {e}\n{USAGE}");
        std::process::exit(2);
    }
    if let Err(e) = run() {
        eprintln!("embed: {e}");
        std::process::exit(1);
    }
}

fn run() -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();

    // --- squall side: a TCP echo server, all callbacks ---------------------------------
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let accepted = Rc::new(Cell::new(0u32));
    let echoed = Rc::new(Cell::new(0usize));
    let (h, acc, ech) = (handle.clone(), accepted.clone(), echoed.clone());
    handle.add_handler(
        listener,
        Interest::READABLE,
        move |l: &mut TcpListener, _ev| {
            while let Ok((conn, _)) = l.accept() {
                conn.set_nonblocking(true).expect("nonblocking");
                acc.set(acc.get() + 1);
                let ech = ech.clone();
                let token = Rc::new(Cell::new(None));
                let (t, h2) = (token.clone(), h.clone());
                let tok = h
                    .add_handler(conn, Interest::READABLE, move |c: &mut TcpStream, _ev| {
                        let mut buf = [0u8; 1024];
                        match c.read(&mut buf) {
                            Ok(n) if n > 0 => {
                                // Small messages on a fresh socket: the write does not block.
                                c.write_all(&buf[..n]).expect("echo");
                                ech.set(ech.get() + n);
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            _ => {
                                // EOF or error: removing the handler drops (closes) the socket.
                                let _ = h2.remove_handler(t.get().expect("token"));
                            }
                        }
                    })
                    .expect("register connection");
                token.set(Some(tok));
            }
        },
    )?;
    // A squall timer, to show timers run inside the host's frames too.
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let pc = squall::PeriodicCallback::new(&handle, Duration::from_millis(100), move || {
        t.set(t.get() + 1)
    });
    pc.start();

    // --- host side: a frame loop with its own work ------------------------------------
    let mut client = TcpStream::connect(addr)?;
    client.set_nonblocking(true)?;
    let mut received = Vec::new();
    let mut sent = 0usize;
    let mut world = 0u64; // the "simulation"
    let start = Instant::now();
    for frame in 0..FRAMES {
        let frame_start = Instant::now();
        // The host's own work for this frame.
        world = world
            .wrapping_mul(6364136223846793005)
            .wrapping_add(frame as u64);
        if frame % 6 == 0 {
            let msg = format!("frame {frame}\n");
            client.write_all(msg.as_bytes())?;
            sent += msg.len();
        }
        let mut buf = [0u8; 1024];
        loop {
            match client.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }

        if frame == FRAMES / 2 {
            // One frame the other way: wait on the reactor's descriptor with poll(2),
            // then let squall run one iteration without blocking.
            let deadline = frame_start + FRAME;
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: reactor.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd that lives across the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as libc::c_int) };
            reactor.run_once(Some(Duration::ZERO))?;
            println!(
                "frame {frame}: waited on the reactor fd with poll(2) (ready: {}), ran one iteration",
                ready > 0
            );
            while Instant::now() < deadline {
                reactor.run_once(Some(deadline - Instant::now()))?;
            }
        } else {
            // Give squall the rest of the frame.
            let deadline = frame_start + FRAME;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if left.is_zero() {
                    break;
                }
                reactor.run_once(Some(left))?;
            }
        }
    }
    pc.stop();
    drop(client);
    // Let squall see the client's close and drop the connection.
    for _ in 0..3 {
        reactor.run_once(Some(Duration::from_millis(5)))?;
    }

    let stats = handle.stats();
    println!(
        "{FRAMES} frames in {:?} (world state {world:#x})",
        start.elapsed()
    );
    println!(
        "squall: accepted {} connection(s), echoed {} bytes; host sent {sent}, got back {}",
        accepted.get(),
        echoed.get(),
        received.len()
    );
    println!(
        "squall: {} periodic ticks, {} iterations, {} handler(s) left (the listener)",
        ticks.get(),
        stats.iterations,
        stats.handlers
    );
    print!("echoed text: {}", String::from_utf8_lossy(&received));
    Ok(())
}
