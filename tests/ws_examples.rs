//! The WebSocket examples as outside checks run them: `ws_echo` (prints its URL, echoes
//! with the same opcode, `--deflate`, 1001 and exit 0 on SIGINT/SIGTERM) and `ws_client`
//! (stdin lines out, messages printed; `--echo` until the server closes, exit status by
//! how the connection ended).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use bytes::Bytes;
use squall::http::server::HttpServer;
use squall::websocket::{accept, connect, Message, WebSocketOptions};
use squall::Reactor;
use support::process::{example_binary, listening_on, Running};
use support::with_peer;
use support::ws::{echo_server, round_trip};
use support::WAIT_LIMIT;

/// Starts `ws_echo` with `args`; returns it and the URL it printed.
fn start_echo(args: &[&str]) -> (Running, String) {
    let mut cmd = Command::new(example_binary("ws_echo"));
    cmd.args(["--port", "0"]).args(args);
    let (running, line) = Running::spawn(&mut cmd, WAIT_LIMIT);
    let url = listening_on(&line).to_string();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    (running, url)
}

/// Sends `signal` and waits for the exit code (killing it after the tests' bound).
fn signal_and_wait(mut running: Running, signal: libc::c_int) -> Option<i32> {
    running.signal(signal);
    running.output_within(WAIT_LIMIT).status.code()
}

#[test]
fn ws_echo_echoes_with_the_same_opcode_and_closes_with_1001_on_sigint() {
    for deflate in [false, true] {
        let (running, url) = start_echo(if deflate { &["--deflate"] } else { &[] });
        let mut reactor = Reactor::new().unwrap();
        let options = WebSocketOptions::default()
            .compression(true)
            .max_message_size(17 << 20);
        let ws = reactor
            .run_until(&connect(
                &reactor.handle(),
                &format!("{url}/any/path"),
                options,
            ))
            .unwrap();
        assert_eq!(ws.extensions().is_some(), deflate);
        let big = Bytes::from(vec![7u8; 16 << 20]);
        for m in [
            Message::Text("héllo".into()),
            Message::Binary(Bytes::from_static(b"\x00\x01")),
            Message::Binary(big),
        ] {
            round_trip(&mut reactor, &ws, m);
        }
        let closed = ws.closed();
        let pid = running.id();
        // SIGINT while a connection is open: it is closed with 1001, then exit 0.
        let waiter = std::thread::spawn(move || signal_and_wait(running, libc::SIGINT));
        let (code, _) = reactor.run_until(&closed).unwrap();
        assert_eq!(code, 1001, "pid {pid}");
        assert!(ws.is_clean_close());
        assert_eq!(waiter.join().unwrap(), Some(0));
    }
}

#[test]
fn ws_echo_refuses_plain_requests_and_exits_0_on_sigterm() {
    let (running, url) = start_echo(&[]);
    let addr = url.trim_start_matches("ws://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 400 "), "{line}");
    assert_eq!(signal_and_wait(running, libc::SIGTERM), Some(0));
}

#[test]
fn ws_client_sends_stdin_lines_and_prints_messages() {
    let mut reactor = Reactor::new().unwrap();
    let (_server, addr, _) = echo_server(&reactor, WebSocketOptions::default());
    let bin = example_binary("ws_client");
    let out = with_peer(&mut reactor, move || {
        let mut child = Command::new(bin)
            .arg(format!("ws://{addr}/"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all("hello\nκόσμε\n".as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    });
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nκόσμε\n");
    assert_eq!(out.status.code(), Some(0));
}

/// A server that sends `messages`, expects each echoed with its opcode, then closes
/// with 1000 (or drops the connection when `drop_instead`).
fn echo_client_run(deflate: bool, drop_instead: bool) -> (Option<i32>, Vec<Message>) {
    let mut reactor = Reactor::new().unwrap();
    let echoes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let e = echoes.clone();
    let options = WebSocketOptions::default().compression(true);
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        let ws = accept(&req, resp, &options).unwrap();
        assert_eq!(ws.extensions().is_some(), deflate);
        let sent = [
            Message::Text("one".into()),
            Message::Binary(Bytes::from_static(b"\x02")),
        ];
        for m in &sent {
            ws.send(m.clone());
        }
        let e = e.clone();
        ws.on_message(move |ws, m| {
            e.borrow_mut().push(m);
            if e.borrow().len() == 2 {
                if drop_instead {
                    ws.stream().close();
                } else {
                    ws.close(1000, "done").unwrap();
                }
            }
        });
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let bin = example_binary("ws_client");
    let status = with_peer(&mut reactor, move || {
        let mut cmd = Command::new(bin);
        cmd.arg("--echo");
        if deflate {
            cmd.arg("--deflate");
        }
        cmd.arg(format!("ws://{addr}/runCase?case=1"));
        cmd.stdin(Stdio::null()).status().unwrap().code()
    });
    let echoes = echoes.borrow().clone();
    (status, echoes)
}

#[test]
fn ws_client_echo_mode_exit_status_follows_the_close() {
    let expected = vec![
        Message::Text("one".into()),
        Message::Binary(Bytes::from_static(b"\x02")),
    ];
    for deflate in [false, true] {
        let (status, echoes) = echo_client_run(deflate, false);
        assert_eq!(echoes, expected);
        assert_eq!(status, Some(0));
    }
    let (status, _) = echo_client_run(false, true);
    assert_eq!(status, Some(1), "a dropped connection is not a clean close");
}
