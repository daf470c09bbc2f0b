//! [`UdpOptions`]: how a [`UdpSocket`](super::UdpSocket) is bound and bounded.

/// Options for [`UdpSocket::bind_with`](super::UdpSocket::bind_with). Start from `Default`
/// and change what you need with the setters (named after the fields).
///
/// ```
/// use squall::net::UdpOptions;
/// let options = UdpOptions::default().reuse_port(true).max_send_queue(4 << 20);
/// assert!(options.reuse_port);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UdpOptions {
    /// Set `SO_REUSEPORT` so several sockets (one per reactor thread) share a port and the
    /// kernel spreads datagrams over them (default `false`).
    pub reuse_port: bool,
    /// Set `SO_REUSEADDR` (default `false`; needed to bind a multicast group's port from
    /// several sockets).
    pub reuse_address: bool,
    /// For IPv6 addresses, accept only IPv6 (`IPV6_V6ONLY`, default `true`).
    pub ipv6_only: bool,
    /// Most memory the queue of datagrams waiting for room in the kernel's send buffer may
    /// hold, counted at real cost (payload plus the queue entry). A send beyond it fails
    /// at once with [`Error::QueueFull`](crate::Error::QueueFull). Default 4 MiB.
    pub max_send_queue: usize,
    /// Most datagrams read per readiness event before the loop turns to other work
    /// (default 64). The rest are read on the next iteration.
    pub max_datagrams_per_turn: usize,
    /// `SO_RCVBUF`, if set.
    pub recv_buffer_size: Option<usize>,
    /// `SO_SNDBUF`, if set.
    pub send_buffer_size: Option<usize>,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            reuse_port: false,
            reuse_address: false,
            ipv6_only: true,
            max_send_queue: 4 << 20,
            max_datagrams_per_turn: 64,
            recv_buffer_size: None,
            send_buffer_size: None,
        }
    }
}

impl UdpOptions {
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

    /// Sets [`max_send_queue`](Self::max_send_queue) (bytes).
    #[must_use]
    pub fn max_send_queue(mut self, bytes: usize) -> Self {
        self.max_send_queue = bytes;
        self
    }

    /// Sets [`max_datagrams_per_turn`](Self::max_datagrams_per_turn) (at least 1).
    #[must_use]
    pub fn max_datagrams_per_turn(mut self, n: usize) -> Self {
        self.max_datagrams_per_turn = n.max(1);
        self
    }

    /// Sets [`recv_buffer_size`](Self::recv_buffer_size).
    #[must_use]
    pub fn recv_buffer_size(mut self, bytes: Option<usize>) -> Self {
        self.recv_buffer_size = bytes;
        self
    }

    /// Sets [`send_buffer_size`](Self::send_buffer_size).
    #[must_use]
    pub fn send_buffer_size(mut self, bytes: Option<usize>) -> Self {
        self.send_buffer_size = bytes;
        self
    }
}
