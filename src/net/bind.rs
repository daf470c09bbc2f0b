//! Listening sockets (Tornado's `netutil.bind_sockets`), with `socket2`.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};

/// Options for [`bind_sockets`]. Start from `Default` and change what you need with the
/// setters named after each field (or assign the public fields).
///
/// ```
/// use squall::net::BindOptions;
/// let options = BindOptions::default().backlog(4096).reuse_port(true);
/// assert!(options.reuse_port);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BindOptions {
    /// Listen backlog (default 1024; the kernel caps it at `net.core.somaxconn`).
    pub backlog: i32,
    /// Set `SO_REUSEPORT` so several sockets (one per reactor thread) share a port.
    pub reuse_port: bool,
    /// Set `SO_REUSEADDR` (default `true`, as Tornado).
    pub reuse_address: bool,
    /// For IPv6 addresses, accept only IPv6 (`IPV6_V6ONLY`, default `true` so an IPv4
    /// socket can bind the same port).
    pub ipv6_only: bool,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            backlog: 1024,
            reuse_port: false,
            reuse_address: true,
            ipv6_only: true,
        }
    }
}

impl BindOptions {
    /// Sets [`backlog`](Self::backlog).
    #[must_use]
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets [`reuse_port`](Self::reuse_port).
    #[must_use]
    pub fn reuse_port(mut self, yes: bool) -> Self {
        self.reuse_port = yes;
        self
    }

    /// Sets [`reuse_address`](Self::reuse_address).
    #[must_use]
    pub fn reuse_address(mut self, yes: bool) -> Self {
        self.reuse_address = yes;
        self
    }

    /// Sets [`ipv6_only`](Self::ipv6_only).
    #[must_use]
    pub fn ipv6_only(mut self, yes: bool) -> Self {
        self.ipv6_only = yes;
        self
    }
}

/// Binds listening sockets on every address `addr` resolves to (IPv4 and IPv6), all
/// non-blocking. With port 0, the first socket picks a free port and the others reuse it.
///
/// # Errors
/// [`Error::Io`] from `socket`, `bind` or `listen` (e.g. address in use);
/// [`Error::Resolve`] if `addr` resolves to nothing.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::net::{bind_sockets, BindOptions};
/// let listeners = bind_sockets("127.0.0.1:0", &BindOptions::default())?;
/// assert_ne!(listeners[0].local_addr()?.port(), 0);
/// # Ok(()) }
/// ```
pub fn bind_sockets(addr: impl ToSocketAddrs, options: &BindOptions) -> Result<Vec<TcpListener>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(Error::Resolve {
            host: String::new(),
            message: "address resolved to nothing".into(),
        });
    }
    let mut out = Vec::new();
    let mut chosen_port = None;
    for mut a in addrs {
        if a.port() == 0
            && let Some(p) = chosen_port
        {
            a.set_port(p);
        }
        let listener = bind_one(a, options)?;
        chosen_port.get_or_insert(listener.local_addr()?.port());
        out.push(listener);
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr, options: &BindOptions) -> Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if options.reuse_address {
        socket.set_reuse_address(true)?;
    }
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(options.ipv6_only)?;
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    socket.listen(options.backlog)?;
    Ok(socket.into())
}
