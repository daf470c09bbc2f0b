//! [`TcpClient`]: non-blocking connect with happy eyeballs (Tornado's `TCPClient` and
//! its `_Connector`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, Protocol, Type};

use super::resolver::{DefaultResolver, Resolver};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Handle, Interest, TimerId, Token};
use crate::stream::{IoStream, Socket, StreamOptions};

/// Delay before the second address family is tried alongside the first (Tornado's
/// `_INITIAL_CONNECT_TIMEOUT`).
pub const SECOND_FAMILY_DELAY: Duration = Duration::from_millis(300);

/// Opens TCP connections as [`IoStream`]s.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use std::time::Duration;
/// use squall::{net::TcpClient, Reactor};
/// let mut reactor = Reactor::new()?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let client = TcpClient::new(&reactor.handle());
/// let stream = client.connect("127.0.0.1", port, Some(Duration::from_secs(5)));
/// let stream = reactor.run_until(&stream)?;
/// assert_eq!(stream.peer_addr()?.unwrap().port(), port);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[doc(alias = "TCPClient")]
pub struct TcpClient {
    handle: Handle,
    resolver: Rc<dyn Resolver>,
    options: StreamOptions,
}

impl fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpClient").finish_non_exhaustive()
    }
}

impl TcpClient {
    /// A client using [`DefaultResolver`].
    pub fn new(handle: &Handle) -> Self {
        Self::with_resolver(handle, Rc::new(DefaultResolver))
    }

    /// A client using `resolver` (e.g. an [`OverrideResolver`](super::OverrideResolver)).
    pub fn with_resolver(handle: &Handle, resolver: Rc<dyn Resolver>) -> Self {
        TcpClient {
            handle: handle.clone(),
            resolver,
            options: StreamOptions::default(),
        }
    }

    /// Options for the streams this client makes.
    pub fn set_stream_options(&mut self, options: StreamOptions) {
        self.options = options;
    }

    /// Connects as [`connect`](Self::connect) does, then runs a TLS handshake with
    /// `config` (a client configuration), sending `host` as SNI and verifying the
    /// certificate against it (Tornado's `connect(..., ssl_options=...)`). `timeout`
    /// bounds the connection; the configuration's handshake timeout bounds the
    /// handshake.
    ///
    /// Fails as [`connect`](Self::connect), or with [`Error::Tls`] naming the cause
    /// (unknown issuer, hostname mismatch, expired, handshake failure, a server that
    /// does not speak TLS).
    ///
    /// ```no_run
    /// # fn main() -> squall::Result<()> {
    /// use squall::{net::TcpClient, tls::{ClientTlsOptions, TlsConfig}, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let config = TlsConfig::client(&ClientTlsOptions::default())?; // system roots
    /// let client = TcpClient::new(&reactor.handle());
    /// let stream = reactor.run_until(&client.connect_tls("example.com", 443, None, &config))?;
    /// assert!(stream.is_tls());
    /// # Ok(()) }
    /// ```
    pub fn connect_tls(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
        config: &crate::tls::TlsConfig,
    ) -> Future<IoStream> {
        let (host_owned, config) = (host.to_owned(), config.clone());
        self.connect(host, port, timeout)
            .and_then(move |stream| stream.start_tls(false, &config, Some(&host_owned)))
    }

    /// Resolves `host` and connects to `port`, trying every address: addresses of the
    /// first family one after another, the other family starting after 300 ms (or as
    /// soon as the first family is exhausted). The first connection wins.
    ///
    /// Fails with [`Error::Timeout`] after `timeout` (`None`, or one too large for any
    /// deadline such as `Duration::MAX`: never), with [`Error::Io`] naming the address
    /// when every attempt failed (e.g. refused), or [`Error::Resolve`]. Every timer it
    /// armed is cancelled once it resolves.
    #[must_use = "the connected stream is closed when the future holding it is dropped"]
    pub fn connect(&self, host: &str, port: u16, timeout: Option<Duration>) -> Future<IoStream> {
        let result = Future::new();
        let connector = Rc::new(RefCell::new(Connector {
            handle: self.handle.clone(),
            options: self.options.clone(),
            result: result.clone(),
            lanes: [VecDeque::new(), VecDeque::new()],
            secondary_started: false,
            attempts: Vec::new(),
            last_error: None,
            timers: Vec::new(),
        }));
        // A deadline beyond any representable instant (e.g. `Duration::MAX`) is "never".
        let timeout = timeout.filter(|t| self.handle.deadline_after(*t).is_some());
        if let Some(t) = timeout {
            let c = connector.clone();
            let id = self
                .handle
                .call_later(t, move || Connector::finish(&c, Err(Error::Timeout)));
            connector.borrow_mut().timers.push(id);
        }
        let c = connector.clone();
        self.resolver
            .resolve(&self.handle, host, port)
            .add_done_callback(move |f| match f.take_result() {
                Some(Ok(addrs)) if !addrs.is_empty() => Connector::start(&c, addrs),
                Some(Ok(_)) => Connector::finish(
                    &c,
                    Err(Error::Resolve {
                        host: String::new(),
                        message: "no addresses".into(),
                    }),
                ),
                Some(Err(e)) => Connector::finish(&c, Err(e)),
                None => Connector::finish(&c, Err(Error::Cancelled)),
            });
        result
    }
}

