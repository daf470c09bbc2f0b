//! WebSocket chat-room broadcast server on tokio-tungstenite, single-threaded (tokio
//! `current_thread` with a `LocalSet`): the peer for squall's chat in WebSocket mode
//! (`examples/chat`, `GET /chatsocket`), speaking the same tiny protocol as that chat and
//! Tornado's websocket chat demo, so `chat_ws_load` measures all of them the same way.
//!
//!   tungstenite_broadcast [--port 8888] [--bind 127.0.0.1] [--read-buffer 16384]
//!
//! Prints `listening on ws://HOST:PORT` once ready (`--port 0` picks a free port). Every path
//! accepts the upgrade. On join a socket gets `{"messages": [...]}` with the cached messages
//! (the newest 200). A text message `{"body": "..."}` becomes a message
//! `{"id": "N", "body": "...", "html": "<div ...>...</div>\n"}`, is cached, and one
//! `{"messages": [that message]}` text frame, encoded once, goes to every connected socket
//! (the sender included), each through its own task (`send`: write and flush), as a plain
//! tokio program would. Other messages are ignored; pings are answered by tungstenite.
//! `--read-buffer`: tungstenite's per-connection read buffer (default here 16 KiB, its best
//! configuration; tungstenite's own default is 128 KiB).
//!
//! The `body` string is taken from the JSON text as written (its escapes kept), not through
//! a JSON library: this crate has none, and the load generator sends plain ASCII bodies.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use futures_util::lock::Mutex;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use squall_peers::{Args, raise_nofile};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const USAGE: &str = "tungstenite_broadcast [--port 8888] [--bind 127.0.0.1] [--read-buffer 16384]";
const MAX_MESSAGE: usize = 64 * 1024;
const CACHE: usize = 200;

type Sink = Rc<Mutex<SplitSink<WebSocketStream<TcpStream>, Message>>>;

#[derive(Default)]
struct Room {
    next_socket: Cell<u64>,
    next_message: Cell<u64>,
    /// Each cached message as its JSON object text.
    cache: RefCell<VecDeque<String>>,
    sockets: RefCell<HashMap<u64, Sink>>,
}

impl Room {
    fn batch<'a>(messages: impl Iterator<Item = &'a String>) -> String {
        let mut s = String::from("{\"messages\": [");
        for (i, m) in messages.enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(m);
        }
        s.push_str("]}");
        s
    }

    /// Caches a new message and sends it to every socket.
    fn add(&self, raw_body: &str) {
        let id = self.next_message.get() + 1;
        self.next_message.set(id);
        let msg = format!(
            "{{\"id\": \"{id}\", \"body\": \"{raw_body}\", \"html\": \"<div class=\\\"message\\\" id=\\\"m{id}\\\">{}</div>\\n\"}}",
            escape_html(raw_body)
        );
        let frame = Message::text(Self::batch(std::iter::once(&msg)));
        {
            let mut cache = self.cache.borrow_mut();
            cache.push_back(msg);
            while cache.len() > CACHE {
                cache.pop_front();
            }
        }
        for sink in self.sockets.borrow().values() {
            let (sink, frame) = (sink.clone(), frame.clone());
            tokio::task::spawn_local(async move {
                // A failed send: the socket's reader sees the error and leaves the room.
                let _ = sink.lock().await.send(frame).await;
            });
        }
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The raw (still escaped) contents of the `"body"` string of a JSON object, if any.
fn body_of(text: &str) -> Option<&str> {
    let start = text.find("\"body\"")? + 6;
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut escaped = false;
    for (i, b) in rest.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

async fn serve(stream: TcpStream, config: WebSocketConfig, room: Rc<Room>) {
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (sink, mut read) = ws.split();
    let sink: Sink = Rc::new(Mutex::new(sink));
    let joined = Message::text(Room::batch(room.cache.borrow().iter()));
    if sink.lock().await.send(joined).await.is_err() {
        return;
    }
    let id = room.next_socket.get();
    room.next_socket.set(id + 1);
    room.sockets.borrow_mut().insert(id, sink);
    while let Some(msg) = read.next().await {
        match msg {
            Ok(Message::Text(t)) => match body_of(t.as_str()) {
                Some(body) if !body.is_empty() => room.add(body),
                _ => eprintln!("tungstenite_broadcast: ignored a message without a \"body\""),
            },
            Ok(_) => {}
            Err(_) => break,
        }
    }
    room.sockets.borrow_mut().remove(&id);
}

fn main() {
    let args = Args::parse(&[]);
    args.usage_if_help(USAGE);
    let port: u16 = args.get("port", 8888);
    let bind = args.str_or("bind", "127.0.0.1");
    let nofile = raise_nofile(1 << 20);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .read_buffer_size(args.get("read-buffer", 16 * 1024));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = match TcpListener::bind((bind.as_str(), port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tungstenite_broadcast: cannot listen on {bind}:{port}: {e}");
                std::process::exit(1);
            }
        };
        let addr = listener.local_addr().expect("local_addr");
        println!("listening on ws://{addr}");
        eprintln!("tungstenite_broadcast: RLIMIT_NOFILE={nofile}");
        let room = Rc::new(Room::default());
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    tokio::task::spawn_local(serve(s, config, room.clone()));
                }
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}
