//! The HTTP client over TLS: `https://` verified against a CA (`ca_certs`), certificate
//! problems named (unknown issuer, hostname mismatch, expired), `validate_cert=false`,
//! client certificates, pooling per TLS settings, a server that does not speak TLS,
//! a redirect from http to https, and the `fetch` example's curl flags and exit codes.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};

use bytes::Bytes;
use squall::http::client::{AsyncHttpClient, HttpRequest};
use squall::http::HttpServer;
use squall::tls::{TlsConfig, TlsErrorKind};
use squall::{Handle, Reactor};
use support::tls::{client_auth_config, tls_kind, TestCa};
use support::wait;
use support::ServerThread;

/// Answers `scheme path port-of-the-client` (the port tells connections apart);
/// `/redirect?to=URL` redirects.
fn serve(handle: &Handle, tls: Option<TlsConfig>) -> (HttpServer, SocketAddr) {
    let server = HttpServer::new(handle, |req, mut resp| {
        if let Some(to) = req.query_arg("to") {
            resp.set_header("location", to);
            resp.respond(http::StatusCode::FOUND, Bytes::new());
            return;
        }
        resp.send(Bytes::from(format!(
            "{} {} {}",
            req.scheme(),
            req.path(),
            req.remote_addr.port()
        )));
    });
    if let Some(c) = tls {
        server.set_tls(c).unwrap();
    }
    let addr = server.listen("127.0.0.1:0").unwrap();
    (server, addr)
}

#[test]
fn https_with_ca_certs_and_pooling_per_tls_settings() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, leaf) = TestCa::with_localhost("client");
    let (_server, addr) = serve(&reactor.handle(), Some(leaf.server_config()));
    let client = AsyncHttpClient::new(&reactor.handle());
    let url = format!("https://localhost:{}/a", addr.port());
    let mut ports = Vec::new();
    for settings in [0u8, 0, 1, 1, 0] {
        let req = HttpRequest::get(&url);
        let req = if settings == 0 {
            req.ca_certs(&ca.cert_path)
        } else {
            req.validate_cert(false)
        };
        let r = wait(&mut reactor, &client.fetch(req)).unwrap();
        let text = r.text();
        let mut parts = text.split(' ');
        assert_eq!(parts.next(), Some("https"), "{text}");
        assert_eq!(parts.next(), Some("/a"));
        ports.push(parts.next().unwrap().to_owned());
    }
    assert_eq!(
        ports[0], ports[1],
        "same TLS settings: the connection is reused"
    );
    assert_eq!(ports[2], ports[3]);
    assert_ne!(ports[1], ports[2], "other TLS settings: another connection");
    assert_eq!(ports[0], ports[4]);
}

#[test]
fn certificate_problems_are_named_and_validate_cert_false_accepts() {
    let mut reactor = Reactor::new().unwrap();
    let ca = TestCa::new("clienterr");
    let good = ca.leaf(&["localhost"]);
    let expired = ca.expired_leaf(&["localhost"]);
    let (_s1, good_addr) = serve(&reactor.handle(), Some(good.server_config()));
    let (_s2, expired_addr) = serve(&reactor.handle(), Some(expired.server_config()));
    let client = AsyncHttpClient::new(&reactor.handle());
    let url = |host: &str, addr: SocketAddr| format!("https://{host}:{}/", addr.port());
    // System roots do not know the test CA.
    let r = wait(&mut reactor, &client.fetch(url("localhost", good_addr)));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::UnknownIssuer), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("unknown issuer"));
    // The certificate names localhost, not 127.0.0.1.
    let req = HttpRequest::get(&url("127.0.0.1", good_addr)).ca_certs(&ca.cert_path);
    let r = wait(&mut reactor, &client.fetch(req));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::HostnameMismatch), "{r:?}");
    let req = HttpRequest::get(&url("localhost", expired_addr)).ca_certs(&ca.cert_path);
    let r = wait(&mut reactor, &client.fetch(req));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::Expired), "{r:?}");
    for (host, addr) in [("127.0.0.1", good_addr), ("localhost", expired_addr)] {
        let req = HttpRequest::get(&url(host, addr)).validate_cert(false);
        let r = wait(&mut reactor, &client.fetch(req)).unwrap();
        assert!(r.text().starts_with("https /"), "{}", r.text());
    }
    // A missing CA file is a configuration error naming the file.
    let req = HttpRequest::get(&url("localhost", good_addr)).ca_certs("/nonexistent/ca.pem");
    let r = wait(&mut reactor, &client.fetch(req));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::Config), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("/nonexistent/ca.pem"));
}

