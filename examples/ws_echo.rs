//! WebSocket echo server: every path accepts upgrades and sends every message back with
//! its opcode (text as text, binary as binary). Messages up to 16 MiB.
//!
//! ```sh
//! cargo run --release --example ws_echo -- --port 8889 --bind 127.0.0.1 --deflate
//! ```
//! Prints `listening on ws://HOST:PORT` once ready (`--port 0` picks a free port).
//! With `--tls-cert FILE --tls-key FILE` (PEM) it serves `wss://` and prints
//! `listening on wss://HOST:PORT`.
//! `--deflate` accepts permessage-deflate offers. SIGINT/SIGTERM close every connection
//! with 1001 (going away) and exit 0.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use slab::Slab;
use squall::http::server::HttpServer;
use squall::tls::TlsConfig;
use squall::websocket::{accept, WebSocket, WebSocketOptions};
use squall::Reactor;

#[path = "common/mod.rs"]
mod common;

const USAGE: &str =
    "usage: ws_echo [--port 8889] [--bind 127.0.0.1] [--deflate] [--tls-cert FILE --tls-key FILE]\n";

struct Args {
    port: u16,
    bind: String,
    deflate: bool,
    tls_cert: Option<std::path::PathBuf>,
    tls_key: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        port: 8889,
        bind: "127.0.0.1".into(),
        deflate: false,
        tls_cert: None,
        tls_key: None,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => args.port = parser.value()?.parse()?,
            Long("bind") => args.bind = parser.value()?.string()?,
            Long("deflate") => args.deflate = true,
            Long("tls-cert") => args.tls_cert = Some(parser.value()?.into()),
            Long("tls-key") => args.tls_key = Some(parser.value()?.into()),
            Short('h') | Long("help") => common::help(USAGE),
            _ => return Err(arg.unexpected()),
        }
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    Ok(args)
}

type Open = Rc<RefCell<Slab<WebSocket>>>;

fn main() {
    common::init_logging("warn");
    let args = parse_args().unwrap_or_else(|e| common::usage_error("ws_echo", USAGE, e));
    if let Err(e) = run(args) {
        common::failed("ws_echo", e);
    }
}

fn run(args: Args) -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let options = WebSocketOptions::default()
        .max_message_size(16 << 20)
        .compression(args.deflate)
        .check_origin(|_, _| true);
    let open: Open = Rc::default();
    let o = open.clone();
    let server = HttpServer::new(&handle, move |req, resp| {
        let Ok(ws) = accept(&req, resp, &options) else {
            return; // refused with its HTTP status
        };
        let key = o.borrow_mut().insert(ws.clone());
        let o = o.clone();
        ws.on_close(move |_, _| {
            o.borrow_mut().try_remove(key);
        });
        ws.on_message(|ws, msg| ws.send(msg));
    });
    let scheme = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            server.set_tls(TlsConfig::server_from_pem_files(cert, key)?)?;
            "wss"
        }
        _ => "ws",
    };
    let shutdown = {
        let (h, open, server) = (handle.clone(), open.clone(), server.clone());
        move || {
            server.stop();
            let all: Vec<WebSocket> = open.borrow().iter().map(|(_, ws)| ws.clone()).collect();
            for ws in &all {
                let _ = ws.close(1001, "server shutting down");
            }
            // Stop once every closing handshake is done (each waits at most its close
            // timeout), or at once with none open.
            let pending: Vec<_> = all.iter().map(WebSocket::closed).collect();
            let h2 = h.clone();
            squall::join_all(pending).add_done_callback(move |_| h2.stop());
            let h3 = h.clone();
            h.call_later(Duration::from_secs(6), move || h3.stop());
        }
    };
    let s1 = shutdown.clone();
    handle.add_signal_handler(signal_hook::consts::SIGINT, s1)?;
    handle.add_signal_handler(signal_hook::consts::SIGTERM, shutdown)?;
    // Ready only once the signal handlers are in place.
    let addr = server.listen((args.bind.as_str(), args.port))?;
    println!("listening on {scheme}://{addr}");
    reactor.run()
}
