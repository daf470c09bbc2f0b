//! Behaviour tests for `squall::web::StaticFiles` over real sockets: content types,
//! conditional requests, ranges, HEAD, traversal, symlinks, streaming with backpressure.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use squall::http::{HttpServer, HttpServerOptions};
use squall::web::{Application, WebOptions};
use squall::Handle;
use support::http::{connect, get, read_to_eof, run, Reader, Response};
use support::log::{install_logger, logged_here};

/// A fresh directory tree: root/{hello.txt, style.css, big.bin, sub/}, a secret file
/// beside the root and a symlink inside pointing at it.
fn tree(name: &str) -> (PathBuf, Vec<u8>) {
    let base = support::http::temp_path(name);
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("hello.txt"), b"hello, world\n").unwrap();
    std::fs::write(root.join("style.css"), b"body { color: red }\n").unwrap();
    std::fs::write(root.join("sub/inner.html"), b"<p>in</p>").unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(base.join("secret.txt"), b"top secret").unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("alias.txt")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(root.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    (root, big)
}

fn server(root: &Path, options: HttpServerOptions) -> impl FnOnce(&Handle) -> HttpServer + use<> {
    let app = Application::with_options(WebOptions::default().server(options))
        .static_files("/static", root);
    move |h| app.server(h)
}

#[test]
fn files_types_conditionals_and_ranges() {
    let (root, _) = tree("types");
    let out: Vec<Response> = run(server(&root, HttpServerOptions::default()), |addr| {
        let mut r = Reader::connect(addr);
        let mut out = Vec::new();
        r.send(&get("/static/hello.txt", ""));
        let first = r.response();
        let etag = first.header("etag").unwrap().to_string();
        let lm = first.header("last-modified").unwrap().to_string();
        out.push(first);
        for extra in [
            format!("If-None-Match: {etag}\r\n"),
            format!("If-None-Match: \"other\", W/{etag}\r\n"),
            "If-None-Match: \"other\"\r\n".to_string(),
            format!("If-Modified-Since: {lm}\r\n"),
            "If-Modified-Since: Tue, 15 Nov 1994 08:12:31 GMT\r\n".to_string(),
            "Range: bytes=0-4\r\n".to_string(),
            "Range: bytes=-6\r\n".to_string(),
            "Range: bytes=100-\r\n".to_string(),
            "Range: bytes=0-1,3-4\r\n".to_string(),
            format!("Range: bytes=0-4\r\nIf-Range: {etag}\r\n"),
            "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n".to_string(),
            format!("Range: bytes=0-4\r\nIf-Range: {lm}\r\n"),
        ] {
            r.send(&get("/static/hello.txt", &extra));
            out.push(r.response());
        }
        r.send(&get("/static/style.css", ""));
        out.push(r.response());
        r.send(&get("/static/sub/inner.html", ""));
        out.push(r.response());
        r.send(b"HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        out.push(r.response_to("HEAD"));
        out
    });
    let ok = &out[0];
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body_str(), "hello, world\n");
    assert_eq!(ok.header("content-type"), Some("text/plain"));
    assert_eq!(ok.header("accept-ranges"), Some("bytes"));
    assert_eq!(out[1].status, 304, "If-None-Match with the ETag");
    assert!(out[1].body.is_empty());
    assert_eq!(out[2].status, 304, "weak match in a list");
    assert_eq!(out[3].status, 200, "another ETag");
    assert_eq!(
        out[4].status, 304,
        "If-Modified-Since the modification time"
    );
    assert_eq!(out[5].status, 200, "modified since 1994");
    assert_eq!((out[6].status, out[6].body_str().as_str()), (206, "hello"));
    assert_eq!(out[6].header("content-range"), Some("bytes 0-4/13"));
    assert_eq!(
        (out[7].status, out[7].body_str().as_str()),
        (206, "world\n")
    );
    assert_eq!(out[8].status, 416);
    assert_eq!(out[8].header("content-range"), Some("bytes */13"));
    assert_eq!(out[9].status, 200, "several ranges: the whole file");
    assert_eq!(out[10].status, 206, "If-Range with the current ETag");
    assert_eq!(
        out[11].status, 200,
        "If-Range with a stale ETag: the whole file"
    );
    assert_eq!(out[11].body_str(), "hello, world\n");
    assert_eq!(out[12].status, 206, "If-Range with the current date");
    assert_eq!(out[13].header("content-type"), Some("text/css"));
    assert_eq!(out[14].header("content-type"), Some("text/html"));
    assert_eq!(out[14].body_str(), "<p>in</p>");
    assert_eq!(out[15].status, 200);
    assert_eq!(out[15].header("content-length"), Some("13"));
}

#[test]
fn traversal_symlinks_out_and_missing_files_are_refused() {
    let (root, _) = tree("traversal");
    let cases: Vec<(&str, u16)> = vec![
        ("/static/../secret.txt", 403),
        ("/static/%2e%2e/secret.txt", 403),
        ("/static/%2E%2E/secret.txt", 403),
        ("/static/sub/..%2f..%2fsecret.txt", 403),
        ("/static/sub%2f..%2f..%2fsecret.txt", 403),
        ("/static/escape.txt", 403),
        ("/static/alias.txt", 200),
        ("/static/missing.txt", 404),
        ("/static/sub", 403),
        ("/static/pipe", 403),
        ("/static/", 403),
        ("/static/hello.txt%00.png", 403),
        ("/static//etc/passwd", 404),
    ];
    let paths: Vec<String> = cases.iter().map(|(p, _)| p.to_string()).collect();
    let got = run(server(&root, HttpServerOptions::default()), move |addr| {
        Reader::connect(addr).statuses_and_bodies(paths.iter().map(|p| get(p, "")))
    });
    for ((path, want), (status, body)) in cases.iter().zip(&got) {
        assert_eq!(status, want, "{path}: {body}");
        assert!(!body.contains("top secret"), "{path}");
    }
}

