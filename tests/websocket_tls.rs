//! WebSocket over TLS (`wss://`), both sides: squall's client ↔ squall's server with a
//! TLS `HttpServer` (text, binary, 1 MiB, close codes both ways, SNI = the URL host),
//! certificate failures reported as `Error::Tls` with their cause, `validate_cert(false)`,
//! client certificates, the `ws_echo` / `ws_client` examples over TLS, and interop with
//! Python `websockets` over TLS in both directions (skipped, saying so, without it).

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use bytes::Bytes;
use squall::http::server::HttpServer;
use squall::tls::{ClientTlsOptions, TlsConfig, TlsErrorKind};
use squall::websocket::{accept, connect, Message, WebSocket, WebSocketOptions};
use squall::{Error, Reactor};
use support::process::{example_binary, listening_on, output_with_input, Running};
use support::python::{have_websockets, run_client_ok, websockets_server};
use support::tls::{client_auth_config, tls_kind, TestCa};
use support::with_peer;
use support::ws::{assert_closed_by_peer, patterned, round_trip, Closes};
use support::WAIT_LIMIT;

/// What the server saw of each connection: the request's scheme and the SNI name.
type Seen = std::rc::Rc<std::cell::RefCell<Vec<(String, Option<String>)>>>;

/// A squall `wss://` echo server; "close me CODE" makes it close with CODE "asked".
fn wss_server(reactor: &Reactor, tls: TlsConfig) -> (HttpServer, SocketAddr, Closes, Seen) {
    let closes = Closes::default();
    let seen = Seen::default();
    let (c, s) = (closes.clone(), seen.clone());
    let options = WebSocketOptions::default().max_message_size(4 << 20);
    let server = HttpServer::new(&reactor.handle(), move |req, resp| {
        let scheme = req.scheme().to_owned();
        if let Ok(ws) = accept(&req, resp, &options) {
            let sni = ws.stream().tls_info().and_then(|i| i.server_name);
            s.borrow_mut().push((scheme, sni));
            let c = c.clone();
            ws.on_close(move |code, reason| c.record(code, reason));
            ws.on_message(|ws: &WebSocket, msg| {
                if let Some(code) = msg.as_text().and_then(|t| t.strip_prefix("close me ")) {
                    ws.close(code.parse().unwrap(), "asked").unwrap();
                    None
                } else {
                    Some(ws.send(msg))
                }
            });
        }
    });
    server.set_tls(tls).unwrap();
    let addr = server.listen("127.0.0.1:0").expect("listen");
    (server, addr, closes, seen)
}

fn url(host: &str, addr: SocketAddr) -> String {
    format!("wss://{host}:{}/echo?x=1", addr.port())
}

fn trusting(ca: &TestCa) -> WebSocketOptions {
    WebSocketOptions::default()
        .tls(ca.client_options())
        .max_message_size(4 << 20)
}

/// A client of the `wss_server` at `addr`, by `host`, trusting `ca`.
fn wss_client(reactor: &mut Reactor, host: &str, addr: SocketAddr, ca: &TestCa) -> WebSocket {
    let connecting = connect(&reactor.handle(), &url(host, addr), trusting(ca));
    reactor.run_until(&connecting).unwrap()
}

