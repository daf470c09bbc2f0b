//! What squall counts for [`metrics`](crate::metrics): the one-line hooks the layers call
//! on their events (streams, the HTTP server and client, WebSocket, TLS, Redis) and the
//! per-thread registry they count into. Below every layer that counts, so none of them
//! imports `metrics`, whose exposition (`serve`, `handler`, `route`) sits on top of the
//! HTTP server and the web layer.

#[cfg(feature = "metrics")]
mod histogram;
pub(crate) mod hooks;
#[cfg(feature = "metrics")]
pub(crate) mod registry;
