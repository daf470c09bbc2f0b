//! The deployment of docs/deployment.md, run: nginx with the documented configuration in
//! front of two squall backends, load through it, one backend killed (or stopped with
//! SIGTERM) mid-run.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use support::deploy::{nginx_available, request, Backend, Nginx, Reply};

fn http_backend() -> Backend {
    Backend::start(
        &support::process::example_binary("http_server"),
        &["--port", "0"],
    )
}

/// Two `http_server` backends and nginx in front of them, or None (the test skipped)
/// without nginx.
fn two_backends_behind_nginx(test: &str) -> Option<(Backend, Backend, Nginx)> {
    if !nginx_available(test) {
        return None;
    }
    let a = http_backend();
    let b = http_backend();
    let nginx = Nginx::start(&[a.port(), b.port()]);
    Some((a, b, nginx))
}

/// Runs `threads` clients through nginx until `total` requests were made; `at_n` is
/// called (from the main thread) once `n` requests were started.
fn load(
    nginx: &Nginx,
    threads: usize,
    total: usize,
    n: usize,
    at_n: impl FnOnce(),
) -> Vec<(String, std::io::Result<Reply>)> {
    let counter = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (counter, results, tx, addr) =
                (counter.clone(), results.clone(), tx.clone(), nginx.addr());
            std::thread::spawn(move || loop {
                let i = counter.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                if i == n {
                    let _ = tx.send(());
                }
                // Every fourth request is in flight for a while: some are inside the
                // backend when it dies.
                let target = if i % 4 == 0 {
                    "/sleep?ms=30".to_string()
                } else {
                    "/".to_string()
                };
                let r = request(addr, None, "GET", &target, b"");
                results.lock().unwrap().push((target, r));
            })
        })
        .collect();
    rx.recv_timeout(Duration::from_secs(120))
        .expect("load reached the event");
    at_n();
    for w in workers {
        w.join().unwrap();
    }
    Arc::try_unwrap(results).unwrap().into_inner().unwrap()
}

fn check_all_served(results: &[(String, std::io::Result<Reply>)]) {
    let mut failed = Vec::new();
    for (target, r) in results {
        let ok = match r {
            Ok(reply) if reply.status == 200 => {
                let want: &[u8] = if target == "/" {
                    b"Hello, world"
                } else {
                    b"slept 30"
                };
                reply.body == want
            }
            _ => false,
        };
        if !ok {
            failed.push((target, r));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        results.len(),
        &failed[..failed.len().min(5)]
    );
}

#[test]
fn nginx_retries_idempotent_requests_when_a_backend_dies_mid_run() {
    let Some((mut a, b, nginx)) =
        two_backends_behind_nginx("nginx_retries_idempotent_requests_when_a_backend_dies_mid_run")
    else {
        return;
    };
    let results = load(&nginx, 6, 1200, 300, || {
        a.process.child().kill().unwrap();
        a.process.child().wait().unwrap();
    });
    check_all_served(&results);
    let log = nginx.log_text();
    let retried = log
        .lines()
        .filter(|l| {
            l.contains("upstream") && (l.contains("failed") || l.contains("prematurely closed"))
        })
        .count();
    println!(
        "{} requests through nginx, all 200; upstream failures nginx retried: {retried}",
        results.len()
    );
    assert!(retried > 0, "nginx never saw the dead backend fail:\n{log}");
    assert!(b.log_text().is_empty() || !b.log_text().contains("panicked"));
}

#[test]
fn sigterm_drains_a_backend_while_nginx_sends_new_requests_to_the_other() {
    let Some((mut a, b, nginx)) = two_backends_behind_nginx(
        "sigterm_drains_a_backend_while_nginx_sends_new_requests_to_the_other",
    ) else {
        return;
    };
    // Warm nginx's keep-alive connections to both backends.
    for _ in 0..4 {
        assert_eq!(
            request(nginx.addr(), None, "GET", "/", b"").unwrap().status,
            200
        );
    }
    let results = load(&nginx, 6, 600, 50, || a.signal(libc::SIGTERM));
    check_all_served(&results);
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = a.process.child().wait();
        let _ = tx.send(status.map(|s| s.code()));
        a
    });
    let code = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the drained backend exited");
    assert_eq!(code.unwrap(), Some(0), "SIGTERM: clean exit");
    drop(waiter.join());
    // The remaining backend serves alone.
    assert_eq!(
        request(nginx.addr(), None, "GET", "/", b"").unwrap().status,
        200
    );
    drop(b);
}