#[test]
fn squall_client_and_server_over_wss_text_binary_1mib_and_close_codes() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-both");
    let (_server, addr, closes, seen) =
        wss_server(&reactor, ca.leaf(&["localhost"]).server_config());
    let ws = wss_client(&mut reactor, "localhost", addr, &ca);
    let info = ws.stream().tls_info().expect("a TLS stream");
    assert!(info.version.is_some());
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
    let big = patterned(1 << 20, 251);
    for m in [
        Message::Text("hello".into()),
        Message::Text("κόσμε".repeat(1000).into()),
        Message::Binary(Bytes::from_static(b"\x00\x01\xff")),
        Message::Binary(Bytes::new()),
        Message::Binary(big),
        Message::Text("z".repeat(1 << 20).into()),
    ] {
        round_trip(&mut reactor, &ws, m);
    }
    // The server saw an https request and the URL host as SNI.
    assert_eq!(
        seen.borrow().clone(),
        vec![("https".to_owned(), Some("localhost".to_owned()))]
    );
    // The client closes: the server gets its code and reason, both sides clean.
    ws.close(4001, "bye").unwrap();
    assert_eq!(
        reactor.run_until(&ws.closed()).unwrap(),
        (4001, "bye".into())
    );
    assert!(ws.is_clean_close());
    assert_eq!(
        reactor.run_until(&closes.first).unwrap(),
        (4001, "bye".into())
    );
    // The server closes: the client gets its code and reason.
    let ws = wss_client(&mut reactor, "localhost", addr, &ca);
    ws.send_text("close me 4002");
    assert_closed_by_peer(&mut reactor, &ws, 4002, "asked");
    // 1000 from the client, and the server reports it too.
    let ws = wss_client(&mut reactor, "localhost", addr, &ca);
    ws.close(1000, "").unwrap();
    assert_eq!(reactor.run_until(&ws.closed()).unwrap().0, 1000);
    let log = closes.all();
    assert_eq!(log[0], (4001, "bye".into()));
    assert!(log.contains(&(4002, "asked".into())), "{log:?}");
}

#[test]
fn an_ip_address_url_is_verified_against_the_certificates_ip() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-ip");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let (_server, addr, _, _) = wss_server(&reactor, leaf.server_config());
    let h = reactor.handle();
    let ws = wss_client(&mut reactor, "127.0.0.1", addr, &ca);
    round_trip(&mut reactor, &ws, Message::Text("by address".into()));
    // The same certificate does not name "localhost".
    let r = reactor.run_until(&connect(&h, &url("localhost", addr), trusting(&ca)));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::HostnameMismatch), "{r:?}");
}

#[test]
fn untrusted_certificates_fail_with_error_tls_and_their_cause_and_insecure_connects() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-untrusted");
    let other = TestCa::new("wss-other");
    let (_good, good, _, _) = wss_server(&reactor, ca.leaf(&["localhost"]).server_config());
    let expired = ca.expired_leaf(&["localhost"]);
    let (_old, old, _, _) = wss_server(&reactor, expired.server_config());
    let (_wrong, wrong, _, _) = wss_server(&reactor, ca.leaf(&["elsewhere.test"]).server_config());
    let h = reactor.handle();
    // Default options: the system's roots do not know the test CA.
    let r = reactor.run_until(&connect(
        &h,
        &url("localhost", good),
        WebSocketOptions::default(),
    ));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::UnknownIssuer), "{r:?}");
    let message = r.unwrap_err().to_string();
    assert!(message.contains("unknown issuer"), "{message}");
    // Another CA.
    let r = reactor.run_until(&connect(&h, &url("localhost", good), trusting(&other)));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::UnknownIssuer), "{r:?}");
    // Expired, and a certificate for another name.
    let r = reactor.run_until(&connect(&h, &url("localhost", old), trusting(&ca)));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::Expired), "{r:?}");
    let r = reactor.run_until(&connect(&h, &url("localhost", wrong), trusting(&ca)));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::HostnameMismatch), "{r:?}");
    // A missing CA file is a configuration error naming it.
    let options = WebSocketOptions::default()
        .tls(ClientTlsOptions::default().ca_certs("/nonexistent/ca.pem"));
    let r = reactor.run_until(&connect(&h, &url("localhost", good), options));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::Config), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("/nonexistent/ca.pem"));
    // Without verification each of them connects and echoes; the servers survived the
    // failed handshakes.
    for addr in [good, old, wrong] {
        let options =
            WebSocketOptions::default().tls(ClientTlsOptions::default().validate_cert(false));
        let ws = reactor
            .run_until(&connect(&h, &url("localhost", addr), options))
            .unwrap();
        round_trip(&mut reactor, &ws, Message::Text("insecure".into()));
        ws.close(1000, "").unwrap();
        reactor.run_until(&ws.closed()).unwrap();
    }
}

