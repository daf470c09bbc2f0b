//! The one-line hooks other modules call on their events. Without the `metrics` feature
//! every hook is an empty inline function.

use std::time::Duration;

use http::{Method, StatusCode};

#[cfg(feature = "metrics")]
use super::registry::with;

/// The method index of a request on a server whose metrics are off.
pub(crate) const NOT_COUNTED: u8 = u8::MAX;

/// A request method as a small index (see [`super::registry::METHODS`]): the label
/// set is looked up without hashing, and an unknown method cannot grow the label space.
pub(crate) fn method_index(m: &Method, counted: bool) -> u8 {
    if !counted {
        return NOT_COUNTED;
    }
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// The real coarse clock when metrics are on (a request's start; durations are
/// measured in real time, also under a virtual clock), else zero.
#[inline]
pub(crate) fn now() -> Duration {
    #[cfg(feature = "metrics")]
    return crate::reactor::real_coarse();
    #[cfg(not(feature = "metrics"))]
    Duration::ZERO
}

/// An HTTP server response finished: counts it under (method, status) and observes how
/// long it took since `started` (from [`now`]). Nothing for [`NOT_COUNTED`].
#[inline]
pub(crate) fn http_request(method: u8, status: StatusCode, started: Duration) {
    #[cfg(feature = "metrics")]
    if method != NOT_COUNTED {
        with(|m| m.http_request(method, status.as_u16(), started));
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (method, status, started);
}

/// Runs the HTTP server's parser `f` on `buf` and counts the request bytes it consumed
/// (if the server is `counted`).
#[inline]
pub(crate) fn http_read(
    counted: bool,
    buf: &mut bytes::BytesMut,
    f: impl FnOnce(&mut bytes::BytesMut) -> bool,
) -> bool {
    #[cfg(feature = "metrics")]
    if counted {
        let before = buf.len();
        let done = f(buf);
        let consumed = before.saturating_sub(buf.len());
        if consumed > 0 {
            with(|m| {
                m.http_bytes_in.inc_by(consumed as u64);
            });
        }
        return done;
    }
    #[cfg(not(feature = "metrics"))]
    let _ = counted;
    f(buf)
}

/// Response bytes the HTTP server handed to the stream for a request of `method` (from
/// [`method_index`]; nothing for [`NOT_COUNTED`]).
#[inline]
pub(crate) fn http_bytes_out(method: u8, n: usize) {
    #[cfg(feature = "metrics")]
    if method != NOT_COUNTED {
        with(|m| {
            m.http_bytes_out.inc_by(n as u64);
        });
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (method, n);
}

/// An HTTP server connection of a `counted` server opened (`true`) or was closed or
/// handed over (`false`).
#[inline]
pub(crate) fn http_connection(counted: bool, open: bool) {
    #[cfg(feature = "metrics")]
    if counted {
        with(|m| {
            if open {
                m.http_connections.inc();
                m.http_connections_total.inc();
            } else {
                m.http_connections.dec();
            }
        });
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (counted, open);
}

/// A WebSocket connection started (`true`) or ended (`false`).
#[inline]
pub(crate) fn websocket_connection(open: bool) {
    #[cfg(feature = "metrics")]
    with(|m| {
        if open {
            m.ws_connections.inc();
            m.ws_connections_total.inc();
        } else {
            m.ws_connections.dec();
        }
    });
    #[cfg(not(feature = "metrics"))]
    let _ = open;
}

/// A WebSocket message was received (`true`) or sent (`false`).
#[inline]
pub(crate) fn websocket_message(received: bool) {
    #[cfg(feature = "metrics")]
    with(|m| {
        if received {
            m.ws_received.inc();
        } else {
            m.ws_sent.inc();
        }
    });
    #[cfg(not(feature = "metrics"))]
    let _ = received;
}

/// A TLS handshake finished: `None` when it succeeded, else the failure's cause.
#[inline]
pub(crate) fn tls_handshake(failure: Option<&crate::Error>) {
    #[cfg(feature = "metrics")]
    with(|m| m.tls_handshake(failure));
    #[cfg(not(feature = "metrics"))]
    let _ = failure;
}

/// The HTTP client reused an idle pooled connection (`true`) or opened one (`false`).
#[inline]
pub(crate) fn client_connection(reused: bool) {
    #[cfg(feature = "metrics")]
    with(|m| {
        if reused {
            m.client_reused.inc();
        } else {
            m.client_opened.inc();
        }
    });
    #[cfg(not(feature = "metrics"))]
    let _ = reused;
}

/// An HTTP client request had to wait in the queue for a free slot.
#[inline]
pub(crate) fn client_queued() {
    #[cfg(feature = "metrics")]
    with(|m| {
        m.client_queued.inc();
    });
}

/// A Redis connection is being re-established after it dropped.
#[inline]
pub(crate) fn redis_reconnect() {
    #[cfg(feature = "metrics")]
    with(|m| {
        m.redis_reconnects.inc();
    });
}
