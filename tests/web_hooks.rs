//! Application-level hooks over real sockets: `prepare`, `on_finish`, default headers,
//! the `write_error` renderer, JSON errors, and errors returned after `detach()`.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::web::{header, Application, Context, HeaderMap, HeaderValue, StatusCode, WebOptions};
use squall::Error;
use support::http::{get, run, Reader, Response};

#[test]
fn prepare_runs_first_and_may_answer_and_on_finish_sees_every_response() {
    let handled = Rc::new(RefCell::new(0u32));
    let finished = Rc::new(RefCell::new(Vec::<(u16, String)>::new()));
    let (h, f) = (handled.clone(), finished.clone());
    let f2 = finished.clone();
    let app = Application::new()
        .prepare(|ctx: &mut Context| {
            if ctx.header("x-block").is_some() {
                ctx.set_status(StatusCode::SERVICE_UNAVAILABLE);
                ctx.send_text("blocked by prepare");
            }
            if ctx.header("x-fail").is_some() {
                return Err(Error::http(418, "prepare says no"));
            }
            ctx.set_header("x-prepared", "yes");
            Ok(())
        })
        .on_finish(move |done: &squall::web::Finished| {
            f.borrow_mut()
                .push((done.status.as_u16(), done.uri.path().to_string()));
        })
        .get("/", move |ctx: &mut Context| {
            *h.borrow_mut() += 1;
            ctx.send_text("handler");
            Ok(())
        })
        .get("/finished", move |ctx: &mut Context| {
            let log: Vec<String> = f2
                .borrow()
                .iter()
                .filter(|(_, p)| p != "/finished")
                .map(|(s, p)| format!("{s} {p}"))
                .collect();
            ctx.send_text(log.join(","));
            Ok(())
        });
    let out = run(
        move |h| app.server(h),
        |addr| {
            let mut r = Reader::connect(addr);
            let mut out = Vec::new();
            for req in [
                get("/", ""),
                get("/", "X-Block: 1\r\n"),
                get("/", "X-Fail: 1\r\n"),
                get("/nope", ""),
            ] {
                r.send(&req);
                out.push(r.response());
            }
            // on_finish runs from the loop after each response: poll until all 4 are in.
            let deadline = Instant::now() + Duration::from_secs(20);
            let log = loop {
                r.send(&get("/finished", ""));
                let log = r.response().body_str();
                if log.split(',').count() == 4 || Instant::now() > deadline {
                    break log;
                }
            };
            (out, log)
        },
    );
    let (out, log) = out;
    assert_eq!(
        (out[0].status, out[0].body_str().as_str()),
        (200, "handler")
    );
    assert_eq!(out[0].header("x-prepared"), Some("yes"));
    assert_eq!(
        (out[1].status, out[1].body_str().as_str()),
        (503, "blocked by prepare")
    );
    assert_eq!(out[2].status, 418);
    assert_eq!(out[3].status, 404);
    assert_eq!(
        *handled.borrow(),
        1,
        "the handler ran only when prepare let it"
    );
    assert_eq!(log, "200 /,503 /,418 /,404 /nope");
}

/// Serves `app` and GETs each of `paths` in turn on one connection: the responses.
fn get_each(app: Application, paths: &'static [&'static str]) -> Vec<Response> {
    let requests = paths.iter().map(|p| get(p, ""));
    run(
        move |h| app.server(h),
        move |addr| Reader::connect(addr).responses(requests),
    )
}

/// A handler that answers `text`.
fn say(text: &'static str) -> impl Fn(&mut Context) -> squall::web::HandlerResult {
    move |ctx: &mut Context| {
        ctx.send_text(text);
        Ok(())
    }
}

