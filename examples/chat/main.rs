//! Tornado's chat demo on `squall::web`: a page, its static files, and long-polling.
//!
//! ```sh
//! cargo run --example chat -- [--port 8888] [--bind 127.0.0.1] [--xheaders] [--redis URL]
//! ```
//! Prints `listening on http://HOST:PORT` once ready (port 0 picks a free port). Routes:
//! - `GET /` the page, `GET /static/...` its files;
//! - `POST /a/message/new` with form field `body` (at most [`MAX_BODY`] bytes, 64 KiB, as
//!   over WebSocket; beyond: 413, refused from `Content-Length` before the body is read
//!   when its encoded form is too long) → `{"id", "body", "html"}`; the message joins a
//!   cache of the last 200 (and at most [`CACHE_BYTES`] of text);
//! - `POST /a/message/updates` with optional form field `cursor` (the id of the last
//!   message seen) → `{"messages": [...]}`, every message after the cursor, waiting on a
//!   `Condition` until there is one. A waiter whose client leaves is cancelled and freed;
//! - `GET /chatsocket` the same room over WebSocket, `--redis` shares it between
//!   processes, SIGTERM drains (see `ws.rs`; deployment behind nginx: docs/deployment.md).
//!
//! The page renders messages on the client from JSON; to render on the server instead,
//! plug in a template engine (e.g. `minijinja`) and answer with `ctx.send_html(...)`.

use std::{cell::RefCell, process::exit, rc::Rc};

use squall::http::server::HttpServerOptions;
use squall::locks::Condition;
use squall::web::{escape_html, Application, Context, HandlerResult, WebOptions};
use squall::{Error, Reactor};

mod ws;

const USAGE: &str = "usage: chat [--port PORT] [--bind ADDRESS]\n\
  --port PORT     port to listen on (default 8888; 0 picks a free one)\n\
  --bind ADDRESS  address to listen on (default 127.0.0.1)";

/// Longest message body, in bytes (the WebSocket side caps a whole message at this size).
pub const MAX_BODY: usize = 64 * 1024;
/// Messages kept in the cache, newest first out of it...
pub const CACHE_SIZE: usize = 200;
/// ...and the most text (ids, bodies and their HTML) they may hold together: what one
/// `/a/message/updates` or a socket's join sends is bounded by it.
pub const CACHE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone, serde::Serialize)]
struct Message {
    id: String,
    body: String,
    html: String,
    /// It came from another process (through Redis): not to be published again.
    #[serde(skip)]
    foreign: bool,
}

impl Message {
    fn cost(&self) -> usize {
        self.id.len() + self.body.len() + self.html.len()
    }
}

#[derive(Default)]
pub struct MessageBuffer {
    cond: Condition,
    cache: Vec<Message>,
    /// `cost()` of the cached messages.
    cache_bytes: usize,
    next_id: u64,
}

impl MessageBuffer {
    /// Every cached message after `cursor` (all of them for no or an unknown cursor).
    fn since(&self, cursor: Option<&str>) -> Vec<Message> {
        let start = self
            .cache
            .iter()
            .rposition(|m| Some(m.id.as_str()) == cursor);
        self.cache[start.map_or(0, |i| i + 1)..].to_vec()
    }

    /// Caches `msg`, dropping the oldest beyond [`CACHE_SIZE`] and [`CACHE_BYTES`], and
    /// wakes the waiters.
    fn push(&mut self, msg: Message) {
        self.cache_bytes += msg.cost();
        self.cache.push(msg);
        while self.cache.len() > CACHE_SIZE
            || (self.cache_bytes > CACHE_BYTES && self.cache.len() > 1)
        {
            let old = self.cache.remove(0);
            self.cache_bytes -= old.cost();
        }
        self.cond.notify_all();
    }

