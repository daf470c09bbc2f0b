//! `Duration::MAX` as a server's timeouts means "never": connections are served, not
//! broken by an overflow when the deadline is computed.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use squall::http::{HttpServer, HttpServerOptions};
use squall::Reactor;
use support::{run_until, WAIT_LIMIT};

#[test]
#[allow(clippy::field_reassign_with_default)] // the options are #[non_exhaustive]
fn http_server_with_duration_max_timeouts_serves_requests() {
    let mut reactor = Reactor::new().unwrap();
    let mut options = HttpServerOptions::default();
    options.idle_connection_timeout = Some(Duration::MAX);
    options.header_timeout = Some(Duration::MAX);
    options.body_timeout = Some(Duration::MAX);
    let server = HttpServer::with_options(&reactor.handle(), options, |_req, resp| {
        resp.send("never times out\n");
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        c.write_all(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        )
        .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).map(|_| out)
    });
    run_until(&mut reactor, "the client to finish", || {
        client.is_finished()
    });
    let response = client.join().unwrap().expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
    assert!(response.ends_with("never times out\n"), "{response:?}");
}
