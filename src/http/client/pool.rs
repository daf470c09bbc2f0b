//! The keep-alive connection pool: idle connections per `host:port`, counts of open
//! connections per host (for `max_connections_per_host`), and idle expiry.
//!
//! Only connections whose response was read completely (and that carried nothing after
//! it) are checked in; the exchange layer decides that. An idle connection that the
//! server closes, or that receives unsolicited bytes, is dropped.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use crate::stream::IoStream;

/// A connection the client owns, busy or idle, with what the exchange layer keeps on it
/// from request to request (`link`).
#[derive(Debug)]
pub(crate) struct Conn<L> {
    pub stream: IoStream,
    pub id: u64,
    pub link: L,
}

#[derive(Debug)]
struct Idle<L> {
    conn: Conn<L>,
    since: Instant,
    /// The loop iteration it went idle in (`None`: outside the loop).
    iteration: Option<u64>,
}

#[derive(Debug)]
struct Host<L> {
    /// Connections open or being opened, idle ones included.
    open: usize,
    /// Most recently used last.
    idle: Vec<Idle<L>>,
}

/// Hashes pool keys (`scheme://host:port`, a few dozen bytes, looked up twice per
/// request) eight bytes at a step, as rustc's `FxHasher`: a fraction of SipHash's cost.
/// The keys are the origins this client itself fetches, and a host holds at least one
/// open connection, so their number stays bounded by the connection limits.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut add = |w: u64| self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            add(u64::from_le_bytes(last) ^ rest.len() as u64);
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Connections per `host:port`.
#[derive(Debug)]
pub(crate) struct Pool<L> {
    hosts: HashMap<String, Host<L>, BuildHasherDefault<KeyHasher>>,
    idle_total: usize,
}

impl<L> Default for Pool<L> {
    fn default() -> Self {
        Pool {
            hosts: HashMap::default(),
            idle_total: 0,
        }
    }
}

impl<L> Pool<L> {
    /// Whether a request for `key` can start now: an idle connection exists, or fewer
    /// than `limit` are open.
    pub(crate) fn has_capacity(&self, key: &str, limit: Option<usize>) -> bool {
        match (self.hosts.get(key), limit) {
            (_, None) | (None, _) => true,
            (Some(h), Some(max)) => !h.idle.is_empty() || h.open < max,
        }
    }

    /// The most recently used live idle connection to `key`. Dead ones (closed, with
    /// unsolicited bytes, or idle longer than `max_idle`) are closed on the way.
    /// `iteration` is the loop's ([`Handle::iteration`](crate::reactor::Handle::iteration)),
    /// or `None` to always look at the socket.
    pub(crate) fn checkout(
        &mut self,
        key: &str,
        max_idle: Duration,
        now: Instant,
        iteration: Option<u64>,
    ) -> Option<Conn<L>> {
        let host = self.hosts.get_mut(key)?;
        while let Some(idle) = host.idle.pop() {
            self.idle_total -= 1;
            let s = &idle.conn.stream;
            // Unsolicited bytes (or a close) waiting in the kernel are seen here even
            // when the loop did not run since the connection went idle: a peek at the
            // socket. Not for a connection that went idle in this very iteration of a
            // running loop (its response was just read): the system call per request
            // is saved at the price of missing a close that came with or just after
            // the response, which the request then finds; the caller passes an
            // iteration only for a request it sends again on a new connection then.
            let fresh = iteration.is_some() && idle.iteration == iteration;
            let unread = if fresh {
                s.buffered() > 0
            } else {
                s.has_unread_input()
            };
            if !s.is_closed() && !unread && now.duration_since(idle.since) < max_idle {
                crate::telemetry::hooks::client_connection(true);
                return Some(idle.conn);
            }
            s.close();
            host.open -= 1;
        }
        self.forget_if_unused(key);
        None
    }

    /// Counts a connection about to be opened to `key`.
    pub(crate) fn opening(&mut self, key: &str) {
        crate::telemetry::hooks::client_connection(false);
        match self.hosts.get_mut(key) {
            Some(h) => h.open += 1,
            None => {
                self.hosts.insert(
                    key.to_owned(),
                    Host {
                        open: 1,
                        idle: Vec::new(),
                    },
                );
            }
        }
    }

    /// Puts a connection whose exchange completed cleanly back; closes the oldest idle
    /// one to `key` beyond `max_idle_per_host`.
    pub(crate) fn checkin(
        &mut self,
        key: &str,
        conn: Conn<L>,
        max_idle_per_host: usize,
        now: Instant,
        iteration: Option<u64>,
    ) {
        let Some(host) = self.hosts.get_mut(key) else {
            conn.stream.close();
            return;
        };
        host.idle.push(Idle {
            conn,
            since: now,
            iteration,
        });
        self.idle_total += 1;
        if host.idle.len() > max_idle_per_host {
            let oldest = host.idle.remove(0);
            oldest.conn.stream.close();
            host.open -= 1;
            self.idle_total -= 1;
        }
    }

    /// A busy connection (or a connect attempt) to `key` is gone: closes it if given.
    pub(crate) fn discard(&mut self, key: &str, conn: Option<Conn<L>>) {
        if let Some(c) = conn {
            c.stream.close();
        }
        if let Some(h) = self.hosts.get_mut(key) {
            h.open = h.open.saturating_sub(1);
        }
        self.forget_if_unused(key);
    }

    /// An idle connection closed by the peer or an error: forget it. Returns `true` if
    /// it was idle here (a busy one is handled by its exchange).
    pub(crate) fn closed(&mut self, key: &str, id: u64) -> bool {
        let Some(h) = self.hosts.get_mut(key) else {
            return false;
        };
        let Some(i) = h.idle.iter().position(|i| i.conn.id == id) else {
            return false;
        };
        h.idle.remove(i);
        h.open -= 1;
        self.idle_total -= 1;
        self.forget_if_unused(key);
        true
    }

    /// Closes connections idle for `max_idle` or longer; returns when the next one
    /// expires (`None` when nothing is idle).
    pub(crate) fn expire(&mut self, max_idle: Duration, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut emptied = Vec::new();
        for (key, h) in &mut self.hosts {
            h.idle.retain(|i| {
                let expires = i.since + max_idle;
                if expires <= now {
                    i.conn.stream.close();
                    h.open -= 1;
                    self.idle_total -= 1;
                    false
                } else {
                    next = Some(next.map_or(expires, |n| n.min(expires)));
                    true
                }
            });
            if h.open == 0 {
                emptied.push(key.clone());
            }
        }
        for k in emptied {
            self.hosts.remove(&k);
        }
        next
    }

    /// Idle connections held now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle_total
    }

    /// Closes every idle connection.
    pub(crate) fn close_idle(&mut self) {
        for h in self.hosts.values_mut() {
            for i in h.idle.drain(..) {
                i.conn.stream.close();
                h.open -= 1;
            }
        }
        self.idle_total = 0;
        self.hosts.retain(|_, h| h.open > 0);
    }

    fn forget_if_unused(&mut self, key: &str) {
        if self.hosts.get(key).is_some_and(|h| h.open == 0) {
            self.hosts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn key_hash_sees_every_byte_and_the_length() {
        let h = |k: &str| BuildHasherDefault::<KeyHasher>::default().hash_one(k);
        let keys = [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:808",
            "http://127.0.0.1:8080\0",
            "http://a",
            "http://b",
            "",
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(h(a), h(b), "{a:?} and {b:?}");
            }
        }
    }
}