    fn add(&mut self, body: &str) -> Message {
        self.next_id += 1;
        let id = format!("{}-{}", ws::process_tag(), self.next_id);
        let html = format!(
            "<div class=\"message\" id=\"m{id}\">{}</div>\n",
            escape_html(body)
        );
        let msg = Message {
            id,
            body: body.to_string(),
            html,
            foreign: false,
        };
        self.push(msg.clone());
        msg
    }
}

pub type Buffer = Rc<RefCell<MessageBuffer>>;

fn new_message(buf: &Buffer, ctx: &mut Context) -> HandlerResult {
    let body = ctx.argument("body")?;
    if body.len() > MAX_BODY {
        return Err(Error::http(
            413,
            format!("a message body holds at most {MAX_BODY} bytes"),
        ));
    }
    let msg = buf.borrow_mut().add(body);
    ctx.send_json(&msg)
}

fn updates(buf: &Buffer, ctx: &mut Context) -> HandlerResult {
    let cursor = ctx.body_argument("cursor").map(str::to_string);
    wait_for_messages(buf.clone(), ctx.detach(), cursor);
    Ok(())
}

/// Answers with the messages after `cursor`, or parks on the condition until some arrive.
fn wait_for_messages(buf: Buffer, mut ctx: Context, cursor: Option<String>) {
    let messages = buf.borrow().since(cursor.as_deref());
    if !messages.is_empty() {
        let _ = ctx.send_json(&serde_json::json!({ "messages": messages }));
        return;
    }
    let wait = buf.borrow().cond.wait();
    let on_close = wait.clone();
    ctx.on_connection_close(move || {
        on_close.cancel();
    });
    wait.add_done_callback(move |w| {
        if !w.is_cancelled() {
            wait_for_messages(buf, ctx, cursor);
        } // else the client left: dropping `ctx` frees the waiter
    });
}

/// The application and its message buffer.
pub fn app(static_dir: &str) -> (Application, Buffer) {
    let buf = Buffer::default();
    let (b1, b2) = (buf.clone(), buf.clone());
    let index = squall::web::StaticFiles::new(static_dir);
    // The only bodies are these forms: a body of MAX_BODY bytes, percent-encoded (up to
    // 3 bytes each), plus the field name and a cursor. A longer request is refused with
    // 413 from its Content-Length, before its body is read.
    let server = HttpServerOptions::default().max_body_size(3 * MAX_BODY + 1024);
    let app = Application::with_options(WebOptions::default().server(server))
        .get("/", move |ctx| index.serve(ctx, "index.html"))
        .static_files("/static", static_dir)
        .post("/a/message/new", move |ctx| new_message(&b1, ctx))
        .post("/a/message/updates", move |ctx| updates(&b2, ctx));
    (app, buf)
}

fn parse_args() -> Result<(String, u16, ws::Extra), lexopt::Error> {
    use lexopt::prelude::*;
    let (mut bind, mut port, mut extra) = ("127.0.0.1".to_string(), 8888, ws::Extra::default());
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => port = parser.value()?.parse()?,
            Long("bind") => bind = parser.value()?.string()?,
            Short('h') | Long("help") => {
                println!("{USAGE}{}", ws::USAGE);
                exit(0);
            }
            arg => ws::arg(arg.unexpected(), &mut parser, &mut extra)?,
        }
    }
    Ok((bind, port, extra))
}

fn main() -> squall::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let (bind, port, extra) = parse_args().unwrap_or_else(|e| {
        eprintln!("chat: {e}\n{USAGE}{}", ws::USAGE);
        exit(2);
    });
    let (app, buf) = app(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chat/static"));
    let mut reactor = Reactor::new()?;
    let server = ws::server(&reactor.handle(), app, &buf, &extra)?;
    let addr = server.listen((bind.as_str(), port)).unwrap_or_else(|e| {
        eprintln!("chat: cannot listen on {bind}:{port}: {e}");
        exit(1);
    });
    println!("listening on http://{addr}");
    reactor.run()
}
