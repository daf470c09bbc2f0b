//! `HttpServer` over TLS: scheme `https`, ALPN `http/1.1`, keep-alive requests over one
//! TLS connection, and the demo server with `--tls-cert/--tls-key` serving
//! `curl --cacert` (and curl refusing it without the CA, exit 60).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use squall::http::HttpServer;
use squall::Reactor;
use support::process::{example_binary, Running};
use support::tls::{blocking_client_config, TestCa};
use support::WAIT_LIMIT;

#[test]
fn https_requests_report_scheme_https_over_alpn_http11() {
    let mut reactor = Reactor::new().unwrap();
    let (ca, leaf) = TestCa::with_localhost("https");
    let server = HttpServer::new(&reactor.handle(), |req, resp| {
        resp.send(Bytes::from(format!("{} {}", req.scheme(), req.path())));
    });
    server.set_tls(leaf.server_config()).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let config = {
        let mut c = (*blocking_client_config(&ca)).clone();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        std::sync::Arc::new(c)
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = (|| -> std::io::Result<(Option<Vec<u8>>, String)> {
            let tcp = TcpStream::connect(addr)?;
            tcp.set_read_timeout(Some(WAIT_LIMIT))?;
            let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap())
                .map_err(std::io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            tls.write_all(b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
            tls.write_all(b"GET /two HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
            let mut all = String::new();
            tls.read_to_string(&mut all)?;
            Ok((tls.conn.alpn_protocol().map(<[u8]>::to_vec), all))
        })();
        let _ = tx.send(r);
    });
    let (alpn, all) = loop {
        if let Ok(r) = rx.try_recv() {
            break r.expect("TLS client");
        }
        reactor.run_once(Some(Duration::from_millis(20))).unwrap();
    };
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    assert!(all.contains("https /one"), "{all}");
    assert!(all.contains("https /two"), "{all}");
}

fn curl() -> Option<()> {
    match Command::new("curl").arg("--version").output() {
        Ok(o) if o.status.success() => Some(()),
        _ => {
            eprintln!("skipping: curl is not installed (.ci/run installs it)");
            None
        }
    }
}

#[test]
fn demo_server_serves_curl_over_tls() {
    if curl().is_none() {
        return;
    }
    let ca = TestCa::new("demo");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let mut cmd = Command::new(example_binary("http_server"));
    cmd.args(["--port", "0", "--bind", "127.0.0.1", "--tls-cert"])
        .arg(&leaf.cert_path)
        .arg("--tls-key")
        .arg(&leaf.key_path)
        .stderr(Stdio::inherit());
    let (_demo, addr) = Running::serving(&mut cmd, WAIT_LIMIT, "https://");
    let run_curl = |options: &[&str], url: &str| {
        Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(options)
            .arg(url)
            .output()
            .unwrap()
    };
    let url = format!("https://localhost:{}/", addr.port());
    // By address too (the certificate names 127.0.0.1), and over TLS 1.2.
    let url_ip = format!("https://127.0.0.1:{}/", addr.port());
    let ca_file = ca.cert_path.to_str().unwrap();
    let tls12 = ["--tlsv1.2", "--tls-max", "1.2", "--cacert", ca_file];
    for (options, url) in [(&["--cacert", ca_file][..], &url), (&tls12[..], &url_ip)] {
        let out = run_curl(options, url);
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, world");
    }
    // Without the CA curl refuses the certificate (its exit code 60).
    let out = run_curl(&[], &url);
    assert_eq!(
        out.status.code(),
        Some(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
