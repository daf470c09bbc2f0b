//! A blocking `HttpClient` on a thread that also holds an idle `Reactor`: the client's
//! private loop runs the done-callbacks of its own futures, whatever reactor was built
//! first on the thread.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use squall::http::client::{HttpClient, HttpRequest};
use squall::Reactor;

/// Answers one HTTP/1.1 request with `200 ok` from a plain blocking thread.
fn one_shot_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
        }
        let mut sock = sock;
        sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .unwrap();
    });
    (addr, server)
}

#[test]
fn blocking_fetch_beside_an_idle_reactor_gets_its_response() {
    let _idle = Reactor::new().unwrap();
    let (addr, server) = one_shot_server();
    let mut client = HttpClient::new().unwrap();
    // The timeout is a failure bound: the response arrives in milliseconds.
    let request =
        HttpRequest::get(&format!("http://{addr}/")).request_timeout(Duration::from_secs(10));
    let response = client.fetch(request).expect("fetch beside an idle reactor");
    assert_eq!(response.status, 200);
    assert_eq!(&response.body[..], b"ok");
    server.join().unwrap();
}
