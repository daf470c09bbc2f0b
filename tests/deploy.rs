//! The deployment of docs/deployment.md, run: nginx with the documented configuration in
//! front of two squall backends, load through it, one backend killed (or stopped with
//! SIGTERM) mid-run.

mod deploy_util;
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use deploy_util::{nginx_available, request, Backend, Nginx, Reply};

fn http_backend() -> Backend {
    Backend::start(&util::example_binary("http_server"), &["--port", "0"])
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
    if !nginx_available("nginx_retries_idempotent_requests_when_a_backend_dies_mid_run") {
        return;
    }
    let mut a = http_backend();
    let b = http_backend();
    let nginx = Nginx::start(&[a.port(), b.port()]);
    let results = load(&nginx, 6, 1200, 300, || {
        a.child.kill().unwrap();
        a.child.wait().unwrap();
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
    if !nginx_available("sigterm_drains_a_backend_while_nginx_sends_new_requests_to_the_other") {
        return;
    }
    let mut a = http_backend();
    let b = http_backend();
    let nginx = Nginx::start(&[a.port(), b.port()]);
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
        let status = a.child.wait();
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