struct Attempt {
    token: Token,
    socket: Rc<Socket>,
    addr: SocketAddr,
    lane: usize,
}

struct Connector {
    handle: Handle,
    options: StreamOptions,
    result: Future<IoStream>,
    /// Addresses still to try: primary family, then the other.
    lanes: [VecDeque<SocketAddr>; 2],
    secondary_started: bool,
    attempts: Vec<Attempt>,
    last_error: Option<Error>,
    timers: Vec<TimerId>,
}

impl Connector {
    fn start(this: &Rc<RefCell<Self>>, addrs: Vec<SocketAddr>) {
        {
            let mut c = this.borrow_mut();
            if c.result.is_done() {
                return;
            }
            let primary_v6 = addrs[0].is_ipv6();
            for a in addrs {
                let lane = usize::from(a.is_ipv6() != primary_v6);
                c.lanes[lane].push_back(a);
            }
            if !c.lanes[1].is_empty() {
                let me = this.clone();
                let id = c.handle.call_later(SECOND_FAMILY_DELAY, move || {
                    Connector::start_secondary(&me);
                });
                c.timers.push(id);
            } else {
                c.secondary_started = true;
            }
        }
        Connector::try_next(this, 0);
    }

    fn start_secondary(this: &Rc<RefCell<Self>>) {
        if this.borrow().secondary_started || this.borrow().result.is_done() {
            return;
        }
        this.borrow_mut().secondary_started = true;
        Connector::try_next(this, 1);
    }

    /// Starts the next address of `lane`, skipping addresses that fail at once.
    fn try_next(this: &Rc<RefCell<Self>>, lane: usize) {
        loop {
            let next = this.borrow_mut().lanes[lane].pop_front();
            let Some(addr) = next else {
                if lane == 0 && !this.borrow().secondary_started {
                    Connector::start_secondary(this);
                    return;
                }
                Connector::maybe_give_up(this);
                return;
            };
            match Connector::begin(this, addr, lane) {
                Ok(()) => return,
                Err(e) => this.borrow_mut().last_error = Some(e),
            }
        }
    }

    fn begin(this: &Rc<RefCell<Self>>, addr: SocketAddr, lane: usize) -> Result<()> {
        let sock =
            socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
            Err(e) => return Err(named(addr, e)),
        }
        let socket = Rc::new(Socket::Tcp(TcpStream::from(sock)));
        let me = this.clone();
        let handle = this.borrow().handle.clone();
        let token = handle.add_handler(
            socket.clone(),
            Interest::WRITABLE,
            move |s: &mut Rc<Socket>, _ev| {
                let err = match s.as_ref() {
                    Socket::Tcp(t) => t.take_error(),
                    Socket::Unix(_) | Socket::Tls(_) | Socket::Pipe(_) => Ok(None),
                };
                let outcome = match err {
                    Ok(None) => Ok(()),
                    Ok(Some(e)) | Err(e) => Err(named(addr, e)),
                };
                Connector::attempt_done(&me, addr, outcome);
            },
        )?;
        this.borrow_mut().attempts.push(Attempt {
            token,
            socket,
            addr,
            lane,
        });
        Ok(())
    }

    fn attempt_done(this: &Rc<RefCell<Self>>, addr: SocketAddr, outcome: Result<()>) {
        let attempt = {
            let mut c = this.borrow_mut();
            let Some(i) = c.attempts.iter().position(|a| a.addr == addr) else {
                return;
            };
            c.attempts.swap_remove(i)
        };
        let handle = this.borrow().handle.clone();
        let _ = handle.remove_handler(attempt.token);
        match outcome {
            Ok(()) => {
                let options = this.borrow().options.clone();
                let stream = IoStream::from_shared_socket(&handle, attempt.socket, options);
                Connector::finish(this, stream);
            }
            Err(e) => {
                this.borrow_mut().last_error = Some(e);
                Connector::try_next(this, attempt.lane);
            }
        }
    }

    /// Fails the connect once no attempt is in flight and no address is left.
    fn maybe_give_up(this: &Rc<RefCell<Self>>) {
        let c = this.borrow();
        let exhausted =
            c.attempts.is_empty() && c.lanes.iter().all(VecDeque::is_empty) && c.secondary_started;
        if exhausted && !c.result.is_done() {
            let e = c
                .last_error
                .clone()
                .unwrap_or_else(|| io::Error::other("no address could be connected").into());
            drop(c);
            Connector::finish(this, Err(e));
        }
    }

    /// Resolves the result once; closes every other attempt and cancels the timers.
    fn finish(this: &Rc<RefCell<Self>>, outcome: Result<IoStream>) {
        let (attempts, timers, handle, result) = {
            let mut c = this.borrow_mut();
            c.lanes = [VecDeque::new(), VecDeque::new()];
            c.secondary_started = true;
            (
                std::mem::take(&mut c.attempts),
                std::mem::take(&mut c.timers),
                c.handle.clone(),
                c.result.clone(),
            )
        };
        for a in attempts {
            let _ = handle.remove_handler(a.token);
        }
        for t in timers {
            handle.cancel_timer(t);
        }
        if !result.is_done() {
            result.set(outcome);
        }
    }
}

fn named(addr: SocketAddr, e: io::Error) -> Error {
    io::Error::new(e.kind(), format!("connect to {addr}: {e}")).into()
}
