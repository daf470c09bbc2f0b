//! WebSocket routes in an `Application` over real sockets, and the access log of
//! upgrades, refused upgrades and requests whose client left.

mod support;

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use squall::web::{Application, Context};
use squall::websocket::frame::Opcode;
use squall::websocket::{WebSocket, WebSocketOptions};
use support::http::{run, Reader};
use support::ws::Raw;

static PARKED: AtomicBool = AtomicBool::new(false);
static ACCESS_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct AccessLog;

impl log::Log for AccessLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "squall::web::access"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            ACCESS_LINES.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn upgrade(path: &str, extra: &str) -> String {
    Raw::upgrade_request(extra).replacen("GET /ws ", &format!("GET {path} "), 1)
}

/// A broadcast room in a few lines, with the room from the path and a subprotocol.
fn app() -> Application {
    let clients: Rc<RefCell<Vec<WebSocket>>> = Rc::default();
    let closed: Rc<RefCell<Vec<u16>>> = Rc::default();
    let parked: Rc<RefCell<Option<Context>>> = Rc::default();
    let options = WebSocketOptions::default().subprotocols(["chat.v1"]);
    Application::new()
        .websocket(
            "/ws/{room}",
            options,
            move |ctx: &mut Context, ws: &WebSocket| {
                let room = ctx.param("room").unwrap().to_string();
                clients.borrow_mut().retain(|c| !c.is_closed());
                clients.borrow_mut().push(ws.clone());
                let clients = clients.clone();
                ws.on_message(move |_ws, msg| {
                    let text = format!("{room}: {}", msg.as_text().unwrap_or(""));
                    for c in clients.borrow().iter() {
                        let _ = c.send_text(text.clone());
                    }
                });
                let closed = closed.clone();
                ws.on_close(move |code, _| closed.borrow_mut().push(code));
                Ok(())
            },
        )
        .get("/park", move |ctx: &mut Context| {
            let mut later = ctx.detach();
            let p = parked.clone();
            later.on_connection_close(move || drop(p.borrow_mut().take()));
            *parked.borrow_mut() = Some(later);
            PARKED.store(true, Ordering::SeqCst);
            Ok(())
        })
        .get("/lines", |ctx: &mut Context| {
            let lines = ACCESS_LINES.lock().unwrap().join("\n");
            ctx.send_text(lines);
            Ok(())
        })
}

/// Polls `/lines` until one contains `needle` (bounded); returns it.
fn wait_line(addr: std::net::SocketAddr, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut r = Reader::connect(addr);
    loop {
        r.send(b"GET /lines HTTP/1.1\r\nHost: x\r\n\r\n");
        let body = r.response().body_str();
        if let Some(l) = body.lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no access line with {needle:?} in:\n{body}"
        );
    }
}

#[test]
fn a_websocket_route_broadcasts_and_the_access_log_has_every_upgrade() {
    let _ = log::set_logger(&AccessLog);
    log::set_max_level(log::LevelFilter::Info);
    let out = run(
        move |h| app().server(h),
        |addr| {
            let (mut a, head_a) = Raw::request(
                addr,
                upgrade("/ws/lobby", "Sec-WebSocket-Protocol: other, chat.v1\r\n"),
            );
            let (mut b, _) = Raw::request(addr, upgrade("/ws/lobby", ""));
            a.send(Opcode::Text, true, b"hello");
            let got_a = a.read_frame().unwrap().payload;
            let got_b = b.read_frame().unwrap().payload;
            // A cross-origin upgrade and a plain GET are refused.
            let (_x, refused) = Raw::request(
                addr,
                upgrade("/ws/lobby", "Origin: http://evil.example\r\n"),
            );
            let (_y, plain) = Raw::request(
                addr,
                "GET /ws/lobby HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            // A clean close, then its line.
            a.send(Opcode::Close, true, &1000u16.to_be_bytes());
            let close = a.read_close().close_code();
            let line_101 = wait_line(addr, "101 GET /ws/lobby");
            let line_403 = wait_line(addr, "403 GET /ws/lobby");
            let line_400 = wait_line(addr, "400 GET /ws/lobby");
            // A client that leaves while its request is parked.
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /park HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            // Once the request is parked (polled), the client leaves.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !PARKED.load(Ordering::SeqCst) {
                assert!(Instant::now() < deadline, "the request was never parked");
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(s);
            let left = wait_line(addr, "GET /park");
            (
                head_a, got_a, got_b, refused, plain, close, line_101, line_403, line_400, left,
            )
        },
    );
    let (head_a, got_a, got_b, refused, plain, close, line_101, line_403, line_400, left) = out;
    assert!(head_a.starts_with("HTTP/1.1 101 "), "{head_a}");
    assert!(
        head_a.contains("Sec-WebSocket-Protocol: chat.v1"),
        "{head_a}"
    );
    assert_eq!(got_a, b"lobby: hello");
    assert_eq!(got_b, b"lobby: hello");
    assert!(refused.starts_with("HTTP/1.1 403 "), "{refused}");
    assert!(plain.starts_with("HTTP/1.1 400 "), "{plain}");
    assert_eq!(close, Some(1000));
    assert!(
        line_101.contains("(127.0.0.1)") && line_101.ends_with("(WebSocket closed 1000)"),
        "{line_101}"
    );
    assert!(
        line_403.ends_with("(WebSocket upgrade refused)"),
        "{line_403}"
    );
    assert!(
        line_400.ends_with("(WebSocket upgrade refused)"),
        "{line_400}"
    );
    assert!(
        left.starts_with("499 GET /park ") && left.ends_with("(client left)"),
        "{left}"
    );
}
