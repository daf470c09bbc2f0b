//! The chat demo (`examples/chat/`): the binary as a user runs it (its routes, long
//! polling, the 200-message cache, command-line errors), and the same application
//! in-process to see that waiters whose clients leave are cancelled and freed.

#![cfg(feature = "json")]

mod support;

#[path = "../examples/chat/main.rs"]
#[allow(dead_code)]
mod chat;

use std::io::Write;
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use squall::testing::bind_unused_port;
use squall::PeriodicCallback;
use support::http::{connect, Reader, Response};
use support::process::{assert_one_line_failure, example_binary, serve_example, ExampleServer};

fn start() -> ExampleServer {
    let args = ["--port", "0", "--bind", "127.0.0.1"];
    serve_example("chat", args, Duration::from_secs(60))
}

fn post_form(r: &mut Reader, path: &str, form: &str) -> Response {
    r.send(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    );
    r.response()
}

fn json(r: &Response) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", r.body_str());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

#[test]
fn page_static_files_and_new_messages() {
    let chat = start();
    let mut r = Reader::connect(chat.addr);
    r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let page = r.response();
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html"));
    assert!(page.body_str().contains("messageform"));
    r.send(b"GET /static/chat.js HTTP/1.1\r\nHost: x\r\n\r\n");
    let js = r.response();
    assert_eq!(js.status, 200);
    assert!(js.body_str().contains("/a/message/updates"));
    r.send(b"GET /static/../main.rs HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.response().status, 403);

    let m = json(&post_form(
        &mut r,
        "/a/message/new",
        "body=%3Cb%3Ehi+%26+bye%3C%2Fb%3E",
    ));
    assert_eq!(m["body"], "<b>hi & bye</b>");
    let id = m["id"].as_str().unwrap();
    assert_eq!(
        m["html"],
        format!("<div class=\"message\" id=\"m{id}\">&lt;b&gt;hi &amp; bye&lt;/b&gt;</div>\n")
    );
    let missing = post_form(&mut r, "/a/message/new", "other=1");
    assert_eq!(missing.status, 400);
    r.send(b"GET /a/message/new HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.response().status, 405);
}

#[test]
fn long_poll_waits_for_the_next_message_and_the_cache_keeps_200() {
    let chat = start();
    let mut r = Reader::connect(chat.addr);
    let mut ids = Vec::new();
    for i in 0..205 {
        ids.push(
            json(&post_form(&mut r, "/a/message/new", &format!("body=m{i}")))["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // No cursor: the whole cache, the newest 200.
    let all = json(&post_form(&mut r, "/a/message/updates", ""));
    let all = all["messages"].as_array().unwrap();
    assert_eq!(all.len(), 200);
    assert_eq!(all[0]["body"], "m5");
    assert_eq!(all[199]["body"], "m204");
    // A cursor in the middle: what follows it.
    let some = json(&post_form(
        &mut r,
        "/a/message/updates",
        &format!("cursor={}", ids[202]),
    ));
    let bodies: Vec<&str> = some["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["m203", "m204"]);
    // The newest as cursor: the poll waits until a message arrives. Whether it parks
    // before or after the post below, it answers with exactly that message.
    let last = ids[204].clone();
    let addr = chat.addr;
    let waiter = std::thread::spawn(move || {
        let mut w = Reader::connect(addr);
        json(&post_form(
            &mut w,
            "/a/message/updates",
            &format!("cursor={last}"),
        ))
    });
    let m = json(&post_form(&mut r, "/a/message/new", "body=news"));
    let got = waiter.join().unwrap();
    assert_eq!(got["messages"].as_array().unwrap().len(), 1);
    assert_eq!(got["messages"][0], m);
}

#[test]
fn bad_arguments_are_usage_errors_and_a_busy_port_is_one_line() {
    let bin = example_binary("chat");
    for args in [
        &["--port", "99999"][..],
        &["--port", "abc"],
        &["--nope"],
        &["--port"],
    ] {
        let out = Command::new(&bin).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("chat: ") && err.contains("usage: chat"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    for flag in ["--help", "-h"] {
        let help = Command::new(&bin).arg(flag).output().unwrap();
        assert_eq!(help.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: chat"));
    }
    let (_busy, port) = bind_unused_port().unwrap();
    let port = port.to_string();
    let out = Command::new(&bin)
        .args(["--port", &port])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_one_line_failure(&out, 1, "chat: cannot listen on 127.0.0.1:");
}

/// Waiters hold a reference to the message buffer; when their clients leave they are
/// cancelled and freed, so the count falls back to what the routes hold.
#[test]
fn waiters_whose_clients_leave_are_cancelled_and_freed() {
    const CLIENTS: usize = 50;
    let (mut reactor, handle) = support::reactor();
    let (app, buf) = chat::app(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chat/static"));
    let server = app.server(&handle);
    let addr = server.listen("127.0.0.1:0").unwrap();
    let base = Rc::strong_count(&buf);
    let (close_tx, close_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut conns: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let mut s = connect(addr);
                s.write_all(
                    b"POST /a/message/updates HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                )
                .unwrap();
                s
            })
            .collect();
        close_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("parked in time");
        conns.clear(); // every client leaves
    });
    // Watch the count from the loop: all parked, then all freed.
    let done = squall::Future::<usize>::new();
    let (d, b) = (done.clone(), buf.clone());
    let mut close_tx = Some(close_tx);
    let deadline = Instant::now() + Duration::from_secs(60);
    let watch = PeriodicCallback::new(&handle, Duration::from_millis(5), move || {
        let waiters = Rc::strong_count(&b) - base - 1;
        if close_tx.is_some() && waiters == CLIENTS {
            close_tx.take().unwrap().send(()).unwrap();
        } else if close_tx.is_none() && waiters == 0 && !d.is_done() {
            d.set_result(server.connection_count());
        } else if Instant::now() > deadline && !d.is_done() {
            d.set_error(squall::Error::Timeout);
        }
    });
    watch.start();
    let open = reactor.run_until(&done).expect("waiters freed in time");
    watch.stop();
    client.join().unwrap();
    assert_eq!(open, 0, "every connection closed");
}

#[test]
fn chat_load_delivers_to_every_client_and_follows_the_cli_conventions() {
    let bin = example_binary("chat_load");
    let help = Command::new(&bin).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: chat_load"));
    let bad = Command::new(&bin)
        .args(["--clients", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("chat_load: "));
    let closed = support::ReservedPort::closed();
    let port = closed.port().to_string();
    let refused = Command::new(&bin).args(["--port", &port]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&refused.stderr).lines().count(), 1);

    let chat = start();
    let port = chat.addr.port().to_string();
    let out = Command::new(&bin)
        .args(["--port", &port, "--clients", "50", "--timeout", "60"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("RESULT clients=50 delivered=50 "),
        "{stdout}"
    );
}

/// A message body is capped at 64 KiB: 413 over HTTP (from `Content-Length` alone when
/// the form is longer than any such body can be encoded, so the body is never read),
/// 1009 over WebSocket. The cache, and so what one `/a/message/updates` answers, stays
/// within its byte bound however big the posted messages are.
#[test]
fn message_bodies_are_capped_and_the_cache_is_bounded_in_bytes() {
    let chat = start();
    let mut r = Reader::connect(chat.addr);
    // A declared 8 MiB form: refused from its head, no body sent.
    r.send(b"POST /a/message/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 8388608\r\n\r\n");
    assert_eq!(r.response().status, 413);

    let mut r = Reader::connect(chat.addr);
    let at_cap = format!("body={}", "a".repeat(chat::MAX_BODY));
    assert_eq!(post_form(&mut r, "/a/message/new", &at_cap).status, 200);
    let over = format!("body={}", "a".repeat(chat::MAX_BODY + 1));
    assert_eq!(post_form(&mut r, "/a/message/new", &over).status, 413);

    // 40 bodies of 64 KiB of `<` (each 256 KiB of HTML once escaped).
    let big = format!("body={}", "%3C".repeat(chat::MAX_BODY));
    for _ in 0..40 {
        let mut r = Reader::connect(chat.addr);
        assert_eq!(post_form(&mut r, "/a/message/new", &big).status, 200);
    }
    let mut r = Reader::connect(chat.addr);
    let all = post_form(&mut r, "/a/message/updates", "");
    let n = json(&all)["messages"].as_array().unwrap().len();
    eprintln!("updates: {} bytes, {n} messages", all.body.len());
    // The JSON of the cached text: ids, keys and quotes add a little per message.
    assert!(
        all.body.len() <= chat::CACHE_BYTES + 200 * 100,
        "{} bytes, {n} messages",
        all.body.len()
    );
    assert!(n >= 2, "{n}");

    // Over WebSocket: a message beyond the cap closes the socket with 1009.
    let (mut reactor, handle) = support::reactor();
    let limit = Duration::from_secs(30);
    let ws = reactor
        .run_until(&squall::with_timeout(
            &handle,
            limit,
            &squall::websocket::connect(
                &handle,
                &format!("ws://{}/chatsocket", chat.addr),
                squall::websocket::WebSocketOptions::default(),
            ),
        ))
        .expect("websocket");
    // On join the socket gets the newest cached messages that fit its join budget (here
    // none: each cached message costs 320 KiB); a client reads them before its close
    // frame can be read.
    let history = reactor
        .run_until(&squall::with_timeout(&handle, limit, &ws.read_message()))
        .expect("history")
        .expect("a history message");
    assert!(
        matches!(&history, squall::websocket::Message::Text(t) if t.starts_with("{\"messages\"")),
        "{history:?}"
    );
    let text = serde_json::json!({ "body": "a".repeat(chat::MAX_BODY) }).to_string();
    ws.send_text(text);
    let (code, _) = reactor
        .run_until(&squall::with_timeout(&handle, limit, &ws.closed()))
        .expect("closed");
    assert_eq!(code, 1009);
}
