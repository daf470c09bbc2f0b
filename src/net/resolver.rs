//! Name resolution that never blocks the loop (Tornado's `netutil.Resolver`).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::Handle;

/// Turns a host name and port into addresses, asynchronously.
pub trait Resolver {
    /// Resolves `host:port`. The future fails with [`Error::Resolve`] when the name is
    /// unknown.
    #[must_use = "the addresses are only available through the future"]
    fn resolve(&self, handle: &Handle, host: &str, port: u16) -> Future<Vec<SocketAddr>>;
}

/// The default resolver: IP literals and `localhost` are answered at once; other names
/// go to the system resolver (`getaddrinfo`) on the executor pool.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::net::{DefaultResolver, Resolver};
/// let mut reactor = squall::Reactor::new()?;
/// let addrs = DefaultResolver.resolve(&reactor.handle(), "127.0.0.1", 80);
/// assert_eq!(reactor.run_until(&addrs)?, vec!["127.0.0.1:80".parse().unwrap()]);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultResolver;

/// Resolves without the pool if `host` is an IP literal (IPv6 with or without
/// brackets) or `localhost`.
pub(crate) fn resolve_literal(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(vec![SocketAddr::new(ip, port)]);
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Some(vec![
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
        ]);
    }
    None
}

impl Resolver for DefaultResolver {
    fn resolve(&self, handle: &Handle, host: &str, port: u16) -> Future<Vec<SocketAddr>> {
        if let Some(addrs) = resolve_literal(host, port) {
            return Future::ready(addrs);
        }
        let name = host.to_string();
        handle
            .run_in_executor(move || -> Result<Vec<SocketAddr>> {
                let addrs: Vec<SocketAddr> = (name.as_str(), port)
                    .to_socket_addrs()
                    .map_err(|e| Error::Resolve {
                        host: name.clone(),
                        message: e.to_string(),
                    })?
                    .collect();
                if addrs.is_empty() {
                    return Err(Error::Resolve {
                        host: name,
                        message: "no addresses".into(),
                    });
                }
                Ok(addrs)
            })
            .map(|r| r.and_then(|inner| inner))
    }
}

/// A resolver with fixed answers for some names (for tests and local setups), falling
/// back to another resolver (Tornado's `OverrideResolver`).
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::net::{OverrideResolver, Resolver};
/// let mut reactor = squall::Reactor::new()?;
/// let r = OverrideResolver::new().with_addr("example.test", 80, "127.0.0.1:8080".parse().unwrap());
/// let addrs = r.resolve(&reactor.handle(), "example.test", 80);
/// assert_eq!(reactor.run_until(&addrs)?[0].port(), 8080);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OverrideResolver {
    hosts: HashMap<String, String>,
    addrs: HashMap<(String, u16), Vec<SocketAddr>>,
    fallback: Rc<dyn Resolver>,
}

impl fmt::Debug for OverrideResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OverrideResolver")
            .field("hosts", &self.hosts)
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl Default for OverrideResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl OverrideResolver {
    /// No overrides; falls back to [`DefaultResolver`].
    pub fn new() -> Self {
        Self::with_fallback(Rc::new(DefaultResolver))
    }

    /// No overrides; falls back to `fallback`.
    pub fn with_fallback(fallback: Rc<dyn Resolver>) -> Self {
        OverrideResolver {
            hosts: HashMap::new(),
            addrs: HashMap::new(),
            fallback,
        }
    }

    /// Resolves `host` (any port) as if it were `target`.
    pub fn with_host(mut self, host: &str, target: &str) -> Self {
        self.hosts
            .insert(host.to_ascii_lowercase(), target.to_string());
        self
    }

    /// Resolves `host:port` to exactly `addr`.
    pub fn with_addr(mut self, host: &str, port: u16, addr: SocketAddr) -> Self {
        self.addrs
            .entry((host.to_ascii_lowercase(), port))
            .or_default()
            .push(addr);
        self
    }
}

impl Resolver for OverrideResolver {
    fn resolve(&self, handle: &Handle, host: &str, port: u16) -> Future<Vec<SocketAddr>> {
        let key = host.to_ascii_lowercase();
        if let Some(addrs) = self.addrs.get(&(key.clone(), port)) {
            return Future::ready(addrs.clone());
        }
        match self.hosts.get(&key) {
            Some(target) => self.fallback.resolve(handle, target, port),
            None => self.fallback.resolve(handle, host, port),
        }
    }
}
