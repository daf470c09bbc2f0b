//! `HttpClient` against real servers run as child processes: Python's `http.server` and
//! Tornado (skipped, with a message, when no Python with `tornado` is found).

mod support;

use std::process::{Command, Stdio};

use http::Method;
use squall::http::client::{HttpClient, HttpRequest};
use support::python::{temp_dir, tornado_app, PythonPeer};

#[test]
fn python_http_server() {
    let dir = temp_dir("pyhttp");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(dir.join("data.bin"), &content).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(&dir)
        .stderr(Stdio::null());
    let peer = PythonPeer::spawn(&mut cmd, " port ");
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", peer.port);
    let mut client = HttpClient::new().unwrap();
    let r = client.fetch(url("/data.bin")).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == content, "body differs");
    let r = client.fetch(url("/missing")).unwrap();
    assert_eq!(r.status, 404);
    assert!(r.error_for_status().is_err());
    let r = client
        .fetch(HttpRequest::new(&url("/data.bin")).method(Method::HEAD))
        .unwrap();
    assert!(r.body.is_empty());
    assert_eq!(
        r.headers["content-length"],
        content.len().to_string().as_str()
    );
    // http.server answers a directory without a trailing slash with a 301.
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/index.html"), "inside").unwrap();
    let r = client.fetch(url("/sub")).unwrap();
    assert_eq!(
        (r.effective_url.path(), &r.body[..]),
        ("/sub/", &b"inside"[..])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Served by `TORNADO_PRELUDE`'s `serve`.
const TORNADO_APP: &str = r#"
class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")

class Chunks(tornado.web.RequestHandler):
    async def get(self):
        for i in range(50):
            self.write("chunk %d;" % i)
            await self.flush()

class Echo(tornado.web.RequestHandler):
    def post(self):
        self.set_header("X-Method", self.request.method)
        self.write(self.request.body)
    put = post

class Redirect(tornado.web.RequestHandler):
    def get(self):
        self.redirect("/hello")

class Big(tornado.web.RequestHandler):
    def get(self):
        self.write("squall " * 20000)

serve(tornado.web.Application([
    ("/hello", Hello), ("/chunks", Chunks), ("/echo", Echo),
    ("/redirect", Redirect), ("/big", Big),
], compress_response=True))
"#;

#[test]
fn tornado_server() {
    let Some((_peer, addr)) = tornado_app("tornado_server", "tornado", TORNADO_APP) else {
        return;
    };
    let url = |p: &str| format!("http://{addr}{p}");
    let mut client = HttpClient::new().unwrap();
    assert_eq!(client.fetch(url("/hello")).unwrap().body, "Hello, world");
    let r = client.fetch(url("/chunks")).unwrap();
    let expected: String = (0..50).map(|i| format!("chunk {i};")).collect();
    assert_eq!(r.text(), expected);
    assert_eq!(r.headers["transfer-encoding"], "chunked");
    let r = client
        .fetch(HttpRequest::post(&url("/echo"), "posted body"))
        .unwrap();
    assert_eq!(
        (r.headers["x-method"].to_str().unwrap(), &r.body[..]),
        ("POST", &b"posted body"[..])
    );
    let r = client.fetch(url("/redirect")).unwrap();
    assert_eq!(
        (r.effective_url.path(), &r.body[..]),
        ("/hello", &b"Hello, world"[..])
    );
    let r = client.fetch(url("/big")).unwrap();
    assert_eq!(r.headers["x-consumed-content-encoding"], "gzip");
    assert_eq!(r.body, "squall ".repeat(20000));
    let r = client.fetch(url("/nope")).unwrap();
    assert_eq!(r.status, 404);
    // Everything above went over one keep-alive connection.
    assert_eq!(client.async_client().idle_connections(), 1);
}
