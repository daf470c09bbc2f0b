//! The chat example with `--redis`: two processes, one room. A message posted on one
//! reaches WebSocket and long-poll users on both; a socket joining gets the recent
//! messages; user text arrives escaped.

#![cfg(feature = "json")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use squall::websocket::{connect, Message, WebSocket, WebSocketOptions};
use squall::{with_timeout, Reactor};
use support::deploy::{request, Backend};
use support::process::rss_kib;
use support::redis::{available, RedisServer};

const LIMIT: Duration = Duration::from_secs(20);

pub fn chat(args: &[&str]) -> Backend {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    Backend::start(&support::process::example_binary("chat"), &all)
}

fn join(reactor: &mut Reactor, addr: SocketAddr) -> WebSocket {
    let f = connect(
        &reactor.handle(),
        &format!("ws://{addr}/chatsocket"),
        WebSocketOptions::default(),
    );
    reactor
        .run_until(&with_timeout(&reactor.handle(), LIMIT, &f))
        .expect("websocket join")
}

/// The next batch a socket receives: (id, body, html) of each message.
fn batch(reactor: &mut Reactor, ws: &WebSocket) -> Vec<(String, String, String)> {
    let m = reactor
        .run_until(&with_timeout(&reactor.handle(), LIMIT, &ws.read_message()))
        .expect("a message");
    let Some(Message::Text(text)) = m else {
        panic!("unexpected {m:?}")
    };
    messages(&text)
}

fn messages(json: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().expect(k).to_string();
            (s("id"), s("body"), s("html"))
        })
        .collect()
}

fn form(body: &str) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("body", body)
        .finish()
        .into_bytes()
}

#[test]
fn two_processes_share_one_room_through_redis() {
    if !available("two_processes_share_one_room_through_redis") {
        return;
    }
    let redis = RedisServer::start();
    let url = redis.url();
    let a = chat(&["--redis", &url]);
    let b = chat(&["--redis", &url]);
    a.wait_log("subscribed to squall-chat");
    b.wait_log("subscribed to squall-chat");

    // A long-poll on B (parks until a message arrives), a WebSocket on A.
    let b_addr = b.addr;
    let poll = std::thread::spawn(move || request(b_addr, None, "POST", "/a/message/updates", b""));
    let mut reactor = Reactor::new().unwrap();
    let on_a = join(&mut reactor, a.addr);
    assert!(
        batch(&mut reactor, &on_a).is_empty(),
        "an empty room on join"
    );

    let text = "<script>alert(1)</script> & \"bye\"";
    let posted = request(a.addr, None, "POST", "/a/message/new", &form(text)).unwrap();
    assert_eq!(posted.status, 200);
    let posted: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
    let id = posted["id"].as_str().unwrap().to_string();

    let got = batch(&mut reactor, &on_a);
    assert_eq!(got.len(), 1);
    assert_eq!((&got[0].0, got[0].1.as_str()), (&id, text));
    assert!(
        !got[0].2.contains("<script>") && got[0].2.contains("&lt;script&gt;"),
        "{}",
        got[0].2
    );

    let polled = poll.join().unwrap().expect("long-poll on B answered");
    assert_eq!(polled.status, 200);
    let polled = messages(std::str::from_utf8(&polled.body).unwrap());
    assert_eq!(polled.len(), 1);
    assert_eq!(
        polled[0], got[0],
        "B holds the message as A made it, escaped by B"
    );

    // A socket joining B sees the recent messages, then posts over the socket.
    let on_b = join(&mut reactor, b.addr);
    assert_eq!(batch(&mut reactor, &on_b), got);
    on_b.send_text(r#"{"body": "from b"}"#);
    for ws in [&on_b, &on_a] {
        let got = batch(&mut reactor, ws);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, "from b");
    }
    // Nothing twice: A's cache has both messages once.
    let all = request(a.addr, None, "POST", "/a/message/updates", b"").unwrap();
    let all = messages(std::str::from_utf8(&all.body).unwrap());
    let bodies: Vec<_> = all.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(bodies, [text, "from b"]);
}

#[test]
fn a_socket_is_told_to_go_away_on_sigterm_and_the_process_exits_cleanly() {
    let mut a = chat(&[]);
    let mut reactor = Reactor::new().unwrap();
    let ws = join(&mut reactor, a.addr);
    assert!(batch(&mut reactor, &ws).is_empty());
    a.signal(libc::SIGTERM);
    let closed = reactor
        .run_until(&with_timeout(&reactor.handle(), LIMIT, &ws.closed()))
        .unwrap();
    assert_eq!(closed.0, 1001, "{closed:?}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(a.process.child().wait().map(|s| s.code()));
        drop(a);
    });
    let code = rx.recv_timeout(LIMIT).expect("the process exited").unwrap();
    assert_eq!(code, Some(0));
}

#[test]
fn bad_redis_urls_are_usage_errors() {
    for bad in ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis://[::1"] {
        let out = std::process::Command::new(support::process::example_binary("chat"))
            .args(["--port", "0", "--redis", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--redis"),
            "{bad}"
        );
    }
}

/// What a process remembers of messages from other processes is bounded by its cache: a
/// busy channel (150 000 foreign messages, delivered in batches faster than the process
/// turns its loop) leaves its memory where it was.
#[test]
fn foreign_messages_are_remembered_only_while_cached() {
    if !available("foreign_messages_are_remembered_only_while_cached") {
        return;
    }
    const N: usize = 150_000;
    let redis = RedisServer::start();
    let a = chat(&["--redis", &redis.url()]);
    a.wait_log("subscribed to squall-chat");
    let pid = a.process.id();
    let (mut reactor, handle) = support::reactor();
    let publisher =
        squall::redis::Redis::connect(&handle, &redis.url(), Default::default()).unwrap();
    let publish_batch = |reactor: &mut Reactor, from: usize, to: usize| {
        let sent: Vec<_> = (from..to)
            .map(|i| {
                let id = format!("0123456789ab-{i}");
                let json = serde_json::json!({ "id": id, "body": "m" }).to_string();
                publisher.publish("squall-chat", json).map(|_| Ok(()))
            })
            .collect();
        reactor
            .run_until(&with_timeout(&handle, LIMIT, &squall::join_all(sent)))
            .expect("published");
    };
    // Warm up (buffers, the cache full), then measure around the rest.
    publish_batch(&mut reactor, 0, 10_000);
    let last_id = |n: usize| format!("0123456789ab-{}", n - 1);
    let wait_for = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let all = request(a.addr, None, "POST", "/a/message/updates", b"").unwrap();
            let all = messages(std::str::from_utf8(&all.body).unwrap());
            if all.last().map(|m| m.0.clone()) == Some(last_id(n)) {
                assert!(all.len() <= 200);
                return;
            }
            assert!(std::time::Instant::now() < deadline, "not delivered");
            std::thread::sleep(Duration::from_millis(50)); // polling a condition
        }
    };
    wait_for(10_000);
    let before = rss_kib(pid);
    for from in (10_000..N).step_by(10_000) {
        publish_batch(&mut reactor, from, from + 10_000);
    }
    wait_for(N);
    let after = rss_kib(pid);
    eprintln!("{N} foreign messages: RSS {before} KiB -> {after} KiB");
    assert!(
        after < before + 5 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}
