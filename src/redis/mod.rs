//! A small callback-style Redis client on [`IoStream`](crate::stream::IoStream): commands,
//! `PUBLISH`, `SUBSCRIBE` with a message callback, `PING`, reconnection with back-off.
//!
//! It exists so that several squall processes can share messages through Redis pub/sub
//! (the chat example's `--redis` option), the way Tornado apps share them through a
//! message bus. It is a module of the library, not an example crate, because:
//! - applications and tests need it, and neither can import an example's code;
//! - the maintained Redis crates speak Redis either blocking (which would stall the
//!   reactor) or through std futures and tokio, which squall keeps out of its dependency
//!   tree; a reactor-native client is the only kind that fits;
//! - it is small (RESP2 and pub/sub, no cluster, no RESP3) and needs no new dependency.
//!
//! Layout as elsewhere in squall: [`resp`] is the sans-IO protocol (decoder and command
//! encoder, unit-tested byte by byte); the connection layer wires it to a stream.
//!
//! Two client types, because Redis puts a subscribed connection in a mode where it only
//! accepts (un)subscriptions: [`Redis`] sends commands (replies resolve
//! [`Future`]s, pipelined in order) and [`Subscriber`] holds subscriptions and calls back
//! for each message.
//!
//! # Reconnection
//! Both connect at once and reconnect whenever the connection drops, after a back-off
//! that doubles from [`RedisOptions::reconnect_min`] up to
//! [`RedisOptions::reconnect_max`] and starts over once replies flow again. A
//! [`Subscriber`] renews its subscriptions on each new connection (messages published
//! while it was away are lost: that is what Redis pub/sub promises). Commands:
//! - sent on a connection that then drops fail with that error (they may or may not have
//!   run);
//! - issued while no connection is up are queued and sent on the next connection; if
//!   that connection attempt fails, they fail with its error (nobody waits for a server
//!   that may never come back).
//!
//! ```no_run
//! # fn main() -> squall::Result<()> {
//! use squall::redis::{Redis, RedisOptions, Subscriber};
//! use squall::Reactor;
//! let mut reactor = Reactor::new()?;
//! let handle = reactor.handle();
//! let url = "redis://127.0.0.1:6379";
//! let sub = Subscriber::connect(&handle, url, RedisOptions::default())?;
//! sub.on_message(|channel, payload| println!("{channel:?}: {payload:?}"));
//! reactor.run_until(&sub.subscribe("room"))?;
//! let redis = Redis::connect(&handle, url, RedisOptions::default())?;
//! let receivers = reactor.run_until(&redis.publish("room", "hello"))?;
//! assert_eq!(receivers, 1);
//! # Ok(()) }
//! ```

mod conn;
pub mod resp;

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use self::conn::{Inner, Shared, Subscriptions};
pub use self::resp::Value;
use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::Handle;

/// Connection settings of [`Redis`] and [`Subscriber`].
///
/// ```
/// use std::time::Duration;
/// use squall::redis::RedisOptions;
/// let options = RedisOptions::default()
///     .connect_timeout(Duration::from_secs(2))
///     .reconnect_max(Duration::from_secs(1));
/// assert_eq!(options.reconnect_max, Duration::from_secs(1));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// How long one connection attempt may take (default 5 s).
    pub connect_timeout: Duration,
    /// The first reconnection delay (default 100 ms); it doubles after each failure.
    pub reconnect_min: Duration,
    /// The longest reconnection delay (default 5 s). The setters keep it at least
    /// [`reconnect_min`](Self::reconnect_min); if assigned below it, the delay stays
    /// at `reconnect_min`.
    pub reconnect_max: Duration,
    /// Most commands queued while no connection is up (default 10 000); more fail with
    /// [`Error::StreamBufferFull`].
    pub max_queued: usize,
    /// Most memory one reply may hold once decoded (see the
    /// [`max_reply_bytes`](Self::max_reply_bytes()) setter).
    pub max_reply_bytes: usize,
    /// Most values one reply may hold, nested ones included (see the
    /// [`max_reply_elements`](Self::max_reply_elements()) setter).
    pub max_reply_elements: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            connect_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            max_queued: 10_000,
            max_reply_bytes: resp::DEFAULT_MAX_REPLY_BYTES,
            max_reply_elements: resp::DEFAULT_MAX_REPLY_ELEMENTS,
        }
    }
}

impl RedisOptions {
    /// How long one connection attempt may take (default 5 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The first reconnection delay (default 100 ms); it doubles after each failure.
    #[must_use]
    pub fn reconnect_min(mut self, delay: Duration) -> Self {
        self.reconnect_min = delay;
        self.reconnect_max = self.reconnect_max.max(delay);
        self
    }

