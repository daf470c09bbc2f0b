//! TLS interoperability with real peers run as child processes: `openssl s_client`
//! (TLS 1.2 and 1.3) against the squall HTTPS server, and Python's `ssl` +
//! `http.server` and Tornado with `ssl_options` as servers for the squall client.
//! A test whose peer is missing skips with a message (`.ci/run` installs them).

mod support;

use std::process::{Command, Stdio};

use bytes::Bytes;
use squall::http::client::{HttpClient, HttpRequest};
use squall::http::HttpServer;
use support::process::output_with_input;
use support::python::PythonPeer;
use support::tls::TestCa;
use support::ServerThread;
use support::WAIT_LIMIT;

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `python script args...` in `dir` (the certificates' directory); the script
/// prints `port N` first.
fn spawn_python(script: &str, args: &[&str], dir: &std::path::Path) -> PythonPeer {
    let path = dir.join("peer.py");
    std::fs::write(&path, script).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg("-u")
        .arg(&path)
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::inherit());
    PythonPeer::spawn(&mut cmd, "port ")
}

/// Without a `python3` that can run `import`: None (the test skips, saying `missing`).
/// Else a fresh CA named after `tag`, and `script` serving HTTPS from the directory of a
/// `localhost` certificate of that CA (its certificate and key the two arguments), after
/// `prepare` ran on that directory.
fn python_https_peer(
    import: &str,
    missing: &str,
    tag: &str,
    script: &str,
    prepare: impl FnOnce(&std::path::Path),
) -> Option<(TestCa, PythonPeer)> {
    if !have("python3", &["-c", import]) {
        println!("SKIPPED: no python3 with {missing} (.ci/run installs it)");
        return None;
    }
    let (ca, leaf) = TestCa::with_localhost(tag);
    let dir = leaf.cert_path.parent().unwrap();
    prepare(dir);
    let args = [
        leaf.cert_path.to_str().unwrap(),
        leaf.key_path.to_str().unwrap(),
    ];
    let peer = spawn_python(script, &args, dir);
    Some((ca, peer))
}

const PYTHON_SSL_SERVER: &str = r#"
import http.server, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("port", srv.server_address[1], flush=True)
srv.serve_forever()
"#;

#[test]
fn python_ssl_http_server_serves_the_squall_client() {
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let serve = |dir: &std::path::Path| std::fs::write(dir.join("data.bin"), &content).unwrap();
    let import = "import ssl, http.server";
    let Some((ca, peer)) = python_https_peer(import, "ssl", "pyssl", PYTHON_SSL_SERVER, serve)
    else {
        return;
    };
    let mut client = HttpClient::new().unwrap();
    let url = format!("https://localhost:{}/data.bin", peer.port);
    let r = client
        .fetch(HttpRequest::get(&url).ca_certs(&ca.cert_path))
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == content, "body differs");
    let r = client.fetch(HttpRequest::get(&url));
    assert!(
        matches!(&r, Err(squall::Error::Tls(e)) if e.is_certificate_problem()),
        "{r:?}"
    );
}

const TORNADO_SSL_APP: &str = r#"
import sys
import tornado.ioloop, tornado.web, tornado.netutil, tornado.httpserver

class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello over " + self.request.protocol)

class Echo(tornado.web.RequestHandler):
    def post(self):
        self.write(self.request.body)

app = tornado.web.Application([(r"/hello", Hello), (r"/echo", Echo)])
server = tornado.httpserver.HTTPServer(app, ssl_options={"certfile": sys.argv[1], "keyfile": sys.argv[2]})
sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
server.add_sockets(sockets)
print("port", sockets[0].getsockname()[1], flush=True)
tornado.ioloop.IOLoop.current().start()
"#;

#[test]
fn tornado_with_ssl_options_serves_the_squall_client() {
    let app = TORNADO_SSL_APP;
    let Some((ca, peer)) =
        python_https_peer("import tornado", "tornado", "tornadossl", app, |_| {})
    else {
        return;
    };
    let mut client = HttpClient::new().unwrap();
    let base = format!("https://localhost:{}", peer.port);
    let r = client
        .fetch(HttpRequest::get(&format!("{base}/hello")).ca_certs(&ca.cert_path))
        .unwrap();
    assert_eq!(r.text(), "Hello over https");
    let big = "squall ".repeat(200_000);
    for _ in 0..3 {
        let r = client
            .fetch(HttpRequest::post(&format!("{base}/echo"), big.clone()).ca_certs(&ca.cert_path))
            .unwrap();
        assert!(r.text() == big, "echo differs");
    }
    // One keep-alive TLS connection carried all of it.
    assert_eq!(client.async_client().idle_connections(), 1);
}

/// The squall HTTPS server on its own reactor in a thread.
fn https_server(config: squall::tls::TlsConfig) -> ServerThread {
    ServerThread::http(|h| {
        let server = HttpServer::new(h, |req, resp| {
            resp.send(Bytes::from(format!("Hello over {}", req.scheme())));
        });
        server.set_tls(config).unwrap();
        server
    })
}

#[test]
fn openssl_s_client_speaks_tls12_and_tls13_to_the_squall_server() {
    if !have("openssl", &["version"]) {
        println!("SKIPPED: no openssl (.ci/run installs it)");
        return;
    }
    let (ca, leaf) = TestCa::with_localhost("sclient");
    let server = https_server(leaf.server_config());
    for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let mut openssl = Command::new("openssl");
        openssl
            .args(["s_client", "-brief", "-ign_eof", "-verify_return_error"])
            .args(["-connect", &format!("127.0.0.1:{}", server.port())])
            .args(["-servername", "localhost", "-verify_hostname", "localhost"])
            .args(["-alpn", "http/1.1", flag, "-CAfile"])
            .arg(&ca.cert_path);
        let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let out = output_with_input(&mut openssl, request, WAIT_LIMIT);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "openssl {flag}: {stderr}");
        assert!(
            stderr.contains(&format!("Protocol version: {name}")),
            "{stderr}"
        );
        assert!(stderr.contains("Verification: OK"), "{stderr}");
        assert!(stdout.starts_with("HTTP/1.1 200"), "{stdout}");
        assert!(stdout.ends_with("Hello over https"), "{stdout}");
    }
}
