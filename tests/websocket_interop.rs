//! Interoperability with the Python `websockets` library, a real independent peer, in
//! both directions: squall server ↔ `websockets` client, `websockets` server ↔ squall
//! client. Text, binary, fragmented, 16 MiB, compressed, ping/pong, close codes.
//! `.ci/run` installs `websockets`; without it these tests skip, saying so.

mod support;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use squall::http::server::HttpServer;
use squall::websocket::{accept, connect, Message, WebSocket, WebSocketOptions};
use squall::Reactor;
use support::python::{have_websockets, run_client_ok, websockets_server};
use support::with_peer;
use support::ws::{assert_answers, assert_closed_by_peer, patterned, round_trip};

const CLIENT: &str = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    url, comp = sys.argv[1], (sys.argv[2] == "deflate")
    async with connect(url, compression="deflate" if comp else None, max_size=None,
                       ping_interval=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ext.startswith("permessage-deflate") == comp, ext
        for m in ["hello", "κόσμε" * 1000, b"\x00\x01\xff", b"", "", b"z" * (16 << 20)]:
            await ws.send(m)
            r = await ws.recv()
            assert r == m, (type(r), len(r), len(m))
        await ws.send(["frag", "men", "ted"])
        assert await ws.recv() == "fragmented"
        await ws.send([b"bin", b"ary"])
        assert await ws.recv() == b"binary"
        latency = await (await ws.ping(b"are you there"))
        await ws.send("close me")
        try:
            await ws.recv()
            raise AssertionError("expected a close")
        except Exception as e:
            pass
        assert ws.close_code == 4002 and ws.close_reason == "asked", (ws.close_code, ws.close_reason)
    print("OK", flush=True)
asyncio.run(main())
"#;

/// An echo server that closes with 4002 "asked" when told "close me".
fn squall_server(reactor: &Reactor, compression: bool) -> (HttpServer, std::net::SocketAddr) {
    let options = WebSocketOptions::default()
        .compression(compression)
        .max_message_size(17 << 20);
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        if let Ok(ws) = accept(&req, resp, &options) {
            ws.on_message(|ws: &WebSocket, msg| {
                if msg.as_text() == Some("close me") {
                    ws.close(4002, "asked").unwrap();
                    None
                } else {
                    Some(ws.send(msg))
                }
            });
        }
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    (server, addr)
}

/// Without the `websockets` package: None (the test skips). Else a reactor, a squall
/// echo server on it (see `squall_server`) and its URL.
fn squall_peer(compression: bool) -> Option<(Reactor, HttpServer, String)> {
    if !have_websockets() {
        return None;
    }
    let reactor = Reactor::new().unwrap();
    let (server, addr) = squall_server(&reactor, compression);
    Some((reactor, server, format!("ws://{addr}/interop")))
}

/// Runs the Python `script` with the URL of a squall echo server and `args`; it must
/// print `OK`.
fn python_client_against_squall(script: &'static str, compression: bool, args: &[&str]) {
    let Some((mut reactor, _server, url)) = squall_peer(compression) else {
        return;
    };
    let args = std::iter::once(url.as_str()).chain(args.iter().copied());
    run_client_ok(&mut reactor, script, args);
}

#[test]
fn websockets_client_against_squall_server() {
    python_client_against_squall(CLIENT, false, &["plain"]);
}

#[test]
fn websockets_client_against_squall_server_compressed() {
    python_client_against_squall(CLIENT, true, &["deflate"]);
}

/// A `websockets` client whose every message is a whole DEFLATE stream ending with a final
/// block (every other one followed by the `0x00` RFC 7692 §7.2.3.6 shows), as a
/// compressor that finishes its stream per message sends them.
const CLIENT_BFINAL: &str = r#"
import asyncio, sys, zlib
from websockets.asyncio.client import connect
from websockets.extensions import permessage_deflate
from websockets.frames import CTRL_OPCODES, Frame
sent = [0]
def encode(self, frame):
    if frame.opcode in CTRL_OPCODES:
        return frame
    assert frame.fin
    c = zlib.compressobj(wbits=-15)
    data = c.compress(frame.data) + c.flush(zlib.Z_FINISH)
    sent[0] += 1
    if sent[0] % 2 == 0:
        data += b"\x00"
    return Frame(frame.opcode, data, frame.fin, True, frame.rsv2, frame.rsv3)
permessage_deflate.PerMessageDeflate.encode = encode
async def main():
    async with connect(sys.argv[1], compression="deflate", max_size=None,
                       ping_interval=None) as ws:
        for m in ["hello", "hello again", "κόσμε" * 1000, b"\x00" * 100000, "", "last"]:
            await ws.send(m)
            r = await ws.recv()
            assert r == m, (type(r), len(r), len(m))
    assert sent[0] == 6, sent
    print("OK", flush=True)
asyncio.run(main())
"#;

#[test]
fn websockets_client_ending_each_message_with_a_final_block() {
    python_client_against_squall(CLIENT_BFINAL, true, &[]);
}

/// A `websockets` client echoing two 16 MiB compressible texts through squall with
/// compression; counts the continuation frames it received (websockets logs each frame
/// at debug level) and pings once the echoes are back.
const CLIENT_LARGE: &str = r#"
import asyncio, logging, sys
from websockets.asyncio.client import connect
cont = [0]
class Count(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("< CONT"):
            cont[0] += 1
log = logging.getLogger("websockets.client")
log.setLevel(logging.DEBUG)
log.propagate = False
log.addHandler(Count())
async def main():
    async with connect(sys.argv[1], compression="deflate", max_size=None,
                       ping_interval=None) as ws:
        text = ("squall " * ((16 << 20) // 7 + 1))[:16 << 20]
        for _ in range(2):
            await ws.send(text)
            r = await ws.recv()
            assert r == text, len(r)
        await (await ws.ping(b"still there"))
    print("OK", cont[0], flush=True)
asyncio.run(main())
"#;

#[test]
fn websockets_client_gets_large_compressed_echoes_in_fragments() {
    let Some((mut reactor, _server, url)) = squall_peer(true) else {
        return;
    };
    let out = with_peer(&mut reactor, move || {
        Command::new("python3")
            .args(["-c", CLIENT_LARGE, &url])
            .output()
            .expect("run python3")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let cont: Option<usize> = stdout
        .strip_prefix("OK ")
        .and_then(|n| n.trim().parse().ok());
    assert!(
        out.status.success() && cont.is_some(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    // Each 16 MiB echo came compressed in 256 KiB steps: 1 frame + 63 continuations.
    let cont = cont.unwrap_or_default();
    eprintln!("{cont} continuation frames");
    assert!(cont >= 2 * 63, "{cont} continuation frames");
}

const SERVER: &str = r#"
import asyncio, sys
from websockets.asyncio.server import serve
async def handler(ws):
    async for m in ws:
        if m == "fragment":
            await ws.send(["frag", "men", "ted"])
        elif m == "close":
            await ws.close(4003, "done")
        else:
            await ws.send(m)
async def main():
    comp = sys.argv[1] == "deflate"
    # Pings every 50 ms: a client that does not answer them is closed with 1011.
    async with serve(handler, "127.0.0.1", 0, compression="deflate" if comp else None,
                     max_size=None, ping_interval=0.05, ping_timeout=30) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(120)
asyncio.run(main())
"#;

fn squall_client_against_python(compression: bool) {
    let mode = if compression { "deflate" } else { "plain" };
    let Some(peer) = websockets_server(SERVER, [mode]) else {
        return;
    };
    let port = peer.port;
    let mut reactor = Reactor::new().unwrap();
    let options = WebSocketOptions::default()
        .compression(compression)
        .max_message_size(17 << 20);
    let url = format!("ws://127.0.0.1:{port}/interop");
    let ws = reactor
        .run_until(&connect(&reactor.handle(), &url, options))
        .unwrap();
    assert_eq!(
        ws.extensions().is_some(),
        compression,
        "{:?}",
        ws.extensions()
    );
    let big = patterned(16 << 20, 253);
    let messages = [
        Message::Text("hello".into()),
        Message::Text("κόσμε".repeat(1000).into()),
        Message::Binary(Bytes::from_static(b"\x00\x01\xff")),
        Message::Binary(Bytes::new()),
        Message::Text("".into()),
        Message::Binary(big),
    ];
    for m in messages {
        round_trip(&mut reactor, &ws, m);
    }
    assert_answers(&mut reactor, &ws, "fragment", "fragmented");
    // Our ping, their pong.
    let pong: squall::Future<Bytes> = squall::Future::new();
    let p = pong.clone();
    ws.on_pong(move |_, data| {
        let _ = p.try_set_result(data);
    });
    ws.ping(Bytes::from_static(b"ping?")).unwrap();
    assert_eq!(&reactor.run_until(&pong).unwrap()[..], b"ping?");
    // Their pings (every 50 ms) were answered all along, or they would have closed
    // with 1011; now they close with 4003.
    let seen_ping: squall::Future<()> = squall::Future::new();
    let s = seen_ping.clone();
    ws.on_ping(move |_, _| {
        let _ = s.try_set_result(());
    });
    reactor.run_until(&seen_ping).unwrap();
    ws.send_text("close");
    assert_closed_by_peer(&mut reactor, &ws, 4003, "done");
    let _ = Duration::ZERO;
}

#[test]
fn squall_client_against_websockets_server() {
    squall_client_against_python(false);
}

#[test]
fn squall_client_against_websockets_server_compressed() {
    squall_client_against_python(true);
}