    /// The longest reconnection delay (default 5 s).
    #[must_use]
    pub fn reconnect_max(mut self, delay: Duration) -> Self {
        self.reconnect_max = delay.max(self.reconnect_min);
        self
    }

    /// Most commands queued while no connection is up (default 10 000); more fail with
    /// [`Error::StreamBufferFull`].
    #[must_use]
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = n;
        self
    }

    /// Most memory one reply may hold once decoded (default 512 MiB, Redis's own
    /// `proto-max-bulk-len`), counted as the decoder holds it: each string's bytes plus a
    /// value slot (`size_of::<Value>()`) per array element. A reply beyond it fails the
    /// commands sent on that connection with [`Error::Redis`] ("reply too large"), is
    /// logged once, and the connection is dropped and made again after the back-off.
    /// The bound is checked when a length arrives, before its bytes are read.
    #[must_use]
    pub fn max_reply_bytes(mut self, n: usize) -> Self {
        self.max_reply_bytes = n;
        self
    }

    /// Most values one reply may hold, nested ones included (default 8 Mi: an array of
    /// 8 388 608 integers); beyond it, as [`max_reply_bytes`](Self::max_reply_bytes()).
    #[must_use]
    pub fn max_reply_elements(mut self, n: usize) -> Self {
        self.max_reply_elements = n;
        self
    }
}

/// Where to connect, from a `redis://[[user]:password@]host[:port][/db]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) db: u32,
    pub(crate) username: Option<Vec<u8>>,
    pub(crate) password: Option<Vec<u8>>,
}

fn bad_url(url: &str, why: &str) -> Error {
    Error::Redis(format!("invalid URL {url:?}: {why}").into())
}

fn decoded(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

impl Target {
    pub(crate) fn parse(text: &str) -> Result<Target> {
        let url = url::Url::parse(text).map_err(|e| bad_url(text, &e.to_string()))?;
        if url.scheme() != "redis" {
            return Err(bad_url(text, "the scheme must be redis://"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .unwrap_or("127.0.0.1")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            n => n
                .parse()
                .map_err(|_| bad_url(text, "the path must be a database number"))?,
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad_url(text, "no query or fragment is understood"));
        }
        let username = Some(url.username()).filter(|u| !u.is_empty()).map(decoded);
        let password = url.password().map(decoded);
        if username.is_some() && password.is_none() {
            return Err(bad_url(text, "a user name needs a password"));
        }
        Ok(Target {
            host,
            port: url.port().unwrap_or(6379),
            db,
            username,
            password,
        })
    }
}

/// A command connection: each command's reply resolves its [`Future`], in order
/// (commands are pipelined). Clones share the connection; dropping the last one closes
/// it and fails what is pending with [`Error::StreamClosed`].
#[derive(Clone)]
pub struct Redis {
    inner: Shared,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.borrow();
        f.debug_struct("Redis")
            .field("connected", &s.is_connected())
            .field("sent", &s.sent.len())
            .field("queued", &s.queued.len())
            .finish()
    }
}

impl Redis {
    /// Starts connecting to `url` (`redis://[[user]:password@]host[:port][/db]`; AUTH and
    /// SELECT are sent on every connection). Commands may be issued at once: they are
    /// sent when the connection is up.
    ///
    /// # Errors
    /// [`Error::Redis`] for a URL that is not a `redis://` URL as above.
    pub fn connect(handle: &Handle, url: &str, options: RedisOptions) -> Result<Redis> {
        let target = Target::parse(url)?;
        Ok(Redis {
            inner: Inner::new(handle, target, options, None),
        })
    }

    /// Sends a command (`["SET", "k", "v"]`); the future resolves with the reply, or
    /// fails with [`Error::Redis`] for an error reply, or with the connection's error (see
    /// the module docs on reconnection).
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Future<Value> {
        let mut wire = BytesMut::new();
        resp::encode_command(&mut wire, args);
        let f = Future::new();
        self.inner.borrow_mut().send(wire.freeze(), f.clone());
        f
    }

    /// `PUBLISH channel message`: resolves with the number of subscribers that received
    /// it (over every process connected to that server).
    pub fn publish(&self, channel: impl AsRef<[u8]>, message: impl AsRef<[u8]>) -> Future<i64> {
        self.command(&[&b"PUBLISH"[..], channel.as_ref(), message.as_ref()])
            .map(|r| match r? {
                Value::Integer(n) => Ok(n),
                v => Err(unexpected("PUBLISH", &v)),
            })
    }

    /// `PING`: resolves once the server answered.
    pub fn ping(&self) -> Future<()> {
        self.command(&["PING"]).map(|r| match r? {
            Value::Simple(s) if s == "PONG" => Ok(()),
            v => Err(unexpected("PING", &v)),
        })
    }

    /// True while a connection is up.
    pub fn is_connected(&self) -> bool {
        self.inner.borrow().is_connected()
    }

    /// Closes the connection for good: pending commands fail with
    /// [`Error::StreamClosed`], later ones too, and no reconnection is attempted.
    pub fn close(&self) {
        self.inner.borrow_mut().close();
    }
}

fn unexpected(cmd: &str, v: &Value) -> Error {
    Error::Redis(format!("unexpected reply to {cmd}: {v:?}").into())
}

/// A subscription connection: calls back for each message on its channels, and renews
/// its subscriptions after every reconnection. Clones share the connection.
#[derive(Clone)]
pub struct Subscriber {
    inner: Shared,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.borrow();
        let channels = s.subs.as_ref().map_or(0, |x| x.channels.len());
        f.debug_struct("Subscriber")
            .field("connected", &s.is_connected())
            .field("channels", &channels)
            .finish()
    }
}

