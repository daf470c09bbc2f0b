//! The chat's WebSocket mode (Tornado's `demos/websocket` beside its long-poll demo),
//! its deployment options and its graceful stop.
//!
//! - `GET /chatsocket` upgrades to a WebSocket. On join the socket gets the newest cached
//!   messages, up to 256 KiB of them (`{"messages": [...]}`), then every new one as it is posted, whether it was
//!   posted over a socket (`{"body": "..."}`), with `POST /a/message/new`, or on another
//!   process (with `--redis`). Long-poll and WebSocket users share one room.
//! - `--xheaders`: trust `X-Real-Ip` / `X-Forwarded-For` / `X-Scheme` from a proxy.
//! - `--redis URL`: share the room with every process connected to that Redis server
//!   (see `redis_bus.rs`).
//! - SIGTERM / SIGINT: stop accepting, close WebSockets with 1001 (pages reconnect,
//!   through a proxy to another process), let in-flight requests finish, exit 0 (after at
//!   most [`DRAIN_LIMIT`]: parked long-polls are cut then, and their pages poll again).

#[path = "redis_bus.rs"]
mod redis_bus;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use squall::http::server::HttpServer;
use squall::web::Application;
use squall::websocket::{Message as WsMessage, WebSocket, WebSocketOptions};
use squall::Handle;

use super::{Buffer, Message};

/// Usage lines of the options this file adds.
pub const USAGE: &str =
    "\n  --xheaders      trust X-Real-Ip/X-Forwarded-For/X-Scheme (behind a proxy)\n  \
    --redis URL     share the room through Redis pub/sub (redis://HOST:PORT)";

/// Longest a stop waits for connections to finish.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// A tag unique to this process (random: pids repeat across machines and restarts),
/// the prefix of its message ids.
pub fn process_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| format!("{:012x}", fastrand::u64(..) >> 16))
}

/// Options beyond `--port` and `--bind`.
#[derive(Debug, Default)]
pub struct Extra {
    xheaders: bool,
    redis: Option<String>,
}

/// Parses one of this file's options. `main` hands over each option it does not know as
/// the error it would report (owned, so that the parser can be borrowed again here).
pub fn arg(
    unknown: lexopt::Error,
    p: &mut lexopt::Parser,
    x: &mut Extra,
) -> Result<(), lexopt::Error> {
    use lexopt::prelude::*;
    match &unknown {
        lexopt::Error::UnexpectedOption(o) if o == "--xheaders" => x.xheaders = true,
        lexopt::Error::UnexpectedOption(o) if o == "--redis" => {
            let url = p.value()?.string()?;
            if !url.starts_with("redis://") || url::Url::parse(&url).is_err() {
                return Err(format!("--redis wants a redis://HOST:PORT URL, not {url:?}").into());
            }
            x.redis = Some(url);
        }
        _ => return Err(unknown),
    }
    Ok(())
}

/// Everyone connected over WebSocket, and where they are in the message stream.
struct Room {
    buf: Buffer,
    sockets: RefCell<HashMap<u64, WebSocket>>,
    next: std::cell::Cell<u64>,
    bus: Option<redis_bus::Bus>,
}

/// The chat's server: the application plus its WebSocket route `/chatsocket`, Redis if
/// asked, and the signal handlers of a graceful stop.
pub fn server(
    handle: &Handle,
    app: Application,
    buf: &Buffer,
    extra: &Extra,
) -> squall::Result<HttpServer> {
    let bus = match &extra.redis {
        Some(url) => Some(redis_bus::Bus::connect(handle, url, buf)?),
        None => None,
    };
    let room = Rc::new(Room {
        buf: buf.clone(),
        sockets: RefCell::default(),
        next: Default::default(),
        bus,
    });
    pump(
        Rc::downgrade(&room),
        buf.borrow().cache.last().map(|m| m.id.clone()),
    );
    let options = WebSocketOptions::default()
        .max_message_size(64 * 1024)
        .ping_interval(Some(Duration::from_secs(30)))
        .ping_timeout(Some(Duration::from_secs(30)))
        .max_write_buffer_size(Some(1024 * 1024));
    let r = room.clone();
    let server_options = app.options().server.clone().xheaders(extra.xheaders);
    let app = app.websocket("/chatsocket", options, move |ctx, ws| {
        log::info!("websocket joined from {}", ctx.request().remote_ip);
        join(&r, ws.clone());
        Ok(())
    });
    let server = HttpServer::with_options(handle, server_options, app.handler());
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let (h, s, room) = (handle.clone(), server.clone(), room.clone());
        handle.add_signal_handler(signal, move || stop(&h, &s, &room))?;
    }
    Ok(server)
}

