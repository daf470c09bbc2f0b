//! Exposition: the text, a `GET /metrics` handler, a server on its own port.

use std::net::{SocketAddr, ToSocketAddrs};

use prometheus_client::registry::Registry;

use crate::http::server::{HttpServer, HttpServerOptions, Request, Responder};
use crate::reactor::Handle;
use crate::telemetry::registry::{with, Metrics};
use crate::web::{Context, HandlerResult};
use crate::Result;

/// The `Content-Type` of [`encode`]'s text (OpenMetrics 1.0, which Prometheus scrapes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Runs `f` with this thread's registry: register the application's own metrics there
/// (keep a clone of each metric to update it).
///
/// # Panics
/// If called from inside `f` (the registry is borrowed), or while the thread is being
/// torn down.
pub fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    with(|m: &Metrics| {
        if let Some(f) = f.take() {
            out = Some(f(&mut m.registry.borrow_mut()));
        }
    });
    out.expect("squall::metrics::with_registry: the thread's metrics are gone")
}

/// This thread's metrics as OpenMetrics text (`# EOF` last), the reactor's counters
/// read from `handle` first (when given).
pub fn encode(handle: Option<&Handle>) -> String {
    let mut out = String::with_capacity(8 * 1024);
    with(|m| {
        if let Some(h) = handle {
            m.update_reactor(&h.stats());
        }
        // Writing to a String cannot fail; an encoder error would be a bug upstream.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &m.registry.borrow()) {
            log::error!("metrics: encoding failed: {e}");
        }
    });
    out
}

/// A handler answering every request with [`encode`]'s text: the whole handler of an
/// [`HttpServer`] (see [`serve`]) or of a path you route to it yourself.
pub fn handler(handle: &Handle) -> impl FnMut(Request, Responder) + 'static + use<> {
    let handle = handle.clone();
    move |_req, mut resp| {
        resp.set_header("content-type", CONTENT_TYPE);
        resp.send(encode(Some(&handle)));
    }
}

/// An [`Application`](crate::web::Application) route handler:
/// `app.get("/metrics", squall::metrics::route(&handle))`.
pub fn route(handle: &Handle) -> impl Fn(&mut Context) -> HandlerResult + 'static + use<> {
    let handle = handle.clone();
    move |ctx| {
        ctx.set_header("content-type", CONTENT_TYPE);
        ctx.send(encode(Some(&handle)));
        Ok(())
    }
}

/// Serves [`handler`] on `addr` (a port of its own, away from the application's
/// traffic); returns the server (keep it alive) and the bound address. The scrapes are
/// not counted in the HTTP server metrics
/// ([`HttpServerOptions::metrics`] is off for this server).
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) from bind/listen.
pub fn serve(handle: &Handle, addr: impl ToSocketAddrs) -> Result<(HttpServer, SocketAddr)> {
    let options = HttpServerOptions::default().metrics(false);
    let server = HttpServer::with_options(handle, options, handler(handle));
    let bound = server.listen(addr)?;
    Ok((server, bound))
}
