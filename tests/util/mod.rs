//! Helpers shared by the behaviour tests.
#![allow(dead_code)]

use std::cell::Cell;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Number of descriptors open in this process (entries of /proc/self/fd, minus the one
/// `read_dir` itself holds while listing).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
        - 1
}

/// A connected, non-blocking Unix socket pair.
pub fn unix_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A connected, non-blocking TCP pair on 127.0.0.1 (port chosen by the OS).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

/// Reads everything available without blocking; returns the byte count.
pub fn drain(r: &mut impl io::Read) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// A shared counter for closures on the loop thread.
#[derive(Clone, Default, Debug)]
pub struct Counter(Rc<Cell<usize>>);

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn bump(&self) {
        self.0.set(self.0.get() + 1);
    }
    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// Counts how many of its clones' originals were dropped: capture a `DropProbe` in a
/// closure, and `drops()` tells whether the closure was freed.
#[derive(Debug)]
pub struct DropProbe(Arc<AtomicUsize>);

impl DropProbe {
    pub fn new() -> (DropProbe, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        (DropProbe(n.clone()), n)
    }
    pub fn another(count: &Arc<AtomicUsize>) -> DropProbe {
        DropProbe(count.clone())
    }
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn drops(count: &Arc<AtomicUsize>) -> usize {
    count.load(Ordering::SeqCst)
}

/// Builds example `name` with the profile this test was built with (once per test
/// binary) and returns the path of its executable.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, std::path::PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    // Tests run from <target>/<profile>/deps/; examples are in <target>/<profile>/examples/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("profile dir");
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // Without the variables cargo sets for a test process: the inner cargo compares them
    // with a build script's `rerun-if-env-changed` (ring's names CARGO_MANIFEST_DIR and
    // CARGO_PKG_*), finds them changed since the outer `cargo test` (which runs without
    // them), and rebuilds ring, rustls, rcgen and squall; the next `cargo test` rebuilds
    // them back.
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if is_set_by_cargo_for_tests(k) {
            cmd.env_remove(k);
        }
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build --example");
    assert!(status.success(), "building example {name} failed");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} not found", path.display());
    built.push((name.to_string(), path.clone()));
    path
}

/// Whether cargo sets variable `k` for a test process (and not for itself).
fn is_set_by_cargo_for_tests(k: &str) -> bool {
    k.starts_with("CARGO_PKG_")
        || k.starts_with("CARGO_MANIFEST_")
        || k.starts_with("CARGO_BIN_EXE_")
        || matches!(
            k,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// A port held by this test for as long as the value lives: a TCP socket bound to it
/// that never listens. Ports picked by binding port 0 and dropping the socket race (another
/// test may be given the same port before it is reused); a held port cannot be handed out
/// again, since the kernel never picks a bound port for another port-0 bind or an outgoing
/// connection.
///
/// - [`ReservedPort::closed`]: a port where nothing listens, so connections to it are
///   refused (`ECONNREFUSED`) for the whole test.
/// - [`ReservedPort::for_child`]: a port for a server process that cannot report a port it
///   picked itself (`redis-server --port 0` disables TCP; nginx has no such option). The
///   socket is bound with `SO_REUSEADDR`, so a child that binds with it too (both do) can
///   bind and listen on the port while the reservation is held; everything else still
///   sees the port taken. Connections are refused before the child listens and after it
///   exits (a restarted child gets the same port back).
///
/// Programs that can (the examples) are started with `--port 0` and report the port on
/// their `listening on` line instead.
#[derive(Debug)]
pub struct ReservedPort {
    socket: socket2::Socket,
    addr: std::net::SocketAddr,
}

impl ReservedPort {
    /// A port of 127.0.0.1 where nothing listens.
    pub fn closed() -> ReservedPort {
        Self::closed_on("127.0.0.1:0")
    }

    /// A port where nothing listens, on the address of `addr` (e.g. `"[::1]:0"`).
    pub fn closed_on(addr: &str) -> ReservedPort {
        Self::bind(addr, false)
    }

    /// A port of 127.0.0.1 for a child server that binds it with `SO_REUSEADDR`.
    pub fn for_child() -> ReservedPort {
        Self::bind("127.0.0.1:0", true)
    }

    fn bind(addr: &str, reuse: bool) -> ReservedPort {
        use socket2::{Domain, Socket, Type};
        let addr: std::net::SocketAddr = addr.parse().expect("an IP address and port");
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
        socket.set_reuse_address(reuse).expect("SO_REUSEADDR");
        socket.bind(&addr.into()).expect("bind a port");
        let addr = socket
            .local_addr()
            .expect("local_addr")
            .as_socket()
            .expect("an IP address");
        ReservedPort { socket, addr }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The held address (IP and port).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}