#[test]
fn default_headers_are_on_every_response_and_handlers_may_replace_them() {
    let mut headers = HeaderMap::new();
    headers.insert(header::SERVER, HeaderValue::from_static("squall-test"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    let app = Application::new()
        .default_headers(headers)
        .get("/", say("ok"))
        .get("/framed", |ctx: &mut Context| {
            ctx.set_header("x-frame-options", "SAMEORIGIN");
            ctx.send_text("ok");
            Ok(())
        })
        .get("/fail", |ctx: &mut Context| {
            ctx.set_header("x-secret", "leak");
            Err(Error::http(400, "bad"))
        });
    let out = get_each(app, &["/", "/framed", "/fail", "/nope"]);
    for resp in &out {
        assert_eq!(resp.header("server"), Some("squall-test"), "{resp:?}");
    }
    assert_eq!(out[0].header("x-frame-options"), Some("DENY"));
    assert_eq!(out[1].header("x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(
        (out[2].status, out[2].header("x-frame-options")),
        (400, Some("DENY"))
    );
    assert_eq!(out[2].header("x-secret"), None);
    assert_eq!(
        (out[3].status, out[3].header("x-frame-options")),
        (404, Some("DENY"))
    );
}

#[test]
fn write_error_renders_pages_and_json_errors_apply_to_every_client() {
    let pages = Application::new()
        .write_error(|ctx: &mut Context, e: &Error| {
            let text = match e {
                Error::Http { message, .. } => squall::web::escape_html(message),
                _ => "oops".to_string(),
            };
            ctx.send_html(format!("<h1>{}</h1><p>{text}</p>", ctx.status().as_u16()));
            Ok(())
        })
        .get("/http", |_ctx: &mut Context| {
            Err(Error::http(409, "<taken>"))
        })
        .get("/internal", |_ctx: &mut Context| Err(Error::Timeout));
    let out = get_each(pages, &["/http", "/internal", "/missing"]);
    assert_eq!(out[0].status, 409);
    assert_eq!(out[0].body_str(), "<h1>409</h1><p>&lt;taken&gt;</p>");
    assert_eq!(
        out[0].header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        (out[1].status, out[1].body_str().as_str()),
        (500, "<h1>500</h1><p>oops</p>")
    );
    assert_eq!(out[2].status, 404);
    assert_eq!(out[2].body_str(), "<h1>404</h1><p>Not Found</p>");

    let json = Application::with_options(WebOptions::default().json_errors(true))
        .get("/http", |_ctx: &mut Context| Err(Error::http(409, "taken")));
    let out = get_each(json, &["/http"]).remove(0);
    assert_eq!(out.status, 409);
    assert_eq!(
        out.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(out.body_str(), "{\"status\":409,\"message\":\"taken\"}\n");
}

#[test]
fn an_error_returned_after_detach_is_sent_with_its_status() {
    let app = Application::new()
        .get("/conflict", |ctx: &mut Context| {
            let _later = ctx.detach();
            // Something failed after detaching: `?` returns, `_later` is dropped.
            Err(Error::http(409, "already taken"))
        })
        .get("/dropped", |ctx: &mut Context| {
            let later = ctx.detach();
            drop(later);
            Ok(())
        })
        .get("/kept", |ctx: &mut Context| {
            let mut later = ctx.detach();
            later.send_text("answered by the detached context");
            Err(Error::http(409, "too late: already answered"))
        });
    let out = run(
        move |h| app.server(h),
        |addr| {
            let paths = ["/conflict", "/dropped", "/kept"];
            Reader::connect(addr).statuses_and_bodies(paths.map(|p| get(p, "")))
        },
    );
    assert_eq!(out[0], (409, "409 Conflict: already taken\n".to_string()));
    assert_eq!(out[1].0, 500);
    assert_eq!(
        out[2],
        (200, "answered by the detached context".to_string())
    );
}

#[test]
fn automatic_etags_answer_304_when_they_match() {
    let app = Application::with_options(WebOptions::default().etag(true))
        .get("/page", say("the same page every time"))
        .get("/own", |ctx: &mut Context| {
            ctx.set_header("etag", "\"v1\"");
            ctx.send_text("own tag");
            Ok(())
        })
        .post("/page", say("posted"));
    let out = run(
        move |h| app.server(h),
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(&get("/page", ""));
            let first = r.response();
            let tag = first.header("etag").unwrap().to_string();
            r.send(&get(
                "/page",
                &format!("If-None-Match: \"zzz\", W/{tag}\r\n"),
            ));
            let second = r.response();
            r.send(&get("/page", "If-None-Match: \"other\"\r\n"));
            let third = r.response();
            r.send(&get("/own", "If-None-Match: \"v1\"\r\n"));
            let own = r.response();
            r.send(b"POST /page HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
            let post = r.response();
            (first, tag, second, third, own, post)
        },
    );
    let (first, tag, second, third, own, post) = out;
    assert_eq!(first.status, 200);
    assert_eq!(tag.len(), 42, "a quoted SHA-1: {tag}");
    assert_eq!((second.status, second.body.len()), (304, 0));
    assert_eq!(second.header("etag"), Some(tag.as_str()));
    assert_eq!(
        (third.status, third.body_str().as_str()),
        (200, "the same page every time")
    );
    assert_eq!((own.status, own.header("etag")), (304, Some("\"v1\"")));
    assert_eq!((post.status, post.header("etag")), (200, None));
}

#[test]
fn a_missing_cookie_secret_is_reported_before_serving() {
    let app = Application::new().current_user_cookie("user");
    let err = app.validate().unwrap_err();
    assert!(err.to_string().contains("cookie_secret"), "{err}");
    let reactor = squall::Reactor::new().unwrap();
    let handle = reactor.handle();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.server(&handle)));
    assert!(panic.is_err(), "server() refuses the misconfigured app");
    let ok = Application::with_options(WebOptions::default().cookie_secret("k"))
        .current_user_cookie("user");
    assert!(ok.validate().is_ok());
    drop(ok.server(&handle));
}

/// An empty `cookie_secret` signs cookies with an empty key, which anyone can forge:
/// refused before serving like a missing one, whatever uses it.
#[test]
fn an_empty_cookie_secret_is_refused_before_serving() {
    let login = |ctx: &mut Context| {
        ctx.set_signed_cookie("user", b"ann")?;
        Ok(())
    };
    let empty =
        || Application::with_options(WebOptions::default().cookie_secret("")).get("/login", login);
    let err = empty().validate().unwrap_err();
    assert!(err.to_string().contains("cookie_secret"), "{err}");
    let err = empty().current_user_cookie("user").validate().unwrap_err();
    assert!(err.to_string().contains("cookie_secret"), "{err}");
    let reactor = squall::Reactor::new().unwrap();
    let handle = reactor.handle();
    let app = empty();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.server(&handle)));
    assert!(panic.is_err(), "server() refuses an empty secret");
}

/// XSRF protection needs no secret (the cookie holds a random token, compared, not
/// signed — as Tornado's): such an application builds and serves.
#[test]
fn xsrf_cookies_need_no_cookie_secret() {
    let app = Application::with_options(WebOptions::default().xsrf_cookies(true)).get(
        "/",
        |ctx: &mut Context| {
            let token = ctx.xsrf_token();
            ctx.send_text(token);
            Ok(())
        },
    );
    assert!(app.validate().is_ok());
    let r = get_each(app, &["/"]).remove(0);
    assert_eq!(r.status, 200);
    assert!(r.body_str().starts_with("2|"), "{}", r.body_str());
    assert!(r
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("_xsrf=")));
}
