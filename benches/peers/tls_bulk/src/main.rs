//! hyper 1.x HTTP/1.1 server over TLS (tokio-rustls, rustls `ring` provider) on a
//! single-threaded (current_thread) tokio runtime, streaming large responses: the peer for
//! squall's demo server's `GET /stream?chunks=N&size=S` (N chunks of S bytes of `x`, chunked
//! transfer encoding), with the same route and the same rustls.
//!
//! `hyper_tls_bulk --port 0 --tls-cert cert.pem --tls-key key.pem [--host 127.0.0.1]`
//! prints `listening on https://HOST:PORT` once bound (port 0 picks a free port). TLS 1.3 and
//! 1.2, ALPN `http/1.1`, rustls defaults otherwise. `GET /stream?chunks=100&size=1048576`
//! sends 100 MiB; other paths get `Hello, world`. Each chunk is one shared `Bytes` (no copy),
//! handed to hyper as the connection asks for the next frame (hyper's own backpressure).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USAGE: &str =
    "hyper_tls_bulk --tls-cert FILE --tls-key FILE [--port 8443] [--host 127.0.0.1]";
const MAX_CHUNKS: u64 = 1_000_000;
const MAX_CHUNK_SIZE: usize = 1 << 20;

/// `left` more frames of `chunk`; no length known up front (chunked encoding, as squall).
struct Chunks {
    chunk: Bytes,
    left: u64,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn arg(req: &Request<Incoming>, name: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k == name { v.parse().ok() } else { None }
    })
}

async fn route(req: Request<Incoming>) -> Result<Response<Chunks>, Infallible> {
    let body = if req.uri().path() == "/stream" {
        let chunks = arg(&req, "chunks").unwrap_or(10).min(MAX_CHUNKS);
        let size = (arg(&req, "size").unwrap_or(1024) as usize).min(MAX_CHUNK_SIZE);
        Chunks {
            chunk: Bytes::from(vec![b'x'; size]),
            left: chunks,
        }
    } else {
        Chunks {
            chunk: Bytes::from_static(b"Hello, world"),
            left: 1,
        }
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(resp)
}

fn server_config(cert: &str, key: &str) -> Result<rustls::ServerConfig, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{cert}: no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

fn main() {
    let (mut port, mut host, mut cert, mut key) = (
        8443u16,
        "127.0.0.1".to_string(),
        String::new(),
        String::new(),
    );
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match a.as_str() {
            "--port" => port = value().parse().unwrap_or(u16::MAX),
            "--host" => host = value(),
            "--tls-cert" => cert = value(),
            "--tls-key" => key = value(),
            _ => {
                eprintln!("usage: {USAGE}");
                std::process::exit(2);
            }
        }
    }
    if cert.is_empty() || key.is_empty() || port == u16::MAX {
        eprintln!("usage: {USAGE}");
        std::process::exit(2);
    }
    let config = server_config(&cert, &key).unwrap_or_else(|e| {
        eprintln!("hyper_tls_bulk: {e}");
        std::process::exit(1)
    });
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind((host.as_str(), port))
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        println!("listening on https://{host}:{port}");
        loop {
            let (stream, _peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tls), service_fn(route))
                    .await;
            });
        }
    });
}