#[test]
fn wss_to_a_plain_server_says_it_does_not_speak_tls_and_ws_to_a_tls_one_fails_cleanly() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-plain");
    let (_plain, plain, _) = support::ws::echo_server(&reactor, WebSocketOptions::default());
    let (_tls, tls, _, _) = wss_server(&reactor, ca.leaf(&["localhost"]).server_config());
    let h = reactor.handle();
    let r = reactor.run_until(&connect(&h, &url("localhost", plain), trusting(&ca)));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::NotTls), "{r:?}");
    // Plain ws:// to the TLS server: an error, not a hang.
    let options =
        WebSocketOptions::default().connect_timeout(Some(std::time::Duration::from_secs(20)));
    let r = reactor.run_until(&connect(
        &h,
        &format!("ws://127.0.0.1:{}/", tls.port()),
        options,
    ));
    assert!(r.is_err() && !matches!(r, Err(Error::Timeout)), "{r:?}");
}

#[test]
fn a_server_that_never_answers_the_tls_handshake_hits_the_connect_timeout() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-silent");
    // Accepts (the kernel's backlog does) and never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let options = trusting(&ca).connect_timeout(Some(std::time::Duration::from_millis(200)));
    let r = reactor.run_until(&connect(
        &reactor.handle(),
        &url("localhost", addr),
        options,
    ));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    drop(silent);
}

#[test]
fn a_client_certificate_is_presented_when_the_server_asks() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-clientcert");
    let me = ca.client_leaf("client.test");
    let config = client_auth_config(&ca, &ca.leaf(&["localhost"]), false);
    let (_server, addr, _, _) = wss_server(&reactor, config);
    let h = reactor.handle();
    let options = WebSocketOptions::default()
        .tls(ca.client_options().client_cert(&me.cert_path, &me.key_path));
    let ws = reactor
        .run_until(&connect(&h, &url("localhost", addr), options))
        .unwrap();
    round_trip(&mut reactor, &ws, Message::Text("it is me".into()));
    // Without one the server refuses: the connection fails (during or right after the
    // handshake, as TLS 1.3 lets the server decide after the client finished).
    let r = reactor.run_until(&connect(&h, &url("localhost", addr), trusting(&ca)));
    assert!(r.is_err(), "accepted without a client certificate");
}

// ---- the examples over TLS ----

/// Runs `ws_client` with `args`, `stdin` fed in; returns (exit code, stdout, stderr),
/// killing it after the tests' bound.
fn run_ws_client(
    reactor: &mut Reactor,
    args: Vec<String>,
    stdin: &'static str,
) -> (i32, String, String) {
    let bin = example_binary("ws_client");
    with_peer(reactor, move || {
        let out = output_with_input(Command::new(bin).args(&args), stdin.as_bytes(), WAIT_LIMIT);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
}

#[test]
fn ws_client_speaks_wss_with_cacert_or_insecure_and_refuses_an_untrusted_server() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-wsclient");
    let (_server, addr, _, _) = wss_server(&reactor, ca.leaf(&["localhost"]).server_config());
    let u = url("localhost", addr);
    let ca_path = ca.cert_path.to_str().unwrap().to_owned();
    let (code, out, err) = run_ws_client(
        &mut reactor,
        vec!["--cacert".into(), ca_path, u.clone()],
        "one\ntwo\n",
    );
    assert_eq!((code, out.as_str()), (0, "one\ntwo\n"), "stderr: {err}");
    let (code, out, err) = run_ws_client(&mut reactor, vec!["-k".into(), u.clone()], "three\n");
    assert_eq!((code, out.as_str()), (0, "three\n"), "stderr: {err}");
    let (code, out, err) =
        run_ws_client(&mut reactor, vec!["--insecure".into(), u.clone()], "four\n");
    assert_eq!((code, out.as_str()), (0, "four\n"), "stderr: {err}");
    let (code, out, err) = run_ws_client(&mut reactor, vec![u], "never\n");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("unknown issuer"), "{err}");
}

