//! `current_user` and the `authenticated` guard over real sockets.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use squall::web::{authenticated, create_signed_value, Application, Context, WebOptions};
use support::http::{run, Reader};

fn app(login_url: Option<&str>) -> Application {
    let mut options = WebOptions::default().cookie_secret("secret");
    if let Some(url) = login_url {
        options = options.login_url(url);
    }
    let compose = authenticated(|ctx: &mut Context| {
        let user = ctx.current_user().unwrap().to_string();
        ctx.send_text(format!("{} by {user}", ctx.request().method));
        Ok(())
    });
    Application::with_options(options)
        .current_user(|ctx: &Context| {
            ctx.signed_cookie("user")
                .and_then(|v| String::from_utf8(v).ok())
        })
        .get("/", |ctx: &mut Context| {
            let who = ctx.current_user().unwrap_or("nobody").to_string();
            ctx.send_text(who);
            Ok(())
        })
        .get("/compose", compose)
        .post(
            "/compose",
            authenticated(|ctx: &mut Context| {
                ctx.send_text("posted");
                Ok(())
            }),
        )
}

fn req(method: &str, path: &str, cookie: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{cookie}\r\n").into_bytes()
}

#[test]
fn guests_are_sent_to_login_or_refused_and_users_pass() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = create_signed_value(b"secret", "user", b"alice", now);
    let forged = create_signed_value(b"other", "user", b"mallory", now);
    let user = format!("Cookie: user={signed}\r\n");
    let bad = format!("Cookie: user={forged}\r\n");
    let out = run(
        move |h| app(Some("/login")).server(h),
        move |addr| {
            let mut r = Reader::connect(addr);
            let mut out = Vec::new();
            for rq in [
                req("GET", "/", ""),
                req("GET", "/", &user),
                req("GET", "/compose?a=1&b=x%20y", ""),
                req("HEAD", "/compose", ""),
                req("POST", "/compose", ""),
                req("GET", "/compose", &bad),
                req("GET", "/compose", &user),
                req("POST", "/compose", &user),
            ] {
                let head = rq.starts_with(b"HEAD");
                r.send(&rq);
                out.push(if head {
                    r.response_to("HEAD")
                } else {
                    r.response()
                });
            }
            out
        },
    );
    assert_eq!(out[0].body_str(), "nobody");
    assert_eq!(out[1].body_str(), "alice");
    assert_eq!(out[2].status, 302);
    assert_eq!(
        out[2].header("location"),
        Some("/login?next=%2Fcompose%3Fa%3D1%26b%3Dx%2520y")
    );
    assert_eq!(out[3].status, 302);
    assert_eq!(out[3].header("location"), Some("/login?next=%2Fcompose"));
    assert_eq!(out[4].status, 403);
    assert_eq!(out[5].status, 302, "a forged cookie is no user");
    assert_eq!(
        (out[6].status, out[6].body_str().as_str()),
        (200, "GET by alice")
    );
    assert_eq!((out[7].status, out[7].body_str().as_str()), (200, "posted"));
}

#[test]
fn without_a_login_url_guests_get_403() {
    let out = run(
        move |h| app(None).server(h),
        |addr| {
            let mut r = Reader::connect(addr);
            r.send(&req("GET", "/compose", ""));
            r.response().status
        },
    );
    assert_eq!(out, 403);
}
