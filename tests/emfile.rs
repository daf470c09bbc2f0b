//! A `TcpServer` that runs out of descriptors (`EMFILE`) neither spins nor dies, and
//! serves again once descriptors free up.
//!
//! The server runs in a child process (this test binary, re-run with an environment
//! variable) whose `RLIMIT_NOFILE` is lowered, so the limit cannot disturb other tests.
//! The parent floods it with more connections than the limit, measures the child's CPU
//! time over one second from `/proc/PID/stat`, then disconnects and checks that a new
//! client is accepted and echoed.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use squall::net::TcpServer;
use squall::stream::IoStream;
use squall::{Future, Reactor};
use support::process::Running;

const CHILD_ENV: &str = "SQUALL_EMFILE_CHILD";
const TEST_NAME: &str = "out_of_descriptors_server_neither_spins_nor_dies_and_serves_again";
/// The child's soft descriptor limit.
const FD_LIMIT: u64 = 64;
/// Connections the parent opens: well past the limit.
const FLOOD: usize = 3 * FD_LIMIT as usize;

#[test]
fn out_of_descriptors_server_neither_spins_nor_dies_and_serves_again() {
    if std::env::var_os(CHILD_ENV).is_some() {
        run_child_server();
        return;
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child server");
    let mut child = Running::new(child);
    let pid = child.id();
    let port = read_port(child.child());
    let addr = ("127.0.0.1", port);

    // Flood: the kernel completes every handshake (backlog 1024), the server can
    // accept only as many as its descriptor limit allows.
    let mut clients: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(addr).expect("flood connect"))
        .collect();

    // One second of being out of descriptors with connections pending.
    let clk_tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64; // SAFETY: plain libc query
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1)); // the measurement window, not a sync
    let used = cpu_ticks(pid) - before;
    assert!(
        child.child().try_wait().unwrap().is_none(),
        "the server died while out of descriptors"
    );
    let fds = support::open_fds_of(pid);
    assert!(
        fds + 2 >= FD_LIMIT as usize,
        "the server never ran out of descriptors ({fds} open, limit {FD_LIMIT})"
    );
    assert!(
        used * 4 < clk_tck,
        "the server spun: {used} ticks of CPU in 1 s (CLK_TCK {clk_tck})"
    );

    // Connections accepted before the limit was hit are still served.
    echo_round_trip(&mut clients[0], b"early bird");

    // Everyone leaves; a newcomer is accepted and served.
    drop(clients);
    let mut late = TcpStream::connect(addr).expect("connect after the flood");
    echo_round_trip(&mut late, b"served again");
    assert!(
        child.child().try_wait().unwrap().is_none(),
        "the server died"
    );
}

/// Writes `msg` and reads it back (a deadline, not a sleep, bounds the wait).
fn echo_round_trip(c: &mut TcpStream, msg: &[u8]) {
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(msg).unwrap();
    let mut got = vec![0; msg.len()];
    c.read_exact(&mut got).expect("echo");
    assert_eq!(got, msg);
}

/// The child prints `PORT=n` once it listens (read on a thread, with a deadline, so a
/// child that never gets there fails the test instead of hanging it).
fn read_port(child: &mut Child) -> u16 {
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            // The harness prints `test NAME ... ` before the test's own output.
            if let Some((_, p)) = line.split_once("PORT=") {
                let _ = tx.send(p.trim().parse::<u16>().expect("port"));
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the child server did not report its port")
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Echoes whatever arrives until the peer closes.
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

/// The child: a TCP echo server under a low descriptor limit, until stdin closes.
fn run_child_server() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = FD_LIMIT;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let mut reactor = Reactor::new().unwrap();
    let server = TcpServer::new(&reactor.handle(), |stream, _peer| echo(stream));
    let addr = server.listen("127.0.0.1:0").unwrap();
    // The parent going away (stdin closing) ends the child.
    let remote = reactor.handle().remote();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        remote.stop();
    });
    println!("PORT={}", addr.port());
    std::io::stdout().flush().unwrap();
    reactor.run().unwrap();
}
