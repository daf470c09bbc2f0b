//! WebSocket routes in an [`Application`] (Tornado's `WebSocketHandler` in the routing
//! table): the upgrade, `check_origin`, subprotocols and compression from
//! [`WebSocketOptions`], then an `open` callback that sets the message and close
//! callbacks on the connection.

use std::rc::Rc;

use super::app::Application;
use super::context::Context;
use super::outcome::HandlerResult;
use crate::error::Error;
use crate::websocket::{accept_context, WebSocket, WebSocketOptions};

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
            let ws = match accept_context(ctx, &options) {
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
