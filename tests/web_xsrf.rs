//! XSRF protection over real sockets, and tokens shared with a real Tornado app.

mod support;

use std::net::SocketAddr;

use squall::web::{Application, Context, WebOptions};
use support::http::{exchange_to_eof, parse_all, run, Response};
use support::python::tornado_app;

fn app() -> Application {
    let page = |ctx: &mut Context| {
        let token = ctx.xsrf_token();
        ctx.send_text(token);
        Ok(())
    };
    let done = |ctx: &mut Context| {
        ctx.send_text("ok");
        Ok(())
    };
    Application::with_options(WebOptions::default().xsrf_cookies(true))
        .get("/token", page)
        .post("/token", done)
        .put("/token", done)
        .patch("/token", done)
        .delete("/token", done)
        .get("/form", |ctx: &mut Context| {
            let field = ctx.xsrf_form_html();
            ctx.send_html(field);
            Ok(())
        })
}

fn request(
    addr: SocketAddr,
    method: &str,
    cookie: Option<&str>,
    extra: &str,
    body: &str,
) -> Response {
    let cookie = cookie
        .map(|c| format!("Cookie: _xsrf={c}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{cookie}{extra}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse_all(exchange_to_eof(addr, req.as_bytes()).as_bytes())
        .pop()
        .expect("a response")
}

/// The `_xsrf` cookie value a response sets, if any.
fn set_xsrf(r: &Response) -> Option<String> {
    r.headers_named("set-cookie").iter().find_map(|h| {
        let v = h.strip_prefix("_xsrf=")?;
        Some(v.split(';').next().unwrap().to_string())
    })
}

fn form(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("_xsrf", token)
        .finish()
}

#[test]
fn unsafe_methods_need_the_cookie_token_and_get_403_without() {
    let out = run(
        move |h| app().server(h),
        |addr| {
            let first = request(addr, "GET", None, "", "");
            let cookie = set_xsrf(&first).expect("a new _xsrf cookie");
            let token = first.body_str();
            // A second page with the cookie: a different masked token, no new cookie.
            let again = request(addr, "GET", Some(&cookie), "", "");
            let mut statuses = Vec::new();
            for m in ["POST", "PUT", "PATCH", "DELETE"] {
                statuses.push((m, "none", request(addr, m, Some(&cookie), "", "").status));
                statuses.push((
                    m,
                    "form",
                    request(addr, m, Some(&cookie), "", &form(&token)).status,
                ));
            }
            let header = |h: &str| {
                request(
                    addr,
                    "POST",
                    Some(&cookie),
                    &format!("{h}: {}\r\n", again.body_str()),
                    "",
                )
                .status
            };
            statuses.push(("POST", "X-XSRFToken", header("X-XSRFToken")));
            statuses.push(("POST", "X-CSRFToken", header("X-CSRFToken")));
            statuses.push((
                "POST",
                "no cookie",
                request(addr, "POST", None, "", &form(&token)).status,
            ));
            let other = request(addr, "GET", None, "", "").body_str();
            statuses.push((
                "POST",
                "other token",
                request(addr, "POST", Some(&cookie), "", &form(&other)).status,
            ));
            statuses.push((
                "POST",
                "garbage",
                request(addr, "POST", Some(&cookie), "", &form("2|zz|00|1")).status,
            ));
            let refused = request(addr, "POST", Some(&cookie), "", "");
            let html = {
                let req = format!("GET /form HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: _xsrf={cookie}\r\n\r\n");
                parse_all(exchange_to_eof(addr, req.as_bytes()).as_bytes())
                    .pop()
                    .unwrap()
            };
            (
                token,
                again,
                statuses,
                refused.body_str(),
                html.body_str(),
                set_xsrf(&html),
            )
        },
    );
    let (token, again, statuses, refused, html, html_cookie) = out;
    assert!(token.starts_with("2|"), "{token}");
    assert!(set_xsrf(&again).is_none(), "the cookie is kept");
    assert_ne!(again.body_str(), token, "masked afresh");
    for (m, how, status) in statuses {
        let want = if matches!(how, "form" | "X-XSRFToken" | "X-CSRFToken") {
            200
        } else {
            403
        };
        assert_eq!(status, want, "{m} with {how}");
    }
    assert!(refused.contains("_xsrf"), "{refused}");
    assert!(
        html.starts_with("<input type=\"hidden\" name=\"_xsrf\" value=\"2|"),
        "{html}"
    );
    assert_eq!(html_cookie, None);
}

const TORNADO_APP: &str = r#"
class Token(tornado.web.RequestHandler):
    def get(self):
        self.write(self.xsrf_token)
    def post(self):
        self.write("ok")
serve(tornado.web.Application([("/token", Token)], xsrf_cookies=True))
"#;

#[test]
fn tokens_interoperate_with_tornado() {
    let Some((_peer, tornado)) =
        tornado_app("tokens_interoperate_with_tornado", "xsrf", TORNADO_APP)
    else {
        return;
    };
    let out = run(
        move |h| app().server(h),
        move |squall| {
            let mut got = Vec::new();
            // Each side's token posted to the other side, with `cookie`.
            let cross = |got: &mut Vec<_>, cookie: &str, t_token: &str, s_token: &str| {
                got.push((
                    "tornado token → squall",
                    request(squall, "POST", Some(cookie), "", &form(t_token)).status,
                ));
                got.push((
                    "squall token → tornado",
                    request(tornado, "POST", Some(cookie), "", &form(s_token)).status,
                ));
            };
            // Cookie made by Tornado: squall's token for it passes Tornado's check and
            // Tornado's token passes squall's.
            let t = request(tornado, "GET", None, "", "");
            let cookie = set_xsrf(&t).expect("tornado sets _xsrf");
            let t_token = t.body_str();
            let s = request(squall, "GET", Some(&cookie), "", "");
            assert!(set_xsrf(&s).is_none());
            let s_token = s.body_str();
            cross(&mut got, &cookie, &t_token, &s_token);
            // Cookie made by squall: the same both ways.
            let s = request(squall, "GET", None, "", "");
            let cookie = set_xsrf(&s).expect("squall sets _xsrf");
            let s_token = s.body_str();
            let t_token = request(tornado, "GET", Some(&cookie), "", "").body_str();
            cross(&mut got, &cookie, &t_token, &s_token);
            got.push((
                "header → tornado",
                request(
                    tornado,
                    "POST",
                    Some(&cookie),
                    &format!("X-XSRFToken: {s_token}\r\n"),
                    "",
                )
                .status,
            ));
            // And a token of another cookie is refused by both.
            let other = request(squall, "GET", None, "", "").body_str();
            got.push((
                "other → squall",
                request(squall, "POST", Some(&cookie), "", &form(&other)).status,
            ));
            got.push((
                "other → tornado",
                request(tornado, "POST", Some(&cookie), "", &form(&other)).status,
            ));
            got
        },
    );
    for (what, status) in out {
        let want = if what.starts_with("other") { 403 } else { 200 };
        assert_eq!(status, want, "{what}");
    }
}

const TORNADO_COOKIES: &str = r#"
class SetUser(tornado.web.RequestHandler):
    def get(self):
        self.set_signed_cookie("user", self.get_argument("name"))
class Whoami(tornado.web.RequestHandler):
    def get(self):
        v = self.get_signed_cookie("user")
        self.write(v if v is not None else b"nobody")
serve(tornado.web.Application([("/set", SetUser), ("/whoami", Whoami)], cookie_secret="shared secret"))
"#;

/// Signed cookies (the usual `current_user`) read across: Tornado's by squall's
/// `current_user_cookie`, squall's by Tornado's `get_signed_cookie`.
#[test]
fn signed_user_cookies_interoperate_with_tornado() {
    let Some((_peer, tornado)) = tornado_app(
        "signed_user_cookies_interoperate_with_tornado",
        "signed",
        TORNADO_COOKIES,
    ) else {
        return;
    };
    let app = Application::with_options(WebOptions::default().cookie_secret("shared secret"))
        .current_user_cookie("user")
        .get("/set", |ctx: &mut Context| {
            let name = ctx.argument("name")?.to_string();
            ctx.set_signed_cookie("user", name.as_bytes())?;
            Ok(())
        })
        .get("/whoami", |ctx: &mut Context| {
            let who = ctx.current_user().unwrap_or("nobody").to_string();
            ctx.send_text(who);
            Ok(())
        });
    let out = run(
        move |h| app.server(h),
        move |squall| {
            let fetch = |addr: SocketAddr, path: &str, cookie: Option<&str>| {
                let cookie = cookie
                    .map(|c| format!("Cookie: user={c}\r\n"))
                    .unwrap_or_default();
                let req =
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{cookie}\r\n");
                parse_all(exchange_to_eof(addr, req.as_bytes()).as_bytes())
                    .pop()
                    .unwrap()
            };
            let user_cookie = |r: &Response| {
                r.headers_named("set-cookie").iter().find_map(|h| {
                    let v = h.strip_prefix("user=")?;
                    Some(v.split(';').next().unwrap().trim_matches('"').to_string())
                })
            };
            let from_tornado =
                user_cookie(&fetch(tornado, "/set?name=alice", None)).expect("tornado cookie");
            let from_squall =
                user_cookie(&fetch(squall, "/set?name=bob", None)).expect("squall cookie");
            let forged = from_squall.replace("Ym9i", "ZXZl"); // "bob" → "eve"
            [
                fetch(squall, "/whoami", Some(&from_tornado)).body_str(),
                fetch(tornado, "/whoami", Some(&from_squall)).body_str(),
                fetch(squall, "/whoami", Some(&forged)).body_str(),
                fetch(tornado, "/whoami", Some(&forged)).body_str(),
            ]
        },
    );
    assert_eq!(out, ["alice", "bob", "nobody", "nobody"]);
}

/// An endpoint other sites call (a webhook) is exempt from the XSRF check while every
/// other route keeps it — Tornado's handler overriding `check_xsrf_cookie`.
#[test]
fn an_exempt_route_takes_a_post_without_a_token_and_the_others_still_refuse() {
    let done = |ctx: &mut Context| {
        let event = ctx.argument_or("event", "none").to_string();
        ctx.send_text(format!("got {event}"));
        Ok(())
    };
    let app = app()
        .post("/webhook", done)
        .xsrf_exempt()
        .put("/webhook", done);
    let out = run(
        move |h| app.server(h),
        |addr| {
            let send = |method: &str, path: &str| {
                let body = "event=push";
                let req = format!(
                    "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let r = parse_all(exchange_to_eof(addr, req.as_bytes()).as_bytes())
                    .pop()
                    .expect("a response");
                (r.status, r.body_str())
            };
            [
                send("POST", "/webhook"),
                send("PUT", "/webhook"),
                send("POST", "/token"),
            ]
        },
    );
    assert_eq!(out[0], (200, "got push".to_string()));
    assert_eq!(
        out[1].0, 403,
        "another route of the same path: {:?}",
        out[1]
    );
    assert_eq!(out[2].0, 403, "{:?}", out[2]);
}