/// The documented deployment as a whole: `chat --xheaders --redis` twice behind nginx.
#[cfg(feature = "json")]
mod chat {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::support;
    use super::support::deploy::{nginx_available, request, Backend, Nginx};
    use super::support::redis::{available, RedisServer};
    use squall::websocket::{connect, Message, WebSocket, WebSocketOptions};
    use squall::{with_timeout, Reactor};

    const LIMIT: Duration = Duration::from_secs(20);

    fn join(reactor: &mut Reactor, addr: SocketAddr) -> WebSocket {
        let url = format!("ws://{addr}/chatsocket");
        let f = connect(&reactor.handle(), &url, WebSocketOptions::default());
        reactor
            .run_until(&with_timeout(&reactor.handle(), LIMIT, &f))
            .expect("websocket join through nginx")
    }

    /// Bodies of the next batch, or None once the socket closed.
    fn next(reactor: &mut Reactor, ws: &WebSocket) -> Option<Vec<String>> {
        let m = reactor
            .run_until(&with_timeout(&reactor.handle(), LIMIT, &ws.read_message()))
            .expect("a message or the close");
        let text = match m? {
            Message::Text(t) => t,
            other => panic!("unexpected {other:?}"),
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        Some(
            v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["body"].as_str().unwrap().to_string())
                .collect(),
        )
    }

    fn post(nginx: &Nginx, body: &str) {
        let form = format!("body={body}");
        let r = request(
            nginx.addr(),
            None,
            "POST",
            "/a/message/new",
            form.as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{r:?}");
    }

    #[test]
    fn websocket_users_reconnect_through_nginx_and_lose_nothing_when_a_backend_dies() {
        let name = "websocket_users_reconnect_through_nginx_and_lose_nothing_when_a_backend_dies";
        if !nginx_available(name) || !available(name) {
            return;
        }
        let redis = RedisServer::start();
        let url = redis.url();
        let args = ["--port", "0", "--xheaders", "--redis", &url];
        let binary = support::process::example_binary("chat");
        let mut a = Backend::start(&binary, &args);
        let b = Backend::start(&binary, &args);
        a.wait_log("subscribed to squall-chat");
        b.wait_log("subscribed to squall-chat");
        let nginx = Nginx::start(&[a.port(), b.port()]);

        // xheaders: the backends log the browser's address (127.0.0.2), not nginx's.
        let page = request(nginx.addr(), Some([127, 0, 0, 2].into()), "GET", "/", b"").unwrap();
        assert_eq!(page.status, 200);
        assert!(String::from_utf8_lossy(&page.body).contains("chatsocket.js"));
        let logged = |t: &str| a.log_text().contains(t) || b.log_text().contains(t);
        // The access-log line may reach the backend's stderr after the response.
        let deadline = std::time::Instant::now() + LIMIT;
        while !logged("GET / (127.0.0.2)") && std::time::Instant::now() < deadline {
            a.next_line(Duration::from_millis(50));
            b.next_line(Duration::from_millis(50));
        }
        assert!(
            logged("GET / (127.0.0.2)"),
            "{}\n{}",
            a.log_text(),
            b.log_text()
        );

        // Four users over WebSocket, spread over both backends by nginx.
        let mut reactor = Reactor::new().unwrap();
        let mut users: Vec<WebSocket> = (0..4).map(|_| join(&mut reactor, nginx.addr())).collect();
        for ws in &users {
            assert_eq!(next(&mut reactor, ws), Some(vec![]));
        }
        post(&nginx, "before");
        for ws in &users {
            assert_eq!(next(&mut reactor, ws), Some(vec!["before".to_string()]));
        }

        a.process.child().kill().unwrap();
        a.process.child().wait().unwrap();
        post(&nginx, "during"); // lands on b (a refuses; nginx tries the next)

        // Each user either gets "during" live, or sees its socket close and reconnects
        // (through nginx, to b) as the page does, and finds both messages on join.
        let mut reconnected = 0;
        for ws in &mut users {
            let seen = match next(&mut reactor, ws) {
                Some(live) => live,
                None => {
                    reconnected += 1;
                    *ws = join(&mut reactor, nginx.addr());
                    next(&mut reactor, ws).unwrap()
                }
            };
            assert_eq!(seen.last().map(String::as_str), Some("during"), "{seen:?}");
            if seen.len() > 1 {
                assert_eq!(seen, ["before", "during"]);
            }
        }
        println!(
            "{reconnected} of {} users reconnected after their backend died",
            users.len()
        );
        assert!(reconnected > 0, "nginx put no user on the killed backend");
        post(&nginx, "after");
        for ws in &users {
            assert_eq!(next(&mut reactor, ws), Some(vec!["after".to_string()]));
        }
    }
}