#[test]
fn ws_echo_serves_wss_with_tls_cert_and_key() {
    let ca = TestCa::new("wss-wsecho");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let mut cmd = Command::new(example_binary("ws_echo"));
    cmd.args(["--port", "0", "--tls-cert"])
        .arg(&leaf.cert_path)
        .arg("--tls-key")
        .arg(&leaf.key_path);
    let (running, line) = Running::spawn(&mut cmd, WAIT_LIMIT);
    let u = listening_on(&line).to_owned();
    assert!(u.starts_with("wss://127.0.0.1:"), "{u}");
    let mut reactor = Reactor::new().unwrap();
    let ws = reactor
        .run_until(&connect(&reactor.handle(), &u, trusting(&ca)))
        .unwrap();
    round_trip(&mut reactor, &ws, Message::Text("echo".into()));
    round_trip(
        &mut reactor,
        &ws,
        Message::Binary(Bytes::from_static(b"\x00bin")),
    );
    ws.close(1000, "").unwrap();
    assert_eq!(reactor.run_until(&ws.closed()).unwrap().0, 1000);
    drop(running);
    // A certificate without its key is a usage error.
    let status = Command::new(example_binary("ws_echo"))
        .args(["--port", "0", "--tls-cert"])
        .arg(&leaf.cert_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

// ---- Python `websockets` over TLS ----

const PY_CLIENT: &str = r#"
import asyncio, ssl, sys
from websockets.asyncio.client import connect
async def main():
    url, cafile = sys.argv[1], sys.argv[2]
    ctx = ssl.create_default_context(cafile=cafile)
    async with connect(url, ssl=ctx, max_size=None, ping_interval=None) as ws:
        for m in ["hello", "κόσμε" * 1000, b"\x00\x01\xff", b"", b"z" * (1 << 20)]:
            await ws.send(m)
            r = await ws.recv()
            assert r == m, (type(r), len(r), len(m))
        await ws.send(["frag", "men", "ted"])
        assert await ws.recv() == "fragmented"
        await ws.ping(b"are you there")
        await ws.send("close me 4002")
        try:
            await ws.recv()
            raise AssertionError("expected a close")
        except Exception:
            pass
        assert ws.close_code == 4002 and ws.close_reason == "asked", (ws.close_code, ws.close_reason)
    # An untrusted certificate is refused by Python too.
    try:
        async with connect(url, ssl=ssl.create_default_context()) as ws:
            raise AssertionError("connected to an untrusted server")
    except ssl.SSLCertVerificationError:
        pass
    print("OK", flush=True)
asyncio.run(main())
"#;

#[test]
fn websockets_client_over_tls_against_squall_wss_server() {
    if !have_websockets() {
        return;
    }
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("wss-pyclient");
    let (_server, addr, closes, seen) =
        wss_server(&reactor, ca.leaf(&["localhost"]).server_config());
    let (u, cafile) = (url("localhost", addr), ca.cert_path.clone());
    run_client_ok(&mut reactor, PY_CLIENT, [u.into(), cafile.into_os_string()]);
    assert_eq!(seen.borrow()[0], ("https".into(), Some("localhost".into())));
    assert_eq!(closes.all()[0], (4002, "asked".into()));
}

const PY_SERVER: &str = r#"
import asyncio, ssl, sys
from websockets.asyncio.server import serve
async def handler(ws):
    async for m in ws:
        if m == "close":
            await ws.close(4003, "done")
        else:
            await ws.send(m)
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with serve(handler, "127.0.0.1", 0, ssl=ctx, max_size=None,
                     ping_interval=None) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(120)
asyncio.run(main())
"#;

#[test]
fn squall_wss_client_against_websockets_server_over_tls() {
    let (ca, leaf) = TestCa::with_localhost("wss-pyserver");
    let Some(peer) = websockets_server(PY_SERVER, [&leaf.cert_path, &leaf.key_path]) else {
        return;
    };
    let port = peer.port;
    let u = format!("wss://localhost:{port}/interop");
    let (mut reactor, h) = support::reactor();
    let big = patterned(1 << 20, 253);
    let ws = reactor.run_until(&connect(&h, &u, trusting(&ca))).unwrap();
    for m in [
        Message::Text("hello".into()),
        Message::Text("κόσμε".repeat(1000).into()),
        Message::Binary(Bytes::from_static(b"\x00\x01\xff")),
        Message::Binary(big),
    ] {
        round_trip(&mut reactor, &ws, m);
    }
    ws.send_text("close");
    assert_closed_by_peer(&mut reactor, &ws, 4003, "done");
    // Python's certificate is not trusted by the system's roots.
    let r = reactor.run_until(&connect(&h, &u, WebSocketOptions::default()));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::UnknownIssuer), "{r:?}");
}