impl Subscriber {
    /// Starts connecting to `url` (as [`Redis::connect`]).
    ///
    /// # Errors
    /// [`Error::Redis`] for a URL that is not a `redis://` URL.
    pub fn connect(handle: &Handle, url: &str, options: RedisOptions) -> Result<Subscriber> {
        let target = Target::parse(url)?;
        Ok(Subscriber {
            inner: Inner::new(handle, target, options, Some(Subscriptions::default())),
        })
    }

    /// Calls `f(channel, payload)` for each message, from the loop. Replaces the previous
    /// callback. `f` may subscribe, unsubscribe or close.
    pub fn on_message(&self, f: impl FnMut(Bytes, Bytes) + 'static) {
        if let Some(subs) = self.inner.borrow_mut().subs.as_mut() {
            subs.on_message = Some(Box::new(f));
        }
    }

    /// Subscribes to `channel`. The future resolves when the server confirmed the
    /// subscription (at once if it already had); messages published after that reach
    /// the callback. It fails with [`Error::StreamClosed`] if the subscriber is closed
    /// before.
    pub fn subscribe(&self, channel: impl AsRef<[u8]>) -> Future<()> {
        let channel = Bytes::copy_from_slice(channel.as_ref());
        let mut s = self.inner.borrow_mut();
        if s.is_closed() {
            return Future::failed(Error::StreamClosed);
        }
        let Some(subs) = s.subs.as_mut() else {
            return Future::failed(Error::invalid_state("not a subscriber"));
        };
        let pending = subs.waiters.contains_key(&channel);
        if subs.channels.contains(&channel) && !pending {
            return Future::ready(());
        }
        let f = Future::new();
        subs.waiters
            .entry(channel.clone())
            .or_default()
            .push(f.clone());
        if !pending {
            subs.channels.insert(channel.clone());
            // Without a connection, the next connection subscribes to every channel.
            s.send_push_command(&[b"SUBSCRIBE", &channel]);
        }
        f
    }

    /// Unsubscribes from `channel`: no more of its messages reach the callback once the
    /// server processed it, and it is not renewed on reconnection.
    pub fn unsubscribe(&self, channel: impl AsRef<[u8]>) {
        let mut s = self.inner.borrow_mut();
        let Some(subs) = s.subs.as_mut() else { return };
        if subs.channels.remove(channel.as_ref()) {
            for f in subs.waiters.remove(channel.as_ref()).unwrap_or_default() {
                f.set_error(Error::Cancelled);
            }
            s.send_push_command(&[b"UNSUBSCRIBE", channel.as_ref()]);
        }
    }

    /// True while a connection is up.
    pub fn is_connected(&self) -> bool {
        self.inner.borrow().is_connected()
    }

    /// Closes the connection for good (no reconnection); pending subscriptions fail with
    /// [`Error::StreamClosed`].
    pub fn close(&self) {
        self.inner.borrow_mut().close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("127.0.0.1", 6380, 2));
        assert_eq!(t.password, None);
        let t = Target::parse("redis://localhost").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("localhost", 6379, 0));
        let t = Target::parse("redis://:p%40ss@[::1]:7000").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 7000));
        assert_eq!(t.password.as_deref(), Some(&b"p@ss"[..]));
        let t = Target::parse("redis://bob:pw@h/1").unwrap();
        assert_eq!(t.username.as_deref(), Some(&b"bob"[..]));
        for bad in [
            "http://127.0.0.1:6379",
            "redis://127.0.0.1:99999",
            "redis://h/db0",
            "redis://h/?x=1",
            "redis://bob@h",
            "127.0.0.1:6379",
            "",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(Error::Redis(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn backoff_bounds_stay_ordered() {
        let o = RedisOptions::default().reconnect_min(Duration::from_secs(9));
        assert!(o.reconnect_max >= o.reconnect_min);
        let o = RedisOptions::default().reconnect_max(Duration::from_millis(1));
        assert_eq!(o.reconnect_max, o.reconnect_min);
    }
}