/// Most cached text (as [`Message::cost`] counts it) a joining socket is sent.
const JOIN_HISTORY_BYTES: usize = 256 * 1024;

fn join(room: &Rc<Room>, ws: WebSocket) {
    let id = room.next.get();
    room.next.set(id + 1);
    let mut cached = room.buf.borrow().since(None);
    // The newest messages that fit well inside the socket's 1 MiB write limit (JSON
    // escaping at most doubles them): a full cache (up to 8 MiB) would be refused as a
    // slow reader's backlog before the page read a byte.
    let mut budget = JOIN_HISTORY_BYTES;
    let keep = cached
        .iter()
        .rev()
        .take_while(|m| budget.checked_sub(m.cost()).map(|b| budget = b).is_some())
        .count();
    cached.drain(..cached.len() - keep);
    ws.send_text(batch(&cached));
    let weak = Rc::downgrade(room);
    ws.on_message(move |_, m| {
        let (Some(room), WsMessage::Text(text)) = (weak.upgrade(), m) else {
            return;
        };
        let body = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("body")?.as_str().map(str::to_owned));
        match body {
            // The pump sends it to every socket, this one included.
            Some(body) if !body.is_empty() => {
                room.buf.borrow_mut().add(&body);
            }
            _ => log::warn!("websocket: ignored a message without a \"body\""),
        }
    });
    let weak = Rc::downgrade(room);
    ws.on_close(move |_, _| {
        if let Some(room) = weak.upgrade() {
            room.sockets.borrow_mut().remove(&id);
        }
    });
    room.sockets.borrow_mut().insert(id, ws);
}

fn batch(messages: &[Message]) -> String {
    serde_json::json!({ "messages": messages }).to_string()
}

/// Sends each new message to Redis (if used) and to every socket, then waits on the buffer's
/// condition for the next ones. Holds the room weakly: no cycle through the condition.
fn pump(room: Weak<Room>, cursor: Option<String>) {
    let Some(r) = room.upgrade() else { return };
    let new = r.buf.borrow().since(cursor.as_deref());
    let cursor = new.last().map(|m| m.id.clone()).or(cursor);
    if !new.is_empty() {
        // Other processes first: their users should not wait for ours.
        if let Some(bus) = &r.bus {
            bus.publish_local(&new);
        }
        let text = batch(&new);
        for ws in r.sockets.borrow().values() {
            // A send that finds a socket's buffer full closes it (1008, logged once):
            // nothing to handle here.
            let _ = ws.send_text(text.clone());
        }
    }
    let wait = r.buf.borrow().cond.wait();
    wait.add_done_callback(move |_| pump(room, cursor));
}

/// Graceful stop: no new connections, WebSockets told to go (1001), requests finish.
fn stop(handle: &Handle, server: &HttpServer, room: &Rc<Room>) {
    log::info!("stopping: draining connections");
    let sockets: Vec<WebSocket> = room.sockets.borrow().values().cloned().collect();
    let mut gone = vec![server.close_all_connections()];
    for ws in sockets {
        let _ = ws.close(1001, "server restarting");
        gone.push(ws.closed().map(|_| Ok(())));
    }
    let h = handle.clone();
    squall::join_all(gone).add_done_callback(move |_| h.stop());
    let h = handle.clone();
    handle.call_later(DRAIN_LIMIT, move || h.stop());
}