#[test]
fn large_files_stream_within_a_small_write_buffer() {
    let (root, big) = tree("big");
    // The write buffer holds 256 KiB: a 3 MiB file sent whole would be refused and the
    // connection cut; streamed piece by piece after each write drains, it arrives whole.
    let options = HttpServerOptions::default().max_write_buffer_size(Some(256 * 1024));
    let big_len = big.len();
    let (whole, part) = run(server(&root, options), |addr| {
        let mut s = connect(addr);
        s.write_all(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let whole = read_to_eof(&mut s);
        let mut r = Reader::connect(addr);
        r.send(&get("/static/big.bin", "Range: bytes=100000-2999999\r\n"));
        (whole, r.response())
    });
    let head_end = whole.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&whole[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(
        head.contains(&format!("content-length: {big_len}")),
        "{head}"
    );
    assert!(
        whole[head_end..] == big[..],
        "body differs ({} bytes)",
        whole.len() - head_end
    );
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100000-2999999/{big_len}").as_str())
    );
    assert!(part.body == big[100000..3000000]);
}

#[test]
fn a_client_leaving_mid_file_does_not_stop_the_server() {
    install_logger();
    let (root, _) = tree("leave");
    let options = HttpServerOptions::default().max_write_buffer_size(Some(128 * 1024));
    let after = run(server(&root, options), |addr| {
        let mut s = connect(addr);
        s.write_all(&get("/static/big.bin", "")).unwrap();
        let mut first = [0u8; 1024];
        std::io::Read::read_exact(&mut s, &mut first).unwrap();
        drop(s); // gone mid-body
        let mut r = Reader::connect(addr);
        r.send(&get("/static/hello.txt", ""));
        r.response()
    });
    assert_eq!(after.body_str(), "hello, world\n");
    // A client leaving mid-body is no error of the server's.
    assert_eq!(logged_here(log::Level::Error), Vec::<String>::new());
}

/// Bytes this thread has read through `read`-like system calls so far (files and
/// sockets), from the kernel's per-thread I/O accounting.
fn thread_read_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").expect("/proc/thread-self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("rchar in /proc/thread-self/io")
}

#[test]
fn non_reading_downloads_read_a_bounded_amount_per_loop_turn() {
    use std::io::Read;
    use std::time::{Duration, Instant};

    const CLIENTS: usize = 200;
    let base = support::http::temp_path("fair");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("large.bin"), vec![7u8; 4 << 20]).unwrap();
    std::fs::write(base.join("small.txt"), b"small\n").unwrap();

    // The server runs on this thread's loop, one iteration at a time, so the file bytes
    // it reads in each iteration are this thread's `rchar` growth across `run_once`.
    let mut reactor = squall::Reactor::new().unwrap();
    let server = server(&base, HttpServerOptions::default())(&reactor.handle());
    let addr = server.listen("127.0.0.1:0").unwrap();
    let mut stalled = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut s = connect(addr);
        s.write_all(&get("/static/large.bin", "")).unwrap();
        stalled.push(s); // never read
    }
    let mut normal = connect(addr);
    normal
        .write_all(&get("/static/small.txt", "Connection: close\r\n"))
        .unwrap();
    normal.set_nonblocking(true).unwrap();

    // Per turn: the file budget, plus the requests themselves and a small file.
    let bound = squall::web::READ_PER_ITERATION + 64 * 1024;
    let deadline = Instant::now() + Duration::from_secs(60); // hang guard only
    let (mut reply, mut answered, mut turns, mut most) = (Vec::new(), false, 0u32, 0u64);
    let mut served = vec![false; CLIENTS];
    for s in &stalled {
        s.set_nonblocking(true).unwrap();
    }
    // Until the normal client has its answer and every download has begun (each waits
    // its turn for the budget; none is starved).
    loop {
        let mut buf = [0u8; 4096];
        while !answered {
            match normal.read(&mut buf) {
                Ok(0) => answered = true,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("normal client: {e}"),
            }
        }
        for (s, done) in stalled.iter().zip(&mut served) {
            *done = *done || s.peek(&mut buf[..1]).is_ok_and(|n| n > 0);
        }
        let waiting = served.iter().filter(|d| !**d).count();
        if answered && waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {turns} turns: answered {answered}, {waiting} downloads not begun"
        );
        let before = thread_read_bytes();
        reactor.run_once(Some(Duration::from_millis(100))).unwrap();
        let read = thread_read_bytes() - before;
        turns += 1;
        most = most.max(read);
        assert!(
            read <= bound,
            "turn {turns}: the loop read {read} bytes, more than its {} B of file per \
             iteration (with {CLIENTS} downloads waiting)",
            squall::web::READ_PER_ITERATION
        );
    }
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("\r\n\r\nsmall\n"), "{text}");
    eprintln!("{turns} turns; at most {most} bytes read in one turn");
    drop(stalled);
    drop(server);
}
