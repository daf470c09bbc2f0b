//! Ports held for a test: nothing else can be given them while the value lives.

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