#[test]
fn client_certificate_is_presented_when_asked() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, leaf) = TestCa::with_localhost("clientcert");
    let me = ca.client_leaf("client.test");
    let (_server, addr) = serve(
        &reactor.handle(),
        Some(client_auth_config(&ca, &leaf, false)),
    );
    let client = AsyncHttpClient::new(&reactor.handle());
    let url = format!("https://localhost:{}/", addr.port());
    let req = HttpRequest::get(&url)
        .ca_certs(&ca.cert_path)
        .client_cert(&me.cert_path, &me.key_path);
    let r = wait(&mut reactor, &client.fetch(req)).unwrap();
    assert!(r.text().starts_with("https /"));
    let req = HttpRequest::get(&url).ca_certs(&ca.cert_path);
    let r = wait(&mut reactor, &client.fetch(req));
    assert!(r.is_err(), "served without a client certificate: {r:?}");
}

#[test]
fn https_to_a_plain_server_says_it_does_not_speak_tls_and_http_redirects_to_https() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, leaf) = TestCa::with_localhost("plainsrv");
    let (_plain, plain_addr) = serve(&reactor.handle(), None);
    let (_tls, tls_addr) = serve(&reactor.handle(), Some(leaf.server_config()));
    let client = AsyncHttpClient::new(&reactor.handle());
    let req = HttpRequest::get(&format!("https://localhost:{}/", plain_addr.port()))
        .ca_certs(&ca.cert_path);
    let r = wait(&mut reactor, &client.fetch(req));
    assert_eq!(tls_kind(&r), Some(TlsErrorKind::NotTls), "{r:?}");
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("server does not speak TLS"));
    let target = format!("https://localhost:{}/landed", tls_addr.port());
    let req = HttpRequest::get(&format!(
        "http://localhost:{}/go?to={target}",
        plain_addr.port()
    ))
    .ca_certs(&ca.cert_path);
    let r = wait(&mut reactor, &client.fetch(req)).unwrap();
    assert!(r.text().starts_with("https /landed"), "{}", r.text());
}

/// A TLS server on its own reactor in a thread (for the `fetch` child process).
fn thread_server(tls: Option<TlsConfig>) -> ServerThread {
    ServerThread::start(|h| serve(h, tls))
}

fn fetch(args: &[&str]) -> Output {
    Command::new(support::process::example_binary("fetch"))
        .args(args)
        .output()
        .expect("run fetch")
}

#[track_caller]
fn assert_exit(o: &Output, code: i32, stdout: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(stdout),
        "stdout: {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn fetch_example_speaks_curls_tls_flags_and_exit_codes() {
    let (ca, leaf) = TestCa::with_localhost("fetchcli");
    let me = ca.client_leaf("client.test");
    let server = thread_server(Some(leaf.server_config()));
    let auth = thread_server(Some(client_auth_config(&ca, &leaf, false)));
    let plain = thread_server(None);
    let cacert = ca.cert_path.to_str().unwrap();
    let url = format!("https://localhost:{}/x", server.port());
    assert_exit(&fetch(&["--cacert", cacert, &url]), 0, "https /x");
    assert_exit(&fetch(&[&url]), 60, "");
    assert_exit(&fetch(&["-k", &url]), 0, "https /x");
    assert_exit(&fetch(&["--insecure", &url]), 0, "https /x");
    let ip_url = format!("https://127.0.0.1:{}/x", server.port());
    assert_exit(&fetch(&["--cacert", cacert, &ip_url]), 60, "");
    let plain_url = format!("https://localhost:{}/", plain.port());
    let o = fetch(&["--cacert", cacert, &plain_url]);
    assert_exit(&o, 35, "");
    assert!(String::from_utf8_lossy(&o.stderr).contains("server does not speak TLS"));
    let auth_url = format!("https://localhost:{}/me", auth.port());
    let (cert, key) = (
        me.cert_path.to_str().unwrap(),
        me.key_path.to_str().unwrap(),
    );
    assert_exit(
        &fetch(&["--cacert", cacert, "--cert", cert, "--key", key, &auth_url]),
        0,
        "https /me",
    );
    assert_exit(
        &fetch(&["--cacert", cacert, "--cert", cert, &auth_url]),
        2,
        "",
    );
}
