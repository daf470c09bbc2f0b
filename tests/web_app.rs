//! Behaviour tests for `squall::web` over real sockets: routing, arguments, forms, JSON,
//! error pages, panics, cookies, compression, answers given later.
//!
//! The application runs on a reactor in the test thread; the client is a raw
//! `TcpStream` in another thread.

#![cfg(all(feature = "json", feature = "gzip"))]

mod support;

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;
use std::time::Duration;

use squall::http::HttpServer;
use squall::web::{Application, Context, CookieOptions, SameSite, WebOptions};
use squall::{Error, Handle};
use support::http::{run, Reader};

fn app_server(app: Application) -> impl FnOnce(&Handle) -> HttpServer {
    move |h| app.server(h)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn routes() -> Application {
    Application::new()
        .get("/", |ctx: &mut Context| {
            ctx.send_text("home");
            Ok(())
        })
        .get("/users/{id}", |ctx: &mut Context| {
            let id: u32 = ctx
                .param("id")
                .unwrap_or("")
                .parse()
                .map_err(|_| Error::http(400, "id must be a number"))?;
            ctx.send_text(format!("user {id}"));
            Ok(())
        })
        .post("/users/{id}", |ctx: &mut Context| {
            let name = ctx.argument("name")?.to_string();
            ctx.send_text(format!("renamed {} to {name}", ctx.param("id").unwrap()));
            Ok(())
        })
        .get("/files/{*rest}", |ctx: &mut Context| {
            let rest = ctx.param("rest").unwrap().to_string();
            ctx.send_text(rest);
            Ok(())
        })
        .get("/args", |ctx: &mut Context| {
            let all = ctx.arguments("a").join(",");
            let b = ctx.argument_or("b", "none").to_string();
            ctx.send_text(format!("a={all} b={b}"));
            Ok(())
        })
        .get("/nothing", |_ctx: &mut Context| Ok(()))
}

#[test]
fn routes_match_methods_and_parameters() {
    let out = run(app_server(routes()), |addr| {
        let mut r = Reader::connect(addr);
        let mut out = Vec::new();
        for req in [
            get("/"),
            get("/users/42"),
            get("/users/abc"),
            post(
                "/users/7",
                "application/x-www-form-urlencoded",
                b"name=J%C3%BCrgen+X",
            ),
            get("/files/a/b%20c.txt"),
            get("/nope"),
            b"DELETE /users/1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            get("/args?a=1&a=%2F2&c"),
            get("/nothing"),
        ] {
            r.send(&req);
            out.push(r.response());
        }
        r.send(b"HEAD /users/5 HTTP/1.1\r\nHost: x\r\n\r\n");
        out.push(r.response_to("HEAD"));
        out
    });
    assert_eq!((out[0].status, out[0].body_str().as_str()), (200, "home"));
    assert_eq!(
        out[0].header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(out[1].body_str(), "user 42");
    assert_eq!(out[2].status, 400);
    assert_eq!(out[2].body_str(), "400 Bad Request: id must be a number\n");
    assert_eq!(out[3].body_str(), "renamed 7 to Jürgen X");
    assert_eq!(out[4].body_str(), "a/b c.txt");
    assert_eq!(out[5].status, 404);
    assert_eq!(out[6].status, 405);
    assert_eq!(out[6].header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(out[7].body_str(), "a=1,/2 b=none");
    assert_eq!((out[8].status, out[8].body.len()), (200, 0));
    assert_eq!(out[9].status, 200);
    assert_eq!(out[9].header("content-length"), Some("6"));
    assert!(out[9].body.is_empty());
}

#[test]
fn missing_argument_is_400_as_text_or_json_by_accept() {
    let (text, json) = run(app_server(routes()), |addr| {
        let mut r = Reader::connect(addr);
        r.send(&post(
            "/users/1",
            "application/x-www-form-urlencoded",
            b"other=1",
        ));
        let text = r.response();
        r.send(b"POST /users/1 HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nContent-Length: 0\r\n\r\n");
        (text, r.response())
    });
    assert_eq!(text.status, 400);
    assert_eq!(text.body_str(), "400 Bad Request: missing argument name\n");
    assert_eq!(json.status, 400);
    assert_eq!(
        json.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let v: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"status": 400, "message": "missing argument name"})
    );
}

#[test]
fn multipart_upload_gives_fields_and_files() {
    let app = Application::new().post("/up", |ctx: &mut Context| {
        let title = ctx.argument("title")?.to_string();
        let files = ctx.files("doc");
        let f = files.first().ok_or_else(|| Error::http(400, "no file"))?;
        let line = format!(
            "{title}|{}|{}|{}",
            f.filename,
            f.content_type.as_deref().unwrap_or("-"),
            String::from_utf8_lossy(&f.body)
        );
        ctx.send_text(line);
        Ok(())
    });
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nmy doc\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--XyZ--\r\n";
    let (ok, bad) = run(app_server(app), move |addr| {
        let mut r = Reader::connect(addr);
        r.send(&post("/up", "multipart/form-data; boundary=XyZ", body));
        let ok = r.response();
        r.send(&post(
            "/up",
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nbroken",
        ));
        (ok, r.response())
    });
    assert_eq!(ok.body_str(), "my doc|a.txt|text/plain|line1\r\nline2");
    assert_eq!(bad.status, 400);
    assert!(
        bad.body_str().contains("malformed multipart body"),
        "{}",
        bad.body_str()
    );
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Item {
    name: String,
    qty: u32,
}

#[test]
fn json_bodies_in_and_out() {
    let app = Application::new().post("/items", |ctx: &mut Context| {
        let mut item: Item = ctx.json()?;
        item.qty *= 2;
        ctx.send_json(&item)
    });
    let (ok, bad) = run(app_server(app), |addr| {
        let mut r = Reader::connect(addr);
        r.send(&post(
            "/items",
            "application/json",
            br#"{"name":"x<y","qty":21}"#,
        ));
        let ok = r.response();
        r.send(&post("/items", "application/json", br#"{"name":1}"#));
        (ok, r.response())
    });
    assert_eq!(
        ok.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(ok.body_str(), r#"{"name":"x<y","qty":42}"#);
    assert_eq!(bad.status, 400);
    assert!(bad
        .body_str()
        .starts_with("400 Bad Request: invalid JSON body"));
}

#[test]
fn errors_and_panics_become_500_without_details_and_serving_goes_on() {
    let app = Application::new()
        .get("/io", |_ctx: &mut Context| {
            Err(Error::from(std::io::Error::other("secret path /etc/x")))
        })
        .get("/panic", |_ctx: &mut Context| panic!("secret panic detail"))
        .get("/teapot", |_ctx: &mut Context| {
            Err(Error::http(418, "short and stout"))
        })
        .get("/ok", |ctx: &mut Context| {
            ctx.send_text("still here");
            Ok(())
        });
    let out = run(app_server(app), |addr| {
        let mut out = Vec::new();
        for path in ["/io", "/panic", "/teapot", "/ok"] {
            let mut r = Reader::connect(addr);
            r.send(&get(path));
            out.push(r.response());
        }
        out
    });
    for r in &out[..2] {
        assert_eq!(r.status, 500);
        assert_eq!(r.body_str(), "500 Internal Server Error\n");
    }
    assert_eq!(out[2].status, 418);
    assert_eq!(out[2].body_str(), "418 I'm a teapot: short and stout\n");
    assert_eq!(out[3].body_str(), "still here");
}

#[test]
fn cookies_plain_and_signed() {
    let app = Application::with_options(WebOptions::default().cookie_secret("k3y"))
        .get("/set", |ctx: &mut Context| {
            let o = CookieOptions::default()
                .max_age(Duration::from_secs(60))
                .http_only(true)
                .same_site(SameSite::Lax);
            ctx.set_cookie("plain", "v1", &o)?;
            ctx.set_signed_cookie("user", b"alice")?;
            Ok(())
        })
        .get("/get", |ctx: &mut Context| {
            let plain = ctx.cookie("plain").unwrap_or("-").to_string();
            let user = ctx
                .signed_cookie("user")
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_else(|| "-".into());
            ctx.send_text(format!("{plain} {user}"));
            Ok(())
        });
    let (set, good, forged) = run(app_server(app), |addr| {
        let mut r = Reader::connect(addr);
        r.send(&get("/set"));
        let set = r.response();
        let signed = set
            .headers_named("set-cookie")
            .into_iter()
            .find_map(|c| c.strip_prefix("user="))
            .map(|c| c.split(';').next().unwrap().to_string())
            .expect("signed cookie set");
        r.send(
            format!("GET /get HTTP/1.1\r\nHost: x\r\nCookie: plain=v1; user={signed}\r\n\r\n")
                .as_bytes(),
        );
        let good = r.response();
        let forged = signed.replace("YWxpY2U=", "bWFsbG9y"); // "mallor"
        r.send(format!("GET /get HTTP/1.1\r\nHost: x\r\nCookie: user={forged}\r\n\r\n").as_bytes());
        (set, good, r.response())
    });
    let cookies = set.headers_named("set-cookie");
    assert_eq!(
        cookies[0],
        "plain=v1; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
    );
    assert!(cookies[1].starts_with("user=2|1:0|10:"), "{}", cookies[1]);
    assert!(cookies[1].contains("|4:user|8:YWxpY2U=|"));
    assert!(cookies[1].contains("; Expires="));
    assert_eq!(good.body_str(), "v1 alice");
    assert_eq!(forged.body_str(), "- -");
}

#[test]
fn responses_are_gzipped_when_accepted_and_large_enough() {
    let app = Application::with_options(WebOptions::default().compress_response(true))
        .get("/big", |ctx: &mut Context| {
            ctx.send_text("squall ".repeat(1000));
            Ok(())
        })
        .get("/small", |ctx: &mut Context| {
            ctx.send_text("tiny");
            Ok(())
        })
        .get("/png", |ctx: &mut Context| {
            ctx.set_header("content-type", "image/png");
            ctx.send(vec![7u8; 5000]);
            Ok(())
        });
    let out = run(app_server(app), |addr| {
        let mut r = Reader::connect(addr);
        let cases = [
            ("/big", "gzip, deflate"),
            ("/big", "identity"),
            ("/small", "gzip"),
            ("/png", "gzip"),
        ];
        cases.map(|(path, ae)| {
            r.send(&support::http::get(
                path,
                &format!("Accept-Encoding: {ae}\r\n"),
            ));
            r.response()
        })
    });
    assert_eq!(out[0].header("content-encoding"), Some("gzip"));
    assert_eq!(out[0].header("vary"), Some("Accept-Encoding"));
    assert!(
        out[0].body.len() < 1000,
        "compressed to {}",
        out[0].body.len()
    );
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&out[0].body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, "squall ".repeat(1000));
    assert_eq!(out[1].header("content-encoding"), None);
    assert_eq!(out[1].body.len(), 7000);
    assert_eq!(out[2].header("content-encoding"), None);
    assert_eq!(out[3].header("content-encoding"), None);
    assert_eq!(out[3].body.len(), 5000);
}

#[test]
fn a_detached_context_answers_later_and_learns_when_its_client_left() {
    // Parked waiters, and news that arrived while nobody waited (so a waiter that
    // arrives after the news still gets it: no race between the two clients).
    #[derive(Default)]
    struct Board {
        parked: Vec<Option<Context>>,
        news: Option<String>,
        left: usize,
    }
    let board: Rc<RefCell<Board>> = Rc::default();
    let (b1, b2, b3) = (board.clone(), board.clone(), board.clone());
    let app = Application::new()
        .get("/wait", move |ctx: &mut Context| {
            let mut b = b1.borrow_mut();
            if let Some(news) = b.news.take() {
                ctx.send_text(news);
                return Ok(());
            }
            let slot = b.parked.len();
            let mut parked = ctx.detach();
            let me = b1.clone();
            parked.on_connection_close(move || {
                let mut b = me.borrow_mut();
                b.left += 1;
                if let Some(entry) = b.parked.get_mut(slot) {
                    *entry = None; // freed
                }
            });
            b.parked.push(Some(parked));
            Ok(())
        })
        .post("/publish", move |ctx: &mut Context| {
            let news = ctx.argument("news")?.to_string();
            let waiters: Vec<Context> = b2.borrow_mut().parked.drain(..).flatten().collect();
            if waiters.is_empty() {
                b2.borrow_mut().news = Some(news.clone());
            }
            for mut w in waiters {
                w.send_text(news.clone());
            }
            ctx.send_text("published");
            Ok(())
        })
        .get("/left", move |ctx: &mut Context| {
            let b = b3.borrow();
            let parked = b.parked.iter().flatten().count();
            ctx.send_text(format!("{} {parked}", b.left));
            Ok(())
        });
    let (waited, published, left) = run(app_server(app), |addr| {
        let mut waiter = Reader::connect(addr);
        waiter.send(&get("/wait"));
        let mut r = Reader::connect(addr);
        let published = post("/publish", "application/x-www-form-urlencoded", b"news=hi");
        r.send(&published);
        let published = r.response();
        let waited = waiter.response();
        // A second waiter leaves without an answer: its close callback runs and frees
        // it. Ask until the server has seen the close (each ask is a round trip).
        let mut leaver = Reader::connect(addr);
        leaver.send(&get("/wait"));
        r.send(&get("/left"));
        let mut left = r.response().body_str();
        drop(leaver);
        for _ in 0..10_000 {
            if left == "1 0" {
                break;
            }
            r.send(&get("/left"));
            left = r.response().body_str();
        }
        (waited, published, left)
    });
    assert_eq!(waited.body_str(), "hi");
    assert_eq!(published.body_str(), "published");
    assert_eq!(left, "1 0", "close callback ran and freed the waiter");
    assert_eq!(board.borrow().left, 1);
}

/// Records the access-log lines of this test binary.
struct AccessLog;

static ACCESS_LINES: std::sync::Mutex<Vec<(log::Level, String)>> =
    std::sync::Mutex::new(Vec::new());

impl log::Log for AccessLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "squall::web::access"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            ACCESS_LINES
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn one_access_log_line_per_request_with_status_method_uri_ip_and_time() {
    let _ = log::set_logger(&AccessLog);
    log::set_max_level(log::LevelFilter::Info);
    run(app_server(routes()), |addr| {
        let mut r = Reader::connect(addr);
        for path in ["/users/9?x=access-log", "/missing-access-log"] {
            r.send(&get(path));
            r.response();
        }
    });
    let lines = ACCESS_LINES.lock().unwrap().clone();
    let find = |needle: &str| {
        lines
            .iter()
            .find(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("no line for {needle} in {lines:?}"))
            .clone()
    };
    let (level, ok) = find("x=access-log");
    assert_eq!(level, log::Level::Info);
    assert!(
        ok.starts_with("200 GET /users/9?x=access-log (127.0.0.1) "),
        "{ok}"
    );
    assert!(ok.ends_with("ms"), "{ok}");
    let (level, missing) = find("/missing-access-log");
    assert_eq!(level, log::Level::Warn);
    assert!(
        missing.starts_with("404 GET /missing-access-log (127.0.0.1) "),
        "{missing}"
    );
}

/// A parked context kept in a route's own state does not keep the application (and
/// so that state) alive once the server and the reactor are gone.
#[test]
fn a_parked_context_in_route_state_is_freed_with_the_server() {
    let parked: Rc<RefCell<Vec<Context>>> = Rc::default();
    let weak = Rc::downgrade(&parked);
    let p = parked.clone();
    let app = Application::new().get("/park", move |ctx: &mut Context| {
        p.borrow_mut().push(ctx.detach());
        Ok(())
    });
    drop(parked);
    let mut reactor = squall::Reactor::new().unwrap();
    let server = app.server(&reactor.handle());
    drop(app);
    let addr = server.listen("127.0.0.1:0").unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut c = support::http::connect(addr);
        std::io::Write::write_all(&mut c, &get("/park")).unwrap();
        let _ = rx.recv_timeout(Duration::from_secs(60)); // keep the connection open
    });
    // Run until the request is parked (the state then holds one context).
    let done = squall::Future::<()>::new();
    let (d, w) = (done.clone(), weak.clone());
    let watch =
        squall::PeriodicCallback::new(&reactor.handle(), Duration::from_millis(2), move || {
            if w.upgrade().is_some_and(|v| v.borrow().len() == 1) && !d.is_done() {
                d.set_result(());
            }
        });
    watch.start();
    let h = reactor.handle();
    let bound = h.call_later(Duration::from_secs(60), {
        let h = h.clone();
        move || h.stop()
    });
    reactor.run_until(&done).expect("parked in time");
    h.cancel_timer(bound);
    watch.stop();
    drop(watch);
    drop(server);
    drop(h);
    drop(reactor);
    assert!(
        weak.upgrade().is_none(),
        "the parked context keeps its route alive"
    );
    tx.send(()).unwrap();
    client.join().unwrap();
}

#[test]
fn blocking_work_runs_off_the_loop_and_its_failures_become_error_pages() {
    // `/slow` blocks its executor job until `/release` (answered by the loop meanwhile)
    // lets it go: the loop kept serving while the job ran.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let app = Application::new()
        .get("/slow", move |ctx: &mut Context| {
            let rx = rx.clone();
            let job = move || rx.lock().unwrap().recv_timeout(Duration::from_secs(60));
            ctx.run_in_executor(job, |ctx, word| {
                ctx.send_text(format!("released by {word}"));
                Ok(())
            })
        })
        .get("/release", move |ctx: &mut Context| {
            tx.send("the loop".to_string()).unwrap();
            ctx.send_text("released");
            Ok(())
        })
        .get("/fail/{how}", |ctx: &mut Context| {
            let how = ctx.param("how").unwrap_or("").to_string();
            let job = move || -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
                match how.as_str() {
                    "http" => Err(Error::http(404, "no such row").into()),
                    "driver" => Err(std::io::Error::other("secret table broken").into()),
                    "panic" => panic!("job panicked"),
                    _ => Ok(7),
                }
            };
            ctx.run_in_executor(job, |ctx, n| {
                if n == 7 {
                    return Err(Error::http(409, "done refused"));
                }
                ctx.send_text("unreachable");
                Ok(())
            })
        });
    let (slow, release, fails) = run(app_server(app), |addr| {
        let mut slow = Reader::connect(addr);
        slow.send(&get("/slow"));
        let mut other = Reader::connect(addr);
        other.send(&get("/release"));
        let release = other.response();
        let slow = slow.response();
        let mut fails = Vec::new();
        for how in ["http", "driver", "panic", "done"] {
            other.send(&get(&format!("/fail/{how}")));
            let r = other.response();
            fails.push((how, r.status, r.body_str()));
        }
        (slow, release, fails)
    });
    assert_eq!(
        (release.status, release.body_str().as_str()),
        (200, "released")
    );
    assert_eq!(
        (slow.status, slow.body_str().as_str()),
        (200, "released by the loop")
    );
    let statuses: Vec<(&str, u16)> = fails.iter().map(|(h, s, _)| (*h, *s)).collect();
    assert_eq!(
        statuses,
        [
            ("http", 404),
            ("driver", 500),
            ("panic", 500),
            ("done", 409)
        ]
    );
    assert!(fails[0].2.contains("no such row"), "{}", fails[0].2);
    for (how, _, body) in &fails[1..3] {
        assert!(
            !body.contains("secret") && !body.contains("panicked"),
            "{how}: {body}"
        );
    }
}
