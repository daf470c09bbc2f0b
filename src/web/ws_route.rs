//! WebSocket routes in an [`Application`] (Tornado's `WebSocketHandler` in the routing
//! table): the upgrade, `check_origin`, subprotocols and compression from
//! [`WebSocketOptions`], then an `open` callback that sets the message and close
//! callbacks on the connection.

use std::rc::Rc;

use super::app::Application;
use super::context::Context;
use super::outcome::HandlerResult;
use crate::error::{Error, Result};
use crate::websocket::{accept, WebSocket, WebSocketOptions};

impl Application {
    /// A WebSocket route (Tornado's `WebSocketHandler`): a `GET` on `pattern` is
    /// upgraded with `options` — the origin check
    /// ([`WebSocketOptions::check_origin`], same origin by default), the
    /// [`subprotocols`](WebSocketOptions::subprotocols) offered and
    /// [`compression`](WebSocketOptions::compression) — and `open` is called with the
    /// request's context (path parameters, cookies, [`Context::current_user`]) and the
    /// connection, on which it sets [`on_message`](WebSocket::on_message) and
    /// [`on_close`](WebSocket::on_close). A refused upgrade is answered 400 / 403 / 426
    /// without calling `open`; an error from `open` closes the connection with 1011.
    /// The access log gets one line per upgrade: `101` with the connection's duration
    /// when it ends, or the refusal's status.
    ///
    /// A broadcast endpoint:
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use squall::web::{Application, Context};
    /// use squall::websocket::{WebSocket, WebSocketOptions};
    ///
    /// let clients: Rc<RefCell<Vec<WebSocket>>> = Rc::default();
    /// let app = Application::new().websocket("/ws", WebSocketOptions::default(),
    ///     move |_ctx: &mut Context, ws: &WebSocket| {
    ///         clients.borrow_mut().retain(|c| !c.is_closed());
    ///         clients.borrow_mut().push(ws.clone());
    ///         let clients = clients.clone();
    ///         ws.on_message(move |_ws, msg| {
    ///             for c in clients.borrow().iter() {
    ///                 let _ = c.send(msg.clone());
    ///             }
    ///         });
    ///         Ok(())
    ///     });
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    /// As [`route`](Self::route).
    pub fn websocket(
        self,
        pattern: &str,
        options: WebSocketOptions,
        open: impl Fn(&mut Context, &WebSocket) -> HandlerResult + 'static,
    ) -> Self {
        let options = Rc::new(options);
        self.get(pattern, move |ctx: &mut Context| {
            let ws = match ctx.accept_websocket(&options) {
                Ok(ws) => ws,
                Err(e) => {
                    // Answered already (400 / 403 / 426), or the client left.
                    let status = match &e {
                        Error::Http { status, .. } => *status,
                        _ => 499,
                    };
                    ctx.log_line(status, "WebSocket upgrade refused");
                    return Ok(());
                }
            };
            let line = ctx.log_later();
            ws.closed().add_done_callback(move |f| {
                let code = f.result().and_then(|r| r.ok()).map_or(1006, |(c, _)| c);
                line(101, &format!("WebSocket closed {code}"));
            });
            if let Err(e) = open(ctx, &ws) {
                log::error!("WebSocket open for {}: {e}", ctx.request().uri);
                let _ = ws.close(1011, "");
            }
            Ok(())
        })
    }
}

impl Context {
    /// [`websocket::accept`](crate::websocket::accept) from a route of an
    /// [`Application`]: upgrades this context's request (refusals are answered as by
    /// `accept`). The handler returns `Ok(())` either way: the context has no response
    /// left to send.
    ///
    /// # Errors
    /// As `accept`; [`Error::InvalidState`] when the context was already answered.
    ///
    /// ```no_run
    /// # fn main() -> squall::Result<()> {
    /// use squall::web::{Application, Context};
    /// use squall::websocket::WebSocketOptions;
    ///
    /// let mut reactor = squall::Reactor::new()?;
    /// let options = WebSocketOptions::default();
    /// let app = Application::new().get("/ws", move |ctx: &mut Context| {
    ///     if let Ok(ws) = ctx.accept_websocket(&options) {
    ///         ws.on_message(|ws, msg| ws.send(msg));
    ///     }
    ///     Ok(())
    /// });
    /// app.server(&reactor.handle()).listen("127.0.0.1:8888")?;
    /// reactor.run()
    /// # }
    /// ```
    #[doc(alias = "accept_context")]
    pub fn accept_websocket(&mut self, options: &WebSocketOptions) -> Result<WebSocket> {
        let responder = self
            .take_responder()
            .ok_or_else(|| Error::invalid_state("the request was already answered"))?;
        accept(self.request(), responder, options)
    }
}
