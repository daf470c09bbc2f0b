//! A server on its own reactor in a background thread, for clients that block.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use squall::http::HttpServer;
use squall::{Handle, Reactor, Remote};

/// A reactor running in a background thread, for clients that block (child processes,
/// blocking sockets, another reactor in the test thread); stopped and joined when
/// dropped. What the test needs to know of it (its address) is in `addr`.
#[derive(Debug)]
pub struct ServerThread<A = SocketAddr> {
    pub addr: A,
    remote: Remote,
    thread: Option<JoinHandle<()>>,
}

impl<A: Send + 'static> ServerThread<A> {
    /// Runs `setup` on the new thread's reactor: it builds what lives on the loop (a
    /// server and its state, kept until the loop stops) and says where it listens.
    pub fn start<K: 'static>(setup: impl FnOnce(&Handle) -> (K, A) + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut reactor = Reactor::new().unwrap();
            let (keep, addr) = setup(&reactor.handle());
            tx.send((addr, reactor.handle().remote())).unwrap();
            reactor.run().unwrap();
            drop(keep);
        });
        let (addr, remote) = rx.recv().expect("server thread started");
        ServerThread {
            addr,
            remote,
            thread: Some(thread),
        }
    }
}

impl ServerThread {
    /// The `HttpServer` that `server` builds, listening on 127.0.0.1 (a port the OS
    /// picks).
    pub fn http(server: impl FnOnce(&Handle) -> HttpServer + Send + 'static) -> Self {
        Self::start(|h| {
            let server = server(h);
            let addr = server.listen("127.0.0.1:0").unwrap();
            (server, addr)
        })
    }

    /// `http://HOST:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl<A> Drop for ServerThread<A> {
    fn drop(&mut self) {
        self.remote.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
